"""The host itself as a device: a scratch folder stands in for the device's file system.

Every command runs contained (``harness.contain``): an allow-listed environment, resource limits,
and no network when harness runs as root — what runs here may be opening an untrusted model."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from harness.errors import DeadlineExceeded, TransportError
from harness.transport.base import CommandResult, ContextMixin


def default_workdir() -> Path:
    from harness.paths import cache_dir

    return cache_dir("local-device")


class LocalTransport(ContextMixin):
    """Runs commands as child processes of this host, in their own process group."""

    def __init__(self, name: str = "local", workdir: str | os.PathLike[str] | None = None) -> None:
        self.name = name
        self._workdir = Path(workdir) if workdir else default_workdir()
        self._opened = False

    def open(self) -> None:
        try:
            self._workdir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TransportError(f"local: cannot create the device folder {self._workdir}: {exc}") from exc
        self._opened = True

    def close(self) -> None:
        self._opened = False

    def workdir(self) -> str:
        return str(self._workdir)

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout_s: float,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> CommandResult:
        from harness.contain import Limits, child_env, contained_argv

        argv = tuple(str(a) for a in argv)
        program = argv[0] if argv else ""
        where = os.path.join(cwd or "", program) if "/" in program else shutil.which(program)
        if not where or not os.access(where, os.X_OK):  # said here: behind prlimit it would be an exit code
            raise TransportError(f"local: cannot start {program or '(nothing)'}: no such program")
        start = time.perf_counter()
        try:
            proc = subprocess.Popen(  # contained: what runs here may be opening an untrusted model
                contained_argv(argv, Limits.for_run(timeout_s)),
                cwd=cwd,
                env=child_env(env),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
            raise TransportError(f"local: cannot start {argv[0]}: {exc.strerror or exc}") from exc
        try:
            out, err = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            proc.communicate()
            raise DeadlineExceeded(list(argv), timeout_s) from None
        except BaseException:
            _kill_group(proc)
            proc.communicate()
            raise
        return CommandResult(argv, proc.returncode, out, err, time.perf_counter() - start)

    def push(self, local: Path, remote: str, *, sha256: str | None = None) -> int:  # noqa: ARG002 - no wire
        return self._copy(Path(local), Path(remote))

    def pull(self, remote: str, local: Path) -> int:
        return self._copy(Path(remote), Path(local))

    def _copy(self, src: Path, dst: Path) -> int:
        try:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
            return dst.stat().st_size
        except OSError as exc:
            raise TransportError(f"local: cannot copy {src} to {dst}: {exc.strerror or exc}") from exc


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
