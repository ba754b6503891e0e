#!/usr/bin/env python3
"""Benchmark of `harness compare` on 100,000 op rows (not a test).

Frames synthesised from a real campaign (default: a `harness run --example mobilenet_v2
--repeats 5` campaign made on this host; `--source DIR` names another): its runs, ops and
samples replicated with new run ids until the ops frame holds N rows, in two shapes:

- devices: each copy is another device (a farm: one comparison per device);
- runs:    each copy adds runs of the same device (one comparison over many runs).

Times ``compare(results, baseline=dynamic, candidate=int8)`` on the frames (load excluded).
Target: under 2 s. Prints a markdown table; writes benchmarks/out/compare.json.

    .venv/bin/python benchmarks/bench_compare.py [--rows 100000] [--repeats 3] [--source DIR]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from run_all import machine  # noqa: E402

from harness.analysis.compare import compare  # noqa: E402
from harness.store import Results, load_results  # noqa: E402

OUT = REPO / "benchmarks" / "out" / "compare.json"
SOURCE = REPO / "benchmarks" / "out" / "compare-source"
TARGET_S = 2.0


def _source(path: str | None) -> Path:
    if path:
        return Path(path)
    if not (SOURCE / "mnv2").is_dir():
        subprocess.run([sys.executable, "-m", "harness", "run", "--example", "mobilenet_v2", "--repeats", "5",
                        "--results", str(SOURCE), "--campaign", "mnv2"], check=True, cwd=REPO)
    return SOURCE / "mnv2"


def _replicate(res: Results, rows: int, shape: str) -> Results:
    import pandas as pd

    copies = -(-rows // len(res.ops))
    runs, ops, samples = [], [], []
    for k in range(copies):
        def rid(s: pd.Series, k: int = k) -> pd.Series:
            return s + f"#{k}"

        r = res.runs.assign(run_id=rid(res.runs["run_id"]))
        if shape == "devices":
            r["device"] = r["device"] + f"-{k}"
        runs.append(r)
        ops.append(res.ops.assign(run_id=rid(res.ops["run_id"])))
        samples.append(res.samples.assign(run_id=rid(res.samples["run_id"].astype(str))))  # a Categorical: no +
    ops_f = pd.concat(ops, ignore_index=True).head(rows)
    return Results(pd.concat(runs, ignore_index=True), ops_f, pd.concat(samples, ignore_index=True))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--source", help="A campaign folder with dynamic and int8 runs.")
    args = ap.parse_args()
    src = load_results(_source(args.source))
    compare(src, baseline="dynamic", candidate="int8")  # warm-up: scipy imported, caches filled
    results = []
    for shape in ("devices", "runs"):
        res = _replicate(src, args.rows, shape)
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            comps = compare(res, baseline="dynamic", candidate="int8")
            times.append(time.perf_counter() - t0)
        best, med = min(times), statistics.median(times)
        results.append({
            "shape": shape, "op_rows": len(res.ops), "runs": len(res.runs), "comparisons": len(comps),
            "n_baseline": comps[0].n_baseline, "median_s": round(med, 3), "best_s": round(best, 3),
            "target_s": TARGET_S, "ok": med < TARGET_S,
        })
    print(f"machine: {machine()}\n")
    print("| shape | op rows | runs | comparisons | runs a side | median s | best s | target |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for r in results:
        print(f"| {r['shape']} | {r['op_rows']:,} | {r['runs']:,} | {r['comparisons']} | {r['n_baseline']} | "
              f"{r['median_s']:.3f} | {r['best_s']:.3f} | < {TARGET_S:g} s {'ok' if r['ok'] else 'MISSED'} |")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"machine": machine(), "results": results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
