"""Raspberry Pi and ARM Linux boards over SSH (paramiko), with verified host keys.

- Host keys are checked against known_hosts (the inventory's, else the user's). An unknown or
  changed key refuses the connection with its fingerprint and the exact command to accept it.
  ``host_key_policy = "accept-new"`` (as OpenSSH's) records an unknown key on first contact;
  a changed key is refused whatever the policy.
- ``Host`` aliases, ``HostName``, ``Port``, ``User``, ``IdentityFile`` and
  ``UserKnownHostsFile`` come from the user's ``~/.ssh/config``, like OpenSSH reads them.
- Every command has a deadline enforced here (paramiko can wait forever for an exit status);
  stdout and stderr are read together, so a command filling both cannot deadlock; past the
  deadline the channel is closed and the board-side ``timeout`` kills the process.
- Keepalives detect a dropped connection within a bounded time; it is a TransportError.
- Uploads go through SFTP and are verified by the board's ``sha256sum``.
"""

from __future__ import annotations

import math
import os
import select
import shlex
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import DeadlineExceeded, TransportError
from harness.transport.base import CommandResult, ContextMixin

KEEPALIVE_S = 5
EOF_GRACE_S = 2.0  # after the exit status, how long to wait for the output's end (EOF)
DEAD_AFTER_S = 20  # keepalives unanswered for this long: the connection is gone
POLICIES = ("strict", "accept-new")


@dataclass(frozen=True)
class SshTarget:
    """Where and as whom to connect, after ~/.ssh/config."""

    alias: str
    hostname: str
    port: int
    user: str | None
    key: str | None
    known_hosts: str


def resolve_target(host: str, port: int | None = None, user: str | None = None, key: str | None = None,
                   known_hosts: str | None = None, config_path: str | os.PathLike[str] | None = None) -> SshTarget:
    """Apply ~/.ssh/config to the inventory's fields; the inventory wins where it says something."""
    import paramiko

    cfg: dict[str, Any] = {}
    path = Path(config_path) if config_path else Path.home() / ".ssh" / "config"
    if path.is_file():
        try:
            cfg = paramiko.SSHConfig.from_path(str(path)).lookup(host)
        except Exception as exc:  # paramiko raises ConfigParseError and friends
            raise TransportError(f"cannot read {path}: {exc}") from exc
    identity = cfg.get("identityfile") or []
    kh = cfg.get("userknownhostsfile")
    return SshTarget(
        alias=host,
        hostname=cfg.get("hostname", host),
        port=int(port or cfg.get("port") or 22),
        user=user or cfg.get("user"),
        key=str(Path(key).expanduser()) if key else (str(Path(identity[0]).expanduser()) if identity else None),
        known_hosts=str(Path(known_hosts or (kh.split()[0] if kh else "~/.ssh/known_hosts")).expanduser()),
    )


def known_hosts_name(hostname: str, port: int) -> str:
    return hostname if port == 22 else f"[{hostname}]:{port}"


def fingerprint(key: Any) -> str:
    """SHA256:... as OpenSSH prints it."""
    import base64
    import hashlib

    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


class SshTransport(ContextMixin):
    """One board over SSH. Constructing it does no I/O; ``open()`` connects."""

    def __init__(self, name: str, host: str, *, port: int | None = None, user: str | None = None,
                 key: str | None = None, known_hosts: str | None = None, host_key_policy: str | None = None,
                 workdir: str | None = None, connect_timeout_s: float = 15.0,
                 ssh_config: str | os.PathLike[str] | None = None, dead_after_s: float = DEAD_AFTER_S) -> None:
        self.name = name
        self.host = host
        self.port = port
        self.user = user
        self.key = key
        self.known_hosts = known_hosts
        self.host_key_policy = host_key_policy or "strict"
        self.connect_timeout_s = connect_timeout_s
        self.ssh_config = ssh_config
        self.dead_after_s = dead_after_s
        self._workdir = workdir
        self._client: Any = None
        self._sftp: Any = None
        self._has_timeout = False
        self.target: SshTarget | None = None

    # lifecycle -------------------------------------------------------------------------
    def open(self) -> None:
        import paramiko

        if self.host_key_policy not in POLICIES:
            raise TransportError(f"{self.name}: host_key_policy must be one of {', '.join(POLICIES)}")
        target = resolve_target(self.host, self.port, self.user, self.key, self.known_hosts, self.ssh_config)
        self.target = target
        client = paramiko.SSHClient()
        if os.path.isfile(target.known_hosts):
            try:
                client.load_host_keys(target.known_hosts)
            except (OSError, paramiko.SSHException) as exc:
                raise TransportError(f"{self.name}: cannot read {target.known_hosts}: {exc}") from exc
        client.set_missing_host_key_policy(_Policy(self, target))  # type: ignore[arg-type]  # duck-typed policy
        try:
            client.connect(
                target.hostname, port=target.port, username=target.user, key_filename=target.key,
                timeout=self.connect_timeout_s, banner_timeout=self.connect_timeout_s,
                auth_timeout=self.connect_timeout_s, allow_agent=target.key is None,
                look_for_keys=target.key is None, transport_factory=_transport_class(),
            )
        except paramiko.BadHostKeyException as exc:
            client.close()
            entry = known_hosts_name(target.hostname, target.port)
            raise TransportError(
                f"{self.name}: the host key of {entry} CHANGED (now {fingerprint(exc.key)}; known_hosts has "
                f"{fingerprint(exc.expected_key)}). This may be an attack, or the board was reinstalled. If you "
                f"trust the new key: `ssh-keygen -f {target.known_hosts} -R '{entry}'` and connect again."
            ) from exc
        except _UnknownHost as exc:
            client.close()
            raise TransportError(str(exc)) from None
        except paramiko.AuthenticationException as exc:
            client.close()
            raise TransportError(f"{self.name}: {target.user or 'the user'}@{target.hostname} refused our key "
                                 f"({exc}); check `key` in the inventory and the board's authorized_keys") from exc
        except (OSError, paramiko.SSHException, EOFError) as exc:
            client.close()
            raise TransportError(f"{self.name}: cannot connect to {target.hostname}:{target.port}: {exc}") from exc
        transport = client.get_transport()
        assert transport is not None
        transport.set_keepalive(KEEPALIVE_S)
        _bound_dead_peer(transport.sock, self.dead_after_s)
        transport.default_window_size = 64 << 20  # big windows: SFTP pushes at link speed
        transport.packetizer.REKEY_BYTES = pow(2, 40)
        transport.packetizer.REKEY_PACKETS = pow(2, 40)
        self._client = client
        home = self.run(["sh", "-c", 'echo "$HOME"; command -v timeout || true'], timeout_s=30).text().split("\n")
        self._has_timeout = len(home) > 1 and bool(home[1].strip())
        if self._workdir is None:
            self._workdir = f"{home[0].strip() or '/tmp'}/.cache/harness"

    def close(self) -> None:
        if self._sftp is not None:
            try:
                self._sftp.close()
            except Exception:  # noqa: BLE001 - closing a dead connection
                pass
            self._sftp = None
        if self._client is not None:
            self._client.close()
            self._client = None

    def workdir(self) -> str:
        if self._workdir is None:
            raise TransportError(f"{self.name}: transport is not open")
        return self._workdir

    # commands --------------------------------------------------------------------------
    def run(self, argv: Sequence[str], *, timeout_s: float, cwd: str | None = None,
            env: Mapping[str, str] | None = None) -> CommandResult:
        if self._client is None:
            raise TransportError(f"{self.name}: transport is not open")
        argv = tuple(str(a) for a in argv)
        inner = list(argv)
        if self._has_timeout:  # the board kills it too, should our channel close go unnoticed
            inner = ["timeout", "-s", "KILL", str(math.ceil(timeout_s) + 5), *inner]
        cmd = shlex.join(inner)
        if env:
            cmd = "env " + " ".join(shlex.quote(f"{k}={v}") for k, v in env.items()) + " " + cmd
        if cwd:
            cmd = f"cd {shlex.quote(cwd)} && {cmd}"
        start = time.perf_counter()
        deadline = time.monotonic() + timeout_s
        transport = self._client.get_transport()
        if transport is None or not transport.is_active():
            raise TransportError(f"{self.name}: the SSH connection is gone")
        try:
            chan = transport.open_session(timeout=min(30.0, timeout_s))
            chan.exec_command(cmd)
        except Exception as exc:  # paramiko.SSHException, EOFError, OSError
            raise TransportError(f"{self.name}: cannot start a command: {exc}") from exc
        out, err = bytearray(), bytearray()
        exit_seen: float | None = None
        pinger = _Pinger(transport, self.dead_after_s)
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise DeadlineExceeded(list(argv), timeout_s)
                select.select([chan], [], [], min(remaining, 1.0))
                heard = False
                while chan.recv_ready():
                    out += chan.recv(1 << 16)
                    heard = True
                while chan.recv_stderr_ready():
                    err += chan.recv_stderr(1 << 16)
                    heard = True
                if not pinger.alive(heard):
                    transport.close()
                    raise TransportError(f"{self.name}: no answer from the board for {self.dead_after_s:g} s "
                                         f"while running {argv[0]}; the connection is gone")
                if chan.exit_status_ready() and not chan.recv_ready() and not chan.recv_stderr_ready():
                    # sshd may send the exit status before the last of the output (RFC 4254 allows
                    # it): the output is complete at the channel's EOF, which follows shortly —
                    # unless a background process keeps the pipe open, hence the grace period
                    if not (chan.eof_received or chan.closed) and exit_seen is None:
                        exit_seen = time.monotonic()
                    if chan.eof_received or chan.closed or time.monotonic() - (exit_seen or 0.0) >= EOF_GRACE_S:
                        code = chan.recv_exit_status()
                        if code == -1 and _went_down(transport):  # closed with no exit status: the link died
                            raise TransportError(f"{self.name}: the SSH connection dropped while running "
                                                 f"{argv[0]}")
                        while chan.recv_ready():
                            out += chan.recv(1 << 16)
                        while chan.recv_stderr_ready():
                            err += chan.recv_stderr(1 << 16)
                        return CommandResult(argv, code, bytes(out), bytes(err), time.perf_counter() - start)
                    time.sleep(0.002)
                    continue
                if not transport.is_active() or chan.closed:
                    if chan.exit_status_ready():
                        continue  # the status, EOF and close arrived together since the check above
                    raise TransportError(f"{self.name}: the SSH connection dropped while running {argv[0]}")
        finally:
            chan.close()

    # files -----------------------------------------------------------------------------
    def _sftp_client(self) -> Any:
        if self._client is None:
            raise TransportError(f"{self.name}: transport is not open")
        if self._sftp is None:
            try:
                self._sftp = self._client.open_sftp()
            except Exception as exc:
                raise TransportError(f"{self.name}: cannot open SFTP: {exc}") from exc
        return self._sftp

    def push(self, local: Path, remote: str, *, sha256: str | None = None, timeout_s: float = 3600.0) -> int:
        """Stream the file to the board in one command (like scp, without SFTP's request round
        trips); the board hashes the stream as it writes it and reports the size written, and both
        must match what we sent. A cut connection or a short write is a TransportError."""
        import hashlib

        local = Path(local)
        if self._client is None:
            raise TransportError(f"{self.name}: transport is not open")
        transport = self._client.get_transport()
        deadline = time.monotonic() + timeout_s
        digest = None if sha256 else hashlib.sha256()  # hash what we send, unless the caller knows it
        sent = 0
        try:
            chan = transport.open_session(timeout=30)
            # the board hashes the stream while writing it, then reports the size it wrote
            chan.exec_command(shlex.join(["sh", "-c", 'tee "$1" | sha256sum; wc -c < "$1"', "sh", remote]))
            chan.settimeout(max(1.0, min(60.0, timeout_s)))
            with open(local, "rb") as f:
                while block := f.read(1 << 20):
                    if time.monotonic() > deadline:
                        raise DeadlineExceeded(["push", str(local)], timeout_s)
                    if digest is not None:
                        digest.update(block)
                    chan.sendall(block)
                    sent += len(block)
            chan.shutdown_write()
            out = bytearray()
            while True:
                data = chan.recv(1 << 16)
                if not data:
                    break
                out += data
            code = chan.recv_exit_status()
            err = chan.recv_stderr(1 << 16) if chan.recv_stderr_ready() else b""
        except DeadlineExceeded:
            raise
        except Exception as exc:  # socket.timeout, EOFError, paramiko.SSHException, OSError
            raise TransportError(f"{self.name}: upload of {local.name} failed after {sent} bytes: {exc}") from exc
        finally:
            try:
                chan.close()
            except Exception:  # noqa: BLE001
                pass
        if code != 0:
            raise TransportError(f"{self.name}: writing {remote} failed: {err.decode(errors='replace').strip()}")
        words = out.decode(errors="replace").split()
        expected = sha256 or (digest.hexdigest() if digest is not None else "")
        if len(words) < 3 or words[0] != expected or words[-1] != str(sent):
            raise TransportError(f"{self.name}: {remote} differs from {local.name} after the upload "
                                 "(truncated or corrupted on the way)")
        return sent

    def pull(self, remote: str, local: Path) -> int:
        local = Path(local)
        local.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._sftp_client().get(remote, str(local))
        except Exception as exc:
            self._sftp = None
            raise TransportError(f"{self.name}: download of {remote} failed: {exc}") from exc
        return local.stat().st_size


class _Pinger:
    """Liveness of a quiet connection: after a few quiet seconds, ask the server for a reply
    (a global request it must answer, even with a refusal); no reply within dead_after_s means
    the link is gone — a frozen link keeps TCP quiet but open, so the kernel alone cannot tell."""

    def __init__(self, transport: Any, dead_after_s: float) -> None:
        self.transport = transport
        self.dead_after_s = dead_after_s
        self.quiet_s = min(KEEPALIVE_S, dead_after_s / 2)
        self.last_heard = time.monotonic()
        self.asked_at: float | None = None
        self.answered = threading.Event()

    def alive(self, heard: bool) -> bool:
        now = time.monotonic()
        if heard or self.answered.is_set():
            self.last_heard = now
            self.asked_at = None
            self.answered.clear()
            return True
        if self.asked_at is None:
            if now - self.last_heard >= self.quiet_s:
                self.asked_at = now
                threading.Thread(target=self._ask, daemon=True).start()
            return True
        return now - self.asked_at < self.dead_after_s

    def _ask(self) -> None:
        try:
            self.transport.global_request("keepalive@openssh.com", wait=True)  # a refusal is an answer
        except Exception:  # noqa: BLE001 - a dead transport: no answer
            return
        if self.transport.is_active():
            self.answered.set()


def _went_down(transport: Any, wait_s: float = 2.0) -> bool:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if not transport.is_active():
            return True
        time.sleep(0.05)
    return False


def _transport_class() -> Any:
    """paramiko's Transport preferring AES-GCM: one AEAD pass per packet instead of AES-CTR plus
    HMAC, which doubles upload throughput in pure-Python packet handling. Servers without GCM
    still get the usual ciphers."""
    import paramiko

    class GcmFirst(paramiko.Transport):
        _preferred_ciphers = tuple(
            c for c in paramiko.Transport._preferred_ciphers if "gcm" in c  # type: ignore[attr-defined]
        ) + tuple(c for c in paramiko.Transport._preferred_ciphers if "gcm" not in c)  # type: ignore[attr-defined]

    return GcmFirst


def _bound_dead_peer(sock: Any, dead_after_s: float) -> None:
    """Keepalives are always in flight, so a peer that stops acknowledging for dead_after_s makes
    the kernel fail the socket (TCP_USER_TIMEOUT, Linux); without it a dead board could hold a
    command for the kernel's default of about 15 minutes."""
    import socket

    option = getattr(socket, "TCP_USER_TIMEOUT", None)
    if option is not None and hasattr(sock, "setsockopt"):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, option, int(dead_after_s * 1000))
        except OSError:
            pass


class _UnknownHost(Exception):
    pass


class _Policy:
    """What to do with a host key known_hosts does not have (paramiko's MissingHostKeyPolicy)."""

    def __init__(self, owner: SshTransport, target: SshTarget) -> None:
        self.owner = owner
        self.target = target

    def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
        entry = known_hosts_name(self.target.hostname, self.target.port)
        if self.owner.host_key_policy == "accept-new":
            client.get_host_keys().add(entry, key.get_name(), key)
            path = Path(self.target.known_hosts)
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a", encoding="utf-8") as f:
                f.write(f"{entry} {key.get_name()} {key.get_base64()}\n")
            return
        port = "" if self.target.port == 22 else f"-p {self.target.port} "
        raise _UnknownHost(
            f"{self.owner.name}: {entry} is not in {self.target.known_hosts} (its {key.get_name()} key is "
            f"{fingerprint(key)}). Check that fingerprint on the board (`ssh-keygen -lf "
            f"/etc/ssh/ssh_host_ed25519_key.pub`), then accept it with `ssh-keyscan {port}"
            f"{self.target.hostname} >> {self.target.known_hosts}`, or set host_key_policy = \"accept-new\" "
            "for this device in the inventory."
        )
