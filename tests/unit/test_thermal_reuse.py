"""A run's "before" thermal reading is the previous run's "after" when it follows at once
(farm/session.py LastThermal): one device command per run less, never a stale or cooled-down
reading. Driven through ``measure`` with the in-memory FakeTransport and a runner that answers
without a device."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.config import Device, RunOptions
from harness.farm.session import THERMAL_REUSE_S, LastThermal, measure
from harness.parsers.litert import ParsedRun
from harness.plan import ModelVariant, PlanItem
from harness.runners.base import RunnerOutput
from harness.transport.base import CommandResult
from harness.transport.fake import FakeTransport


class _Runner:
    name = "litert"
    bytes_pushed = 0

    def push_model(self, path: Path, sha256: str) -> str:
        return f"/data/local/tmp/harness/cache/{sha256}/{path.name}"

    def run(self, model_remote: str, options: RunOptions) -> RunnerOutput:
        return RunnerOutput(CommandResult(["runner", model_remote], 0, b"", b"", 0.01))

    def parse(self, output: RunnerOutput) -> ParsedRun:
        return ParsedRun(run={"status": "ok", "p50_us": 100.0})


def _device() -> tuple[FakeTransport, list[float]]:
    """A device whose hottest zone warms by a degree at each thermal reading."""
    readings: list[float] = []

    def answer(argv: list[str], fake: FakeTransport) -> Any:
        if argv[:1] == ["sh"] and argv[1].endswith("device_facts.sh") and argv[2:] == ["thermal"]:
            readings.append(40.0 + len(readings))
            return 0, f"thermal.thermal_zone0=cpu:{int(readings[-1] * 1000)}\n".encode(), b""
        return None

    return FakeTransport(answer), readings


def _measure(t: FakeTransport, n: int, thermal: LastThermal | None) -> dict[str, Any]:
    item = PlanItem("phone", "m", "int8", 1, "latency", "xnnpack", n)
    variant = ModelVariant("int8", Path("int8.tflite"), "ab" * 32, 10)
    record, _ = measure(item, f"c/{item.key}", "c", Device("phone"), {}, {"int8": variant}, RunOptions(),
                        _Runner(), t, thermal=thermal)
    assert record["run"]["status"] == "ok"
    run: dict[str, Any] = record["run"]
    return run


def test_runs_that_follow_at_once_share_the_reading_between_them():
    t, readings = _device()
    with t:
        last = LastThermal()
        runs = [_measure(t, n, last) for n in range(3)]
    assert len(readings) == 4  # before the first, after each: not 6
    assert [r["temp_before_c"] for r in runs] == [40.0, 41.0, 42.0]
    assert [r["temp_after_c"] for r in runs] == [41.0, 42.0, 43.0]


def test_a_stale_or_cleared_reading_is_read_again():
    t, readings = _device()
    with t:
        last = LastThermal()
        _measure(t, 0, last)
        last.at -= THERMAL_REUSE_S + 0.1  # the next run comes later than that
        stale = _measure(t, 1, last)
        last.clear()  # a cool-down happened
        cooled = _measure(t, 2, last)
        alone = [_measure(t, n, None) for n in (3, 4)]
    assert len(readings) == 2 + 2 + 2 + 4
    assert (stale["temp_before_c"], cooled["temp_before_c"]) == (42.0, 44.0)
    assert [r["temp_before_c"] for r in alone] == [46.0, 48.0]
