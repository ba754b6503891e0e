"""The one transport seam: run a command, push a file, pull a file — on some device.

Every implementation is small, maps its library's errors to the error tree, gives every
command a deadline and a real exit code, and takes argv lists (quoted once, at its boundary).
Constructors store parameters; ``open()`` (or ``with``) connects.
"""

from __future__ import annotations

import functools
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from harness.errors import TransportError
from harness.fileio import sha256_file


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    exit_code: int
    stdout: bytes
    stderr: bytes
    duration_s: float

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def text(self, stream: str = "stdout") -> str:
        data = self.stdout if stream == "stdout" else self.stderr
        return data.decode("utf-8", errors="replace")


@runtime_checkable
class Transport(Protocol):
    """What the runners need from a device."""

    name: str

    def open(self) -> None: ...

    def close(self) -> None: ...

    def __enter__(self) -> Transport: ...

    def __exit__(self, *exc: object) -> None: ...

    def workdir(self) -> str:
        """The harness's scratch root on the device (a POSIX path)."""
        ...

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout_s: float,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> CommandResult:
        """Run argv on the device; raise DeadlineExceeded past timeout_s, TransportError if
        the command could not be started at all. A non-zero exit is a result, not an error."""
        ...

    def push(self, local: Path, remote: str, *, sha256: str | None = None) -> int:
        """Copy a local file to the device, verified where the transport crosses a wire;
        ``sha256``: the file's digest when the caller knows it already. Returns the bytes sent."""
        ...

    def pull(self, remote: str, local: Path) -> int:
        """Copy a device file to a local path; returns the bytes received."""
        ...


class ContextMixin:
    """``with transport:`` calls the transport's own ``open()`` and ``close()``."""

    def __enter__(self):  # type: ignore[no-untyped-def]
        self.open()  # type: ignore[attr-defined]
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()  # type: ignore[attr-defined]


def cached_path(transport: Transport, local: Path, *, sha256: str | None = None) -> str:
    """Where ``push_cached`` puts ``local`` on the device: ``<workdir>/cache/<sha256>/<file name>``."""
    return posixpath.join(transport.workdir(), "cache", sha256 or sha256_file(local), local.name)


ABSENT = 98  # run_cached_script's exit code when the script is not on the device yet
CACHED_SCRIPT = f'[ -f "$1" ] || exit {ABSENT}; exec sh "$@"'  # sh -c CACHED_SCRIPT sh REMOTE ARGS...


@functools.lru_cache(maxsize=32)
def _digest(path: str, mtime_ns: int, size: int) -> str:
    """A script's sha256, hashed once per version of the file (a thermal read runs every run)."""
    return sha256_file(Path(path))


def run_cached_script(transport: Transport, local: Path, args: Sequence[str], *, timeout_s: float) -> CommandResult:
    """``sh SCRIPT ARGS`` with ``local`` from the device's content-addressed cache, in one round trip
    when it is there already (no existence check first); pushed (``push_cached``) and run again
    when it is not."""
    stat = local.stat()
    digest = _digest(str(local), stat.st_mtime_ns, stat.st_size)
    remote = cached_path(transport, local, sha256=digest)
    argv = ["sh", "-c", CACHED_SCRIPT, "sh", remote, *args]
    result = transport.run(argv, timeout_s=timeout_s)
    if result.exit_code == ABSENT and not result.stdout and not result.stderr:
        push_cached(transport, local, sha256=digest)
        result = transport.run(argv, timeout_s=timeout_s)
    return result


def push_cached(transport: Transport, local: Path, *, sha256: str | None = None) -> tuple[str, int]:
    """Push ``local`` into the device's content-addressed cache; return (remote path, bytes sent).

    The remote path is ``<workdir>/cache/<sha256>/<file name>``; a file already there is never
    pushed again. Upload goes to a temporary name and is renamed into place, so an interrupted
    push never leaves a file that looks complete.
    """
    digest = sha256 or sha256_file(local)
    remote = cached_path(transport, local, sha256=digest)
    folder = posixpath.dirname(remote)
    probe = transport.run(["test", "-f", remote], timeout_s=30)
    if probe.ok:
        return remote, 0
    made = transport.run(["mkdir", "-p", folder], timeout_s=30)
    if not made.ok:
        raise TransportError(f"{transport.name}: cannot create {folder}: {made.text('stderr').strip()}")
    partial = remote + ".partial"
    sent = transport.push(local, partial, sha256=digest)
    moved = transport.run(["mv", "-f", partial, remote], timeout_s=30)
    if not moved.ok:
        raise TransportError(f"{transport.name}: cannot move {partial} into place: {moved.text('stderr').strip()}")
    return remote, sent


def in_fresh_folder(folder: str, argv: Sequence[str]) -> list[str]:
    """argv run inside a newly made ``folder`` (one round trip instead of two)."""
    return ["sh", "-c", 'mkdir -p "$1" && shift && exec "$@"', "sh", folder, *argv]


def pull_bytes(transport: Transport, remote: str, *, expected: bool = False) -> bytes | None:
    """The content of a device file, or None if there is no such file. ``expected``: the
    command that writes it succeeded, so skip the existence check (one round trip less)."""
    if not expected and not transport.run(["test", "-f", remote], timeout_s=30).ok:
        return None
    import tempfile

    with tempfile.TemporaryDirectory(prefix="harness-pull-") as tmp:
        local = Path(tmp) / posixpath.basename(remote)
        transport.pull(remote, local)
        return local.read_bytes()
