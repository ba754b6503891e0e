"""`harness devices tune / reset`: lock a device's CPU frequencies for benchmarking, and undo it.

``device_scripts/tune.sh`` does the work on the device, one CPU at a time, reading every value
back; what it saved is kept on the device (``<workdir>/tune.state``) so ``reset`` restores it.
Writing cpufreq needs root: when plain writes are refused, the step is retried through ``su``
(rooted phones) or ``sudo -n`` (boards); where neither works the step is reported unavailable.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from harness.resources import device_script
from harness.transport.base import Transport, push_cached


@dataclass(frozen=True)
class Step:
    cpu: str
    ok: bool
    detail: str


def parse_steps(text: str) -> list[Step]:
    steps = []
    for line in text.splitlines():
        cpu, _, rest = line.strip().partition(" ")
        if not cpu or not rest:
            continue
        ok = not rest.startswith("unavailable")
        steps.append(Step(cpu, ok, rest.removeprefix("unavailable: ") if not ok else rest))
    return steps


def _escalations(transport_kind: str) -> list[list[str]]:
    return [["su", "-c"]] if transport_kind == "adb" else [["sudo", "-n"]] if transport_kind == "ssh" else []


def tune(transport: Transport, op: str, transport_kind: str) -> tuple[list[Step], str]:
    """Run ``lock``, ``reset`` or ``status`` on the device; returns the steps and how (plain /
    via su / via sudo)."""
    import shlex

    script, _ = push_cached(transport, device_script("tune.sh"))
    state = posixpath.join(transport.workdir(), "tune.state")
    argv = ["sh", script, op, state]
    result = transport.run(argv, timeout_s=60)
    steps = parse_steps(result.text())
    how = "as the login user"
    refused = op != "status" and steps and all(not s.ok and "not root" in s.detail for s in steps)
    if refused:
        for wrapper in _escalations(transport_kind):
            command = [*wrapper, shlex.join(argv)] if wrapper[0] == "su" else [*wrapper, *argv]
            again = transport.run(command, timeout_s=60)
            if again.exit_code in (0, 3) and again.text().strip():
                steps, how = parse_steps(again.text()), f"via {wrapper[0]}"
                break
    return steps, how
