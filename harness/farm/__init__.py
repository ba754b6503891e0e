"""Scheduling a campaign over devices: the per-device session (session.py), the threads that run
many devices at once (scheduler.py), the leases that keep two controllers off one device
(lease.py), and the same on a Dask cluster whose workers own the devices (cluster.py).

Heavy or optional imports (dask) happen inside the functions that need them.
"""

from __future__ import annotations

from harness.farm.scheduler import FarmResult, run_farm
from harness.farm.session import DeviceSession, Execution, Job, RunEvent

__all__ = ["DeviceSession", "Execution", "FarmResult", "Job", "RunEvent", "run_farm"]
