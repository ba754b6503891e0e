"""harness over SSH against a real OpenSSH sshd (tests/emulated/sshd.py) — no mocks of paramiko."""

from __future__ import annotations

import os
import threading
import time

import pytest

from harness import load_results
from harness.errors import DeadlineExceeded, TransportError
from harness.transport.base import push_cached
from harness.transport.ssh import SshTransport
from tests.emulated.adb_device import check_host
from tests.emulated.sshd import SshServer

FAST = ["--min-runs", "5", "--min-seconds", "0.05", "--repeats", "1"]


def _skip() -> None:
    reason = check_host()
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="module")
def board():
    _skip()
    with SshServer() as server:
        yield server


@pytest.fixture
def fresh_board():
    _skip()
    with SshServer() as server:
        yield server


def _t(board, port=None, **kw) -> SshTransport:
    kw.setdefault("known_hosts", str(board.known_hosts_path))
    return SshTransport("board", board.host, port=port or board.port, user=board.user, key=str(board.key_path), **kw)


def test_commands_exit_codes_quoting_and_big_outputs(board):
    with _t(board) as t:
        r = t.run(["sh", "-c", "echo out; echo err >&2; exit 7"], timeout_s=20)
        assert (r.exit_code, r.stdout, r.stderr) == (7, b"out\n", b"err\n")
        r = t.run(["echo", "a; rm -rf ~", "$(id)", "it's"], timeout_s=20)
        assert r.stdout == b"a; rm -rf ~ $(id) it's\n"
        # 10 MiB on stdout and on stderr at once cannot deadlock
        r = t.run(["sh", "-c", "head -c 10485760 /dev/zero & head -c 10485760 /dev/zero >&2; wait"], timeout_s=60)
        assert (len(r.stdout), len(r.stderr), r.exit_code) == (10 << 20, 10 << 20, 0)
        assert t.workdir() == f"{board.home}/.cache/harness"


def test_a_hanging_command_is_cut_at_its_deadline_and_killed_on_the_board(board):
    with _t(board) as t:
        t0 = time.monotonic()
        with pytest.raises(DeadlineExceeded):
            t.run(["sleep", "1234"], timeout_s=1.0)
        assert time.monotonic() - t0 < 10  # cut at its deadline, not left to run 1234 s
        deadline = time.monotonic() + 15  # the board-side `timeout` backstop (deadline + 5 s)
        while t.run(["pgrep", "-x", "sleep"], timeout_s=10).ok and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not t.run(["pgrep", "-x", "sleep"], timeout_s=10).ok


def test_unknown_host_key_is_refused_with_fingerprint_and_command(board, tmp_path):
    t = _t(board, known_hosts=str(tmp_path / "known_hosts"))
    with pytest.raises(TransportError) as err:
        t.open()
    assert board.host_key_fingerprint in str(err.value) and "ssh-keyscan -p" in str(err.value)
    # accept-new records it on first contact, and the next strict connection trusts it
    with _t(board, known_hosts=str(tmp_path / "known_hosts"), host_key_policy="accept-new") as t2:
        assert t2.run(["true"], timeout_s=10).ok
    assert f"[127.0.0.1]:{board.port}" in (tmp_path / "known_hosts").read_text()
    with _t(board, known_hosts=str(tmp_path / "known_hosts")) as t3:
        assert t3.run(["true"], timeout_s=10).ok


def test_changed_host_key_is_refused_even_with_accept_new(fresh_board):
    old = fresh_board.host_key_fingerprint
    fresh_board.rekey()
    for policy in ("strict", "accept-new"):
        with pytest.raises(TransportError, match="CHANGED") as err:
            _t(fresh_board, host_key_policy=policy).open()
        assert old in str(err.value) and fresh_board.host_key_fingerprint in str(err.value)
        assert "ssh-keygen" in str(err.value)


def test_host_alias_from_ssh_config(board, tmp_path):
    cfg = tmp_path / "config"
    cfg.write_text(f"Host pi5\n  HostName {board.host}\n  Port {board.port}\n  User {board.user}\n"
                   f"  IdentityFile {board.key_path}\n  UserKnownHostsFile {board.known_hosts_path}\n")
    with SshTransport("pi5", "pi5", ssh_config=cfg) as t:
        assert t.run(["whoami"], timeout_s=10).text().strip() == board.user


def test_uploads_are_verified_and_content_addressed(board, tmp_path):
    blob = tmp_path / "model.tflite"
    blob.write_bytes(os.urandom(3 << 20))
    with _t(board) as t:
        remote, sent = push_cached(t, blob)
        assert sent == 3 << 20
        assert push_cached(t, blob) == (remote, 0)
        back = tmp_path / "back"
        t.pull(remote, back)
        assert back.read_bytes() == blob.read_bytes()


def test_connection_dropped_during_an_upload(fresh_board, tmp_path):
    relay = fresh_board.relay()
    blob = tmp_path / "big.bin"
    blob.write_bytes(os.urandom(128 << 20))
    t = _t(fresh_board, port=relay.port)
    t.open()
    cut = threading.Timer(0.3, relay.drop_connections)
    cut.start()
    t0 = time.monotonic()
    with pytest.raises(TransportError):
        push_cached(t, blob)
    cut.cancel()
    assert time.monotonic() - t0 < 60
    t.close()
    with _t(fresh_board) as t2:  # nothing that looks complete was left; the retry lands it whole
        listing = t2.run(["sh", "-c", "ls -R ~/.cache/harness/cache || true"], timeout_s=20).text()
        assert "big.bin" not in listing.split()  # only big.bin.partial may be there
        assert push_cached(t2, blob)[1] == 128 << 20


def test_board_gone_while_a_command_runs(fresh_board):
    with _t(fresh_board) as t:
        killer = threading.Timer(1.0, fresh_board.kill)
        killer.start()
        t0 = time.monotonic()
        with pytest.raises(TransportError):
            t.run(["sleep", "60"], timeout_s=120)
        assert time.monotonic() - t0 < 40


def test_provision_then_run_and_nothing_is_uploaded_twice(board, harness_cli, tmp_path):
    inv = tmp_path / "devices.toml"
    inv.write_text(board.devices_toml("board"))
    unprovisioned = harness_cli("run", "--inventory", str(inv), "--device", "board", "--example", "tiny_cnn",
                                "--no-profile", *FAST, "--results", "r0")
    assert unprovisioned.returncode == 2 and "harness devices provision board" in unprovisioned.stderr
    prov = harness_cli("devices", "provision", "board", "--offline", "--inventory", str(inv), timeout=900)
    assert prov.returncode == 0, prov.stdout + prov.stderr
    assert "ai-edge-litert 2.3.0" in prov.stderr and "pushed" in prov.stderr
    proc = harness_cli("run", "--inventory", str(inv), "--device", "board", "--example", "tiny_cnn", *FAST,
                       "--results", "r")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    res = load_results(tmp_path / "r")
    assert (res.runs["status"] == "ok").all() and set(res.runs["transport"]) == {"ssh"}
    assert res.runs["facts_json"].str.contains('"glibc"').all()
    # the same plan again through the API: 0 bytes uploaded
    from harness.config import RunOptions, load_inventory
    from harness.farm import DeviceSession, Job
    from harness.plan import build_plan
    from harness.prepare import resolve_models
    from harness.spec import RunSpec

    device = load_inventory(inv).get("board")
    name, files = resolve_models(model=None, example="tiny_cnn", variants=["fp32", "int8"])
    plan = tuple(build_plan(["board"], name, ["fp32", "int8"], [1], 1, profile=False))
    spec = RunSpec(options=RunOptions(min_runs=5, min_s=0.05, warmup_min_s=0.0))
    again = DeviceSession(device, Job("again", str(tmp_path / "r"), files, plan, spec)).run()
    assert not again.failed and again.bytes_pushed == 0


def test_board_without_python_is_told_what_to_install(harness_cli, tmp_path):
    _skip()
    with SshServer("no-python") as nopy:
        inv = tmp_path / "devices.toml"
        inv.write_text(nopy.devices_toml("bare"))
        proc = harness_cli("devices", "provision", "bare", "--offline", "--inventory", str(inv))
        assert proc.returncode == 2, proc.stderr
        assert "no python3" in proc.stderr and "apt install python3" in proc.stderr


@pytest.mark.slow
def test_arm64_board_provisioned_offline_runs_real_aarch64_kernels(harness_cli, tmp_path):
    _skip()
    with SshServer("arm64") as arm:
        inv = tmp_path / "devices.toml"
        inv.write_text("\n".join(ln for ln in arm.devices_toml("pi").splitlines() if not ln.startswith("python")))
        prov = harness_cli("devices", "provision", "pi", "--offline", "--inventory", str(inv), timeout=1800)
        assert prov.returncode == 0, prov.stdout + prov.stderr
        assert "aarch64" in prov.stderr
        proc = harness_cli("run", "--inventory", str(inv), "--device", "pi", "--example", "tiny_cnn",
                           "--variants", "fp32,int8", "--kernels", "builtin", "--profile-kernels", "builtin",
                           "--min-runs", "3", "--min-seconds", "0", "--repeats", "1", "--profile-runs", "3",
                           "--results", "r", timeout=1800)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        res = load_results(tmp_path / "r")
        assert (res.runs["status"] == "ok").all() and set(res.runs["abi"]) == {"aarch64"}
        assert "CONV_2D" in set(res.ops["op_type"])


def test_a_frozen_link_is_detected_within_a_bounded_time(fresh_board):
    """A pulled cable: the relay stops forwarding but keeps the sockets open, so TCP stays quiet."""
    relay = fresh_board.relay()
    with _t(fresh_board, port=relay.port, dead_after_s=3) as t:
        assert t.run(["true"], timeout_s=10).ok
        freezer = threading.Timer(0.5, relay.freeze)
        freezer.start()
        t0 = time.monotonic()
        with pytest.raises(TransportError, match="no answer"):
            t.run(["sleep", "100"], timeout_s=200)
        assert time.monotonic() - t0 < 15
    relay.thaw()


def test_benchmark_model_runner_on_a_board(board, harness_cli, tmp_path):
    """The same benchmark_model code path as on phones, on a Linux board (TEST DOUBLE of the tool)."""
    from tests.doubles.benchmark_model_double import write_double

    double = write_double(tmp_path / "benchmark_model")
    added = harness_cli("tools", "add", "benchmark_model", str(double), "--abi", "linux-x86_64", "--version", "double")
    assert added.returncode == 0, added.stderr
    inv = tmp_path / "devices.toml"
    inv.write_text(board.devices_toml("board") + 'runner = "benchmark_model"\n')
    proc = harness_cli("run", "--inventory", str(inv), "--device", "board", "--example", "tiny_cnn",
                       "--variants", "int8", *FAST, "--results", "r")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    res = load_results(tmp_path / "r")
    assert set(res.runs["runner"]) == {"benchmark_model"} and (res.runs["status"] == "ok").all()
    assert set(res.runs["runner_version"]) == {"test-double"}  # the double says so, whatever it was added as
    assert {"init", "invoke"} <= set(res.ops["phase"])
