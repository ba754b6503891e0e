"""`harness recommend`: which variant to ship on each device, and why."""

from __future__ import annotations

from typing import Any

import typer

HELP = """Recommend the variant to ship on each device (and thread count), and say why.

The fastest variant by --metric among those that meet the accuracy and memory bounds; "fastest"
only when the 95 % interval of its ratio to the runner-up excludes 1, else a tie settled by the
smaller model, then the more accurate one. Without accuracy runs it recommends on speed alone
(speed-only) and says which command adds them. Across a farm, devices are grouped by answer, with
what sets the minority apart. --fail-if-changed PREVIOUS.json exits 1 when an answer changed.
"""

FORMATS = ("table", "json", "csv")


def recommend(
    campaign: str | None = typer.Argument(None, help="The campaign (default: the newest in --results)."),
    min_agreement: str | None = typer.Option(
        None, "--min-agreement",
        help="Top-1 agreement with fp32 a variant must keep, e.g. 99% (or per variant: int8=98%,dynamic=99%).",
    ),
    min_sqnr: str | None = typer.Option(
        None, "--min-sqnr", metavar="DB", help="SQNR of a variant's outputs against fp32's, at least DB (e.g. 30)."
    ),
    max_accuracy_drop: str | None = typer.Option(
        None, "--max-accuracy-drop", help="Real top-1 accuracy (--labels runs) at most this many points below fp32's, "
        "e.g. 1%."
    ),
    metric: str = typer.Option("p50", "--metric", help="p50, p90 or mean (of each run; medians over runs)."),
    max_memory: str | None = typer.Option(None, "--max-memory", metavar="MB", help="Peak memory at most MB."),
    threads: str | None = typer.Option(None, "--threads", "-t", help="Only these thread counts (comma-separated)."),
    results: str = typer.Option("results", "--results", help="The results store (a folder or fsspec URL)."),
    fmt: str = typer.Option("table", "--format", help="table, json or csv (one row per device x threads)."),
    fail_if_changed: str | None = typer.Option(
        None, "--fail-if-changed", metavar="PREVIOUS.json",
        help="Exit 1 when a device's recommendation differs from this earlier --format json output.",
    ),
) -> None:
    import csv
    import json
    import sys
    from pathlib import Path

    from harness import api
    from harness.analysis.recommend import changes
    from harness.cli import render
    from harness.errors import UserError

    if fmt not in FORMATS:
        raise UserError(f"--format must be table, json or csv (got {fmt!r}).")
    previous = None
    if fail_if_changed is not None:
        path = Path(fail_if_changed)
        try:
            previous = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(previous, list) or not all(isinstance(r, dict) and "device" in r for r in previous):
                raise ValueError("not a list of rows with 'device'")
        except (OSError, ValueError) as exc:
            raise UserError(f"--fail-if-changed {path}: cannot read it as `harness recommend --format json` "
                            f"output ({exc}).") from None
    frame = api.recommend(campaign, results=results, metric=metric, min_agreement=min_agreement,
                          min_sqnr=min_sqnr, max_accuracy_drop=max_accuracy_drop, max_memory=max_memory,
                          threads=threads)
    answer = frame.attrs["answer"]
    if fmt == "json":
        sys.stdout.write(json.dumps([r.row() for r in answer.rows], indent=1) + "\n")
    elif fmt == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=list(frame.columns), lineterminator="\n")
        writer.writeheader()
        for row in answer.rows:
            writer.writerow(row.row())
    else:
        _render(frame, answer, metric)
    if previous is not None:
        changed = changes(previous, answer.rows)
        for line in changed:
            render.error(f"changed: {line}")
        if changed:
            raise typer.Exit(1)


def _render(frame: Any, answer: Any, metric: str) -> None:
    from harness.cli import render

    shown = frame.copy()
    for col in ("top1_agreement", "accuracy"):
        shown[col] = shown[col].map(lambda v: "" if v is None or v != v else f"{100 * v:.1f} %")
    shown["speedup_vs_fp32"] = [
        "" if s is None or s != s else f"{s:.2f}x" + ("" if lo is None or lo != lo else f" ({lo:.2f}-{hi:.2f})")
        for s, lo, hi in zip(frame["speedup_vs_fp32"], frame["ci_low"], frame["ci_high"], strict=True)]
    shown = shown.drop(columns=["ci_low", "ci_high", "reason"])
    render.table(shown, title=f"what to ship (fastest by {metric} latency within the bounds)")
    for rec in answer.rows:
        render.say(rec.sentence())
    if len(answer.rows) > 1:
        render.say("Across the farm: " + "; ".join(answer.groups) + ".")
        for variant, why in answer.apart.items():
            render.say(f"  {variant}: " + "; ".join(why))
    if answer.accuracy_hint:
        render.warn(answer.accuracy_hint)
