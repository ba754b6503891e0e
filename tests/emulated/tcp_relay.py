"""A plain TCP relay on host loopback that can break the connections it carries, for fault tests.

    relay = TcpRelay(("127.0.0.1", sshd_port)).start()   # clients connect to 127.0.0.1:relay.port
    relay.drop_connections()          # every live connection is cut now (FIN, or RST with reset=True)
    relay.cut_after(2 << 20)          # each new connection is cut once 2 MiB went client -> server
    relay.freeze(); relay.thaw()      # stop / resume forwarding, sockets left open (a pulled cable)
    relay.stop()

Unlike adb_farm.Relay (which rewrites adbd's CNXN banner and dials into a network namespace), this
relay forwards bytes unchanged to a fixed address, or to whatever socket `connect()` returns.
Data through it costs a Python copy; benchmarks connect to the server's own port instead.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Callable


class TcpRelay:
    """127.0.0.1:<port> -> target, two pump threads per connection."""

    def __init__(self, target: tuple[str, int] | Callable[[], socket.socket], port: int = 0) -> None:
        self._target = target
        self._wanted_port = port
        self.port = 0
        self.connections_seen = 0
        self.bytes_up = 0  # client -> server, all connections
        self.bytes_down = 0
        self._listener: socket.socket | None = None
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._flowing = threading.Event()
        self._flowing.set()
        self._cut_after: int | None = None
        self._cut_reset = False

    def __enter__(self) -> TcpRelay:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> TcpRelay:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self._wanted_port))
        listener.listen(64)
        self._listener = listener
        self.port = listener.getsockname()[1]
        threading.Thread(target=self._accept_loop, name=f"tcp-relay-{self.port}", daemon=True).start()
        return self

    def stop(self) -> None:
        self._closed.set()
        self._flowing.set()
        if self._listener is not None:
            try:
                self._listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._listener.close()
            self._listener = None
        self.drop_connections()

    # -- faults -------------------------------------------------------------------------------------
    @property
    def live_connections(self) -> int:
        with self._lock:
            return len(self._pairs)

    def drop_connections(self, reset: bool = False) -> int:
        """Cut every live connection (both sides); reset=True sends RST instead of FIN. Returns how many."""
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            self._close_pair(pair, reset)
        return len(pairs)

    def cut_after(self, nbytes: int | None, reset: bool = False) -> None:
        """Cut each connection once it has carried `nbytes` from client to server (None: never)."""
        self._cut_after = nbytes
        self._cut_reset = reset

    def freeze(self) -> None:
        """Stop forwarding in both directions; connections stay open and silent (a pulled cable)."""
        self._flowing.clear()

    def thaw(self) -> None:
        self._flowing.set()

    # -- internals ----------------------------------------------------------------------------------
    @staticmethod
    def _close_pair(pair: tuple[socket.socket, socket.socket], reset: bool) -> None:
        for sock in pair:
            try:
                if reset:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                else:
                    sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            if reset:
                sock.close()

    def _dial(self) -> socket.socket:
        if callable(self._target):
            return self._target()
        return socket.create_connection(self._target, timeout=5)

    def _accept_loop(self) -> None:
        listener = self._listener
        assert listener is not None
        while not self._closed.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), name=f"tcp-relay-{self.port}-conn",
                             daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = self._dial()
        except OSError:
            client.close()  # the server is down: the client sees the connection closed at once
            return
        upstream.settimeout(None)
        pair = (client, upstream)
        with self._lock:
            if self._closed.is_set():
                client.close()
                upstream.close()
                return
            self._pairs.append(pair)
            self.connections_seen += 1
        for sock in pair:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        t = threading.Thread(target=self._pump, args=(client, upstream, pair, True), daemon=True)
        t.start()
        self._pump(upstream, client, pair, False)
        t.join()
        for sock in pair:
            sock.close()

    def _pump(self, src: socket.socket, dst: socket.socket, pair: tuple[socket.socket, socket.socket],
              up: bool) -> None:
        carried = 0
        try:
            while True:
                data = src.recv(262144)
                if not data:
                    break
                self._flowing.wait()
                if self._closed.is_set():
                    break
                dst.sendall(data)
                carried += len(data)
                with self._lock:
                    if up:
                        self.bytes_up += len(data)
                    else:
                        self.bytes_down += len(data)
                limit = self._cut_after
                if up and limit is not None and carried >= limit:
                    with self._lock:
                        live = pair in self._pairs
                        if live:
                            self._pairs.remove(pair)
                    if live:
                        self._close_pair(pair, self._cut_reset)
                    break
        except OSError:
            pass
        finally:
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            with self._lock:
                if pair in self._pairs and up is False:
                    self._pairs.remove(pair)
