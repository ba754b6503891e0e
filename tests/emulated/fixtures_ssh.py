"""pytest fixtures for emulated SSH boards (load with `pytest_plugins = [..., "tests.emulated.fixtures_ssh"]`).

- `sshd`: session-wide x86_64 board (the host's file system, a throwaway user); do not break it.
- `sshd_no_python`: session-wide board whose sessions live in a busybox-only tree (no python3).
- `sshd_arm64`: session-wide board inside the arm64 root file system under qemu-user (mark tests `slow`).
- `make_sshd`: factory for private boards a test may break (`kill()`, `rekey()`, `relay()`):
  `make_sshd()` or `make_sshd("no-python")`; each is stopped at the end of the test.

Tests skip only when this machine cannot run namespaces at all (not Linux, not root). A missing Debian
package is a failure that names it (`apt-get install openssh-server ...`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.emulated.adb_device import check_host
from tests.emulated.sshd import SshServer

# `arm64_rootfs` (the unpacked arm64 tree, shared with the arm64 adb devices) lives there.
pytest_plugins = ["tests.emulated.fixtures"]


def _skip_if_impossible() -> None:
    reason = check_host()
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="session")
def sshd() -> Iterator[SshServer]:
    """An x86_64 board on loopback for the whole session: `sshd.port`, `sshd.key_path`, `sshd.ssh(...)`."""
    _skip_if_impossible()
    with SshServer("x86_64") as board:
        yield board


@pytest.fixture(scope="session")
def sshd_no_python() -> Iterator[SshServer]:
    """A board whose login sessions see only busybox (sh, coreutils-like applets, sha256sum): no Python."""
    _skip_if_impossible()
    with SshServer("no-python") as board:
        yield board


@pytest.fixture(scope="session")
def sshd_arm64(arm64_rootfs: Path) -> Iterator[SshServer]:
    """A board inside the arm64 Debian root file system (qemu-user): aarch64, /opt/venv with ai_edge_litert."""
    with SshServer("arm64", rootfs=arm64_rootfs) as board:
        yield board


@pytest.fixture
def make_sshd() -> Iterator[Callable[..., SshServer]]:
    """`make_sshd(kind="x86_64", **kwargs)` -> a started private board, stopped after the test."""
    _skip_if_impossible()
    boards: list[SshServer] = []

    def make(kind: str = "x86_64", **kwargs: object) -> SshServer:
        board = SshServer(kind, **kwargs)  # type: ignore[arg-type]
        boards.append(board)
        board.start()
        return board

    yield make
    for board in reversed(boards):
        board.stop()
