"""`harness import` through the real command line, into a temporary results folder."""

from __future__ import annotations

import json
from pathlib import Path

from harness import load_results

REPO = Path(__file__).resolve().parent.parent.parent
DATA = REPO / "tests" / "data" / "benchmark_model"
TINY_INT8 = REPO / "harness" / "models" / "examples_data" / "tiny_cnn" / "int8.tflite"


def multi_log(tmp_path: Path) -> Path:
    """Three real invocations in one log (ok, failed, ok), as a shell loop would write them."""
    log = tmp_path / "three runs.log"
    log.write_bytes(b"\n".join((DATA / n).read_bytes() for n in (
        "07_litert-2024_linux-x86_xnnpack_INFO-prefix_no-profiling.txt",
        "03_tf2.4_android-mi11_nnapi-qti-default_delegate-failure.txt",
        "08_litert-2024_linux-x86_xnnpack-per-op-profiling_no-start-column.txt")))
    return log


def test_multi_run_log_lands_one_run_per_invocation_and_a_second_import_adds_nothing(harness_cli, tmp_path):
    log = multi_log(tmp_path)
    results = tmp_path / "results"
    first = harness_cli("import", str(log), "--results", str(results), "--device", "pixel", check=True)
    assert "landed 3 run(s)" in first.stderr + first.stdout
    res = load_results(results)
    runs = res.runs.sort_values("run_id")
    assert list(runs["status"]) == ["ok", "failed", "ok"]
    assert list(runs["count"].astype("float").fillna(-1)) == [70, -1, 64]
    assert set(runs["device"]) == {"pixel"} and set(runs["runner"]) == {"benchmark_model"}
    assert runs.iloc[1]["error_class"] == "DelegateError"
    assert len(res.ops) == 173 and set(res.ops["run_id"]) == {runs.iloc[2]["run_id"]}
    campaign = runs.iloc[0]["campaign"]
    assert campaign.startswith("import-three-runs-")
    run_dirs = sorted((results / campaign / "runs").iterdir())
    assert [(d / "raw" / log.name).read_bytes() == log.read_bytes() for d in run_dirs] == [True] * 3

    second = harness_cli("import", str(log), "--results", str(results))
    assert second.returncode == 0
    assert "landed already" in second.stderr
    assert len(load_results(results).runs) == 3


def test_dry_run_json_has_schema_columns_and_error_and_writes_nothing(harness_cli, tmp_path):
    log = multi_log(tmp_path)
    results = tmp_path / "results"
    proc = harness_cli("import", str(log), "--results", str(results), "--dry-run", "--format", "json", check=True)
    doc = json.loads(proc.stdout)
    assert set(doc) == {"runs", "ops"}
    from harness import schema

    for run in doc["runs"]:
        assert set(run) == set(schema.RUNS) | {"error"}
    assert [r["error"] is None for r in doc["runs"]] == [True, False, True]
    assert "Failed to apply NNAPI delegate." in doc["runs"][1]["error"]
    assert doc["runs"][0]["p50_us"] is None and doc["runs"][0]["mean_us"] == 14290.9
    assert len(doc["ops"]) == 173 and all(set(o) == set(schema.OPS) for o in doc["ops"])
    assert {o["phase"] for o in doc["ops"]} == {"init", "invoke"}
    assert not results.exists()


def test_model_links_sha256_bytes_and_variant(harness_cli, tmp_path):
    from harness.models.inspect import inspect_model

    info = inspect_model(TINY_INT8)
    results = tmp_path / "results"
    harness_cli("import", str(DATA / "cnn_int8_op-profiling_stdout.txt"), "--model", str(TINY_INT8),
                "--results", str(results), check=True)
    run = load_results(results).runs.iloc[0]
    assert run["model_sha256"] == info.sha256 and run["model_bytes"] == info.bytes
    assert run["variant"] == "int8" == info.variant
    labelled = harness_cli("import", str(DATA / "cnn_dynamic_ops.csv"), "--variant", "dynamic",
                           "--results", str(results), "--dry-run", "--format", "json", check=True)
    (run,) = json.loads(labelled.stdout)["runs"]
    assert run["variant"] == "dynamic" and run["model_sha256"] is None


def test_bad_input_exits_2_with_one_line(harness_cli, tmp_path):
    garbage = tmp_path / "garbage.txt"
    garbage.write_bytes(b"this is not a benchmark\nat all\n")
    for args in (["import", str(garbage)], ["import", str(tmp_path / "missing.log")],
                 ["import", str(garbage), "--format", "yaml"]):
        proc = harness_cli(*args, "--results", str(tmp_path / "results"))
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:"), proc.stderr
        assert "Traceback" not in proc.stderr
    assert not (tmp_path / "results").exists()
