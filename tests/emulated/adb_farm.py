"""A farm of emulated devices behind Debian's real `adb` server, all on loopback.

    with AdbFarm([DeviceSpec(name="a"), DeviceSpec(name="b")]) as farm:
        farm.server_port             # the adb server: 127.0.0.1:<server_port>
        farm.serials                 # ["127.0.0.1:41234", "127.0.0.1:41235"]
        farm.adb("-s", farm.serials[0], "shell", "getprop", "ro.product.model")
        farm.kill_device(serial); farm.revive_device(serial); farm.restart_server()

Per device: an AdbDevice (adbd in its own namespaces) and a Relay listening on host
127.0.0.1:<free port> that opens, per accepted connection, a TCP connection to adbd's 127.0.0.1:5555
inside the device's network namespace; the server is told `adb connect 127.0.0.1:<port>`.
The server runs in the foreground (`adb -P PORT nodaemon server`) with its own HOME and TMPDIR and
ADB_LOCAL_TRANSPORT_MAX_PORT=5554 (so it does not probe local emulator ports itself).

By hand (as root, from the repository root):

    python -m tests.emulated.adb_farm --devices 2 [--arm64 1] [--no-shell-v2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from tests.emulated.adb_device import AdbDevice, DeviceError, DeviceSpec, check_host

A_CNXN = 0x4E584E43
HEADER = struct.Struct("<6I")
MAX_BANNER = 1 << 20


class FarmError(RuntimeError):
    """The farm (adb server, relays, connections) could not be brought to the wanted state."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rewrite_banner(payload: bytes, *, drop_features: Sequence[str] = (), props: dict[str, str] | None = None) -> bytes:
    """Edit a device's CNXN banner `device::k=v;k=v;features=a,b`: drop features, fill ro.product.*."""
    text = payload.decode("utf-8", errors="surrogateescape")
    nul = text.endswith("\0")
    text = text.rstrip("\0")
    kind, sep, rest = text.partition("::")
    fields = []
    for item in rest.split(";") if rest else []:
        key, eq, value = item.partition("=")
        if key == "features" and drop_features:
            value = ",".join(f for f in value.split(",") if f not in drop_features)
        elif props and key in props and not value:
            value = props[key]
        fields.append(f"{key}{eq}{value}")
    out = f"{kind}{sep}{';'.join(fields)}" + ("\0" if nul else "")
    return out.encode("utf-8", errors="surrogateescape")


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("peer closed")
        buf += chunk
    return bytes(buf)


class Relay:
    """Host 127.0.0.1:<port> -> adbd inside one device's network namespace, one thread pair per connection.

    The device's first CNXN packet is rewritten on the way: ro.product.{name,model,device} are filled
    from the spec's properties (real adbd leaves them empty without Android's property service), and
    with `spec.shell_v2 = False` the `shell_v2` feature is removed, so the server falls back to the
    legacy shell protocol (adbd itself has no switch for that: its feature list is compiled in).
    """

    def __init__(self, device: AdbDevice, port: int = 0) -> None:
        self.device = device
        self._wanted_port = port
        self.port = 0
        self._listener: socket.socket | None = None
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = threading.Event()

    def start(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self._wanted_port))
        listener.listen(16)
        self._listener = listener
        self.port = listener.getsockname()[1]
        threading.Thread(target=self._accept_loop, name=f"relay-{self.port}", daemon=True).start()

    def stop(self) -> None:
        self._closed.set()
        if self._listener is not None:
            try:
                self._listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._listener.close()
        self.drop_connections()

    def drop_connections(self) -> None:
        with self._lock:
            conns, self._conns = list(self._conns), set()
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), name=f"relay-{self.port}-conn", daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = self.device.dial(timeout=3.0)
        except OSError:
            client.close()  # the device is down: like a refused connection, the server sees it offline
            return
        with self._lock:
            if self._closed.is_set():
                client.close()
                upstream.close()
                return
            self._conns.update((client, upstream))
        for sock in (client, upstream):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        spec = self.device.spec
        props = spec.all_props()
        banner_props = {k: props[k] for k in ("ro.product.name", "ro.product.model", "ro.product.device") if k in props}
        drop = () if spec.shell_v2 else ("shell_v2",)
        t = threading.Thread(target=self._pump, args=(client, upstream, None), daemon=True)
        t.start()
        self._pump(upstream, client, (drop, banner_props))
        t.join()

    def _pump(
        self, src: socket.socket, dst: socket.socket, rewrite: tuple[Sequence[str], dict[str, str]] | None
    ) -> None:
        try:
            if rewrite is not None:
                # Packets from the device until (and including) its CNXN: AUTH may come first.
                while True:
                    header = _recv_exact(src, HEADER.size)
                    cmd, arg0, arg1, length, _check, magic = HEADER.unpack(header)
                    if length > MAX_BANNER:
                        raise ConnectionError("oversized packet")
                    payload = _recv_exact(src, length)
                    if cmd == A_CNXN:
                        payload = rewrite_banner(payload, drop_features=rewrite[0], props=rewrite[1])
                        header = HEADER.pack(cmd, arg0, arg1, len(payload), sum(payload) & 0xFFFFFFFF, magic)
                    dst.sendall(header + payload)
                    if cmd == A_CNXN:
                        break
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            with self._lock:
                self._conns.discard(src)
                self._conns.discard(dst)
            src.close()


class FarmDevice:
    """One device of the farm: its serial, the AdbDevice and its relay."""

    def __init__(self, device: AdbDevice, relay: Relay) -> None:
        self.device = device
        self.relay = relay

    @property
    def serial(self) -> str:
        return f"127.0.0.1:{self.relay.port}"

    @property
    def spec(self) -> DeviceSpec:
        return self.device.spec


class AdbFarm:
    """Debian's adb server on a free loopback port + emulated devices connected to it."""

    def __init__(
        self,
        devices: Sequence[DeviceSpec] | int = 1,
        *,
        adb: str = "adb",
        workdir: str | os.PathLike[str] | None = None,
        start_timeout: float = 60.0,
    ) -> None:
        if isinstance(devices, int):
            devices = [DeviceSpec(name=f"emu-x86_64-{i}") for i in range(devices)]
        names = [d.name for d in devices]
        if len(set(names)) != len(names):
            raise ValueError(f"device names must be unique: {names}")
        self.specs = list(devices)
        self.adb_path = adb
        self._workdir_arg = Path(workdir) if workdir is not None else None
        self.start_timeout = start_timeout
        self.dir: Path | None = None
        self.server_port = 0
        self.devices: list[FarmDevice] = []
        self._server: subprocess.Popen[bytes] | None = None
        self._server_log = None

    # -- what tests use ---------------------------------------------------------------------------
    @property
    def serials(self) -> list[str]:
        return [d.serial for d in self.devices]

    def device(self, serial_or_name: str) -> FarmDevice:
        for d in self.devices:
            if serial_or_name in (d.serial, d.spec.name):
                return d
        raise KeyError(f"no device {serial_or_name!r}; the farm has {[d.serial for d in self.devices]}")

    @property
    def env(self) -> dict[str, str]:
        """Environment for a client (adb CLI, adbutils, the harness) of this farm's server."""
        assert self.dir is not None, "farm not started"
        env = dict(os.environ)
        env.update(
            ANDROID_ADB_SERVER_PORT=str(self.server_port),
            ADB_LOCAL_TRANSPORT_MAX_PORT="5554",
            HOME=str(self.dir / "home"),
            TMPDIR=str(self.dir / "tmp"),
        )
        return env

    def adb(self, *args: str, timeout: float = 60, check: bool = False, input: bytes | None = None
            ) -> subprocess.CompletedProcess[bytes]:
        """Run the adb CLI against this farm's server: `farm.adb("-s", serial, "shell", "id")`."""
        argv = [self.adb_path, "-P", str(self.server_port), *args]
        proc = subprocess.run(argv, env=self.env, capture_output=True, timeout=timeout, input=input)
        if check and proc.returncode != 0:
            raise FarmError(f"{' '.join(argv)} exited {proc.returncode}: {proc.stdout!r} {proc.stderr!r}")
        return proc

    def states(self) -> dict[str, str]:
        """serial -> state from `adb devices` (device, offline, ...)."""
        out = self.adb("devices", timeout=30).stdout.decode(errors="replace")
        states = {}
        for line in out.splitlines()[1:]:
            parts = line.split()
            if len(parts) >= 2:
                states[parts[0]] = parts[1]
        return states

    def wait_state(self, serials: Sequence[str] | str, state: str | None = "device", timeout: float = 30) -> None:
        """Wait until every serial shows `state` (None: until it is no longer listed)."""
        wanted = [serials] if isinstance(serials, str) else list(serials)
        deadline = time.monotonic() + timeout
        states: dict[str, str] = {}
        while True:
            states = self.states()
            if all(states.get(s) == state for s in wanted):
                return
            if time.monotonic() > deadline:
                raise FarmError(f"waited {timeout} s for {wanted} to be {state}; adb devices says {states}")
            time.sleep(0.05)

    # -- life cycle -------------------------------------------------------------------------------
    def __enter__(self) -> AdbFarm:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        reason = check_host()
        if reason:
            raise DeviceError(reason)
        if shutil.which(self.adb_path) is None:
            raise FarmError(f"{self.adb_path} not found: the server is Debian's package `adb` (apt-get install adb)")
        if self._workdir_arg is not None:
            self._workdir_arg.mkdir(parents=True, exist_ok=True)
        self.dir = Path(tempfile.mkdtemp(prefix="harness-farm-", dir=self._workdir_arg))
        (self.dir / "home").mkdir()
        (self.dir / "tmp").mkdir()
        try:
            self._start_server()
            for spec in self.specs:
                device = AdbDevice(spec, workdir=self.dir / "devices")
                self.devices.append(FarmDevice(device, Relay(device)))
                device.start()
                self.devices[-1].relay.start()
            for d in self.devices:
                self._connect(d.serial)
            self.wait_state(self.serials, "device", timeout=self.start_timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        errors = []
        self._stop_server()
        for d in self.devices:
            d.relay.stop()
            try:
                d.device.stop()
            except Exception as exc:  # keep stopping the rest
                errors.append(exc)
        self.devices = []
        if self._server_log is not None:
            self._server_log.close()
            self._server_log = None
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
        if errors:
            raise FarmError(f"stopping the farm: {errors}")

    def restart_server(self) -> None:
        """Kill the adb server and start a new one on the same port; reconnect every running device."""
        self._stop_server()
        self._start_server(port=self.server_port)
        live = [d.serial for d in self.devices if d.device.running]
        for serial in live:
            self._connect(serial)
        self.wait_state(live, "device", timeout=self.start_timeout)

    def kill_device(self, serial: str) -> None:
        """The device disappears mid-run: adbd and its shells die; the server shows it `offline`."""
        d = self.device(serial)
        d.device.kill()
        d.relay.drop_connections()

    def revive_device(self, serial: str, timeout: float = 30) -> None:
        """Start the device's adbd again and reconnect (disconnect first: the stale entry would stay offline)."""
        d = self.device(serial)
        d.device.restart()
        self.adb("disconnect", d.serial, timeout=30)
        self._connect(d.serial)
        self.wait_state(d.serial, "device", timeout=timeout)

    # -- internals --------------------------------------------------------------------------------
    def _connect(self, serial: str) -> None:
        proc = self.adb("connect", serial, timeout=30)
        out = (proc.stdout + proc.stderr).decode(errors="replace")
        if proc.returncode != 0 or "connected to" not in out:
            raise FarmError(f"adb connect {serial}: {out.strip()}")

    def _start_server(self, port: int | None = None) -> None:
        assert self.dir is not None
        attempts = 1 if port else 3
        for attempt in range(attempts):
            self.server_port = port or free_port()
            if self._server_log is None:
                self._server_log = open(self.dir / "adb-server.log", "ab")
            self._server = subprocess.Popen(
                [self.adb_path, "-P", str(self.server_port), "nodaemon", "server"],
                env=self.env, stdin=subprocess.DEVNULL, stdout=self._server_log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and self._server.poll() is None:
                try:
                    socket.create_connection(("127.0.0.1", self.server_port), timeout=1).close()
                    return
                except OSError:
                    time.sleep(0.02)
            self._stop_server()
            if attempt == attempts - 1:
                log = (self.dir / "adb-server.log").read_text(errors="replace")[-2000:]
                raise FarmError(f"adb server did not start on 127.0.0.1:{self.server_port}:\n{log}")

    def _stop_server(self) -> None:
        proc, self._server = self._server, None
        if proc is None:
            return
        if proc.poll() is None:
            subprocess.run([self.adb_path, "-P", str(self.server_port), "kill-server"], env=self.env,
                           capture_output=True, timeout=15)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Start emulated Android devices behind a real adb server.")
    parser.add_argument("--devices", type=int, default=1, help="x86_64 devices (default 1)")
    parser.add_argument("--arm64", type=int, default=0, help="arm64 devices under qemu-user (builds the rootfs once)")
    parser.add_argument("--no-shell-v2", action="store_true", help="devices advertise no shell_v2 (legacy shell)")
    args = parser.parse_args(argv)
    shell_v2 = not args.no_shell_v2
    specs = [DeviceSpec(name=f"emu-x86_64-{i}", shell_v2=shell_v2) for i in range(args.devices)]
    specs += [DeviceSpec(name=f"emu-arm64-{i}", arch="aarch64", shell_v2=shell_v2) for i in range(args.arm64)]
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    t0 = time.monotonic()
    with AdbFarm(specs) as farm:
        took = time.monotonic() - t0
        print(f"adb server: 127.0.0.1:{farm.server_port}   ({len(specs)} devices up in {took:.2f} s)")
        for d in farm.devices:
            dev = d.device
            print(f"  {d.serial}  {d.spec.name:<14} {d.spec.arch:<8} netns {dev.netns}  /data = {dev.data_dir}")
        print("\nUse it:")
        print(f"  export ANDROID_ADB_SERVER_PORT={farm.server_port}")
        print(f"  adb devices -l; adb -s {farm.serials[0]} shell getprop" if farm.serials else "")
        print("Ctrl-C stops the devices and the server.", flush=True)
        while not stop.is_set():
            stop.wait(1)
        print("stopping...", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
