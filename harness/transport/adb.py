"""Android devices over ADB (adbutils), with deadlines and real exit codes.

- Commands are argv lists, quoted once here (``shlex.join``).
- Shell v2 where the device offers it (separate stdout / stderr, the real exit code); where it
  does not, the legacy shell runs the command in a child ``sh -c`` and prints a random marker
  with ``$?`` afterwards, so a command that calls ``exit`` cannot fool it; stderr goes to a
  device-side file that is read back.
- Every command has a deadline enforced here, on the socket, not by adbutils' per-read
  timeouts; past it the connection is closed (adbd hangs up the process) and
  ``DeadlineExceeded`` is raised.
- Pushes are verified with a device-side ``sha256sum``.
- adbutils and socket errors become ``TransportError``.
"""

from __future__ import annotations

import os
import posixpath
import secrets
import shlex
import socket
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.errors import DeadlineExceeded, TransportError
from harness.fileio import sha256_file
from harness.transport.base import CommandResult, ContextMixin

WORKDIR = "/data/local/tmp/harness"
DEFAULT_SERVER = "127.0.0.1:5037"
BOOT_WAIT_S = 120.0

STATE_ADVICE = {
    "offline": "the device is connected but not answering: reconnect it (USB: replug; TCP: "
    "`adb disconnect` then `adb connect`), or restart adbd on it",
    "unauthorized": "accept the 'Allow USB debugging?' dialog on the phone (tick 'Always allow'), "
    "or revoke and re-grant the authorisation in Developer options",
    "no permissions": "the host user may not open the USB device: add a udev rule for it or run "
    "the adb server as a user that may",
    "bootloader": "the device is in its bootloader: boot it into Android",
    "recovery": "the device is in recovery: boot it into Android",
    "sideload": "the device is in sideload mode: boot it into Android",
    "missing": "the adb server does not see it: check the cable / `adb connect ADDRESS`, and the serial",
}


def server_address(adb_server: str | None) -> tuple[str, int]:
    """``(host, port)`` of the adb server: the inventory's ``adb_server``, else what `adb` itself
    would use: ``ADB_SERVER_SOCKET`` (``tcp:HOST:PORT`` or ``tcp:PORT``), else
    ``ANDROID_ADB_SERVER_ADDRESS`` and ``ANDROID_ADB_SERVER_PORT``, else 127.0.0.1:5037."""
    if adb_server:
        host, _, port = adb_server.rpartition(":")
        if not host or not port.isdigit():
            raise TransportError(f"adb_server must look like HOST:PORT (got {adb_server!r})")
        return host, int(port)
    spec = os.environ.get("ADB_SERVER_SOCKET")
    if spec:
        kind, _, rest = spec.partition(":")
        host, _, port = rest.rpartition(":")
        if kind != "tcp" or not port.isdigit() or not 0 < int(port) < 65536:
            raise TransportError(f"ADB_SERVER_SOCKET={spec!r}: harness speaks to adb servers over TCP only "
                                 "(tcp:HOST:PORT or tcp:PORT); fix or unset the variable")
        return host or "127.0.0.1", int(port)
    host = os.environ.get("ANDROID_ADB_SERVER_ADDRESS") or "127.0.0.1"
    port_text = os.environ.get("ANDROID_ADB_SERVER_PORT")
    if not port_text:
        return host, 5037
    port = port_text
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise TransportError(f"ANDROID_ADB_SERVER_PORT={port!r} must be a port number (1-65535); fix or unset it")
    return host, int(port)


def connect_client(adb_server: str | None, socket_timeout: float = 30) -> Any:
    """An adbutils client for a server that is known to be up.

    adbutils, finding no server, silently runs `adb start-server` on the default port (whatever
    port was asked for). The harness never starts servers behind the user's back: it checks
    the port itself first and says what to do.
    """
    import adbutils

    host, port = server_address(adb_server)
    try:
        with socket.create_connection((host, port), timeout=3):
            pass
    except OSError as exc:
        raise TransportError(
            f"no adb server answers at {host}:{port} ({exc.strerror or exc}); start one with "
            f"`adb -P {port} start-server` (or `adb -a -P {port} nodaemon server` on a farm host), "
            "or fix adb_server in the inventory"
        ) from exc
    return adbutils.AdbClient(host=host, port=port, socket_timeout=socket_timeout)


def _mapped(exc: BaseException, what: str) -> TransportError:
    return TransportError(f"{what}: {type(exc).__name__}: {exc}".rstrip(": "))


class AdbTransport(ContextMixin):
    """One device behind one adb server. Constructing it does no I/O."""

    def __init__(
        self,
        name: str,
        serial: str,
        adb_server: str | None = None,
        workdir: str | None = None,
        boot_wait_s: float = BOOT_WAIT_S,
    ) -> None:
        self.name = name
        self.serial = serial
        self.adb_server = adb_server
        self._workdir = workdir or WORKDIR
        self._boot_wait_s = boot_wait_s
        self._client: Any = None
        self._device: Any = None
        self.features: set[str] = set()

    # lifecycle -------------------------------------------------------------------------
    def open(self) -> None:
        self._client = connect_client(self.adb_server)
        state = self.state()
        if state != "device":
            advice = STATE_ADVICE.get(state, "check `adb devices -l`")
            raise TransportError(f"{self.name} ({self.serial}) is {state}: {advice}.")
        self._device = self._client.device(self.serial)
        try:
            self.features = set(self._host_query(f"host-serial:{self.serial}:features").split(","))
        except Exception as exc:  # adbutils raises AdbError, OSError, EOFError ...
            raise _mapped(exc, f"{self.name}: cannot read the device's features") from exc
        self.wait_for_boot()

    def close(self) -> None:
        self._device = None
        self._client = None

    def workdir(self) -> str:
        return self._workdir

    @property
    def shell_v2(self) -> bool:
        return "shell_v2" in self.features

    def state(self) -> str:
        """device / offline / unauthorized / ... as the adb server reports it, or missing."""
        try:
            for line in self._host_query("host:devices").splitlines():
                serial, _, state = line.partition("\t")
                if serial == self.serial:
                    return state.strip()
        except Exception as exc:
            host, port = server_address(self.adb_server)
            raise TransportError(
                f"cannot reach the adb server at {host}:{port} ({type(exc).__name__}: {exc}); "
                "start it with `adb start-server` or fix adb_server in the inventory"
            ) from exc
        return "missing"

    def _host_query(self, service: str) -> str:
        """One reply of the adb server (``host:devices``, ``host-serial:S:features``) on a connection
        of its own, closed at once (adbutils' close sleeps 10 ms, its device queries also ask the
        server's version first)."""
        conn = self._client.make_connection(timeout=30)
        try:
            conn.send_command(service)
            conn.check_okay()
            return str(conn.read_string_block())
        finally:
            _close(conn)

    def wait_for_boot(self) -> None:
        """Emulators and freshly rebooted phones: wait for sys.boot_completed=1 (bounded)."""
        deadline = time.monotonic() + self._boot_wait_s
        while True:
            r = self.run(["getprop", "sys.boot_completed"], timeout_s=15)
            if r.text().strip() == "1" or r.exit_code == 127:  # booted, or not Android (no getprop)
                return
            if time.monotonic() > deadline:
                raise TransportError(
                    f"{self.name} did not finish booting within {self._boot_wait_s:g} s "
                    "(sys.boot_completed is not 1)"
                )
            time.sleep(1.0)

    # commands --------------------------------------------------------------------------
    def _command_line(self, argv: Sequence[str], cwd: str | None, env: Mapping[str, str] | None) -> str:
        cmd = shlex.join(str(a) for a in argv)
        if env:
            cmd = "env " + " ".join(shlex.quote(f"{k}={v}") for k, v in env.items()) + " " + cmd
        if cwd:
            cmd = f"cd {shlex.quote(cwd)} && {cmd}"
        return cmd

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout_s: float,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> CommandResult:
        if self._device is None:
            raise TransportError(f"{self.name}: transport is not open")
        argv = tuple(str(a) for a in argv)
        cmd = self._command_line(argv, cwd, env)
        start = time.perf_counter()
        deadline = time.monotonic() + timeout_s
        if self.shell_v2:
            code, out, err = self._run_v2(cmd, argv, timeout_s, deadline)
        else:
            code, out, err = self._run_legacy(cmd, argv, timeout_s, deadline)
        return CommandResult(argv, code, out, err, time.perf_counter() - start)

    def _open_service(self, service: str, deadline: float) -> Any:
        """A connection to ``service`` on this device: one connection to the server, switched to the
        device with ``host:transport:SERIAL`` (what every adb server since 1.0.31 takes). adbutils'
        own ``open_transport`` first asks the server its version on a second connection, and its
        close sleeps 10 ms: about 20 ms of every command, measured (benchmarks/bench_farm.py)."""
        try:
            conn = self._client.make_connection(timeout=max(0.1, min(30.0, deadline - time.monotonic())))
            try:
                conn.send_command(f"host:transport:{self.serial}")
                conn.check_okay()
                conn.send_command(service)
                conn.check_okay()
            except BaseException:
                _close(conn)
                raise
            return conn
        except Exception as exc:
            raise _mapped(exc, f"{self.name}: cannot open '{service.split(':', 1)[0]}'") from exc

    @staticmethod
    def _recv(conn: Any, n: int, deadline: float, argv: tuple[str, ...], timeout_s: float) -> bytes:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise DeadlineExceeded(list(argv), timeout_s)
        sock: socket.socket = conn.conn
        sock.settimeout(remaining)
        try:
            return sock.recv(n)
        except TimeoutError:
            raise DeadlineExceeded(list(argv), timeout_s) from None

    def _read_exact(self, conn: Any, n: int, deadline: float, argv: tuple[str, ...], t: float) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self._recv(conn, n - len(buf), deadline, argv, t)
            if not chunk:
                raise TransportError(f"{self.name}: the connection closed in the middle of a reply "
                                     "(device gone or adbd restarted)")
            buf += chunk
        return bytes(buf)

    def _run_v2(self, cmd: str, argv: tuple[str, ...], t: float, deadline: float) -> tuple[int, bytes, bytes]:
        conn = self._open_service(f"shell,v2,raw:{cmd}", deadline)
        out, err = bytearray(), bytearray()
        try:
            while True:
                header = self._read_exact(conn, 5, deadline, argv, t)
                kind, length = header[0], int.from_bytes(header[1:5], "little")
                data = self._read_exact(conn, length, deadline, argv, t) if length else b""
                if kind == 1:
                    out += data
                elif kind == 2:
                    err += data
                elif kind == 3:
                    return (data[0] if data else 255), bytes(out), bytes(err)
        except OSError as exc:
            raise _mapped(exc, f"{self.name}: shell connection failed") from exc
        finally:
            _close(conn)

    def _read_all(self, service: str, deadline: float, argv: tuple[str, ...], t: float) -> bytes:
        conn = self._open_service(service, deadline)
        data = bytearray()
        try:
            while chunk := self._recv(conn, 65536, deadline, argv, t):
                data += chunk
        except OSError as exc:
            raise _mapped(exc, f"{self.name}: shell connection failed") from exc
        finally:
            _close(conn)
        return bytes(data)

    def _run_legacy(self, cmd: str, argv: tuple[str, ...], t: float, deadline: float) -> tuple[int, bytes, bytes]:
        nonce = secrets.token_hex(8)
        err_file = posixpath.join(self._workdir, f".stderr.{nonce}")
        marker = f"HARNESS-EXIT-{nonce}:"
        wrapped = (
            f"mkdir -p {shlex.quote(self._workdir)}; sh -c {shlex.quote(cmd)} 2>{shlex.quote(err_file)} "
            f"</dev/null; rc=$?; echo; echo {marker}$rc"
        )
        data = self._read_all(f"shell:{wrapped}", deadline, argv, t)
        idx = data.rfind(marker.encode())
        if idx < 0:
            raise TransportError(f"{self.name}: the shell ended without reporting an exit code "
                                 "(device gone or shell killed)")
        tail = bytes(data[idx + len(marker):]).strip()
        out = bytes(data[:idx])
        out = out[:-1] if out.endswith(b"\n") else out  # the echo before the marker
        out = out.replace(b"\r\n", b"\n")
        err = b""
        try:
            quoted = shlex.quote(err_file)
            err = self._read_all(f"shell:cat {quoted}; rm -f {quoted}", time.monotonic() + 30, argv, 30)
        except TransportError:
            pass  # stderr is a courtesy; the exit code is what matters
        try:
            code = int(tail.split()[0])
        except (ValueError, IndexError):
            raise TransportError(f"{self.name}: unreadable exit status {tail[:20]!r}") from None
        return code, out, err

    # files -----------------------------------------------------------------------------
    def push(self, local: Path, remote: str, *, sha256: str | None = None) -> int:
        if self._device is None:
            raise TransportError(f"{self.name}: transport is not open")
        size = Path(local).stat().st_size
        try:
            self._device.sync.push(str(local), remote)
        except Exception as exc:
            raise _mapped(exc, f"{self.name}: push of {Path(local).name} failed") from exc
        self.verify(Path(local), remote, sha256)
        return size

    def verify(self, local: Path, remote: str, sha256: str | None = None) -> None:
        """Compare the device's sha256 of ``remote`` with the local file's."""
        r = self.run(["sha256sum", remote], timeout_s=120)
        theirs = r.text().split()[0] if r.ok and r.text().strip() else None
        if theirs is None:
            raise TransportError(f"{self.name}: cannot checksum {remote} on the device: "
                                 f"{r.text('stderr').strip() or r.exit_code}")
        if theirs != (sha256 or sha256_file(local)):
            raise TransportError(f"{self.name}: {remote} differs from {local.name} after the push "
                                 "(truncated or corrupted on the way)")

    def pull(self, remote: str, local: Path) -> int:
        if self._device is None:
            raise TransportError(f"{self.name}: transport is not open")
        try:
            Path(local).parent.mkdir(parents=True, exist_ok=True)
            return int(self._device.sync.pull(remote, str(local)))
        except Exception as exc:
            raise _mapped(exc, f"{self.name}: pull of {remote} failed") from exc


def _close(conn: Any) -> None:
    """Close an adbutils connection at once: the reply has been read whole, or the command is
    being abandoned (its device-side process is hung up with the socket)."""
    try:
        conn.conn.close()
    except Exception:  # noqa: BLE001 - closed already (adbutils raises AdbError then) or a socket error
        pass


def list_server_devices(adb_server: str | None = None) -> list[dict[str, str]]:
    """Devices an adb server knows, as `adb devices -l` shows them: [{serial, state, model, product,
    device, server}] (model, product and device are empty where the server does not know them,
    e.g. an unauthorized phone; adb writes the model's spaces as '_')."""
    host, port = server_address(adb_server)
    client = connect_client(adb_server, socket_timeout=10)
    try:
        infos = client.list(extended=True)
    except Exception as exc:
        raise TransportError(f"cannot reach the adb server at {host}:{port}: {exc}") from exc
    out = []
    for info in infos:
        tags = getattr(info, "tags", {}) or {}
        out.append({"serial": info.serial, "state": str(info.state), "model": tags.get("model", ""),
                    "product": tags.get("product", ""), "device": tags.get("device", ""),
                    "server": f"{host}:{port}"})
    return out
