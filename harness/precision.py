"""Adaptive repeats (`harness run --precision 2%`): add interleaved repeats until the confidence
interval of every variant's median latency is within ±precision, bounded by a time budget.

The median and its interval are `harness compare`'s (``stats.hd_median``, ``stats.median_ci``: a
95 % BCa bootstrap interval of the Harrell-Davis median of the run values), and a group has no
interval below ``stats.MIN_RUNS`` runs, the number under which the stability warnings call a group
too few runs."""

from __future__ import annotations

from typing import Any


def half_widths(runs: Any) -> dict[tuple[str, int, str], float | None]:
    """Relative half-width of the interval of the median per (device, threads, variant) of the ok
    latency runs; None while there are fewer than stats.MIN_RUNS runs."""
    from harness.analysis import stats

    lat = runs[(runs["mode"] == "latency") & (runs["status"] == "ok")]
    out: dict[tuple[str, int, str], float | None] = {}
    for (device, threads, variant), group in lat.groupby(["device", "threads", "variant"], observed=True):
        values = stats.run_values(group["p50_us"].to_numpy(dtype="float64", na_value=float("nan")),
                                  group["mean_us"].to_numpy(dtype="float64", na_value=float("nan")))
        if values.size < stats.MIN_RUNS:
            out[(device, int(threads), variant)] = None
            continue
        median = float(stats.hd_median(values))
        low, high = stats.median_ci(values)
        out[(device, int(threads), variant)] = (high - low) / 2 / median if median > 0 else None
    return out


def precise_enough(widths: dict[tuple[str, int, str], float | None], target: float) -> bool:
    return bool(widths) and all(w is not None and w <= target for w in widths.values())


def parse_precision(text: str) -> float:
    """'2%' or '0.02' -> 0.02."""
    from harness.errors import UserError

    try:
        value = float(text[:-1]) / 100 if text.strip().endswith("%") else float(text)
    except ValueError:
        raise UserError(f"--precision takes a percentage like 2% (got {text!r}).") from None
    if not 0 < value < 1:
        raise UserError(f"--precision must be between 0 and 100 % (got {text!r}).")
    return value
