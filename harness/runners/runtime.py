"""A Python runtime for the litert runner on a board: `harness devices provision NAME`.

Creates a virtual environment on the board (``<workdir>/venv``) and installs the runner's needs:
from the board's own package index when it is online, else from wheels this host downloads for
the board's platform and pushes. Knows the platform limits:

- ai-edge-litert 2.3.0 (per-op profiling): aarch64 and x86_64, CPython 3.10-3.13; its aarch64
  wheel needs glibc 2.34 (Debian 12, Ubuntu 22.04, Raspberry Pi OS Bookworm) although it is
  tagged manylinux_2_27; there are no armv7l wheels.
- tflite-runtime 2.13 (latency only, numpy < 2): the last ARM wheels, CPython up to 3.10,
  aarch64 and armv7l.

What was installed is recorded on the board in ``<workdir>/runtime.json``; the litert runner
reads it to find its Python.
"""

from __future__ import annotations

import json
import posixpath
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.errors import HarnessError, TransportError, UserError
from harness.transport.base import Transport

LITERT_VERSION = "2.3.0"
TFLITE_RUNTIME_VERSION = "2.13.0"
RUNTIME_FILE = "runtime.json"


@dataclass(frozen=True)
class BoardPlatform:
    machine: str
    python: tuple[int, int] | None
    python_path: str | None
    glibc: tuple[int, int] | None
    venv_ok: bool


@dataclass(frozen=True)
class RuntimeChoice:
    package: str
    version: str
    requirements: tuple[str, ...]
    pip_platforms: tuple[str, ...]
    profiling: bool
    why: str


def _version(text: str) -> tuple[int, int] | None:
    parts = text.strip().split(".")
    try:
        return int(parts[0]), int(parts[1])
    except (ValueError, IndexError):
        return None


def choose_runtime(p: BoardPlatform) -> RuntimeChoice:
    """The runtime this board can run, or a UserError saying why none fits."""
    if p.python is None:
        raise UserError("the board has no python3: install it (Debian / Raspberry Pi OS: "
                        "`sudo apt install python3 python3-venv`), then provision again")
    py = f"{p.python[0]}.{p.python[1]}"
    glibc = f"{p.glibc[0]}.{p.glibc[1]}" if p.glibc else "unknown"
    machine = {"arm64": "aarch64", "amd64": "x86_64", "armv7": "armv7l", "armhf": "armv7l"}.get(p.machine, p.machine)
    litert_py = (3, 10) <= p.python <= (3, 13)
    litert = RuntimeChoice("ai-edge-litert", LITERT_VERSION, (f"ai-edge-litert=={LITERT_VERSION}",), (), True, "")
    tflite = RuntimeChoice("tflite-runtime", TFLITE_RUNTIME_VERSION,
                           (f"tflite-runtime=={TFLITE_RUNTIME_VERSION}", "numpy<2"), (), False, "")
    if machine == "aarch64":
        glibc_ok = p.glibc is not None and p.glibc >= (2, 34)
        if glibc_ok and litert_py:
            return _with(litert, ("manylinux_2_27_aarch64", "manylinux2014_aarch64"),
                         f"aarch64, glibc {glibc}, Python {py}: ai-edge-litert {LITERT_VERSION} with per-op profiling")
        if p.python <= (3, 10):
            reason = (f"glibc {glibc} is older than the 2.34 ai-edge-litert needs" if not glibc_ok
                      else f"ai-edge-litert has no wheel for Python {py}")
            return _with(tflite, ("manylinux2014_aarch64",),
                         f"{reason}; tflite-runtime {TFLITE_RUNTIME_VERSION} instead: latency only, no per-op profiles")
        raise UserError(
            f"no runtime fits this board (aarch64, glibc {glibc}, Python {py}): ai-edge-litert needs glibc >= 2.34 "
            "and Python 3.10-3.13 (Debian 12, Ubuntu 22.04, Raspberry Pi OS Bookworm); tflite-runtime's last ARM "
            "wheels need Python <= 3.10. Upgrade the OS, or install a Python 3.10 and set python = \"PATH\"."
        )
    if machine == "x86_64":
        if litert_py:
            return _with(litert, ("manylinux_2_27_x86_64", "manylinux2014_x86_64"),
                         f"x86_64, Python {py}: ai-edge-litert {LITERT_VERSION} with per-op profiling")
        raise UserError(f"ai-edge-litert {LITERT_VERSION} has wheels for CPython 3.10-3.13; this board has {py}")
    if machine.startswith("armv7"):
        if p.python <= (3, 10):
            return _with(tflite, ("manylinux2014_armv7l",),
                         f"armv7l has no LiteRT wheels; tflite-runtime {TFLITE_RUNTIME_VERSION} for Python {py}: "
                         "latency only, no per-op profiles")
        raise UserError(
            f"no runtime fits this board (armv7l, Python {py}): there are no armv7l LiteRT wheels, and "
            "tflite-runtime's last armv7l wheels need Python <= 3.10. Use a 64-bit OS, or the benchmark_model "
            "runner with a linux-armhf build (`harness tools add benchmark_model --abi linux-armhf PATH`)."
        )
    raise UserError(f"no Python runtime for {p.machine} boards; use the benchmark_model runner")


def _with(choice: RuntimeChoice, platforms: tuple[str, ...], why: str) -> RuntimeChoice:
    return RuntimeChoice(choice.package, choice.version, choice.requirements, platforms, choice.profiling, why)


_PROBE = (
    'uname -m; p=$(command -v python3 || true); echo "$p"; '
    '[ -n "$p" ] && "$p" -c "import sys; print(\'%d.%d\' % sys.version_info[:2])" || echo; '
    '(getconf GNU_LIBC_VERSION 2>/dev/null || echo) | sed "s/^glibc //"; '
    '[ -n "$p" ] && "$p" -c "import venv, ensurepip" 2>/dev/null && echo venv || echo novenv'
)


def probe_platform(transport: Transport) -> BoardPlatform:
    r = transport.run(["sh", "-c", _PROBE], timeout_s=60)
    lines = (r.text().splitlines() + [""] * 5)[:5]
    return BoardPlatform(
        machine=lines[0].strip(),
        python_path=lines[1].strip() or None,
        python=_version(lines[2]) if lines[1].strip() else None,
        glibc=_version(lines[3]),
        venv_ok=lines[4].strip() == "venv",
    )


def read_runtime(transport: Transport) -> dict[str, object] | None:
    """What `provision` recorded on the board, or None."""
    path = posixpath.join(transport.workdir(), RUNTIME_FILE)
    r = transport.run(["cat", path], timeout_s=30)
    if not r.ok:
        return None
    try:
        return json.loads(r.text())
    except json.JSONDecodeError:
        return None


def host_wheels(choice: RuntimeChoice, python: tuple[int, int], cache: Path) -> list[Path]:
    """Download the wheels for the board's platform on this host (pip download)."""
    folder = cache / f"{choice.package}-{choice.version}-cp{python[0]}{python[1]}-{choice.pip_platforms[0]}"
    folder.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--quiet",
            "--only-binary=:all:", "--python-version", f"{python[0]}.{python[1]}", "--implementation", "cp",
            "--dest", str(folder)]
    for plat in choice.pip_platforms:
        argv += ["--platform", plat]
    proc = subprocess.run([*argv, *choice.requirements], capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or ["(no message)"]
        raise HarnessError(f"this host could not download the board's wheels ({tail[0]}); it needs to reach "
                           "the Python package index, or put the wheels in "
                           f"{folder} by hand and provision again")
    return sorted(folder.glob("*.whl"))


def provision(transport: Transport, *, mode: str = "auto", wheel_cache: Path | None = None,
              step: Callable[[str], None] = lambda s: None) -> dict[str, object]:
    """Make (or reuse) the board's venv with the runner's runtime; returns what runtime.json says."""
    if mode not in ("auto", "online", "offline"):
        raise UserError(f"mode must be auto, online or offline (got {mode!r})")
    plat = probe_platform(transport)
    step(f"board: {plat.machine}, Python {'.'.join(map(str, plat.python)) if plat.python else 'none'}, "
         f"glibc {'.'.join(map(str, plat.glibc)) if plat.glibc else 'unknown'}")
    choice = choose_runtime(plat)
    step(f"runtime: {choice.why}")
    if not plat.venv_ok:
        raise UserError("the board's python3 cannot make virtual environments: install python3-venv "
                        "(`sudo apt install python3-venv`), then provision again")
    work = transport.workdir()
    venv = posixpath.join(work, "venv")
    python = posixpath.join(venv, "bin", "python")
    assert plat.python_path is not None and plat.python is not None
    made = transport.run(["sh", "-c", 'mkdir -p "$1" && { [ -x "$2/bin/python" ] || "$3" -m venv "$2"; }',
                          "sh", work, venv, plat.python_path], timeout_s=300)
    if not made.ok:
        raise TransportError(f"cannot create {venv} on the board: {made.text('stderr').strip()[-300:]}")
    step(f"venv: {venv}")
    pip = [python, "-m", "pip", "install", "--disable-pip-version-check", "--quiet"]
    source = None
    if mode in ("auto", "online"):
        r = transport.run([*pip, "--timeout", "20", *choice.requirements], timeout_s=900)
        if r.ok:
            source = "the board's package index"
        elif mode == "online":
            raise TransportError(f"pip on the board failed: {r.text('stderr').strip()[-400:]}")
        else:
            step("the board cannot install from a package index; pushing wheels from this host")
    if source is None:
        wheels = host_wheels(choice, plat.python, wheel_cache or _wheel_cache())
        remote_dir = posixpath.join(work, "wheels")
        transport.run(["mkdir", "-p", remote_dir], timeout_s=30)
        sent = 0
        for wheel in wheels:
            remote = posixpath.join(remote_dir, wheel.name)
            if transport.run(["test", "-f", remote], timeout_s=30).ok:
                continue  # wheel names carry their version: an existing one is the same file
            partial = remote + ".partial"
            sent += transport.push(wheel, partial)
            transport.run(["mv", "-f", partial, remote], timeout_s=30)
        step(f"pushed {len(wheels)} wheels ({sent / 1e6:.1f} MB)")
        r = transport.run([*pip, "--no-index", "--find-links", remote_dir, *choice.requirements], timeout_s=1800)
        if not r.ok:
            raise TransportError(f"installing the wheels on the board failed: {r.text('stderr').strip()[-400:]}")
        source = "wheels pushed from this host"
    module = "ai_edge_litert" if choice.package == "ai-edge-litert" else "tflite_runtime"
    check = transport.run([python, "-c", f"import numpy, {module}; print('ok')"], timeout_s=300)
    if not check.ok:
        raise TransportError(f"{choice.package} is installed but does not import on the board: "
                             f"{check.text('stderr').strip()[-400:]}")
    record = {"package": choice.package, "version": choice.version, "python": python, "profiling": choice.profiling,
              "source": source, "why": choice.why, "platform": asdict(plat)}
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / RUNTIME_FILE
        local.write_text(json.dumps(record, indent=1))
        target = posixpath.join(work, RUNTIME_FILE)
        transport.push(local, target + ".partial")
        transport.run(["mv", "-f", target + ".partial", target], timeout_s=30)
    step(f"installed {choice.package} {choice.version} from {source}; `import {module}` works")
    return record


def _wheel_cache() -> Path:
    from harness.paths import cache_dir

    return cache_dir("wheels")
