"""Many devices at once: one thread per device, in parallel; on each device the plan stays
sequential and interleaved (two benchmarks on one device corrupt each other).

Every device's thread is a ``DeviceSession`` (lease, retries by failure class, reconnection,
landing); this module runs them side by side and gathers what happened, errors as the exceptions
they are. Nothing here prints: progress goes to ``on_event`` and ``on_device``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from harness.config import Device
from harness.errors import DeviceBusy, HarnessError, UserError
from harness.farm.session import DeviceSession, Execution, Job, RunEvent

OnDevice = Callable[[str, str, str], None]  # (device, state, detail): running, queued, done, error, busy


@dataclass
class FarmResult:
    """What a farm did: each device's execution, or the error that kept it from running."""

    executions: dict[str, Execution] = field(default_factory=dict)
    errors: dict[str, HarnessError] = field(default_factory=dict)  # device -> why it could not run (all of it)

    @property
    def busy(self) -> dict[str, DeviceBusy]:
        """Devices another controller held (skipped with busy = skip)."""
        return {n: e for n, e in self.errors.items() if isinstance(e, DeviceBusy)}

    @property
    def user_errors(self) -> dict[str, UserError]:
        """Devices whose set-up the user must fix (missing tool, unsupported flag): exit 2."""
        return {n: e for n, e in self.errors.items() if isinstance(e, UserError)}

    @property
    def device_errors(self) -> dict[str, HarnessError]:
        """Devices that failed for another reason (unreachable, a bug)."""
        return {n: e for n, e in self.errors.items() if not isinstance(e, DeviceBusy | UserError)}

    @property
    def failed(self) -> list[tuple[str, str]]:
        return [f for e in self.executions.values() for f in e.failed]

    @property
    def landed(self) -> list[str]:
        return [r for e in self.executions.values() for r in e.landed]

    @property
    def skipped(self) -> list[str]:
        return [r for e in self.executions.values() for r in e.skipped]

    @property
    def ok(self) -> bool:
        return not self.failed and not self.errors

    def merge(self, other: FarmResult) -> None:
        """Add a later round's outcome (adaptive repeats) to this one."""
        for name, execution in other.executions.items():
            mine = self.executions.setdefault(name, Execution(campaign=execution.campaign))
            mine.landed += execution.landed
            mine.failed += execution.failed
            mine.skipped += [r for r in execution.skipped if r not in mine.landed and r not in mine.skipped]
            mine.bytes_pushed += execution.bytes_pushed
        self.errors.update(other.errors)


def as_harness_error(exc: BaseException) -> HarnessError:
    """A device's failure as an error of the tree: a bug or a lost worker keeps its type's name."""
    return exc if isinstance(exc, HarnessError) else HarnessError(f"{type(exc).__name__}: {exc}")


def run_farm(devices: Sequence[Device], job: Job, *, on_event: Callable[[RunEvent], None] | None = None,
             on_device: OnDevice | None = None) -> FarmResult:
    """Each device's part of ``job`` on its own thread; returns when every device is done."""
    result = FarmResult()
    lock = threading.Lock()
    say = on_device or (lambda name, state, detail: None)
    emit = on_event or (lambda e: None)

    def safe_emit(event: RunEvent) -> None:
        with lock:
            emit(event)

    def work(device: Device) -> None:
        say(device.name, "running", "")
        try:
            execution = DeviceSession(device, job, on_event=safe_emit).run()
        except Exception as exc:  # a device's error (or a bug in one worker) never takes the others down
            error = as_harness_error(exc)
            with lock:
                result.errors[device.name] = error
            say(device.name, "busy" if isinstance(error, DeviceBusy) else "error", str(error))
            return
        with lock:
            result.executions[device.name] = execution
        say(device.name, "done", f"{len(execution.landed)} landed, {len(execution.failed)} failed")

    threads = [threading.Thread(target=work, args=(d,), name=f"harness-{d.name}", daemon=True) for d in devices]
    for t in threads:
        t.start()
    for t in threads:
        while t.is_alive():
            t.join(0.2)  # short joins keep Ctrl-C responsive
    return result
