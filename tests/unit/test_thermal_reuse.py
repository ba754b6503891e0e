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


class _Session:
    """A DeviceSession on the FakeTransport with the runner above (no lease: the fake has no lease script)."""

    @staticmethod
    def run(t: FakeTransport, tmp_path: Path, control: Any = None) -> list[dict[str, Any]]:
        from harness.farm.session import DeviceSession, Job
        from harness.spec import Control, RunSpec
        from harness.store import Store, read_run

        class Session(DeviceSession):
            def _make_runner(self, link: Any, facts: Any) -> Any:
                return _Runner()

        plan = tuple(PlanItem("phone", "m", "int8", 1, "latency", "xnnpack", n) for n in range(3))
        variant = ModelVariant("int8", tmp_path / "int8.tflite", "ab" * 32, 10)
        spec = RunSpec(lease=None, control=control or Control())
        job = Job("c", str(tmp_path / "results"), {"int8": variant}, plan, spec)
        done = Session(Device("phone"), job, transport=t).run()
        assert len(done.landed) == 3, done
        store = Store(tmp_path / "results")
        return [read_run(store.run_file("c", item.key))["run"] for item in plan]


def test_a_session_reads_the_device_once_per_run_when_runs_follow_at_once(tmp_path):
    """Through DeviceSession, as harness.run drives it: with no cool-down asked, a run's "before"
    is the previous run's "after" (a cool-down that did not wait must not discard it)."""
    t, readings = _device()
    with t:
        runs = _Session.run(t, tmp_path)
    assert len(readings) == 4, readings  # before the first, after each: not 6
    assert [r["temp_before_c"] for r in runs] == [40.0, 41.0, 42.0]
    assert all(r["cooldown_s"] == 0.0 for r in runs)


def test_an_auto_cool_down_looks_at_the_last_reading_first(tmp_path):
    """--cooldown auto on a device within its tolerance: the previous run's "after" is the first
    look (no extra command), and the run starts at once."""
    from harness.spec import Control

    t, readings = _device()
    with t:
        # the idle reading (40) is taken at set-up; each reading is a degree warmer: within 10 °C
        runs = _Session.run(t, tmp_path, Control(cooldown_auto=True, auto_tolerance_c=10.0))
    assert len(readings) == 5, readings  # idle, before the first, after each
    assert [r["temp_before_c"] for r in runs] == [41.0, 42.0, 43.0]
    assert all(r["cooldown_s"] == 0.0 for r in runs)
