"""What harness compare can see with 5, 10 and 20 runs a side: its power table.

Simulated process-level runs with log-normal run-to-run noise (3 % spread, as measured on phones
and this host), compared with the statistics `harness compare` uses (ratio of Harrell-Davis
medians, BCa interval, Mann-Whitney U, a verdict only when both agree). For each number of runs:
the smallest ratio it states as detectable at 80 % power (``min_detectable_ratio``), the share of
data sets in which a true ratio of that size is called (should be near 80 %), the share in which a
5 % slowdown is called, and A/A false positives. Deterministic (fixed seeds).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.analysis import stats  # noqa: E402

SPREAD = 0.03
TRIALS = 300
OUT = Path(__file__).resolve().parent / "out" / "power.json"


def runs(n: int, rng: np.random.Generator, factor: float = 1.0) -> np.ndarray:
    return 1000.0 * factor * np.exp(rng.normal(0.0, SPREAD, n))


def called(n: int, factor: float, seed: int) -> float:
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(TRIALS):
        verdict = stats.compare_runs(runs(n, rng), runs(n, rng, factor), n_boot=1000).verdict
        hits += verdict == (stats.SLOWER if factor > 1 else stats.NO_DIFFERENCE if factor == 1 else stats.FASTER)
    return hits / TRIALS


def main() -> int:
    rows = []
    for n in (5, 10, 20):
        rng = np.random.default_rng(n)
        # the detectable ratio harness states, from the spread it would see: the median over data sets
        stated = float(np.median([stats.min_detectable_ratio(runs(n, rng), runs(n, rng)) for _ in range(200)]))
        rows.append({"runs_a_side": n, "min_detectable_ratio": stated, "power_at_it": called(n, stated, 1),
                     "power_5pct_slowdown": called(n, 1.05, 2), "aa_false_positive": 1 - called(n, 1.0, 3)})
        print(json.dumps(rows[-1]), flush=True)
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps({"spread": SPREAD, "trials": TRIALS, "rows": rows}, indent=1))
    print("\n| runs a side | stated detectable ratio (80 % power) | called at that ratio | a 5 % slowdown called | "
          "A/A false positives |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['runs_a_side']} | {r['min_detectable_ratio']:.3f}x | {100 * r['power_at_it']:.0f} % | "
              f"{100 * r['power_5pct_slowdown']:.0f} % | {100 * r['aa_false_positive']:.1f} % |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
