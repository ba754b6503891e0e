#!/usr/bin/env python3
"""Benchmark of the benchmark_model output parser (not a test).

Throughput of ``harness.parsers.benchmark_model`` on a synthetic 10,000-row profile built from
the real table format: the real stdout of 08 (tests/data/benchmark_model, nightly 2024 x86-64,
XNNPACK per-op rows, width-40 types, no [start]) with its 171-row Run Order table repeated until
it holds N rows, each copy's names given distinct node indices. The same rows also go through
the CSV form (rows of cnn_dynamic_ops.csv repeated the same way). Target: over 100,000 rows/s.

Prints a markdown table; writes benchmarks/out/parser.json.

    .venv/bin/python benchmarks/bench_parser.py [--rows 10000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness.parsers.benchmark_model import parse  # noqa: E402

DATA = REPO / "tests" / "data" / "benchmark_model"
OUT = REPO / "benchmarks" / "out" / "parser.json"
TARGET_ROWS_PER_S = 100_000


def _grow(text: str, rows: int) -> str:
    """Repeat the rows of the invoke Run Order table until it has ``rows`` rows."""
    lines = text.splitlines()
    start = next(i for i, x in enumerate(lines) if "Operator-wise Profiling Info" in x)
    head = next(i for i in range(start, len(lines)) if "Run Order" in lines[i]) + 2  # banner + header
    end = next(i for i in range(head, len(lines)) if not lines[i].strip())
    body = lines[head:end]
    out: list[str] = []
    k = 0
    while len(out) < rows:
        for line in body:
            if len(out) == rows:
                break
            out.append(re.sub(r":(\d+)$", f":{k}", line.rstrip()))
            k += 1
    return "\n".join(lines[:head] + out + lines[end:]) + "\n"


def _measure(data: bytes, rows: int, repeats: int) -> dict:
    parsed = parse(data)  # warm-up, and a check that every row was read
    got = sum(1 for r in parsed.runs for o in r.ops if o["phase"] == "invoke")
    if got != rows:
        raise SystemExit(f"parser read {got} invoke rows, expected {rows}")
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        parse(data)
        times.append(time.perf_counter() - t0)
    best, med = min(times), statistics.median(times)
    return {"rows": rows, "bytes": len(data), "repeats": repeats, "best_s": best, "median_s": med,
            "rows_per_s_median": rows / med, "rows_per_s_best": rows / best,
            "mb_per_s_median": len(data) / med / 1e6}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    cases = {
        "text (08, width 40, XNNPACK rows)": _grow(
            (DATA / "08_litert-2024_linux-x86_xnnpack-per-op-profiling_no-start-column.txt").read_text(), args.rows),
        "text ([start] column, 01)": _grow(
            (DATA / "01_tf2.8_riscv64-qemu_cpu_mobilenetv1_op-profiling_sci-notation.txt").read_text(), args.rows),
        "csv (cnn_dynamic_ops.csv)": _grow((DATA / "cnn_dynamic_ops.csv").read_text(), args.rows),
    }
    results = {name: _measure(text.encode(), args.rows, args.repeats) for name, text in cases.items()}
    from run_all import machine as describe_machine

    machine = describe_machine()
    print(f"benchmark_model parser, {args.rows} Run Order rows, median of {args.repeats} ({machine})\n")
    print("| input | rows | MB | median s | rows/s (median) | target |")
    print("|---|---:|---:|---:|---:|---|")
    for name, r in results.items():
        ok = "ok" if r["rows_per_s_median"] >= TARGET_ROWS_PER_S else "BELOW"
        print(f"| {name} | {r['rows']} | {r['bytes'] / 1e6:.2f} | {r['median_s']:.4f} | "
              f"{r['rows_per_s_median']:,.0f} | > {TARGET_ROWS_PER_S:,} {ok} |")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"benchmark": "parser", "machine": machine,
                               "date": time.strftime("%Y-%m-%d"), "target_rows_per_s": TARGET_ROWS_PER_S,
                               "results": results}, indent=1) + "\n")
    print(f"\nwrote {OUT.relative_to(REPO)}")


if __name__ == "__main__":
    main()
