"""What runs a model on a device: the ``Runner`` protocol, the two runners (litert.py: the
harness's own Python runner; benchmark_model.py: the official C++ tool), their provisioning
(provision.py: tool cache; runtime.py: board runtimes) and ``make_runner``, which picks one."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from harness.errors import HarnessError, UserError

if TYPE_CHECKING:  # pragma: no cover
    from harness.config import Device, RunOptions
    from harness.parsers.litert import ParsedRun
    from harness.runners.base import RunnerOutput
    from harness.spec import BenchmarkFlags
    from harness.transport.base import Transport

RUNNERS = ("litert", "benchmark_model")


@runtime_checkable
class Runner(Protocol):
    """What a device session needs of a runner. Constructing one does no I/O."""

    name: str
    bytes_pushed: int

    def prepare(self) -> None:
        """Push what the runner needs (script, binary) and check the device can run it."""

    def push_model(self, path: Path, sha256: str) -> str:
        """The model's path on the device (pushed once per sha256)."""

    def run(self, model_remote: str, options: RunOptions) -> RunnerOutput:
        """One process-level run; the raw output (command result and files)."""

    def parse(self, output: RunnerOutput) -> ParsedRun:
        """The run's records from its raw output."""


def make_runner(name: str, device: Device, transport: Transport, facts: Mapping[str, Any],
                flags: BenchmarkFlags | None = None, big_cores: bool = False) -> Runner:
    """The runner object for a device: litert, or benchmark_model provisioned for its ABI."""
    if name == "litert":
        from harness.runners.litert import LitertRunner

        return LitertRunner(device, transport)
    if name == "benchmark_model":
        from harness.runners.benchmark_model import BenchmarkModelRunner, big_core_mask
        from harness.runners.provision import ToolCache, device_abi
        from harness.spec import BenchmarkFlags

        flags = flags or BenchmarkFlags()
        if big_cores:
            mask = big_core_mask(dict(facts))
            if mask is None:
                raise UserError(f"{device.name} reports no CPU clusters (cpufreq), so --big-cores cannot pick "
                                "its fastest cores; run without it")
            flags = dataclasses.replace(flags, cpu_mask=mask)
        if device.benchmark_model:
            return BenchmarkModelRunner(device, transport, Path(device.benchmark_model).expanduser(), flags)
        abi = device_abi(dict(facts), device.transport)
        if abi is None:
            raise UserError(f"cannot tell the ABI of {device.name} from its facts; set benchmark_model = "
                            "\"PATH\" in its inventory entry")
        entry, path = ToolCache().find(abi)
        return BenchmarkModelRunner(device, transport, path, flags, version=entry.version)
    raise HarnessError(f"unknown runner {name!r}")


def host_litert_runner() -> Runner:
    """The litert runner on this host, prepared: accuracy runs for runners that cannot return a
    model's outputs (benchmark_model) run here, on the same model files."""
    from harness.config import LOCAL_DEVICE
    from harness.runners.litert import LitertRunner
    from harness.transport.local import LocalTransport

    local = LocalTransport(LOCAL_DEVICE.name)
    local.open()
    runner = LitertRunner(LOCAL_DEVICE, local)
    runner.prepare()
    return runner
