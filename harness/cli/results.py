"""`harness results ...`: list campaigns, show a campaign or a run, export frames."""

from __future__ import annotations

from typing import Any

import typer

app = typer.Typer(help="Look at the results store: list, show, export.", no_args_is_help=True)

RESULTS_OPT = typer.Option("results", "--results", help="The results store (a folder).")


@app.command("list")
def list_(results: str = RESULTS_OPT) -> None:
    """List the campaigns in the store, newest last."""
    import pandas as pd

    from harness.cli import render
    from harness.store import Store, load_results

    store = Store(results)
    rows = []
    for name in store.campaigns():
        meta = store.read_campaign(name) or {}
        runs = load_results(store.campaign_dir(name)).runs
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
    frame = getattr(load_results(path), table)
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
    """Answer any question with one SQL statement (DuckDB) over the store's frames: runs, ops, samples."""
    import sys

    from harness.cli import render
    from harness.errors import UserError
    from harness.store import Store, load_results

    if fmt not in QUERY_FORMATS:
        raise UserError(f"--format must be table, csv or json (got {fmt!r}).")
    store = Store(results)
    if not store.root.exists():
        raise UserError(f"No results store at {store.root}. Run `harness run` first, or pass --results DIR.")
    if campaign is not None:
        campaign = store.resolve_campaign(campaign)
    res = load_results(store.campaign_dir(campaign) if campaign else store.root)
    if res.runs.empty:
        raise UserError(f"No runs in {store.root}{f' (campaign {campaign})' if campaign else ''}: nothing to query. "
                        "Run `harness run` first, or pass --results DIR.")
    frame = run_query(sql, res)
    if fmt == "csv":
        frame.to_csv(sys.stdout, index=False)
    elif fmt == "json":
        sys.stdout.write(frame.to_json(orient="records", date_format="iso", indent=None) + "\n")
    elif frame.empty:
        render.info(f"No rows. Columns: {', '.join(map(str, frame.columns))}.")
    else:
        render.table(frame)


def run_query(sql: str, res: Any) -> Any:
    """The result of ``sql`` as a pandas frame; the frames are registered as views in an in-memory
    DuckDB. DuckDB's own message (first line) becomes a UserError."""
    import duckdb

    from harness.errors import UserError

    con = duckdb.connect(":memory:")
    try:
        for name in ("runs", "ops", "samples"):
            con.register(name, getattr(res, name))
        try:
            return con.execute(sql).df()
        except duckdb.Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UserError(f"SQL error: {first}") from exc
    finally:
        con.close()
