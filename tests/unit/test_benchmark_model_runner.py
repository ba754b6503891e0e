"""Flags of the benchmark_model runner, built from what a build's --help says (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config import RunOptions
from harness.errors import UserError
from harness.runners.benchmark_model import big_core_mask, build_argv, parse_help
from harness.runners.provision import device_abi
from harness.spec import BenchmarkFlags

HELP = Path(__file__).resolve().parent.parent / "data" / "benchmark_model" / "help.txt"  # a real TF 2.21 build
# the flags the LiteRT CompiledModel tool registers (litert/tools/benchmark_litert_model.h) plus the
# common benchmark flags; written for the test, in --help's layout
COMPILED_HELP = "\n".join(
    f"\t--{f}=x\tstring\toptional\t..." for f in (
        "graph", "num_threads", "warmup_runs", "warmup_min_secs", "num_runs", "min_secs", "max_secs",
        "use_cpu", "use_gpu", "use_npu", "use_profiler", "report_peak_memory_footprint", "signature_to_run_for",
    )
)


@pytest.fixture(scope="module")
def classic():
    return parse_help(HELP.read_text())


def test_families_are_told_apart_by_help(classic):
    assert classic.family == "classic" and classic.has("enable_op_profiling") and not classic.has("use_nnapi")
    assert parse_help(COMPILED_HELP).family == "compiled_model"


def test_classic_profile_run_flags(classic):
    argv = build_argv("/d/bm", "/d/m.tflite", RunOptions(mode="profile", kernels="builtin", threads=4),
                      BenchmarkFlags(), classic, "/d/ops.csv")
    assert argv[0] == "/d/bm" and "--graph=/d/m.tflite" in argv and "--num_threads=4" in argv
    assert "--use_xnnpack=false" in argv and "--enable_op_profiling=true" in argv
    assert "--op_profiling_output_mode=csv" in argv and "--op_profiling_output_file=/d/ops.csv" in argv


def test_old_builds_use_the_csv_file_flag():
    old = parse_help("\t--graph=\n\t--num_threads=1\n\t--warmup_runs=1\n\t--warmup_min_secs=0.5\n\t--num_runs=50\n"
                     "\t--min_secs=1\n\t--max_secs=150\n\t--use_xnnpack=false\n\t--enable_op_profiling=false\n"
                     "\t--profiling_output_csv_file=\n")
    argv = build_argv("bm", "m", RunOptions(mode="profile"), BenchmarkFlags(peak_memory=False), old, "ops.csv")
    assert "--profiling_output_csv_file=ops.csv" in argv


def test_compiled_model_family_speaks_its_own_flags():
    tool = parse_help(COMPILED_HELP)
    argv = build_argv("bm", "m", RunOptions(mode="profile"), BenchmarkFlags(delegate="gpu"), tool, None)
    assert "--use_profiler=true" in argv and "--use_gpu=true" in argv and "--use_cpu=true" in argv
    assert not any(a.startswith("--enable_op_profiling") for a in argv)
    with pytest.raises(UserError, match="cannot turn XNNPACK off"):
        build_argv("bm", "m", RunOptions(kernels="builtin"), BenchmarkFlags(), tool, None)


def test_a_flag_the_build_lacks_is_refused(classic):
    with pytest.raises(UserError, match="no --use_nnapi"):
        build_argv("bm", "m", RunOptions(), BenchmarkFlags(delegate="nnapi"), classic, None)


def test_big_cores_and_input_ranges(classic):
    facts = {"clusters": [{"max_freq_khz": 2850000, "cpus": ["cpu7"]},
                          {"max_freq_khz": 2300000, "cpus": ["cpu4", "cpu5", "cpu6"]}]}
    assert big_core_mask(facts) == "80"
    assert big_core_mask({"clusters": None}) is None
    flags = BenchmarkFlags(cpu_mask="80", input_ranges=(("ids", 0, 99),))
    argv = build_argv("bm", "m", RunOptions(), flags, classic, None)
    assert argv[:2] == ["taskset", "80"] and "--input_layer_value_range=ids,0,99" in argv


def test_device_abi_keys():
    assert device_abi({"abi": "arm64-v8a", "sdk": 34}, "adb") == "arm64-v8a"
    assert device_abi({"abi": "aarch64"}, "ssh") == "linux-aarch64"
    assert device_abi({"abi": "armv7l"}, "ssh") == "linux-armhf"
    assert device_abi({"abi": "x86_64"}, "local") == "linux-x86_64"
    assert device_abi({}, "local") is None


# --- what the tool ignores, and the test double ---------------------------------------------
RECORDED = HELP.parent / "litert-v2.2.0_x86_64_examples"  # real outputs of the LiteRT v2.2.0 build


def _parsed(stdout: str, stderr: str = "", exit_code: int = 0, version: str = "2.2.0"):
    from harness.config import LOCAL_DEVICE
    from harness.runners.base import RunnerOutput
    from harness.runners.benchmark_model import BenchmarkModelRunner
    from harness.transport.base import CommandResult
    from harness.transport.fake import FakeTransport

    runner = BenchmarkModelRunner(LOCAL_DEVICE, FakeTransport(), Path("bm"), version=version)
    command = CommandResult(("bm",), exit_code, stdout.encode(), stderr.encode(), 1.0)
    return runner.parse(RunnerOutput(command=command))


def test_extra_flags_the_tool_would_ignore_are_refused(classic):
    ok = build_argv("bm", "m", RunOptions(), BenchmarkFlags(extra=("--use_caching=true",)), classic, None)
    assert ok[-1] == "--use_caching=true"
    for extra, why in (("--no_such_flag=1", "has no --no_such_flag"), ("--num_threads=4", "sets --num_threads itself"),
                       ("--use_caching", "--name=value"), ("positional", "--name=value")):
        with pytest.raises(UserError, match=why):
            build_argv("bm", "m", RunOptions(), BenchmarkFlags(extra=(extra,)), classic, None)


def test_a_run_the_tool_measured_without_some_flags_is_failed():
    # constructed from real lines: a recorded latency run, with the warning the same build prints
    # as its second line when given --no_such_flag=1 (unknown_flag_stdout.txt)
    stdout = (RECORDED / "tiny_cnn_int8_xnnpack_t1_latency_stdout.txt").read_text()
    warning = (RECORDED / "unknown_flag_stdout.txt").read_text().splitlines()[1]
    assert warning.startswith("WARN: Unconsumed cmdline flags: ")
    first, _, rest = stdout.partition("\n")
    assert _parsed(stdout).run["status"] == "ok"
    run = _parsed(f"{first}\n{warning}\n{rest}").run
    assert run["status"] == "failed" and run["error_class"] == "UsageError"
    assert "--no_such_flag=1 --num_threads=2" in run["error_message"] and run["p50_us"] is not None


def test_runs_of_the_test_double_say_so():
    from tests.doubles.benchmark_model_double import MARK

    stdout = (RECORDED / "tiny_cnn_int8_xnnpack_t1_latency_stdout.txt").read_text()
    assert _parsed(stdout).run["runner_version"] == "2.2.0"
    first, _, rest = stdout.partition("\n")
    parsed = _parsed(f"{first}\n{MARK}replaying the recording tiny_cnn_int8_xnnpack_t1_latency\n{rest}")
    assert parsed.run["runner_version"] == parsed.run["runtime_version"] == "test-double"
    assert parsed.facts["runtime_note"].endswith("replaying the recording tiny_cnn_int8_xnnpack_t1_latency")
