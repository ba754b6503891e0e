"""The table `harness run` ends with: per device, variant and threads — the median latency of the
latency runs, its ratio to fp32, and the op types that take the time (from the profile run in the
same kernel mode as the latency runs).

``p50_ms`` is ``stats.run_median``: the Harrell-Davis median over the runs of each run's own p50
(its mean where the runner gave no percentile) — the statistic `harness compare` compares, so
``vs_fp32`` (the ratio of those medians) is exactly `harness compare`'s ratio for the same pair.
``p90_ms`` is the same estimator over each run's p90. ``invokes`` counts the timed invokes behind
the runs' percentiles.
"""

from __future__ import annotations

from typing import Any

from harness.analysis import stats

VARIANT_ORDER = {"fp32": 0, "fp16": 1, "dynamic": 2, "int8": 3, "mixed": 4}


def top_op_types(ops: Any, n: int = 3) -> list[tuple[str, float]]:
    """(op_type, percent of summed op time) of one profile run's ops, largest first."""
    ops = ops[ops["phase"] == "invoke"]
    if ops.empty:
        return []
    by_type = ops.groupby("op_type", observed=True)["per_run_ms"].sum()
    total = by_type.sum()
    if not total > 0:
        return []
    by_type = by_type.sort_values(ascending=False).head(n)
    return [(str(k), float(v) * 100.0 / float(total)) for k, v in by_type.items()]


def _median_us(per_run_us: Any, fallback_us: Any = None) -> float | None:
    """``stats.run_median`` of one column of the runs (us)."""
    return stats.run_median(per_run_us.to_numpy(dtype="float64", na_value=float("nan")),
                            None if fallback_us is None else fallback_us.to_numpy(dtype="float64",
                                                                                  na_value=float("nan")))


def _ratio(value: float | None, base: float | None) -> float | None:
    if value is None or base is None or value != value or base != base or base <= 0:
        return None
    return value / base


def _ms(us: float | None) -> float | None:
    return None if us is None else us / 1000.0


def summarize(results: Any, campaign: str | None = None, top: int = 3) -> Any:
    """One row per device x variant x threads of the latency runs that succeeded."""
    import pandas as pd

    runs, ops, samples = results.runs, results.ops, results.samples
    if campaign is not None:
        runs = runs[runs["campaign"] == campaign]
    ok = runs[runs["status"] == "ok"]
    lat = ok[ok["mode"] == "latency"]
    prof = ok[ok["mode"] == "profile"]
    rows: list[dict[str, Any]] = []
    medians_us: dict[tuple[Any, Any, int], float | None] = {}  # unrounded, for vs_fp32
    for (device, variant, threads), group in lat.groupby(["device", "variant", "threads"], observed=True):
        n_invokes = int(samples["run_id"].isin(group["run_id"]).sum())
        delegate = group["delegate"].iloc[0]
        match = prof[(prof["device"] == device) & (prof["variant"] == variant) & (prof["threads"] == threads)]
        preferred = match[match["delegate"] == delegate]
        chosen = preferred if not preferred.empty else match
        tops = top_op_types(ops[ops["run_id"] == chosen["run_id"].iloc[0]], top) if not chosen.empty else []
        medians_us[(device, variant, int(threads))] = p50_us = _median_us(group["p50_us"], group["mean_us"])
        rows.append(
            {
                "device": device,
                "variant": variant,
                "threads": int(threads),
                "runs": len(group),
                "invokes": n_invokes,
                "p50_ms": _ms(p50_us),
                "p90_ms": _ms(_median_us(group["p90_us"])),
                "top_ops": "\n".join(f"{t} {p:.0f}%" for t, p in tops),
            }
        )
    table = pd.DataFrame(rows, columns=["device", "variant", "threads", "runs", "invokes", "p50_ms",
                                        "p90_ms", "top_ops"])
    if table.empty:
        table.insert(6, "vs_fp32", pd.Series(dtype="float64"))
        return table
    # the ratio of the medians in us, divided as stats.compare_runs divides them: compare's very float
    table.insert(
        6,
        "vs_fp32",
        [
            _ratio(medians_us[(r.device, r.variant, r.threads)], medians_us.get((r.device, "fp32", r.threads)))
            for r in table.itertuples()
        ],
    )
    table["_o"] = table["variant"].map(lambda v: VARIANT_ORDER.get(v, 9))
    return table.sort_values(["device", "threads", "_o"]).drop(columns="_o").reset_index(drop=True)
