"""A transport with no device behind it, for tests of code that uses harness (the way httpx ships
``MockTransport``): a small in-memory POSIX file system and a handler that answers commands.

    def handler(argv, fake):
        if argv[:1] == ["getprop"]:
            return 0, b"Pixel 7\\n", b""
        return None  # not mine: the fake's own commands, else "not found" (127)

    with FakeTransport(handler) as t:
        remote, sent = push_cached(t, Path("model.tflite"))   # pushed once, then cached
        assert t.run(["getprop", "ro.product.model"], timeout_s=5).text() == "Pixel 7\\n"
    t.calls   # every argv run, in order

The fake itself answers the file commands harness issues around pushes and pulls (``test -f``,
``test -d``, ``mkdir -p``, ``mv -f``, ``rm -rf``, ``cat``, ``sha256sum``, ``true``, and the
``sh -c 'mkdir -p "$1" && shift && exec "$@"'`` wrapper of ``in_fresh_folder``, and that of
``run_cached_script``, which runs ``["sh", SCRIPT, ARGS...]`` through the handler when SCRIPT is
on the fake device). It checks the
same contracts as the real transports: argv lists only, a positive deadline, open before use.
"""

from __future__ import annotations

import hashlib
import posixpath
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeAlias

from harness.errors import DeadlineExceeded, TransportError
from harness.transport.base import ABSENT, CACHED_SCRIPT, CommandResult, ContextMixin

Answer: TypeAlias = "CommandResult | tuple[int, bytes, bytes] | None"
Handler: TypeAlias = "Callable[[list[str], FakeTransport], Answer]"

_FRESH_FOLDER = 'mkdir -p "$1" && shift && exec "$@"'


class FakeTransport(ContextMixin):
    """An in-memory device. ``files`` maps absolute POSIX paths to bytes; ``calls`` records every
    argv; ``handler(argv, fake)`` answers what the fake does not (return None to pass). A handler
    may raise ``DeadlineExceeded`` or ``TransportError`` to act out a hung command or a lost link."""

    def __init__(self, handler: Handler | None = None, *, name: str = "fake",
                 files: Mapping[str, bytes] | None = None, workdir: str = "/data/local/tmp/harness") -> None:
        self.name = name
        self.handler = handler
        self.files: dict[str, bytes] = dict(files or {})
        self.dirs: set[str] = {"/"}
        for path in self.files:
            self._make_parents(path)
        self.calls: list[list[str]] = []
        self.opened = False
        self._workdir = workdir

    def open(self) -> None:
        self.opened = True

    def close(self) -> None:
        self.opened = False

    def workdir(self) -> str:
        return self._workdir

    def run(self, argv: Sequence[str], *, timeout_s: float, cwd: str | None = None,
            env: Mapping[str, str] | None = None) -> CommandResult:
        self._check_open()
        if isinstance(argv, str | bytes) or not argv:
            raise TransportError(f"{self.name}: commands are argv lists, not strings (got {argv!r})")
        if timeout_s <= 0:
            raise DeadlineExceeded(list(argv), timeout_s)
        args = [str(a) for a in argv]
        self.calls.append(args)
        start = time.perf_counter()
        answer = self.handler(args, self) if self.handler else None
        if answer is None:
            answer = self._builtin(args)
        if isinstance(answer, CommandResult):
            return answer
        code, out, err = answer
        return CommandResult(tuple(args), code, out, err, time.perf_counter() - start)

    def push(self, local: Path, remote: str, *, sha256: str | None = None) -> int:
        self._check_open()
        data = Path(local).read_bytes()
        if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
            raise TransportError(f"{self.name}: {local} does not match the sha256 it was pushed with")
        self.write(remote, data)
        return len(data)

    def pull(self, remote: str, local: Path) -> int:
        self._check_open()
        if remote not in self.files:
            raise TransportError(f"{self.name}: pull of {remote} failed: no such file")
        Path(local).parent.mkdir(parents=True, exist_ok=True)
        Path(local).write_bytes(self.files[remote])
        return len(self.files[remote])

    # the in-memory file system -----------------------------------------------------------------
    def write(self, path: str, data: bytes) -> None:
        """Put a file on the fake device (its folders appear as needed)."""
        self._make_parents(path)
        self.files[posixpath.normpath(path)] = data

    def _make_parents(self, path: str) -> None:
        parent = posixpath.dirname(posixpath.normpath(path))
        while parent not in self.dirs:
            self.dirs.add(parent)
            parent = posixpath.dirname(parent)

    def _check_open(self) -> None:
        if not self.opened:
            raise TransportError(f"{self.name}: not open (use `with transport:` or open())")

    def _builtin(self, argv: list[str]) -> tuple[int, bytes, bytes]:
        cmd, args = argv[0], argv[1:]
        if cmd == "sh" and args[:2] == ["-c", _FRESH_FOLDER] and len(args) >= 5:
            self._mkdir(args[3])
            return self.run(args[4:], timeout_s=1).exit_code, b"", b""
        if cmd == "sh" and args[:2] == ["-c", CACHED_SCRIPT] and len(args) >= 4:
            if posixpath.normpath(args[3]) not in self.files:
                return ABSENT, b"", b""
            done = self.run(["sh", *args[3:]], timeout_s=1)
            return done.exit_code, done.stdout, done.stderr
        if cmd == "true":
            return 0, b"", b""
        if cmd == "test" and len(args) == 2 and args[0] in ("-f", "-d", "-e"):
            path = posixpath.normpath(args[1])
            found = {"-f": path in self.files, "-d": path in self.dirs,
                     "-e": path in self.files or path in self.dirs}[args[0]]
            return (0 if found else 1), b"", b""
        if cmd == "mkdir" and args[:1] == ["-p"]:
            for path in args[1:]:
                self._mkdir(path)
            return 0, b"", b""
        if cmd == "mv" and args[:1] == ["-f"] and len(args) == 3:
            src, dst = posixpath.normpath(args[1]), posixpath.normpath(args[2])
            if src not in self.files:
                return 1, b"", f"mv: cannot stat '{src}': No such file or directory\n".encode()
            self.write(dst, self.files.pop(src))
            return 0, b"", b""
        if cmd == "rm" and args[:1] == ["-rf"]:
            for path in (posixpath.normpath(p) for p in args[1:]):
                self.files = {k: v for k, v in self.files.items() if k != path and not k.startswith(path + "/")}
                self.dirs = {d for d in self.dirs if d != path and not d.startswith(path + "/")} | {"/"}
            return 0, b"", b""
        if cmd in ("cat", "sha256sum") and args:
            out = b""
            for path in (posixpath.normpath(p) for p in args):
                if path not in self.files:
                    return 1, out, f"{cmd}: {path}: No such file or directory\n".encode()
                data = self.files[path]
                out += data if cmd == "cat" else f"{hashlib.sha256(data).hexdigest()}  {path}\n".encode()
            return 0, out, b""
        return 127, b"", f"sh: 1: {cmd}: not found\n".encode()

    def _mkdir(self, path: str) -> None:
        path = posixpath.normpath(path)
        self._make_parents(path + "/x")
