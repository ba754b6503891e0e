"""Which variant to ship on each device, and why.

Per device and thread count, the recommended variant is the fastest (by the chosen metric: the
Harrell-Davis median over process-level runs of their p50, p90 or mean) among the variants that
meet the bounds: top-1 agreement with fp32, SQNR against fp32, real top-1 accuracy when the inputs
came with labels (points below fp32's), and memory. "Fastest" must be decided: the 95 % interval
of its ratio to the runner-up must exclude 1; otherwise it is a ``tie``, settled by the smaller
model and then the more accurate one, and the row says so. A campaign without accuracy runs is
recommended on speed alone (``speed-only``), saying which command adds accuracy.

Everything here reads the campaign's frames; nothing runs on a device.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.errors import UserError

METRICS = {"p50": "p50_us", "p90": "p90_us", "mean": "mean_us"}
DECIDED, TIE, SPEED_ONLY = "decided", "tie", "speed-only"
COLUMNS = ["device", "threads", "recommended", "runner_up", "confidence", "speedup_vs_fp32", "ci_low", "ci_high",
           "top1_agreement", "sqnr_db", "accuracy", "memory_mb", "reason"]
REFERENCE = "fp32"
VARIANT_ORDER = {"fp32": 0, "fp16": 1, "dynamic": 2, "int8": 3}


@dataclass(frozen=True)
class Bound:
    """One bound: a value for every variant, or per variant (``int8=98%,dynamic=99%``)."""

    default: float | None = None
    per_variant: Mapping[str, float] = field(default_factory=dict)

    def of(self, variant: str) -> float | None:
        return self.per_variant.get(variant, self.default)

    @property
    def set(self) -> bool:
        return self.default is not None or bool(self.per_variant)


@dataclass(frozen=True)
class Bounds:
    """What a variant must meet to be shipped. Agreement and accuracy are fractions (0-1)."""

    min_agreement: Bound = field(default_factory=Bound)  # top-1 agreement with fp32
    min_sqnr_db: Bound = field(default_factory=Bound)  # SQNR of its outputs against fp32's
    max_accuracy_drop: Bound = field(default_factory=Bound)  # top-1 accuracy points below fp32's (labels)
    max_memory_mb: Bound = field(default_factory=Bound)


def parse_bound(text: str | None, what: str, *, percent: bool, variants: Iterable[str]) -> Bound:
    """``99%`` / ``0.99`` (percent bounds), ``40`` (dB, MB), or per variant ``int8=98%,dynamic=99%``.
    Raises UserError (exit 2) for a value out of range or a variant the campaign does not have."""
    if text is None or not str(text).strip():
        return Bound()
    known = list(variants)
    default: float | None = None
    per: dict[str, float] = {}
    for part in (p.strip() for p in str(text).split(",") if p.strip()):
        variant, sep, value = part.rpartition("=")
        number = _number(value, what, percent)
        if sep:
            if variant not in known:
                raise UserError(f"{what} names variant {variant!r}, which the campaign does not have; it has "
                                f"{', '.join(known)}.")
            per[variant] = number
        else:
            default = number
    return Bound(default, per)


def _number(value: str, what: str, percent: bool) -> float:
    text = value.strip()
    try:
        if percent:
            number = float(text[:-1]) / 100.0 if text.endswith("%") else float(text)
            if number > 1.0 and not text.endswith("%"):
                number /= 100.0  # "99" means 99 %
        else:
            number = float(text)
    except ValueError:
        raise UserError(f"{what} takes a number{' or a percentage (99%)' if percent else ''}, got {value!r}.") \
            from None
    if percent and not 0.0 <= number <= 1.0:
        raise UserError(f"{what} must be between 0 and 100 % (got {value!r}).")
    if not percent and (number < 0 or not math.isfinite(number)):
        raise UserError(f"{what} must be a non-negative number (got {value!r}).")
    return number


@dataclass
class Candidate:
    """One variant on one device and thread count."""

    variant: str
    values: list[float]  # per-run values of the metric (us)
    median_us: float | None
    model_bytes: int | None
    memory_mb: float | None
    top1_agreement: float | None = None
    sqnr_db: float | None = None  # None: identical to fp32 (infinite)
    accuracy: float | None = None  # real top-1 accuracy (labels)
    has_accuracy: bool = False
    excluded: list[str] = field(default_factory=list)


@dataclass
class Recommendation:
    device: str
    threads: int
    recommended: str
    runner_up: str | None
    confidence: str  # decided | tie | speed-only
    speedup_vs_fp32: float | None
    ci_low: float | None
    ci_high: float | None
    top1_agreement: float | None
    sqnr_db: float | None
    accuracy: float | None
    memory_mb: float | None
    reason: str
    device_model: str | None = None
    excluded: dict[str, list[str]] = field(default_factory=dict)  # variant -> why it may not ship
    facts: dict[str, Any] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        return {c: getattr(self, c) for c in COLUMNS}

    def sentence(self) -> str:
        where = self.device_model and self.device_model != self.device and f"{self.device} ({self.device_model})"
        return f"{where or self.device}{'' if self.threads == 1 else f', {self.threads} threads'}: ship " \
               f"{self.recommended} — {self.reason}"


@dataclass
class Answer:
    """The recommendations of a campaign, and the farm's view of them."""

    rows: list[Recommendation]
    groups: list[str]  # "int8 on 71 devices", most first
    apart: dict[str, list[str]]  # minority answer -> what sets its devices apart
    accuracy_hint: str | None  # the command that adds accuracy runs, when there are none

    def frame(self) -> Any:
        import pandas as pd

        return pd.DataFrame([r.row() for r in self.rows], columns=COLUMNS)


def recommend(results: Any, *, root: Any = None, campaign: str | None = None, metric: str = "p50",
              bounds: Bounds | None = None, threads: Sequence[int] | None = None, alpha: float = 0.05,
              meta: Mapping[str, Any] | None = None) -> Answer:
    """The answer for every device x thread count of ``results`` (a campaign's frames). ``root``:
    the store, where the accuracy runs' outputs are; ``meta``: campaign.json (for the hint)."""
    from harness.analysis.accuracy import accuracy_table

    if metric not in METRICS:
        raise UserError(f"--metric must be one of {', '.join(METRICS)} (got {metric!r}).")
    bounds = bounds or Bounds()
    runs = results.runs
    latency = runs[(runs["mode"] == "latency") & (runs["status"] == "ok")]
    if threads:
        have = sorted({int(t) for t in latency["threads"].dropna().unique()})
        unknown = [t for t in threads if t not in have]
        if unknown:
            raise UserError(f"--threads {','.join(map(str, unknown))}: the campaign ran {','.join(map(str, have))}.")
        latency = latency[latency["threads"].isin(list(threads))]
    if latency.empty:
        raise UserError("the campaign has no successful latency runs to recommend from; `harness results show` "
                        "says what happened to them.")
    acc = accuracy_table(root, runs) if root is not None and (runs["mode"] == "accuracy").any() else None
    accuracy = _accuracy_by_variant(acc)
    memory = _memory(runs)
    rows: list[Recommendation] = []
    column = METRICS[metric]
    pairs: dict[tuple[str, str], list[tuple[str, int]]] = {}
    for (device, n_threads), group in latency.groupby(["device", "threads"], observed=True):
        cands = _candidates(group, column, accuracy.get(str(device), {}), memory.get(str(device), {}))
        rec = _decide(str(device), int(n_threads), cands, bounds, alpha, metric)
        rec.device_model = _first(group["device_model"])
        rec.facts = _facts(group)
        rows.append(rec)
        if rec.runner_up:
            pairs.setdefault((rec.recommended, rec.runner_up), []).append((rec.device, rec.threads))
    _add_causes(results, rows, pairs, campaign)
    has_accuracy = acc is not None and not acc.empty
    hint = None if has_accuracy else _accuracy_hint(campaign, meta)
    if not has_accuracy:
        for r in rows:
            r.confidence = SPEED_ONLY
    groups, apart = _farm(rows)
    return Answer(rows, groups, apart, hint)


def _first(series: Any) -> str | None:
    values = [v for v in series.dropna().unique()]
    return str(values[0]) if values else None


def _accuracy_by_variant(acc: Any) -> dict[str, dict[str, dict[str, float | None]]]:
    """{device: {variant: {top1_agreement, sqnr_db, accuracy}}}: the worst output of each."""
    out: dict[str, dict[str, dict[str, float | None]]] = {}
    if acc is None or acc.empty:
        return out
    for (device, variant), group in acc.groupby(["device", "variant"], observed=True):
        top1 = [float(v) for v in group["top1_agreement"].dropna()]
        sqnr = [float(v) for v in group["sqnr_db"].dropna()]
        real = [float(v) for v in group["accuracy"].dropna()] if "accuracy" in group else []
        out.setdefault(str(device), {})[str(variant)] = {
            "top1_agreement": min(top1) if top1 else None,
            "sqnr_db": min(sqnr) if sqnr else None,  # none at all: identical outputs (infinite)
            "accuracy": min(real) if real else None,
        }
    return out


def _memory(runs: Any) -> dict[str, dict[str, float]]:
    """{device: {variant: median memory (MB)}} over the runs that measured it (``analysis.memory``)."""
    import numpy as np

    from harness.analysis.memory import run_memory_mb

    mem = run_memory_mb(runs)
    out: dict[str, dict[str, float]] = {}
    measured = runs.assign(_mem=mem)[mem.notna() & (runs["status"] == "ok")]
    for (device, variant), group in measured.groupby(["device", "variant"], observed=True):
        out.setdefault(str(device), {})[str(variant)] = float(np.median(group["_mem"].astype(float)))
    return out


def _candidates(group: Any, column: str, accuracy: Mapping[str, Mapping[str, float | None]],
                memory: Mapping[str, float]) -> list[Candidate]:
    from harness.analysis.stats import hd_median, run_values

    cands = []
    for variant, runs in group.groupby("variant", observed=True):
        values = run_values(runs[column], runs["mean_us"]) if column == "p50_us" else run_values(runs[column])
        sizes = runs["model_bytes"].dropna()
        acc = accuracy.get(str(variant))
        cands.append(Candidate(
            variant=str(variant), values=[float(v) for v in values],
            median_us=float(hd_median(values)) if values.size else None,
            model_bytes=int(sizes.iloc[0]) if len(sizes) else None, memory_mb=memory.get(str(variant)),
            top1_agreement=acc["top1_agreement"] if acc else None, sqnr_db=acc["sqnr_db"] if acc else None,
            accuracy=acc["accuracy"] if acc else None, has_accuracy=acc is not None,
        ))
    return sorted(cands, key=lambda c: (math.inf if c.median_us is None else c.median_us,
                                        VARIANT_ORDER.get(c.variant, 9)))


def _check(c: Candidate, bounds: Bounds, reference: Candidate | None) -> None:
    """Fill ``c.excluded`` with every bound it fails (fp32 is the reference and meets them)."""
    v = c.variant
    if v != REFERENCE and c.has_accuracy:
        low = bounds.min_agreement.of(v)
        if low is not None and c.top1_agreement is not None and c.top1_agreement < low:
            c.excluded.append(f"top-1 agreement {100 * c.top1_agreement:.1f} % < {100 * low:g} %")
        sqnr = bounds.min_sqnr_db.of(v)
        if sqnr is not None and c.sqnr_db is not None and c.sqnr_db < sqnr:
            c.excluded.append(f"SQNR {c.sqnr_db:.1f} dB < {sqnr:g} dB")
        drop = bounds.max_accuracy_drop.of(v)
        if drop is not None and reference is not None and c.accuracy is not None and reference.accuracy is not None \
                and reference.accuracy - c.accuracy > drop:
            c.excluded.append(f"top-1 accuracy {100 * c.accuracy:.1f} %, {100 * (reference.accuracy - c.accuracy):.1f} "
                              f"points below fp32's (at most {100 * drop:g})")
    mem = bounds.max_memory_mb.of(v)
    if mem is not None and c.memory_mb is not None and c.memory_mb > mem:
        c.excluded.append(f"memory {c.memory_mb:.1f} MB > {mem:g} MB")
    if c.median_us is None:
        c.excluded.append("no successful latency run")


def _decide(device: str, threads: int, cands: list[Candidate], bounds: Bounds, alpha: float,
            metric: str) -> Recommendation:
    from harness.analysis.stats import compare_runs

    reference = next((c for c in cands if c.variant == REFERENCE), None)
    for c in cands:
        _check(c, bounds, reference)
    ok = [c for c in cands if not c.excluded]
    excluded = {c.variant: list(c.excluded) for c in cands if c.excluded}
    if not ok:
        raise UserError(f"{device} ({threads} thread(s)): no variant meets the bounds ("
                        + "; ".join(f"{v}: {', '.join(w)}" for v, w in excluded.items())
                        + "). Loosen a bound, or measure more variants.")
    best = ok[0]
    runner_up = ok[1] if len(ok) > 1 else None
    confidence, why = DECIDED, ""
    if runner_up is not None:
        test = compare_runs(runner_up.values, best.values, alpha=alpha)  # ratio = best / runner-up
        if test.ci_high is not None and test.ci_high < 1.0:
            why = (f"{1 / test.ratio:.2f}x faster than {runner_up.variant} ({100 * (1 - alpha):.0f} % CI "
                   f"{1 / test.ci_high:.2f}-{1 / test.ci_low:.2f})") if test.ratio and test.ci_low else ""
        else:
            confidence = TIE
            tied = [c for c in ok if c is best or c is runner_up]
            settled = sorted(tied, key=lambda c: (c.model_bytes or math.inf,
                                                  -(c.top1_agreement if c.top1_agreement is not None else 1.0),
                                                  VARIANT_ORDER.get(c.variant, 9)))[0]
            interval = "" if test.ci_low is None else \
                f" ({100 * (1 - alpha):.0f} % CI of the ratio {test.ci_low:.2f}-{test.ci_high:.2f} includes 1)"
            how = "smaller model" if (settled.model_bytes or 0) != (
                (runner_up if settled is best else best).model_bytes or 0) else "more accurate"
            other = runner_up if settled is best else best
            best, runner_up = settled, other
            why = f"tie with {other.variant} on speed{interval}; settled by the {how}"
    speedup = lo = hi = None
    if reference is not None and best.variant != REFERENCE and reference.values and best.values:
        vs = compare_runs(reference.values, best.values, alpha=alpha)
        if vs.ratio:
            speedup = 1.0 / vs.ratio
            if vs.ci_low and vs.ci_high:
                lo, hi = 1.0 / vs.ci_high, 1.0 / vs.ci_low
    elif best.variant == REFERENCE:
        speedup = 1.0
    parts = []
    if speedup is not None and best.variant != REFERENCE:
        parts.append(f"{speedup:.2f}x the speed of fp32" + (f" (CI {lo:.2f}-{hi:.2f})" if lo is not None else ""))
    if why:
        parts.append(why)
    elif runner_up is None:
        parts.append("the only variant that meets the bounds" if excluded else "the only variant measured")
    if best.has_accuracy and best.variant != REFERENCE:
        cost = []
        if best.top1_agreement is not None:
            cost.append(f"top-1 agreement {100 * best.top1_agreement:.1f} %")
        if best.sqnr_db is not None:
            cost.append(f"SQNR {best.sqnr_db:.1f} dB")
        if best.accuracy is not None and reference is not None and reference.accuracy is not None:
            cost.append(f"accuracy {100 * best.accuracy:.1f} % (fp32 {100 * reference.accuracy:.1f} %)")
        if cost:
            parts.append("accuracy cost: " + ", ".join(cost))
    for variant, reasons in excluded.items():
        parts.append(f"{variant} excluded: {', '.join(reasons)}")
    return Recommendation(
        device=device, threads=threads, recommended=best.variant,
        runner_up=runner_up.variant if runner_up else None, confidence=confidence,
        speedup_vs_fp32=speedup, ci_low=lo, ci_high=hi, top1_agreement=best.top1_agreement,
        sqnr_db=best.sqnr_db, accuracy=best.accuracy, memory_mb=best.memory_mb,
        reason="; ".join(parts), excluded=excluded,
    )


def _add_causes(results: Any, rows: list[Recommendation], pairs: Mapping[tuple[str, str], list[tuple[str, int]]],
                campaign: str | None) -> None:
    """The op-level cause of each runner-up's loss, from compare's attribution (one compare per pair)."""
    from harness.analysis.compare import compare

    by_key = {(r.device, r.threads): r for r in rows}
    for (best, second), where in pairs.items():
        try:
            comps = compare(results, baseline=best, candidate=second, campaign=campaign,
                            devices=sorted({d for d, _ in where}), threads=sorted({t for _, t in where}))
        except UserError:
            continue
        for comp in comps:
            rec = by_key.get((comp.device, comp.threads))
            if rec is None or rec.runner_up != second:
                continue
            cause = _cause(comp, second)
            if cause:
                rec.reason = f"{rec.reason}; {cause}"


CAUSE_SHARE = 20.0
"""A note of compare's attribution names the cause when the time it explains is at least this share
(percent) of the loser's time; else the op type with the largest delta does."""


def _cause(comp: Any, loser: str) -> str | None:
    """The op-level cause of ``loser``'s loss: the attribution note about it that explains the most
    of its time (ops outside XNNPACK, hybrid kernels, added QUANTIZE/DEQUANTIZE), else the op type
    whose time grew the most."""
    shares = []
    for note in comp.notes:
        found = re.search(r"(\d+(?:\.\d+)?) % of its time", note)
        if note.startswith(f"{loser}:") and found:
            shares.append((float(found.group(1)), note))
    if shares and max(shares)[0] >= CAUSE_SHARE:
        return max(shares)[1]
    if comp.top_ops:
        op, _b, _c, delta = comp.top_ops[0]
        if delta > 0:
            return f"{loser} loses most in {op} (+{delta:.3f} ms per invoke)"
    return None


def _facts(group: Any) -> dict[str, Any]:
    """What may set a device apart: SoC, ABI, runtime, OS, cores (from its runs and facts)."""
    out: dict[str, Any] = {}
    for key in ("runtime", "runtime_version", "abi", "os", "cores", "device_model"):
        if key in group:
            v = _first(group[key])
            if v is not None:
                out[key] = v
    facts_json = _first(group["facts_json"]) if "facts_json" in group else None
    if facts_json:
        try:
            facts = json.loads(facts_json)
            if facts.get("soc"):
                out["soc"] = facts["soc"]
        except ValueError:
            pass
    return out


def _farm(rows: list[Recommendation]) -> tuple[list[str], dict[str, list[str]]]:
    """Devices grouped by answer (most first), and for each minority answer what its devices share
    that the others mostly do not (facts, and the op-level causes they name)."""
    counts = Counter(r.recommended for r in rows)
    groups = [f"{v} on {n} device{'s' if n != 1 else ''}" for v, n in counts.most_common()]
    apart: dict[str, list[str]] = {}
    if len(counts) < 2:
        return groups, apart
    majority = counts.most_common(1)[0][0]
    for variant, _n in counts.most_common()[1:]:
        mine = [r for r in rows if r.recommended == variant]
        others = [r for r in rows if r.recommended != variant]
        found = []
        for key in ("soc", "abi", "runtime", "runtime_version", "os", "cores", "device_model"):
            values = {str(r.facts.get(key)) for r in mine if r.facts.get(key) is not None}
            if len(values) != 1:
                continue
            value = values.pop()
            share = sum(1 for r in others if str(r.facts.get(key)) == value) / max(1, len(others))
            if share < 0.5:
                found.append(f"{key} {value} ({len(mine)} of {len(mine)} here, {100 * share:.0f} % of the others)")
        causes = Counter(re.sub(r"\(.*?\)", "", r.reason.rsplit("; ", 1)[-1]).strip() for r in mine
                         if r.runner_up == majority)
        for cause, n in causes.most_common(1):
            if n > 1 or len(mine) == 1:
                found.append(f"where {majority} loses: {cause}")
        apart[variant] = found or [f"nothing in the recorded facts; compare {variant} and {majority} on these devices"]
    return groups, apart


def _accuracy_hint(campaign: str | None, meta: Mapping[str, Any] | None) -> str:
    args = dict((meta or {}).get("args") or {})
    model = f"--model {args['model']}" if args.get("model") else f"--example {args.get('example') or 'mobilenet_v2'}"
    device = args.get("device") or "local"
    return (f"no accuracy runs: recommended on speed alone. `harness run --campaign {campaign or 'CAMPAIGN'} "
            f"--device {device} {model} --accuracy` adds them (what landed is not run again)")


def changes(previous: Sequence[Mapping[str, Any]], now: Sequence[Recommendation]) -> list[str]:
    """What changed against an earlier ``--format json`` output: one line per device x threads whose
    recommendation changed, with why (the new reason)."""
    before = {(str(r["device"]), int(r["threads"])): r for r in previous}
    out = []
    for rec in now:
        old = before.get((rec.device, rec.threads))
        if old is not None and old.get("recommended") != rec.recommended:
            out.append(f"{rec.device} ({rec.threads} thread(s)): {old.get('recommended')} -> {rec.recommended}: "
                       f"{rec.reason}")
    return out
