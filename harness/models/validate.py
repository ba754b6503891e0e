"""Is this file a model the runtime can open? Reject it with a one-line reason if not.

``validate_model(path)`` runs two checks:

1. in-process and cheap: the file exists, is not empty, carries the ``TFL3`` identifier at
   offset 4 and parses with ``inspect_model`` (bounds-checked; no runtime involved);
2. in a child process (``python -m harness.models._validate_worker``): the real LiteRT
   interpreter opens the model and allocates its tensors, under a time limit and an address
   space limit (``RLIMIT_AS``), with core dumps off. A segfault, abort, hang or out-of-memory
   in the runtime becomes a reason ("runtime crashed with SIGSEGV while opening the model")
   instead of taking the harness down.

Every failure is an ``InvalidModelError(path, reason)`` (a ``UserError``: exit code 2).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import InvalidModelError
from harness.models.inspect import FILE_IDENTIFIER, ModelInfo, inspect_model

DEFAULT_TIMEOUT_S = 10.0
DEFAULT_MEMORY_MB = 2048
MAX_BYTES = 2 * 1024**3  # flatbuffers address 2 GiB; larger models keep weights outside


@dataclass(frozen=True)
class Validation:
    """One file's outcome in ``validate_each``: ``info`` when valid, else ``error``."""

    path: str
    info: ModelInfo | None
    error: InvalidModelError | None
    seconds: float

    @property
    def ok(self) -> bool:
        return self.error is None


def validate_model(
    path: str | os.PathLike[str],
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    memory_mb: int = DEFAULT_MEMORY_MB,
) -> ModelInfo:
    """Check ``path`` cheaply, then open it with the runtime in a child; returns its ModelInfo."""
    p = Path(path)
    _cheap_checks(p)
    info = inspect_model(p)
    _open_in_child(p, timeout_s=timeout_s, memory_mb=memory_mb)
    return info


def validate_models(
    paths: Iterable[str | os.PathLike[str]],
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    memory_mb: int = DEFAULT_MEMORY_MB,
) -> list[ModelInfo]:
    """Validate each path in order; raises the first file's ``InvalidModelError``."""
    return [validate_model(p, timeout_s=timeout_s, memory_mb=memory_mb) for p in paths]


def validate_each(
    paths: Iterable[str | os.PathLike[str]],
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    memory_mb: int = DEFAULT_MEMORY_MB,
) -> list[Validation]:
    """Validate every path, collecting outcomes instead of stopping at the first failure."""
    out = []
    for p in paths:
        t0 = time.monotonic()
        try:
            info = validate_model(p, timeout_s=timeout_s, memory_mb=memory_mb)
            out.append(Validation(str(p), info, None, time.monotonic() - t0))
        except InvalidModelError as exc:
            out.append(Validation(str(p), None, exc, time.monotonic() - t0))
    return out


def _cheap_checks(p: Path) -> None:
    name = str(p)
    if not p.exists():
        raise InvalidModelError(name, "no such file")
    if p.is_dir():
        raise InvalidModelError(name, "is a folder, not a .tflite file")
    try:
        size = p.stat().st_size
        with open(p, "rb") as f:
            head = f.read(8)
    except OSError as exc:
        raise InvalidModelError(name, f"cannot read: {exc.strerror or exc}") from exc
    if size == 0:
        raise InvalidModelError(name, "file is empty (0 bytes)")
    if size < 8:
        raise InvalidModelError(name, f"file is too short to be a .tflite model ({size} bytes)")
    if size > MAX_BYTES:
        raise InvalidModelError(name, f"file is {size} bytes, larger than a flatbuffer can address")
    if head[4:8] != FILE_IDENTIFIER:
        raise InvalidModelError(
            name,
            f"not a TFLite flatbuffer: identifier is {head[4:8]!r}, expected {FILE_IDENTIFIER!r}",
        )


WORKER_MODULE = "harness.models._validate_worker"


def _signal_name(rc: int) -> str:
    try:
        return signal.Signals(-rc).name
    except ValueError:
        return f"signal {-rc}"


def _last_error_line(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    for ln in reversed(lines):
        if "error" in ln.lower():
            return ln[:200]
    return ""


def _one_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    joined = "; ".join(dict.fromkeys(lines)) or "unknown error"
    return joined if len(joined) <= 300 else joined[:297] + "..."


def _open_in_child(p: Path, *, timeout_s: float, memory_mb: int) -> dict[str, Any]:
    name = str(p)
    from harness.contain import Limits, child_env, contained_argv

    package_root = str(Path(__file__).resolve().parents[2])
    env = child_env()  # allow-listed: no credentials or tokens reach the child
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    limits = Limits.for_run(timeout_s, address_space_mb=memory_mb)
    with tempfile.TemporaryDirectory(prefix="harness-validate-") as tmp:
        result = Path(tmp) / "result.json"
        argv = [
            sys.executable,
            "-m",
            WORKER_MODULE,
            str(p.resolve()),
            str(result),
        ]
        proc = subprocess.Popen(  # limits set by prlimit before exec: no Python runs in the forked child
            contained_argv(argv, limits),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=True,
        )
        try:
            _, err = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise InvalidModelError(
                name, f"the runtime did not open the model within {timeout_s:g} s (killed)"
            ) from None
        stderr = err.decode("utf-8", errors="replace")
        rc = proc.returncode
        if rc < 0:
            sig = _signal_name(rc)
            hint = _last_error_line(stderr)
            extra = ""
            if sig in ("SIGABRT", "SIGKILL"):
                extra = f" (possibly out of memory under the {memory_mb} MB limit)"
            raise InvalidModelError(
                name,
                f"runtime crashed with {sig} while opening the model{extra}"
                + (f": {hint}" if hint else ""),
            )
        try:
            payload = json.loads(result.read_text())
        except (OSError, ValueError):
            hint = _last_error_line(stderr) or _one_line(stderr)[-200:]
            raise InvalidModelError(
                name, f"the runtime check exited with code {rc} without a result: {hint}"
            ) from None
    if not payload.get("ok"):
        if payload.get("phase") == "import":
            raise InvalidModelError(
                name,
                f"the LiteRT runtime could not start to check it ({payload.get('error_class')}: "
                f"{payload.get('error', '')[:120]}); is ai-edge-litert installed, and is "
                f"--memory-mb {memory_mb} enough?",
            )
        if payload.get("error_class") == "MemoryError":
            raise InvalidModelError(
                name, f"the runtime ran out of memory opening the model (limit {memory_mb} MB)"
            )
        raise InvalidModelError(
            name, f"the runtime cannot open it: {_one_line(payload.get('error', ''))}"
        )
    return payload
