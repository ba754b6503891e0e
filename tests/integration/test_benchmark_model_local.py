"""The benchmark_model path end to end on the local transport, with the TEST DOUBLE of the tool
(tests/doubles/benchmark_model_double.py replays recordings of a real build made on the example
models: tests/data/benchmark_model/litert-v2.2.0_x86_64_examples/). The same path against the
real tool: test_benchmark_model_real.py."""

from __future__ import annotations

import shutil

import pytest

from harness import load_results
from harness.parsers.benchmark_model import parse_text
from tests.doubles.benchmark_model_double import RECORDED, write_double

FAST = ["--min-runs", "5", "--min-seconds", "0.05", "--repeats", "1"]


def recorded(key: str) -> dict:
    """The run the recording ``key`` holds, as harness's parser reads it."""
    return parse_text((RECORDED / f"{key}_stdout.txt").read_text()).runs[-1].run


def inventory(folder, **double_options):
    double = write_double(folder / "benchmark_model", **double_options)
    (folder / "devices.toml").write_text(
        f'[devices.hostbm]\ntransport = "local"\nrunner = "benchmark_model"\nbenchmark_model = "{double}"\n'
    )


@pytest.fixture
def bm_device(tmp_path):
    inventory(tmp_path)
    return tmp_path


def test_runs_replay_the_recording_of_each_variant_thread_count_and_kernel_mode(harness_cli, bm_device):
    log = bm_device / "argv.log"
    inventory(bm_device, argv_log=log)
    proc = harness_cli("run", "--device", "hostbm", "--example", "tiny_cnn", "--variants", "fp32,int8",
                       "--threads", "1,2", *FAST, "--results", "r")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    res = load_results(bm_device / "r")
    runs = res.runs
    assert (runs["status"] == "ok").all() and set(runs["runner"]) == {"benchmark_model"}
    assert set(runs["runtime"]) == {"tflite_interpreter"}
    # marked as what they are, whatever version the binary was given
    assert set(runs["runner_version"]) == {"test-double"} and set(runs["runtime_version"]) == {"test-double"}
    assert runs["notes"].str.contains("test double of benchmark_model: replaying the recording tiny_cnn_").all()
    lat = runs[runs["mode"] == "latency"]
    assert len(lat) == 4
    for _, row in lat.iterrows():
        want = recorded(f"tiny_cnn_{row['variant']}_xnnpack_t{row['threads']}_latency")
        assert (row["p50_us"], row["count"], row["init_us"]) == (want["p50_us"], want["count"], want["init_us"])
        assert row["runner_threads"] == row["threads"]  # the recording of that thread count
    assert lat["mean_us"].nunique() == 4  # four recordings, four answers
    prof = runs[runs["mode"] == "profile"]
    assert len(prof) == 8 and prof["profile_invoke_us"].notna().all()
    assert set(prof["delegate"]) == {"xnnpack", "none"} and (prof["runner_delegate"] == prof["delegate"]).all()
    ops = res.ops.merge(prof[["run_id", "delegate"]], on="run_id")
    invoke = ops[ops["phase"] == "invoke"]
    # XNNPACK's profile holds its delegate's rows; the builtin-kernel profile holds TFLite's kernels
    assert invoke[invoke["delegate"] == "xnnpack"]["op_name"].str.startswith("Delegate/").any()
    builtin = invoke[invoke["delegate"] == "none"]
    assert not builtin["op_name"].str.startswith("Delegate/").any() and "CONV_2D" in set(builtin["op_type"])
    assert "AllocateTensors" in set(ops[ops["phase"] == "init"]["op_type"])
    # the raw output is kept beside the parsed frames
    campaign, key = prof["run_id"].iloc[0].split("/")
    raw = bm_device / "r" / campaign / "runs" / key / "raw"
    assert (raw / "ops.csv").read_bytes().startswith(b"Profiling Info for Benchmark Initialization:")
    assert b"TEST DOUBLE of benchmark_model" in (raw / "stdout.txt").read_bytes()
    lines = log.read_text().splitlines()
    assert lines[0] == "--help"
    assert sum("--use_xnnpack=false" in ln for ln in lines) == 4  # builtin-kernel profile runs
    assert all("--op_profiling_output_mode=csv" in ln for ln in lines if "--enable_op_profiling=true" in ln)


def test_builtin_kernels_replay_the_builtin_recording(harness_cli, bm_device):
    proc = harness_cli("run", "--device", "hostbm", "--example", "tiny_cnn", "--variants", "int8", "--kernels",
                       "builtin", *FAST, "--no-profile", "--results", "r")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    runs = load_results(bm_device / "r").runs
    builtin = recorded("tiny_cnn_int8_builtin_t1_latency")
    assert list(runs["p50_us"]) == [builtin["p50_us"]]
    assert builtin["p50_us"] != recorded("tiny_cnn_int8_xnnpack_t1_latency")["p50_us"]
    assert list(runs["runner_delegate"]) == ["none"]  # the recording says XNNPACK was off


def test_a_model_without_recordings_fails_saying_so(harness_cli, bm_device):
    model = bm_device / "custom.tflite"
    shutil.copyfile(RECORDED.parent.parent / "xnnpack_custom_op.tflite", model)
    proc = harness_cli("run", "--device", "hostbm", "--model", str(model), *FAST, "--no-profile",
                       "--results", "r")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    runs = load_results(bm_device / "r").runs
    assert (runs["status"] == "failed").all() and (runs["attempt"] == 1).all()  # not retried
    assert runs["error_message"].str.contains("TEST DOUBLE has no recording of the model").all()
    assert set(runs["runner_version"]) == {"test-double"} and runs["p50_us"].isna().all()


def test_flags_the_build_lacks_are_refused_before_any_run(harness_cli, bm_device):
    proc = harness_cli("run", "--device", "hostbm", "--example", "tiny_cnn", "--delegate", "nnapi", *FAST,
                       "--results", "r")
    assert proc.returncode == 2
    assert "no --use_nnapi" in proc.stderr and "Traceback" not in proc.stderr
    assert not (bm_device / "r").exists() or load_results(bm_device / "r").runs.empty


def test_binary_from_the_tool_cache_by_abi(harness_cli, tmp_path):
    double = write_double(tmp_path / "bm")
    (tmp_path / "devices.toml").write_text('[devices.hostbm]\ntransport = "local"\nrunner = "benchmark_model"\n')
    cache = {"XDG_CACHE_HOME": str(tmp_path / "cache")}  # the session's cache is shared with other tests
    missing = harness_cli("run", "--device", "hostbm", "--example", "tiny_cnn", *FAST, "--no-profile", env=cache)
    assert missing.returncode == 2 and "harness tools add benchmark_model --abi linux-x86_64" in missing.stderr
    added = harness_cli("tools", "add", "benchmark_model", str(double), "--abi", "linux-x86_64",
                        "--version", "2.21", env=cache)
    assert added.returncode == 0, added.stderr
    listed = harness_cli("tools", "list", env=cache)
    assert "linux-x86_64" in listed.stdout
    ok = harness_cli("run", "--device", "hostbm", "--example", "tiny_cnn", "--variants", "int8", *FAST,
                     "--no-profile", "--results", "r", env=cache)
    assert ok.returncode == 0, ok.stderr
    runs = load_results(tmp_path / "r").runs
    assert list(runs["runner_version"]) == ["test-double"]  # the double says so, whatever it was added as


def test_failed_benchmark_is_a_failed_run_with_its_reason(harness_cli, bm_device):
    inventory(bm_device, fail=True)
    proc = harness_cli("run", "--device", "hostbm", "--example", "tiny_cnn", "--variants", "fp32", *FAST,
                       "--no-profile", "--results", "r")
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
