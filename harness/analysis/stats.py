"""Statistics of process-level runs (pure numpy / scipy, no I/O): the one owner of harness's
median, its interval and its stability warnings.

A *run value* is one process-level run's median invoke latency (``p50_us``; ``mean_us`` where
the runner gave no percentile). The runs of one side are independent samples of that value:
invokes inside one process are not (they share a warm cache, a frequency, a memory layout), so
the statistics here never treat invokes as samples.

- ``hd_median``: *the* median of harness — the Harrell-Davis estimate (a beta-weighted mean of
  the order statistics). With 5-10 runs it is far less jumpy than the middle value, which gives
  the interval its power (a 5 % change at 3 % spread is found about 9 times in 10 with 10 runs a
  side, against 8 with the plain median). With 1 run it is that run's value, with 2 their mean.
  ``run_median`` applies it to a group's runs: the ``p50_ms`` of `harness run`'s summary, the
  medians of `harness compare` and `harness report`, the centre of `--precision`'s interval.
- ``median_ci`` (one sample) and ``bootstrap_ratio_ci`` (candidate / baseline): bootstrap
  intervals of that median over the same machinery (each sample resampled on its own from one
  generator with a fixed seed, so a result is reproducible; BCa by default, percentile on request).
- ``compare_runs``: ratio of medians, its interval, the rank test (two-sided Mann-Whitney U,
  ``rank_test``) and the ``verdict``: "faster" / "slower" only when the interval excludes 1 *and*
  p < alpha; otherwise "no detectable difference". With fewer than 2 runs on a side there is a
  ratio, no interval, no p-value, and the verdict stays "no detectable difference".
- ``stability_warnings``: pyperf-like warnings on one group of runs (``StabilityWarning``: spread,
  outliers, too few runs, inconclusive or throttled runs, emulator), with the thresholds below.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

FASTER = "faster"
SLOWER = "slower"
NO_DIFFERENCE = "no detectable difference"
INCONCLUSIVE = "inconclusive"  # fewer than 2 runs a side: a ratio, but no interval and no test
POWER = 0.80
"""The power at which ``min_detectable_ratio`` is stated: the ratio the comparison would call 80 %
of the time with these runs and this spread."""
ARE_RANK_TEST = 3.0 / math.pi
"""Asymptotic relative efficiency of the Mann-Whitney test to the t test (normal data): the rank
test needs 1/ARE times the runs for the same power."""
VERDICT_COST = 1.15
"""A verdict needs the interval and the rank test to agree, which costs power against either one
alone: the detectable log-ratio of the rank test, times this, is what harness calls 80 % of the
time (calibrated by benchmarks/bench_power.py over 5, 10 and 20 runs a side at 3 % spread)."""

# Stability thresholds: one set, for `harness run`, `harness compare`, `harness report` and
# `--precision`. The first two are pyperf's ("std >= 10 % of the mean", "min / max >= 50 % off"),
# applied to what pyperf applies them to: its values are per-process results, ours are run values
# (a single slow invoke among thousands moves no run's median, so invokes are checked only for
# spread, never for outliers).
SPREAD_CV = 0.10
"""Spread: the std of the run values (or of one run's invokes) at 10 % of their mean or more."""
OUTLIER_OFF = 0.50
"""Outlier run: the fastest or slowest run value 50 % or more off the median of the runs."""
MIN_RUNS = 5
"""Too few runs below this many ok runs of a group. 5 is `harness run`'s default --repeats; it is
the fewest with which the BCa interval of the median has a jackknife and resamples worth the name
(with 3 runs there are only 10 distinct resamples), and the fewest a side with which the rank test
of `harness compare` can reach p < 0.01 (5 vs 5: p >= 0.008; 3 vs 3: p >= 0.1, never < 0.05).
`--precision` computes no interval, and so never stops, below it."""


@dataclass(frozen=True)
class RatioTest:
    """The statistics of one comparison. ``ratio`` is candidate / baseline (below 1: faster)."""

    n_baseline: int
    n_candidate: int
    baseline_median: float | None
    candidate_median: float | None
    ratio: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    verdict: str
    confidence: float = 0.95
    notes: list[str] = field(default_factory=list)
    min_detectable_ratio: float | None = None  # at POWER, with these runs and this spread
    runs_to_resolve: int | None = None  # runs a side that would resolve the ratio seen (no verdict yet)


def run_values(p50_us: Any, mean_us: Any = None) -> np.ndarray:
    """Each run's value: its p50, or its mean where the p50 is null; runs with neither are dropped."""
    p50 = np.asarray(p50_us, dtype="float64")
    if mean_us is not None:
        mean = np.asarray(mean_us, dtype="float64")
        p50 = np.where(np.isnan(p50), mean, p50)
    return p50[~np.isnan(p50)]


@functools.lru_cache(maxsize=256)
def _hd_weights(n: int) -> np.ndarray:
    from scipy.stats import beta

    a = (n + 1) / 2.0
    w = np.diff(beta.cdf(np.arange(n + 1) / n, a, a))
    w.setflags(write=False)
    return w


def hd_median(values: Any, axis: int = -1) -> Any:
    """Harrell-Davis median along ``axis`` (NaN-free input): harness's one median estimator."""
    x = np.sort(np.asarray(values, dtype="float64"), axis=axis)
    n = x.shape[axis]
    if n == 0:
        return np.nan
    return np.moveaxis(x, axis, -1) @ _hd_weights(n)


def run_median(p50_us: Any, mean_us: Any = None) -> float | None:
    """The median latency (us) of a group of runs: ``hd_median`` of their run values; None when
    no run has one."""
    values = run_values(p50_us, mean_us)
    return float(hd_median(values)) if values.size else None


def _bootstrap_ci(samples: tuple[np.ndarray, ...], statistic: Callable[..., Any], *, n_boot: int, confidence: float,
                  seed: int, method: str) -> tuple[float, float]:
    """Bootstrap interval of ``statistic(*samples)``: each sample resampled on its own (in order,
    from one generator seeded with ``seed``), then the percentile or BCa interval of the resampled
    statistics. ``statistic`` takes arrays of shape (..., n) and reduces the last axis."""
    if any(s.size < 2 for s in samples):
        raise ValueError("a bootstrap interval needs at least 2 runs in each sample")
    rng = np.random.default_rng(seed)
    resampled = [s[rng.integers(0, s.size, size=(n_boot, s.size))] for s in samples]
    with np.errstate(divide="ignore", invalid="ignore"):
        boot = np.asarray(statistic(*resampled), dtype="float64")
    alpha = 1.0 - confidence
    if method == "percentile":
        lo, hi = np.quantile(boot, [alpha / 2, 1 - alpha / 2])
    elif method == "bca":
        lo, hi = _bca(boot, samples, statistic, alpha)
    else:
        raise ValueError(f"method must be 'percentile' or 'bca', not {method!r}")
    return float(lo), float(hi)


def _bca(boot: np.ndarray, samples: tuple[np.ndarray, ...], statistic: Callable[..., Any], alpha: float
         ) -> tuple[float, float]:
    """Bias-corrected and accelerated quantiles of ``boot``; the acceleration from a jackknife that
    leaves one value out of one sample at a time."""
    from scipy.stats import norm

    theta = float(statistic(*samples))
    prop = (np.sum(boot < theta) + 0.5 * np.sum(boot == theta)) / boot.size
    z0 = norm.ppf(np.clip(prop, 1e-6, 1 - 1e-6))
    jack = []
    for k, s in enumerate(samples):
        leave_one_out = np.broadcast_to(s, (s.size, s.size))[~np.eye(s.size, dtype=bool)].reshape(s.size, -1)
        jack.append(np.atleast_1d(statistic(*(leave_one_out if j == k else o for j, o in enumerate(samples)))))
    j = np.concatenate(jack)
    d = j.mean() - j
    denom = 6.0 * np.sum(d**2) ** 1.5
    a = float(np.sum(d**3) / denom) if denom > 0 else 0.0
    qs = []
    for z in (norm.ppf(alpha / 2), norm.ppf(1 - alpha / 2)):
        adj = norm.cdf(z0 + (z0 + z) / (1 - a * (z0 + z)))
        qs.append(float(np.clip(adj, 0.0, 1.0)))
    lo, hi = np.quantile(boot, qs)
    return float(lo), float(hi)


def _log_ratio(baseline: Any, candidate: Any) -> Any:
    return np.log(hd_median(candidate)) - np.log(hd_median(baseline))  # symmetric for faster and slower


def median_ci(
    values: Any,
    *,
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
    method: str = "bca",
) -> tuple[float, float]:
    """Bootstrap interval of ``hd_median(values)`` (one sample of run values, at least 2; NaNs
    dropped): the interval `--precision` narrows, by the machinery of ``bootstrap_ratio_ci``."""
    x = np.asarray(values, dtype="float64")
    return _bootstrap_ci((x[~np.isnan(x)],), hd_median, n_boot=n_boot, confidence=confidence, seed=seed,
                         method=method)


def bootstrap_ratio_ci(
    baseline: Any,
    candidate: Any,
    *,
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
    method: str = "bca",
) -> tuple[float, float]:
    """Bootstrap interval of hd_median(candidate) / hd_median(baseline); each side resampled on its own.

    ``method`` is "percentile" or "bca" (bias-corrected and accelerated, by jackknife). Both
    sides need at least 2 values.
    """
    b = np.asarray(baseline, dtype="float64")
    c = np.asarray(candidate, dtype="float64")
    lo, hi = _bootstrap_ci((b, c), _log_ratio, n_boot=n_boot, confidence=confidence, seed=seed, method=method)
    return math.exp(lo), math.exp(hi)


def _log_spread(b: np.ndarray, c: np.ndarray) -> float | None:
    """The pooled standard deviation of the log run values of both sides (None below 2 runs a side)."""
    if b.size < 2 or c.size < 2 or (b <= 0).any() or (c <= 0).any():
        return None
    lb, lc = np.log(b), np.log(c)
    pooled = ((b.size - 1) * lb.var(ddof=1) + (c.size - 1) * lc.var(ddof=1)) / (b.size + c.size - 2)
    return float(math.sqrt(pooled))


def _min_p(n1: int, n2: int) -> float:
    """The smallest two-sided p-value the exact rank test can give with n1 and n2 runs."""
    if n1 + n2 > 60:
        return 0.0  # below any alpha anyone uses (2 / C(60, 30) is about 1e-17)
    return 2.0 / math.comb(n1 + n2, n1)


def _detectable_log(sigma: float, n1: int, n2: int, alpha: float, power: float) -> float:
    """The smallest |log ratio| a verdict is reached for with ``power`` at ``alpha`` (normal
    approximation with t quantiles, divided by the rank test's efficiency, times VERDICT_COST)."""
    from scipy.stats import t

    df = max(n1 + n2 - 2, 1)
    return float((t.ppf(1 - alpha / 2, df) + t.ppf(power, df)) * sigma * math.sqrt(1 / n1 + 1 / n2)
                 / math.sqrt(ARE_RANK_TEST) * VERDICT_COST)


def min_detectable_ratio(baseline: Any, candidate: Any, *, alpha: float = 0.05, power: float = POWER) -> float | None:
    """The smallest slowdown (ratio > 1; a speed-up of its inverse) these runs would call with
    ``power``: from the spread of the runs' log values and their counts. None when it cannot be
    stated (fewer than 2 runs a side), ``math.inf`` when no difference can be called at all (the
    rank test cannot reach p < alpha with so few runs)."""
    b = np.asarray(baseline, dtype="float64")
    c = np.asarray(candidate, dtype="float64")
    b, c = b[~np.isnan(b)], c[~np.isnan(c)]
    sigma = _log_spread(b, c)
    if sigma is None:
        return None
    if _min_p(b.size, c.size) >= alpha:
        return math.inf
    return math.exp(_detectable_log(sigma, b.size, c.size, alpha, power))


def runs_to_resolve(baseline: Any, candidate: Any, ratio: float, *, alpha: float = 0.05, power: float = POWER,
                    most: int = 10_000) -> int | None:
    """Runs a side (the same on both) at which a true ``ratio`` with this spread would be called
    with ``power``; None when the spread is unknown, or the ratio is 1 or beyond ``most`` runs."""
    b = np.asarray(baseline, dtype="float64")
    c = np.asarray(candidate, dtype="float64")
    sigma = _log_spread(b[~np.isnan(b)], c[~np.isnan(c)])
    if sigma is None or ratio <= 0 or ratio == 1.0:
        return None
    target = abs(math.log(ratio))
    n = 2
    while n <= most:
        if _min_p(n, n) < alpha and _detectable_log(sigma, n, n, alpha, power) <= target:
            return n
        n = n + 1 if n < 100 else int(n * 1.1)
    return None


def rank_test(baseline: Any, candidate: Any) -> float:
    """Two-sided Mann-Whitney U p-value (exact for small samples without ties)."""
    from scipy.stats import mannwhitneyu

    b = np.asarray(baseline, dtype="float64")
    c = np.asarray(candidate, dtype="float64")
    if np.all(b == b[0]) and np.all(c == b[0]):
        return 1.0  # identical constants: scipy would return nan
    return float(mannwhitneyu(c, b, alternative="two-sided").pvalue)


def verdict(ratio: float | None, ci_low: float | None, ci_high: float | None, p_value: float | None,
            alpha: float = 0.05) -> str:
    """ "faster" / "slower" only when the interval excludes 1 and p < alpha; else no difference."""
    if ratio is None or ci_low is None or ci_high is None or p_value is None or not p_value < alpha:
        return NO_DIFFERENCE
    if ci_high < 1.0:
        return FASTER
    if ci_low > 1.0:
        return SLOWER
    return NO_DIFFERENCE


def compare_runs(
    baseline: Any,
    candidate: Any,
    *,
    alpha: float = 0.05,
    n_boot: int = 2000,
    seed: int = 0,
    method: str = "bca",
    labels: tuple[str, str] = ("baseline", "candidate"),
) -> RatioTest:
    """Ratio of medians, its bootstrap interval at 1 - alpha, the rank test and the verdict."""
    b = np.asarray(baseline, dtype="float64")
    c = np.asarray(candidate, dtype="float64")
    b, c = b[~np.isnan(b)], c[~np.isnan(c)]
    bmed = float(hd_median(b)) if b.size else None
    cmed = float(hd_median(c)) if c.size else None
    ratio = cmed / bmed if bmed and cmed is not None and bmed > 0 else None
    notes: list[str] = []
    short = [f"{n} run(s) of {label}" for n, label in ((b.size, labels[0]), (c.size, labels[1])) if n < 2]
    if ratio is None or short:
        if short:
            notes.append("interval cannot be computed: " + ", ".join(short))
        return RatioTest(int(b.size), int(c.size), bmed, cmed, ratio, None, None, None, INCONCLUSIVE,
                         1.0 - alpha, notes)
    lo, hi = bootstrap_ratio_ci(b, c, n_boot=n_boot, confidence=1.0 - alpha, seed=seed, method=method)
    p = rank_test(b, c)
    if _min_p(b.size, c.size) >= alpha:
        notes.append(f"with {b.size} and {c.size} runs the rank test cannot reach p < {alpha:g}: no difference "
                     "can be called, however large")
    called = verdict(ratio, lo, hi, p, alpha)
    mdr = min_detectable_ratio(b, c, alpha=alpha)
    need = runs_to_resolve(b, c, ratio, alpha=alpha) if called == NO_DIFFERENCE else None
    return RatioTest(int(b.size), int(c.size), bmed, cmed, ratio, lo, hi, p, called, 1.0 - alpha, notes,
                     min_detectable_ratio=mdr, runs_to_resolve=need)


# StabilityWarning kinds
TOO_FEW_RUNS = "too few runs"
UNSTABLE_ACROSS_RUNS = "unstable across runs"
OUTLIER_RUN = "outlier run"
UNSTABLE_WITHIN_RUNS = "unstable within runs"
INCONCLUSIVE = "inconclusive"
THROTTLED = "throttled"
EMULATOR = "emulator"
NOT_AS_ASKED = "not as asked"


@dataclass(frozen=True)
class StabilityWarning:
    """One warning on one group of runs: ``kind`` (one of the kinds above), ``subject`` (which
    runs, as the caller named them: "local int8 t1", or a side of a comparison) and ``message``
    (what is wrong, with the numbers). ``str()`` gives "subject: kind: message"."""

    kind: str
    subject: str
    message: str

    def __str__(self) -> str:
        return f"{self.subject}: {self.kind}: {self.message}" if self.subject else f"{self.kind}: {self.message}"


def stability_warnings(runs: Any, subject: str = "") -> list[StabilityWarning]:
    """pyperf-like warnings on one group of process-level runs — one variant (or runtime) on one
    device and thread count, in one mode, any status — given as a runs frame or its records
    (mappings with ``status``, ``p50_us``, ``mean_us``, ``std_us``, ``facts_json``, and where known
    ``error_message`` and ``throttled``). The thresholds are SPREAD_CV, OUTLIER_OFF and MIN_RUNS."""
    records: Iterable[Mapping[str, Any]] = runs.to_dict("records") if hasattr(runs, "to_dict") else runs
    ok: list[Mapping[str, Any]] = []
    inconclusive: list[Mapping[str, Any]] = []
    emulator = False
    for r in records:
        status = r.get("status") if isinstance(r.get("status"), str) else None
        if status == "ok":
            ok.append(r)
        elif status == "inconclusive":
            inconclusive.append(r)
        emulator = emulator or _is_emulator(r.get("facts_json"))
    out: list[StabilityWarning] = []

    def warn(kind: str, message: str) -> None:
        out.append(StabilityWarning(kind, subject, message))

    values = run_values([_float(r.get("p50_us")) for r in ok], [_float(r.get("mean_us")) for r in ok])
    if values.size and values.size < MIN_RUNS:
        warn(TOO_FEW_RUNS, f"{values.size} (at least {MIN_RUNS} give a usable interval)")
    if values.size >= 2:
        mean, std = float(values.mean()), float(values.std(ddof=1))
        if mean > 0 and std >= SPREAD_CV * mean:
            warn(UNSTABLE_ACROSS_RUNS, f"std is {100 * std / mean:.0f} % of the mean")
        med = float(hd_median(values))
        lo_off, hi_off = (med - values.min()) / med, (values.max() - med) / med
        if med > 0 and max(lo_off, hi_off) >= OUTLIER_OFF:
            which = f"max is {100 * hi_off:.0f} % above" if hi_off >= lo_off else f"min is {100 * lo_off:.0f} % below"
            warn(OUTLIER_RUN, f"its {which} the median of the runs")
    with np.errstate(divide="ignore", invalid="ignore"):
        within = np.array([_float(r.get("std_us")) for r in ok]) / np.array([_float(r.get("mean_us")) for r in ok])
    within = within[np.isfinite(within)]
    if within.size and within.max() >= SPREAD_CV:
        n_bad = int((within >= SPREAD_CV).sum())
        warn(UNSTABLE_WITHIN_RUNS, f"std of invokes is {100 * float(within.max()):.0f} % of the mean in {n_bad} of "
                                   f"{within.size} run(s)")
    if inconclusive:
        why = sorted({str(r["error_message"]) for r in inconclusive if isinstance(r.get("error_message"), str)})
        warn(INCONCLUSIVE, f"{len(inconclusive)} run(s) left out" + (f": {'; '.join(why[:2])}" if why else ""))
    kept = sum(1 for r in ok if r.get("throttled") is True or r.get("throttled") is np.True_)
    if kept:
        warn(THROTTLED, f"{kept} run(s) measured while the device throttled, kept (--keep-throttled)")
    mismatched = _not_as_asked(ok)
    if mismatched:
        warn(NOT_AS_ASKED, f"the runner reported {mismatched}")
    if emulator:
        warn(EMULATOR, "timings test plumbing only; they do not say which variant is faster on hardware")
    return out


def _not_as_asked(runs: Sequence[Mapping[str, Any]]) -> str:
    """What runners reported doing other than what was asked (threads, delegate, mode), e.g. a
    benchmark_model build that ignored --num_threads; "" when every run did as asked."""
    seen: dict[str, set[str]] = {}
    for r in runs:
        for column in ("threads", "delegate", "mode"):
            asked, reported = r.get(column), r.get(f"runner_{column}")
            if _known(asked) and _known(reported) and str(reported) != str(asked):
                seen.setdefault(column, set()).add(f"{reported} (asked {asked})")
    return "; ".join(f"{column} {', '.join(sorted(values))}" for column, values in seen.items())


def _known(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value)) and str(value) not in ("<NA>", "")


def _float(value: Any) -> float:
    """A number, or NaN for None / NaN / pandas.NA."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _is_emulator(facts_json: Any) -> bool:
    if not isinstance(facts_json, str) or not facts_json:
        return False
    try:
        return json.loads(facts_json).get("emulator") is True
    except (ValueError, AttributeError):
        return False
