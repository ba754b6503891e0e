"""Children that open models on this host are contained: the validation child and every command of
the local device get an allow-listed environment (a sentinel secret in the controller's environment
never reaches them), limits they can see in /proc/self/limits, and no network when run as root."""

from __future__ import annotations

import json
import os
import re
import shutil

import pytest

from harness.errors import InvalidModelError
from harness.transport.local import LocalTransport

SECRET = "AWS_SECRET_ACCESS_KEY"
SENTINEL = "sentinel-do-not-leak-0b1c"


def limits(text: str) -> dict[str, str]:
    """/proc/self/limits as {name: soft limit}."""
    out = {}
    for line in text.splitlines()[1:]:
        m = re.match(r"(Max [a-z ]+?)\s{2,}(\S+)", line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def check(env: dict[str, str], limit_text: str, interfaces: list[str]) -> None:
    assert SECRET not in env and SENTINEL not in json.dumps(env)
    assert "PATH" in env
    got = limits(limit_text)
    for name in ("Max cpu time", "Max address space", "Max file size", "Max processes", "Max open files"):
        assert got[name] != "unlimited", (name, got)
    assert got["Max core file size"] == "0"
    if os.geteuid() == 0 and shutil.which("unshare"):
        assert interfaces == ["lo"]  # a network namespace of its own: no way out


@pytest.fixture
def secret(monkeypatch):
    monkeypatch.setenv(SECRET, SENTINEL)
    monkeypatch.setenv("GITHUB_TOKEN", SENTINEL)


def test_local_device_commands_are_contained(secret, tmp_path):
    with LocalTransport("local", tmp_path / "device") as t:
        env_out = t.run(["env", "-0"], timeout_s=10).stdout.decode()
        env = dict(kv.split("=", 1) for kv in env_out.split("\0") if "=" in kv)
        lim = t.run(["cat", "/proc/self/limits"], timeout_s=10).text()
        dev = t.run(["cat", "/proc/net/dev"], timeout_s=10).text()
        extra = t.run(["sh", "-c", "echo $HARNESS_SYSFS"], timeout_s=10, env={"HARNESS_SYSFS": "/fake"}).text()
    check(env, lim, [line.split(":")[0].strip() for line in dev.splitlines()[2:]])
    assert extra.strip() == "/fake"  # what the caller passes on purpose still arrives


def test_the_validation_child_is_contained(secret, tmp_path, monkeypatch):
    from harness.models import validate
    from harness.models.examples import example_variants

    model = tmp_path / "m.tflite"
    model.write_bytes(example_variants("tiny_cnn")["fp32"].read_bytes())
    monkeypatch.setattr(validate, "WORKER_MODULE", "tests.doubles.child_probe")
    with pytest.raises(InvalidModelError, match="probed"):
        validate.validate_model(model)
    seen = json.loads((tmp_path / "m.tflite.probe.json").read_text())
    check(seen["env"], seen["limits"], seen["interfaces"])
    assert limits(seen["limits"])["Max address space"] != "unlimited"


def test_a_run_on_the_local_device_still_works_contained(secret, harness_cli, tmp_path):
    proc = harness_cli("run", "--example", "tiny_cnn", "--variants", "fp32", "--repeats", "1", "--no-profile",
                       "--min-runs", "5", "--min-seconds", "0.05", "--results", "r")
    assert proc.returncode == 0, proc.stderr
