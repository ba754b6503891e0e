"""What the installed package carries: every subpackage, and the device scripts found through
importlib.resources (tests/integration/test_wheel.py checks a real wheel end to end)."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

from harness.cli.app import version_line
from harness.errors import HarnessError
from harness.resources import device_script

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = ["litert_runner.py", "device_facts.sh", "lease.sh", "tune.sh"]


def test_every_package_under_harness_is_in_the_wheel_list():
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    on_disk = {
        ".".join(init.parent.relative_to(REPO).parts)
        for init in (REPO / "harness").rglob("__init__.py")
    }
    assert set(config["packages"]) == on_disk | {"harness.device_scripts"}
    assert config["package-dir"] == {"harness.device_scripts": "device_scripts"}


@pytest.mark.parametrize("name", SCRIPTS)
def test_device_scripts_are_package_resources(name):
    path = device_script(name)
    assert path.is_file()
    assert path.read_bytes() == (REPO / "device_scripts" / name).read_bytes()


def test_a_missing_device_script_says_to_reinstall():
    with pytest.raises(HarnessError, match="nope.sh is missing .*reinstall harness"):
        device_script("nope.sh")


def test_version_names_harness_the_runtime_and_python(monkeypatch):
    assert re.fullmatch(r"harness \S+ \(ai-edge-litert \S+, Python \d+\.\d+\.\d+\)", version_line())

    def missing(name: str) -> str:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", missing)
    assert "(ai-edge-litert not installed, Python " in version_line()


def test_version_imports_no_runtime_and_no_heavy_library():
    probe = (
        "import sys; from harness.cli.app import main\n"
        "try:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'ai_edge_litert', 'pandas', 'tensorflow', 'numpy'}))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.splitlines() == [version_line(), "[]"]
