"""Many devices at once: one worker per device, in parallel; on each device the plan stays
sequential and interleaved (two benchmarks on one device corrupt each other).

Every device's worker is ``execute_plan`` (retries by failure class, reconnection, landing);
this module selects devices, runs the workers side by side, holds a lease on each device while
it is used (so another controller on another host never benchmarks on it at the same time), and
gathers what happened. Nothing here prints: progress goes to ``on_event``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.config import Device, RunOptions
from harness.errors import HarnessError, UserError
from harness.execute import Execution, RetryPolicy, RunEvent, execute_plan
from harness.plan import ModelVariant, PlanItem
from harness.store import Store


@dataclass
class FarmResult:
    executions: dict[str, Execution] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # device -> why it could not run at all
    user_errors: dict[str, str] = field(default_factory=dict)  # device -> what the user must fix (exit 2)
    busy: dict[str, str] = field(default_factory=dict)  # device -> who held it (skipped)

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
        return not self.failed and not self.errors and not self.busy and not self.user_errors


def run_farm(
    devices: Sequence[Device],
    plan: Sequence[PlanItem],
    *,
    campaign: str,
    store: Store,
    variants: Mapping[str, ModelVariant],
    options: RunOptions,
    runner: str | None = None,
    runner_flags: Any = None,
    big_cores: bool = False,
    policy: RetryPolicy | None = None,
    control: Any = None,
    lease: Callable[[Any], Any] | None = None,
    on_event: Callable[[RunEvent], None] | None = None,
    on_device: Callable[[str, str, str], None] | None = None,
) -> FarmResult:
    """Each device's part of ``plan`` on its own thread. ``lease(transport)`` gives the context
    manager held while a device is used; ``on_device(name, state, detail)`` reports device states
    (running, done, error, busy)."""
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
            execution = execute_plan(
                plan, campaign=campaign, store=store, device=device, variants=variants, options=options,
                runner=runner, runner_flags=runner_flags, big_cores=big_cores, policy=policy, lease=lease,
                control=control,
                on_event=safe_emit,
            )
        except HarnessError as exc:
            from harness.lease import DeviceBusy

            with lock:
                if isinstance(exc, DeviceBusy):
                    result.busy[device.name] = str(exc)
                elif isinstance(exc, UserError):
                    result.user_errors[device.name] = str(exc)
                else:
                    result.errors[device.name] = f"{exc.error_class}: {exc}"
            say(device.name, "busy" if isinstance(exc, DeviceBusy) else "error", str(exc))
            return
        except Exception as exc:  # a bug in one worker must not take the other devices down
            with lock:
                result.errors[device.name] = f"{type(exc).__name__}: {exc}"
            say(device.name, "error", f"{type(exc).__name__}: {exc}")
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
