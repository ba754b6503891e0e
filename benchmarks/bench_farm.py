"""Farm scaling: wall time of a fixed per-device plan on 1, 2, 4, 8, 16 emulated devices against
the single-device time, and the controller's CPU use.

Devices: the real adbd in network namespaces behind Debian's adb server (tests/emulated), running
the TEST DOUBLE of benchmark_model (tests/doubles), which sleeps --min_secs like the real tool and
uses no CPU doing so — the devices, not the controller, must be the bottleneck. Target: parallel
efficiency (T1 / TN) at least 85 % at 16 devices. Needs root. Writes benchmarks/out/farm.json.
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from harness.config import Device, RunOptions  # noqa: E402
from harness.farm import Job, run_farm  # noqa: E402
from harness.plan import build_plan  # noqa: E402
from harness.prepare import resolve_models  # noqa: E402
from harness.spec import RetryPolicy, RunSpec  # noqa: E402

SIZES = (1, 2, 4, 8, 16)
MIN_SECS = 1.0
REPEATS = 4  # x 2 variants = 8 runs of >= 1 s per device


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> dict:
    from tests.doubles.benchmark_model_double import write_double
    from tests.emulated.adb_device import check_host
    from tests.emulated.adb_farm import AdbFarm

    reason = check_host()
    if reason:
        print(f"skipped: {reason}")
        return {}
    name, files = resolve_models(model=None, example="tiny_cnn", variants=["fp32", "int8"])
    options = RunOptions(min_runs=5, min_s=MIN_SECS, warmup_runs=1, warmup_min_s=0.0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp, AdbFarm(max(SIZES)) as farm:
        double = write_double(Path(tmp) / "benchmark_model")
        devices = [Device(name=f"phone{i}", transport="adb", serial=s, adb_server=f"127.0.0.1:{farm.server_port}",
                          runner="benchmark_model", benchmark_model=str(double)) for i, s in enumerate(farm.serials)]
        for n in SIZES:
            chosen = devices[:n]
            plan = build_plan([d.name for d in chosen], name, ["fp32", "int8"], [1], REPEATS, profile=False)
            spec = RunSpec(options=options, retry=RetryPolicy(max_attempts=1), lease=None)
            job = Job(f"n{n}", str(Path(tmp) / f"store-{n}"), files, tuple(plan), spec)
            c0, t0 = cpu_s(), time.perf_counter()
            result = run_farm(chosen, job)
            wall, cpu = time.perf_counter() - t0, cpu_s() - c0
            assert result.ok, (result.failed, result.errors)
            rows.append({"devices": n, "runs": len(plan), "wall_s": wall, "controller_cpu_s": cpu})
            print(f"{n} devices: {len(plan)} runs in {wall:.1f} s, controller CPU {cpu:.1f} s", flush=True)
    t1 = rows[0]["wall_s"]
    for r in rows:
        r["efficiency"] = t1 / r["wall_s"]
        r["controller_cpu_pct"] = 100.0 * r["controller_cpu_s"] / r["wall_s"]
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    (out / "farm.json").write_text(json.dumps(rows, indent=1))
    print("\n| devices | runs | wall (s) | efficiency T1/TN | controller CPU (s) | controller CPU (% of one core) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['devices']} | {r['runs']} | {r['wall_s']:.1f} | {100 * r['efficiency']:.0f} % | "
              f"{r['controller_cpu_s']:.1f} | {r['controller_cpu_pct']:.0f} % |")
    return {"rows": rows}


if __name__ == "__main__":
    main()
