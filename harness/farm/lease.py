"""A lease on a device, held ON the device, so two controllers on different hosts never
benchmark on one device at once.

The state lives in ``<workdir>/lease/`` on the device and is changed only by
``device_scripts/lease.sh``, one command per operation: one symlink per lease epoch, named by a
number, whose target is ``"<holder> <expires_at> <token>"``. The highest number is the current
lease. Taking a lease creates the next number with ``ln -s`` (atomic, fails if the name exists);
only the creator of an epoch rewrites it (temp link + ``mv -f``, atomic). Expiry is in the
device's own clock (``date +%s``), so hosts with skewed clocks agree. The script's header
explains why the races (two takers, a taker against a renewing holder) are safe.

``DeviceLease(transport)`` does no I/O; ``acquire()`` takes the lease (waiting or raising
``DeviceBusy``) and starts a background thread that renews it every TTL/3; ``release()`` stops
it and frees the lease if it is still ours. If a renewal finds the lease taken by someone else
(we stalled past its expiry), ``lost`` becomes True: the run in flight was not exclusive.
``confirm()`` asks the device now; ``confirm(trust_renewal=True)`` (after every run) answers
without a round trip while the last renewal proves the lease cannot have expired since.
"""

from __future__ import annotations

import math
import os
import posixpath
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from harness.errors import ConfigError, DeviceBusy, HarnessError, ParseError, TransportError
from harness.resources import device_script
from harness.transport.base import Transport

LEASE_DIR = "lease"
HOLDER_RE = re.compile(r"[A-Za-z0-9._:@+=-]{1,200}")
EXIT_BUSY, EXIT_LOST = 3, 4


@dataclass(frozen=True)
class LeaseInfo:
    """A live lease as the device sees it. Times are the device's ``date +%s``."""

    holder: str
    expires_at: int  # the first device second at which the lease is free
    device_now: int
    epoch: int
    token: str

    @property
    def seconds_left(self) -> int:
        return max(0, self.expires_at - self.device_now)

    @property
    def live(self) -> bool:
        return self.device_now < self.expires_at


@runtime_checkable
class Lease(Protocol):
    """What a device session needs of a lease (``DeviceLease`` is the one harness uses; a test or
    another locking scheme can bring its own)."""

    lost: bool  # a renewal found the lease taken: the run in flight was not exclusive
    lost_to: LeaseInfo | None

    def acquire(self, *, wait: bool = True, timeout_s: float | None = None,
                on_wait: Callable[[LeaseInfo | None], Any] | None = None) -> None:
        """Take it; raise DeviceBusy when it is held and not waited for."""

    def confirm(self, *, trust_renewal: bool = False) -> bool:
        """Still ours? (False once lost.) ``trust_renewal``: a recent renewal may answer."""

    def rebind(self, transport: Transport) -> None:
        """Go on over a new connection to the same device."""

    def release(self) -> None:
        """Free it if it is still ours."""


@dataclass(frozen=True)
class Reply:
    """What one run of lease.sh said."""

    state: str  # read / acquired / busy / renewed / released / lost
    device_now: int
    epoch: int
    lease: LeaseInfo | None  # the current epoch's lease, live or not; None when there is none


def parse_target(target: str, epoch: int, device_now: int) -> LeaseInfo | None:
    """``"<holder> <expires_at> <token>"`` (a lease epoch's symlink target) -> LeaseInfo."""
    if not target.strip():
        return None
    parts = target.split()
    if len(parts) != 3 or not parts[1].isdigit():
        raise ParseError("lease", target)
    return LeaseInfo(holder=parts[0], expires_at=int(parts[1]), device_now=device_now, epoch=epoch, token=parts[2])


def parse_reply(text: str) -> Reply:
    """lease.sh's ``key=value`` lines -> Reply (pure; raises ParseError on a missing field)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key in ("now", "epoch", "lease", "state"):
            fields[key] = value.strip()
    for key in ("now", "epoch", "state"):
        if key not in fields:
            raise ParseError(key, text)
    try:
        now, epoch = int(fields["now"]), int(fields["epoch"])
    except ValueError:
        raise ParseError("now/epoch", text) from None
    lease = parse_target(fields.get("lease", ""), epoch, now)
    return Reply(state=fields["state"], device_now=now, epoch=epoch, lease=lease)


def script_text() -> str:
    """lease.sh without comment lines and indentation: small enough for any adb command line."""
    lines = (line.strip() for line in device_script("lease.sh").read_text().splitlines())
    return "\n".join(line for line in lines if line and not line.startswith("#")) + "\n"


def default_holder() -> str:
    host = re.sub(r"[^A-Za-z0-9._-]", "_", socket.gethostname())[:100] or "host"
    return f"{host}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _now() -> tuple[float, float]:
    """The host's monotonic and wall clocks, read together."""
    return time.monotonic(), time.time()


def _lease_dir(transport: Transport) -> str:
    return posixpath.join(transport.workdir(), LEASE_DIR)


def _call(transport: Transport, op: str, *, epoch: int = 0, token: str = "-", holder: str = "-",
          ttl: int = 0, timeout_s: float = 30.0) -> Reply:
    argv = ["sh", "-c", script_text(), "lease", op, _lease_dir(transport), str(epoch), token, holder, str(ttl)]
    result = transport.run(argv, timeout_s=timeout_s)
    if result.exit_code not in (0, EXIT_BUSY, EXIT_LOST):
        raise TransportError(f"{transport.name}: the lease {op} failed on the device (exit {result.exit_code}): "
                             f"{result.text('stderr').strip()[:300]}")
    try:
        return parse_reply(result.text())
    except ParseError as exc:
        raise TransportError(f"{transport.name}: the lease {op} gave no answer: {exc}") from exc


def read_lease(transport: Transport) -> LeaseInfo | None:
    """Who holds the device now, or None when nobody holds a live lease (none, released, expired)."""
    reply = _call(transport, "read")
    return reply.lease if reply.lease is not None and reply.lease.live else None


class DeviceLease:
    """A lease on one device. Constructing it does no I/O.

    ``with DeviceLease(t):`` waits for the device, holds it (renewed every TTL/3 in a background
    thread on the same transport) and frees it. ``lost`` turns True if a renewal finds the lease
    taken over (we stalled longer than the TTL); ``confirm()`` renews now and says whether the
    lease is still ours, so a caller can check a run was exclusive from start to end.
    """

    def __init__(self, transport: Transport, *, holder: str | None = None, ttl_s: float = 60.0,
                 poll_s: float = 1.0) -> None:
        holder = holder or default_holder()
        if not HOLDER_RE.fullmatch(holder):
            raise ConfigError(f"lease holder {holder!r}: use 1-200 of A-Z a-z 0-9 . _ : @ + = -")
        if not ttl_s >= 1:
            raise ConfigError(f"lease TTL must be at least 1 s (device clocks count whole seconds), not {ttl_s}")
        if not poll_s > 0:
            raise ConfigError(f"lease poll interval must be positive, not {poll_s}")
        self.transport = transport
        self.holder = holder
        self.ttl_s = float(ttl_s)
        self.poll_s = float(poll_s)
        self.token = uuid.uuid4().hex[:16]
        self.epoch: int | None = None
        self.expires_at: int | None = None  # device clock, as of the last renewal
        self.lost = False
        self.lost_at: float | None = None  # host time.time() when the loss was seen
        self.lost_to: LeaseInfo | None = None  # the lease found in its place
        self.renewals = 0
        self.renew_errors = 0
        self.last_error: Exception | None = None
        self._device_ttl = math.ceil(self.ttl_s) + 1  # held for more than ttl_s after each write
        self._safe_until: tuple[float, float] | None = None  # (monotonic, wall) host times it surely lasts until
        self._op = threading.Lock()  # one device operation of this lease at a time
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- state ---------------------------------------------------------------------------
    @property
    def renew_every_s(self) -> float:
        return self.ttl_s / 3

    @property
    def held(self) -> bool:
        """Acquired, not lost, and renewed recently enough that it cannot have expired on the device
        (so nobody else can have taken it), by both host clocks: the monotonic clock stands still
        while the host is suspended, the wall clock does not."""
        if self.epoch is None or self.lost or self._safe_until is None:
            return False
        (mono, wall), (mono_now, wall_now) = self._safe_until, _now()
        return mono_now < mono and wall_now < wall

    def __repr__(self) -> str:
        state = "lost" if self.lost else ("held" if self.epoch is not None else "free")
        return f"<DeviceLease {self.transport.name} {self.holder} {state}>"

    # -- acquire / release ---------------------------------------------------------------
    def acquire(self, *, wait: bool = True, timeout_s: float | None = None,
                on_wait: Callable[[LeaseInfo | None], Any] | None = None) -> None:
        """Take the lease. Busy device: without ``wait``, raise DeviceBusy at once; with it, poll
        every ``poll_s`` (calling ``on_wait(info)`` each time) until free or ``timeout_s`` passed,
        then raise DeviceBusy. Transport failures raise TransportError."""
        if self.epoch is not None:
            raise RuntimeError(f"{self!r} is already acquired")
        start = time.monotonic()
        while True:
            sent = _now()
            with self._op:
                reply = _call(self.transport, "acquire", token=self.token, holder=self.holder,
                              ttl=self._device_ttl, timeout_s=self._command_timeout_s)
            if reply.state == "acquired":
                self.epoch = reply.epoch
                self.expires_at = reply.lease.expires_at if reply.lease else None
                self.lost, self.lost_at, self.lost_to = False, None, None
                self._safe_until = self._safe_after(sent)
                self._start_renewing()
                return
            info = reply.lease if reply.lease is not None and reply.lease.live else None
            waited = time.monotonic() - start
            if not wait:
                raise DeviceBusy(self.transport.name, info)
            if timeout_s is not None and waited >= timeout_s:
                raise DeviceBusy(self.transport.name, info, waited)
            if on_wait is not None:
                on_wait(info)
            pause = self.poll_s
            if timeout_s is not None:
                pause = min(pause, max(0.0, timeout_s - waited))
            time.sleep(pause)

    def release(self) -> None:
        """Stop renewing and free the lease if it is still ours (a lease taken over by someone
        else is left alone). Raises TransportError if the device cannot be told; the lease then
        expires by itself within the TTL."""
        self._stop_renewing()
        if self.epoch is None:
            return
        try:
            if not self.lost:
                with self._op:
                    reply = _call(self.transport, "release", epoch=self.epoch, token=self.token,
                                  holder=self.holder, timeout_s=self._command_timeout_s)
                if reply.state == "lost":
                    self._mark_lost(reply)
        finally:
            self.epoch = None
            self._safe_until = None

    def confirm(self, *, trust_renewal: bool = False) -> bool:
        """Renew now; True if the lease is still ours (so nobody else took the device since we
        acquired it), False if it was lost. Raises TransportError if the device cannot answer.

        ``trust_renewal``: while the lease is ``held`` (its last renewal proves it cannot have
        expired on the device, so no other controller can have taken it), answer True without a
        device round trip; the background renewals keep checking the device every TTL/3. What
        only asking the device would catch: a device clock that jumps forward by more than the
        lease's remaining time (the whole TTL right after a renewal)."""
        if self.epoch is None:
            return False
        if trust_renewal and self.held:
            return True
        if not self.lost:
            self._renew_once()
        return not self.lost

    def rebind(self, transport: Transport) -> None:
        """Renew (and release) through ``transport`` from now on: after a reconnect, keep the
        lease instead of waiting out our own old one. Call ``confirm()`` next to know it held."""
        with self._op:
            self.transport = transport

    def __enter__(self) -> DeviceLease:
        if self.epoch is None:  # ``acquire(wait=False)`` first, then ``with lease:``, is fine
            self.acquire(wait=True)
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            self.release()
        except TransportError:
            if exc_type is None:
                raise  # otherwise the body's error matters more; the lease expires by itself

    # -- renewal ---------------------------------------------------------------------------
    @property
    def _command_timeout_s(self) -> float:
        return max(5.0, self.ttl_s / 2)

    def _safe_after(self, sent: tuple[float, float]) -> tuple[float, float]:
        """Host times (monotonic, wall) until which a write of the lease sent at ``sent`` surely
        lasts: the device counted from a whole second at or after ``sent``."""
        margin = self._device_ttl - 1
        return sent[0] + margin, sent[1] + margin

    def _renew_once(self) -> None:
        sent = _now()
        with self._op:
            if self.epoch is None or self.lost:
                return
            reply = _call(self.transport, "renew", epoch=self.epoch, token=self.token, holder=self.holder,
                          ttl=self._device_ttl, timeout_s=self._command_timeout_s)
            if reply.state == "renewed":
                self.renewals += 1
                self.expires_at = reply.lease.expires_at if reply.lease else None
                self._safe_until = self._safe_after(sent)
            else:
                self._mark_lost(reply)

    def _mark_lost(self, reply: Reply) -> None:
        self.lost = True
        self.lost_at = time.time()
        self.lost_to = reply.lease
        self._safe_until = None
        self._stop.set()

    def _start_renewing(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew_loop, args=(self._stop,), daemon=True,
                                        name=f"lease-renew-{self.transport.name}")
        self._thread.start()

    def _stop_renewing(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def _renew_loop(self, stop: threading.Event) -> None:
        pause = self.renew_every_s
        while not stop.wait(pause):
            try:
                self._renew_once()
            except HarnessError as exc:  # a transient transport failure is not a loss: try again soon
                self.renew_errors += 1
                self.last_error = exc
                pause = min(self.renew_every_s, max(0.2, self.ttl_s / 10))
                continue
            pause = self.renew_every_s
            if self.lost:
                return
