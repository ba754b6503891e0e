"""`harness report`: write one self-contained HTML report of a campaign."""

from __future__ import annotations

import typer

HELP = """Write one self-contained HTML report of a campaign (default: the newest).

At the top, the answer in a sentence ("On <device>, int8 is 1.8x faster than dynamic-range
(95 % CI ...); most of the gain is CONV_2D"); then latency distributions per variant and
device, ratios with their intervals, per-op-type time per variant, accuracy against latency
where the campaign has accuracy runs, stability warnings and device facts. Plots are embedded:
the file opens anywhere, offline, without JavaScript.

Default pair: dynamic vs int8 when both exist, else fp32 vs the first other variant.
"""


def report(
    campaign: str | None = typer.Argument(None, help="The campaign (default: the newest in --results)."),
    out: str = typer.Option("report.html", "--out", "-o", help="The HTML file to write."),
    baseline: str | None = typer.Option(None, "--baseline", help="The variant to compare against."),
    candidate: str | None = typer.Option(None, "--candidate", help="The variant the answer is about."),
    results: str = typer.Option("results", "--results", help="The results store (a folder or fsspec URL)."),
) -> None:
    import time
    from pathlib import Path

    from harness.analysis.report import build_report
    from harness.cli import render
    from harness.fileio import atomic_write_bytes

    start = time.perf_counter()
    rep = build_report(results, campaign, baseline=baseline, candidate=candidate)
    path = Path(out)
    atomic_write_bytes(path, rep.html.encode("utf-8"))
    for line in rep.answer:
        render.info(line)
    for note in rep.notes:
        render.warn(note)
    render.info(f"wrote {path} ({len(rep.html) / 1e3:.0f} kB, {rep.plots} plots, campaign {rep.campaign}) "
                f"in {time.perf_counter() - start:.1f} s")
