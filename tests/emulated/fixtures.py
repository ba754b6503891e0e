"""pytest fixtures for emulated Android devices (load with `pytest_plugins = ["tests.emulated.fixtures"]`).

- `adb_farm`: session-wide farm with one x86_64 device (`adb_farm.serials[0]`); do not kill it.
- `adb_farm_arm64`: session-wide farm with one arm64 device under qemu-user (builds/restores the rootfs).
- `arm64_rootfs`: Path of the unpacked arm64 root file system (also for the SSH-board tests).
- `make_adb_farm`: factory for private farms a test may break (kill devices, restart the server);
  each is stopped at the end of the test.

Tests skip only when this machine cannot run namespaces at all (not Linux, not root, no namespace
support). Missing Debian packages or an unreachable mirror are failures that say what to install.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from tests.emulated.adb_device import DeviceSpec, check_host
from tests.emulated.adb_farm import AdbFarm

ARM64_SPEC = DeviceSpec(
    name="emu-arm64",
    arch="aarch64",
    props={
        "ro.product.model": "Emulated arm64 board",
        "ro.product.manufacturer": "harness",
        "ro.soc.model": "emulated-aarch64",
        "ro.board.platform": "qemu",
    },
)


def _skip_if_impossible() -> None:
    reason = check_host()
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="session")
def arm64_rootfs() -> Path:
    """The arm64 Debian root file system (built once, ~5 min; restored from the cache in ~1 s)."""
    _skip_if_impossible()
    from tests.emulated.arm64_rootfs import ensure_rootfs

    return ensure_rootfs()


@pytest.fixture(scope="session")
def adb_farm() -> Iterator[AdbFarm]:
    """One x86_64 emulated device behind a real adb server, for the whole session."""
    _skip_if_impossible()
    with AdbFarm([DeviceSpec(name="emu-x86_64")]) as farm:
        yield farm


@pytest.fixture(scope="session")
def adb_farm_arm64(arm64_rootfs: Path) -> Iterator[AdbFarm]:
    """One arm64 emulated device (adbd and its shells under qemu-user) behind a real adb server."""
    spec = DeviceSpec(name=ARM64_SPEC.name, arch="aarch64", props=ARM64_SPEC.props, rootfs=str(arm64_rootfs))
    with AdbFarm([spec]) as farm:
        yield farm


@pytest.fixture
def make_adb_farm() -> Iterator[Callable[..., AdbFarm]]:
    """`make_adb_farm(devices=[DeviceSpec(...)] or N)` -> a started farm, stopped after the test."""
    _skip_if_impossible()
    farms: list[AdbFarm] = []

    def make(devices: Sequence[DeviceSpec] | int = 1) -> AdbFarm:
        farm = AdbFarm(devices)
        farm.start()
        farms.append(farm)
        return farm

    yield make
    for farm in reversed(farms):
        farm.stop()
