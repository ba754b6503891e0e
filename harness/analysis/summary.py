"""The table `harness run` ends with: per device, variant and threads — latency percentiles
over every timed invoke of the latency runs, the ratio to fp32, and the op types that take
the time (from the profile run in the same kernel mode as the latency runs)."""

from __future__ import annotations

from typing import Any

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


def _latency_ms(samples: Any, per_run_us: Any, q: float) -> float | None:
    """The q-quantile over every timed invoke where the runner gave them; else (benchmark_model
    gives only per-run statistics) the median of the runs' own values."""
    if samples.size:
        return float(samples.quantile(q)) / 1000.0
    per_run = per_run_us.dropna()
    return float(per_run.median()) / 1000.0 if per_run.size else None


def _ratio(value: float | None, base: float | None) -> float | None:
    if value is None or base is None or value != value or base != base or base <= 0:
        return None
    return value / base


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
    for (device, variant, threads), group in lat.groupby(["device", "variant", "threads"], observed=True):
        s = samples[samples["run_id"].isin(group["run_id"])]["latency_us"]
        delegate = group["delegate"].iloc[0]
        match = prof[(prof["device"] == device) & (prof["variant"] == variant) & (prof["threads"] == threads)]
        preferred = match[match["delegate"] == delegate]
        chosen = preferred if not preferred.empty else match
        tops = top_op_types(ops[ops["run_id"] == chosen["run_id"].iloc[0]], top) if not chosen.empty else []
        rows.append(
            {
                "device": device,
                "variant": variant,
                "threads": int(threads),
                "runs": len(group),
                "invokes": int(s.size),
                "p50_ms": _latency_ms(s, group["p50_us"], 0.5),
                "p90_ms": _latency_ms(s, group["p90_us"], 0.9),
                "top_ops": "\n".join(f"{t} {p:.0f}%" for t, p in tops),
            }
        )
    table = pd.DataFrame(rows, columns=["device", "variant", "threads", "runs", "invokes", "p50_ms",
                                        "p90_ms", "top_ops"])
    if table.empty:
        table.insert(6, "vs_fp32", pd.Series(dtype="float64"))
        return table
    base = table[table["variant"] == "fp32"].set_index(["device", "threads"])["p50_ms"]
    table.insert(
        6,
        "vs_fp32",
        [
            _ratio(r.p50_ms, base.get((r.device, r.threads))) for r in table.itertuples()
        ],
    )
    table["_o"] = table["variant"].map(lambda v: VARIANT_ORDER.get(v, 9))
    return table.sort_values(["device", "threads", "_o"]).drop(columns="_o").reset_index(drop=True)
