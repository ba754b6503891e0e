"""harness over ADB against the real stack: Debian's adb server + the real adbd in namespaces
(tests/emulated). No mocks of adbutils: every byte crosses a real adb server."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from harness import load_results
from harness.config import Device, RunOptions
from harness.errors import DeadlineExceeded, TransportError
from harness.transport.adb import AdbTransport
from harness.transport.base import push_cached
from tests.doubles.benchmark_model_double import write_double
from tests.emulated.adb_device import DeviceSpec

FAST = ["--min-runs", "5", "--min-seconds", "0.05", "--repeats", "1"]


def _transport(farm, serial=None) -> AdbTransport:
    return AdbTransport("emu", serial or farm.serials[0], f"127.0.0.1:{farm.server_port}")


def _inventory(path: Path, farm, **extra: str) -> Path:
    lines = []
    for i, serial in enumerate(farm.serials):
        lines += [f"[devices.emu{i}]", 'transport = "adb"', f'serial = "{serial}"',
                  f'adb_server = "127.0.0.1:{farm.server_port}"']
        lines += [f'{k} = "{v}"' for k, v in extra.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_exit_codes_streams_and_quoting_over_shell_v2(adb_farm, tmp_path):
    with _transport(adb_farm) as t:
        assert t.shell_v2
        r = t.run(["sh", "-c", "echo out; echo err >&2; exit 7"], timeout_s=20)
        assert (r.exit_code, r.stdout, r.stderr) == (7, b"out\n", b"err\n")
        victim = "/data/local/tmp/victim"
        t.run(["touch", victim], timeout_s=20)
        r = t.run(["echo", f"x; rm {victim}", "$(id)", "it's"], timeout_s=20)
        assert r.stdout == f"x; rm {victim} $(id) it's\n".encode()
        assert t.run(["test", "-f", victim], timeout_s=20).ok


def test_a_command_that_hangs_is_killed_at_its_deadline(adb_farm):
    with _transport(adb_farm) as t:
        t0 = time.monotonic()
        with pytest.raises(DeadlineExceeded):
            t.run(["sleep", "60"], timeout_s=1.0)
        assert time.monotonic() - t0 < 5
        assert t.run(["true"], timeout_s=20).ok  # the transport is still usable


def test_push_is_verified_and_cached_by_content(adb_farm, tmp_path):
    blob = tmp_path / "model.tflite"
    blob.write_bytes(os.urandom(5 << 20))
    with _transport(adb_farm) as t:
        remote, sent = push_cached(t, blob)
        assert sent == 5 << 20 and remote.startswith("/data/local/tmp/harness/cache/")
        assert t.run(["sha256sum", remote], timeout_s=30).text().split()[0] in remote
        again, sent2 = push_cached(t, blob)
        assert (again, sent2) == (remote, 0)
        back = tmp_path / "back"
        t.pull(remote, back)
        assert back.read_bytes() == blob.read_bytes()


def test_device_without_shell_v2_still_gives_real_exit_codes(make_adb_farm):
    farm = make_adb_farm([DeviceSpec(name="old", shell_v2=False)])
    with _transport(farm) as t:
        assert not t.shell_v2
        r = t.run(["sh", "-c", "echo out; echo err >&2; exit 7"], timeout_s=20)
        assert (r.exit_code, r.stdout, r.stderr) == (7, b"out\n", b"err\n")
        # a command that calls exit cannot swallow the exit-code marker
        r = t.run(["sh", "-c", "printf partial; exit 3"], timeout_s=20)
        assert (r.exit_code, r.stdout) == (3, b"partial")
        assert t.run(["false"], timeout_s=20).exit_code == 1
        with pytest.raises(DeadlineExceeded):
            t.run(["sleep", "60"], timeout_s=1.0)


def test_unreachable_server_and_missing_device_say_what_to_do(adb_farm):
    with pytest.raises(TransportError, match="start-server"):
        AdbTransport("x", "nope", "127.0.0.1:1").open()
    with pytest.raises(TransportError, match="is missing"):
        AdbTransport("x", "127.0.0.1:9", f"127.0.0.1:{adb_farm.server_port}").open()


def test_harness_run_over_adb_with_the_litert_runner(adb_farm, harness_cli, tmp_path):
    inv = _inventory(tmp_path / "devices.toml", adb_farm, runner="litert")
    proc = harness_cli("run", "--inventory", str(inv), "--device", "emu0", "--example", "tiny_cnn", *FAST,
                       "--results", "r")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    res = load_results(tmp_path / "r")
    assert (res.runs["status"] == "ok").all() and len(res.runs) == 12
    assert set(res.runs["transport"]) == {"adb"}
    assert set(res.runs["device_model"]) == {"Emulated x86_64"}  # getprop ro.product.model on the device
    int8 = res.ops[res.ops["run_id"].str.contains("int8.t1.profile.xnnpack")]
    assert int8["op_type"].str.contains("QC8").any()


def test_harness_run_over_adb_with_benchmark_model_pushes_nothing_twice(adb_farm, harness_cli, tmp_path):
    from harness.farm import DeviceSession, Job
    from harness.plan import build_plan
    from harness.prepare import resolve_models
    from harness.spec import RunSpec

    double = write_double(tmp_path / "benchmark_model")
    device = Device(name="emu0", transport="adb", serial=adb_farm.serials[0],
                    adb_server=f"127.0.0.1:{adb_farm.server_port}", runner="benchmark_model",
                    benchmark_model=str(double))
    name, files = resolve_models(model=None, example="tiny_cnn", variants=["fp32", "int8"])
    spec = RunSpec(options=RunOptions(min_runs=5, min_s=0.05, warmup_min_s=0.0), lease=None)
    plan = tuple(build_plan(["emu0"], name, ["fp32", "int8"], [1], 1))
    first = DeviceSession(device, Job("a", str(tmp_path), files, plan, spec)).run()
    assert not first.failed and first.bytes_pushed > 0
    second = DeviceSession(device, Job("b", str(tmp_path), files, plan, spec)).run()
    assert not second.failed and second.bytes_pushed == 0
    res = load_results(tmp_path)
    assert set(res.runs["runner"]) == {"benchmark_model"} and (res.runs["status"] == "ok").all()
    assert res.ops[res.ops["phase"] == "invoke"].shape[0] > 0


def test_device_that_disappears_mid_run_loses_only_its_in_flight_run(make_adb_farm, harness_cli, tmp_path):
    farm = make_adb_farm(2)
    inv = _inventory(tmp_path / "devices.toml", farm, runner="litert")
    killer = threading.Timer(4.0, farm.kill_device, args=(farm.serials[0],))
    killer.start()
    try:
        proc = harness_cli("run", "--inventory", str(inv), "--device", "emu0", "--example", "tiny_cnn",
                           "--repeats", "3", "--no-profile", "--min-seconds", "1", "--results", "r",
                           "--max-attempts", "2", "--reconnect-timeout", "3", timeout=300)
    finally:
        killer.cancel()
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and "waiting" in proc.stderr
    runs = load_results(tmp_path / "r").runs
    ok = runs[runs["status"] == "ok"]
    assert len(ok) >= 1 and (ok["count"] > 0).all()  # what landed before the device vanished is whole
    assert runs["plan_key"].nunique() == 12
    failed = runs[runs["status"] == "failed"]
    assert set(failed["failure_class"]) == {"transport"}
    assert failed["error_message"].str.contains("did not come back").any()
    assert not ok["plan_key"].duplicated().any()  # no plan item landed twice
    with _transport(farm, farm.serials[1]) as t:  # the other device is untouched
        assert t.run(["true"], timeout_s=20).ok


def test_adb_server_restart_between_runs(make_adb_farm, harness_cli, tmp_path):
    farm = make_adb_farm(1)
    inv = _inventory(tmp_path / "devices.toml", farm, runner="litert")
    args = ("run", "--inventory", str(inv), "--device", "emu0", "--example", "tiny_cnn", "--variants", "int8",
            "--no-profile", *FAST, "--results", "r")
    assert harness_cli(*args, "--campaign", "one").returncode == 0
    farm.restart_server()
    proc = harness_cli(*args, "--campaign", "two")
    assert proc.returncode == 0, proc.stderr
    assert len(load_results(tmp_path / "r").runs) == 2


def test_push_cut_on_the_way_never_leaves_a_file_that_looks_complete(make_adb_farm, tmp_path):
    farm = make_adb_farm(1)
    blob = tmp_path / "big.tflite"
    blob.write_bytes(os.urandom(128 << 20))
    with _transport(farm) as t:
        cutter = threading.Timer(0.15, farm.device(farm.serials[0]).relay.drop_connections)
        cutter.start()
        with pytest.raises(TransportError):
            push_cached(t, blob)
        cutter.cancel()
    farm.wait_state(farm.serials[0], "device", timeout=60)
    with _transport(farm) as t:
        digest_dir = t.run(["ls", "/data/local/tmp/harness/cache"], timeout_s=20).text().split()
        for d in digest_dir:
            listing = t.run(["ls", f"/data/local/tmp/harness/cache/{d}"], timeout_s=20).text().split()
            assert "big.tflite" not in listing  # only a .partial may remain
        remote, sent = push_cached(t, blob)  # and the retry lands it whole
        assert sent == 128 << 20


@pytest.mark.slow
def test_harness_run_on_the_arm64_device_under_qemu(adb_farm_arm64, harness_cli, tmp_path):
    """The litert runner's real aarch64 kernels, through adbd running in an arm64 root file system."""
    inv = _inventory(tmp_path / "devices.toml", adb_farm_arm64, runner="litert")
    proc = harness_cli("run", "--inventory", str(inv), "--device", "emu0", "--example", "tiny_cnn",
                       "--variants", "fp32,int8", "--kernels", "builtin", "--profile-kernels", "builtin",
                       "--min-runs", "3", "--min-seconds", "0",
                       "--repeats", "1", "--profile-runs", "3", "--results", "r", timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    res = load_results(tmp_path / "r")
    assert (res.runs["status"] == "ok").all(), res.runs[["run_id", "error_message"]]
    assert set(res.runs["abi"]) == {"arm64-v8a"}
    for run_id in res.runs["run_id"]:
        campaign, key = run_id.split("/")
        result = (tmp_path / "r" / campaign / "runs" / key / "raw" / "result.json").read_text()
        assert '"machine": "aarch64"' in result
    builtin = res.ops[res.ops["run_id"].str.contains("int8.t1.profile.builtin")]
    assert builtin["node_index"].notna().all() and "CONV_2D" in set(builtin["op_type"])


def test_harness_waits_for_a_booting_device(make_adb_farm):
    """An emulator that is still booting (sys.boot_completed != 1) is waited for, then used."""
    from tests.emulated.adb_device import getprop_script

    farm = make_adb_farm([DeviceSpec(name="booting", props={"sys.boot_completed": "0"})])
    dev = farm.device(farm.serials[0]).device
    getprop = dev.dir / "system" / "bin" / "getprop"
    assert getprop.is_file()

    def finish_boot() -> None:
        getprop.write_text(getprop_script({**dev.spec.all_props(), "sys.boot_completed": "1"}))

    booter = threading.Timer(2.0, finish_boot)
    booter.start()
    t0 = time.monotonic()
    with _transport(farm) as t:
        assert time.monotonic() - t0 >= 1.5
        assert t.run(["getprop", "sys.boot_completed"], timeout_s=10).text().strip() == "1"
    slow = AdbTransport("emu", farm.serials[0], f"127.0.0.1:{farm.server_port}", boot_wait_s=1)
    getprop.write_text(getprop_script({**dev.spec.all_props(), "sys.boot_completed": "0"}))
    with pytest.raises(TransportError, match="did not finish booting"):
        slow.open()
