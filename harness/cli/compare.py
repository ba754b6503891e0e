"""`harness compare`: which variant (or runtime) is faster, by how much, and why."""

from __future__ import annotations

import typer

HELP = """Compare two variants (or two runtimes, with --by runtime) of a campaign, per device and thread count.

The ratio of median run latencies (candidate / baseline) with a bootstrap 95 % interval over
process-level runs, a Mann-Whitney U test, and a verdict that says "no detectable difference"
rather than guess (with the smallest ratio these runs would detect at 80 % power, and how many
runs would resolve the one seen; "inconclusive" below 2 runs a side); then the op types that
explain the difference, from the profile runs.
"""

FORMATS = ("table", "json", "csv")


def compare(
    campaign: str | None = typer.Argument(None, help="The campaign (default: the newest in the store)."),
    baseline: str = typer.Option(..., "--baseline", "-b", help="Baseline variant (or runtime with --by runtime)."),
    candidate: str = typer.Option(..., "--candidate", "-c", help="Candidate variant (or runtime / runner)."),
    device: str | None = typer.Option(None, "--device", "-d", help="Only these devices (comma-separated)."),
    threads: str | None = typer.Option(None, "--threads", "-t", help="Only these thread counts (comma-separated)."),
    by: str = typer.Option("variant", "--by", help="variant, or runtime (the same variant through two runtimes)."),
    results: str = typer.Option("results", "--results", help="The results store (a folder)."),
    fmt: str = typer.Option("table", "--format", help="table, json or csv (one row per device x threads x runtime)."),
    alpha: float = typer.Option(0.05, "--alpha", help="Significance level; the interval is at 1 - alpha."),
    top: int = typer.Option(5, "--top", help="Op types to list, largest difference first."),
    scale_ops: bool = typer.Option(False, "--scale-ops", help="Scale profiled op times to the latency medians."),
    fail_if_slower: float | None = typer.Option(
        None, "--fail-if-slower", metavar="PCT",
        help="Exit 1 when a candidate is slower than the baseline by more than PCT percent (verdict slower).",
    ),
) -> None:
    import csv
    import json
    import sys

    from harness import api
    from harness.errors import UserError

    if fmt not in FORMATS:
        raise UserError(f"--format must be table, json or csv (got {fmt!r}).")
    found = api.open_campaign(campaign, results)
    comps = api.comparisons(found, baseline=baseline, candidate=candidate, by=by, devices=device, threads=threads,
                            alpha=alpha, top=top, scale_ops=scale_ops)
    campaign = found.name

    if fmt == "json":
        sys.stdout.write(json.dumps([c.row() for c in comps], indent=1) + "\n")
    elif fmt == "csv":
        rows = [c.row() for c in comps]
        writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "top_ops": json.dumps(row["top_ops"])})
    else:
        _render(campaign, comps)

    if fail_if_slower is not None:
        worse = [c for c in comps if c.verdict == "slower" and c.ratio is not None
                 and (c.ratio - 1.0) * 100.0 > fail_if_slower]
        if worse:
            from harness.cli import render

            for c in worse:
                render.error(f"{c.candidate} is {100 * (c.ratio - 1):.1f} % slower than {c.baseline} on {c.device} "
                             f"({c.threads} thread(s)), above the {fail_if_slower:g} % gate.")
            raise typer.Exit(1)


def _render(campaign: str, comps: list) -> None:
    import pandas as pd

    from harness.cli import render

    def num(v: float | None, f: str = "{:.3f}") -> str:
        return "" if v is None else f.format(v)

    rows = []
    for c in comps:
        rows.append({
            "device": c.device,
            "threads": c.threads,
            **({"variant": c.variant} if c.variant else {}),
            **({"runtime": c.runtime} if len({x.runtime for x in comps}) > 1 else {}),
            "runs": f"{c.n_baseline} / {c.n_candidate}",
            f"{c.baseline} ms": num(c.baseline_ms),
            f"{c.candidate} ms": num(c.candidate_ms),
            "ratio": num(c.ratio),
            "95 % CI": "" if c.ci_low is None else f"{c.ci_low:.3f}-{c.ci_high:.3f}",
            "p": num(c.p_value, "{:.3g}"),
            "verdict": c.verdict,
            "memory MB": "" if c.baseline_mem_mb is None and c.candidate_mem_mb is None else
            f"{num(c.baseline_mem_mb, '{:.1f}')} / {num(c.candidate_mem_mb, '{:.1f}')}",
            "detectable": "" if c.min_detectable_ratio is None else
            ("none" if c.min_detectable_ratio == float("inf") else f"{c.min_detectable_ratio:.2f}x"),
            "top_ops": "\n".join(f"{t} {d:+.3f} ms" for t, _b, _c, d in c.top_ops),
        })
    render.table(pd.DataFrame(rows), title=f"{comps[0].candidate} vs {comps[0].baseline} in {campaign} "
                 f"({comps[0].runtime})")
    for c in comps:
        render.say(c.sentence() + ".")
        for n in c.notes:
            render.say(f"  - {n}")
        for w in c.warnings:
            render.warn(w)
    if any(c.ops for c in comps):
        from rich import box

        c = max(comps, key=lambda c: len(c.ops))
        t = render.new_table(f"ops by |delta| ({c.device}, {c.threads} thread(s), joined on {c.join})",
                             box=box.SIMPLE_HEAD, pad_edge=False)
        for col in ("op_type", f"{c.baseline} ms", f"{c.candidate} ms", "delta ms"):
            t.add_column(col, no_wrap=col != "op_type")
        t.add_column("kernel path", overflow="fold", min_width=30)
        for o in sorted(c.ops, key=lambda o: -abs(o.delta_ms))[:10]:
            name = o.op_type if o.node_index is None else f"{o.op_type} #{o.node_index}"
            path = o.baseline_path
            if o.candidate_path != o.baseline_path:
                path = f"{o.baseline_path} -> {o.candidate_path}"
            t.add_row(name, f"{o.baseline_ms:.3f}", f"{o.candidate_ms:.3f}", f"{o.delta_ms:+.3f}", path)
        render.console().print(t)
