"""Children that open untrusted models on this host run contained.

Two kinds of child open a model here: the validation child (``models/validate.py``) and every
command of the ``local`` device (``transport/local.py``: the litert runner above all). A model is
untrusted input to a C++ runtime, so those children get:

- **an allow-listed environment** (``ALLOWED_ENV``: PATH, HOME, the locale, TMPDIR and what the
  runtime needs) — never the controller's cloud credentials, tokens or SSH agent;
- **limits** (``Limits``): CPU time, address space, file size, processes and open files, set by
  util-linux's ``prlimit`` between fork and exec of the child (no Python runs in a forked child of
  a threaded farm), and no core dumps;
- **no network** where the machine allows it: a new network namespace (``unshare --net``) when
  harness runs as root; otherwise the child keeps the host's network (``containment()`` says which).
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

ALLOWED_ENV = (
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "LC_MESSAGES", "LC_NUMERIC", "TZ",
    "TMPDIR", "TERM",
    # what the runtimes need to be found and to behave
    "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "LD_LIBRARY_PATH", "TF_CPP_MIN_LOG_LEVEL", "OMP_NUM_THREADS",
    # harness's own (tests point device scripts at a fake sysfs)
    "HARNESS_SYSFS",
)
NO_NETWORK = "unshare"


def child_env(extra: Mapping[str, str] | None = None, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The allow-listed part of ``base`` (default: this process's environment), plus ``extra``."""
    source = os.environ if base is None else base
    env = {k: source[k] for k in ALLOWED_ENV if k in source}
    env.update(extra or {})
    return env


def _mem_total_mb() -> int:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 16 * 1024


def _user_tasks() -> int:
    """Tasks (processes and threads) this user has now: RLIMIT_NPROC counts them all."""
    uid = os.getuid()
    n = 0
    try:
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                try:
                    if entry.stat().st_uid == uid:
                        n += len(os.listdir(f"/proc/{entry.name}/task"))
                except OSError:
                    continue
    except OSError:
        return 0
    return n


@dataclass(frozen=True)
class Limits:
    """Resource limits of one contained child (None: not limited)."""

    cpu_s: int | None = None
    address_space_mb: int | None = None
    file_size_mb: int | None = 4096
    processes: int | None = None
    open_files: int | None = 4096
    no_network: bool = True

    @classmethod
    def for_run(cls, timeout_s: float, *, address_space_mb: int | None = None) -> Limits:
        """What one command with a wall deadline of ``timeout_s`` may use: every core busy for the
        whole deadline (plus a margin), the machine's memory, and 512 more tasks than this user has."""
        cores = os.cpu_count() or 1
        return cls(cpu_s=int(math.ceil(timeout_s * cores)) + 30,
                   address_space_mb=address_space_mb or _mem_total_mb(),
                   processes=_user_tasks() + 512)


def contained_argv(argv: Sequence[str], limits: Limits) -> list[str]:
    """``argv`` run under ``limits`` (prlimit) and, as root, in a new network namespace (unshare);
    as it is when util-linux is missing (said by ``containment()``)."""
    prlimit = shutil.which("prlimit")
    if prlimit is None:
        return list(argv)
    flags = ["--core=0"]
    for flag, value, scale in (("--cpu", limits.cpu_s, 1), ("--as", limits.address_space_mb, 1 << 20),
                               ("--fsize", limits.file_size_mb, 1 << 20), ("--nproc", limits.processes, 1),
                               ("--nofile", limits.open_files, 1)):
        if value is not None:
            flags.append(f"{flag}={value * scale}")
    out = [prlimit, *flags, "--"]
    unshare = shutil.which(NO_NETWORK)
    if limits.no_network and unshare is not None and os.geteuid() == 0:
        out += [unshare, "--net", "--"]
    return out + list(argv)


def containment() -> dict[str, bool]:
    """What this machine gives contained children: limits (prlimit found) and no network (root + unshare)."""
    return {"contained_limits": shutil.which("prlimit") is not None,
            "contained_network": shutil.which(NO_NETWORK) is not None and os.geteuid() == 0}
