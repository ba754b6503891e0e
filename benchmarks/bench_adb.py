"""Orchestration overhead per run over ADB, and bytes pushed by a repeated plan.

On an emulated x86_64 device (real adbd in a network namespace behind Debian's adb server,
tests/emulated) and, side by side, on the local device: for each run, the host's wall time of
the whole run (facts, push, run, pull, parse, land) minus the runner's own wall time on the
device (started_at -> finished_at in its result file). Target: under 0.5 s per run over ADB.
Needs root (namespaces). Writes benchmarks/out/adb.json; prints a markdown table.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from harness import load_results  # noqa: E402
from harness.config import LOCAL_DEVICE, Device, RunOptions  # noqa: E402
from harness.farm import DeviceSession, Job  # noqa: E402
from harness.plan import build_plan  # noqa: E402
from harness.prepare import resolve_models  # noqa: E402
from harness.spec import RunSpec  # noqa: E402


def overheads(store_root: Path, campaign: str) -> list[float]:
    out = []
    for run_json in sorted((store_root / campaign / "runs").glob("*/run.json")):
        doc = json.loads(run_json.read_text())
        result = json.loads((run_json.parent / "raw" / "result.json").read_text())
        own = (datetime.fromisoformat(result["finished_at"]) - datetime.fromisoformat(result["started_at"]))
        out.append(doc["run"]["duration_s"] - own.total_seconds())
    return out


def measure(device: Device, root: Path, repeats: int) -> dict:
    name, files = resolve_models(model=None, example="tiny_cnn", variants=["fp32", "int8"])
    options = RunOptions(min_runs=5, min_s=0.05, warmup_runs=1, warmup_min_s=0.0)
    plan = build_plan([device.name], name, ["fp32", "int8"], [1], repeats, profile=False)
    spec = RunSpec(options=options, lease=None)
    first = DeviceSession(device, Job("first", str(root), files, tuple(plan), spec)).run()
    second = DeviceSession(device, Job("second", str(root), files, tuple(plan), spec)).run()
    assert not first.failed and not second.failed, (first.failed, second.failed)
    ov = overheads(root, "first") + overheads(root, "second")
    runs = load_results(root).runs
    return {
        "runs": len(runs),
        "overhead_median_s": statistics.median(ov),
        "overhead_max_s": max(ov),
        "bytes_pushed_first": first.bytes_pushed,
        "bytes_pushed_second": second.bytes_pushed,
    }


def main(repeats: int = 5) -> dict:
    from tests.emulated.adb_device import check_host
    from tests.emulated.adb_farm import AdbFarm

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["local"] = measure(LOCAL_DEVICE, Path(tmp) / "local", repeats)
        reason = check_host()
        if reason:
            print(f"ADB part skipped: {reason}")
        else:
            with AdbFarm(1) as farm:
                device = Device(name="emu", transport="adb", serial=farm.serials[0],
                                adb_server=f"127.0.0.1:{farm.server_port}", runner="litert")
                results["adb (emulated x86_64)"] = measure(device, Path(tmp) / "adb", repeats)
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    (out / "adb.json").write_text(json.dumps(results, indent=1))
    print("| device | runs | overhead median (s) | overhead max (s) | bytes pushed, 1st plan | 2nd plan |")
    print("|---|---|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['runs']} | {r['overhead_median_s']:.3f} | {r['overhead_max_s']:.3f} | "
              f"{r['bytes_pushed_first']} | {r['bytes_pushed_second']} |")
    return results


if __name__ == "__main__":
    main()
