"""device_scripts/litert_runner.py against the real LiteRT runtime on this machine (no mocks).

Each test runs the runner as a user would (a subprocess with its command line) on the committed
tiny_cnn variants and reads the JSON it leaves behind.
"""

from __future__ import annotations

import hashlib
import json
import platform
import shutil
import statistics
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

from harness.analysis.compare import HYBRID_MARKERS

REPO = Path(__file__).resolve().parents[2]
RUNNER = REPO / "device_scripts" / "litert_runner.py"
TINY = REPO / "harness" / "models" / "examples_data" / "tiny_cnn"

# Short settings keep the file fast; each test overrides what it checks.
QUICK = ["--warmup-min-s", "0.05", "--min-runs", "5", "--min-s", "0.1"]

TFLITE_BUILTIN_OPS = {
    "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "MAX_POOL_2D", "AVERAGE_POOL_2D",
    "MEAN", "SOFTMAX", "RESHAPE", "ADD", "MUL", "DEQUANTIZE", "QUANTIZE", "RELU", "RELU6",
    "PAD", "CONCATENATION",
}


def tiny(variant: str) -> Path:
    path = TINY / f"{variant}.tflite"
    if not path.is_file():
        pytest.skip(f"{path.relative_to(REPO)} is not there yet (the examples are committed "
                    "by the models work; run `harness models example` or wait for it)")
    return path


def run_runner(tmp_path: Path, model: Path, *extra: str, name: str = "result.json",
               timeout: float = 120) -> tuple[int, dict, float]:
    out = tmp_path / name
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, str(RUNNER), "--model", str(model), "--out", str(out), *extra],
        capture_output=True, text=True, errors="replace", timeout=timeout)
    wall = time.monotonic() - started
    assert out.is_file(), f"no result JSON; stderr:\n{proc.stderr[-2000:]}"
    result = json.loads(out.read_text())
    assert not list(tmp_path.glob(".result-*")), "a temporary result file was left behind"
    return proc.returncode, result, wall


def assert_ok(code: int, result: dict) -> None:
    assert code == 0 and result["status"] == "ok", result["error"]
    assert result["error"] is None


def test_latency_mode_records_every_invoke_runtime_and_machine(tmp_path):
    model = tiny("fp32")
    code, result, _ = run_runner(tmp_path, model, *QUICK, "--min-runs", "30",
                                 "--warmup-runs", "3", "--threads", "2")
    assert_ok(code, result)
    assert result["format"] == "harness-litert-runner" and result["format_version"] == 1
    latencies = result["latencies_us"]
    assert len(latencies) >= 30
    assert all(v > 0 for v in latencies)
    assert len(result["warmup_us"]) >= 3 and all(v > 0 for v in result["warmup_us"])
    assert result["init_us"] > 0
    assert result["runtime"] == {
        "name": "ai_edge_litert", "version": metadata.version("ai-edge-litert"),
        "api": "litert-c-api", "profiling": False, "note": None}
    machine = result["machine"]
    assert machine["machine"] == platform.machine()
    assert machine["system"] == platform.system()
    assert machine["cores"] >= 1 and machine["python"] == platform.python_version()
    assert machine["kernel"] == platform.release() and machine["hostname"]
    assert result["model"] == {"path": str(model), "bytes": model.stat().st_size,
                               "sha256": hashlib.sha256(model.read_bytes()).hexdigest()}
    assert result["config"]["threads"] == 2 and result["config"]["kernels"] == "xnnpack"
    [entry] = result["inputs"]
    assert entry["dtype"] == "float32" and entry["range"] == [0.0, 1.0]
    assert entry["shape"][0] == 1 and len(entry["shape"]) == 4  # dynamic batch set to 1
    assert result["outputs"] and result["outputs"][0]["dtype"] == "float32"
    assert result["profile"] is None
    assert result["peak_rss_kb"] > 1000
    assert result["started_at"] < result["finished_at"]


def test_min_s_keeps_timing_until_enough_timed_time(tmp_path):
    code, result, _ = run_runner(tmp_path, tiny("fp32"), "--warmup-min-s", "0",
                                 "--min-runs", "1", "--min-s", "0.3")
    assert_ok(code, result)
    assert sum(result["latencies_us"]) / 1e6 >= 0.3
    assert result["stop_reason"] == "min_runs_and_min_s"


def test_max_s_bounds_warm_up_and_timing(tmp_path):
    # Without max-s these settings would run for hours.
    code, result, wall = run_runner(tmp_path, tiny("fp32"), "--warmup-runs", "1000000000",
                                    "--warmup-min-s", "1000", "--min-runs", "1000000000",
                                    "--min-s", "1000", "--max-s", "0.3")
    assert_ok(code, result)
    assert result["stop_reason"] == "max_s"
    assert sum(result["latencies_us"]) / 1e6 <= 0.35
    assert sum(result["warmup_us"]) / 1e6 <= 0.35
    assert wall < 15


def _per_run_op_share(profile: dict) -> float:
    """The ops' time per invoke over the profiler's invoke time: the median invoke, so that an invoke
    the scheduler preempted on a loaded machine does not hide what the rows cover."""
    per_run_ops = sum(op["total_us"] for op in profile["ops"]) / profile["runs"]
    return per_run_ops / statistics.median(profile["invoke_event_us"])


def test_profile_builtin_kernels_gives_tflite_node_rows(tmp_path):
    code, result, _ = run_runner(tmp_path, tiny("fp32"), *QUICK, "--mode", "profile",
                                 "--kernels", "builtin", "--profile-runs", "30")
    assert_ok(code, result)
    assert result["runtime"]["profiling"] is True
    profile = result["profile"]
    ops = profile["ops"]
    print("builtin fp32 ops:", [(o["op_name"], o["total_us"]) for o in ops])
    assert profile["kernels"] == "builtin" and profile["runs"] == 30
    assert len(result["latencies_us"]) == 30 and len(profile["invoke_event_us"]) == 30
    assert all(isinstance(o["node_index"], int) for o in ops)
    assert sorted(o["node_index"] for o in ops) == list(range(len(ops)))
    assert {o["op_type"] for o in ops} <= TFLITE_BUILTIN_OPS
    assert {"CONV_2D", "FULLY_CONNECTED"} <= {o["op_type"] for o in ops}
    assert all(o["event_type"] == 2 and not o["delegated"] for o in ops)
    assert all(o["calls"] == 30 for o in ops)
    assert [o["position"] for o in ops] == list(range(len(ops)))
    assert ops[0]["op_name"] == f"{ops[0]['op_type']}:{ops[0]['node_index']}"
    share = _per_run_op_share(profile)
    print(f"per-run op sum / median Invoke event: {share:.3f}")
    # the rows cover most of an invoke (the first CONV_2D alone is a third of it); the rest is the
    # interpreter's own time between nodes, larger on some CPUs: 0.77-0.79 on an AMD EPYC (2 cores)
    assert share >= 0.7
    assert profile["dropped_events"]["invoke"] == 30  # the Invoke events are not op rows
    assert "CONV_2D" in profile["summary_text"]


def test_profile_xnnpack_int8_shows_xnnpack_int8_kernels(tmp_path):
    code, result, _ = run_runner(tmp_path, tiny("int8"), *QUICK, "--mode", "profile")
    assert_ok(code, result)
    ops = result["profile"]["ops"]
    print("xnnpack int8 op types:", [o["op_type"] for o in ops])
    quantized = [o for o in ops if "QC8" in o["op_type"] or "QS8" in o["op_type"]]
    assert quantized, "no XNNPACK int8 (QC8/QS8) kernel among the profiled ops"
    assert all(o["delegated"] and o["op_name"].startswith("Delegate/") for o in quantized)
    # XNNPACK indices restart per partition: ops are identified by position, names unique.
    assert len({o["op_name"] for o in ops}) == len(ops)


def test_profile_xnnpack_dynamic_shows_dynamically_quantized_kernels(tmp_path):
    code, result, _ = run_runner(tmp_path, tiny("dynamic"), *QUICK, "--mode", "profile")
    assert_ok(code, result)
    op_types = [o["op_type"] for o in result["profile"]["ops"]]
    print("xnnpack dynamic op types:", op_types)
    # QD8, or QDU8 where XNNPACK picks its unsigned kernels (x86 with VNNI, seen on an AMD EPYC)
    assert any(m in t for t in op_types for m in HYBRID_MARKERS), op_types


def test_same_seed_gives_same_outputs_and_another_seed_does_not(tmp_path):
    model = tiny("fp32")
    fast = ["--warmup-min-s", "0", "--min-runs", "1", "--min-s", "0"]
    outputs = {}
    for name, seed in (("a", "0"), ("b", "0"), ("c", "1")):
        dump = tmp_path / f"{name}.npz"
        code, result, _ = run_runner(tmp_path, model, *fast, "--seed", seed,
                                     "--dump-outputs", str(dump), name=f"{name}.json")
        assert_ok(code, result)
        with np.load(dump) as data:
            outputs[name] = data["output_0"]
    assert outputs["a"].shape == tuple(result["outputs"][0]["shape"])
    np.testing.assert_array_equal(outputs["a"], outputs["b"])
    assert not np.array_equal(outputs["a"], outputs["c"])


@pytest.mark.parametrize("damage", ["truncated", "random bytes"])
def test_corrupt_model_fails_with_model_load_error(tmp_path, damage):
    good = tiny("fp32").read_bytes()
    bad = tmp_path / "bad.tflite"
    if damage == "truncated":  # this one crashes libLiteRt.so; the worker process contains it
        bad.write_bytes(good[: len(good) // 3])
    else:
        bad.write_bytes(np.random.default_rng(0).bytes(4096))
    code, result, _ = run_runner(tmp_path, bad, *QUICK)
    assert code == 3
    assert result["status"] == "failed"
    assert result["error"]["class"] == "ModelLoadError", result["error"]
    assert str(bad) in result["error"]["message"] or "model" in result["error"]["message"]
    assert result["model"]["sha256"] == hashlib.sha256(bad.read_bytes()).hexdigest()
    assert result["latencies_us"] == [] and result["finished_at"]


def test_tensorflow_fallback_measures_latency_and_says_so(tmp_path):
    pytest.importorskip("tensorflow")
    code, result, _ = run_runner(tmp_path, tiny("int8"), *QUICK, "--runtime", "tensorflow",
                                 "--kernels", "builtin")
    assert_ok(code, result)
    runtime = result["runtime"]
    assert runtime["name"] == "tensorflow" and runtime["api"] == "interpreter"
    assert runtime["profiling"] is False and runtime["version"]
    assert "Interpreter" in runtime["note"] and "latency only" in runtime["note"]
    assert len(result["latencies_us"]) >= 5


def test_profile_with_fallback_runtime_fails_clearly(tmp_path):
    code, result, _ = run_runner(tmp_path, tiny("fp32"), "--mode", "profile",
                                 "--runtime", "tensorflow")
    assert code == 3 and result["status"] == "failed"
    assert result["error"]["class"] == "RuntimeMissing"
    assert "ai-edge-litert" in result["error"]["message"]


def test_bad_arguments_exit_2_without_running(tmp_path):
    out = tmp_path / "r.json"
    proc = subprocess.run([sys.executable, str(RUNNER), "--model", str(tiny("fp32")),
                           "--out", str(out), "--input-range", "1,0"],
                          capture_output=True, text=True, errors="replace", timeout=60)
    assert proc.returncode == 2 and "LO must be below HI" in proc.stderr
    assert not out.exists()


def test_runner_file_stands_alone(tmp_path):
    """The runner is pushed to devices as one file: it runs from anywhere, without harness."""
    lone = tmp_path / "litert_runner.py"
    shutil.copy(RUNNER, lone)
    source = lone.read_text()
    assert "import harness" not in source and "from harness" not in source
    out = tmp_path / "r.json"
    proc = subprocess.run([sys.executable, "-I", str(lone), "--model", str(tiny("fp32")),
                           "--out", str(out), "--warmup-min-s", "0", "--min-runs", "1",
                           "--min-s", "0"], capture_output=True, text=True, errors="replace",
                          timeout=60,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(out.read_text())["status"] == "ok"


CUSTOM_OP = REPO / "tests" / "data" / "xnnpack_custom_op.tflite"  # tests/data/make_xnnpack_custom_op.py


def test_an_xnnpack_only_op_runs_with_xnnpack(tmp_path):
    code, result, _ = run_runner(tmp_path, CUSTOM_OP, *QUICK)
    assert_ok(code, result)
    code, result, _ = run_runner(tmp_path, CUSTOM_OP, *QUICK, "--mode", "profile", "--profile-runs", "3",
                                 name="profile.json")
    assert_ok(code, result)
    ops = result["profile"]["ops"]
    assert len(ops) == 1 and ops[0]["delegated"] and ops[0]["op_type"].startswith("Deconvolution"), ops


@pytest.mark.parametrize("mode", ["latency", "profile"])
def test_builtin_kernels_name_the_xnnpack_only_op(tmp_path, mode):
    code, result, _ = run_runner(tmp_path, CUSTOM_OP, *QUICK, "--kernels", "builtin", "--mode", mode)
    assert code == 3 and result["status"] == "failed"
    assert result["error"]["class"] == "InvokeError"
    assert result["error"]["message"].startswith(
        "custom op Convolution2DTransposeBias has no builtin kernel (XNNPACK only); use --kernels xnnpack "
        "(the runtime said: LiteRtRunCompiledModel failed with LiteRtStatus 3"), result["error"]


def test_a_python_without_numpy_names_the_missing_module(tmp_path, bare_python):
    out = tmp_path / "r.json"
    proc = subprocess.run([str(bare_python), str(RUNNER), "--model", str(tiny("fp32")), "--out", str(out)],
                          capture_output=True, text=True, errors="replace", timeout=60)
    assert proc.returncode == 3
    error = json.loads(out.read_text())["error"]
    assert error["class"] == "RuntimeMissing"
    assert error["message"] == ("the measuring process exited with code 1 without writing a result during starting "
                                "Python / loading the runtime: ModuleNotFoundError: No module named 'numpy'")
    # the worker's stderr still reaches the device's stderr whole, before the runner's verdict
    assert proc.stderr.index("Traceback (most recent call last):") < proc.stderr.index("[litert_runner] FAILED")
