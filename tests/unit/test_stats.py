"""Statistics of harness compare on synthetic data with known answers."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from harness.analysis import stats


def _runs(n: int, rng: np.random.Generator, factor: float = 1.0, spread: float = 0.03) -> np.ndarray:
    """n process-level run values (us) with log-normal run-to-run noise."""
    return 1000.0 * factor * np.exp(rng.normal(0.0, spread, n))


def test_five_percent_slowdown_at_three_percent_spread_is_found_at_least_80_percent_of_the_time():
    rng = np.random.default_rng(20240601)
    trials = 200
    slower = sum(
        stats.compare_runs(_runs(10, rng), _runs(10, rng, 1.05)).verdict == stats.SLOWER for _ in range(trials)
    )
    assert slower / trials >= 0.80


def test_a_five_percent_speedup_is_called_faster_never_slower():
    rng = np.random.default_rng(7)
    verdicts = [stats.compare_runs(_runs(10, rng), _runs(10, rng, 0.95)).verdict for _ in range(100)]
    assert verdicts.count(stats.FASTER) >= 80
    assert stats.SLOWER not in verdicts


def test_a_a_false_positives_at_most_five_percent():
    rng = np.random.default_rng(99)
    trials = 400
    found = sum(
        stats.compare_runs(_runs(10, rng), _runs(10, rng)).verdict != stats.NO_DIFFERENCE for _ in range(trials)
    )
    assert found / trials <= 0.05


def test_one_run_a_side_gives_a_ratio_and_says_the_interval_cannot_be_computed():
    t = stats.compare_runs([2000.0], [1000.0], labels=("fp32", "int8"))
    assert t.ratio == pytest.approx(0.5)
    assert t.ci_low is None and t.ci_high is None and t.p_value is None
    assert t.verdict == stats.INCONCLUSIVE  # never "no detectable difference": nothing could be detected
    assert any("interval cannot be computed: 1 run(s) of fp32, 1 run(s) of int8" in n for n in t.notes)


def test_one_run_on_one_side_only():
    t = stats.compare_runs([1000.0, 1010.0, 990.0], [500.0], labels=("a", "b"))
    assert t.ci_low is None and t.verdict == stats.INCONCLUSIVE
    assert t.notes == ["interval cannot be computed: 1 run(s) of b"]


def test_a_large_clear_difference_with_few_runs_is_still_no_guess():
    # 3 runs a side: the rank test cannot reach p < 0.05, so no verdict however large the ratio
    t = stats.compare_runs([1000.0, 1001.0, 1002.0], [500.0, 501.0, 502.0])
    assert t.ratio == pytest.approx(0.5, rel=1e-3)
    assert t.p_value >= 0.05 and t.verdict == stats.NO_DIFFERENCE
    assert any("cannot reach p < 0.05" in n for n in t.notes)


def test_interval_brackets_the_ratio_and_is_reproducible():
    rng = np.random.default_rng(3)
    b, c = _runs(8, rng), _runs(8, rng, 1.2)
    one, two = stats.compare_runs(b, c, seed=5), stats.compare_runs(b, c, seed=5)
    assert one == two
    assert one.ci_low < one.ratio < one.ci_high
    assert one.verdict == stats.SLOWER
    lo, hi = stats.bootstrap_ratio_ci(b, c, method="percentile")
    assert lo < one.ratio < hi


def test_identical_values_are_no_difference():
    t = stats.compare_runs([1000.0] * 6, [1000.0] * 6)
    assert t.ratio == 1.0 and t.p_value == 1.0 and t.verdict == stats.NO_DIFFERENCE


def test_run_values_fall_back_to_mean_where_p50_is_null():
    v = stats.run_values([100.0, np.nan, np.nan], [110.0, 120.0, np.nan])
    assert v.tolist() == [100.0, 120.0]


def test_harrell_davis_median_of_one_and_two_values():
    assert stats.hd_median([5.0]) == pytest.approx(5.0)
    assert stats.hd_median([4.0, 6.0]) == pytest.approx(5.0)


def test_one_sample_interval_is_the_bca_interval_of_the_harrell_davis_median():
    rng = np.random.default_rng(11)
    few, many = _runs(5, rng), _runs(40, rng)
    lo, hi = stats.median_ci(few)
    assert lo < stats.hd_median(few) < hi
    lo40, hi40 = stats.median_ci(many)
    assert hi40 - lo40 < hi - lo  # more runs, a narrower interval
    assert stats.median_ci(few) == stats.median_ci(few)  # fixed seed: reproducible
    assert stats.median_ci(few, seed=1) != stats.median_ci(few)
    assert stats.median_ci(few, method="percentile") != stats.median_ci(few)
    assert stats.median_ci([10.0] * 4) == (pytest.approx(10.0), pytest.approx(10.0))
    with pytest.raises(ValueError):
        stats.median_ci([10.0])


def test_run_median_is_the_harrell_davis_median_of_the_run_values():
    assert stats.run_median([100.0, np.nan, 300.0], [0.0, 200.0, 0.0]) == pytest.approx(200.0)
    assert stats.run_median([1000.0, 1010.0, 1400.0]) == pytest.approx(float(stats.hd_median([1000, 1010, 1400])))
    assert stats.run_median([np.nan], [np.nan]) is None


def _frame(p50, status=None, std=None, emulator=False, throttled=None, error=None):
    n = len(p50)
    facts = json.dumps({"emulator": True}) if emulator else json.dumps({"emulator": None})
    return pd.DataFrame({
        "status": status or ["ok"] * n,
        "p50_us": p50,
        "mean_us": p50,
        "std_us": std or [0.01 * v for v in p50],
        "facts_json": [facts] * n,
        "throttled": pd.array(throttled or [False] * n, dtype="boolean"),
        "error_message": pd.array(error or [None] * n, dtype="string"),
    })


def test_stable_runs_have_no_warnings():
    assert stats.stability_warnings(_frame([1000.0, 1010.0, 990.0, 1005.0, 995.0]), "int8") == []


def test_too_few_runs_is_below_min_runs():
    four = stats.stability_warnings(_frame([1000.0, 1010.0, 990.0, 1005.0]), "int8")
    assert [(w.kind, w.subject) for w in four] == [(stats.TOO_FEW_RUNS, "int8")]
    assert str(four[0]) == "int8: too few runs: 4 (at least 5 give a usable interval)"
    assert stats.MIN_RUNS == 5
    assert stats.stability_warnings(_frame([1000.0, 1010.0, 990.0, 1005.0, 995.0])) == []


def test_warnings_name_what_is_wrong_with_the_numbers():
    w = stats.stability_warnings(_frame([1000.0, 1000.0, 1000.0, 1000.0, 1600.0]), "int8")
    assert [x.kind for x in w] == [stats.UNSTABLE_ACROSS_RUNS, stats.OUTLIER_RUN]
    assert all(x.subject == "int8" for x in w)
    # the outlier is measured against the Harrell-Davis median of the runs, the median harness shows
    med = float(stats.hd_median([1000.0] * 4 + [1600.0]))
    assert str(w[1]) == f"int8: outlier run: its max is {100 * (1600 - med) / med:.0f} % above the median of the runs"
    assert str(w[0]).startswith("int8: unstable across runs: std is 24 % of the mean")


def test_spread_thresholds_are_pyperfs():
    assert (stats.SPREAD_CV, stats.OUTLIER_OFF) == (0.10, 0.50)
    at = stats.stability_warnings(_frame([1000.0] * 5, std=[100.0] * 5))
    below = stats.stability_warnings(_frame([1000.0] * 5, std=[99.0] * 5))
    assert [x.kind for x in at] == [stats.UNSTABLE_WITHIN_RUNS] and below == []


def test_within_run_spread_inconclusive_throttled_and_emulator():
    runs = _frame([1000.0] * 7, status=["ok"] * 6 + ["inconclusive"], std=[200.0] + [10.0] * 6, emulator=True,
                  throttled=[True] + [False] * 5 + [True],
                  error=[None] * 6 + ["throttled before the run: soft temperature limit"])
    w = {x.kind: str(x) for x in stats.stability_warnings(runs, "fp32")}
    assert w[stats.UNSTABLE_WITHIN_RUNS] == ("fp32: unstable within runs: std of invokes is 20 % of the mean in 1 "
                                             "of 6 run(s)")
    assert w[stats.INCONCLUSIVE] == ("fp32: inconclusive: 1 run(s) left out: throttled before the run: soft "
                                     "temperature limit")
    assert w[stats.THROTTLED].startswith("fp32: throttled: 1 run(s) measured while the device throttled, kept")
    assert w[stats.EMULATOR].startswith("fp32: emulator: timings test plumbing only")


def test_records_and_frames_give_the_same_warnings():
    runs = _frame([1000.0, 1000.0, 1600.0], std=[200.0, 10.0, 10.0])
    assert stats.stability_warnings(runs.to_dict("records"), "x") == stats.stability_warnings(runs, "x")


def test_a_runner_that_did_not_do_as_asked_is_a_warning():
    from harness.analysis.stats import NOT_AS_ASKED, stability_warnings

    base = {"status": "ok", "p50_us": 100.0, "mean_us": 100.0, "std_us": 1.0, "threads": 4, "delegate": "xnnpack",
            "mode": "latency", "runner_mode": "latency", "runner_delegate": "xnnpack"}
    runs = [{**base, "runner_threads": 1} for _ in range(5)]  # a build that ignored --num_threads
    found = [w for w in stability_warnings(runs, "pixel int8 t4") if w.kind == NOT_AS_ASKED]
    assert len(found) == 1 and "threads 1 (asked 4)" in found[0].message
    fine = [{**base, "runner_threads": 4} for _ in range(5)]
    assert not [w for w in stability_warnings(fine) if w.kind == NOT_AS_ASKED]
    unknown = [{**base, "runner_threads": None} for _ in range(5)]  # the runner did not say: nothing to judge
    assert not [w for w in stability_warnings(unknown) if w.kind == NOT_AS_ASKED]


# -- honest verdicts: what the runs can see, intervals that cover, a deterministic A/A -------------------

AA = json.loads((__import__("pathlib").Path(__file__).resolve().parents[1] / "data" / "aa_runs.json").read_text())


def test_a_a_over_every_split_of_real_runs_is_deterministic():
    """All 252 ways of splitting 10 real runs of one variant 5 / 5 (tests/data/aa_runs.json): no
    randomness in the splits or the intervals (fixed seed), so the count is the same every time."""
    from itertools import combinations

    values = np.array(AA["p50_us"])
    verdicts = []
    for half in combinations(range(10), 5):
        a = values[list(half)]
        b = values[[i for i in range(10) if i not in half]]
        verdicts.append(stats.compare_runs(a, b, n_boot=500).verdict)
    called = len(verdicts) - verdicts.count(stats.NO_DIFFERENCE)
    assert called / len(verdicts) <= 0.05, called
    again = [stats.compare_runs(values[:5], values[5:], n_boot=500) for _ in range(2)]
    assert again[0] == again[1]


def test_the_interval_covers_the_true_ratio_95_percent_of_the_time():
    """1,000 simulated pairs of 10 runs a side (log-normal run noise, 3 % spread, true ratio 1.05):
    the 95 % BCa interval of the ratio of Harrell-Davis medians covers 1.05 in 95 % +- 3 % of them."""
    rng = np.random.default_rng(12345)
    trials, covered = 1000, 0
    for i in range(trials):
        lo, hi = stats.bootstrap_ratio_ci(_runs(10, rng), _runs(10, rng, 1.05), n_boot=1000, seed=i)
        covered += lo <= 1.05 <= hi
    assert 0.92 <= covered / trials <= 0.98, covered


def test_bca_agrees_with_scipy_bootstrap():
    from scipy.stats import bootstrap

    rng = np.random.default_rng(3)
    for n in (5, 10, 20):
        b, c = _runs(n, rng), _runs(n, rng, 1.08)
        ours = stats.bootstrap_ratio_ci(b, c, n_boot=20000, seed=1)
        theirs = bootstrap((b, c), lambda x, y: stats.hd_median(y) / stats.hd_median(x), n_resamples=20000,
                           method="BCa", paired=False, vectorized=False, random_state=np.random.default_rng(1),
                           confidence_level=0.95).confidence_interval
        assert ours[0] == pytest.approx(theirs.low, rel=0.005) and ours[1] == pytest.approx(theirs.high, rel=0.005)


def test_the_minimum_detectable_ratio_is_seen_80_percent_of_the_time():
    """At the ratio stated as detectable with 80 % power (for the true 3 % spread), the comparison
    calls it about 80 % of the time; and what compare states from the runs it has is that ratio,
    give or take the noise of estimating a spread from a few runs."""
    import math

    for n in (5, 10):
        true_mdr = math.exp(stats._detectable_log(0.03, n, n, 0.05, stats.POWER))
        rng = np.random.default_rng(100 + n)
        hits = sum(stats.compare_runs(_runs(n, rng), _runs(n, rng, true_mdr), n_boot=500).verdict == stats.SLOWER
                   for _ in range(200))
        assert 0.70 <= hits / 200 <= 0.90, (n, true_mdr, hits)
        stated = np.median([stats.min_detectable_ratio(_runs(n, rng), _runs(n, rng)) for _ in range(100)])
        assert abs(math.log(stated) / math.log(true_mdr) - 1) < 0.15, (n, stated, true_mdr)


def test_no_difference_says_what_the_runs_can_see_and_what_would_resolve_it():
    rng = np.random.default_rng(5)
    t = stats.compare_runs(_runs(5, rng), _runs(5, rng, 1.02))
    assert t.verdict == stats.NO_DIFFERENCE
    assert t.min_detectable_ratio is not None and t.min_detectable_ratio > 1.02
    assert t.runs_to_resolve is not None and t.runs_to_resolve > 5
    few = stats.compare_runs(_runs(3, rng), _runs(3, rng, 2.0))
    assert few.min_detectable_ratio == float("inf") and "cannot reach p < 0.05" in " ".join(few.notes)
