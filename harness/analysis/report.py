"""`harness report`: one self-contained HTML file that answers "which variant, on which device?".

The page, top to bottom: a plain-language answer (from ``harness.analysis.compare``), the key
numbers, latency distributions per device and variant, ratios with their confidence intervals,
where the time goes (per-op-type time per variant, from the profile runs), accuracy against
latency (where the campaign has accuracy runs), stability warnings, device facts, and how the
report was made.

A campaign of more than four devices (``farm.FARM_DEVICES``) gets the farm's page instead
(``report_farm``): the farm at a glance, one table of every device, and sections of their own for
the few devices that differ most; it never reads the timed invokes, and its size and number of
plots do not grow with the number of devices.

Plots are PNGs drawn with matplotlib's Agg canvas (no pyplot, no global backend) and embedded
as ``data:`` URIs: the file needs no network and no JavaScript. Every string that comes from
the data is escaped. Nothing is invented: a section without data says what is missing.
"""

from __future__ import annotations

import base64
import html
import importlib
import importlib.util
import io
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from harness.analysis import stats
from harness.analysis.summary import VARIANT_ORDER
from harness.errors import HarnessError, UserError

VARIANT_LABEL = {"fp32": "fp32", "fp16": "fp16", "dynamic": "dynamic-range", "int8": "int8", "mixed": "mixed"}
VARIANT_COLOR = {"fp32": "#4C72B0", "fp16": "#55A868", "dynamic": "#DD8452", "int8": "#C44E52", "mixed": "#8172B3"}
OTHER_COLORS = ["#937860", "#DA8BC3", "#8C8C8C", "#CCB974", "#64B5CD"]
VERDICT_COLOR = {"faster": "#2E7D32", "slower": "#C62828", "no detectable difference": "#757575"}
KERNEL_MODE = {
    "xnnpack": "XNNPACK kernels (as in the latency runs)",
    "none": "TFLite builtin kernels (one row per graph node)",
}
SECTIONS = [
    ("ship", "What to ship"),
    ("numbers", "Key numbers"),
    ("latency", "Latency per variant"),
    ("ratios", "Ratios with their intervals"),
    ("ops", "Where the time goes"),
    ("accuracy", "Accuracy against latency"),
    ("warnings", "Stability warnings"),
    ("devices", "Devices"),
    ("about", "How this report was made"),
]
FACT_ROWS = [
    ("device_model", "Model"),
    ("manufacturer", "Manufacturer"),
    ("soc", "SoC"),
    ("cpu_model", "CPU"),
    ("abi", "ABI"),
    ("cores", "Cores"),
    ("clusters", "CPU clusters"),
    ("max_freq_khz", "Max frequency (kHz)"),
    ("governors", "Governors"),
    ("clocks_locked", "Clocks locked"),
    ("os", "OS"),
    ("sdk", "Android SDK"),
    ("kernel", "Kernel"),
    ("python", "Python"),
    ("thermal_status", "Thermal status"),
    ("max_temp_c", "Max temperature (°C)"),
    ("battery_level", "Battery (%)"),
    ("emulator", "Emulator"),
]


@dataclass
class Report:
    """The finished page and what the command line should say about it."""

    html: str
    campaign: str
    baseline: str | None
    candidate: str | None
    answer: list[str]
    plots: int
    notes: list[str] = field(default_factory=list)


# --- picking what to report ------------------------------------------------------------------


def variant_label(variant: str) -> str:
    return VARIANT_LABEL.get(variant, variant)


def ordered_variants(variants: Iterable[str]) -> list[str]:
    return sorted(set(variants), key=lambda v: (VARIANT_ORDER.get(v, 9), v))


def default_pair(variants: Sequence[str]) -> tuple[str | None, str | None]:
    """dynamic vs int8 when both exist, else fp32 vs the first other variant, else the first two."""
    vs = ordered_variants(variants)
    if "dynamic" in vs and "int8" in vs:
        return "dynamic", "int8"
    if len(vs) < 2:
        return (vs[0] if vs else None), None
    if "fp32" in vs:
        return "fp32", next(v for v in vs if v != "fp32")
    return vs[0], vs[1]


# --- numbers ---------------------------------------------------------------------------------


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def _facts(run_facts_json: Any) -> dict[str, Any]:
    if not isinstance(run_facts_json, str) or not run_facts_json:
        return {}
    try:
        doc = json.loads(run_facts_json)
    except json.JSONDecodeError:
        return {}
    return doc if isinstance(doc, dict) else {}


def device_titles(runs: Any) -> dict[str, str]:
    """'Pixel 7 (pixel)': the model as the device reports it, and the inventory name."""
    titles = {}
    for device, group in runs.groupby("device", observed=True):
        models = group["device_model"].dropna().unique()
        model = str(models[0]) if len(models) else ""
        titles[str(device)] = f"{model} ({device})" if model and model != device else str(device)
    return titles


@dataclass
class LatencyGroup:
    device: str
    variant: str
    threads: int
    runtime: str
    values_ms: Any  # numpy array: every timed invoke, or the runs' own medians
    per_invoke: bool
    run_medians_ms: list[float]
    runs: int
    median_ms: float  # stats.run_median of the runs, as in the key numbers and `harness compare`


def latency_groups(runs: Any, samples: Any = None) -> list[LatencyGroup]:
    """Latency runs that succeeded, per device x variant x threads x runtime. The dots and the
    median are the runs' own values (``p50_us``, else ``mean_us``: the unit the statistics compare);
    the boxes are drawn over every timed invoke when ``samples`` (the campaign's samples frame) is
    given, else over those run values (a farm's page never loads the invokes)."""
    import numpy as np

    lat = runs[(runs["mode"] == "latency") & (runs["status"] == "ok")]
    invokes: dict[str, Any] = {}
    if samples is not None and len(samples):
        mine = samples[samples["run_id"].isin(lat["run_id"])]
        for run_id, values in mine.groupby("run_id", observed=True, sort=False)["latency_us"]:
            invokes[str(run_id)] = values.to_numpy(dtype="float64") / 1000.0
    out = []
    keys = ["device", "variant", "threads", "runtime"]
    for (device, variant, threads, runtime), group in lat.groupby(keys, observed=True, dropna=False):
        p50 = group["p50_us"].to_numpy(dtype="float64", na_value=np.nan)
        mean = group["mean_us"].to_numpy(dtype="float64", na_value=np.nan)
        medians = [float(v) / 1000.0 for v in stats.run_values(p50, mean)]
        per_run = [invokes[r] for r in group["run_id"] if r in invokes]
        if per_run:
            values, per_invoke = np.concatenate(per_run), True
        elif medians:
            values, per_invoke = np.asarray(medians), False
        else:
            continue
        median_us = stats.run_median(p50, mean)
        median_ms = float(stats.hd_median([float(np.median(v)) for v in per_run])) if median_us is None else \
            median_us / 1000.0
        out.append(LatencyGroup(str(device), str(variant), int(threads) if threads == threads else 0,
                                str(runtime) if isinstance(runtime, str) else "", values, per_invoke, medians,
                                len(group), median_ms))
    out.sort(key=lambda g: (g.device, g.threads, VARIANT_ORDER.get(g.variant, 9), g.variant, g.runtime))
    return out


def op_type_times(runs: Any, ops: Any) -> dict[tuple[str, str], Any]:
    """(device, delegate) -> frame [label, variant, op_type, ms]: per-op-type time per invoke of each
    profile run (per_run_ms summed by op_type, invoke phase), one bar per variant x threads."""
    import pandas as pd

    prof = runs[(runs["mode"] == "profile") & (runs["status"] == "ok")]
    inv = ops[ops["phase"] == "invoke"]
    out: dict[tuple[str, str], Any] = {}
    for (device, delegate), group in prof.groupby(["device", "delegate"], observed=True, dropna=False):
        many_threads = group["threads"].nunique() > 1
        rows = []
        for run in group.itertuples():
            these = inv[inv["run_id"] == run.run_id]
            if these.empty:
                continue
            label = variant_label(run.variant) + (f" · {run.threads} threads" if many_threads else "")
            for op_type, ms in these.groupby("op_type", observed=True)["per_run_ms"].sum().items():
                rows.append({"label": label, "variant": run.variant, "threads": run.threads,
                             "op_type": str(op_type), "ms": float(ms)})
        if rows:
            frame = pd.DataFrame(rows).groupby(["label", "variant", "threads", "op_type"], as_index=False)["ms"].mean()
            out[(str(device), str(delegate) if isinstance(delegate, str) else "")] = frame
    return out


@dataclass(frozen=True)
class WarningRow:
    """One line of the page's warnings: on which device, which runs (``subject``), ``kind`` (a
    ``stats`` warning kind, or "failed" / "inconclusive" for runs left out) and the message."""

    device: str
    subject: str
    kind: str
    message: str

    @property
    def text(self) -> str:
        return f"{self.kind}: {self.message}"


_WARNING_COLS = ("run_id", "device", "variant", "threads", "mode", "status", "p50_us", "mean_us", "std_us",
                 "facts_json", "error_message", "throttled", "delegate", "runner_mode", "runner_threads",
                 "runner_delegate")


def warning_rows(runs: Any) -> list[WarningRow]:
    """The page's warnings: ``stats.stability_warnings`` of each variant x threads on a device (its
    latency runs, else its profile runs, as `harness compare` times them; an emulator said once per
    device), and the runs left out that those groups do not cover. Per-run aggregates only; the runs
    are turned into records once (a farm has hundreds of groups)."""
    frame = runs[list(_WARNING_COLS)].astype(object)
    records = frame.where(frame.notna(), None).to_dict("records")
    groups: dict[str, dict[tuple[str, Any], list[dict[str, Any]]]] = {}
    for r in records:
        groups.setdefault(str(r["device"]), {}).setdefault((str(r["variant"]), r["threads"]), []).append(r)
    out: list[WarningRow] = []
    for device in sorted(groups):
        said_emulator = False
        for (variant, threads), group in sorted(groups[device].items(), key=lambda kv: (kv[0][0], _order(kv[0][1]))):
            latency = [r for r in group if r["mode"] == "latency"]
            timing = latency
            if not any(r["status"] == "ok" for r in latency) and any(r["mode"] == "profile" for r in group):
                timing = [r for r in group if r["mode"] == "profile"]
            subject = f"{variant_label(variant)}, {threads} thread{'s' if threads != 1 else ''}"
            for w in stats.stability_warnings(timing, subject):
                if w.kind == stats.EMULATOR:
                    if not said_emulator:
                        out.append(WarningRow(device, "device", w.kind, w.message))
                    said_emulator = True
                else:
                    out.append(WarningRow(device, w.subject, w.kind, w.message))
            timed = {r["run_id"] for r in timing}
            for status in ("failed", "inconclusive"):  # stats covers the inconclusive runs it was given
                bad = [r for r in group if r["status"] == status and (status == "failed" or r["run_id"] not in timed)]
                if bad:
                    why = sorted({str(r["error_message"]) for r in bad if r["error_message"] is not None})[:2]
                    modes = " / ".join(sorted({str(r["mode"]) for r in bad}))
                    out.append(WarningRow(device, subject, status, f"{len(bad)} {modes} run(s) left out"
                                          + (f": {'; '.join(why)}" if why else "")))
    return out


def _order(threads: Any) -> tuple[int, int]:
    return (1, 0) if threads is None else (0, int(threads))


# --- comparisons (harness.analysis.compare, when this build has it) -------------------------


def compare_module() -> Any | None:
    """harness.analysis.compare, or None when this build does not have it yet."""
    if importlib.util.find_spec("harness.analysis.compare") is None:
        return None
    return importlib.import_module("harness.analysis.compare")


def comparisons(results: Any, campaign: str, baseline: str, candidates: Sequence[str]) -> tuple[list[Any], list[str]]:
    """compare() of every candidate against ``baseline``; a pair compare() refuses becomes a note."""
    mod = compare_module()
    if mod is None:
        return [], []
    out, notes = [], []
    for cand in candidates:
        try:
            out.extend(mod.compare(results, baseline=baseline, candidate=cand, campaign=campaign))
        except HarnessError as exc:
            notes.append(f"{variant_label(cand)} vs {variant_label(baseline)}: {exc}")
    return out, notes


def _speedup_text(c: Any) -> str:
    """'1.82x faster than dynamic-range (95 % CI 1.71-1.94)' from a Comparison."""
    ratio, lo, hi = _num(c.ratio), _num(c.ci_low), _num(c.ci_high)
    base = variant_label(c.baseline)
    pct = f"{100 * float(getattr(c, 'confidence', 0.95) or 0.95):.0f} % CI"
    if ratio is None or ratio <= 0:
        return f"cannot be compared with {base}"
    if c.verdict == "faster":
        head = f"{1 / ratio:.2f}x faster than {base}"
        ci = f" ({pct} {1 / hi:.2f}-{1 / lo:.2f})" if lo and hi else " (no interval: too few runs)"
    elif c.verdict == "slower":
        head = f"{ratio:.2f}x slower than {base}"
        ci = f" ({pct} {lo:.2f}-{hi:.2f})" if lo and hi else " (no interval: too few runs)"
    else:
        head = f"not detectably different from {base} (latency ratio {ratio:.2f}"
        ci = f", {pct} {lo:.2f}-{hi:.2f})" if lo and hi else ", no interval: too few runs)"
    return head + ci


def _cause_text(c: Any) -> str:
    """'most of the gain is CONV_2D (-0.42 ms per invoke)' from the comparison's top_ops."""
    if c.verdict not in ("faster", "slower") or not c.top_ops:
        return ""
    rows = [(str(t[0]), _num(t[3])) for t in c.top_ops]
    sign = -1.0 if c.verdict == "faster" else 1.0
    same = [(op, d) for op, d in rows if d is not None and d * sign > 0]
    if not same:
        return ""
    op, delta = max(same, key=lambda r: r[1] * sign)
    share = delta / sum(d for _, d in same)
    word = "gain" if c.verdict == "faster" else "loss"
    lead = f"most of the {word} is" if share >= 0.5 else f"the largest part of the {word} is"
    return f"; {lead} {op} ({delta:+.2f} ms per invoke)"


def _accuracy_text(acc: Any, device: str, variant: str) -> str:
    if acc is None or acc.empty:
        return ""
    rows = acc[(acc["device"] == device) & (acc["variant"] == variant)]
    top1 = rows["top1_agreement"].dropna()
    if len(top1):
        return f"; accuracy cost: top-1 agreement with fp32 {100 * top1.min():.1f} %"
    sqnr = rows["sqnr_db"].dropna()
    if len(sqnr):
        return f"; accuracy cost: SQNR against fp32 {sqnr.min():.1f} dB"
    return ""


def answer_sentences(comps: Sequence[Any], groups: Sequence[LatencyGroup], titles: dict[str, str],
                     baseline: str | None, candidate: str | None, acc: Any, compare_available: bool) -> list[str]:
    """The plain-language answer: one sentence per device (and thread count / runtime where they vary)."""
    sentences = []
    chosen = [c for c in comps if c.baseline == baseline and c.candidate == candidate]
    many_threads = len({c.threads for c in chosen}) > 1
    many_runtimes = len({c.runtime for c in chosen}) > 1
    for c in chosen:
        where = titles.get(c.device, c.device)
        extra = []
        if many_threads:
            extra.append(f"{c.threads} thread{'s' if c.threads != 1 else ''}")
        if many_runtimes and c.runtime:
            extra.append(str(c.runtime))
        where += f" ({', '.join(extra)})" if extra else ""
        sentences.append(f"On {where}, {variant_label(c.candidate)} is {_speedup_text(c)}{_cause_text(c)}"
                         f"{_accuracy_text(acc, c.device, c.candidate)}.")
        rivals = [o for o in comps if (o.device, o.threads, o.runtime, o.baseline) == (c.device, c.threads, c.runtime,
                                                                                      c.baseline)
                  and o.candidate != c.candidate]
        if rivals:
            faster = [o for o in [c, *rivals] if o.verdict == "faster" and _num(o.ratio)]
            best = min(faster, key=lambda o: o.ratio) if faster else None
            if best is None:
                sentences.append(f"None of the {len(rivals) + 1} other variants is detectably faster than "
                                 f"{variant_label(c.baseline)} there.")
            elif best is not c:
                sentences.append(f"Fastest there: {variant_label(best.candidate)}, {_speedup_text(best)}"
                                 f"{_accuracy_text(acc, best.device, best.candidate)}.")
    if sentences:
        return sentences
    for device in sorted({g.device for g in groups}):
        mine = [g for g in groups if g.device == device]
        where = titles.get(device, device)
        if len({g.variant for g in mine}) == 1:
            g = mine[0]
            sentences.append(f"On {where}, {variant_label(g.variant)} takes {g.median_ms:.3g} ms per invoke "
                             f"(median over {g.runs} run{'s' if g.runs != 1 else ''}). This campaign has one "
                             "variant: there is nothing to compare it with.")
            continue
        listing = ", ".join(f"{variant_label(g.variant)} {g.median_ms:.3g} ms" for g in mine)
        why = ("the comparison module (harness.analysis.compare) is not in this build, so no verdict is given"
               if not compare_available else
               f"no comparison of {variant_label(candidate or '')} with {variant_label(baseline or '')} "
               "could be made here")
        sentences.append(f"On {where}, median latency per invoke: {listing}. {why[0].upper() + why[1:]}.")
    return sentences or ["This campaign has no successful latency runs: there is nothing to answer with."]


# --- plots -----------------------------------------------------------------------------------


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110, layout="constrained")
    fig.patch.set_facecolor("white")
    return fig


def _style(ax: Any) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(labelsize=10)
    ax.grid(axis="x", color="#e4e4e4", linewidth=0.8)
    ax.set_axisbelow(True)


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", facecolor="white")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _color(variant: str, i: int = 0) -> str:
    return VARIANT_COLOR.get(variant, OTHER_COLORS[i % len(OTHER_COLORS)])


def plot_latency(device_title: str, groups: Sequence[LatencyGroup]) -> str:
    """Horizontal boxes (5th-95th percentile whiskers) of every timed invoke, the runs' medians as dots."""
    import numpy as np

    many_threads = len({g.threads for g in groups}) > 1
    many_runtimes = len({g.runtime for g in groups}) > 1
    labels = []
    for g in groups:
        label = variant_label(g.variant)
        if many_threads:
            label += f" · {g.threads}t"
        if many_runtimes:
            label += f" · {g.runtime}"
        labels.append(label)
    fig = _figure(9.5, 1.0 + 0.62 * len(groups))
    ax = fig.add_subplot()
    pos = np.arange(len(groups))[::-1]
    import inspect

    sideways = ({"orientation": "horizontal"} if "orientation" in inspect.signature(ax.boxplot).parameters
                else {"vert": False})  # matplotlib < 3.10
    box = ax.boxplot([g.values_ms for g in groups], positions=pos, **sideways, whis=(5, 95), showfliers=False,
                     widths=0.55, patch_artist=True, medianprops={"color": "black", "linewidth": 1.6})
    rng = np.random.default_rng(0)
    for i, (g, patch) in enumerate(zip(groups, box["boxes"], strict=True)):
        patch.set_facecolor(_color(g.variant, i))
        patch.set_alpha(0.75)
        ys = pos[i] + rng.uniform(-0.12, 0.12, len(g.run_medians_ms))
        ax.scatter(g.run_medians_ms, ys, s=16, color="black", zorder=3, linewidths=0)
    hi = max(float(np.percentile(g.values_ms, 95)) for g in groups)
    for i, g in enumerate(groups):
        ax.text(hi * 1.03, pos[i], f"{g.median_ms:.3g} ms", va="center", fontsize=10)
    ax.set_xlim(left=0, right=hi * 1.18)
    ax.set_yticks(pos, labels, fontsize=11)
    per_invoke = all(g.per_invoke for g in groups)
    ax.set_xlabel("latency per invoke (ms)" if per_invoke else "latency, median of each run (ms)", fontsize=11)
    n = sum(len(g.values_ms) for g in groups)
    what = f"{n:,} timed invokes" if per_invoke else f"{n} runs"
    ax.set_title(f"{device_title}: latency per invoke ({what})", fontsize=11, loc="left")
    _style(ax)
    return _png(fig)


def plot_ratios(comps: Sequence[Any], titles: dict[str, str], candidate: str | None) -> str:
    """Forest plot: candidate / baseline median latency with its 95 % interval, per comparison."""
    rows = list(comps)
    fig = _figure(9.5, 1.1 + 0.5 * len(rows))
    ax = fig.add_subplot()
    many_devices = len({c.device for c in rows}) > 1
    many_threads = len({c.threads for c in rows}) > 1
    labels, xs = [], []
    for i, c in enumerate(rows):
        y = len(rows) - 1 - i
        ratio, lo, hi = _num(c.ratio), _num(c.ci_low), _num(c.ci_high)
        label = f"{variant_label(c.candidate)} vs {variant_label(c.baseline)}"
        if many_devices:
            label = f"{titles.get(c.device, c.device)}: {label}"
        if many_threads:
            label += f" · {c.threads}t"
        labels.append(label)
        if ratio is None:
            continue
        color = VERDICT_COLOR.get(c.verdict, "#757575")
        weight = 2.6 if c.candidate == candidate else 1.6
        if lo is not None and hi is not None:
            ax.plot([lo, hi], [y, y], color=color, linewidth=weight, solid_capstyle="butt")
            xs += [lo, hi]
        ax.plot([ratio], [y], "o", color=color, markersize=7 if c.candidate == candidate else 5)
        xs.append(ratio)
        ax.text(max(hi or ratio, ratio), y + 0.18, f" {ratio:.2f}  {c.verdict}", fontsize=9.5, color=color)
    ax.axvline(1.0, color="#444444", linewidth=1, linestyle="--")
    lo_x, hi_x = (min(xs + [1.0]), max(xs + [1.0])) if xs else (0.5, 1.5)
    pad = (hi_x - lo_x) * 0.15 + 0.02
    ax.set_xlim(lo_x - pad, hi_x + pad * 2.2)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_yticks(range(len(rows))[::-1], labels, fontsize=11)
    ax.set_xlabel("latency ratio, candidate / baseline median (below 1 = faster)", fontsize=11)
    ax.set_title("Ratios with 95 % bootstrap intervals over process-level runs", fontsize=11, loc="left")
    _style(ax)
    return _png(fig)


def plot_op_types(title: str, frame: Any, top: int = 7) -> str:
    """Stacked horizontal bars: time per invoke of each variant, split by op type."""
    import numpy as np

    totals = frame.groupby("op_type")["ms"].sum().sort_values(ascending=False)
    keep = [t for t in totals.index[:top] if totals[t] > 0]
    frame = frame.assign(op=frame["op_type"].where(frame["op_type"].isin(keep), "other op types"))
    table = frame.pivot_table(index=["label", "variant", "threads"], columns="op", values="ms", aggfunc="sum",
                              fill_value=0.0)
    cols = keep + (["other op types"] if "other op types" in table.columns else [])
    table = table.reindex(columns=cols, fill_value=0.0)
    order = sorted(table.index, key=lambda k: (VARIANT_ORDER.get(k[1], 9), k[1], k[2]))
    table = table.loc[order]
    fig = _figure(9.5, 1.5 + 0.42 * len(table) + 0.22 * math.ceil(len(cols) / 2))
    ax = fig.add_subplot()
    ypos = np.arange(len(table))[::-1]
    left = np.zeros(len(table))
    import matplotlib

    cmap = matplotlib.colormaps["tab10"]
    for j, col in enumerate(cols):
        vals = table[col].to_numpy()
        color = "#c8c8c8" if col == "other op types" else cmap(j % 10)
        ax.barh(ypos, vals, left=left, height=0.62, color=color, label=col, edgecolor="white", linewidth=0.6)
        left += vals
    for y, total in zip(ypos, left, strict=True):
        ax.text(total, y, f" {total:.3g} ms", va="center", fontsize=10)
    ax.set_xlim(0, left.max() * 1.15 if left.max() > 0 else 1)
    ax.set_yticks(ypos, [k[0] for k in table.index], fontsize=11)
    ax.set_xlabel("time per invoke (ms), op times summed by op type", fontsize=11)
    ax.set_title(title, fontsize=11, loc="left")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16 - 0.02 * len(table)), ncol=2, fontsize=9.5,
              frameon=False)
    _style(ax)
    return _png(fig)


def _dominates(q: tuple[float, float, str], p: tuple[float, float, str]) -> bool:
    """q is at least as fast and as accurate as p, and better in one of them."""
    return q[0] <= p[0] and q[1] >= p[1] and (q[0] < p[0] or q[1] > p[1])


def plot_pareto(acc: Any, groups: Sequence[LatencyGroup], titles: dict[str, str], metric: str) -> str:
    """Per device: accuracy (top-1 agreement or worst SQNR) against median latency; the Pareto
    front (no other variant is both faster and more accurate) joined by a line."""
    devices = sorted(set(acc["device"]) & {g.device for g in groups})
    fig = _figure(9.5, 3.9 * len(devices))
    axes = fig.subplots(len(devices), 1, squeeze=False)[:, 0]
    for ax, device in zip(axes, devices, strict=True):
        lat: dict[str, Any] = {}
        for g in groups:
            if g.device == device:
                lat.setdefault(g.variant, []).append(g.median_ms)
        points = []
        rows = acc[acc["device"] == device]
        for variant, vrows in rows.groupby("variant"):
            if variant not in lat:
                continue
            x = min(lat[variant])
            if metric == "top1":
                y = 100.0 * float(vrows["top1_agreement"].min()) if vrows["top1_agreement"].notna().any() else None
            else:
                y = float(vrows["sqnr_db"].min()) if vrows["sqnr_db"].notna().any() else None
            if variant == vrows["reference"].iloc[0] and y is None:
                ax.axvline(x, color=_color(variant), linestyle="--", linewidth=1)
                ax.text(x, 1.0, f" {variant_label(variant)} (reference)", transform=ax.get_xaxis_transform(),
                        fontsize=9.5, va="top", color=_color(variant))
                continue
            if y is not None:
                points.append((x, y, str(variant)))
        xspan = (max(p[0] for p in points) - min(p[0] for p in points)) if points else 0.0
        yspan = (max(p[1] for p in points) - min(p[1] for p in points)) if points else 0.0
        placed: list[tuple[float, float]] = []
        for i, (x, y, v) in enumerate(sorted(points)):
            ax.scatter([x], [y], s=70, color=_color(v, i), zorder=3)
            # points close together: their labels stack downwards instead of overprinting
            near = sum(1 for px, py in placed if abs(px - x) <= 0.12 * xspan + 1e-12 and abs(py - y) <= 0.05 * yspan
                       + 1e-9)
            placed.append((x, y))
            ax.annotate(variant_label(v), (x, y), textcoords="offset points", xytext=(8, -4 - 13 * near), fontsize=10)
        front = sorted(p for p in points if not any(_dominates(q, p) for q in points))
        if len(front) > 1:
            ax.plot([p[0] for p in front], [p[1] for p in front], color="#555555", linewidth=1, zorder=2,
                    label="Pareto front")
            ax.legend(fontsize=9.5, frameon=False, loc="lower right")
        ax.set_xlabel("median latency per invoke (ms)", fontsize=11)
        ax.set_ylabel("top-1 agreement with fp32 (%)" if metric == "top1" else "SQNR vs fp32 (dB, worst output)",
                      fontsize=11)
        ax.set_title(f"{titles.get(device, device)}: accuracy against latency (up and left is better)",
                     fontsize=11, loc="left")
        ax.margins(x=0.25, y=0.2)
        if metric == "top1" and points:
            ax.set_ylim(max(-3.0, min(p[1] for p in points) - 8), 106)
        _style(ax)
        ax.grid(axis="y", color="#e4e4e4", linewidth=0.8)
    return _png(fig)


# --- HTML ------------------------------------------------------------------------------------


def e(value: Any) -> str:
    """Every string from the data goes through here."""
    return html.escape("" if value is None else str(value), quote=True)


def _img(b64: str, alt: str, caption: str) -> str:
    return (f'<figure class="plot"><img alt="{e(alt)}" src="data:image/png;base64,{b64}">'
            f"<figcaption>{e(caption)}</figcaption></figure>")


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]], numeric: Iterable[int] = ()) -> str:
    num = set(numeric)
    head = "".join(f'<th class="{"n" if i in num else ""}">{e(h)}</th>' for i, h in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(f'<td class="{"n" if i in num else ""}">{e(v)}</td>' for i, v in enumerate(r)) + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _fmt(v: Any, spec: str = ".3g", suffix: str = "") -> str:
    f = _num(v)
    return "" if f is None else f"{f:{spec}}{suffix}"


CSS = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:#1d1d1f;
background:#f6f7f9;margin:0}
main{max-width:1080px;margin:0 auto;padding:24px 28px 60px}
header{background:#fff;border-bottom:1px solid #e3e5e8}
header .inner{max-width:1080px;margin:0 auto;padding:18px 28px}
h1{font-size:22px;margin:0}
.sub{color:#5f6368;font-size:13px;margin-top:2px}
.answer{background:#fff;border-left:6px solid #1a73e8;border-radius:6px;padding:16px 20px;margin:22px 0 8px;
box-shadow:0 1px 2px rgba(0,0,0,.06)}
.answer p{font-size:19px;line-height:1.45;margin:6px 0;font-weight:500}
.answer .how{font-size:13px;color:#5f6368;font-weight:400}
section{background:#fff;border-radius:6px;padding:6px 22px 16px;margin:18px 0;box-shadow:0 1px 2px rgba(0,0,0,.06)}
h2{font-size:18px;margin:14px 0 8px}
h3{font-size:15px;margin:14px 0 6px;color:#3c4043}
.plot{margin:10px 0}.plot img{max-width:100%;height:auto;display:block}
figcaption{font-size:12.5px;color:#5f6368}
table{border-collapse:collapse;font-size:13.5px;margin:8px 0;width:100%}
th,td{padding:5px 10px;border-bottom:1px solid #eceef1;text-align:left;vertical-align:top}
th{background:#f1f3f4;font-weight:600}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.note{color:#5f6368;font-size:13.5px}
.missing{color:#8a5a00;background:#fff8e1;border-radius:4px;padding:8px 12px;font-size:14px}
ul.warn li{margin:3px 0}
nav{font-size:13px;margin-top:8px}nav a{color:#1a73e8;margin-right:14px;text-decoration:none}
code,pre{font:12.5px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#f1f3f4;border-radius:3px}
code{padding:1px 4px}pre{padding:8px 10px;overflow-x:auto;white-space:pre-wrap}
details{margin:6px 0}summary{cursor:pointer;color:#1a73e8;font-size:13.5px}
table.farm{font-size:12.5px}table.farm td{white-space:nowrap;padding:3px 8px}
td.faster{color:#2E7D32}td.slower{color:#C62828}
"""


def _section(sid: str, body: str, title: str | None = None) -> str:
    title = title or dict(SECTIONS)[sid]
    return f'<section id="{sid}"><h2>{e(title)}</h2>{body}</section>'


def build_report(results_root: Any = None, campaign: str | None = None, *, baseline: str | None = None,
                 candidate: str | None = None, detail: int | None = None) -> Report:
    """The report of ``campaign`` (default: the newest) in the store at ``results_root``.

    A campaign of more than ``farm.FARM_DEVICES`` devices gets the farm's page
    (``report_farm``): the farm at a glance, one table of every device, and a section of its own
    for each of the ``detail`` devices that differ most (default ``farm.DETAIL``, at most
    ``farm.MAX_DETAIL``). Its timed invokes (the samples frame) are never read; a smaller
    campaign's page draws its latency boxes over them."""
    from harness.analysis import farm
    from harness.store import Store, load_results

    if detail is not None and not 0 <= detail <= farm.MAX_DETAIL:
        raise UserError(f"--detail {detail}: give 0 to {farm.MAX_DETAIL}. That many of the devices that differ most "
                        "get their own section (the page stays within 15 plots); every device is in the table.")
    store = Store(results_root)
    if not store.root.exists():
        raise UserError(f"No results store at {store.root}. Run `harness run` first, or pass --results DIR.")
    campaign = store.resolve_campaign(campaign)
    meta = store.read_campaign(campaign) or {}
    res = load_results(store.campaign_dir(campaign))
    runs = res.runs
    if runs.empty:
        raise UserError(f"Campaign {campaign!r} has no runs yet: nothing to report. "
                        f"`harness run --resume {campaign}` finishes it.")
    is_farm = runs["device"].nunique() > farm.FARM_DEVICES
    titles = device_titles(runs)
    groups = latency_groups(runs, None if is_farm else res.samples)
    measured = ordered_variants(g.variant for g in groups)
    known = ordered_variants(runs["variant"].dropna())
    for name, value in (("--baseline", baseline), ("--candidate", candidate)):
        if value is not None and value not in known:
            raise UserError(f"{name} {value!r} is not a variant of campaign {campaign}; it has "
                            f"{', '.join(known)}.")
    if baseline is not None and baseline == candidate:
        raise UserError("--baseline and --candidate name the same variant; name two different ones.")
    d_base, d_cand = default_pair(measured or known)
    if baseline is None:
        baseline = d_base if candidate != d_base else next((v for v in measured if v != candidate), None)
    if candidate is None:
        candidate = d_cand if d_cand != baseline else next((v for v in measured if v != baseline), None)

    notes: list[str] = []
    mod = compare_module()
    comps: list[Any] = []
    if mod is not None and baseline is not None and candidate is not None:
        others = [candidate] + [v for v in measured if v not in (baseline, candidate)]
        comps, cnotes = comparisons(res, campaign, baseline, others)
        notes += cnotes
    elif mod is None:
        notes.append("harness.analysis.compare is not in this build: the report has no verdicts or intervals.")

    acc, acc_note = _accuracy(store, runs)
    if acc_note:
        notes.append(acc_note)
    page = _Page(campaign, meta, store, res, runs, titles, groups, known, baseline, candidate, mod, comps, notes, acc)
    if is_farm:
        from harness.analysis.report_farm import farm_page

        return farm_page(page, farm.DETAIL if detail is None else detail)
    if detail is not None:
        notes.append(f"--detail applies to campaigns of more than {farm.FARM_DEVICES} devices: every device of this "
                     "one has its own sections")
    answer = answer_sentences(comps, groups, titles, baseline, candidate, acc, mod is not None)
    parts = [section(page) for section in (ship_section, _numbers, _latency, _ratios, _ops, _accuracy_section,
                                           _warnings, _devices, _about)]
    return assemble(page, answer, SECTIONS, parts, ", ".join(titles.values()))


def assemble(p: _Page, answer: Sequence[str], sections: Sequence[tuple[str, str]], parts: Sequence[str],
             subtitle: str) -> Report:
    """The page: header (title, campaign, ``subtitle``, the sections' links), the answer, the sections."""
    model = model_name(p.meta, p.runs)
    nav = "".join(f'<a href="#{sid}">{e(title)}</a>' for sid, title in sections)
    head_title = f"{model}: which variant?" if model else f"campaign {p.campaign}"
    how = ("Ratios of median latency over process-level runs (Harrell-Davis) with 95 % BCa bootstrap intervals; "
           "details below." if p.comps else "Medians over process-level runs (Harrell-Davis); details below.")
    html = (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(head_title)} · harness report</title><style>{CSS}</style></head><body>"
        f'<header><div class="inner"><h1>{e(head_title)}</h1><div class="sub">harness report · campaign '
        f"{e(p.campaign)} · {e(subtitle)}</div><nav>{nav}</nav></div></header><main>"
        '<div class="answer" id="answer">' + "".join(f"<p>{e(s)}</p>" for s in answer)
        + f'<p class="how">{e(how)}</p></div>' + "".join(parts) + "</main></body></html>\n"
    )
    return Report(html, p.campaign, p.baseline, p.candidate, list(answer), p.plots, p.notes)


def model_name(meta: dict[str, Any], runs: Any) -> str:
    return str(meta.get("model_name") or ", ".join(sorted(str(m) for m in runs["model_name"].dropna().unique())))


def _fact_text(v: Any) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, dict | list):
        return json.dumps(v, default=str)
    return str(v)


def _accuracy(store: Any, runs: Any) -> tuple[Any | None, str | None]:
    """The accuracy table (harness.analysis.accuracy) of the campaign's accuracy runs, if any."""
    if not (runs["mode"] == "accuracy").any():
        return None, None
    if importlib.util.find_spec("harness.analysis.accuracy") is None:
        return None, "the campaign has accuracy runs, but harness.analysis.accuracy is not in this build"
    mod = importlib.import_module("harness.analysis.accuracy")
    try:
        return mod.accuracy_table(store.root, runs), None
    except HarnessError as exc:
        return None, f"accuracy could not be computed: {exc}"


@dataclass
class _Page:
    """What every section of the page draws on."""

    campaign: str
    meta: dict[str, Any]
    store: Any
    res: Any
    runs: Any
    titles: dict[str, str]
    groups: list[LatencyGroup]
    known: list[str]
    baseline: str | None
    candidate: str | None
    mod: Any
    comps: list[Any]
    notes: list[str]
    acc: Any
    plots: int = 0


SHIP_ROWS = 200
"""The "what to ship" table lists every device up to this many rows (a farm beyond: the groups, the
minority devices, and the first rows; `harness recommend --format csv` gives them all)."""


def ship_section(p: _Page) -> str:
    """What to ship: `harness recommend`'s answer (no bounds), first on the page."""
    from harness.analysis.recommend import recommend

    try:
        answer = recommend(p.res, root=p.store.root, campaign=p.campaign, meta=p.meta)
    except HarnessError as exc:
        return _section("ship", f'<p class="missing">No recommendation: {e(exc)}</p>')
    rows = answer.rows
    body = ""
    if len(rows) > 1:
        body += "<p>" + e("; ".join(answer.groups)) + ".</p>"
        if answer.apart:
            body += '<ul class="note">' + "".join(f"<li>{e(v)}: {e('; '.join(why))}</li>"
                                                  for v, why in answer.apart.items()) + "</ul>"
    if len(rows) > SHIP_ROWS:
        majority = answer.groups[0].split(" ", 1)[0] if answer.groups else None
        shown = [r for r in rows if r.recommended != majority][:SHIP_ROWS]
        shown += [r for r in rows if r.recommended == majority][:SHIP_ROWS - len(shown)]
        body += (f'<p class="note">{len(rows)} device x thread rows: the {len(shown)} shown put the minority answers '
                 "first; `harness recommend --format csv` lists them all.</p>")
        rows = shown
    body += _table(
        ["device", "threads", "ship", "runner-up", "confidence", "speed-up vs fp32 (95 % CI)", "top-1 vs fp32",
         "SQNR (dB)", "memory (MB)", "why"],
        [(p.titles.get(r.device, r.device), r.threads, variant_label(r.recommended),
          variant_label(r.runner_up) if r.runner_up else "", r.confidence,
          "" if r.speedup_vs_fp32 is None else _fmt(r.speedup_vs_fp32, ".2f", "x")
          + ("" if r.ci_low is None else f" ({r.ci_low:.2f}-{r.ci_high:.2f})"),
          "" if r.top1_agreement is None else f"{100 * r.top1_agreement:.1f} %", _fmt(r.sqnr_db, ".1f"),
          _fmt(r.memory_mb, ".1f"), r.reason) for r in rows],
        numeric=(1, 5, 6, 7, 8),
    )
    if answer.accuracy_hint:
        body += f'<p class="note">{e(answer.accuracy_hint)}</p>'
    body += ('<p class="note">The fastest variant (median over runs of each run\'s p50) that meets the bounds; '
             '"decided" when the 95 % interval of its ratio to the runner-up excludes 1, else a tie settled by the '
             "smaller model, then the more accurate one. <code>harness recommend</code> takes accuracy and memory "
             "bounds.</p>")
    return _section("ship", body)


def _numbers(p: _Page) -> str:
    """Key numbers."""
    from harness.analysis.summary import summarize

    res, titles, campaign = p.res, p.titles, p.campaign
    summary = summarize(res, campaign)
    if summary.empty:
        body = '<p class="missing">No successful latency runs in this campaign.</p>'
    else:
        body = ""
        for device, rows in summary.groupby("device", sort=False):
            body += f"<h3>{e(titles.get(str(device), device))}</h3>" + _table(
                ["variant", "threads", "runs", "timed invokes", "median (ms)", "p90 (ms)", "vs fp32", "memory (MB)",
                 "op types that take the time"],
                [(variant_label(r.variant), r.threads, r.runs, f"{r.invokes:,}" if r.invokes else "per-run only",
                  _fmt(r.p50_ms), _fmt(r.p90_ms), _fmt(r.vs_fp32, ".2f", "x"), _fmt(r.memory_mb, ".1f"),
                  r.top_ops.replace("\n", "; "))
                 for r in rows.itertuples()],
                numeric=(1, 2, 3, 4, 5, 6, 7),
            )
        body += ('<p class="note">Median and p90: the Harrell-Davis median over the latency runs of each run\'s own '
                 'median (its mean where the runner gives no percentile) and p90 — the statistic the ratios compare. '
                 '"vs fp32": that median relative to fp32\'s on the same device and threads (below 1 = faster), '
                 "the ratio <code>harness compare</code> gives.</p>")
    return _section("numbers", body)


def _latency(p: _Page) -> str:
    """Latency distributions."""
    titles, groups = p.titles, p.groups
    body = ""
    for device in sorted({g.device for g in groups}):
        mine = [g for g in groups if g.device == device]
        body += latency_figure(titles[device], mine)
        p.plots += 1
    return _section("latency", body or '<p class="missing">No successful latency runs '
                          "in this campaign.</p>")


def latency_figure(title: str, groups: Sequence[LatencyGroup]) -> str:
    """One device's latency plot with its caption (boxes over every invoke, or over the runs' medians)."""
    if all(g.per_invoke for g in groups):
        caption = ("Boxes: every timed invoke, 25th-75th percentile with their median; whiskers: 5th-95th "
                   "percentile; dots: the median of each process-level run (the unit the statistics compare); "
                   "the number: the median over those runs, as in the key numbers.")
    else:
        caption = ("Boxes: the process-level runs' own medians (the unit the statistics compare), 25th-75th "
                   "percentile; whiskers: 5th-95th; dots: each run's median; the number: the median over those runs, "
                   "as in the key numbers. The spread of the invokes inside a run is in the warnings (its std).")
    return _img(plot_latency(title, groups), f"latency per variant on {title}", caption)


def _ratios(p: _Page) -> str:
    """Ratios (rendered from harness.analysis.compare when this build has it)."""
    titles, mod, comps, notes, candidate, baseline = p.titles, p.mod, p.comps, p.notes, p.candidate, p.baseline
    if mod is None:
        body = ('<p class="missing">Comparisons need <code>harness.analysis.compare</code>, which this build does not '
                "have yet. This section fills in (ratios, bootstrap intervals, Mann-Whitney U, verdicts and the op "
                "types behind each difference) as soon as it does; no numbers are estimated in its place.</p>")
    elif not comps:
        body = '<p class="missing">No comparison could be made: '
        body += e("; ".join(notes) if notes else "the campaign needs two variants with successful latency runs")
        body += ".</p>"
    else:
        body = _img(plot_ratios(comps, titles, candidate), "latency ratios with confidence intervals",
                    f"Each variant against {variant_label(baseline or '')}: the point is the ratio of median latencies"
                    " (candidate / baseline), the bar its 95 % bootstrap interval; green = faster, red = slower, "
                    "grey = no detectable difference.")
        p.plots += 1
        body += ratio_table(comps, titles)
    return _section("ratios", body)


def ratio_table(comps: Sequence[Any], titles: dict[str, str]) -> str:
    """The comparisons as a table (ratio, interval, p, verdict, the smallest ratio the runs can see,
    op types), then their notes."""

    def detectable(c: Any) -> str:
        mdr = _num(getattr(c, "min_detectable_ratio", None))
        if mdr is None:
            return "n/a"
        text = "none (too few runs)" if math.isinf(mdr) else f"{mdr:.2f}x"
        need = getattr(c, "runs_to_resolve", None)
        return text + (f"; {need} runs a side would resolve this ratio" if need else "")

    body = _table(
        ["device", "threads", "runtime", "candidate vs baseline", "runs", "ratio", "95 % CI", "p (Mann-Whitney)",
         "verdict", "detectable at 80 % power",
         "op types behind the difference (candidate - baseline, ms per invoke)"],
        [(titles.get(c.device, c.device), c.threads, c.runtime or "",
          f"{variant_label(c.candidate)} vs {variant_label(c.baseline)}", f"{c.n_candidate} / {c.n_baseline}",
          _fmt(c.ratio, ".3f"),
          f"{_fmt(c.ci_low, '.3f')}-{_fmt(c.ci_high, '.3f')}" if _num(c.ci_low) is not None else "n/a",
          _fmt(c.p_value, ".2g"), c.verdict, detectable(c),
          "; ".join(f"{t[0]} {_fmt(t[3], '+.3f')}" for t in list(c.top_ops)[:4]))
         for c in comps],
        numeric=(1, 5, 6, 7),
    )
    cnotes = sorted({str(n) for c in comps for n in (getattr(c, "notes", None) or [])})
    if cnotes:
        body += '<ul class="note">' + "".join(f"<li>{e(n)}</li>" for n in cnotes) + "</ul>"
    return body


def _ops(p: _Page) -> str:
    """Per-op-type time."""
    res, runs, titles = p.res, p.runs, p.titles
    op_frames = op_type_times(runs, res.ops)
    body = ""
    for (device, delegate), frame in sorted(op_frames.items(), key=lambda kv: (kv[0][0], kv[0][1] != "xnnpack",
                                                                                kv[0][1])):
        body += op_types_figure(titles.get(device, device), delegate, frame)
        p.plots += 1
    return _section("ops", body or '<p class="missing">No profile runs with per-op timings in this campaign '
                          "(run without <code>--no-profile</code> to get them).</p>")


def op_types_figure(title: str, delegate: str, frame: Any) -> str:
    """One device's per-op-type plot in one kernel mode, with its caption."""
    mode = KERNEL_MODE.get(delegate, f"delegate {delegate}")
    return _img(plot_op_types(f"{title}: {mode}", frame), f"per-op-type time per variant on {title}, {mode}",
                f"From the profile run of each variant ({mode}): per-op time per invoke, summed by op type. "
                "Profiling adds overhead, so totals run above the latency runs' medians; compare the shares.")


def _accuracy_section(p: _Page) -> str:
    """Accuracy."""
    titles, groups, acc = p.titles, p.groups, p.acc
    if acc is None or acc.empty:
        body = ('<p class="missing">No accuracy data for this campaign. <code>harness run --accuracy</code> adds '
                "one accuracy run per variant (outputs against fp32's on the same inputs).</p>")
    else:
        metric = "top1" if acc.loc[acc["variant"] != acc["reference"], "top1_agreement"].notna().any() else "sqnr"
        body = ""
        if {g.device for g in groups} & set(acc["device"]):
            body += _img(plot_pareto(acc, groups, titles, metric), "accuracy against latency per device",
                         "Each variant's median latency against its agreement with fp32 on the same inputs. "
                         "A variant on the Pareto front is not beaten on both speed and accuracy by another.")
            p.plots += 1
        body += _table(
            ["device", "variant", "output", "samples", "max abs error", "SQNR (dB)", "top-1 agreement", "computed on"],
            [(titles.get(r.device, r.device), variant_label(r.variant), r.output, r.samples, _fmt(r.max_abs_err, ".3g"),
              _fmt(r.sqnr_db, ".1f") if _num(r.sqnr_db) is not None else ("exact" if r.variant == r.reference else ""),
              _fmt(100 * r.top1_agreement, ".1f", " %") if _num(r.top1_agreement) is not None else "",
              r.computed_on) for r in acc.itertuples()],
            numeric=(3, 4, 5, 6),
        )
    return _section("accuracy", body)


def _warnings(p: _Page) -> str:
    """Warnings."""
    runs, titles = p.runs, p.titles
    warns = warning_rows(runs)
    if warns:
        body = warning_list(warns, titles)
    else:
        body = '<p class="note">None: every group of runs is within the usual limits.</p>'
    return _section("warnings", body + LIMITS_NOTE)


def warning_list(warns: Sequence[WarningRow], titles: dict[str, str]) -> str:
    return '<ul class="warn">' + "".join(
        f"<li><b>{e(titles.get(w.device, w.device))}</b> · {e(w.subject)}: {e(w.text)}</li>" for w in warns
    ) + "</ul>"


LIMITS_NOTE = (
    '<p class="note">Limits, as pyperf draws them, on the process-level runs of each variant: their '
    f"medians spread with a std of {100 * stats.SPREAD_CV:.0f} % of their mean or more; a run "
    f"{100 * stats.OUTLIER_OFF:.0f} % or more off the median of the runs; a run whose invokes spread with a std of "
    f"{100 * stats.SPREAD_CV:.0f} % of their mean or more; fewer than {stats.MIN_RUNS} runs (the fewest that "
    "give a usable interval); inconclusive, throttled or failed runs; emulators. The same limits as "
    "<code>harness run</code> and <code>harness compare</code>.</p>")


def _devices(p: _Page) -> str:
    """Devices."""
    runs, titles = p.runs, p.titles
    body = ""
    for device, dev_runs in runs.groupby("device", observed=True):
        body += f"<h3>{e(titles.get(str(device), device))}</h3>" + device_facts_html(dev_runs)
    return _section("devices", body)


def device_facts(dev_runs: Any) -> dict[str, Any]:
    """Every fact collected on one device (its runs' facts_json merged), with the runs' own columns
    where the facts lack them."""
    facts: dict[str, Any] = {}
    for f in dev_runs["facts_json"]:
        facts.update({k: v for k, v in _facts(f).items() if v is not None})
    for col in ("device_model", "cpu_model", "abi", "os", "cores"):
        vals = dev_runs[col].dropna().unique()
        if col not in facts and len(vals):
            facts[col] = vals[0]
    return facts


def runtimes_text(dev_runs: Any) -> str:
    """'litert 1.0 · ai_edge_litert 2.3.0' for each runner and runtime a device's runs used."""
    cols = (dev_runs[c].astype(object) for c in ("runner", "runner_version", "runtime", "runtime_version"))
    return "; ".join(sorted({" ".join(str(x) for x in (runner, version, "·", runtime, rt_version) if isinstance(x, str))
                             for runner, version, runtime, rt_version in zip(*cols, strict=True)}))


def device_facts_html(dev_runs: Any) -> str:
    """One device's facts table and every fact collected (folded)."""
    facts = device_facts(dev_runs)
    rows = [(label, _fact_text(facts[key])) for key, label in FACT_ROWS if key in facts]
    rows.append(("Runner · runtime", runtimes_text(dev_runs)))
    rows.append(("Transport", ", ".join(sorted(str(t) for t in dev_runs["transport"].dropna().unique()))))
    return _table(["fact", "value"], rows) + (
        f"<details><summary>every fact collected</summary><pre>{e(json.dumps(facts, indent=1, default=str))}"
        "</pre></details>")


def _about(p: _Page) -> str:
    """About."""
    from harness import __version__

    runs, notes, candidate, baseline, meta, campaign, known = (p.runs, p.notes, p.candidate, p.baseline, p.meta,
                                                               p.campaign, p.known)
    ok = int((runs["status"] == "ok").sum())
    by_mode = ", ".join(f"{n} {m}" for m, n in runs[runs["status"] == "ok"]["mode"].value_counts().items())
    model = model_name(meta, runs)
    variants = meta.get("variants") or {}
    vrows = []
    for v in known:
        info = variants.get(v) if isinstance(variants, dict) else None
        vr = runs[runs["variant"] == v]
        sha = (info or {}).get("sha256") or (vr["model_sha256"].dropna().iloc[0] if vr["model_sha256"].notna().any()
                                            else "")
        size = (info or {}).get("bytes") or (vr["model_bytes"].dropna().iloc[0] if vr["model_bytes"].notna().any()
                                            else None)
        vrows.append((variant_label(v), f"{int(size) / 1e6:.2f} MB" if size else "", str(sha)[:16]))
    pair = f" --baseline {baseline} --candidate {candidate}" if baseline and candidate else ""
    created = meta.get("created_at", "")
    body = (f"<p>Campaign <code>{e(campaign)}</code>, model <b>{e(model)}</b>, created {e(created)}; "
            f"{ok} successful runs ({e(by_mode)}) of {len(runs)}. Report made "
            f"{e(datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC'))} by harness {e(__version__)}.</p>"
            + _table(["variant", "file size", "sha256 (first 16)"], vrows, numeric=(1,))
            + "<p>The same numbers on the command line:</p><pre>"
            + e(f"harness compare {campaign}{pair}\nharness results show {campaign}\n"
                f"harness results query \"SELECT variant, median(p50_us) FROM runs WHERE campaign = '{campaign}' "
                "AND mode = 'latency' GROUP BY variant\"")
            + "</pre>")
    if notes:
        body += '<ul class="note">' + "".join(f"<li>{e(n)}</li>" for n in notes) + "</ul>"
    return _section("about", body)
