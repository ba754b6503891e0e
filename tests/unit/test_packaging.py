"""What the installed package carries: every subpackage, and the device scripts found through
importlib.resources (tests/integration/test_wheel.py checks a real wheel end to end)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

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
