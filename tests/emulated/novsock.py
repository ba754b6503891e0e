"""Run a command with `socket(AF_VSOCK, ...)` refused (EAFNOSUPPORT) by a seccomp filter.

adbd listens on vsock as well as TCP, and network namespaces do not confine vsock: a device's adbd
could be reached from the hypervisor side of this VM. This wrapper installs a seccomp-BPF filter in its
own process and then execs the command; the filter is inherited by every child and survives execve,
so nothing the emulated device starts (adbd, its shells, qemu-user for arm64) can open a vsock socket.

    python tests/emulated/novsock.py [--die-with-parent] CMD [ARG...]

--die-with-parent also sets PR_SET_PDEATHSIG=SIGKILL, so the command dies when the thread that started
it does (a crashed test run leaves no adbd behind; start devices from a long-lived thread).

Runs as a script (not only with -m) so it can be started before anything else; stdlib + ctypes only.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import struct
import sys

AF_VSOCK = 40
PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_KILL_PROCESS = 0x80000000
X32_SYSCALL_BIT = 0x40000000

# BPF opcodes
LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
JGE_K = 0x35  # BPF_JMP | BPF_JGE | BPF_K
RET_K = 0x06  # BPF_RET | BPF_K

# (AUDIT_ARCH_*, __NR_socket) of the host's native ABI
ARCHES = {
    "x86_64": (0xC000003E, 41),
    "aarch64": (0xC00000B7, 198),
}

# struct seccomp_data: int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]
OFF_NR, OFF_ARCH, OFF_ARG0_LO = 0, 4, 16


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def filter_program(machine: str | None = None) -> bytes:
    """The BPF program: foreign ABIs are killed, socket(AF_VSOCK) fails with EAFNOSUPPORT, rest allowed."""
    machine = machine or platform.machine()
    if machine not in ARCHES:
        raise OSError(f"novsock: no seccomp filter for {machine}")
    audit_arch, nr_socket = ARCHES[machine]
    prog = [
        _insn(LD_W_ABS, 0, 0, OFF_ARCH),
        _insn(JEQ_K, 1, 0, audit_arch),
        _insn(RET_K, 0, 0, SECCOMP_RET_KILL_PROCESS),  # i386 / x32 entry points could bypass the check
        _insn(LD_W_ABS, 0, 0, OFF_NR),
        _insn(JGE_K, 4, 0, X32_SYSCALL_BIT),  # -> kill (index 9)
        _insn(JEQ_K, 0, 2, nr_socket),  # socket? else -> allow (index 8)
        _insn(LD_W_ABS, 0, 0, OFF_ARG0_LO),
        _insn(JEQ_K, 2, 0, AF_VSOCK),  # AF_VSOCK -> errno (index 10)
        _insn(RET_K, 0, 0, SECCOMP_RET_ALLOW),
        _insn(RET_K, 0, 0, SECCOMP_RET_KILL_PROCESS),
        _insn(RET_K, 0, 0, SECCOMP_RET_ERRNO | errno.EAFNOSUPPORT),
    ]
    return b"".join(prog)


def install() -> None:
    """Install the filter in the calling process (and so in everything it execs or forks)."""
    code = filter_program()
    count = len(code) // 8
    buf = ctypes.create_string_buffer(code, len(code))

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    prog = SockFprog(count, ctypes.cast(buf, ctypes.c_void_p))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
        err = ctypes.get_errno()
        if err != errno.EACCES:
            raise OSError(err, f"seccomp filter refused: {os.strerror(err)}")
        # Without CAP_SYS_ADMIN the kernel wants no_new_privs first.
        if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, None, 0, 0) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"no_new_privs refused: {os.strerror(err)}")
        if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"seccomp filter refused: {os.strerror(err)}")


def main(argv: list[str]) -> int:
    die_with_parent = argv[:1] == ["--die-with-parent"]
    if die_with_parent:
        argv = argv[1:]
    if not argv:
        print("usage: novsock.py [--die-with-parent] CMD [ARG...]", file=sys.stderr)
        return 2
    if die_with_parent:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG)")
        if os.getppid() == 1:  # the parent died before prctl: do not outlive it
            return 1
    install()
    os.execvp(argv[0], argv)
    return 127  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
