from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# emulated Android devices (real adbd in namespaces behind Debian's adb server)
pytest_plugins = ["tests.emulated.fixtures", "tests.emulated.fixtures_ssh"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-device", action="store_true", help="run tests/device against real hardware")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-device"):
        return
    skip = pytest.mark.skip(reason="real hardware: pass --run-device")
    for item in items:
        if "tests/device/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def cache_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private XDG cache (local device folder, conversion cache) for the whole session."""
    return tmp_path_factory.mktemp("xdg-cache")


@pytest.fixture
def harness_cli(cache_home: Path, tmp_path: Path):
    """Run the real `harness` command line as a user would (python -m harness)."""

    def run(*args: str, cwd: Path | None = None, timeout: float = 600, check: bool = False,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        full_env = dict(os.environ)
        full_env["XDG_CACHE_HOME"] = str(cache_home)
        full_env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg-config")
        full_env.pop("HARNESS_INVENTORY", None)
        full_env["COLUMNS"] = "200"
        full_env.update(env or {})
        proc = subprocess.run(
            [sys.executable, "-m", "harness", *args],
            cwd=cwd or tmp_path, env=full_env, capture_output=True, text=True, timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"harness {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        return proc

    return run


@pytest.fixture(scope="session")
def bare_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Python with no packages at all (a venv without pip): a device that lacks numpy."""
    venv = tmp_path_factory.mktemp("bare-venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    probe = subprocess.run([str(python), "-c", "import numpy"], capture_output=True, text=True, timeout=60)
    assert probe.returncode == 1 and "No module named 'numpy'" in probe.stderr
    return python
