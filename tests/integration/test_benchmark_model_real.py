"""Contract tests against the REAL benchmark_model (opt-in): what harness assumes of the tool, checked
against a real binary, and the TEST DOUBLE held to the same contract.

    HARNESS_BENCHMARK_MODEL=/path/to/benchmark_model make test

The binary must be a classic TFLite benchmark_model that runs on this x86_64 host (CI passes
../shared/tools/benchmark_model/linux-x86_64/benchmark_model, a build from LiteRT v2.2.0 that needs
Debian's libprotobuf32). Without the variable the tests of the real tool are skipped, saying so;
the double's side of each contract still runs. Set but not runnable is a failure, not a skip.

What is covered with the real tool: its --help, flags it does not know or reads twice (a warning,
exit 0: harness fails such a run), a value it cannot parse, a missing model (through harness's
runner on this host and on an emulated phone); and `harness run` with `--runner benchmark_model`
on `local` (binary from a private tool cache, CSV profiles, XNNPACK and builtin kernels, threads 1
and 2; text profiles through a wrapper that hides the CSV flags, as older builds lack them), on an
emulated phone (real adbd, tests/emulated: the glibc build runs there because the phone sees the
host's /usr) and in a farm of two emulated phones.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest

from harness import load_results
from harness.config import RunOptions
from harness.fileio import sha256_file
from harness.runners.benchmark_model import parse_help
from tests.doubles.benchmark_model_double import MARK, manifest, script_text, write_double

REAL_ENV = "HARNESS_BENCHMARK_MODEL"
REAL = os.environ.get(REAL_ENV, "")
needs_real = pytest.mark.skipif(
    not REAL, reason=f"no real benchmark_model: set {REAL_ENV}=/path/to/benchmark_model to run the contract tests "
    "against it (.ci/run passes ../shared/tools/benchmark_model/linux-x86_64/benchmark_model when it is there)")
EXAMPLES = Path(__file__).resolve().parents[2] / "harness" / "models" / "examples_data"
TINY_INT8 = EXAMPLES / "tiny_cnn" / "int8.tflite"
# small and quick: the tool's own warm-up (0.5 s) dominates each run
FAST = ["--min-runs", "5", "--min-seconds", "0.05", "--repeats", "1"]
QUICK_TOOL_FLAGS = ["--num_runs=1", "--min_secs=0.01", "--warmup_runs=1", "--warmup_min_secs=0.01"]


@pytest.fixture(scope="module")
def real_tool() -> Path:
    if not REAL:
        pytest.skip(needs_real.kwargs["reason"])
    path = Path(REAL).expanduser().resolve()
    assert path.is_file() and os.access(path, os.X_OK), f"{REAL_ENV}={REAL} is not an executable file"
    started = subprocess.run([str(path), "--help"], capture_output=True, text=True, timeout=60)
    assert "--graph=" in started.stderr, (
        f"{REAL_ENV}={REAL} does not start here (exit {started.returncode}): {started.stderr[-600:]}"
        " (the linux-x86_64 build needs Debian's libprotobuf32: make setup installs it)")
    return path


@pytest.fixture(params=["double", pytest.param("real", marks=needs_real)])
def tool(request, tmp_path) -> Path:
    """The double, and the real tool when one is given: each contract test runs against both."""
    if request.param == "double":
        return write_double(tmp_path / "benchmark_model")
    return request.getfixturevalue("real_tool")


def _run(tool: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(tool), *args], capture_output=True, text=True, timeout=120)


def _lines(text: str) -> list[str]:
    """Output lines without the double's own announcement (the one line the real tool lacks)."""
    return [ln for ln in text.splitlines() if not ln.startswith(MARK)]


# --- the tool's own contract: the double and the real binary alike ----------------------------

def test_help_is_the_usage_on_stderr_and_exit_1(tool):
    proc = _run(tool, "--help")
    assert proc.returncode == 1
    assert _lines(proc.stdout) == ["INFO: STARTING!"]
    assert proc.stderr.startswith(f"ERROR: usage: {tool} <flags>\nFlags:\n")
    assert proc.stderr.endswith("\nERROR: Benchmarking failed.\n")
    info = parse_help(proc.stdout + proc.stderr)
    assert info.family == "classic"
    assert {"op_profiling_output_mode", "op_profiling_output_file", "use_xnnpack", "enable_op_profiling"} <= info.flags
    if sha256_file(tool) == manifest()["tool"]["sha256"] or tool.read_bytes()[:2] == b"#!":
        # the recorded build itself, or the double that claims to be it: the same flags
        assert info.flags == parse_help(script_text()).flags


def test_flags_it_does_not_know_or_reads_twice_are_only_warned_about(tool):
    proc = _run(tool, f"--graph={TINY_INT8}", "--num_threads=1", "--no_such_flag=1", "--num_threads=2",
                *QUICK_TOOL_FLAGS)
    assert proc.returncode == 0, proc.stderr
    warning = "WARN: Unconsumed cmdline flags: --no_such_flag=1 --num_threads=2"
    assert _lines(proc.stdout)[:2] == ["INFO: STARTING!", warning]
    assert "INFO: Num threads: [1]" in proc.stdout  # the first --num_threads counted, the second did not


def test_a_value_it_cannot_read_fails_with_the_usage(tool):
    proc = _run(tool, f"--graph={TINY_INT8}", "--use_xnnpack=yes")
    assert proc.returncode == 1
    assert proc.stderr.splitlines()[0] == "ERROR: Failed to parse flag 'use_xnnpack' against argv '--use_xnnpack=yes'"
    assert proc.stderr.endswith("\nERROR: Benchmarking failed.\n")


def test_a_missing_model_is_a_failed_run_through_the_runner(tool, tmp_path):
    from harness.config import LOCAL_DEVICE
    from harness.runners.benchmark_model import BenchmarkModelRunner
    from harness.transport.local import LocalTransport

    with LocalTransport("local", workdir=tmp_path / "device") as transport:
        runner = BenchmarkModelRunner(LOCAL_DEVICE, transport, tool, version="contract")
        runner.prepare()
        missing = str(tmp_path / "gone.tflite")
        parsed = runner.parse(runner.run(missing, RunOptions(min_runs=1, min_s=0.01, warmup_min_s=0.01)))
    run = parsed.run
    assert run["status"] == "failed" and run["error_class"] == "ModelLoadError"
    assert f"Could not open '{missing}'" in run["error_message"] and run["mean_us"] is None


def test_builtin_kernels_make_no_xnnpack_delegate(tool):
    on = _run(tool, f"--graph={TINY_INT8}", "--num_threads=1", "--use_xnnpack=true", *QUICK_TOOL_FLAGS)
    off = _run(tool, f"--graph={TINY_INT8}", "--num_threads=1", "--use_xnnpack=false", *QUICK_TOOL_FLAGS)
    assert on.returncode == off.returncode == 0, on.stderr + off.stderr
    assert "Created TensorFlow Lite XNNPACK delegate for CPU." in on.stderr
    assert "XNNPACK" not in off.stderr and "INFO: Use xnnpack: [0]" in off.stdout


# --- harness run with the real tool -----------------------------------------------------------

@pytest.fixture
def cache(real_tool, harness_cli, tmp_path) -> dict[str, str]:
    """A private XDG cache holding the real tool for linux-x86_64 (this host) and x86_64 (the
    emulated phones' ABI key)."""
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    for abi in ("linux-x86_64", "x86_64"):
        added = harness_cli("tools", "add", "benchmark_model", str(real_tool), "--abi", abi, "--version",
                            "real-under-test", env=env)
        assert added.returncode == 0, added.stderr
    return env


def _check_campaign(results: Path, *, devices: set[str], variants: set[str], threads: set[int],
                    profile_kernels: set[str], csv: bool = True, version: str = "real-under-test"):
    res = load_results(results)
    runs = res.runs
    assert (runs["status"] == "ok").all(), runs[runs["status"] != "ok"][["run_id", "error_message"]].to_string()
    assert set(runs["device"]) == devices and set(runs["variant"]) == variants and set(runs["threads"]) == threads
    assert set(runs["runner_version"]) == {version}  # the tool cache's entry, or the double's mark
    real = version != "test-double"
    assert runs["notes"].fillna("").str.contains("test double").sum() == (0 if real else len(runs))
    # what the tool says it did is what was asked: threads and kernels
    assert (runs["runner_threads"] == runs["threads"]).all()
    assert (runs["runner_delegate"] == runs["delegate"]).all()
    lat = runs[runs["mode"] == "latency"]
    assert (lat["count"] >= 5).all() and (lat["p50_us"] > 0).all() and lat["init_us"].notna().all()
    prof = runs[runs["mode"] == "profile"]
    assert set(prof["delegate"]) == {"xnnpack" if k == "xnnpack" else "none" for k in profile_kernels}
    assert prof["profile_invoke_us"].notna().all()
    ops = res.ops.merge(prof[["run_id", "delegate"]], on="run_id")
    assert set(ops["run_id"]) == set(prof["run_id"])  # every profile run has its op rows
    invoke = ops[ops["phase"] == "invoke"]
    if "xnnpack" in profile_kernels:
        assert invoke[invoke["delegate"] == "xnnpack"]["op_name"].str.startswith("Delegate/").any()
    if "builtin" in profile_kernels:
        builtin = invoke[invoke["delegate"] == "none"]
        assert "CONV_2D" in set(builtin["op_type"]) and not builtin["op_name"].str.startswith("Delegate/").any()
    assert "AllocateTensors" in set(ops[ops["phase"] == "init"]["op_type"])
    for run_id in prof["run_id"]:
        campaign, key = run_id.split("/")
        raw = results / campaign / "runs" / key / "raw"
        assert (raw / "ops.csv").is_file() == csv
        assert (b"TEST DOUBLE" in (raw / "stdout.txt").read_bytes()) != real
    return res


@needs_real
def test_harness_run_on_local_with_the_real_tool(harness_cli, cache, tmp_path):
    proc = harness_cli("run", "--device", "local", "--runner", "benchmark_model", "--example", "tiny_cnn",
                       "--variants", "fp32,int8", "--threads", "1,2", *FAST, "--results", "r", env=cache)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    _check_campaign(tmp_path / "r", devices={"local"}, variants={"fp32", "int8"}, threads={1, 2},
                    profile_kernels={"xnnpack", "builtin"})
    builtin = harness_cli("run", "--device", "local", "--runner", "benchmark_model", "--example", "tiny_cnn",
                          "--variants", "int8", "--kernels", "builtin", "--profile-kernels", "builtin", *FAST,
                          "--results", "b", env=cache)
    assert builtin.returncode == 0, builtin.stdout + builtin.stderr
    res = _check_campaign(tmp_path / "b", devices={"local"}, variants={"int8"}, threads={1},
                          profile_kernels={"builtin"})
    assert set(res.runs["delegate"]) == {"none"}


def test_text_profiles_of_a_build_without_csv_output(tool, harness_cli, tmp_path):
    """Older builds have no --op_profiling_output_mode: harness then reads the profile from stdout.
    A wrapper hides the CSV flags from the tool's --help, so harness asks for a text profile."""
    older = tmp_path / "older_benchmark_model"
    hidden = "--op_profiling_output_mode=|--op_profiling_output_file=|--profiling_output_csv_file="
    older.write_text(
        "#!/bin/sh\n# the tool, its --help without the CSV profile flags (an older build, as harness sees it)\n"
        f'for a in "$@"; do [ "$a" = --help ] && {{ {shlex.quote(str(tool))} --help 2>&1 | '
        f"grep -Ev -e {shlex.quote(hidden)} >&2; exit 1; }}; done\n"
        f'exec {shlex.quote(str(tool))} "$@"\n')
    older.chmod(0o755)
    (tmp_path / "devices.toml").write_text(
        f'[devices.older]\ntransport = "local"\nrunner = "benchmark_model"\nbenchmark_model = "{older}"\n')
    proc = harness_cli("run", "--device", "older", "--example", "tiny_cnn", "--variants", "int8", *FAST,
                       "--results", "r")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    double = tool.read_bytes()[:2] == b"#!"
    res = _check_campaign(tmp_path / "r", devices={"older"}, variants={"int8"}, threads={1},
                          profile_kernels={"xnnpack", "builtin"}, csv=False,
                          version="test-double" if double else "unknown")
    prof = res.runs[res.runs["mode"] == "profile"]
    campaign, key = prof["run_id"].iloc[0].split("/")
    stdout = (tmp_path / "r" / campaign / "runs" / key / "raw" / "stdout.txt").read_text()
    assert "============================== Run Order ==============================" in stdout


def _phones(path: Path, farm, count: int) -> Path:
    lines = []
    for i, serial in enumerate(farm.serials[:count]):
        lines += [f"[devices.phone{i}]", 'transport = "adb"', f'serial = "{serial}"',
                  f'adb_server = "127.0.0.1:{farm.server_port}"', 'runner = "benchmark_model"', 'tags = ["farm"]']
    path.write_text("\n".join(lines) + "\n")
    return path


@needs_real
def test_harness_run_on_an_emulated_phone_with_the_real_tool(adb_farm, harness_cli, cache, tmp_path, real_tool):
    inv = _phones(tmp_path / "devices.toml", adb_farm, 1)
    proc = harness_cli("run", "--inventory", str(inv), "--device", "phone0", "--example", "tiny_cnn",
                       "--variants", "fp32,int8", "--threads", "1,2", *FAST, "--results", "r", env=cache)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    res = _check_campaign(tmp_path / "r", devices={"phone0"}, variants={"fp32", "int8"}, threads={1, 2},
                          profile_kernels={"xnnpack", "builtin"})
    assert set(res.runs["transport"]) == {"adb"} and set(res.runs["abi"]) == {"x86_64"}

    from harness.config import Device
    from harness.runners.benchmark_model import BenchmarkModelRunner
    from harness.transport.adb import AdbTransport

    phone = Device(name="phone0", transport="adb", serial=adb_farm.serials[0],
                   adb_server=f"127.0.0.1:{adb_farm.server_port}", runner="benchmark_model")
    with AdbTransport("phone0", adb_farm.serials[0], f"127.0.0.1:{adb_farm.server_port}") as transport:
        runner = BenchmarkModelRunner(phone, transport, real_tool, version="real-under-test")
        run = runner.parse(runner.run("/data/local/tmp/no-such-model.tflite",
                                      RunOptions(min_runs=1, min_s=0.01, warmup_min_s=0.01))).run
    assert run["status"] == "failed" and run["error_class"] == "ModelLoadError"
    assert "Could not open '/data/local/tmp/no-such-model.tflite'" in run["error_message"]


@needs_real
def test_harness_run_in_a_farm_of_two_phones_with_the_real_tool(make_adb_farm, harness_cli, cache, tmp_path):
    farm = make_adb_farm(2)
    inv = _phones(tmp_path / "devices.toml", farm, 2)
    proc = harness_cli("run", "--inventory", str(inv), "--device", "tag:farm", "--example", "tiny_cnn",
                       "--variants", "fp32,int8", "--threads", "1,2", "--profile-kernels", "builtin", *FAST,
                       "--results", "r", env=cache)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    res = _check_campaign(tmp_path / "r", devices={"phone0", "phone1"}, variants={"fp32", "int8"},
                          threads={1, 2}, profile_kernels={"builtin"})
    assert res.runs.groupby("device").size().to_dict() == {"phone0": 8, "phone1": 8}
