#!/usr/bin/env python3
"""Benchmark of loading the results store at farm scale (not a test).

Stores of 10, 100 and 1,000 devices are built from one real campaign (default: a `harness run
--example mobilenet_v2 --repeats 5` campaign made on this host, 28 runs; `--source DIR` names
another): its runs copied to N devices, the device renamed in every key, run id and record (28
runs per device, one campaign called "farm"), with their raw files. Format 2 stores are landed
with ``Store.land_run``, compacted per device as sessions do when they end, then merged as
``harness.run`` does at its end; format 1 stores are written as harness wrote them before (one
indented run.json per run, ops and samples as lists of records).

Every measurement runs in a fresh child process (wall time of the call, after imports; peak
memory as the child's peak resident set, VmHWM, imports included): ``load_results`` (runs + ops), with
samples, ``load_runs``, and one `harness results query` over samples. Format 1 is loaded by
this harness and by the harness before format 2 (commit a9cc20c, unpacked from git).

    .venv/bin/python benchmarks/bench_store.py [--devices 10,100,1000] [--repeats 3] [--source DIR]

Stores are kept under benchmarks/out/stores/ (the 1,000-device one takes ~3 GB) and reused when
their build matches. Other benchmarks time compare and report on the same stores through
``build_store(root, devices, fmt=2) -> Path`` (the store root; its one campaign is "farm").
Writes benchmarks/out/store.json and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from run_all import machine  # noqa: E402

OUT = REPO / "benchmarks" / "out" / "store.json"
STORES = REPO / "benchmarks" / "out" / "stores"
SOURCE = REPO / "benchmarks" / "out" / "store-source"
CAMPAIGN = "farm"
BEFORE = "a9cc20c"  # the last harness with store format 1 only
STATES = ("compacted", "sessions", "loose")  # after harness.run | devices' sessions ended | nothing compacted


def source_campaign(path: str | Path | None = None) -> Path:
    """The real campaign the stores are copied from (made here on first use)."""
    if path:
        return Path(path)
    if not (SOURCE / "mnv2" / "campaign.json").is_file():
        subprocess.run([sys.executable, "-m", "harness", "run", "--example", "mobilenet_v2", "--repeats", "5",
                        "--results", str(SOURCE), "--campaign", "mnv2"], check=True, cwd=REPO)
    return SOURCE / "mnv2"


def _source_runs(source: Path) -> tuple[str, list[tuple[str, dict[str, Any], dict[str, bytes]]]]:
    """The source campaign's device, and per run: its key, record (ops and samples as columns too), raw files."""
    from harness.store import _columns_of, read_run

    runs = []
    for folder in sorted(p for p in (source / "runs").iterdir() if (p / "run.json").is_file()):
        doc = read_run(folder / "run.json")
        doc["columns"] = {table: _columns_of(doc, table) for table in ("ops", "samples")}
        raw = {p.relative_to(folder / "raw").as_posix(): p.read_bytes()
               for p in sorted((folder / "raw").rglob("*")) if p.is_file()}
        runs.append((folder.name, doc, raw))
    devices = {doc["run"]["device"] for _, doc, _ in runs}
    if len(devices) != 1:
        raise SystemExit(f"{source}: the source campaign must be of one device (it has {sorted(devices)})")
    return devices.pop(), runs


def build_store(root: str | Path, devices: int, fmt: int = 2, *, source: str | Path | None = None,
                state: str = "compacted") -> Path:
    """A store at ``root`` holding one campaign ("farm") of ``devices`` copies of the source
    campaign's device. ``fmt`` 2: landed and compacted as the farm does (``state``: "compacted",
    after ``harness.run``; "sessions": one part per device; "loose": nothing compacted);
    ``fmt`` 1: the format before. Reused when ``root`` holds the same build. Returns ``root``."""
    from harness.store import Store

    root = Path(root)
    src = source_campaign(source)
    built = {"source": str(src.resolve()), "devices": devices, "format": fmt, "state": state if fmt == 2 else None,
             "builder": 2}
    marker = root / ".built.json"
    if marker.is_file() and json.loads(marker.read_text()) == built:
        return root
    shutil.rmtree(root, ignore_errors=True)
    old_device, runs = _source_runs(src)
    meta = json.loads((src / "campaign.json").read_text())
    names = [f"dev{i:04d}" for i in range(devices)]
    store = Store(root)
    keys: list[str] = []
    for name in names:
        mine = []
        for key, doc, raw in runs:
            new_key = name + key[len(old_device):]
            run_id = f"{CAMPAIGN}/{new_key}"
            run = {**doc["run"], "run_id": run_id, "campaign": CAMPAIGN, "device": name,
                   "plan_key": name + str(doc["run"]["plan_key"])[len(old_device):]}
            if fmt == 2:
                store.land_run(CAMPAIGN, new_key, {"run": run, **doc["columns"], "command": doc.get("command")}, raw)
            else:
                _write_format1(root / CAMPAIGN / "runs" / new_key, run, doc, raw)
            mine.append(new_key)
        keys += mine
        if fmt == 2 and state != "loose":
            store.compact(CAMPAIGN, keys=mine)  # what a device's session does when it ends
    if fmt == 2 and state == "compacted":
        store.compact(CAMPAIGN)  # what harness.run does at its end
    store.write_campaign(CAMPAIGN, {**meta, "campaign": CAMPAIGN, "devices": names, "plan": keys})
    marker.write_text(json.dumps(built))
    return root


def _write_format1(folder: Path, run: dict[str, Any], doc: dict[str, Any], raw: dict[str, bytes]) -> None:
    """One run as harness wrote it before format 2 (store.py at a9cc20c)."""
    run_id = run["run_id"]
    body = {"run": {**run, "schema_version": 1},
            "ops": [{**o, "run_id": run_id} for o in doc["ops"]],
            "samples": [{**s, "run_id": run_id} for s in doc["samples"]],
            "command": doc.get("command"), "schema_version": 1}
    (folder / "raw").mkdir(parents=True)
    for name, data in raw.items():
        (folder / "raw" / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / "raw" / name).write_bytes(data)
    (folder / "run.json").write_text(json.dumps(body, indent=1, default=str) + "\n")


def harness_before() -> Path:
    """The harness package as it was before format 2, unpacked from git (for the "before" column)."""
    target = REPO / "benchmarks" / "out" / f"harness-{BEFORE}"
    if not (target / "harness" / "store.py").is_file():
        target.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "archive", "--format=tar", BEFORE, "harness"], cwd=REPO, check=True,
                                 capture_output=True).stdout
        tar = target / "harness.tar"
        tar.write_bytes(archive)
        with tarfile.open(tar) as t:
            t.extractall(target, filter="data")
        tar.unlink()
    return target


# --- measurements, each in a fresh child process --------------------------------------------------

CHILD = """
import json, sys, time
root, what = sys.argv[1], sys.argv[2]
from harness import store
import pandas, pyarrow, pyarrow.parquet, duckdb
t0 = time.perf_counter()
if what == "runs+ops":
    res = store.load_results(root); n = (len(res.runs), len(res.ops))
elif what == "with samples":
    res = store.load_results(root, samples=True) if hasattr(store, "FORMAT") else store.load_results(root)
    n = (len(res.runs), len(res.ops), len(res.samples))
elif what == "load_runs":
    n = (len(store.load_runs(root)),)
elif what == "query samples":
    n = (len(store.query("SELECT variant, median(latency_us) AS p50 FROM samples JOIN runs USING (run_id) "
                         "GROUP BY variant", root)),)
wall = time.perf_counter() - t0
# VmHWM, this process's own peak: getrusage's ru_maxrss would carry over the RSS of the parent at fork
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:")) / 1024
print(json.dumps({"wall_s": wall, "peak_mb": peak, "rows": n, "harness": store.__file__}))
"""


def measure(root: Path, what: str, *, before: bool = False) -> dict[str, Any]:
    env_path = str(harness_before()) if before else str(REPO)
    proc = subprocess.run([sys.executable, "-c", CHILD, str(root), what], capture_output=True, text=True,
                          env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"}, cwd="/", timeout=3600)
    if proc.returncode != 0:
        raise RuntimeError(f"{what} on {root}: {proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.splitlines()[-1])
    return result


def timed(root: Path, what: str, repeats: int, *, before: bool = False) -> dict[str, Any]:
    runs = [measure(root, what, before=before) for _ in range(repeats)]
    return {"what": what, "wall_s": statistics.median(r["wall_s"] for r in runs),
            "walls_s": [r["wall_s"] for r in runs], "peak_mb": max(r["peak_mb"] for r in runs), "rows": runs[0]["rows"]}


def _size_mb(root: Path) -> float:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", default="10,100,1000")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--source", help="A campaign folder of one device (default: mobilenet_v2, 28 runs).")
    ap.add_argument("--before-up-to", type=int, default=100,
                    help="Largest store measured in format 1 (it loads in tens of GB beyond).")
    args = ap.parse_args()
    sizes = [int(n) for n in args.devices.split(",")]
    rows: list[dict[str, Any]] = []

    def record(devices: int, fmt: int, state: str, loader: str, result: dict[str, Any], root: Path) -> None:
        row = {"devices": devices, "format": fmt, "state": state, "loader": loader, **result,
               "store_mb": round(_size_mb(root), 1)}
        rows.append(row)
        print(f"{devices:>5} devices  format {fmt} {state:<9} {loader:<6} {result['what']:<14} "
              f"{result['wall_s']:7.2f} s  {result['peak_mb']:6.0f} MB  rows {result['rows']}", flush=True)

    for devices in sizes:
        t = time.perf_counter()
        root = build_store(STORES / f"f2-{devices}", devices, 2, source=args.source)
        print(f"built {devices} devices (format 2) in {time.perf_counter() - t:.0f} s", flush=True)
        for what in ("runs+ops", "with samples", "load_runs", "query samples"):
            record(devices, 2, "compacted", "now", timed(root, what, args.repeats), root)
    if 100 in sizes:  # what a reader meets before harness.run ends, or after a controller was killed
        for state in ("sessions", "loose"):
            root = build_store(STORES / f"f2-100-{state}", 100, 2, source=args.source, state=state)
            for what in ("runs+ops", "with samples"):
                record(100, 2, state, "now", timed(root, what, args.repeats), root)
    for devices in (n for n in sizes if n <= args.before_up_to):
        root = build_store(STORES / f"f1-{devices}", devices, 1, source=args.source)
        record(devices, 1, "-", "before", timed(root, "with samples", args.repeats, before=True), root)
        for what in ("runs+ops", "with samples"):
            record(devices, 1, "-", "now", timed(root, what, args.repeats), root)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()  # the machine is shared: say how busy it was
    OUT.write_text(json.dumps({"machine": machine(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                               "load_avg": load, "source": str(source_campaign(args.source)), "rows": rows},
                              indent=1) + "\n")
    print(f"\nmachine: {machine()}; load average at the end {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}\n")
    print("| devices | runs | format | state | loader | load | wall (s) | peak RSS (MB) | store (MB) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['devices']} | {r['rows'][0]} | {r['format']} | {r['state']} | {r['loader']} | {r['what']} | "
              f"{r['wall_s']:.2f} | {r['peak_mb']:.0f} | {r['store_mb']:.0f} |")


if __name__ == "__main__":
    main()
