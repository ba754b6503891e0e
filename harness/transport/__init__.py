"""How harness reaches a device: one ``Transport`` protocol (base.py), three implementations
(local.py, adb.py, ssh.py), a fake one for users' own tests (fake.py), and ``open_transport``,
which picks the implementation a device needs. Nothing here connects until ``open()`` / ``with``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.errors import HarnessError

if TYPE_CHECKING:  # pragma: no cover
    from harness.config import Device
    from harness.transport.base import Transport


def open_transport(device: Device) -> Transport:
    """The transport for a device (not yet opened)."""
    if device.transport == "local":
        from harness.transport.local import LocalTransport

        return LocalTransport(device.name, device.workdir)
    if device.transport == "adb":
        from harness.transport.adb import AdbTransport

        if not device.serial:
            raise HarnessError(f"adb device {device.name!r} has no serial")
        return AdbTransport(device.name, device.serial, device.adb_server, device.workdir)
    if device.transport == "ssh":
        from harness.transport.ssh import SshTransport

        if not device.host:
            raise HarnessError(f"ssh device {device.name!r} has no host")
        return SshTransport(device.name, device.host, port=device.port, user=device.user, key=device.key,
                            known_hosts=device.known_hosts, host_key_policy=device.host_key_policy,
                            workdir=device.workdir)
    raise HarnessError(f"device {device.name!r} uses transport {device.transport!r}, which harness does not know")
