"""`harness import FILE`: land an existing benchmark_model log / CSV / proto profile in the store."""

from __future__ import annotations

from typing import Any

import typer


def import_(
    file: str = typer.Argument(..., help="A benchmark_model log, or a CSV / proto profile file it wrote."),
    device: str = typer.Option("imported", "--device", "-d", help="Device name to record the runs under."),
    model: str | None = typer.Option(
        None, "--model", "-m", help="The .tflite file that was measured (links sha256, bytes and variant)."
    ),
    variant: str | None = typer.Option(None, "--variant", help="Label the runs with this variant instead."),
    results: str = typer.Option("results", "--results", help="The results store (a folder)."),
    campaign: str | None = typer.Option(
        None, "--campaign", help="Campaign name (default: import-<file stem>-<content hash>)."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Parse and print; write nothing."),
    fmt: str = typer.Option("table", "--format", help="table, or json ({\"runs\": [...], \"ops\": [...]})."),
) -> None:
    """Import an existing benchmark_model output (stdout/log, CSV or proto profile) into the store.

    The format is told apart by content; a log holding several invocations gives several runs.
    Importing the same file twice lands nothing new (the default campaign and the run keys come
    from the file's content). The original file is kept as the runs' raw output.
    """
    from harness.errors import UserError

    if fmt not in ("table", "json"):
        raise UserError(f"--format must be table or json (got {fmt!r}).")
    if model and variant:
        raise UserError("give --model (the variant is read from the file) or --variant, not both.")
    _import(file, device=device, model=model, variant=variant, results=results, campaign=campaign,
            dry_run=dry_run, fmt=fmt)


def _slug(text: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.") or "log"


def _import(file: str, *, device: str, model: str | None, variant: str | None, results: str,
            campaign: str | None, dry_run: bool, fmt: str) -> None:
    import hashlib
    import json
    import sys
    from pathlib import Path

    from harness import __version__, schema
    from harness.cli import render
    from harness.errors import ParseError, UserError
    from harness.parsers.benchmark_model import parse
    from harness.records import now_iso, run_record
    from harness.store import Store

    path = Path(file)
    if not path.is_file():
        raise UserError(f"{file}: no such file. Pass the path of a benchmark_model log, CSV or proto profile.")
    data = path.read_bytes()
    try:
        parsed = parse(data)
    except ParseError as exc:
        raise UserError(
            f"{path.name} is not a benchmark_model output harness can read ({exc}). Pass the tool's "
            "stdout/log, or the file it wrote with --op_profiling_output_file (CSV or proto)."
        ) from exc

    digest = hashlib.sha256(data).hexdigest()
    # a campaign named by the user may gather several files (one per variant): their run keys carry
    # the file's content hash, so they never collide and a re-import still lands nothing new
    prefix = f"{digest[:10]}." if campaign else ""
    campaign = campaign or f"import-{_slug(path.stem)}-{digest[:10]}"
    link: dict[str, Any] = {}
    if model:
        from harness.models.inspect import inspect_model

        info = inspect_model(model)
        link = {"model_name": Path(model).stem, "model_sha256": info.sha256, "model_bytes": info.bytes,
                "variant": info.variant}
    elif variant:
        link = {"variant": variant}

    records: list[tuple[str, dict[str, Any]]] = []
    for i, p in enumerate(parsed.runs):
        key = f"{prefix}{i:03d}"
        run_id = f"{campaign}/{key}"
        notes = "; ".join(x for x in (p.run.get("notes"), f"imported from {path.resolve()} ({parsed.format})") if x)
        fields = {**p.run, **link, "runner": "benchmark_model", "repeat": i, "notes": notes}
        run = run_record(run_id, campaign, device,
                         **{k: v for k, v in fields.items() if k not in ("run_id", "campaign", "device")})
        if not link.get("model_name"):
            run["model_name"] = p.run.get("model_name")
        ops = [{**o, "run_id": run_id} for o in p.ops]
        records.append((key, {
            "run": schema.check_record("runs", run),
            "ops": [schema.check_record("ops", o) for o in ops],
            "samples": [],
            "command": None,
            "import": {"source": str(path.resolve()), "format": parsed.format, "sha256": digest, "run_index": i,
                       "imported_at": now_iso()},
        }))
        if model and p.run.get("model_name") and p.run["model_name"] != link["model_name"]:
            render.warn(f"run {i} of {path.name} measured {p.run['model_name']!r}, linked to {Path(model).name}.")

    if dry_run:
        _print(records, fmt, title=f"{path.name} ({parsed.format}): {len(records)} run(s), nothing written")
        return

    store = Store(results)
    landed = store.landed_keys(campaign)
    new = [(k, r) for k, r in records if k not in landed]
    if not new:
        render.info(f"{path.name} has landed already as campaign {campaign} ({len(records)} run(s)); "
                    "nothing written. `harness results show " + campaign + "` shows it.")
        if fmt == "json":
            sys.stdout.write(json.dumps({"runs": [], "ops": []}) + "\n")
        return
    meta = store.read_campaign(campaign) or {
        "campaign": campaign, "created_at": now_iso(), "harness_version": __version__, "devices": [device],
        "model_name": records[0][1]["run"]["model_name"],
        "variants": {link["variant"]: {k: link.get(k2) for k, k2 in (("sha256", "model_sha256"),
                                                                    ("bytes", "model_bytes"))}}
        if link.get("variant") else {},
        "source": {"path": str(path.resolve()), "format": parsed.format, "sha256": digest},
        "plan": [k for k, _ in records],
    }
    if link.get("variant") and link["variant"] not in meta.get("variants", {}):
        meta.setdefault("variants", {})[link["variant"]] = {"sha256": link.get("model_sha256"),
                                                            "bytes": link.get("model_bytes")}
    meta["plan"] = list(dict.fromkeys([*meta.get("plan", []), *(k for k, _ in records)]))
    store.write_campaign(campaign, meta)
    for key, record in new:
        store.land_run(campaign, key, record, {path.name: data})
    skipped = len(records) - len(new)
    _print(new, fmt, title=f"landed {len(new)} run(s) in {store.root / campaign}"
           + (f" ({skipped} had landed already)" if skipped else ""))


def _print(records: list[tuple[str, dict[str, Any]]], fmt: str, title: str) -> None:
    import json
    import sys

    from harness.cli import render

    runs = [{**r["run"], "error": r["run"]["error_message"]} for _, r in records]
    ops = [o for _, r in records for o in r["ops"]]
    if fmt == "json":
        sys.stdout.write(json.dumps({"runs": runs, "ops": ops}, default=str) + "\n")
        render.info(title)
        return
    import pandas as pd

    cols = ["run_id", "status", "variant", "delegate", "count", "mean_us", "p50_us", "init_us", "first_us",
            "error_class"]
    frame = pd.DataFrame([{c: r[c] for c in cols} for r in runs], columns=cols)
    frame["count"] = frame["count"].astype("Int64")
    frame["ops"] = [len(r["ops"]) for _, r in records]
    render.table(frame, title=title)
