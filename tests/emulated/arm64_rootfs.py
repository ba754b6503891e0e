"""The arm64 Debian root file system under qemu-user, for arm64 emulated devices and SSH boards.

    from tests.emulated.arm64_rootfs import ensure_rootfs
    root = ensure_rootfs()          # Path of the unpacked tree; built (~5 min) or restored (~1 s) once

`build_arm64_rootfs.sh` does the work and owns the cache (keyed by its own sha256); this module runs it
and makes sure the kernel runs aarch64 binaries through qemu-aarch64-static (binfmt_misc).
The tree holds python3 + /opt/venv (numpy, ai-edge-litert), openssh-server, /opt/adbd, /system/bin.
Run things in it with chroot, never with /sys mounted (XNNPACK's CPU detection crashes under qemu).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUILD_SH = HERE / "build_arm64_rootfs.sh"
BINFMT = Path("/proc/sys/fs/binfmt_misc")
PACKAGES = ("qemu-user-static", "binfmt-support", "debootstrap", "zstd")


class RootfsError(RuntimeError):
    """The arm64 root file system could not be built, restored or run."""


def missing_tools() -> list[str]:
    tools = {"qemu-aarch64-static": "qemu-user-static", "update-binfmts": "binfmt-support",
             "debootstrap": "debootstrap", "zstd": "zstd"}
    return [pkg for tool, pkg in tools.items() if shutil.which(tool) is None]


def ensure_binfmt() -> None:
    """Mount binfmt_misc if needed and enable qemu-aarch64 (with the F flag Debian ships)."""
    if shutil.which("update-binfmts") is None or shutil.which("qemu-aarch64-static") is None:
        raise RootfsError(f"arm64 emulation needs: apt-get install {' '.join(PACKAGES)}")
    if not (BINFMT / "status").exists():
        subprocess.run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT)], check=True,
                       capture_output=True, timeout=30)
    entry = BINFMT / "qemu-aarch64"
    if not entry.exists() or not entry.read_text().startswith("enabled"):
        proc = subprocess.run(["update-binfmts", "--enable", "qemu-aarch64"], capture_output=True, text=True,
                              timeout=30)
        if proc.returncode != 0 or not entry.exists():
            raise RootfsError(f"update-binfmts --enable qemu-aarch64 failed: {proc.stderr.strip()}")


def ensure_rootfs(timeout: float = 1800) -> Path:
    """Path of the unpacked arm64 root file system (built or restored from the cache as needed)."""
    missing = missing_tools()
    if missing:
        raise RootfsError(f"the arm64 root file system needs: apt-get install {' '.join(missing)}")
    ensure_binfmt()
    env = dict(os.environ, PYTHON=sys.executable)
    proc = subprocess.run(["bash", str(BUILD_SH)], capture_output=True, text=True, timeout=timeout, env=env)
    if proc.returncode != 0:
        raise RootfsError(f"{BUILD_SH.name} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    path = Path(proc.stdout.strip().splitlines()[-1])
    if not (path / ".harness-rootfs-complete").is_file():
        raise RootfsError(f"{BUILD_SH.name} printed {path}, which is not a finished root file system")
    return path


if __name__ == "__main__":
    print(ensure_rootfs())
