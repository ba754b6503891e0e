"""The emulated SSH boards behave like boards: real OpenSSH sshd, checked with the real OpenSSH client
and with paramiko directly (the harness's SSH transport is tested elsewhere on top of them).

Fixtures (sshd, sshd_no_python, sshd_arm64, make_sshd) come from tests.emulated.fixtures_ssh.
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import time
from pathlib import Path

import paramiko
import pytest

from tests.emulated.sshd import SshServer, fingerprint

# Also listed in tests/conftest.py once the SSH fixtures are shared; loading a plugin twice is a no-op.
pytest_plugins = ["tests.emulated.fixtures_ssh"]


def text(data: bytes) -> str:
    return data.decode(errors="replace")


def paramiko_client(board: SshServer, port: int | None = None, known_hosts: Path | None = None,
                    timeout: float = 10) -> paramiko.SSHClient:
    """A paramiko client that trusts only the given known_hosts file (RejectPolicy), logged in with the key."""
    client = paramiko.SSHClient()
    client.load_host_keys(str(known_hosts or board.known_hosts_path))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(board.host, port=port or board.port, username=board.user, key_filename=str(board.key_path),
                   look_for_keys=False, allow_agent=False, timeout=timeout, banner_timeout=timeout,
                   auth_timeout=timeout)
    return client


def run(client: paramiko.SSHClient, command: str, timeout: float = 30) -> tuple[int, str, str]:
    _, stdout, stderr = client.exec_command(command, timeout=timeout)
    out, err = stdout.read(), stderr.read()
    return stdout.channel.recv_exit_status(), text(out), text(err)


# -- the loopback board, real OpenSSH client --------------------------------------------------------

def test_openssh_client_logs_in_with_key_and_known_hosts_line(sshd: SshServer) -> None:
    proc = sshd.ssh('id -un; echo "$HOME"; pwd; uname -m; exit 3')
    assert proc.returncode == 3, text(proc.stderr)
    assert text(proc.stdout).split() == [sshd.user, sshd.home, sshd.home, "x86_64"]
    assert sshd.known_hosts_path.read_text().splitlines()[0] == sshd.host_key_line
    assert sshd.host_key_line == f"[127.0.0.1]:{sshd.port} {' '.join(sshd.host_public_key.split()[:2])}"


def test_host_key_fingerprint_is_what_ssh_keygen_prints(sshd: SshServer) -> None:
    out = subprocess.run(["ssh-keygen", "-lf", str(sshd.host_key_path) + ".pub"], capture_output=True,
                         text=True, check=True).stdout
    assert out.split()[1] == sshd.host_key_fingerprint
    scanned = subprocess.run(["ssh-keyscan", "-t", "ed25519", "-p", str(sshd.port), "127.0.0.1"],
                             capture_output=True, text=True, timeout=30).stdout
    assert sshd.host_key_line in scanned.splitlines()


def test_home_has_the_documented_layout(sshd: SshServer) -> None:
    out = text(sshd.ssh("cd && find . | sort && stat -c '%U %a' . .ssh .ssh/authorized_keys", check=True).stdout)
    lines = out.splitlines()
    assert lines[:3] == [".", "./.ssh", "./.ssh/authorized_keys"]
    assert lines[-3:] == [f"{sshd.user} 755", f"{sshd.user} 700", f"{sshd.user} 600"]


def test_unknown_host_is_refused_by_strict_checking(sshd: SshServer, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    proc = sshd.ssh("true", known_hosts=empty)
    assert proc.returncode == 255
    assert "Host key verification failed" in text(proc.stderr)


def test_wrong_host_key_is_refused_by_openssh_and_paramiko(sshd: SshServer, tmp_path: Path) -> None:
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    wrong = tmp_path / "known_hosts"
    wrong.write_text(sshd.known_hosts_line(public_key=(tmp_path / "other_key.pub").read_text()) + "\n")
    proc = sshd.ssh("true", known_hosts=wrong, options=["-o", "LogLevel=INFO"])
    assert proc.returncode == 255
    err = text(proc.stderr)
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in err and sshd.host_key_fingerprint in err
    with pytest.raises(paramiko.BadHostKeyException):
        paramiko_client(sshd, known_hosts=wrong)


def test_password_and_root_logins_are_refused(sshd: SshServer) -> None:
    argv = ["ssh", *sshd.ssh_options(), "-o", "PreferredAuthentications=password,keyboard-interactive",
            "--", f"{sshd.user}@127.0.0.1", "true"]
    proc = subprocess.run(argv, capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
    assert proc.returncode == 255 and "Permission denied (publickey)" in text(proc.stderr)
    argv = ["ssh", *sshd.ssh_options(), "--", "root@127.0.0.1", "true"]
    proc = subprocess.run(argv, capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
    assert proc.returncode == 255 and "Permission denied" in text(proc.stderr)


# -- the loopback board, paramiko directly ----------------------------------------------------------

def test_paramiko_exec_and_sftp_round_trip(sshd: SshServer, tmp_path: Path) -> None:
    payload = os.urandom(3 << 20)
    local = tmp_path / "blob.bin"
    local.write_bytes(payload)
    with paramiko_client(sshd) as client:
        code, out, err = run(client, "echo out; echo err >&2; exit 7")
        assert (code, out, err) == (7, "out\n", "err\n")
        with client.open_sftp() as sftp:
            sftp.put(str(local), "blob.bin")
            sftp.get("blob.bin", str(tmp_path / "back.bin"))
        code, out, _ = run(client, "sha256sum blob.bin")
    assert code == 0 and out.split()[0] == hashlib.sha256(payload).hexdigest()
    assert (tmp_path / "back.bin").read_bytes() == payload
    on_host = sshd.home_dir / "blob.bin"
    assert on_host.stat().st_uid == sshd.uid  # written by the unprivileged board user
    on_host.unlink()


# -- faults (private boards) ------------------------------------------------------------------------

def test_rekey_changes_the_fingerprint_and_old_known_hosts_refuse(make_sshd) -> None:
    board = make_sshd()
    port, before, old_line = board.port, board.host_key_fingerprint, board.host_key_line
    assert board.ssh("true").returncode == 0
    assert board.rekey() == old_line
    assert board.port == port and board.host_key_fingerprint != before
    assert board.host_key_fingerprint == fingerprint(board.host_key_path.with_suffix(".pub").read_text())
    proc = board.ssh("true")
    assert proc.returncode == 255 and "Host key verification failed" in text(proc.stderr)
    board.trust_host_key()
    assert board.ssh("true").returncode == 0


def test_kill_drops_a_live_session_and_restart_keeps_port_and_key(make_sshd) -> None:
    board = make_sshd()
    port, key = board.port, board.host_key_line
    client = paramiko_client(board)
    chan = client.get_transport().open_session()
    chan.exec_command("echo started; sleep 60")
    assert chan.recv(64) == b"started\n"
    t0 = time.monotonic()
    board.kill()
    chan.settimeout(10)
    assert chan.recv(64) == b""  # EOF: the session died with sshd
    assert time.monotonic() - t0 < 5
    deadline = time.monotonic() + 5
    while client.get_transport().is_active() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not client.get_transport().is_active()
    client.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2)
    board.restart()
    assert (board.port, board.host_key_line) == (port, key)
    assert board.ssh("echo back", check=True).stdout == b"back\n"


def test_relay_cuts_an_upload_mid_transfer(make_sshd, tmp_path: Path) -> None:
    board = make_sshd()
    relay = board.relay()
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(16 << 20))
    # Through the relay, with known_hosts trusting the relay's port too.
    assert board.ssh("true", port=relay.port).returncode == 0
    relay.cut_after(4 << 20)
    client = paramiko_client(board, port=relay.port)
    t0 = time.monotonic()
    with pytest.raises((OSError, EOFError, paramiko.SSHException)):
        with client.open_sftp() as sftp:
            sftp.put(str(big), "big.bin")
    assert time.monotonic() - t0 < 10
    client.close()
    partial = board.home_dir / "big.bin"
    assert not partial.exists() or partial.stat().st_size < big.stat().st_size
    relay.cut_after(None)
    assert board.ssh("echo ok", port=relay.port).stdout == b"ok\n"  # the board itself is fine


def test_relay_drop_and_freeze(make_sshd) -> None:
    board = make_sshd()
    relay = board.relay()
    client = paramiko_client(board, port=relay.port)
    assert run(client, "echo hi") == (0, "hi\n", "")
    assert relay.drop_connections() == 1
    with pytest.raises((OSError, EOFError, paramiko.SSHException)):
        run(client, "echo again", timeout=5)
    client.close()
    # A frozen link: the connection stays open and silent (a pulled cable); only timeouts can tell.
    client = paramiko_client(board, port=relay.port)
    relay.freeze()
    t0 = time.monotonic()
    with pytest.raises(paramiko.SSHException):
        client.get_transport().open_session(timeout=1.5)
    assert 1.4 < time.monotonic() - t0 < 5
    assert relay.live_connections == 1  # nothing was closed
    client.close()
    relay.thaw()
    assert board.ssh("echo ok", port=relay.port).stdout == b"ok\n"


# -- the board without Python -----------------------------------------------------------------------

def test_no_python_board_has_no_python_but_a_posix_shell(sshd_no_python: SshServer) -> None:
    board = sshd_no_python
    proc = board.ssh("command -v python3 python; ls /usr/bin/python3 /usr/lib/python3*")
    assert proc.returncode != 0 and proc.stdout == b""
    out = text(board.ssh("id -un; uname -m; echo x | sha256sum; mkdir -p a/b && mv a c && ls -d c/b; "
                         "timeout 1 sleep 5; echo $?; head -c 4 /proc/cpuinfo | wc -c", check=True).stdout)
    assert out.split() == [board.user, "x86_64", hashlib.sha256(b"x\n").hexdigest(), "-", "c/b", "143", "4"]


def test_no_python_board_takes_sftp_uploads(sshd_no_python: SshServer, tmp_path: Path) -> None:
    local = tmp_path / "f.bin"
    local.write_bytes(b"board without python\n")
    sshd_no_python.scp(str(local), "board:f.bin")
    assert (sshd_no_python.home_dir / "f.bin").read_bytes() == local.read_bytes()
    assert sshd_no_python.ssh("cat f.bin", check=True).stdout == local.read_bytes()


# -- the arm64 board (qemu-user) --------------------------------------------------------------------

@pytest.mark.slow
def test_arm64_board_is_aarch64_and_imports_litert(sshd_arm64: SshServer) -> None:
    out = text(sshd_arm64.ssh("uname -m; id -un; echo $HOME", check=True, timeout=120).stdout)
    assert out.split() == ["aarch64", sshd_arm64.user, sshd_arm64.home]
    proc = sshd_arm64.ssh("/opt/venv/bin/python", "-c",
                          "'import platform, numpy, ai_edge_litert; print(platform.machine(), numpy.__version__)'",
                          timeout=300)
    assert proc.returncode == 0, text(proc.stderr)
    assert text(proc.stdout).split()[0] == "aarch64"
    assert sshd_arm64.ssh("test -e /sys/devices", timeout=60).returncode == 1  # no /sys under qemu


@pytest.mark.slow
def test_arm64_board_with_paramiko_sftp(sshd_arm64: SshServer, tmp_path: Path) -> None:
    payload = os.urandom(1 << 20)
    (tmp_path / "p.bin").write_bytes(payload)
    with paramiko_client(sshd_arm64, timeout=60) as client:
        with client.open_sftp() as sftp:
            sftp.put(str(tmp_path / "p.bin"), "p.bin")
        code, out, _ = run(client, "sha256sum p.bin; uname -m", timeout=120)
    assert code == 0
    assert out.split() == [hashlib.sha256(payload).hexdigest(), "p.bin", "aarch64"]
