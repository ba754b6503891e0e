"""The report's page for a farm: more than ``farm.FARM_DEVICES`` devices.

Top to bottom: the answer across the farm (verdict counts and the spread of the ratio, which
variant is fastest on how many devices, the devices that differ most); a device x variant heatmap
of each variant's ratio to the baseline, marked where the interval excludes 1; the distribution of
those ratios across devices; the devices grouped by their fastest variant; a section of its own for
each of the ``--detail`` devices that differ most from the rest (the small page's latency, ratios,
op types, warnings and facts, for that device); one table of every device, sorted by the ratio;
accuracy, warnings and device facts summarised across the farm; how the report was made.

The page's size does not grow with plots: 2 farm plots, 2 per detailed device and the accuracy
plot (at most 15 with ``farm.MAX_DETAIL`` devices); tables grow by one row per device. The table
is plain HTML, sorted by the ratio: the page stays a file that opens anywhere without JavaScript.
Nothing here reads the timed invokes: per-run aggregates, comparisons and ops only.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

from harness.analysis import report as rp
from harness.analysis import stats
from harness.analysis.farm import Column, Distinct, FarmView, farm_view
from harness.analysis.report import _fmt, _img, _num, _section, _table, e, variant_label

FARM_SECTIONS = [
    ("ship", "What to ship"),
    ("farm", "Every device against the baseline"),
    ("spread", "Ratios across devices"),
    ("fastest", "Devices grouped by the fastest variant"),
    ("detail", "The devices that differ most"),
    ("table", "Every device"),
    ("accuracy", "Accuracy across the farm"),
    ("warnings", "Stability warnings"),
    ("devices", "Devices"),
    ("about", "How this report was made"),
]
LABELLED_ROWS = 120
"""The heatmap names its devices up to this many rows (beyond, the table does)."""
VALUES_IN_CELLS = 40
"""The heatmap prints each ratio in its cell up to this many devices."""
NAMES_SHOWN = 12
"""Device names listed in a line before the rest are folded away."""
VERDICT_WORD = {stats.FASTER: "faster", stats.SLOWER: "slower", stats.NO_DIFFERENCE: ""}


def farm_page(p: rp._Page, detail: int) -> rp.Report:
    view = farm_view(p.comps, p.groups, p.baseline or "", p.candidate, detail,
                     devices=p.runs["device"].dropna().astype(str).unique().tolist())
    p.notes.extend(view.notes)
    anchors = {d.device: f"device-{i + 1}" for i, d in enumerate(view.detail)}
    warns = rp.warning_rows(p.runs)
    parts = [rp.ship_section(p), _heatmap(p, view), _spread(p, view), _fastest(p, view),
             _detail(p, view, anchors, warns), _every_device(p, view, anchors, warns), _accuracy(p, view),
             _warnings(p, view, warns), _devices(p, view), rp._about(p)]
    return rp.assemble(p, farm_answer(view, p.titles), FARM_SECTIONS, parts, f"{len(view.devices)} devices")


def _titled(sid: str, body: str) -> str:
    return _section(sid, body, dict(FARM_SECTIONS)[sid])


def column_label(column: Column, many_threads: bool) -> str:
    variant, threads = column
    return variant_label(variant) + (f" · {threads}t" if many_threads else "")


def _many_threads(view: FarmView) -> bool:
    return len({t for _, t in view.columns} | set(view.threads())) > 1


def why_text(d: Distinct, view: FarmView) -> str:
    """'int8 / dynamic-range 1.35 here, 0.91 across the farm (median)'."""
    label = column_label(d.column, _many_threads(view))
    if view.columns:
        text = (f"{label} / {variant_label(view.baseline)} {d.value:.2f} here, {d.farm_median:.2f} across the farm "
                "(median)")
    else:
        text = f"{label} {d.value:.3g} ms here, {d.farm_median:.3g} ms across the farm (median)"
    if d.fastest_differs:
        fastest = sorted({v for (dev, _), v in view.fastest.items() if dev == d.device})
        text += f"; fastest here: {', '.join(variant_label(v) for v in fastest)}"
    return text


# --- the answer --------------------------------------------------------------------------------


def farm_answer(view: FarmView, titles: dict[str, str]) -> list[str]:
    """A few sentences, whatever the number of devices."""
    n = len(view.devices)
    many = _many_threads(view)
    out = []
    for col in view.columns:
        if col[0] != view.candidate:
            continue
        counts = view.counts(col)
        ratios = [c.ratio for c in _column_cells(view, col) if c.ratio is not None]
        if not ratios:
            continue
        where = f" ({col[1]} thread{'s' if col[1] != 1 else ''})" if many else ""
        missing = n - len(ratios)
        out.append(f"Across {n} devices{where}, {variant_label(col[0])} against {variant_label(view.baseline)}: "
                   f"detectably faster on {counts[stats.FASTER]}, slower on {counts[stats.SLOWER]}, no detectable "
                   f"difference on {counts[stats.NO_DIFFERENCE]}"
                   + (f", inconclusive (one run a side) on {counts[stats.INCONCLUSIVE]}"
                      if counts[stats.INCONCLUSIVE] else "")
                   + (f", no ratio on {missing}" if missing else "")
                   + f"; the latency ratio's median across devices is {view.farm_ratio[col]:.2f} (from "
                   f"{min(ratios):.2f} to {max(ratios):.2f}).")
    if not view.columns:
        out.append(f"Across {n} devices: this campaign has no two variants to compare on a device; the sections "
                   "below give each device's median latency.")
    for t in view.threads():
        groups = view.fastest_groups(t)
        where = f" at {t} thread{'s' if t != 1 else ''}" if many else ""
        listing = ", ".join(f"{variant_label(v)} on {len(ds)} device{'s' if len(ds) != 1 else ''}" for v, ds in groups)
        out.append(f"Fastest (lowest median latency){where}: {listing}.")
    if view.detail:
        picks = "; ".join(f"{titles.get(d.device, d.device)} ({why_text(d, view)})" for d in view.detail)
        out.append(f"Differing most from the rest: {picks}. Each has a section below.")
    return out


def _column_cells(view: FarmView, col: Column) -> list[Any]:
    return [c for d in view.devices if (c := view.cell(d, col)) is not None]


# --- plots -------------------------------------------------------------------------------------


def plot_heatmap(view: FarmView, titles: dict[str, str]) -> str:
    """Devices (rows, in the table's order) x candidate columns: log ratio to the baseline, green
    faster, red slower; a ring where the interval excludes 1."""
    import matplotlib
    import numpy as np

    rows, cols = view.devices, view.columns
    many = _many_threads(view)
    m = np.full((len(rows), len(cols)), np.nan)
    ring_x, ring_y = [], []
    for i, device in enumerate(rows):
        for j, col in enumerate(cols):
            c = view.cell(device, col)
            if c is not None and c.ratio is not None and c.ratio > 0:
                m[i, j] = math.log2(c.ratio)
                if c.marked:
                    ring_x.append(j)
                    ring_y.append(i)
    finite = m[np.isfinite(m)]
    lim = 1.02 * float(min(1.0, max(0.1, np.abs(finite).max()))) if finite.size else 1.0
    height = min(22.0, 2.0 + 0.17 * len(rows))
    fig = rp._figure(9.5, height)
    ax = fig.add_subplot()
    cmap = matplotlib.colormaps["RdYlGn_r"].with_extremes(bad="#e8e8e8")
    image = ax.imshow(np.ma.masked_invalid(m), cmap=cmap, vmin=-lim, vmax=lim, aspect="auto",
                      interpolation="nearest")
    row_pt = 72.0 * (height - 2.0) / max(1, len(rows))
    values = len(rows) <= VALUES_IN_CELLS  # the ratio printed in its cell, the ring to its left
    if ring_x:
        ax.scatter([x - 0.28 for x in ring_x] if values else ring_x, ring_y,
                   s=max(2.0, min(60.0, (0.45 * row_pt) ** 2)), facecolors="none", edgecolors="black",
                   linewidths=0.8 if row_pt > 4 else 0.4)
    if values:
        for i in range(len(rows)):
            for j in range(len(cols)):
                if np.isfinite(m[i, j]):
                    ax.text(j + 0.05, i, f"{2 ** m[i, j]:.2f}", va="center", ha="center", fontsize=9)
    if len(rows) <= LABELLED_ROWS:
        size = max(5.0, min(10.0, row_pt * 0.8))
        ax.set_yticks(range(len(rows)), [titles.get(d, d) for d in rows], fontsize=size)
    else:
        ax.set_yticks([])
        ax.set_ylabel(f"{len(rows)} devices, in the order of the table below", fontsize=11)
    ax.set_xticks(range(len(cols)), [column_label(c, many) for c in cols], fontsize=10.5)
    ax.xaxis.tick_top()
    ticks = [r for r in (0.5, 0.67, 0.8, 0.9, 1.0, 1.11, 1.25, 1.5, 2.0) if abs(math.log2(r)) <= lim + 1e-9]
    bar = fig.colorbar(image, ax=ax, shrink=min(1.0, 6.0 / height), pad=0.02)
    bar.set_ticks([math.log2(r) for r in ticks], labels=[f"{r:g}x" for r in ticks])
    bar.set_label(f"latency / {variant_label(view.baseline)} (below 1 = faster)", fontsize=10)
    ax.set_title(f"Ratio to {variant_label(view.baseline)} on {len(rows)} devices "
                 "(ring: the 95 % interval excludes 1)", fontsize=11, loc="left")
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    return rp._png(fig)


def plot_spread(view: FarmView) -> str:
    """Per column: the ratios of every device as dots (coloured by verdict) over a box."""
    import numpy as np

    many = _many_threads(view)
    cols = view.columns
    fig = rp._figure(9.5, 1.3 + 0.75 * len(cols))
    ax = fig.add_subplot()
    pos = np.arange(len(cols))[::-1]
    rng = np.random.default_rng(0)
    data = []
    for col in cols:
        data.append(np.array([c.ratio for c in _column_cells(view, col) if c.ratio is not None], dtype="float64"))
    import inspect

    sideways = ({"orientation": "horizontal"} if "orientation" in inspect.signature(ax.boxplot).parameters
                else {"vert": False})  # matplotlib < 3.10
    ax.boxplot(data, positions=pos, **sideways, whis=(5, 95), showfliers=False, widths=0.5,
               medianprops={"color": "black", "linewidth": 1.6}, boxprops={"color": "#777777"})
    for y, col in zip(pos, cols, strict=True):
        cells = [c for c in _column_cells(view, col) if c.ratio is not None]
        colors = [rp.VERDICT_COLOR.get(c.verdict, "#757575") for c in cells]
        ax.scatter([c.ratio for c in cells], y + rng.uniform(-0.2, 0.2, len(cells)), s=12, c=colors, alpha=0.8,
                   linewidths=0, zorder=3)
        if col in view.farm_ratio:
            ax.text(1.0, y + 0.3, f" median {view.farm_ratio[col]:.2f}", fontsize=9.5,
                    transform=ax.get_yaxis_transform(), ha="right")
    ax.axvline(1.0, color="#444444", linewidth=1, linestyle="--")
    ax.set_yticks(pos, [column_label(c, many) for c in cols], fontsize=11)
    ax.set_xlabel(f"latency ratio to {variant_label(view.baseline)} on each device (below 1 = faster)", fontsize=11)
    ax.set_title(f"Ratios across {len(view.devices)} devices: green faster, red slower, grey no detectable "
                 "difference", fontsize=11, loc="left")
    rp._style(ax)
    return rp._png(fig)


# --- sections ----------------------------------------------------------------------------------


def _heatmap(p: rp._Page, view: FarmView) -> str:
    if not view.columns:
        return _titled("farm", '<p class="missing">No comparison could be made on any device: '
                       + e("; ".join(p.notes) or "the campaign needs two variants with successful latency runs")
                       + ".</p>")
    p.plots += 1
    return _titled("farm", _img(
        plot_heatmap(view, p.titles), "heatmap of each variant's latency ratio to the baseline on every device",
        f"Each cell: a variant's median latency over {variant_label(view.baseline)}'s on that device (the ratio "
        "`harness compare` gives); green is faster, red slower, grey no ratio. A ring marks a cell whose 95 % "
        f"bootstrap interval excludes 1. Rows in the order of the table below (by {variant_label(view.candidate or '')}"
        "'s ratio, fastest first)."))


def _spread(p: rp._Page, view: FarmView) -> str:
    if not view.columns:
        return _titled("spread", '<p class="missing">No ratios: nothing to compare across devices.</p>')
    p.plots += 1
    many = _many_threads(view)
    rows = []
    for col in view.columns:
        ratios = sorted(c.ratio for c in _column_cells(view, col) if c.ratio is not None)
        if not ratios:
            continue
        counts = view.counts(col)
        q1, q3 = _quantile(ratios, 0.25), _quantile(ratios, 0.75)
        rows.append((column_label(col, many), len(ratios), _fmt(view.farm_ratio.get(col), ".3f"),
                     f"{_fmt(q1, '.3f')}-{_fmt(q3, '.3f')}", f"{_fmt(ratios[0], '.3f')}-{_fmt(ratios[-1], '.3f')}",
                     counts[stats.FASTER], counts[stats.SLOWER], counts[stats.NO_DIFFERENCE]))
    body = _img(plot_spread(view), "distribution of the latency ratios across devices",
                "Each dot is one device's ratio (its median latency over the baseline's, as in the heatmap); "
                "the box spans the middle half of the devices, the whiskers 5 % to 95 %.")
    body += _table([f"variant / {variant_label(view.baseline)}", "devices", "median ratio", "middle half",
                    "range", "faster", "slower", "no detectable difference"], rows, numeric=(1, 2, 3, 4, 5, 6, 7))
    return _titled("spread", body)


def _quantile(sorted_values: Sequence[float], q: float) -> float | None:
    if not sorted_values:
        return None
    pos = (len(sorted_values) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def _names(devices: Sequence[str], titles: dict[str, str]) -> str:
    """Device names, the first NAMES_SHOWN in a line and the rest folded."""
    shown = ", ".join(titles.get(d, d) for d in devices[:NAMES_SHOWN])
    if len(devices) <= NAMES_SHOWN:
        return e(shown)
    rest = ", ".join(titles.get(d, d) for d in devices[NAMES_SHOWN:])
    return (f"{e(shown)} <details><summary>and {len(devices) - NAMES_SHOWN} more</summary>{e(rest)}</details>")


def _models(devices: Sequence[str], models: dict[str, str]) -> str:
    got = Counter(models.get(d) or "unknown" for d in devices)
    top = [f"{m} ×{n}" for m, n in got.most_common(3)]
    return ", ".join(top) + (f", {len(got) - 3} more" if len(got) > 3 else "")


def _device_models(runs: Any) -> dict[str, str]:
    first = runs.drop_duplicates("device")
    return {str(d): (str(m) if isinstance(m, str) else "") for d, m in zip(first["device"], first["device_model"],
                                                                            strict=True)}


def _fastest(p: rp._Page, view: FarmView) -> str:
    many = _many_threads(view)
    models = _device_models(p.runs)
    body = ""
    for t in view.threads():
        groups = view.fastest_groups(t)
        total = sum(len(ds) for _, ds in groups)
        if many:
            body += f"<h3>{t} thread{'s' if t != 1 else ''}</h3>"
        rows = ""
        for variant, devices in groups:
            cells = [view.cell(d, (variant, t)) for d in devices]
            ratios = sorted(c.ratio for c in cells if c is not None and c.ratio is not None)
            ratio = "1 (the baseline)" if variant == view.baseline else _fmt(_quantile(ratios, 0.5), ".3f")
            rows += (f"<tr><td>{e(variant_label(variant))}</td><td class=\"n\">{len(devices)}</td>"
                     f"<td class=\"n\">{100 * len(devices) / total:.0f} %</td><td class=\"n\">{e(ratio)}</td>"
                     f"<td>{e(_models(devices, models))}</td><td>{_names(devices, p.titles)}</td></tr>")
        body += ("<table><thead><tr><th>fastest variant</th><th class=\"n\">devices</th><th class=\"n\">share</th>"
                 f"<th class=\"n\">its median ratio to {e(variant_label(view.baseline))} there</th>"
                 "<th>device models</th><th>devices</th></tr></thead><tbody>" + rows + "</tbody></table>")
    if not body:
        body = '<p class="missing">No successful latency runs in this campaign.</p>'
    body += ('<p class="note">Fastest: the variant with the lowest median latency on the device (the Harrell-Davis '
             "median over its runs). Whether it is detectably faster than the baseline there is in the table below; "
             "<code>harness compare</code> compares any two.</p>")
    return _titled("fastest", body)


def _detail(p: rp._Page, view: FarmView, anchors: dict[str, str], warns: Sequence[rp.WarningRow]) -> str:
    from harness.analysis.summary import summary_table

    if not view.detail:
        return _titled("detail", '<p class="note">No device asked for (<code>--detail 0</code>).</p>')
    devices = [d.device for d in view.detail]
    runs = p.runs[p.runs["device"].isin(devices)]
    ops = p.res.ops[p.res.ops["run_id"].isin(runs["run_id"])]
    op_frames = rp.op_type_times(runs, ops)
    body = (f'<p class="note">The {len(devices)} device(s) farthest from the rest: by their largest distance, in any '
            "variant, between the device's ratio and the farm's median ratio (on a log scale: 1.35 against 0.90 "
            "counts as much as 0.60 against 0.90), picked one at a time so that each is also far from those picked "
            "before it (devices that behave alike get one section). <code>harness report --detail N</code> asks for "
            "more or fewer (up to 6).</p>")
    for d in view.detail:
        title = p.titles.get(d.device, d.device)
        groups = [g for g in p.groups if g.device == d.device]
        comps = [c for c in p.comps if c.device == d.device]
        body += f'<h3 id="{anchors[d.device]}">{e(title)}</h3><p><b>Why this device:</b> {e(why_text(d, view))}.</p>'
        sentences = rp.answer_sentences(comps, groups, p.titles, p.baseline, p.candidate, p.acc, p.mod is not None)
        body += "".join(f"<p>{e(s)}</p>" for s in sentences)
        table = summary_table(runs[runs["device"] == d.device], ops, p.campaign)
        if not table.empty:
            body += _table(["variant", "threads", "runs", "timed invokes", "median (ms)", "p90 (ms)", "vs fp32",
                            "op types that take the time"],
                           [(variant_label(r.variant), r.threads, r.runs, f"{r.invokes:,}", _fmt(r.p50_ms),
                             _fmt(r.p90_ms), _fmt(r.vs_fp32, ".2f", "x"), r.top_ops.replace("\n", "; "))
                            for r in table.itertuples()], numeric=(1, 2, 3, 4, 5, 6))
        if groups:
            body += rp.latency_figure(title, groups)
            p.plots += 1
        if comps:
            body += rp.ratio_table(comps, p.titles)
        mine = {delegate: frame for (device, delegate), frame in op_frames.items() if device == d.device}
        if mine:
            latency_delegates = set(runs[(runs["device"] == d.device) & (runs["mode"] == "latency")]["delegate"]
                                    .dropna().astype(str))
            delegate = min(mine, key=lambda k: (k not in latency_delegates, k != "xnnpack", k))  # the latency runs'
            body += rp.op_types_figure(title, delegate, mine[delegate])
            p.plots += 1
        own = [w for w in warns if w.device == d.device]
        if own:
            body += rp.warning_list(own, p.titles)
        body += ("<details><summary>device facts</summary>" + rp.device_facts_html(runs[runs["device"] == d.device])
                 + "</details>")
    return _titled("detail", body)


def _every_device(p: rp._Page, view: FarmView, anchors: dict[str, str], warns: Sequence[rp.WarningRow]) -> str:
    many = _many_threads(view)
    models = _device_models(p.runs)
    warn_count = Counter(w.device for w in warns)
    base_ms: dict[str, float] = {}
    for (device, variant, _threads), ms in sorted(view.medians_ms.items()):
        if variant == view.baseline:
            base_ms.setdefault(device, ms)
    head = ["device", "model", "fastest", f"{variant_label(view.baseline)} median (ms)"]
    head += [f"{column_label(c, many)} / {variant_label(view.baseline)} (95 % CI)" for c in view.columns]
    head += ["warnings", "section"]
    rows = []
    for device in view.devices:
        fastest = ", ".join(sorted({variant_label(v) for (d, _), v in view.fastest.items() if d == device}))
        cells = ""
        for col in view.columns:
            c = view.cell(device, col)
            if c is None or c.ratio is None:
                cells += "<td></td>"
                continue
            ci = f" ({c.ci_low:.3f}-{c.ci_high:.3f})" if c.ci_low is not None and c.ci_high is not None else ""
            word = VERDICT_WORD.get(c.verdict, "")
            cells += f'<td class="n {word}">{e(f"{c.ratio:.3f}{ci} {word}".strip())}</td>'
        link = f'<a href="#{anchors[device]}">below</a>' if device in anchors else ""
        rows.append(f"<tr><td>{e(device)}</td><td>{e(models.get(device, ''))}</td><td>{e(fastest)}</td>"
                    f'<td class="n">{e(_fmt(base_ms.get(device), ".3f"))}</td>{cells}'
                    f'<td class="n">{warn_count.get(device, 0)}</td><td>{link}</td></tr>')
    table = ('<table class="farm"><thead><tr>'
             + "".join(f'<th class="{"n" if 3 <= i < len(head) - 1 else ""}">{e(h)}</th>' for i, h in enumerate(head))
             + f"</tr></thead><tbody>{''.join(rows)}</tbody></table>")
    order = (f"by {column_label(view.columns[0], many)}'s ratio to {variant_label(view.baseline)}, fastest first"
             if view.columns else "by name")
    body = (f'<p class="note">{len(view.devices)} devices, sorted {e(order)}; devices without that ratio last. '
            "A plain table, so the page needs no JavaScript: to sort by another column, "
            "<code>harness compare --format csv</code> gives the same numbers.</p>" + table)
    return _titled("table", body)


def _accuracy(p: rp._Page, view: FarmView) -> str:
    acc = p.acc
    if acc is None or acc.empty:
        return _titled("accuracy", '<p class="missing">No accuracy data for this campaign. <code>harness run '
                       "--accuracy</code> adds one accuracy run per variant (outputs against fp32's on the same "
                       "inputs).</p>")
    rows = []
    for variant in rp.ordered_variants(acc["variant"]):
        group = acc[acc["variant"] == variant]
        per_device_top1 = group.groupby("device")["top1_agreement"].min().dropna()
        per_device_sqnr = group.groupby("device")["sqnr_db"].min().dropna()
        rows.append((variant_label(str(variant)), group["device"].nunique(),
                     _pct(per_device_top1.min()), _pct(per_device_top1.median()),
                     _fmt(per_device_sqnr.min(), ".1f"), _fmt(per_device_sqnr.median(), ".1f")))
    body = _table(["variant", "devices", "top-1 agreement, worst device", "median device", "SQNR (dB), worst device",
                   "median device"], rows, numeric=(1, 2, 3, 4, 5))
    devices = [d.device for d in view.detail]
    mine = acc[acc["device"].isin(devices)]
    groups = [g for g in p.groups if g.device in devices]
    if not mine.empty and {g.device for g in groups} & set(mine["device"]):
        metric = "top1" if mine.loc[mine["variant"] != mine["reference"], "top1_agreement"].notna().any() else "sqnr"
        body += _img(rp.plot_pareto(mine, groups, p.titles, metric), "accuracy against latency on the devices below",
                     "The devices that differ most: each variant's median latency against its agreement with fp32 "
                     "on the same inputs (the Pareto front joined).")
        p.plots += 1
    body += ('<p class="note">Each device\'s worst output against fp32 on the same inputs; '
             "<code>harness.summary()</code> gives every device's numbers.</p>")
    return _titled("accuracy", body)


def _pct(v: Any) -> str:
    f = _num(v)
    return "" if f is None else f"{100 * f:.1f} %"


def _warnings(p: rp._Page, view: FarmView, warns: Sequence[rp.WarningRow]) -> str:
    if not warns:
        return _titled("warnings", '<p class="note">None: every group of runs is within the usual limits.</p>'
                       + rp.LIMITS_NOTE)
    by_kind: dict[str, list[rp.WarningRow]] = {}
    for w in warns:
        by_kind.setdefault(w.kind, []).append(w)
    order = {d: i for i, d in enumerate(view.devices)}
    rows = ""
    for kind, ws in sorted(by_kind.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        devices = sorted({w.device for w in ws}, key=lambda d: (order.get(d, len(order)), d))
        rows += (f"<tr><td>{e(kind)}</td><td class=\"n\">{len(ws)}</td><td class=\"n\">{len(devices)}</td>"
                 f"<td>{_names(devices, p.titles)}</td></tr>")
    body = ("<table><thead><tr><th>warning</th><th class=\"n\">groups of runs</th><th class=\"n\">devices</th>"
            f"<th>devices</th></tr></thead><tbody>{rows}</tbody></table>"
            '<p class="note">Each warning in full is in the sections of the devices that differ most; for any '
            "other device, <code>harness compare --device NAME</code> gives those of the two variants it compares."
            "</p>")
    return _titled("warnings", body + rp.LIMITS_NOTE)


def _devices(p: rp._Page, view: FarmView) -> str:
    rows = []
    for device, dev_runs in p.runs.groupby("device", observed=True):
        facts = rp.device_facts(dev_runs)
        rows.append((p.titles.get(str(device), str(device)), *(rp._fact_text(facts[k]) if k in facts else "" for k in
                                                                ("manufacturer", "soc", "cpu_model", "cores", "abi",
                                                                 "os")),
                     rp.runtimes_text(dev_runs),
                     ", ".join(sorted(str(t) for t in dev_runs["transport"].dropna().unique()))))
    body = _table(["device", "manufacturer", "SoC", "CPU", "cores", "ABI", "OS", "runner · runtime", "transport"],
                  rows, numeric=(4,))
    body += ('<p class="note">Every fact collected on the devices that differ most is in their sections; '
             "<code>harness results show CAMPAIGN/RUN</code> shows any run's.</p>")
    return _titled("devices", body)
