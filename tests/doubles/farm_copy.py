"""A recorded campaign landed again as a farm of devices with chosen speeds.

Real runs (their invokes, ops and raw outputs) are copied through the store's own writer; only the
latencies are scaled, so that each device's variants stand in the ratios a test names, whatever
preempted the real runs on a busy machine. Used where a test needs a verdict it can rely on
(a farm that disagrees, a slowdown a gate must catch) from real data."""

from __future__ import annotations

from pathlib import Path

from harness.store import Store

COPIES = 3  # each latency run of the source lands this many times on a device
INVOKES_KEPT = 400


def records(frame):
    import pandas as pd

    rows = frame.astype(object).where(frame.notna(), None).to_dict("records")
    for row in rows:
        for k, v in row.items():
            if isinstance(v, pd.Timestamp):
                row[k] = v.isoformat()
            elif hasattr(v, "item"):
                row[k] = v.item()
    return rows


def copy_to_farm(source: Path, dest: Path, devices: list[tuple[str, str, dict[str, float]]],
                 campaign: str = "farm", model_name: str = "tiny_cnn") -> Store:
    """``source`` (a campaign folder) landed again on each (name, model, relative latency per
    variant) device, through the store's own writer: latencies scaled so that each latency run's
    median is the given multiple of the source's fp32 median (the shape of its invokes kept), each
    latency run landed COPIES times (slightly jittered), its first INVOKES_KEPT invokes kept and its
    aggregates computed from them as the parser does."""
    from harness import load_results
    from harness.analysis import stats
    from harness.parsers.litert import latency_stats

    res = load_results(source)
    runs, name = res.runs, source.name
    lat = runs[(runs["mode"] == "latency") & (runs["status"] == "ok")]
    medians = {v: stats.run_median(g["p50_us"].to_numpy(dtype="float64"))
               for v, g in lat.groupby("variant", observed=True)}
    ops_of: dict[str, list] = {}
    for op in records(res.ops):
        ops_of.setdefault(op["run_id"], []).append(op)
    samples_of: dict[str, list] = {}
    for s in records(res.samples):
        samples_of.setdefault(s["run_id"], []).append(s)
    # each latency run scaled to its variant's median, so that a device's runs differ by the copies'
    # jitter alone: the verdicts below are the targets', whatever preempted the real runs
    own = {rid: latency_stats([x["latency_us"] for x in kept[:INVOKES_KEPT]])["p50_us"]
           for rid, kept in samples_of.items() if kept}
    store = Store(dest)
    source_store = Store(source.parent)
    for d, (device, model, targets) in enumerate(devices):
        for run in records(runs):
            key = run["run_id"].split("/", 1)[1]
            level = medians[run["variant"]]
            if run["mode"] == "latency":
                level = own.get(run["run_id"], level)
            factor = targets[run["variant"]] * medians["fp32"] / level * (1 + 0.01 * d)
            raw = {}
            if run["mode"] == "accuracy":
                raw["outputs.npz"] = source_store.raw_path(name, key, "outputs.npz").read_bytes()
            copies = COPIES if run["mode"] == "latency" else 1
            for copy in range(copies):
                repeat = run["repeat"] * copies + copy if run["mode"] == "latency" else run["repeat"]
                new_key = f"{device}{key[key.index('.'):key.rindex('.r')]}.r{repeat}"
                run_id = f"{campaign}/{new_key}"
                f = factor * (1 + 0.004 * copy)
                samples = [{**s, "run_id": run_id, "latency_us": s["latency_us"] * f}
                           for s in samples_of.get(run["run_id"], [])[:INVOKES_KEPT]]
                new_run = {**run, "run_id": run_id, "campaign": campaign, "device": device, "device_model": model,
                           "plan_key": new_key, "repeat": repeat,
                           "profile_invoke_us": run["profile_invoke_us"] and run["profile_invoke_us"] * f}
                if samples:
                    new_run.update(latency_stats([s["latency_us"] for s in samples]))
                ops = [{**o, "run_id": run_id, **{c: o[c] * f for c in ("first_ms", "avg_ms", "per_run_ms")
                                                  if o[c] is not None}} for o in ops_of.get(run["run_id"], [])]
                store.land_run(campaign, new_key, {"run": new_run, "ops": ops, "samples": samples}, raw)
    store.write_campaign(campaign, {"campaign": campaign, "created_at": "2026-12-01T00:00:00+00:00",
                                    "model_name": model_name, "devices": [d[0] for d in devices]})
    return store
