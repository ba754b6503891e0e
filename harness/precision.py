"""Adaptive repeats (`harness run --precision 2%`): add interleaved repeats until the confidence
interval of every variant's median latency is within ±precision, bounded by a time budget."""

from __future__ import annotations

from typing import Any

CONFIDENCE = 0.95
MIN_RUNS = 3


def median_ci(values: Any, *, n_boot: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """(median, low, high): percentile bootstrap of the median over process-level runs."""
    import numpy as np

    x = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    boots = np.median(x[rng.integers(0, len(x), size=(n_boot, len(x)))], axis=1)
    tail = (1 - CONFIDENCE) / 2 * 100
    return float(np.median(x)), float(np.percentile(boots, tail)), float(np.percentile(boots, 100 - tail))


def half_widths(runs: Any) -> dict[tuple[str, int, str], float | None]:
    """Relative half-width of the CI of the median per (device, threads, variant) of the ok
    latency runs; None while there are fewer than MIN_RUNS runs."""
    lat = runs[(runs["mode"] == "latency") & (runs["status"] == "ok")]
    out: dict[tuple[str, int, str], float | None] = {}
    for (device, threads, variant), group in lat.groupby(["device", "threads", "variant"], observed=True):
        values = group["p50_us"].fillna(group["mean_us"]).dropna().to_numpy()
        if len(values) < MIN_RUNS:
            out[(device, int(threads), variant)] = None
            continue
        median, low, high = median_ci(values)
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
