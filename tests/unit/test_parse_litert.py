"""The litert runner's result files (real outputs, see tests/data/litert_runner/SOURCES.md)."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from harness import schema
from harness.errors import ParseError
from harness.parsers.litert import latency_stats, parse_result

DATA = Path(__file__).resolve().parent.parent / "data" / "litert_runner"


def load(name: str) -> bytes:
    return (DATA / name).read_bytes()


def test_latency_run():
    doc = json.loads(load("latency_fp32_xnnpack.json"))
    p = parse_result(load("latency_fp32_xnnpack.json"))
    lat = doc["latencies_us"]
    assert p.run["status"] == "ok" and p.run["runtime"] == "ai_edge_litert" and p.run["runtime_version"] == "2.3.0"
    assert p.run["count"] == len(lat) == 20 and len(p.samples) == 20
    assert p.run["p50_us"] == pytest.approx(statistics.median(lat))
    assert p.run["mean_us"] == pytest.approx(statistics.fmean(lat))
    assert p.run["std_us"] == pytest.approx(statistics.pstdev(lat))
    assert p.run["min_us"] == min(lat) and p.run["max_us"] == max(lat)
    assert p.run["first_us"] == doc["warmup_us"][0]
    assert p.run["delegate"] == "xnnpack" and p.ops == []
    assert p.run["profile_invoke_us"] is None
    assert p.facts["abi"] == "x86_64" and p.facts["cores"] == 2
    schema.to_frame("runs", [p.run])
    schema.to_frame("samples", [{"run_id": "x", **s} for s in p.samples])


def test_int8_xnnpack_profile_has_int8_kernels_marked_delegated():
    p = parse_result(load("profile_int8_xnnpack.json"))
    types = [o["op_type"] for o in p.ops]
    assert any("QC8" in t for t in types), types
    # XNNPACK's own kernel rows ran in the delegate; the SOFTMAX it left to TFLite did not
    assert all(o["delegated"] for o in p.ops if o["op_type"] != "SOFTMAX")
    assert [o["delegated"] for o in p.ops if o["op_type"] == "SOFTMAX"] == [False]
    assert [o["position"] for o in p.ops] == list(range(len(p.ops)))
    assert sum(o["pct"] for o in p.ops) == pytest.approx(100.0)
    assert p.ops[-1]["cdf_pct"] == pytest.approx(100.0)
    assert p.run["profile_invoke_us"] > 0
    schema.to_frame("ops", [{"run_id": "x", **o} for o in p.ops])


def test_builtin_profile_is_node_exact():
    doc = json.loads(load("profile_dynamic_builtin.json"))
    p = parse_result(load("profile_dynamic_builtin.json"))
    runs = doc["profile"]["runs"]
    assert [o["node_index"] for o in p.ops] == list(range(len(p.ops)))
    assert not any(o["delegated"] for o in p.ops)
    assert "CONV_2D" in {o["op_type"] for o in p.ops}
    for raw, row in zip(doc["profile"]["ops"], p.ops, strict=True):
        assert row["times_called"] == raw["calls"] // runs
        assert row["per_run_ms"] == pytest.approx(raw["total_us"] / runs / 1000)
        assert row["avg_ms"] == pytest.approx(raw["total_us"] / raw["calls"] / 1000)


def test_failed_run_keeps_its_reason_and_no_numbers():
    p = parse_result(load("failed_truncated_model.json"))
    assert p.run["status"] == "failed" and p.run["error_class"] == "ModelLoadError"
    assert "SIGSEGV" in p.run["error_message"]
    assert p.run["count"] == 0 and p.run["p50_us"] is None and p.run["mean_us"] is None
    assert p.samples == [] and p.ops == []


def test_fallback_runtime_says_so():
    p = parse_result(load("latency_fp32_tensorflow_fallback.json"))
    assert p.run["runtime"] == "tensorflow"
    assert p.facts["runtime_note"]


@pytest.mark.parametrize(
    "mutate, field",
    [
        (lambda d: d.pop("status"), "status"),
        (lambda d: d.update(format="other"), "format"),
        (lambda d: d.update(format_version=9), "format_version"),
        (lambda d: d.update(latencies_us=[]), "latencies_us"),
        (lambda d: d.update(latencies_us=["1.0"]), "latencies_us"),
        (lambda d: d["profile"]["ops"][0].pop("total_us"), "profile.ops[0].total_us"),
        (lambda d: d["profile"].update(runs=0), "profile.runs"),
    ],
)
def test_missing_fields_raise_parse_error_never_zero(mutate, field):
    doc = json.loads(load("profile_int8_xnnpack.json"))
    mutate(doc)
    with pytest.raises(ParseError) as err:
        parse_result(json.dumps(doc))
    assert err.value.field == field


def test_not_json_is_a_parse_error():
    with pytest.raises(ParseError, match="result JSON"):
        parse_result(b'{"format": "harness-litert-runner", "status": "o')


def test_latency_stats_percentiles_match_numpy():
    import numpy as np

    xs = [5.0, 1.0, 3.0, 2.0, 4.0, 10.0, 7.0]
    s = latency_stats(xs)
    for q in (50, 90, 99):
        assert s[f"p{q}_us"] == pytest.approx(np.percentile(xs, q))
    assert latency_stats([])["p50_us"] is None
