"""Emulated SSH boards: Debian's real OpenSSH sshd on loopback, with throwaway keys, for the tests.

    with SshServer() as board:                    # x86_64: the host's own file system
        board.ssh("uname", "-m")                  # the real OpenSSH client, host key verified
        board.host, board.port, board.user, board.key_path, board.known_hosts_path
        relay = board.relay(); relay.drop_connections()   # a TCP relay in front, for fault tests
        board.kill(); board.restart(); board.rekey()      # sshd gone (sessions too), back, new host key

    SshServer("no-python")   # sessions chrooted into a busybox tree: no python3 anywhere
    SshServer("arm64")       # sshd inside the arm64 Debian root file system under qemu-user

What a board is: `sshd -D -e -f CONFIG` as PID 1 of its own PID namespace, in a private mount
namespace (board_init.sh), listening on 127.0.0.1:<free port> in the host's network namespace (sshd,
unlike adbd, can bind where it is told, so no network namespace is needed and nothing relays the bytes
of a throughput benchmark). The login user `harness-board` (uid 61234, or the next free one) exists only
in that mount namespace: the board's /etc/passwd, /etc/group and /etc/shadow are generated files bound
over the real ones, and /home is the board's own folder. So the host's accounts are never changed, the
user is unprivileged (a wrong remote `rm -rf` cannot hurt the host beyond what any user can), and every
board gets a fresh home:

    /home/harness-board/            HOME, the user's, empty but for
        .ssh/authorized_keys        the throwaway user key's public half

Keys: an ed25519 host key (per board; `rekey()` makes a new one) and an unencrypted ed25519 user key,
both made with ssh-keygen in the board's folder. Key authentication only, no PAM, no forwarding.

By hand (as root, from the repository root):

    python -m tests.emulated.sshd [--arm64 | --no-python]

Needs root, util-linux, openssh-server and openssh-client; busybox-static for the no-Python board;
qemu-user-static, binfmt-support, debootstrap and zstd for the arm64 board.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from tests.emulated.adb_device import check_host, remove_unmounted_dir
from tests.emulated.adb_farm import free_port
from tests.emulated.tcp_relay import TcpRelay

HERE = Path(__file__).resolve().parent
BOARD_INIT = HERE / "board_init.sh"
NOVSOCK = HERE / "novsock.py"
SSHD = "/usr/sbin/sshd"
BUSYBOX = "/bin/busybox"
USER = "harness-board"
FIRST_UID = 61234
KINDS = ("x86_64", "no-python", "arm64")
ARCH = {"x86_64": "x86_64", "no-python": "x86_64", "arm64": "aarch64"}
# tool -> Debian package that ships it
TOOLS = {"ssh": "openssh-client", "ssh-keygen": "openssh-client", "unshare": "util-linux",
         "setpriv": "util-linux", "mount": "mount"}


class SshBoardError(RuntimeError):
    """An emulated SSH board could not be set up, started or stopped."""


def missing_packages(kind: str = "x86_64") -> list[str]:
    """Debian packages this kind of board needs that are not installed (empty when none)."""
    missing = {pkg for tool, pkg in TOOLS.items() if shutil.which(tool) is None}
    if not os.access(SSHD, os.X_OK):
        missing.add("openssh-server")
    if kind == "no-python" and not os.access(BUSYBOX, os.X_OK):
        missing.add("busybox-static")
    if kind == "arm64":
        from tests.emulated import arm64_rootfs

        missing.update(arm64_rootfs.missing_tools())
    return sorted(missing)


def fingerprint(public_key_line: str) -> str:
    """`SHA256:...` of an OpenSSH public key line (`ssh-ed25519 AAAA... [comment]`), as ssh-keygen -l prints it."""
    blob = base64.b64decode(public_key_line.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def keygen(path: Path, comment: str) -> str:
    """A fresh unencrypted ed25519 key pair at path (+ .pub); returns the public key line."""
    for p in (path, path.with_name(path.name + ".pub")):
        p.unlink(missing_ok=True)
    proc = subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
                          capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        raise SshBoardError(f"ssh-keygen failed: {proc.stderr.strip()}")
    return path.with_name(path.name + ".pub").read_text().strip()


def _free_uid(*passwd_files: Path) -> int:
    taken: set[int] = set()
    for f in passwd_files:
        for line in f.read_text().splitlines():
            parts = line.split(":")
            if len(parts) > 3:
                taken.update(int(p) for p in parts[2:4] if p.isdigit())
    uid = FIRST_UID
    while uid in taken:
        uid += 1
    return uid


def _without_user(text: str, user: str) -> str:
    return "".join(line + "\n" for line in text.splitlines() if line and not line.startswith(user + ":"))


class SshServer:
    """One emulated board: `start()` / `stop()` (or `with`); `kill()`, `restart()`, `rekey()`, `relay()`.

    Constructors do no I/O. `port` is sshd's own port (no relay in the way); a relay's port reaches the
    same sshd through a TcpRelay that can cut connections. `known_hosts_path` holds the host key for
    the server's port and every relay's port; `rekey()` leaves it alone (so the old key is what a
    client trusts: the changed-host-key case) until `trust_host_key()`.
    """

    host = "127.0.0.1"

    def __init__(self, kind: str = "x86_64", *, workdir: str | os.PathLike[str] | None = None,
                 rootfs: str | os.PathLike[str] | None = None, port: int = 0, user: str = USER,
                 start_timeout: float | None = None) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
        self.kind = kind
        self.arch = ARCH[kind]
        self.user = user
        self.port = port
        self._auto_port = port == 0
        self._workdir = Path(workdir) if workdir is not None else None
        self._rootfs = Path(rootfs) if rootfs is not None else None
        self.start_timeout = start_timeout if start_timeout is not None else (120.0 if kind == "arm64" else 20.0)
        self.dir: Path | None = None
        self.uid = 0
        self.host_public_key = ""
        self._trusted_ports: set[int] = set()
        self._trusted_key = ""
        self._relays: list[TcpRelay] = []
        self._proc: subprocess.Popen[bytes] | None = None
        self._log = None
        self.start_seconds = 0.0  # how long the last start took (sshd listening and greeting)

    # -- what tests and clients use ---------------------------------------------------------------
    @property
    def home(self) -> str:
        """The login user's home as the board sees it."""
        return f"/home/{self.user}"

    @property
    def home_dir(self) -> Path:
        """Host path of the login user's home (files the board wrote, for checks)."""
        return self._home_root / self.user

    @property
    def key_path(self) -> Path:
        return self._need_dir / "client" / "id_ed25519"

    @property
    def known_hosts_path(self) -> Path:
        return self._need_dir / "client" / "known_hosts"

    @property
    def host_key_path(self) -> Path:
        return self._need_dir / "etc" / "ssh_host_ed25519_key"

    @property
    def log_path(self) -> Path:
        return self._need_dir / "sshd.log"

    @property
    def host_key_line(self) -> str:
        """The known_hosts line for this board's port: `[127.0.0.1]:PORT ssh-ed25519 AAAA...`."""
        return self.known_hosts_line()

    def known_hosts_line(self, port: int | None = None, public_key: str | None = None) -> str:
        port = port or self.port
        key_type, key_b64 = (public_key or self.host_public_key).split()[:2]
        host = self.host if port == 22 else f"[{self.host}]:{port}"
        return f"{host} {key_type} {key_b64}"

    @property
    def host_key_fingerprint(self) -> str:
        return fingerprint(self.host_public_key)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    @property
    def running(self) -> bool:
        return self.pid is not None

    def ssh_options(self, port: int | None = None, known_hosts: str | os.PathLike[str] | None = None) -> list[str]:
        """OpenSSH client options that reach this board with its key and verified host key, nothing else."""
        return [
            "-F", "/dev/null",
            "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=yes",
            "-o", f"UserKnownHostsFile={known_hosts or self.known_hosts_path}",
            "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "IdentitiesOnly=yes",
            "-o", "IdentityAgent=none",
            "-o", "ConnectTimeout=10",
            "-o", "LogLevel=ERROR",
            "-i", str(self.key_path),
            "-o", f"Port={port or self.port}",
        ]

    def ssh(self, *remote: str, options: tuple[str, ...] | list[str] = (), port: int | None = None,
            known_hosts: str | os.PathLike[str] | None = None, input: bytes | None = None,
            timeout: float = 60, check: bool = False) -> subprocess.CompletedProcess[bytes]:
        """Run the real `ssh` client: `board.ssh("uname", "-m")`. Like ssh itself, the remote words are
        joined with spaces and parsed by the board's shell (quote them yourself, e.g. shlex.join)."""
        argv = ["ssh", *self.ssh_options(port, known_hosts), *options, "--", f"{self.user}@{self.host}", *remote]
        proc = subprocess.run(argv, input=input, capture_output=True, timeout=timeout,
                              stdin=subprocess.DEVNULL if input is None else None)
        if check and proc.returncode != 0:
            raise SshBoardError(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.decode(errors='replace')}")
        return proc

    def scp(self, *paths: str, port: int | None = None, timeout: float = 600, check: bool = True
            ) -> subprocess.CompletedProcess[bytes]:
        """Run the real `scp` (SFTP protocol, as OpenSSH 9 does): remote paths as `board:PATH`."""
        args = [p.replace("board:", f"{self.user}@{self.host}:", 1) if p.startswith("board:") else p for p in paths]
        argv = ["scp", "-q", *self.ssh_options(port), "--", *args]
        proc = subprocess.run(argv, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
        if check and proc.returncode != 0:
            raise SshBoardError(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.decode(errors='replace')}")
        return proc

    def relay(self) -> TcpRelay:
        """A TcpRelay on a new loopback port in front of this sshd (its port is trusted in known_hosts)."""
        relay = TcpRelay((self.host, self.port)).start()
        self._relays.append(relay)
        self._trusted_ports.add(relay.port)
        self._write_known_hosts()
        return relay

    def trust_host_key(self) -> None:
        """Make known_hosts_path trust the current host key (after `rekey()`)."""
        self._trusted_key = self.host_public_key
        self._write_known_hosts()

    def devices_toml(self, name: str = "board") -> str:
        """An inventory entry for the harness (devices.toml) that reaches this board."""
        lines = [
            f"[devices.{name}]",
            'transport = "ssh"',
            f'host = "{self.host}"',
            f"port = {self.port}",
            f'user = "{self.user}"',
            f'key = "{self.key_path}"',
            f'known_hosts = "{self.known_hosts_path}"',
        ]
        if self.kind == "arm64":
            lines.append('python = "/opt/venv/bin/python"')
        return "\n".join(lines) + "\n"

    # -- life cycle -------------------------------------------------------------------------------
    def __enter__(self) -> SshServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Prepare the board (first time: folder, keys, accounts, jail) and start sshd; wait for its greeting."""
        if self.running:
            return
        reason = check_host()
        if reason:
            raise SshBoardError(reason.replace("emulated devices", "emulated SSH boards"))
        missing = missing_packages(self.kind)
        if missing:
            raise SshBoardError(f"the {self.kind} SSH board needs: apt-get install {' '.join(missing)}")
        t0 = time.monotonic()
        if self.dir is None:
            self._prepare()
        may_move = self._auto_port and not self._ever_started  # a restart keeps its port
        attempts = 3 if may_move else 1
        for attempt in range(attempts):
            if may_move:
                self.port = free_port()
            self._write_config()
            self._launch()
            try:
                self._wait_ready(self.start_timeout)
                break
            except SshBoardError as exc:
                if "Address already in use" not in str(exc) or attempt == attempts - 1:
                    raise
        self._ever_started = True
        self._trusted_ports.add(self.port)
        self._write_known_hosts()
        self.start_seconds = time.monotonic() - t0

    def stop(self) -> None:
        """Stop relays and sshd (every session with it) and delete the board's folder."""
        for relay in self._relays:
            relay.stop()
        self._relays = []
        self.kill()
        if self.dir is not None:
            remove_unmounted_dir(self.dir, SshBoardError)
            self.dir = None

    def kill(self) -> None:
        """sshd and every session die at once (SIGKILL to the PID namespace); live connections drop."""
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired as exc:
                raise SshBoardError(f"sshd of the {self.kind} board (pid {proc.pid}) did not die") from exc
            self._wait_port_closed()
        if self._log is not None:
            self._log.close()
            self._log = None

    def restart(self) -> None:
        """kill() then start(): same port, same host key, same home."""
        self.kill()
        self.start()

    def rekey(self) -> str:
        """Restart with a NEW host key (same port); known_hosts_path still holds the old one. Returns the old line."""
        old = self.host_key_line
        self.kill()
        self.host_public_key = keygen(self.host_key_path, f"{self.user}-host")
        self.start()
        return old

    # -- internals --------------------------------------------------------------------------------
    @property
    def _need_dir(self) -> Path:
        if self.dir is None:
            raise SshBoardError("the board is not started")
        return self.dir

    @property
    def _home_root(self) -> Path:
        """Host folder the board sees as /home."""
        return self._need_dir / ("jail/home" if self.kind == "no-python" else "home")

    def _board_etc(self) -> str:
        """The board's etc/ folder as sshd sees it."""
        return "/run/harness" if self.kind == "arm64" else str(self._need_dir / "etc")

    def _prepare(self) -> None:
        if self._workdir is not None:
            self._workdir.mkdir(parents=True, exist_ok=True)
        self.dir = Path(tempfile.mkdtemp(prefix=f"harness-sshd-{self.kind}-", dir=self._workdir))
        try:
            self._prepare_files()
        except BaseException:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
            raise

    def _prepare_files(self) -> None:
        d = self._need_dir
        d.chmod(0o755)  # the login user must reach its home below it
        etc, client = d / "etc", d / "client"
        etc.mkdir(mode=0o755)
        client.mkdir(mode=0o700)
        root = Path("/")
        if self.kind == "arm64":
            from tests.emulated import arm64_rootfs

            root = self._rootfs or arm64_rootfs.ensure_rootfs()
            if not (root / ".harness-rootfs-complete").is_file() or not (root / "usr/sbin/sshd").exists():
                raise SshBoardError(f"{root} is not an arm64 root file system with sshd (build_arm64_rootfs.sh)")
            arm64_rootfs.ensure_binfmt()
            self._rootfs = root
        # Accounts: the root's own, minus any stale board user, plus the board user.
        self.uid = _free_uid(root / "etc/passwd", root / "etc/group")
        shell = "/bin/sh" if self.kind == "no-python" else "/bin/bash"
        passwd = _without_user((root / "etc/passwd").read_text(), self.user)
        passwd += f"{self.user}:x:{self.uid}:{self.uid}:harness emulated board:{self.home}:{shell}\n"
        group = _without_user((root / "etc/group").read_text(), self.user) + f"{self.user}:x:{self.uid}:\n"
        shadow = _without_user((root / "etc/shadow").read_text(), self.user)
        shadow += f"{self.user}:*:19000:0:99999:7:::\n"  # '*': no password, not locked ('!' would be refused)
        (etc / "passwd").write_text(passwd)
        (etc / "group").write_text(group)
        (etc / "shadow").write_text(shadow)
        (etc / "shadow").chmod(0o600)
        if self.kind == "no-python":
            self._prepare_jail(d / "jail")
        home = self._home_root / self.user
        (home / ".ssh").mkdir(parents=True)
        self._home_root.chmod(0o755)
        user_pub = keygen(self.key_path, "harness-test-client")
        (home / ".ssh/authorized_keys").write_text(user_pub + "\n")
        for path, mode in ((home, 0o755), (home / ".ssh", 0o700), (home / ".ssh/authorized_keys", 0o600)):
            os.chown(path, self.uid, self.uid)
            path.chmod(mode)
        self.host_public_key = keygen(self.host_key_path, f"{self.user}-host")
        self._trusted_key = self.host_public_key

    def _prepare_jail(self, jail: Path) -> None:
        """A busybox-only tree: /bin/sh and the usual commands, no Python; ChrootDirectory of its sshd."""
        for sub in ("bin", "dev", "etc", "home", "tmp", "proc", "sys"):
            (jail / sub).mkdir(parents=True, exist_ok=True)
        jail.chmod(0o755)
        (jail / "tmp").chmod(0o1777)
        shutil.copy2(BUSYBOX, jail / "bin/busybox")
        listing = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True, timeout=30, check=True).stdout
        for applet in listing.split():
            if applet != "busybox" and not (jail / "bin" / applet).exists():
                os.symlink("busybox", jail / "bin" / applet)
        (jail / "usr").mkdir()
        os.symlink("../bin", jail / "usr/bin")  # scripts with #!/usr/bin/env
        for n in ("null", "zero", "urandom", "tty"):
            (jail / "dev" / n).touch()
        # What `id` and `ls -l` read inside the jail.
        (jail / "etc/passwd").write_text(f"root:x:0:0:root:/root:/bin/sh\n"
                                         f"{self.user}:x:{self.uid}:{self.uid}::{self.home}:/bin/sh\n")
        (jail / "etc/group").write_text(f"root:x:0:\n{self.user}:x:{self.uid}:\n")

    def _write_config(self) -> None:
        d = self._need_dir
        etc = self._board_etc()
        pidfile = "/run/sshd.pid" if self.kind == "arm64" else str(d / "sshd.pid")
        lines = [
            "# sshd of one emulated board (tests/emulated/sshd.py); key authentication only",
            f"ListenAddress {self.host}",
            f"Port {self.port}",
            f"HostKey {etc}/ssh_host_ed25519_key",
            f"PidFile {pidfile}",
            "UsePAM no",
            "StrictModes no",
            "PubkeyAuthentication yes",
            "AuthenticationMethods publickey",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PermitRootLogin no",
            f"AllowUsers {self.user}",
            "AuthorizedKeysFile .ssh/authorized_keys",
            "Subsystem sftp internal-sftp",
            "AllowTcpForwarding no",
            "AllowAgentForwarding no",
            "X11Forwarding no",
            "PermitTunnel no",
            "PrintMotd no",
            "UseDNS no",
            "MaxStartups 64:30:128",
            "LogLevel VERBOSE",
        ]
        if self.kind == "no-python":
            lines.append("ChrootDirectory /srv")
        (d / "etc" / "sshd_config").write_text("\n".join(lines) + "\n")

    def _launch(self) -> None:
        d = self._need_dir
        env = {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "BOARD_DIR": str(d),
            "BOARD_HOME": str(self._home_root),
            "BOARD_ROOT": str(self._rootfs) if self.kind == "arm64" else "",
            "BOARD_JAIL": str(d / "jail") if self.kind == "no-python" else "",
            "BOARD_SSHD_CONFIG": f"{self._board_etc()}/sshd_config",
        }
        argv = [
            sys.executable, str(NOVSOCK), "--die-with-parent",
            "unshare", "--pid", "--mount", "--fork", "--kill-child", "--propagation", "private",
            "/bin/sh", str(BOARD_INIT),
        ]
        if self._log is None:
            self._log = open(d / "sshd.log", "ab")
        self._log_offset = self._log.tell()
        self._log.write(f"--- start {time.strftime('%H:%M:%S')} port {self.port}\n".encode())
        self._log.flush()
        self._proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=self._log,
                                      stderr=subprocess.STDOUT, start_new_session=True)

    _log_offset = 0
    _ever_started = False

    def _wait_ready(self, timeout: float) -> None:
        """Until sshd greets (`SSH-2.0-OpenSSH_...`) on its port."""
        deadline = time.monotonic() + timeout
        last: BaseException | None = None
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                code = None if self._proc is None else self._proc.returncode
                tail = self._log_tail()
                self.kill()
                raise SshBoardError(f"sshd of the {self.kind} board exited ({code}) at start:\n{tail}")
            try:
                with socket.create_connection((self.host, self.port), timeout=2) as sock:
                    sock.settimeout(max(1.0, deadline - time.monotonic()))
                    if sock.recv(64).startswith(b"SSH-2.0-"):
                        return
            except OSError as exc:
                last = exc
                time.sleep(0.01)
        tail = self._log_tail()
        self.kill()
        raise SshBoardError(f"sshd of the {self.kind} board not answering on {self.port} after {timeout} s "
                            f"({last}):\n{tail}")

    def _wait_port_closed(self, timeout: float = 10) -> None:
        """After a kill: the PID namespace's other processes get SIGKILL asynchronously; wait for the listener."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                socket.create_connection((self.host, self.port), timeout=1).close()
            except OSError:
                return
            time.sleep(0.01)

    def _log_tail(self, lines: int = 30) -> str:
        try:
            with open(self._need_dir / "sshd.log", "rb") as fh:
                fh.seek(self._log_offset)
                text = fh.read().decode(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def _write_known_hosts(self) -> None:
        if not self._trusted_key or self.dir is None:
            return
        text = "".join(self.known_hosts_line(p, self._trusted_key) + "\n" for p in sorted(self._trusted_ports))
        tmp = self.known_hosts_path.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, self.known_hosts_path)



def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Start an emulated SSH board (real OpenSSH sshd on loopback).")
    kind = parser.add_mutually_exclusive_group()
    kind.add_argument("--arm64", action="store_true", help="sshd inside the arm64 root file system (qemu-user)")
    kind.add_argument("--no-python", action="store_true", help="sessions in a busybox-only tree, no python3")
    parser.add_argument("--port", type=int, default=0, help="sshd's port (default: a free one)")
    parser.add_argument("--name", default="board", help="the devices.toml entry's name")
    args = parser.parse_args(argv)
    which = "arm64" if args.arm64 else "no-python" if args.no_python else "x86_64"
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with SshServer(which, port=args.port) as board:
        print(f"{which} board: sshd on {board.host}:{board.port}   (up in {board.start_seconds:.2f} s)")
        print(f"  user         {board.user}   (home {board.home}; on the host: {board.home_dir})")
        print(f"  key          {board.key_path}")
        print(f"  known_hosts  {board.known_hosts_path}")
        print(f"  host key     {board.host_key_line}")
        print(f"               {board.host_key_fingerprint}")
        print(f"  sshd log     {board.log_path}")
        print("\nUse it:")
        print(f"  ssh -i {board.key_path} -p {board.port} -o UserKnownHostsFile={board.known_hosts_path} "
              f"-o StrictHostKeyChecking=yes {board.user}@{board.host} uname -m")
        print(f"\ndevices.toml:\n{board.devices_toml(args.name)}")
        print("Ctrl-C stops the board.", flush=True)
        while not stop.is_set():
            stop.wait(1)
        print("stopping...", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
