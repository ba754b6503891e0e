"""The benchmark_model path end to end on the local transport, with the TEST DOUBLE of the tool
(tests/doubles/benchmark_model_double.py replays real recorded outputs of a TF 2.21 build)."""

from __future__ import annotations

import pytest

from harness import load_results
from tests.doubles.benchmark_model_double import write_double

FAST = ["--min-runs", "5", "--min-seconds", "0.05", "--repeats", "1"]


@pytest.fixture
def bm_device(tmp_path):
    double = write_double(tmp_path / "benchmark_model")
    (tmp_path / "devices.toml").write_text(
        f'[devices.hostbm]\ntransport = "local"\nrunner = "benchmark_model"\nbenchmark_model = "{double}"\n'
    )
    return tmp_path


def test_run_through_benchmark_model_lands_runs_and_csv_ops(harness_cli, bm_device):
    log = bm_device / "argv.log"
    proc = harness_cli("run", "--device", "hostbm", "--example", "tiny_cnn", "--variants", "fp32,int8",
                       *FAST, "--results", "r", env={"HARNESS_DOUBLE_LOG": str(log)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    res = load_results(bm_device / "r")
    assert (res.runs["status"] == "ok").all() and set(res.runs["runner"]) == {"benchmark_model"}
    assert set(res.runs["runtime"]) == {"tflite_interpreter"}
    assert res.runs[res.runs["mode"] == "profile"]["profile_invoke_us"].notna().all()
    lat = res.runs[res.runs["mode"] == "latency"]
    # values of the recording (cnn_dynamic_csv-mode_stdout.txt): count=26421 ... median=35
    assert list(lat["count"]) == [26421, 26421] and list(lat["p50_us"]) == [35.0, 35.0]
    assert list(lat["init_us"]) == [1381.0, 1381.0]
    prof = res.runs[res.runs["mode"] == "profile"]
    assert len(prof) == 4
    ops = res.ops[res.ops["run_id"] == prof["run_id"].iloc[0]]
    assert {"init", "invoke"} <= set(ops["phase"])
    assert "AllocateTensors" in set(ops[ops["phase"] == "init"]["op_type"])
    # the raw output is kept beside the parsed frames
    campaign, key = prof["run_id"].iloc[0].split("/")
    raw = bm_device / "r" / campaign / "runs" / key / "raw"
    assert (raw / "ops.csv").read_bytes().startswith(b"Profiling Info for Benchmark Initialization:")
    assert b"Inference timings in us" in (raw / "stdout.txt").read_bytes()
    lines = log.read_text().splitlines()
    assert lines[0] == "--help"
    assert sum("--use_xnnpack=false" in ln for ln in lines) == 2  # builtin-kernel profile runs
    assert all("--op_profiling_output_mode=csv" in ln for ln in lines if "--enable_op_profiling=true" in ln)


def test_flags_the_build_lacks_are_refused_before_any_run(harness_cli, bm_device):
    proc = harness_cli("run", "--device", "hostbm", "--example", "tiny_cnn", "--delegate", "nnapi", *FAST,
                       "--results", "r")
    assert proc.returncode == 2
    assert "no --use_nnapi" in proc.stderr and "Traceback" not in proc.stderr
    assert not (bm_device / "r").exists() or load_results(bm_device / "r").runs.empty


def test_binary_from_the_tool_cache_by_abi(harness_cli, tmp_path):
    double = write_double(tmp_path / "bm")
    (tmp_path / "devices.toml").write_text('[devices.hostbm]\ntransport = "local"\nrunner = "benchmark_model"\n')
    missing = harness_cli("run", "--device", "hostbm", "--example", "tiny_cnn", *FAST, "--no-profile")
    assert missing.returncode == 2 and "harness tools add benchmark_model --abi linux-x86_64" in missing.stderr
    added = harness_cli("tools", "add", "benchmark_model", str(double), "--abi", "linux-x86_64",
                        "--version", "double")
    assert added.returncode == 0, added.stderr
    listed = harness_cli("tools", "list")
    assert "linux-x86_64" in listed.stdout
    ok = harness_cli("run", "--device", "hostbm", "--example", "tiny_cnn", "--variants", "int8", *FAST,
                     "--no-profile", "--results", "r")
    assert ok.returncode == 0, ok.stderr
    runs = load_results(tmp_path / "r").runs
    assert list(runs["runner_version"]) == ["double"]


def test_failed_benchmark_is_a_failed_run_with_its_reason(harness_cli, bm_device):
    proc = harness_cli("run", "--device", "hostbm", "--example", "tiny_cnn", "--variants", "fp32", *FAST,
                       "--no-profile", "--results", "r", env={"HARNESS_DOUBLE_FAIL": "1"})
    assert proc.returncode == 1, proc.stderr
    runs = load_results(bm_device / "r").runs
    assert list(runs["status"]) == ["failed"]
    assert "delegate" in runs["error_message"].iloc[0].lower()
    assert runs["p50_us"].isna().all() and runs["mean_us"].isna().all()


def test_accuracy_on_a_benchmark_model_device_is_computed_on_the_host(harness_cli, bm_device):
    from harness.analysis.accuracy import accuracy_table

    proc = harness_cli("run", "--device", "hostbm", "--example", "tiny_cnn", "--variants", "fp32,int8", *FAST,
                       "--no-profile", "--accuracy", "--samples", "4", "--results", "r")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    runs = load_results(bm_device / "r").runs
    acc_runs = runs[runs["mode"] == "accuracy"]
    assert len(acc_runs) == 2 and acc_runs["notes"].str.contains("computed on this host").all()
    acc = accuracy_table(bm_device / "r", runs)
    assert set(acc["computed_on"]) == {"host"} and set(acc["variant"]) == {"fp32", "int8"}
