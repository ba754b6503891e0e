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

A farm (more than 4 devices) gets a page that reads at any size: a device x variant heatmap of
each variant's ratio to the baseline, the ratios' spread across devices, the devices grouped by
their fastest variant, one table of every device sorted by the ratio, and sections of their own
for the --detail devices that differ most from the rest.
"""


def report(
    campaign: str | None = typer.Argument(None, help="The campaign (default: the newest in --results)."),
    out: str = typer.Option("report.html", "--out", "-o", help="The HTML file to write."),
    baseline: str | None = typer.Option(None, "--baseline", help="The variant to compare against."),
    candidate: str | None = typer.Option(None, "--candidate", help="The variant the answer is about."),
    detail: int | None = typer.Option(None, "--detail", metavar="N",
                                      help="A farm's page (more than 4 devices): sections for the N devices that "
                                           "differ most from the rest (default 3, at most 6)."),
    results: str = typer.Option("results", "--results", help="The results store (a folder or fsspec URL)."),
) -> None:
    import time

    from harness import api
    from harness.cli import render

    start = time.perf_counter()
    written = api.report(campaign, out=out, baseline=baseline, candidate=candidate, detail=detail,
                         results=results)
    for line in written.answer:
        render.info(line)
    for note in written.notes:
        render.warn(note)
    render.info(f"wrote {written.path} ({written.bytes / 1e3:.0f} kB, {written.plots} plots, campaign "
                f"{written.campaign}) in {time.perf_counter() - start:.1f} s")
