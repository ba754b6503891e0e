"""Why a device command failed and what to do next, over real stderr samples
(tests/data/device_stderr/, provenance in its SOURCES.md)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from harness.config import Device
from harness.models.inspect import XNNPACK_ONLY_OPS, inspect_model, no_builtin_kernel
from harness.runners.base import RunnerOutput
from harness.runners.benchmark_model import BenchmarkModelRunner
from harness.runners.diagnose import device_cause, failure_kind, next_step
from harness.transport.base import CommandResult

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "tests" / "data" / "device_stderr"
CUSTOM_OP_MODEL = REPO / "tests" / "data" / "xnnpack_custom_op.tflite"

SSH = Device("pi5", transport="ssh", host="pi5.lan")
ADB = Device("pixel", transport="adb", serial="1A2B3C")
LOCAL_VENV = Device("bare", transport="local", python="/opt/bare/bin/python")
LOCAL = Device("local", transport="local")


def sample(name: str) -> str:
    return (SAMPLES / name).read_text()


@pytest.fixture(scope="module")
def device_runner():
    """device_scripts/litert_runner.py as a module (it never imports harness)."""
    path = REPO / "device_scripts" / "litert_runner.py"
    spec = importlib.util.spec_from_file_location("litert_runner_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CAUSES = {
    "litert_runner_no_numpy.txt": "ModuleNotFoundError: No module named 'numpy'",
    "dash_python3_not_found.txt": "sh: 1: exec: python3: not found",
    "busybox_python3_not_found.txt": "sh: exec: line 0: python3: not found",
    "mksh_python3_not_found.txt": "E: sh: python3: inaccessible or not found",
    "bash_python3_not_found.txt": "/bin/bash: line 1: python3: command not found",
    "dash_python_path_not_found.txt": "sh: 1: exec: /opt/venv-gone/bin/python: not found",
    "dash_python_permission_denied.txt": "sh: 1: exec: /tmp/pytest-of-root/pytest-21/bare-venv0/bin/python: "
                                         "Permission denied",
    "dash_exec_format_error.txt":
        "sh: 1: exec: /work/shared/tools/benchmark_model/linux-aarch64/benchmark_model: Exec format error",
    "benchmark_model_missing_shared_library.txt":
        "/work/shared/tools/benchmark_model/linux-x86_64/benchmark_model: error while loading shared libraries: "
        "libprotobuf.so.32: cannot open shared object file: No such file or directory",
    "dash_killed.txt": "Killed",
    "bash_killed.txt": '/bin/bash: line 1: 20029 Killed python3 -c "import os; os.kill(os.getpid(), 9)"',
    "dash_segfault.txt": "Segmentation fault",
    "benchmark_model_unresolved_custom_op_stderr.txt":
        "ERROR: Encountered unresolved custom op: Convolution2DTransposeBias.",
    # the runtime's own ERROR lines: the first of its cascade (the runner's FAILED line is its note)
    "litert_runner_builtin_custom_op.txt": "ERROR: Stub operation invoked. This function should not be called.",
    # only the runner's notes and INFO logs: the cause is in the runner's result, not in stderr
    "litert_runner_worker_sigkill.txt": None,
}


def test_every_sample_has_an_expected_cause():
    assert sorted(CAUSES) == sorted(p.name for p in SAMPLES.glob("*.txt"))


@pytest.mark.parametrize("name", sorted(CAUSES))
def test_cause_is_the_line_that_says_why(name):
    assert device_cause(sample(name)) == CAUSES[name]


@pytest.mark.parametrize("name", sorted(CAUSES))
def test_the_device_runner_finds_the_same_cause(name, device_runner):
    assert device_runner.stderr_cause(sample(name)) == device_cause(sample(name))


def test_a_death_by_signal_with_nothing_on_stderr_is_read_from_the_exit_code():
    assert device_cause("", -9) == "killed by SIGKILL"
    assert device_cause("\n", 139) == "killed by SIGSEGV"
    assert device_cause("", 1) is None
    assert failure_kind("killed by SIGKILL") == "out_of_memory"


def test_missing_numpy_on_a_board_says_provision_it():
    cause = device_cause(sample("litert_runner_no_numpy.txt"))
    assert next_step(cause, SSH, "litert") == \
        'run `harness devices provision pi5` (or set python = "PATH" in its inventory entry)'


def test_an_ad_hoc_board_is_named_as_the_user_named_it():
    adhoc = Device("pi@10.0.0.7", transport="ssh", host="10.0.0.7", user="pi", port=2222, tags=("adhoc",))
    step = next_step("ModuleNotFoundError: No module named 'ai_edge_litert'", adhoc, "litert")
    assert step.startswith("run `harness devices provision ssh://pi@10.0.0.7:2222`")


def test_missing_python_on_a_phone_says_use_benchmark_model():
    step = next_step(device_cause(sample("mksh_python3_not_found.txt"), 127), ADB, "litert")
    assert "use --runner benchmark_model" in step and 'set python = "PATH"' in step


def test_missing_numpy_for_an_inventory_python_names_the_install_command():
    step = next_step(device_cause(sample("litert_runner_no_numpy.txt")), LOCAL_VENV, "litert")
    assert "`/opt/bare/bin/python -m pip install numpy ai-edge-litert==2.3.0`" in step


@pytest.mark.parametrize("name", ["dash_python3_not_found.txt", "busybox_python3_not_found.txt",
                                  "mksh_python3_not_found.txt", "bash_python3_not_found.txt"])
def test_python_not_found_in_any_shell(name):
    cause = device_cause(sample(name), 127)
    assert failure_kind(cause) == "not_found"
    assert "harness devices provision pi5" in next_step(cause, SSH, "litert")
    assert next_step(cause, LOCAL_VENV, "litert") == \
        'python = "/opt/bare/bin/python" in the inventory entry of bare does not exist: fix it or remove it'


def test_a_python_the_device_user_may_not_run():
    python = "/tmp/pytest-of-root/pytest-21/bare-venv0/bin/python"
    board = Device("board", transport="ssh", host="127.0.0.1", python=python)
    cause = device_cause(sample("dash_python_permission_denied.txt"), 126)
    assert next_step(cause, board, "litert") == (
        f'the device\'s user may not run {python}: fix its permissions, or set python = "PATH" in its inventory entry')


def test_killed_means_out_of_memory_likely():
    for name in ("dash_killed.txt", "bash_killed.txt"):
        assert "ran out of memory" in next_step(device_cause(sample(name)), LOCAL, "litert")
    runner_message = "the measuring process was killed by SIGKILL during the timed invokes"
    assert "ran out of memory" in next_step(runner_message, SSH, "litert")


def test_a_benchmark_model_build_that_cannot_start():
    wrong = next_step(device_cause(sample("dash_exec_format_error.txt")), ADB, "benchmark_model")
    assert "built for another CPU architecture" in wrong and "harness tools add benchmark_model" in wrong
    library = next_step(device_cause(sample("benchmark_model_missing_shared_library.txt")), ADB, "benchmark_model")
    assert library.startswith("the benchmark_model binary needs libprotobuf.so.32, which the device lacks")


def test_an_unresolved_xnnpack_only_op_says_use_xnnpack():
    cause = device_cause(sample("benchmark_model_unresolved_custom_op_stderr.txt"))
    assert next_step(cause, ADB, "benchmark_model") == \
        "custom op Convolution2DTransposeBias has no builtin kernel (XNNPACK only): use --kernels xnnpack"
    # a message that already says so gets nothing more
    assert next_step("custom op X has no builtin kernel (XNNPACK only); use --kernels xnnpack", ADB, "litert") is None


def test_causes_harness_cannot_help_with_get_no_advice():
    assert next_step("ModelLoadError: cannot load 'm.tflite' as a TFLite model", SSH, "litert") is None
    assert next_step(CAUSES["litert_runner_builtin_custom_op.txt"], LOCAL, "litert") is None


def test_benchmark_model_failure_message_names_the_op_and_the_fix():
    """The runner's parse over the real stdout + stderr of the classic tool with XNNPACK off."""
    runner = BenchmarkModelRunner(ADB, transport=None, binary=Path("benchmark_model"))  # type: ignore[arg-type]
    command = CommandResult(("benchmark_model",), 1,
                            (SAMPLES / "benchmark_model_unresolved_custom_op_stdout.log").read_bytes(),
                            (SAMPLES / "benchmark_model_unresolved_custom_op_stderr.txt").read_bytes(), 0.1)
    run = runner.parse(RunnerOutput(command=command)).run
    assert run["status"] == "failed"
    assert "Encountered unresolved custom op: Convolution2DTransposeBias" in run["error_message"]
    assert run["error_message"].endswith(
        "custom op Convolution2DTransposeBias has no builtin kernel (XNNPACK only): use --kernels xnnpack")
    assert "\n" not in run["error_message"]


def test_benchmark_model_that_cannot_start_is_runtime_missing():
    from harness.errors import RuntimeMissing

    runner = BenchmarkModelRunner(ADB, transport=None, binary=Path("benchmark_model"))  # type: ignore[arg-type]
    command = CommandResult(("sh",), 126, b"", (SAMPLES / "dash_exec_format_error.txt").read_bytes(), 0.01)
    with pytest.raises(RuntimeMissing) as caught:
        runner.parse(RunnerOutput(command=command))
    message = str(caught.value)
    assert message.startswith("benchmark_model exited with code 126 before benchmarking: sh: 1: exec: ")
    assert "Exec format error; the benchmark_model binary is built for another CPU architecture" in message


# -- ops only XNNPACK implements -----------------------------------------------------------------


def test_the_test_model_holds_an_xnnpack_only_op():
    info = inspect_model(CUSTOM_OP_MODEL)
    assert info.ops == {"Convolution2DTransposeBias": 1}
    assert info.xnnpack_only_ops == ["Convolution2DTransposeBias"]
    tiny = REPO / "harness" / "models" / "examples_data" / "tiny_cnn" / "fp32.tflite"
    assert inspect_model(tiny).xnnpack_only_ops == []


def test_the_device_runner_reads_custom_ops_and_says_the_same_sentence(device_runner, tmp_path):
    assert tuple(device_runner.XNNPACK_ONLY_CUSTOM_OPS) == XNNPACK_ONLY_OPS
    assert device_runner.custom_op_names(str(CUSTOM_OP_MODEL)) == ["Convolution2DTransposeBias"]
    assert device_runner.no_builtin_kernel(str(CUSTOM_OP_MODEL)) == no_builtin_kernel("Convolution2DTransposeBias")
    tiny = REPO / "harness" / "models" / "examples_data" / "tiny_cnn" / "int8.tflite"
    assert device_runner.custom_op_names(str(tiny)) == []
    broken = tmp_path / "broken.tflite"
    broken.write_bytes(CUSTOM_OP_MODEL.read_bytes()[:40])
    assert device_runner.custom_op_names(str(broken)) == []
    assert device_runner.custom_op_names(str(tmp_path / "missing.tflite")) == []
