"""`harness run` on the local device when the device cannot run what was asked: the failure says
the device's own cause and what to do next; a model whose op only XNNPACK implements gets its
XNNPACK runs and a stated reason for the builtin-kernel runs it cannot have."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness import load_results

REPO = Path(__file__).resolve().parents[2]
CUSTOM_OP = REPO / "tests" / "data" / "xnnpack_custom_op.tflite"  # tests/data/make_xnnpack_custom_op.py
FAST = ["--min-runs", "5", "--min-seconds", "0.05", "--warmup-runs", "1", "--profile-runs", "5"]
ONE_RUN = ["--example", "tiny_cnn", "--variants", "fp32", "--repeats", "1", "--no-profile", *FAST]
WHY = "custom op Convolution2DTransposeBias has no builtin kernel (XNNPACK only)"


def _failed_run(results: Path) -> dict:
    runs = load_results(results).runs
    assert len(runs) == 1 and runs.iloc[0]["status"] == "failed", runs
    return runs.iloc[0].to_dict()


def test_a_device_python_without_numpy_says_so_and_what_to_do(harness_cli, tmp_path, bare_python):
    (tmp_path / "devices.toml").write_text(f'[devices.bare]\ntransport = "local"\npython = "{bare_python}"\n')
    proc = harness_cli("run", "--device", "bare", *ONE_RUN, "--results", "results", "--campaign", "c")
    assert proc.returncode == 1, proc.stderr
    run = _failed_run(tmp_path / "results")
    assert run["error_class"] == "RuntimeMissing"
    message = run["error_message"]
    assert "ModuleNotFoundError: No module named 'numpy'" in message and "\n" not in message
    assert message.endswith(f"`{bare_python} -m pip install numpy ai-edge-litert==2.3.0` (or change python = "
                            f"\"{bare_python}\" in the inventory entry of bare)")
    assert "No module named 'numpy'" in " ".join(proc.stderr.split())  # shown to the user too (wrapped)


def test_a_device_python_that_does_not_exist_is_not_found(harness_cli, tmp_path):
    missing = tmp_path / "no-venv" / "bin" / "python"
    (tmp_path / "devices.toml").write_text(f'[devices.gone]\ntransport = "local"\npython = "{missing}"\n')
    proc = harness_cli("run", "--device", "gone", *ONE_RUN, "--results", "results", "--campaign", "c")
    assert proc.returncode == 1, proc.stderr
    run = _failed_run(tmp_path / "results")
    assert run["error_class"] == "RuntimeMissing"
    assert run["error_message"] == (
        f"the litert runner exited with code 127 and wrote no result: sh: 1: exec: {missing}: not found; "
        f"python = \"{missing}\" in the inventory entry of gone does not exist: fix it or remove it")
    raw = next((tmp_path / "results" / "c" / "runs").iterdir()) / "raw"  # the device's own words are kept
    assert f"{missing}: not found" in (raw / "stderr.txt").read_text()


def test_an_xnnpack_only_op_skips_builtin_profiles_with_the_reason(harness_cli, tmp_path):
    proc = harness_cli("run", "--model", str(CUSTOM_OP), "--repeats", "2", "--results", "results",
                       "--campaign", "c", *FAST)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"xnnpack_custom_op fp32: no builtin-kernel profile runs: {WHY}." in proc.stderr
    runs = load_results(tmp_path / "results").runs
    assert (runs["status"] == "ok").all(), runs[["run_id", "error_message"]]
    assert sorted(zip(runs["mode"], runs["delegate"], strict=True)) == [
        ("latency", "xnnpack"), ("latency", "xnnpack"), ("profile", "xnnpack")]
    meta = json.loads((tmp_path / "results" / "c" / "campaign.json").read_text())
    assert meta["skipped"] == [{"variant": "fp32", "mode": "profile", "kernels": "builtin", "reason": WHY}]
    assert all(".builtin." not in key for key in meta["plan"])


def test_builtin_latency_runs_of_such_a_model_are_refused(harness_cli, tmp_path):
    proc = harness_cli("run", "--model", str(CUSTOM_OP), "--kernels", "builtin", "--results", "results", *FAST)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines == [f"error: --kernels builtin cannot run xnnpack_custom_op (fp32): {WHY}; use --kernels xnnpack."]
    assert not (tmp_path / "results").exists()


def test_a_board_python_without_numpy_is_told_to_provision(harness_cli, tmp_path):
    """The same failure over real SSH (an sshd on loopback): the board's stderr crosses the link."""
    from tests.emulated.adb_device import check_host
    from tests.emulated.sshd import SshServer

    if reason := check_host():
        pytest.skip(reason)
    with SshServer() as board:
        bare = f"{board.home}/bare"  # a Python with no packages, made by the board's user
        board.ssh("python3", "-m", "venv", "--without-pip", bare, check=True)
        (tmp_path / "devices.toml").write_text(board.devices_toml("board") + f'python = "{bare}/bin/python"\n')
        proc = harness_cli("run", "--device", "board", *ONE_RUN, "--results", "results", "--campaign", "c")
    assert proc.returncode == 1, proc.stderr
    run = _failed_run(tmp_path / "results")
    assert run["error_class"] == "RuntimeMissing" and run["transport"] == "ssh", run["error_message"]
    assert run["error_message"].endswith(
        "ModuleNotFoundError: No module named 'numpy'; run `harness devices provision board` (or set python = "
        "\"PATH\" in its inventory entry)")
