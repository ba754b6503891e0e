"""Opt-in tier on real hardware: `python -m pytest tests/device --run-device` with
HARNESS_INVENTORY naming an inventory and HARNESS_TEST_DEVICE one of its devices (a phone over
ADB with a benchmark_model for its ABI in `harness tools`, or a board with the litert runner).
Skipped everywhere else; these machines have no phones or boards."""

from __future__ import annotations

import os

import pytest

from harness import load_results


@pytest.fixture
def device_name() -> str:
    name = os.environ.get("HARNESS_TEST_DEVICE")
    if not name or not os.environ.get("HARNESS_INVENTORY"):
        pytest.skip("set HARNESS_INVENTORY and HARNESS_TEST_DEVICE to a real device")
    return name


def test_four_variants_on_the_real_device(device_name, harness_cli, tmp_path):
    env = {"HARNESS_INVENTORY": os.environ["HARNESS_INVENTORY"]}
    listed = harness_cli("devices", env=env)
    assert device_name in listed.stdout
    proc = harness_cli("run", "--device", device_name, "--example", "mobilenet_v2", "--repeats", "2",
                       "--results", "r", env=env, timeout=1800)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    res = load_results(tmp_path / "r")
    assert set(res.runs["variant"]) == {"fp32", "fp16", "dynamic", "int8"}
    assert (res.runs["status"] == "ok").all()
    assert res.runs["device_model"].notna().all()
    prof = res.ops[res.ops["phase"] == "invoke"]
    assert not prof.empty and (prof["avg_ms"] > 0).any()
