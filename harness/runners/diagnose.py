"""Why a run failed on a device, in one line, and what to do next.

    device_cause(stderr, exit_code) -> the line of a failed command's stderr that says why
    failure_kind(why, exit_code)    -> a short name for that reason ("missing_module", ...)
    next_step(why, device, runner)  -> what the user should do about it, or None

``device_cause`` is mirrored by ``stderr_cause`` in device_scripts/litert_runner.py (the device
script cannot import harness); tests run both over the same real stderr samples
(tests/data/device_stderr/). Pure functions: no I/O.
"""

from __future__ import annotations

import re
import signal

from harness.config import Device
from harness.models.inspect import XNNPACK_ONLY_OPS, no_builtin_kernel

# Lines that never say why a run failed: the litert runner's own notes, runtime logs below ERROR.
_NOISE = re.compile(r"^(?:\[litert_runner\] |(?:INFO|WARNING|VERBOSE|DEBUG): |[IWDV]\d{4} \d\d:\d\d:\d\d)")
_CAUSES = (
    # a Python exception (a traceback's last line)
    re.compile(r"^(?:[A-Za-z_]\w*\.)*[A-Z]\w*(?:Error|Exception|Interrupt|Exit)(?::.*)?$"),
    re.compile(r"^Fatal Python error: "),
    # a shell that cannot run something: dash, bash, busybox ash, mksh (Android's sh)
    re.compile(r": (?:command not found|inaccessible or not found|not found|Permission denied|"
               r"Exec format error|not executable: .*|cannot open shared object file: .*)$"),
    # a shell reporting a child killed by a signal; the litert runner's own "killed by SIGKILL"
    re.compile(r"(?:^|: \d+ )(?:Killed|Segmentation fault|Aborted|Bus error|Illegal instruction|Terminated)"
               r"(?: \(core dumped\))?(?:$| )"),
    re.compile(r"\bkilled by SIG[A-Z0-9]+"),
)
_RUNTIME_ERROR = re.compile(r"^(?:ERROR|FATAL|[EF]\d{4} \d\d:\d\d:\d\d)")


def device_cause(stderr: str, exit_code: int | None = None) -> str | None:
    """The line of a failed command's stderr that says why it failed, or None.

    The last line that is a Python exception, a shell's complaint (``not found``, ``Permission
    denied``, ``Exec format error``, a missing shared library) or a death by signal (``Killed``,
    ``Segmentation fault``, ``killed by SIGSEGV``); failing those, the first ERROR line of the
    runtime's last few lines (the root of its error cascade). Informational runtime logs and the
    litert runner's own notes are skipped. With nothing in stderr, a death by signal is read from
    ``exit_code`` (negative: the signal; 128 + N from a shell).
    """
    lines = [" ".join(line.split()) for line in stderr.splitlines()]
    lines = [line for line in lines if line and not _NOISE.match(line)]
    for line in reversed(lines):
        if any(pattern.search(line) for pattern in _CAUSES):
            return line
    errors = [line for line in lines[-8:] if _RUNTIME_ERROR.match(line)]
    if errors:
        return errors[0]
    if exit_code is not None and (exit_code < 0 or 128 < exit_code < 160):
        number = -exit_code if exit_code < 0 else exit_code - 128
        try:
            return f"killed by {signal.Signals(number).name}"
        except ValueError:
            return f"killed by signal {number}"
    return None


_UNRESOLVED = re.compile(r"unresolved custom op: (\w+)")
_LIBRARY = re.compile(r"(\S+): cannot open shared object file")
_KINDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("xnnpack_only", re.compile(r"unresolved custom op: |has no builtin kernel \(XNNPACK only\)")),
    ("missing_module", re.compile(r"No module named '(?:numpy|ai_edge_litert|tflite_runtime)\b|"
                                  r"ai_edge_litert is not installed|no TFLite runtime found|has no libLiteRt\.so")),
    ("missing_library", _LIBRARY),
    ("wrong_abi", re.compile(r"Exec format error|not executable: \d+-bit ELF")),
    ("not_found", re.compile(r": (?:command not found|inaccessible or not found|not found)$")),
    ("permission", re.compile(r"Permission denied$")),
    ("old_python", re.compile(r"\bSyntaxError\b")),
    ("out_of_memory", re.compile(r"(?:^|: (?:\d+ )?)Killed\b|killed by SIGKILL|\bMemoryError\b|"
                                 r"Cannot allocate memory|std::bad_alloc|out of memory")),
    ("no_space", re.compile(r"No space left on device")),
    ("crash", re.compile(r"Segmentation fault|Bus error|Illegal instruction|Aborted|"
                         r"killed by SIG(?:SEGV|BUS|ILL|ABRT)")),
)


def failure_kind(why: str, exit_code: int | None = None) -> str | None:
    """A short name for the reason in ``why`` (a cause line or a whole error message), or None:
    xnnpack_only, missing_module, missing_library, wrong_abi, not_found, permission, old_python,
    out_of_memory, no_space, crash."""
    for kind, pattern in _KINDS:
        if pattern.search(why):
            return kind
    if exit_code == 127:
        return "not_found"
    if exit_code in (137, -9):
        return "out_of_memory"
    return None


def next_step(why: str, device: Device, runner: str, exit_code: int | None = None) -> str | None:
    """What to do about a failure on ``device`` whose cause or message is ``why``, or None when
    harness has nothing better to say than the cause itself."""
    kind = failure_kind(why, exit_code)
    name = device.name
    python = device.python
    own_python = "set python = \"PATH\" in its inventory entry"
    if kind == "xnnpack_only":
        if "--kernels xnnpack" in why:
            return None
        found = _UNRESOLVED.search(why)
        if found and found.group(1) in XNNPACK_ONLY_OPS:
            return f"{no_builtin_kernel(found.group(1))}: use --kernels xnnpack"
        return None
    if kind in ("missing_module", "not_found", "old_python") and runner == "litert":
        needs = {"missing_module": "numpy and ai-edge-litert", "not_found": "Python",
                 "old_python": "Python 3.9 or newer"}[kind]
        if device.transport == "adb":
            return (f"the litert runner needs {needs} on the phone, which phones usually lack: use "
                    f"--runner benchmark_model (or {own_python})")
        if device.transport == "ssh":
            if python and kind == "not_found":
                return (f"python = \"{python}\" in the inventory entry of {name} does not exist on the board: fix "
                        f"it, or remove it and run `harness devices provision {device.ref}`")
            return f"run `harness devices provision {device.ref}` (or {own_python})"
        if python and kind == "not_found":
            return f"python = \"{python}\" in the inventory entry of {name} does not exist: fix it or remove it"
        if python:
            return (f"install the runner's packages for that Python: `{python} -m pip install numpy "
                    f"ai-edge-litert==2.3.0` (or change python = \"{python}\" in the inventory entry of {name})")
        return "install harness's environment again (make setup)"
    if runner == "benchmark_model" and kind in ("not_found", "missing_library", "wrong_abi"):  # cannot start
        what = {"not_found": "cannot start on this device (missing, or linked for another OS)",
                "wrong_abi": "is built for another CPU architecture"}.get(kind)
        if kind == "missing_library":
            found = _LIBRARY.search(why)
            what = f"needs {found.group(1) if found else 'a shared library'}, which the device lacks"
        return (f"the benchmark_model binary {what}: add a build for this device's ABI with "
                "`harness tools add benchmark_model FILE --abi ABI`, or a static build")
    if kind == "permission" and runner == "benchmark_model":
        return ("the device refused to execute it: its working folder may be mounted noexec; set "
                "workdir = \"PATH\" in its inventory entry")
    if kind == "permission":
        return (f"the device's user may not run {python or 'python3'}: fix its permissions, or {own_python}")
    if kind == "out_of_memory":
        return ("the device likely ran out of memory (SIGKILL is what the kernel's out-of-memory killer sends): "
                "close other apps, or try a smaller model variant or fewer --threads")
    if kind == "no_space":
        return f"free space on {name} (its working folder), or set workdir = \"PATH\" in its inventory entry"
    if kind == "crash":
        return ("a crash inside the runtime: check the model with `harness models validate FILE`; try the other "
                "--kernels mode, or another runtime version")
    return None


def one_line(text: str) -> str:
    """``text`` with its whitespace (newlines included) collapsed: messages are one line."""
    return " ".join(text.split())
