"""The summary `harness run` prints: its p50 is harness's one median, its vs_fp32 compare's ratio."""

from __future__ import annotations

import pytest

from harness.analysis import stats
from harness.analysis.compare import compare
from harness.analysis.summary import summarize
from harness.schema import empty_frame, to_frame
from harness.store import Results

P50 = {"fp32": [1000.0, 1012.0, 995.0, 1400.0, 1003.0], "int8": [830.0, 845.0, 828.0, 1200.0, 836.0]}


def _results(p50=P50, mean_only=()):
    rows = []
    for variant, values in p50.items():
        for i, v in enumerate(values):
            rows.append({"run_id": f"c/{variant}.latency.r{i}", "campaign": "c", "device": "d", "variant": variant,
                         "mode": "latency", "threads": 1, "delegate": "xnnpack", "status": "ok", "repeat": i,
                         "p50_us": None if variant in mean_only else v, "mean_us": v, "p90_us": 1.1 * v,
                         "std_us": 0.01 * v, "runner": "litert", "runtime": "ai_edge_litert"})
    return Results(to_frame("runs", rows), empty_frame("ops"), empty_frame("samples"))


def test_p50_is_the_harrell_davis_median_of_the_runs_p50s():
    table = summarize(_results()).set_index("variant")
    for variant, values in P50.items():
        assert table.loc[variant, "p50_ms"] == pytest.approx(float(stats.hd_median(values)) / 1000)
        assert table.loc[variant, "p90_ms"] == pytest.approx(float(stats.hd_median(values)) * 1.1 / 1000)
    # not the middle run: the Harrell-Davis estimate weighs every run
    assert table.loc["fp32", "p50_ms"] != pytest.approx(1003.0 / 1000)


def test_vs_fp32_is_exactly_compares_ratio():
    res = _results()
    table = summarize(res).set_index("variant")
    (c,) = compare(res, baseline="fp32", candidate="int8")
    assert table.loc["int8", "vs_fp32"] == c.ratio
    assert table.loc["fp32", "vs_fp32"] == 1.0


def test_runs_without_a_p50_use_their_mean_as_compare_does():
    res = _results(mean_only=("int8",))
    table = summarize(res).set_index("variant")
    (c,) = compare(res, baseline="fp32", candidate="int8")
    assert table.loc["int8", "vs_fp32"] == c.ratio
    assert table.loc["int8", "p50_ms"] == pytest.approx(float(stats.hd_median(P50["int8"])) / 1000)
