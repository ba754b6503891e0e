"""`harness compare` on recorded data: real runs of the committed tiny_cnn through `harness run`,
and real benchmark_model logs through `harness import`."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness import load_results
from harness.analysis.compare import compare
from harness.store import Results
from tests.doubles.farm_copy import copy_to_farm

DATA = Path(__file__).resolve().parents[1] / "data" / "benchmark_model"
KEYS = ["device", "threads", "baseline", "candidate", "n_baseline", "n_candidate", "ratio", "ci_low", "ci_high",
        "p_value", "verdict", "min_detectable_ratio", "runs_to_resolve", "baseline_mem_mb", "candidate_mem_mb",
        "top_ops"]


def _harness(args, cwd, cache_home):
    env = dict(os.environ, XDG_CACHE_HOME=str(cache_home), COLUMNS="200")
    env.pop("HARNESS_INVENTORY", None)
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


@pytest.fixture(scope="module")
def campaign(tmp_path_factory, cache_home):
    """tiny_cnn, fp32 and int8, 10 interleaved latency runs each + profile runs."""
    root = tmp_path_factory.mktemp("compare")
    proc = _harness(["run", "--example", "tiny_cnn", "--variants", "fp32,int8", "--repeats", "10",
                     "--min-seconds", "0.1", "--results", str(root / "results"), "--campaign", "cmp"],
                    root, cache_home)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (root / "run.stdout").write_text(proc.stdout)  # the summary table harness run printed
    return root


@pytest.fixture(scope="module")
def imported(tmp_path_factory, cache_home):
    """Two benchmark_model logs (one run each) imported into one campaign."""
    root = tmp_path_factory.mktemp("imported")
    for variant in ("fp32", "int8"):
        proc = _harness(["import", str(DATA / f"cnn_{variant}_op-profiling_stdout.txt"), "--variant", variant,
                         "--campaign", "bm", "--results", str(root / "results")], root, cache_home)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return root


def test_a_a_splits_of_one_variant_report_no_difference(campaign):
    """Every 5 / 5 split of 10 real runs of one variant (their timings from tests/data/aa_runs.json,
    committed, so the test is deterministic) through compare() with the campaign's real profile
    runs: at least 95 % say "no detectable difference"."""
    import json
    from itertools import combinations

    aa = json.loads((Path(__file__).resolve().parents[1] / "data" / "aa_runs.json").read_text())
    res = load_results(campaign / "results")
    runs = res.runs.copy()
    fp32 = runs[(runs["variant"] == "fp32") & (runs["mode"] == "latency")].sort_values("repeat")["run_id"].tolist()
    assert len(fp32) == 10
    for column in ("p50_us", "mean_us"):
        runs.loc[runs["run_id"].isin(fp32), column] = runs.loc[runs["run_id"].isin(fp32), "run_id"].map(
            dict(zip(fp32, aa[column], strict=True)))
    verdicts = []
    for half in combinations(fp32, 5):
        split = runs[runs["run_id"].isin(fp32) | (runs["mode"] == "profile") & (runs["variant"] == "fp32")].copy()
        split["variant"] = ["A" if r in half else "B" for r in split["run_id"]]
        (c,) = compare(Results(split, res.ops, res.samples), baseline="A", candidate="B", n_boot=300)
        assert c.n_baseline == 5 and c.n_candidate == 5
        verdicts.append(c.verdict)
    assert verdicts.count("no detectable difference") >= 0.95 * len(verdicts), verdicts


def test_int8_vs_fp32_verdict_agrees_with_the_medians(campaign):
    res = load_results(campaign / "results")
    (c,) = compare(res, baseline="fp32", candidate="int8")
    lat = res.runs[(res.runs["mode"] == "latency") & (res.runs["status"] == "ok")]
    med = lat.groupby("variant")["p50_us"].median()
    assert c.n_baseline == 10 and c.n_candidate == 10
    assert c.ci_low <= c.ratio <= c.ci_high
    if c.verdict == "slower":
        assert med["int8"] > med["fp32"] and c.ci_low > 1
    elif c.verdict == "faster":
        assert med["int8"] < med["fp32"] and c.ci_high < 1
    else:
        assert c.ci_low <= 1 <= c.ci_high or c.p_value >= 0.05
    # the explanation names TFLite op types, from the XNNPACK-mode profiles
    assert c.profile_kernels == "xnnpack"
    names = [t for t, *_ in c.top_ops]
    assert "CONV_2D" in names
    assert any("XNNPACK" in o.candidate_path and "QC8" in o.candidate_path for o in c.ops)
    assert any("int8 adds" in n and "QUANTIZE" in n for n in c.notes)


def test_run_summary_and_compare_print_the_same_ratio(campaign, cache_home):
    """One median, one ratio: what `harness run` printed as int8's vs_fp32 is `harness compare`'s ratio."""
    from harness.analysis.summary import summarize

    res = load_results(campaign / "results")
    table = summarize(res, "cmp").set_index("variant")
    (c,) = compare(res, baseline="fp32", candidate="int8", campaign="cmp")
    assert table.loc["int8", "vs_fp32"] == c.ratio  # the same float, not merely close
    assert table.loc["int8", "p50_ms"] * 1000.0 == pytest.approx(c.candidate_ms * 1000.0, rel=1e-12)
    # what the two commands print
    (row,) = [line for line in (campaign / "run.stdout").read_text().splitlines() if line.split()[:1] == ["int8"]]
    assert f"{c.ratio:.2f}x" in row.split(), row
    proc = _harness(["compare", "cmp", "-b", "fp32", "-c", "int8", "--format", "json", "--results",
                     str(campaign / "results")], campaign, cache_home)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)[0]["ratio"] == table.loc["int8", "vs_fp32"]
    proc = _harness(["compare", "cmp", "-b", "fp32", "-c", "int8", "--results", str(campaign / "results")], campaign,
                    cache_home)
    assert f"{c.ratio:.3f}" in proc.stdout
    if c.verdict == "slower":
        assert f"int8 is {c.ratio:.2f}x slower than fp32" in proc.stdout


def test_json_and_csv_rows_have_exactly_the_keys(campaign, cache_home):
    base = ["compare", "cmp", "--baseline", "fp32", "--candidate", "int8", "--results", str(campaign / "results")]
    proc = _harness([*base, "--format", "json"], campaign, cache_home)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert len(rows) == 1 and list(rows[0]) == KEYS
    mdr = rows[0]["min_detectable_ratio"]
    assert mdr is not None and mdr > 1.0  # 10 runs a side: some ratio is detectable, stated at 80 % power
    assert rows[0]["baseline_mem_mb"] > 0 and rows[0]["candidate_mem_mb"] > 0  # the litert runner's peak RSS
    assert rows[0]["top_ops"] and set(rows[0]["top_ops"][0]) == {"op_type", "baseline_ms", "candidate_ms", "delta_ms"}
    proc = _harness([*base, "--format", "csv"], campaign, cache_home)
    assert proc.returncode == 0, proc.stderr
    (row,) = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert list(row) == KEYS
    assert json.loads(row["top_ops"]) == rows[0]["top_ops"]
    assert float(row["ratio"]) == pytest.approx(rows[0]["ratio"])


def test_table_says_it_in_words_and_newest_campaign_is_the_default(campaign, cache_home):
    proc = _harness(["compare", "-b", "fp32", "-c", "int8", "--results", str(campaign / "results")], campaign,
                    cache_home)
    assert proc.returncode == 0, proc.stderr
    assert "int8 vs fp32 in cmp" in proc.stdout
    assert "95 % CI" in proc.stdout and "kernel path" in proc.stdout
    assert any(line.startswith("On ") and "than fp32" in line or "between int8 and fp32" in line
               for line in proc.stdout.splitlines())


def test_fail_if_slower_gates(campaign, cache_home, tmp_path):
    """The gate on a slowdown that is there by construction: the real campaign copied to one device
    with int8 at 1.3x fp32's latency (tests/doubles/farm_copy.py), since tiny_cnn's two variants can
    run within a few per cent of each other on some hosts."""
    copy_to_farm(campaign / "results" / "cmp", tmp_path / "results", [("host", "x86_64", {"fp32": 1.0, "int8": 1.3})],
                 campaign="gate")
    res = load_results(tmp_path / "results")
    base = ["compare", "gate", "--results", str(tmp_path / "results"), "--fail-if-slower"]
    # the slower side as candidate, with a gate below its slowdown: exit 1
    (c,) = compare(res, baseline="fp32", candidate="int8")
    assert c.verdict == "slower" and c.ratio == pytest.approx(1.3, rel=0.02)
    pct = 100 * (c.ratio - 1)
    proc = _harness([*base, f"{pct / 2:.2f}", "-b", "fp32", "-c", "int8"], tmp_path, cache_home)
    assert proc.returncode == 1 and "slower than" in proc.stderr
    # a gate above the slowdown passes; so does the faster side as candidate at a gate of 0
    proc = _harness([*base, f"{pct * 2 + 1:.2f}", "-b", "fp32", "-c", "int8"], tmp_path, cache_home)
    assert proc.returncode == 0, proc.stderr
    proc = _harness([*base, "0", "-b", "int8", "-c", "fp32"], tmp_path, cache_home)
    assert proc.returncode == 0, proc.stderr


def test_unknown_variant_and_campaign_exit_2_naming_what_exists(campaign, cache_home):
    proc = _harness(["compare", "cmp", "-b", "fp32", "-c", "int9", "--results", str(campaign / "results")],
                    campaign, cache_home)
    assert proc.returncode == 2
    assert "int9" in proc.stderr and "fp32, int8" in proc.stderr and "Traceback" not in proc.stderr
    proc = _harness(["compare", "nope", "-b", "fp32", "-c", "int8", "--results", str(campaign / "results")],
                    campaign, cache_home)
    assert proc.returncode == 2 and "nope" in proc.stderr and "cmp" in proc.stderr


def test_imported_logs_one_run_each_give_a_ratio_and_attribution_without_interval(imported, cache_home):
    res = load_results(imported / "results")
    (c,) = compare(res, baseline="fp32", candidate="int8")
    assert c.n_baseline == 1 and c.n_candidate == 1
    assert c.ratio == pytest.approx(c.candidate_ms / c.baseline_ms)
    assert c.ci_low is None and c.p_value is None and c.verdict == "inconclusive"  # one run a side: nothing seen
    assert any("interval cannot be computed" in n for n in c.notes)
    assert c.top_ops and c.top_ops[0][0] == "CONV_2D"
    proc = _harness(["compare", "bm", "-b", "fp32", "-c", "int8", "--format", "json", "--results",
                     str(imported / "results")], imported, cache_home)
    assert proc.returncode == 0, proc.stderr
    (row,) = json.loads(proc.stdout)
    assert row["ci_low"] is None and row["p_value"] is None and row["ratio"] == pytest.approx(c.ratio)
    assert row["top_ops"][0]["op_type"] == "CONV_2D"


def test_runtimes_compare_like_variants(imported, campaign):
    """The same variant through benchmark_model's interpreter and ai_edge_litert, with kernel paths."""
    a, b = load_results(imported / "results"), load_results(campaign / "results")
    import pandas as pd

    both = Results(*(pd.concat([x, y], ignore_index=True) for x, y in zip(a, b, strict=True)))
    both.runs["device"] = "host"
    comps = compare(both, baseline="tflite_interpreter", candidate="ai_edge_litert", by="runtime")
    assert {c.variant for c in comps} == {"fp32", "int8"}
    for c in comps:
        assert c.runtime.startswith("tflite_interpreter") and "ai_edge_litert" in c.runtime
        assert c.n_baseline == 1 and c.n_candidate == 10 and c.ci_low is None
        assert all(o.baseline_path.startswith(("XNNPACK", "TFLite", "-")) for o in c.ops)


# --- the same numbers from per-run aggregates and from the timed invokes --------------------------

LATENCY_AGGREGATES = ("count", "mean_us", "std_us", "min_us", "p50_us", "p90_us", "p99_us", "max_us")


class _AggregatesOnly:
    """A campaign's runs and ops frames; reading its samples (the timed invokes) fails the test."""

    def __init__(self, res):
        self.runs, self.ops = res.runs, res.ops

    @property
    def samples(self):
        raise AssertionError("the analysis read the timed invokes where per-run aggregates were enough")


def _from_invokes(res):
    """The campaign with every run's latency aggregates thrown away and computed again from its
    timed invokes, by the function that computed them when the run landed."""
    import pandas as pd

    from harness.parsers.litert import latency_stats

    per_run = {str(run_id): latency_stats(values.tolist())
               for run_id, values in res.samples.groupby("run_id", observed=True)["latency_us"]}
    runs = res.runs.copy()
    ok_latency = runs[(runs["status"] == "ok") & (runs["mode"] == "latency")]
    assert set(ok_latency["run_id"]) <= set(per_run), "every latency run has its invokes"
    for col in LATENCY_AGGREGATES:  # runs without invokes (failed ones) keep none
        runs[col] = pd.array([per_run[r][col] if r in per_run else None for r in runs["run_id"]],
                             dtype=res.runs[col].dtype)
    return SimpleNamespace(runs=runs, ops=res.ops)


def test_compare_summary_and_warnings_from_aggregates_equal_those_from_the_invokes(campaign):
    """Issue 10: analysis works from per-run aggregates, with the numbers the invokes give."""
    import pandas as pd

    from harness.analysis.report import latency_groups, warning_rows
    from harness.analysis.summary import summarize

    res = load_results(campaign / "results")
    aggregates, invokes = _AggregatesOnly(res), _from_invokes(res)
    for baseline, candidate in (("fp32", "int8"), ("int8", "fp32")):
        a = compare(aggregates, baseline=baseline, candidate=candidate)
        b = compare(invokes, baseline=baseline, candidate=candidate)
        assert [c.row() for c in a] == [c.row() for c in b]  # ratio, interval, p, verdict, top ops: equal floats
        assert [(c.baseline_ms, c.candidate_ms, c.warnings, c.notes) for c in a] == \
               [(c.baseline_ms, c.candidate_ms, c.warnings, c.notes) for c in b]
        assert a[0].ci_low is not None and a[0].n_baseline == 10
    pd.testing.assert_frame_equal(summarize(aggregates, "cmp"), summarize(invokes, "cmp"))
    table = summarize(aggregates, "cmp").set_index("variant")
    lat = res.runs[(res.runs["mode"] == "latency") & (res.runs["status"] == "ok")]
    for variant, group in lat.groupby("variant", observed=True):  # `invokes` counts the samples behind the runs
        assert table.loc[variant, "invokes"] == res.samples["run_id"].isin(group["run_id"]).sum() > 0
    assert warning_rows(aggregates.runs) == warning_rows(invokes.runs)
    assert [(g.variant, g.median_ms, g.run_medians_ms) for g in latency_groups(aggregates.runs)] == \
           [(g.variant, g.median_ms, g.run_medians_ms) for g in latency_groups(invokes.runs)]
