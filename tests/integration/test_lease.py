"""Device leases against real peers: the host (LocalTransport, dash), an emulated Android device
(real adbd behind Debian's adb server), a real sshd board, and a busybox-only sshd board. Other
controllers are threads with their own connections, or separate Python processes (killed with
SIGKILL, frozen with SIGSTOP). No mocks: every lease operation runs device_scripts/lease.sh."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from harness.errors import DeviceBusy, TransportError
from harness.farm.lease import DeviceLease, LeaseInfo, _call, read_lease
from harness.transport.base import Transport

REPO = Path(__file__).resolve().parents[2]
KINDS = ["local", "adb", "ssh", "ssh-busybox"]


# -- devices and other controllers ----------------------------------------------------------
def open_transport(spec: dict[str, Any]) -> Transport:
    """A new, opened transport to the device ``spec`` describes (also used by child processes)."""
    kind = spec["kind"]
    t: Any
    if kind == "local":
        from harness.transport.local import LocalTransport

        t = LocalTransport("local", workdir=spec["workdir"])
    elif kind == "adb":
        from harness.transport.adb import AdbTransport

        t = AdbTransport("emu", spec["serial"], spec["server"], workdir=spec["workdir"])
    else:
        from harness.transport.ssh import SshTransport

        t = SshTransport("board", spec["host"], port=spec["port"], user=spec["user"], key=spec["key"],
                         known_hosts=spec["known_hosts"], workdir=spec["workdir"])
    t.open()
    return t


def child_main(argv: list[str]) -> None:
    """Another controller, in its own process. ``hold TTL``: take the lease, print it, keep it
    until it is lost (then release, which must leave the new holder alone). ``loop N TAG LOG``:
    N times take the lease (waiting), log start/end on the device, free it."""
    spec, mode, args = json.loads(argv[0]), argv[1], argv[2:]
    t = open_transport(spec)
    if mode == "hold":
        lease = DeviceLease(t, ttl_s=float(args[0]), holder=args[1])
        lease.acquire(wait=False)
        print(json.dumps({"epoch": lease.epoch, "expires_at": lease.expires_at}), flush=True)
        deadline = time.monotonic() + 60
        while not lease.lost and time.monotonic() < deadline:
            time.sleep(0.05)
        lease.release()
        print(json.dumps({"lost": lease.lost, "lost_to": lease.lost_to.holder if lease.lost_to else None}),
              flush=True)
    elif mode == "confirm-after-stall":
        lease = DeviceLease(t, ttl_s=float(args[0]), holder=args[1])
        lease.acquire(wait=False)
        print(json.dumps({"epoch": lease.epoch}), flush=True)
        last = time.monotonic()
        while time.monotonic() - last < lease.ttl_s:  # until it stalls for longer than its lease lasts
            last = time.monotonic()
            time.sleep(0.05)
        print(json.dumps({"confirmed": lease.confirm(trust_renewal=True)}), flush=True)
        lease.release()
    elif mode == "loop":
        exclusive_loop(t, int(args[0]), args[1], args[2])
    t.close()


def exclusive_loop(t: Transport, times: int, tag: str, log: str) -> None:
    for _ in range(times):
        lease = DeviceLease(t, ttl_s=10, poll_s=0.02, holder=f"ctl-{tag}")
        lease.acquire(wait=True, timeout_s=120)
        for word in ("start", "end"):
            t.run(["sh", "-c", 'echo "$1 $2 $(date +%s)" >> "$3"', "sh", word, tag, log], timeout_s=30)
        lease.release()


def start_child(spec: dict[str, Any], *args: str) -> subprocess.Popen[str]:
    code = "import sys; from tests.integration.test_lease import child_main; child_main(sys.argv[1:])"
    return subprocess.Popen([sys.executable, "-c", code, json.dumps(spec), *args], cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def child_line(proc: subprocess.Popen[str], timeout_s: float = 30) -> dict[str, Any]:
    box: list[str] = []
    reader = threading.Thread(target=lambda: box.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout_s)
    if not box or not box[0]:
        proc.kill()
        raise AssertionError(f"the other controller said nothing: {proc.stderr.read()}")  # type: ignore[union-attr]
    return json.loads(box[0])


class Device:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.kind = spec["kind"]
        self.opened: list[Transport] = []

    def open(self) -> Transport:
        t = open_transport(self.spec)
        self.opened.append(t)
        return t

    @property
    def log(self) -> str:
        return self.spec["workdir"] + "/exclusive.log"

    def close_all(self) -> None:
        for t in self.opened:
            t.close()


@pytest.fixture(params=KINDS)
def device(request, tmp_path):
    """One device of each kind, with a fresh harness folder on it (so tests do not share leases)."""
    name = f"lease-test-{uuid.uuid4().hex[:8]}"
    if request.param == "local":
        spec = {"kind": "local", "workdir": str(tmp_path / "device")}
    elif request.param == "adb":
        farm = request.getfixturevalue("adb_farm")
        spec = {"kind": "adb", "serial": farm.serials[0], "server": f"127.0.0.1:{farm.server_port}",
                "workdir": f"/data/local/tmp/{name}"}
    else:
        board = request.getfixturevalue("sshd" if request.param == "ssh" else "sshd_no_python")
        spec = {"kind": "ssh", "host": board.host, "port": board.port, "user": board.user,
                "key": str(board.key_path), "known_hosts": str(board.known_hosts_path),
                "workdir": f"{board.home}/{name}"}
    dev = Device(spec)
    yield dev
    try:
        t = dev.open()
        t.run(["rm", "-rf", spec["workdir"]], timeout_s=30)
    finally:
        dev.close_all()


def assert_exclusive(t: Transport, log: str, times: int, tags: set[str]) -> None:
    """The device's log: every start is followed by the end of the same controller, and the
    device-clock intervals [start, end] of consecutive holders never overlap."""
    lines = [line.split() for line in t.run(["cat", log], timeout_s=30).text().splitlines()]
    assert len(lines) == 2 * times * len(tags)
    previous_end = 0
    for (w1, tag1, s1), (w2, tag2, s2) in zip(lines[::2], lines[1::2], strict=True):
        assert (w1, w2) == ("start", "end") and tag1 == tag2, lines
        assert previous_end <= int(s1) <= int(s2)
        previous_end = int(s2)
    assert {tag for _, tag, _ in lines} == tags


def at_once(*fns: Any) -> tuple[Any, ...]:
    """Run the callables on threads released together; their results in order."""
    gate = threading.Barrier(len(fns))
    results: list[Any] = [None] * len(fns)

    def run(k: int) -> None:
        gate.wait()
        results[k] = fns[k]()

    threads = [threading.Thread(target=run, args=(k,)) for k in range(len(fns))]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    return tuple(results)


def op_state(t: Transport, op: str, **kw: Any) -> str:
    return _call(t, op, **kw).state


def take_or_busy(lease: DeviceLease) -> Any:
    def take() -> str | None:
        try:
            lease.acquire(wait=False)
            return "won"
        except DeviceBusy as exc:
            return exc.holder

    return take


# -- tests ----------------------------------------------------------------------------------
def test_acquire_release_and_a_busy_device_raises_with_holder_and_seconds_left(device):
    t = device.open()
    assert read_lease(t) is None
    a = DeviceLease(t, ttl_s=30, holder="ctl-a")
    a.acquire(wait=False)
    info = read_lease(t)
    assert info is not None and (info.holder, info.epoch) == ("ctl-a", a.epoch)
    # the lease was written for TTL + 1 device seconds; read back a moment later (longer on a loaded
    # machine), the time left is at most that and not much less
    assert info.expires_at - info.device_now == info.seconds_left
    assert 25 <= info.seconds_left <= 31
    b = DeviceLease(device.open(), ttl_s=30, holder="ctl-b")
    with pytest.raises(DeviceBusy) as err:
        b.acquire(wait=False)
    assert err.value.holder == "ctl-a" and 25 <= err.value.seconds_left <= 31
    assert "held by ctl-a" in str(err.value)
    a.release()
    assert read_lease(t) is None and not a.lost
    b.acquire(wait=False)
    assert read_lease(t).holder == "ctl-b"  # type: ignore[union-attr]
    b.release()


def test_waiting_with_a_timeout_reports_the_holder_and_gives_up_in_time(device):
    a = DeviceLease(device.open(), ttl_s=30, holder="ctl-a")
    a.acquire()
    b = DeviceLease(device.open(), ttl_s=30, holder="ctl-b", poll_s=0.2)
    seen: list[LeaseInfo | None] = []
    t0 = time.monotonic()
    with pytest.raises(DeviceBusy) as err:
        b.acquire(wait=True, timeout_s=1.5, on_wait=seen.append)
    waited = time.monotonic() - t0
    assert 1.5 <= waited < 15 and err.value.waited_s >= 1.5 and err.value.holder == "ctl-a"
    assert len(seen) >= 3 and all(info is not None and info.holder == "ctl-a" for info in seen)
    # a waiter gets the device as soon as the holder lets go
    threading.Timer(1.0, a.release).start()
    t0 = time.monotonic()
    b.acquire(wait=True, timeout_s=20)
    assert 0.9 < time.monotonic() - t0 < 15 and read_lease(device.open()).holder == "ctl-b"  # type: ignore[union-attr]
    b.release()


def test_four_controllers_on_threads_never_overlap(device):
    tags = {f"t{i}" for i in range(4)}
    threads = [threading.Thread(target=exclusive_loop, args=(device.open(), 10, tag, device.log)) for tag in tags]
    for th in threads:
        th.start()
    for th in threads:
        th.join(180)
    assert_exclusive(device.open(), device.log, 10, tags)


@pytest.mark.parametrize("device", ["local", "adb"], indirect=True)
def test_controllers_in_separate_processes_never_overlap(device):
    tags = {f"p{i}" for i in range(3)}
    procs = [start_child(device.spec, "loop", "10", tag, device.log) for tag in tags]
    for proc in procs:
        _, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
    assert_exclusive(device.open(), device.log, 10, tags)


def test_racing_takers_of_an_expired_lease_one_wins_and_nothing_fresh_is_removed(device):
    t = device.open()
    contenders = [DeviceLease(device.open(), ttl_s=30, holder=f"ctl-{i}") for i in range(5)]
    for _ in range(6):
        _call(t, "acquire", token="ghost", holder="ghost", ttl=0)  # a lease that is already expired
        outcome = dict(zip([c.holder for c in contenders], at_once(*[take_or_busy(c) for c in contenders]),
                           strict=True))
        winners = [h for h, o in outcome.items() if o == "won"]
        assert len(winners) == 1, outcome
        assert all(o in ("won", winners[0], None) for o in outcome.values()), outcome
        assert read_lease(t).holder == winners[0]  # type: ignore[union-attr]
        for lease in contenders:
            if lease.epoch is not None:
                assert lease.confirm()
                lease.release()


def test_a_renewal_racing_a_takeover_never_leaves_two_holders(device):
    """The holder's lease has just expired; it renews while another controller takes over, at
    the same instant, many times. Allowed: renewed + busy, lost + acquired, lost + busy (both
    back off). Never renewed + acquired."""
    t, other = device.open(), device.open()
    rounds = 30 if device.kind == "local" else 12
    seen = set()
    for i in range(rounds):
        token = f"holder{i}"
        mine = _call(t, "acquire", token=token, holder="stalled", ttl=0)  # ours, and expired
        pair = at_once(
            partial(op_state, t, "renew", epoch=mine.epoch, token=token, holder="stalled", ttl=30),
            partial(op_state, other, "acquire", token=f"taker{i}", holder="taker", ttl=30),
        )
        seen.add(pair)
        assert pair in {("renewed", "busy"), ("lost", "acquired"), ("lost", "busy")}, pair
        current = read_lease(t)
        if pair[1] == "acquired":
            assert current is not None and current.holder == "taker" and current.token == f"taker{i}"
            _call(t, "release", epoch=current.epoch, token=current.token, holder="taker")
        elif pair[0] == "renewed":
            assert current is not None and current.token == token
            _call(t, "release", epoch=mine.epoch, token=token, holder="stalled")
        else:
            assert current is None  # both backed off; the loser freed what it had written
    assert seen  # which interleavings happened depends on timing; all of them are safe


def test_a_killed_holder_stops_renewing_and_the_survivor_takes_over_only_after_expiry(device):
    holder = start_child(device.spec, "hold", "3", "doomed")
    held = child_line(holder)
    t = device.open()
    time.sleep(0.5)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    last = read_lease(t)
    assert last is not None and last.holder == "doomed" and last.epoch == held["epoch"]
    survivor = DeviceLease(device.open(), ttl_s=3, poll_s=0.1, holder="survivor")
    with pytest.raises(DeviceBusy) as err:
        survivor.acquire(wait=False)  # not before it expires
    assert err.value.holder == "doomed"
    t0 = time.monotonic()
    survivor.acquire(wait=True, timeout_s=15)
    waited = time.monotonic() - t0
    now = read_lease(t)
    assert now is not None and now.holder == "survivor"
    taken_at = now.expires_at - survivor._device_ttl  # the device second of the takeover
    assert taken_at >= last.expires_at  # by the device's clock, never before the dead lease expired
    assert waited <= last.seconds_left + 10  # bounded: it did not wait much past the expiry
    survivor.release()


def test_a_stalled_holder_finds_its_lease_lost_and_its_release_leaves_the_new_holder_alone(device):
    holder = start_child(device.spec, "hold", "3", "stalled")
    child_line(holder)
    os.kill(holder.pid, signal.SIGSTOP)  # stalls: no renewals, like a frozen controller
    try:
        taker = DeviceLease(device.open(), ttl_s=30, poll_s=0.1, holder="taker")
        taker.acquire(wait=True, timeout_s=15)
    finally:
        os.kill(holder.pid, signal.SIGCONT)
    said = child_line(holder, timeout_s=20)  # its next renewal finds the lease gone; it releases
    holder.wait(10)
    assert said == {"lost": True, "lost_to": "taker"}
    assert taker.confirm() and not taker.lost
    assert read_lease(device.open()).holder == "taker"  # type: ignore[union-attr]
    taker.release()


def test_a_run_is_confirmed_by_a_recent_renewal_without_asking_the_device(device):
    lease = DeviceLease(device.open(), ttl_s=30, holder="trusting")
    lease.acquire(wait=False)
    try:
        asked = lease.renewals
        assert lease.confirm(trust_renewal=True) and lease.renewals == asked  # no round trip
        assert lease.confirm() and lease.renewals == asked + 1  # asked: renewed on the device
    finally:
        lease.release()


def test_after_the_host_slept_a_run_is_confirmed_on_the_device(device, monkeypatch):
    """A suspended host's monotonic clock stands still while the device's lease runs out; the wall
    clock sees the sleep, so the lease is asked for again rather than trusted."""
    from harness.farm import lease as lease_module

    lease = DeviceLease(device.open(), ttl_s=30, holder="sleeper")
    lease.acquire(wait=False)
    try:
        real = lease_module._now
        monkeypatch.setattr(lease_module, "_now", lambda: (real()[0], real()[1] + 3600))  # an hour asleep
        asked = lease.renewals
        assert lease.confirm(trust_renewal=True) and lease.renewals == asked + 1
    finally:
        monkeypatch.undo()
        lease.release()


def test_a_controller_that_stalled_past_its_lease_never_confirms_the_run_in_flight(device):
    holder = start_child(device.spec, "confirm-after-stall", "3", "stalled")
    child_line(holder)
    os.kill(holder.pid, signal.SIGSTOP)  # frozen mid-run, like a controller swapped out or stopped
    try:
        taker = DeviceLease(device.open(), ttl_s=30, poll_s=0.1, holder="taker")
        taker.acquire(wait=True, timeout_s=15)
    finally:
        os.kill(holder.pid, signal.SIGCONT)
    assert child_line(holder, timeout_s=20) == {"confirmed": False}
    holder.wait(10)
    assert read_lease(device.open()).holder == "taker"  # type: ignore[union-attr]
    taker.release()


def test_renewals_run_beside_a_long_command_on_the_same_transport(device):
    t = device.open()
    with DeviceLease(t, ttl_s=1.5, holder="busy-bee") as lease:
        script = 'i=0; while [ "$i" -lt 10 ]; do echo "line $i"; i=$((i + 1)); sleep 0.25; done; exit 5'
        r = t.run(["sh", "-c", script], timeout_s=30)
        assert r.exit_code == 5 and r.stdout == b"".join(f"line {i}\n".encode() for i in range(10))
        assert lease.renewals >= 3 and lease.renew_errors == 0 and lease.held and not lease.lost
        assert lease.confirm()
    assert read_lease(t) is None


def test_a_transient_device_failure_is_not_a_loss(tmp_path):
    t = open_transport({"kind": "local", "workdir": str(tmp_path)})  # a folder we can break for a moment
    lease = DeviceLease(t, ttl_s=3, holder="patient")
    lease.acquire()
    lease_dir = tmp_path / "lease"
    hidden = lease_dir.with_name("lease-away")
    lease_dir.rename(hidden)
    lease_dir.write_text("not a folder")  # mkdir -p fails: the script cannot run
    time.sleep(1.5)
    errors = lease.renew_errors
    lease_dir.unlink()
    hidden.rename(lease_dir)
    time.sleep(1.5)
    assert errors >= 1 and not lease.lost and lease.confirm()
    lease.release()
    with pytest.raises(TransportError):  # a script failure is a transport error, not a reply
        _call(t, "no-such-operation")


def test_a_lease_survives_a_reconnect_by_rebinding_to_the_new_connection(device):
    first = device.open()
    lease = DeviceLease(first, ttl_s=30, holder="reconnecting")
    lease.acquire(wait=False)
    first.close()  # the link dropped; the scheduler opens a new one
    if device.kind != "local":  # a closed local transport still runs commands
        with pytest.raises(TransportError):
            lease.confirm()
    second = device.open()
    lease.rebind(second)
    with lease:  # already held: entering does not take it again
        assert lease.confirm() and read_lease(second).token == lease.token  # type: ignore[union-attr]
    assert read_lease(second) is None
