"""The table `harness run` ends with: per device, variant and threads — the median latency of the
latency runs, its ratio to fp32, and the op types that take the time (from the profile run in the
same kernel mode as the latency runs).

``p50_ms`` is ``stats.run_median``: the Harrell-Davis median over the runs of each run's own p50
(its mean where the runner gave no percentile) — the statistic `harness compare` compares, so
``vs_fp32`` (the ratio of those medians) is exactly `harness compare`'s ratio for the same pair.
``p90_ms`` is the same estimator over each run's p90. ``invokes`` counts the timed invokes behind
the runs' percentiles (the runs' ``count``). Everything here is read from per-run aggregates and the
profile runs' ops: the timed invokes themselves (the samples frame) are never loaded.
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
    """One row per device x variant x threads of the latency runs that succeeded (``results``:
    anything with ``runs`` and ``ops`` frames; its samples are never read)."""
    return summary_table(results.runs, results.ops, campaign, top)


def summary_table(runs: Any, ops: Any, campaign: str | None = None, top: int = 3) -> Any:
    """``summarize`` over a runs and an ops frame: per-run aggregates only (``count`` is each run's
    number of timed invokes, ``p50_us`` / ``p90_us`` / ``mean_us`` its own statistics)."""
    import pandas as pd

    if campaign is not None:
        runs = runs[runs["campaign"] == campaign]
    ok = runs[runs["status"] == "ok"]
    lat = ok[ok["mode"] == "latency"]
    profiles: dict[tuple[Any, Any, int], list[tuple[Any, str]]] = {}  # (device, variant, threads) -> (delegate, run)
    prof = ok[ok["mode"] == "profile"]
    for device, variant, threads, delegate, run_id in zip(prof["device"], prof["variant"], prof["threads"],
                                                          prof["delegate"], prof["run_id"], strict=True):
        profiles.setdefault((device, variant, int(threads)), []).append((delegate, run_id))
    from harness.analysis.memory import run_memory_mb

    rows: list[dict[str, Any]] = []
    chosen: dict[tuple[Any, Any, int], str] = {}  # the profile run whose op types are listed
    lat = lat.assign(_mem=run_memory_mb(lat))
    medians_us: dict[tuple[Any, Any, int], float | None] = {}  # unrounded, for vs_fp32
    for (device, variant, threads), group in lat.groupby(["device", "variant", "threads"], observed=True):
        key = (device, variant, int(threads))
        delegate = group["delegate"].iloc[0]
        match = profiles.get(key, [])
        preferred = [r for d, r in match if d == delegate] or [r for _, r in match]
        if preferred:
            chosen[key] = preferred[0]
        medians_us[key] = p50_us = _median_us(group["p50_us"], group["mean_us"])
        rows.append(
            {
                "device": device,
                "variant": variant,
                "threads": int(threads),
                "runs": len(group),
                "invokes": int(group["count"].sum()),
                "p50_ms": _ms(p50_us),
                "p90_ms": _ms(_median_us(group["p90_us"])),
                "memory_mb": float(group["_mem"].median()) if group["_mem"].notna().any() else None,
                "top_ops": "",
            }
        )
    by_run = dict(iter(ops[ops["run_id"].isin(list(chosen.values()))].groupby("run_id", observed=True)))
    for row in rows:
        run_id = chosen.get((row["device"], row["variant"], row["threads"]))
        tops = top_op_types(by_run[run_id], top) if run_id in by_run else []
        row["top_ops"] = "\n".join(f"{t} {p:.0f}%" for t, p in tops)
    table = pd.DataFrame(rows, columns=["device", "variant", "threads", "runs", "invokes", "p50_ms",
                                        "p90_ms", "memory_mb", "top_ops"])
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
