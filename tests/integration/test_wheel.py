"""The installed package is the product: build the sdist and the wheel of this checkout, install
the wheel (without TensorFlow) in a fresh venv outside the checkout, and run an example there.

`python -m build` builds the sdist first and the wheel from the unpacked sdist, so a file the
sdist forgets is missing from the wheel too. The venv's dependencies come from PyPI through
pip's cache and configuration, as `make setup`'s do.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = ["litert_runner.py", "device_facts.sh", "lease.sh", "tune.sh"]
EXAMPLE_FILES = [f"{name}/{f}" for name in ("tiny_cnn", "mobilenet_v2")
                 for f in ("fp32.tflite", "fp16.tflite", "dynamic.tflite", "int8.tflite", "manifest.json")]


def _run(argv: list[str | Path], *, env: dict[str, str], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, argv))} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def _env_without_checkout() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("HARNESS_")}
    env.pop("VIRTUAL_ENV", None)
    return env


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "build", "--outdir", out, REPO], env=_env_without_checkout(), cwd=out, timeout=900)
    (wheel,) = out.glob("harness-*.whl")
    (sdist,) = out.glob("harness-*.tar.gz")
    return {"wheel": wheel, "sdist": sdist}


@pytest.fixture(scope="module")
def venv(dists: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv outside the checkout with the wheel installed (not editable, no extras)."""
    home = tmp_path_factory.mktemp("venv-home")
    venv = home / "venv"
    env = _env_without_checkout()
    _run([sys.executable, "-m", "venv", venv], env=env, cwd=home, timeout=300)
    _run([venv / "bin" / "python", "-m", "pip", "install", "-q", "--disable-pip-version-check", dists["wheel"]],
         env=env, cwd=home, timeout=1500)
    return venv


def test_wheel_and_sdist_carry_the_device_scripts_and_the_example_models(dists):
    wheel_names = set(zipfile.ZipFile(dists["wheel"]).namelist())
    with tarfile.open(dists["sdist"]) as sdist:
        top = sdist.getnames()[0].split("/")[0]
        sdist_names = {name.removeprefix(top + "/") for name in sdist.getnames()}
    for script in SCRIPTS:
        assert f"harness/device_scripts/{script}" in wheel_names
        assert f"device_scripts/{script}" in sdist_names
    for example in EXAMPLE_FILES:
        assert f"harness/models/examples_data/{example}" in wheel_names
        assert f"harness/models/examples_data/{example}" in sdist_names


def test_installed_wheel_runs_an_example_without_tensorflow(venv, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    env = _env_without_checkout()
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg-cache")
    env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg-config")
    env["COLUMNS"] = "200"

    version = _run([venv / "bin" / "harness", "--version"], env=env, cwd=work, timeout=120).stdout
    assert re.fullmatch(r"harness \S+ \(ai-edge-litert \S+, Python \d+\.\d+\.\d+\)\n", version), version

    no_tf = subprocess.run([venv / "bin" / "python", "-c", "import tensorflow"], cwd=work, env=env,
                           capture_output=True, text=True, timeout=120)
    assert no_tf.returncode != 0 and "No module named 'tensorflow'" in no_tf.stderr

    found = _run([venv / "bin" / "python", "-c",
                  "from harness.resources import device_script; print(device_script('litert_runner.py'))"],
                 env=env, cwd=work, timeout=120).stdout.strip()
    assert Path(found).is_relative_to(venv), found

    _run([venv / "bin" / "harness", "run", "--example", "tiny_cnn", "--repeats", "1", "--no-profile",
          "--min-runs", "5", "--min-seconds", "0.1"], env=env, cwd=work, timeout=600)
    (campaign,) = (work / "results").iterdir()
    info = json.loads((campaign / "campaign.json").read_text())
    assert {Path(v["path"]).is_relative_to(venv) for v in info["variants"].values()} == {True}
    runs = [json.loads(p.read_text())["run"] for p in sorted(campaign.glob("runs/*/run.json"))]
    assert sorted(r["variant"] for r in runs) == ["dynamic", "fp16", "fp32", "int8"]
    assert {(r["status"], r["runtime"], r["cores"] is not None) for r in runs} == {("ok", "ai_edge_litert", True)}
