"""Which variant (or runtime) is faster on this device, by how much, and why.

``compare(results, baseline=..., candidate=...)`` gives one ``Comparison`` per device x threads
(x runtime): the ratio of the candidate's median run latency to the baseline's with a bootstrap
interval, a Mann-Whitney U p-value and a verdict (``stats.compare_runs``), stability warnings,
and a per-op attribution from the profile runs.

Attribution: the profile runs of each side in the same kernel mode as the latency runs (XNNPACK
kernel names, and the TFLite ops left outside the delegate), else in builtin mode (TFLite nodes);
the notes say which. Ops are joined on node identity when both sides ran the same graph (same
op sequence), else on op type, where XNNPACK kernels are named by their operator without the
data types ("Convolution (NHWC, QC8) DWConv" and "Convolution (NHWC, F32) DWConv" are both
DEPTHWISE_CONV_2D). Op times are as profiled (profiling inflates them) unless ``scale_ops`` is
set, in which case each side's ops are scaled to its latency median and the notes say so.

Nothing here prints; ``harness compare`` renders.
"""

from __future__ import annotations

import functools
import math
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness.analysis import stats
from harness.errors import UserError

QUANT_OPS = ("QUANTIZE", "DEQUANTIZE")
HYBRID_MARKERS = ("QDU8", "QD8")

# XNNPACK operator (kernel name without data types) -> the TFLite op type it runs, where unambiguous
_XNNPACK_OPS: tuple[tuple[str, str], ...] = (
    (r"^Convolution \(NHWC\) DWConv", "DEPTHWISE_CONV_2D"),
    (r"^Convolution \(NHWC\)", "CONV_2D"),
    (r"^Deconvolution", "TRANSPOSE_CONV"),
    (r"^Fully Connected", "FULLY_CONNECTED / 1x1 CONV_2D"),
    (r"^Batch Matrix Multiply", "BATCH_MATMUL"),
    (r"^Max Pooling", "MAX_POOL_2D"),
    (r"^Average Pooling", "AVERAGE_POOL_2D"),
    (r"^Global Average Pooling", "MEAN"),
    (r"^Mean", "MEAN"),
    (r"^Softmax", "SOFTMAX"),
    (r"^Add", "ADD"),
    (r"^Multiply", "MUL"),
    (r"^Subtract", "SUB"),
    (r"^Convert", "QUANTIZE / DEQUANTIZE"),
    (r"^(Static )?Reshape|^Copy", "RESHAPE"),
    (r"^Constant Pad", "PAD"),
    (r"^Concatenate", "CONCATENATION"),
    (r"^Transpose", "TRANSPOSE"),
    (r"^Clamp", "RELU / CLAMP"),
    (r"^HardSwish", "HARD_SWISH"),
    (r"^Sigmoid", "LOGISTIC"),
)
_DATATYPES = re.compile(r"\(([A-Z]+)(, [A-Z0-9_]+)*\)")


@dataclass
class OpDelta:
    """One op (node join) or one op type (type join): per-invoke ms on each side."""

    op_type: str  # TFLite op type (or XNNPACK operator) the sides are joined on
    node_index: int | None  # the node, when joined on node identity; else None
    baseline_ms: float
    candidate_ms: float
    delta_ms: float  # candidate - baseline
    baseline_count: float  # ops of this type per invoke (1 for a node)
    candidate_count: float
    baseline_path: str  # the kernel path: "XNNPACK Convolution (NHWC, QC8) DWConv", "TFLite builtin ..."
    candidate_path: str


@dataclass
class Comparison:
    """One device x threads (x runtime) comparison. ``ratio`` = candidate / baseline median
    latency (below 1: the candidate is faster)."""

    device: str
    threads: int
    runtime: str  # "name version", or "A vs B" when the sides ran in different runtimes
    baseline: str
    candidate: str
    n_baseline: int
    n_candidate: int
    ratio: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    verdict: str  # faster | slower | no detectable difference | inconclusive (fewer than 2 runs a side)
    top_ops: list[tuple[str, float, float, float]]  # (op_type, baseline_ms, candidate_ms, delta_ms), |delta| first
    ops: list[OpDelta]
    notes: list[str]
    warnings: list[str]  # str() of each side's stats.StabilityWarning, "int8: too few runs: 3 (...)"
    device_model: str | None = None
    variant: str | None = None  # by="runtime": the variant both runtimes ran
    kernels: str | None = None  # delegate of the latency runs (xnnpack | none | ...)
    baseline_ms: float | None = None  # median run latency of each side (Harrell-Davis)
    candidate_ms: float | None = None
    confidence: float = 0.95
    profile_kernels: str | None = None  # kernel mode of the profile runs the ops come from
    join: str | None = None  # "node" | "op_type" | None (no attribution)
    ops_scaled: bool = False
    baseline_mem_mb: float | None = None  # median memory of each side's runs (analysis.memory), where measured
    candidate_mem_mb: float | None = None
    min_detectable_ratio: float | None = None  # the smallest ratio these runs call 80 % of the time (inf: none)
    runs_to_resolve: int | None = None  # runs a side that would resolve the ratio seen, when no verdict

    def row(self) -> dict[str, Any]:
        """The pipeline row (``--format json|csv``): exactly these keys."""
        return {
            "device": self.device,
            "threads": self.threads,
            "baseline": self.baseline,
            "candidate": self.candidate,
            "n_baseline": self.n_baseline,
            "n_candidate": self.n_candidate,
            "ratio": self.ratio,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "p_value": self.p_value,
            "verdict": self.verdict,
            "min_detectable_ratio": _finite(self.min_detectable_ratio),
            "runs_to_resolve": self.runs_to_resolve,
            "baseline_mem_mb": self.baseline_mem_mb,
            "candidate_mem_mb": self.candidate_mem_mb,
            "top_ops": [
                {"op_type": t, "baseline_ms": b, "candidate_ms": c, "delta_ms": d} for t, b, c, d in self.top_ops
            ],
        }

    def sentence(self) -> str:
        """The plain-language answer, e.g. "On vm, int8 is 1.80x faster than dynamic (95 % CI
        1.70-1.90, p=0.008); most of the gain is CONV_2D"."""
        where = f"On {self.device_model or self.device}" + (f" ({self.threads} threads)" if self.threads != 1 else "")
        if self.variant:
            where += f", {self.variant}"
        cl = f"{100 * self.confidence:.0f} % CI"
        if self.ratio is None:
            return f"{where}: no ratio ({'; '.join(self.notes[:1])})"
        if self.ci_low is None:
            text = (f"{where}, {self.candidate} took {self.ratio:.2f}x the time of {self.baseline} "
                    f"({self.n_baseline} vs {self.n_candidate} run(s): interval cannot be computed)")
        elif self.verdict == stats.FASTER:
            assert self.ci_low is not None and self.ci_high is not None  # a verdict needs the interval
            text = (f"{where}, {self.candidate} is {1 / self.ratio:.2f}x faster than {self.baseline} "
                    f"({cl} {1 / self.ci_high:.2f}-{1 / self.ci_low:.2f}, p={self.p_value:.2g})")
        elif self.verdict == stats.SLOWER:
            text = (f"{where}, {self.candidate} is {self.ratio:.2f}x slower than {self.baseline} "
                    f"({cl} {self.ci_low:.2f}-{self.ci_high:.2f}, p={self.p_value:.2g})")
        else:
            text = (f"{where}, no detectable difference between {self.candidate} and {self.baseline} "
                    f"(ratio {self.ratio:.2f}, {cl} {self.ci_low:.2f}-{self.ci_high:.2f}, p={self.p_value:.2g}; "
                    f"{self.power_phrase()})")
        main = self._main_op()
        if main:
            text += f"; most of the {'gain' if self.ratio < 1 else 'loss'} is {main}"
        return text

    def power_phrase(self) -> str:
        """What these runs can see: "with 5 runs a side, differences below 1.07x go unseen more than
        20 % of the time; about 23 runs a side would resolve the 1.02x seen here"."""
        n = f"{self.n_baseline}" if self.n_baseline == self.n_candidate else f"{self.n_baseline} / {self.n_candidate}"
        mdr = self.min_detectable_ratio
        if mdr is None:
            return "the spread of the runs is unknown"
        if mdr == math.inf:
            text = f"with {n} runs a side no difference can be called at all"
        else:
            miss = 100 - 100 * stats.POWER
            text = f"with {n} runs a side, differences below {mdr:.2f}x go unseen more than {miss:.0f} % of the time"
        if self.runs_to_resolve and self.ratio:
            seen = self.ratio if self.ratio >= 1 else 1 / self.ratio
            text += f"; about {self.runs_to_resolve} runs a side would resolve the {seen:.2f}x seen here"
        return text

    def _main_op(self) -> str | None:
        if not self.top_ops or self.ratio is None or self.ratio == 1:
            return None
        if self.verdict in (stats.NO_DIFFERENCE, stats.INCONCLUSIVE) and self.ci_low is not None:
            return None  # no difference to explain
        sign = -1 if self.ratio < 1 else 1
        for op_type, _b, _c, d in self.top_ops:
            if d * sign > 0:
                return op_type
        return None


def _memory(runs: list[dict[str, Any]]) -> float | None:
    """The median memory figure (MB) of these runs (``analysis.memory``: peak, else RSS, else the
    footprint delta), None where none was measured."""
    from harness.analysis.memory import SOURCES

    values = []
    for r in runs:
        for column in SOURCES:
            v = r.get(column)
            if v is not None and v == v:
                values.append(float(v))
                break
    return float(statistics.median(values)) if values else None


def _finite(value: float | None) -> float | None:
    return None if value is None or math.isinf(value) else value


# -- op naming ---------------------------------------------------------------------------------
def operator_of(op_type: str) -> str:
    """An XNNPACK kernel name without its data types ("Convolution (NHWC, QC8) DWConv" ->
    "Convolution (NHWC) DWConv"); a TFLite op type as it is."""
    return _DATATYPES.sub(lambda m: f"({m.group(1)})", op_type).strip()


@functools.lru_cache(maxsize=4096)
def join_type(op_type: str) -> str:
    """The op type both sides are joined on: TFLite's name, also for an XNNPACK kernel."""
    if "(" not in op_type:
        return op_type
    name = operator_of(op_type)
    for pattern, tflite in _XNNPACK_OPS:
        if re.search(pattern, name):
            return tflite
    return name


def _path(op_type: str, delegated: Any, kernel_mode: str | None) -> str:
    if delegated is True or "(" in op_type:
        return f"XNNPACK {op_type}" if kernel_mode in (None, "xnnpack") else f"delegate {op_type}"
    if kernel_mode == "xnnpack":
        return f"TFLite {op_type} (outside XNNPACK)"
    return f"TFLite builtin {op_type}"


def _is_quant(op_type: str) -> bool:
    return op_type in QUANT_OPS or op_type.startswith("Convert (")


def _is_hybrid(op_type: str) -> bool:
    return any(m in op_type for m in HYBRID_MARKERS)


# -- selection ---------------------------------------------------------------------------------
def _runtime_of(runs: Any) -> Any:
    rt = runs["runtime"].fillna(runs["runner"]).fillna("unknown").astype(str)
    ver = runs["runtime_version"].fillna("").astype(str)
    return (rt + " " + ver).str.strip()


def _side_mask(runs: Any, label: str, by: str) -> Any:
    if by == "variant":
        return runs["variant"] == label
    rt = runs["runtime"].fillna("").astype(str)
    runner = runs["runner"].fillna("").astype(str)
    names = [rt, _runtime_of(runs), runner, (runner + " " + runs["runner_version"].fillna("").astype(str)).str.strip()]
    mask = names[0] == label
    for n in names[1:]:
        mask |= n == label
    return mask


def _known(runs: Any, by: str) -> list[str]:
    if by == "variant":
        return sorted(runs["variant"].dropna().astype(str).unique())
    return sorted(set(_runtime_of(runs).unique()) | set(runs["runner"].dropna().astype(str).unique()))


# -- the comparison ----------------------------------------------------------------------------
# Runs are turned into plain records once and ops into per-run tuples once: a farm's campaign has
# hundreds of device x threads groups, and per-group pandas calls would dominate the time.
_RUN_COLS = ("run_id", "device", "device_model", "threads", "variant", "mode", "delegate", "status", "p50_us",
             "mean_us", "std_us", "facts_json", "error_message", "throttled", "peak_mem_mb", "peak_rss_mb",
             "mem_overall_mb", "runner_threads", "runner_delegate", "runner_mode", "_rt")


def compare(
    results: Any,
    *,
    baseline: str,
    candidate: str,
    campaign: str | Sequence[str] | None = None,
    devices: Sequence[str] | None = None,
    threads: Sequence[int] | None = None,
    alpha: float = 0.05,
    n_boot: int = 2000,
    seed: int = 0,
    by: str = "variant",
    top: int = 5,
    scale_ops: bool = False,
    method: str = "bca",
) -> list[Comparison]:
    """Compare ``candidate`` with ``baseline`` (variants, or runtimes with ``by="runtime"``) in
    ``results`` (a ``store.Results``), one ``Comparison`` per device x threads (x runtime; x variant
    when comparing runtimes). Raises UserError naming what exists when a side is not there."""
    if by not in ("variant", "runtime"):
        raise UserError(f"--by must be variant or runtime (got {by!r}).")
    runs, ops = results.runs, results.ops
    if campaign is not None:
        names = [campaign] if isinstance(campaign, str) else list(campaign)
        runs = runs[runs["campaign"].isin(names)]
    if devices:
        missing = sorted(set(devices) - set(runs["device"].dropna().unique()))
        if missing:
            raise UserError(f"No runs on device(s) {', '.join(missing)}; the runs are on "
                            f"{', '.join(sorted(runs['device'].dropna().unique())) or 'no device'}.")
        runs = runs[runs["device"].isin(list(devices))]
    if threads:
        runs = runs[runs["threads"].isin([int(t) for t in threads])]
    runs = runs[runs["mode"].isin(["latency", "profile"])]
    b_mask, c_mask = _side_mask(runs, baseline, by), _side_mask(runs, candidate, by)
    for label, mask in ((baseline, b_mask), (candidate, c_mask)):
        if not mask.any():
            known = _known(runs, by)
            raise UserError(f"No {by} {label!r} in these results; they have {', '.join(known) or 'nothing'}.")
    b_all = _records(runs[b_mask])
    c_all = _records(runs[c_mask])
    prof_ids = {r["run_id"] for r in (*b_all, *c_all) if r["mode"] == "profile" and r["status"] == "ok"}
    ops_by_run = _ops_by_run(ops, prof_ids)
    ctx = {"alpha": alpha, "n_boot": n_boot, "seed": seed, "top": top, "scale_ops": scale_ops, "method": method,
           "ops": ops_by_run}

    b_groups, c_groups = _group(b_all, ("device", "threads")), _group(c_all, ("device", "threads"))
    out: list[Comparison] = []
    for key in sorted(set(b_groups) & set(c_groups)):
        bg, cg = b_groups[key], c_groups[key]
        if by == "runtime":
            bv, cv = _group(bg, ("variant",)), _group(cg, ("variant",))
            for (variant,) in sorted(k for k in set(bv) & set(cv) if k[0] is not None):
                out.extend(_compare_groups(bv[(variant,)], cv[(variant,)], baseline, candidate, ctx, variant=variant))
            continue
        brt, crt = _group(bg, ("_rt",)), _group(cg, ("_rt",))
        common = sorted(set(brt) & set(crt))
        if common:
            notes = []
            dropped = sorted(k[0] for k in (set(brt) | set(crt)) - set(common))
            if dropped:
                notes.append(f"runs in {', '.join(dropped)} left out: only one side ran there")
            for rt in common:
                out.extend(_compare_groups(brt[rt], crt[rt], baseline, candidate, ctx, extra_notes=notes))
        else:
            out.extend(_compare_groups(bg, cg, baseline, candidate, ctx,
                                       extra_notes=["the sides ran in different runtimes: the ratio mixes "
                                                    "variant and runtime"]))
    if not out:
        raise UserError(f"No device x threads has runs of both {baseline} and {candidate}.")
    return out


def _records(runs: Any) -> list[dict[str, Any]]:
    frame = runs.assign(_rt=_runtime_of(runs))[list(_RUN_COLS)].astype(object)
    frame = frame.where(frame.notna(), None)
    return frame.to_dict("records")


def _group(records: list[dict[str, Any]], keys: tuple[str, ...]) -> dict[tuple[Any, ...], list[dict[str, Any]]]:
    out: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for r in records:
        out.setdefault(tuple(r[k] for k in keys), []).append(r)
    return out


@dataclass(frozen=True)
class _Op:
    op_type: str
    join: str
    delegated: bool | None
    ms: float
    node: int | None


def _ops_by_run(ops: Any, run_ids: set[str]) -> dict[str, list[_Op]]:
    o = ops[(ops["phase"] == "invoke") & ops["run_id"].isin(list(run_ids))]
    node = o["node_index"].astype("Float64").fillna(o["position"].astype("Float64"))
    cols = zip(o["run_id"].tolist(), o["op_type"].astype(object).tolist(), o["delegated"].astype(object).tolist(),
               o["per_run_ms"].astype("float64").fillna(0.0).tolist(), node.astype(object).tolist(), strict=True)
    out: dict[str, list[_Op]] = {}
    for run_id, op_type, delegated, ms, nd in cols:
        t = str(op_type)
        d = None if delegated is None or delegated is _NA() else bool(delegated)
        n = None if nd is None or nd is _NA() else int(nd)
        out.setdefault(run_id, []).append(_Op(t, join_type(t), d, float(ms), n))
    return out


@functools.cache
def _NA() -> Any:  # noqa: N802
    import pandas as pd

    return pd.NA


def _timing_runs(group: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str | None]:
    """The runs whose latencies are compared: the latency runs, else (an imported log with op
    profiling) the profile runs, saying so."""
    ok = [r for r in group if r["status"] == "ok"]
    lat = [r for r in ok if r["mode"] == "latency"]
    if lat:
        return lat, None
    prof = [r for r in ok if r["mode"] == "profile"]
    return prof, "latency from profiled runs (no separate latency runs): profiling overhead included"


def _compare_groups(bg: list[dict[str, Any]], cg: list[dict[str, Any]], baseline: str, candidate: str,
                    ctx: dict[str, Any], variant: str | None = None, extra_notes: Sequence[str] = ()
                    ) -> list[Comparison]:
    b_time, b_note = _timing_runs(bg)
    c_time, c_note = _timing_runs(cg)
    delegates = sorted({r["delegate"] for r in b_time if r["delegate"]} & {r["delegate"] for r in c_time
                                                                          if r["delegate"]}) or [None]
    out = []
    for delegate in delegates:
        bt, ct = b_time, c_time
        if len(delegates) > 1:
            bt = [r for r in b_time if r["delegate"] == delegate]
            ct = [r for r in c_time if r["delegate"] == delegate]
        out.append(_one(bg, cg, bt, ct, baseline, candidate, ctx, variant, delegate,
                        [*extra_notes, *(n for n in dict.fromkeys([b_note, c_note]) if n)]))
    return out


def _values(runs: list[dict[str, Any]], col: str) -> list[float]:
    return [float("nan") if r[col] is None else float(r[col]) for r in runs]


def _one(bg: list[dict[str, Any]], cg: list[dict[str, Any]], bt: list[dict[str, Any]], ct: list[dict[str, Any]],
         baseline: str, candidate: str, ctx: dict[str, Any], variant: str | None, delegate: str | None,
         notes: list[str]) -> Comparison:
    bv = stats.run_values(_values(bt, "p50_us"), _values(bt, "mean_us"))
    cv = stats.run_values(_values(ct, "p50_us"), _values(ct, "mean_us"))
    test = stats.compare_runs(bv, cv, alpha=ctx["alpha"], n_boot=ctx["n_boot"], seed=ctx["seed"],
                              method=ctx["method"], labels=(baseline, candidate))
    notes = [*notes, *test.notes]
    brt, crt = sorted({r["_rt"] for r in bt}), sorted({r["_rt"] for r in ct})
    runtime = ", ".join(brt) if brt == crt else f"{', '.join(brt)} vs {', '.join(crt)}"
    warnings: list[str] = []
    for label, group, timing in ((baseline, bg, bt), (candidate, cg, ct)):
        mode = timing[0]["mode"] if timing else "latency"
        same = [r for r in group if r["mode"] == mode and (delegate is None or r["delegate"] == delegate)]
        warnings.extend(str(w) for w in stats.stability_warnings(same, label))
    first = bg[0]
    comp = Comparison(
        device=str(first["device"]),
        threads=int(first["threads"]),
        runtime=runtime,
        baseline=baseline,
        candidate=candidate,
        n_baseline=test.n_baseline,
        n_candidate=test.n_candidate,
        ratio=test.ratio,
        ci_low=test.ci_low,
        ci_high=test.ci_high,
        p_value=test.p_value,
        verdict=test.verdict,
        top_ops=[],
        ops=[],
        notes=notes,
        warnings=warnings,
        device_model=None if first["device_model"] is None else str(first["device_model"]),
        variant=variant,
        kernels=delegate,
        baseline_ms=None if test.baseline_median is None else test.baseline_median / 1000.0,
        candidate_ms=None if test.candidate_median is None else test.candidate_median / 1000.0,
        confidence=test.confidence,
        min_detectable_ratio=test.min_detectable_ratio,
        runs_to_resolve=test.runs_to_resolve,
        baseline_mem_mb=_memory(bt),
        candidate_mem_mb=_memory(ct),
    )
    _attribute(comp, bg, cg, delegate, ctx)
    return comp


# -- attribution -------------------------------------------------------------------------------
def _profile_choice(bg: list[dict[str, Any]], cg: list[dict[str, Any]], delegate: str | None
                    ) -> tuple[list[str], list[str], str | None, list[str]]:
    """Each side's profile runs in one kernel mode: the latency runs' mode where both sides have it,
    else another mode both have, else each side's own."""
    bp = [r for r in bg if r["status"] == "ok" and r["mode"] == "profile"]
    cp = [r for r in cg if r["status"] == "ok" and r["mode"] == "profile"]
    common = {r["delegate"] for r in bp if r["delegate"]} & {r["delegate"] for r in cp if r["delegate"]}
    order = [d for d in (delegate, "xnnpack", "none") if d] + sorted(common)
    for mode in order:
        if mode in common:
            note = [] if mode == (delegate or mode) else [
                f"no {delegate}-mode profile on both sides: per-op times are from {_mode_name(mode)} profiles"]
            return ([r["run_id"] for r in bp if r["delegate"] == mode],
                    [r["run_id"] for r in cp if r["delegate"] == mode], mode, note)
    return ([r["run_id"] for r in bp], [r["run_id"] for r in cp], None,
            ["the sides were profiled in different kernel modes: op times compare across kernels"])


def _mode_name(mode: str | None) -> str:
    names = {"xnnpack": "XNNPACK-mode", "none": "builtin-mode (TFLite kernels, XNNPACK off)"}
    return names.get(str(mode), f"{mode}-mode")


def _side_ops(run_ids: list[str], ops_by_run: dict[str, list[_Op]]) -> tuple[list[list[_Op]], int]:
    per_run = [ops_by_run[r] for r in run_ids if ops_by_run.get(r)]
    return per_run, len(per_run)


def _attribute(comp: Comparison, bg: list[dict[str, Any]], cg: list[dict[str, Any]], delegate: str | None,
               ctx: dict[str, Any]) -> None:
    b_ids, c_ids, mode, notes = _profile_choice(bg, cg, delegate)
    b_runs, nb = _side_ops(b_ids, ctx["ops"])
    c_runs, nc = _side_ops(c_ids, ctx["ops"])
    if not nb or not nc:
        missing = [s for s, n in ((comp.baseline, nb), (comp.candidate, nc)) if not n]
        comp.notes.append(f"no per-op profile of {' and '.join(missing)}: no attribution")
        return
    bo = [o for run in b_runs for o in run]
    co = [o for run in c_runs for o in run]
    b_total = sum(o.ms for o in bo) / nb
    c_total = sum(o.ms for o in co) / nc
    bs = cs = 1.0
    if ctx["scale_ops"] and comp.baseline_ms and comp.candidate_ms and b_total > 0 and c_total > 0:
        bs, cs = comp.baseline_ms / b_total, comp.candidate_ms / c_total
        comp.ops_scaled = True
    comp.profile_kernels = mode
    comp.notes.extend(notes)

    b_seq, c_seq = _sequence(b_runs[0]), _sequence(c_runs[0])
    if b_seq is not None and b_seq == c_seq:
        comp.join = "node"
        comp.ops = _node_join(bo, co, nb, nc, mode, bs, cs)
    else:
        comp.join = "op_type"
        comp.ops = _type_join(bo, co, nb, nc, mode, bs, cs)
    by_type: dict[str, list[float]] = {}
    for d in comp.ops:
        acc = by_type.setdefault(d.op_type, [0.0, 0.0])
        acc[0] += d.baseline_ms
        acc[1] += d.candidate_ms
    tops = sorted(((t, b, c, c - b) for t, (b, c) in by_type.items()), key=lambda r: -abs(r[3]))
    comp.top_ops = [(t, round(b, 6), round(c, 6), round(d, 6)) for t, b, c, d in tops[: ctx["top"]]]

    how = "on node identity (same graph)" if comp.join == "node" else "on op type (the graphs differ)"
    src = f"{_mode_name(mode)} profile runs ({nb} of {comp.baseline}, {nc} of {comp.candidate})" if mode else \
        "profile runs"
    if comp.ops_scaled:
        scale = (f"scaled to each side's latency median (profiled sums {b_total:.3f} / {c_total:.3f} ms -> "
                 f"{comp.baseline_ms:.3f} / {comp.candidate_ms:.3f} ms)")
    else:
        lat = (f" vs latency medians {comp.baseline_ms:.3f} / {comp.candidate_ms:.3f} ms"
               if comp.baseline_ms and comp.candidate_ms else "")
        scale = f"as profiled, not scaled (profiled sums {b_total:.3f} / {c_total:.3f} ms per invoke{lat})"
    comp.notes.append(f"per-op ms from {src}, joined {how}; {scale}")
    comp.notes.extend(_callouts(comp.baseline, comp.candidate, bo, co, nb, nc, mode, b_total, c_total))


def _sequence(run: list[_Op]) -> list[tuple[int, str]] | None:
    """The op sequence of one profile run (node or position, join type)."""
    if any(o.node is None for o in run):
        return None
    return sorted((o.node, o.join) for o in run)  # type: ignore[misc]


def _paths(ops: list[_Op], mode: str | None) -> str:
    seen = dict.fromkeys(_path(o.op_type, o.delegated, mode) for o in ops)
    return " + ".join(seen) if seen else "-"


def _node_join(bo: list[_Op], co: list[_Op], nb: int, nc: int, mode: str | None, bs: float, cs: float
               ) -> list[OpDelta]:
    b: dict[int, list[_Op]] = {}
    c: dict[int, list[_Op]] = {}
    for o in bo:
        b.setdefault(o.node, []).append(o)  # type: ignore[arg-type]
    for o in co:
        c.setdefault(o.node, []).append(o)  # type: ignore[arg-type]
    out = []
    for node in sorted(b):
        bms = sum(o.ms for o in b[node]) / nb * bs
        cms = sum(o.ms for o in c.get(node, [])) / nc * cs
        out.append(OpDelta(b[node][0].join, int(node), bms, cms, cms - bms, 1, 1,
                           _paths(b[node][:1], mode), _paths(c.get(node, [])[:1], mode)))
    return out


def _type_join(bo: list[_Op], co: list[_Op], nb: int, nc: int, mode: str | None, bs: float, cs: float
               ) -> list[OpDelta]:
    b: dict[str, list[_Op]] = {}
    c: dict[str, list[_Op]] = {}
    for o in bo:
        b.setdefault(o.join, []).append(o)
    for o in co:
        c.setdefault(o.join, []).append(o)
    out = []
    for t in sorted(set(b) | set(c)):
        bl, cl = b.get(t, []), c.get(t, [])
        bms = sum(o.ms for o in bl) / nb * bs
        cms = sum(o.ms for o in cl) / nc * cs
        out.append(OpDelta(t, None, bms, cms, cms - bms, len(bl) / nb, len(cl) / nc, _paths(bl, mode),
                           _paths(cl, mode)))
    return out


def _callouts(baseline: str, candidate: str, bo: list[_Op], co: list[_Op], nb: int, nc: int, mode: str | None,
              b_total: float, c_total: float) -> list[str]:
    """QUANTIZE/DEQUANTIZE ops a side adds, hybrid kernels, and ops that fell out of the delegate."""
    notes: list[str] = []

    def share(ms: float, total: float) -> str:
        return f"{100 * ms / total:.0f} % of its time" if total > 0 else "no time measured"

    def quant_counts(o: list[_Op], n: int) -> dict[str, float]:
        counts: dict[str, float] = {}
        for x in o:
            if _is_quant(x.op_type):
                counts[x.op_type] = counts.get(x.op_type, 0.0) + 1.0 / n
        return counts

    bq, cq = quant_counts(bo, nb), quant_counts(co, nc)
    for side, mine, other, o, n, total in ((candidate, cq, bq, co, nc, c_total), (baseline, bq, cq, bo, nb, b_total)):
        added = {k: v - other.get(k, 0) for k, v in mine.items() if v - other.get(k, 0) > 1e-9}
        if added:
            ms = sum(x.ms for x in o if x.op_type in added) / n
            what = ", ".join(f"{v:g} {k}" + (" (QUANTIZE / DEQUANTIZE)" if k.startswith("Convert") else "")
                             for k, v in added.items())
            notes.append(f"{side} adds {what} ({ms:.3f} ms, {share(ms, total)})")
    for side, o, n, total in ((baseline, bo, nb, b_total), (candidate, co, nc, c_total)):
        hyb = [x for x in o if _is_hybrid(x.op_type)]
        if hyb:
            ms = sum(x.ms for x in hyb) / n
            kinds = ", ".join(sorted({x.op_type for x in hyb}))
            notes.append(f"{side}: {len(hyb) / n:g} hybrid XNNPACK kernel(s) ({kinds}: activations quantized "
                         f"on the fly) take {ms:.3f} ms ({share(ms, total)})")
        if mode == "xnnpack":
            fell: dict[str, list[_Op]] = {}
            for x in o:
                if x.delegated is False and "(" not in x.op_type:
                    fell.setdefault(x.op_type, []).append(x)
            for t, g in sorted(fell.items()):
                ms = sum(x.ms for x in g) / n
                notes.append(f"{side}: {len(g) / n:g} {t} ran outside XNNPACK ({ms:.3f} ms, {share(ms, total)})")
    return notes
