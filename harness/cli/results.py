"""`harness results ...`: list campaigns, show a campaign or a run, export frames, query them with SQL;
compact a store and migrate one written by an older harness."""

from __future__ import annotations

from typing import Any

import typer

app = typer.Typer(help="Look at the results store: list, show, export, query; compact or migrate it.",
                  no_args_is_help=True)

RESULTS_OPT = typer.Option("results", "--results", help="The results store (a folder or an fsspec URL).")


def _note_dropped(dropped: Any) -> None:
    """Say that copies of runs found twice were left out (facts in Results.dropped)."""
    if dropped:
        from harness.cli import render

        runs = sorted({d.run_id for d in dropped})
        render.warn(f"{len(dropped)} duplicate cop{'y' if len(dropped) == 1 else 'ies'} of {len(runs)} run(s) left "
                    f"out (first: {runs[0]}, kept from {dropped[0].kept}); `harness results compact` merges them.")


@app.command("list")
def list_(results: str = RESULTS_OPT) -> None:
    """List the campaigns in the store, newest last."""
    import pandas as pd

    from harness.cli import render
    from harness.store import Store, load_runs

    store = Store(results)
    rows = []
    for name in store.campaigns():
        meta = store.read_campaign(name) or {}
        runs = load_runs(store.campaign_dir(name))
        rows.append({
            "campaign": name,
            "created": str(meta.get("created_at", ""))[:19],
            "devices": ",".join(meta.get("devices", [])),
            "model": meta.get("model_name"),
            "variants": ",".join(meta.get("variants", {})),
            "ok": int((runs["status"] == "ok").sum()),
            "failed": int((runs["status"] == "failed").sum()),
            "planned": len(meta.get("plan", [])),
        })
    if not rows:
        render.info(f"No campaigns in {store.root}. Run `harness run` to make one.")
        return
    render.table(pd.DataFrame(rows), title=f"campaigns in {store.root}")


@app.command("show")
def show(
    what: str = typer.Argument(..., help="A campaign name, or a run id (CAMPAIGN/RUN_KEY)."),
    results: str = RESULTS_OPT,
    top: int = typer.Option(10, "--top", help="Ops to show for a run."),
) -> None:
    """Show a campaign's summary and runs, or one run with its top ops."""
    from harness.analysis.summary import summarize
    from harness.cli import render
    from harness.errors import UserError
    from harness.store import Store, load_results

    store = Store(results)
    campaign, _, key = what.partition("/")
    campaign = store.resolve_campaign(campaign)
    if not key:
        res = load_results(store.campaign_dir(campaign))
        _note_dropped(res.dropped)
        render.table(summarize(res, campaign), title=f"campaign {campaign}")
        cols = ["run_id", "variant", "threads", "mode", "delegate", "status", "count", "p50_us", "p90_us",
                "error_class"]
        runs = res.runs[cols].copy()
        runs["run_id"] = runs["run_id"].str.split("/").str[-1]
        render.table(runs, title="runs")
        return
    if not store.has_run(campaign, key):
        keys = sorted(store.landed_keys(campaign))
        import difflib

        close = difflib.get_close_matches(key, keys, n=3)
        raise UserError(
            f"No run {key!r} in campaign {campaign}."
            + (f" Did you mean {', '.join(close)}?" if close else f" It has {len(keys)} runs; "
               f"`harness results show {campaign}` lists them.")
        )
    res = load_results(store.run_dir(campaign, key))
    run = res.runs.iloc[0]
    fields = ["run_id", "device", "device_model", "cpu_model", "variant", "model_sha256", "runner", "runtime",
              "runtime_version", "mode", "threads", "delegate", "status", "error_class", "error_message",
              "notes", "init_us", "first_us", "count", "mean_us", "std_us", "min_us", "p50_us", "p90_us",
              "p99_us", "max_us", "peak_mem_mb", "peak_rss_mb", "temp_before_c", "temp_after_c", "started_at"]
    import pandas as pd

    render.table(pd.DataFrame({"field": fields, "value": [run[f] for f in fields]}), title="run")
    if not res.ops.empty:
        ops = res.ops.sort_values("per_run_ms", ascending=False).head(top)
        render.table(ops[["position", "node_index", "op_type", "delegated", "times_called", "avg_ms",
                          "per_run_ms", "pct"]], title=f"top {top} ops by time per invoke")


@app.command("export")
def export(
    table: str = typer.Option("runs", "--table", help="runs, ops or samples."),
    fmt: str = typer.Option("csv", "--format", help="csv, parquet or json."),
    campaign: str | None = typer.Option(None, "--campaign", help="Only this campaign."),
    out: str | None = typer.Option(None, "--out", "-o", help="Output file (default: stdout; parquet needs it)."),
    results: str = RESULTS_OPT,
) -> None:
    """Export one frame of the store (or of one campaign)."""
    import sys

    from harness.errors import UserError
    from harness.store import Store, load_results

    if table not in ("runs", "ops", "samples"):
        raise UserError(f"--table must be runs, ops or samples (got {table!r}).")
    if fmt not in ("csv", "parquet", "json"):
        raise UserError(f"--format must be csv, parquet or json (got {fmt!r}).")
    if fmt == "parquet" and not out:
        raise UserError("parquet is binary: name a file with --out FILE.parquet.")
    store = Store(results)
    if campaign:
        campaign = store.resolve_campaign(campaign)
    path = store.campaign_dir(campaign) if campaign else store.root
    res = load_results(path)
    _note_dropped(res.dropped)
    frame = getattr(res, table)  # samples are read only when they are the table asked for
    if fmt == "parquet":
        frame.to_parquet(out, index=False)
    elif fmt == "csv":
        frame.to_csv(out or sys.stdout, index=False)
    else:
        text = frame.to_json(orient="records", date_format="iso", indent=None)
        if out:
            with open(out, "w", encoding="utf-8") as f:
                f.write(text + "\n")
        else:
            sys.stdout.write(text + "\n")


QUERY_FORMATS = ("table", "csv", "json")


@app.command("query")
def query(
    sql: str = typer.Argument(..., help='SQL over the tables runs, ops and samples, e.g. "SELECT variant, '
                              'median(p50_us) FROM runs GROUP BY variant".'),
    campaign: str | None = typer.Option(None, "--campaign", help="Only this campaign's runs, ops and samples."),
    fmt: str = typer.Option("table", "--format", help="table, csv or json (one object per row)."),
    results: str = RESULTS_OPT,
) -> None:
    """Answer any question with one SQL statement (DuckDB) over the store's tables: runs, ops, samples.
    DuckDB reads the Parquet files where they lie; only the answer is loaded."""
    import sys

    from harness.cli import render
    from harness.errors import UserError
    from harness.store import Store
    from harness.store import query as run_query

    if fmt not in QUERY_FORMATS:
        raise UserError(f"--format must be table, csv or json (got {fmt!r}).")
    store = Store(results)
    if not store.root.exists():
        raise UserError(f"No results store at {store.root}. Run `harness run` first, or pass --results DIR.")
    if campaign is not None:
        campaign = store.resolve_campaign(campaign)
    frame = run_query(sql, store.campaign_dir(campaign) if campaign else store.root)
    _note_dropped(frame.attrs.get("dropped"))
    if fmt == "csv":
        frame.to_csv(sys.stdout, index=False)
    elif fmt == "json":
        sys.stdout.write(frame.to_json(orient="records", date_format="iso", indent=None) + "\n")
    elif frame.empty:
        render.info(f"No rows. Columns: {', '.join(map(str, frame.columns))}.")
    else:
        render.table(frame)


PATH_ARG = typer.Argument(None, help="A store or one campaign's folder (default: --results).")


@app.command("compact")
def compact(path: str | None = PATH_ARG, results: str = RESULTS_OPT) -> None:
    """Compact the runs no part holds yet into Parquet parts, one per campaign, so the store loads fast.
    `harness run` does this when it ends; run it after a controller was stopped mid-campaign."""
    from harness.cli import render
    from harness.store import compact as compact_store

    done = compact_store(path or results)
    for c in done:
        what = [f"{c.runs} run(s) compacted" if c.runs else "nothing new",
                f"{c.merged} parts merged into one" if c.merged else "",
                f"{len(c.dropped)} duplicate cop{'y' if len(c.dropped) == 1 else 'ies'} dropped" if c.dropped else "",
                f"{c.removed} file(s) of interrupted compactions removed" if c.removed else ""]
        render.info(f"{c.campaign}: " + ", ".join(w for w in what if w))
    if not done:
        render.info(f"No campaigns in {path or results}.")


@app.command("migrate")
def migrate(path: str | None = PATH_ARG, results: str = RESULTS_OPT) -> None:
    """Convert a store written by an older harness (format 1: one run.json per run) to format 2, in place.
    Safe to repeat, and to interrupt: the store loads at every step, with nothing lost or counted twice."""
    from harness.cli import render
    from harness.store import migrate as migrate_store

    done = migrate_store(path or results)
    for m in done:
        render.info(f"{m.campaign}: {m.converted} run record(s) converted, {m.compaction.runs} compacted"
                    + (f", {m.compaction.merged} parts merged" if m.compaction.merged else ""))
    if not done:
        render.info(f"No campaigns in {path or results}.")
