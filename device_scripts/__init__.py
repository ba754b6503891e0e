"""The scripts harness pushes to devices, shipped inside the package as ``harness.device_scripts``.

They run on the device, alone, and never import harness; harness finds them with
``harness.resources.device_script(name)``.
"""
