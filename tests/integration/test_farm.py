"""A farm of emulated devices (real adbd per network namespace, a real sshd board, the local host)
running one plan in parallel; devices failing, controllers killed, campaigns resumed.

The phones and the board run the TEST DOUBLE of benchmark_model (tests/doubles), which sleeps
--min_secs like the real tool would and replays recorded output, so eight devices can run side by
side on two cores; the local device runs the real litert runner."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from harness import load_results
from tests.doubles.benchmark_model_double import write_double
from tests.emulated.sshd import SshServer


def _inventory(path: Path, farm, double: Path, board: SshServer | None = None) -> Path:
    lines = ['[devices.local]', 'transport = "local"', 'tags = ["farm"]']
    for i, serial in enumerate(farm.serials):
        lines += [f"[devices.phone{i}]", 'transport = "adb"', f'serial = "{serial}"',
                  f'adb_server = "127.0.0.1:{farm.server_port}"', 'runner = "benchmark_model"',
                  f'benchmark_model = "{double}"', 'tags = ["farm", "android"]']
    if board is not None:
        lines += [board.devices_toml("board").strip(), 'runner = "benchmark_model"', f'benchmark_model = "{double}"',
                  'tags = ["farm", "board"]']
    path.write_text("\n".join(lines) + "\n")
    return path


def _landed(results: Path) -> int:
    return len(list(results.glob("*/runs/*/run.json")))


def _check_no_duplicates_and_all_accounted(runs, plan_keys: set[str]) -> None:
    ok = runs[runs["status"] == "ok"]
    assert not ok["plan_key"].duplicated().any(), "a plan item landed twice"
    assert set(runs["plan_key"]) == plan_keys, "a planned run is missing"
    assert runs["run_id"].is_unique


def test_eight_devices_one_killed_half_way(make_adb_farm, harness_cli, tmp_path):
    farm = make_adb_farm(6)
    double = write_double(tmp_path / "benchmark_model")
    with SshServer() as board:
        inv = _inventory(tmp_path / "devices.toml", farm, double, board)
        victim = farm.serials[2]
        results = tmp_path / "r"

        def kill_half_way() -> None:
            deadline = time.monotonic() + 120
            while _landed(results) < 32 and time.monotonic() < deadline:
                time.sleep(0.05)
            farm.kill_device(victim)

        killer = threading.Thread(target=kill_half_way, daemon=True)
        killer.start()
        proc = harness_cli("run", "--inventory", str(inv), "--device", "tag:farm", "--example", "tiny_cnn",
                           "--variants", "fp32,int8", "--repeats", "2", "--min-runs", "5", "--min-seconds", "0.3",
                           "--profile-runs", "3", "--max-attempts", "2", "--reconnect-timeout", "3",
                           "--lease-ttl", "5", "--results", str(results), "--campaign", "farm", timeout=600)
        killer.join(5)
    assert proc.returncode == 1, proc.stdout + proc.stderr  # the killed phone's runs failed
    assert "Traceback" not in proc.stderr
    runs = load_results(results).runs
    assert runs["device"].nunique() == 8
    plan_keys = {f"{d}.{v}.t1.{m}.{k}.r{r}" for d in ["local", "board", *[f"phone{i}" for i in range(6)]]
                 for v in ("fp32", "int8")
                 for m, k, r in [("latency", "xnnpack", 0), ("latency", "xnnpack", 1),
                                 ("profile", "xnnpack", 0), ("profile", "builtin", 0)]}
    assert len(plan_keys) == 64
    _check_no_duplicates_and_all_accounted(runs, plan_keys)
    others = runs[runs["device"] != "phone2"]
    assert (others.groupby("plan_key")["status"].apply(lambda s: (s == "ok").any())).all()
    killed = runs[runs["device"] == "phone2"]
    bad = killed[killed["status"] != "ok"]
    assert len(bad) >= 1 and set(bad["failure_class"]) == {"transport"}
    # devices ran side by side: the farm took far less than the sum of its runs
    span = (runs["finished_at"].max() - runs["started_at"].min()).total_seconds()
    assert span < runs["duration_s"].sum() / 2


def test_controller_killed_at_random_points_then_resumed(make_adb_farm, harness_cli, tmp_path, cache_home):
    farm = make_adb_farm(3)
    double = write_double(tmp_path / "benchmark_model")
    inv = _inventory(tmp_path / "devices.toml", farm, double)
    results = tmp_path / "r"
    env = dict(os.environ, XDG_CACHE_HOME=str(cache_home))
    args = [sys.executable, "-m", "harness", "run", "--inventory", str(inv), "--device", "tag:android",
            "--example", "tiny_cnn", "--variants", "fp32,int8", "--repeats", "3", "--no-profile",
            "--min-runs", "5", "--min-seconds", "0.4", "--lease-ttl", "3", "--results", str(results),
            "--campaign", "k"]
    for stop_after in (1.5, 2.5):  # SIGKILL the controller twice, at different points
        proc = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(stop_after)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        load_results(results)  # whatever landed always loads
    resumed = harness_cli("run", "--resume", "k", "--results", str(results), timeout=600)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    runs = load_results(results).runs
    plan_keys = {f"phone{i}.{v}.t1.latency.xnnpack.r{r}" for i in range(3) for v in ("fp32", "int8")
                 for r in range(3)}
    _check_no_duplicates_and_all_accounted(runs, plan_keys)
    assert (runs["status"] == "ok").all()
    again = harness_cli("run", "--resume", "k", "--results", str(results))
    assert again.returncode == 0 and len(load_results(results).runs) == len(runs)


def test_resume_of_an_unknown_campaign_says_what_exists(harness_cli, tmp_path):
    proc = harness_cli("run", "--resume", "nope", "--results", str(tmp_path / "r"))
    assert proc.returncode == 2 and "No campaign 'nope'" in proc.stderr


@pytest.mark.parametrize("spec, needle", [("tag:gpu", "No device has tag 'gpu'"), ("local,phoen", "Did you mean")])
def test_device_selection_errors(harness_cli, tmp_path, spec, needle):
    (tmp_path / "devices.toml").write_text('[devices.phone]\ntransport = "adb"\nserial = "x"\ntags = ["android"]\n')
    proc = harness_cli("run", "--device", spec, "--inventory", str(tmp_path / "devices.toml"))
    assert proc.returncode == 2 and needle in proc.stderr


def test_two_controllers_never_share_a_device_and_a_killed_ones_leases_expire(make_adb_farm, tmp_path, cache_home):
    farm = make_adb_farm(4)
    double = write_double(tmp_path / "benchmark_model")
    inv = _inventory(tmp_path / "devices.toml", farm, double)
    env = dict(os.environ, XDG_CACHE_HOME=str(cache_home))

    def controller(name: str, results: Path) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "harness", "run", "--inventory", str(inv), "--device", "tag:android",
             "--example", "tiny_cnn", "--variants", "fp32,int8", "--repeats", "2", "--no-profile", "--min-runs", "5",
             "--min-seconds", "0.3", "--lease-ttl", "3", "--results", str(results), "--campaign", name],
            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    a, b = controller("a", tmp_path / "ra"), controller("b", tmp_path / "rb")
    assert a.wait(300) == 0 and b.wait(300) == 0
    import pandas as pd

    runs = pd.concat([load_results(tmp_path / "ra").runs, load_results(tmp_path / "rb").runs], ignore_index=True)
    assert len(runs) == 2 * 4 * 4
    for device, group in runs.groupby("device"):
        # each controller holds the device's lease for its whole stay: the two stays never overlap
        span = group.groupby("campaign").agg(start=("started_at", "min"), end=("finished_at", "max"))
        first, second = span.sort_values("start").itertuples()
        assert first.end <= second.start, f"{device}: {first.Index} and {second.Index} used it at the same time"

    # a controller killed with SIGKILL keeps its leases until they expire; the other then takes over
    killed = controller("c", tmp_path / "rc")
    deadline = time.monotonic() + 60
    while _landed(tmp_path / "rc") < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    t_kill = time.monotonic()
    survivor = controller("d", tmp_path / "rd")
    assert survivor.wait(300) == 0, survivor.stderr.read()
    took = time.monotonic() - t_kill
    assert took >= 2.0  # it had to wait for the dead controller's leases (TTL 3 s) to expire
    assert (load_results(tmp_path / "rd").runs["status"] == "ok").all()


def test_a_campaign_frees_its_phones_when_it_ends(make_adb_farm, tmp_path, cache_home, monkeypatch):
    """Done, or stopped by a device set-up error: the phone's lease is released, so the next campaign
    starts at once instead of waiting out the lease's TTL (60 s by default)."""
    import harness
    from harness.config import load_inventory
    from harness.farm.lease import read_lease
    from harness.transport import open_transport

    farm = make_adb_farm(1)
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache_home))
    inv = _inventory(tmp_path / "devices.toml", farm, write_double(tmp_path / "benchmark_model"))
    broken = _inventory(tmp_path / "broken.toml", farm, Path("/bin/true"))  # no --help: not benchmark_model
    phone = load_inventory(inv).get("phone0")
    quick = dict(device="phone0", example="tiny_cnn", variants="fp32", repeats=1, profile=False, min_runs=5,
                 min_seconds=0.1, results=tmp_path / "r")
    failed = harness.run(inventory=broken, campaign="broken", **quick)
    assert "phone0" in failed.outcome.errors
    with open_transport(phone) as link:
        assert read_lease(link) is None
    first = harness.run(inventory=inv, campaign="first", **quick)
    with open_transport(phone) as link:
        assert first.ok and read_lease(link) is None
    second = harness.run(inventory=inv, campaign="second", **quick)
    gap = (second.results().runs["started_at"].min() - first.results().runs["finished_at"].max()).total_seconds()
    assert second.ok and gap < 30  # not held up by the first campaign's lease


def test_a_run_measured_while_throttled_is_inconclusive_and_retried_after_cooldown(make_adb_farm, harness_cli,
                                                                                   tmp_path):
    farm = make_adb_farm(1)
    double = write_double(tmp_path / "benchmark_model")
    inv = _inventory(tmp_path / "devices.toml", farm, double)
    dev = farm.device(farm.serials[0]).device
    dumpsys = dev.dir / "system" / "bin" / "dumpsys"  # the phone's thermal service says: severe
    dumpsys.write_text("#!/bin/sh\necho 'Thermal Status: 3'\n")
    dumpsys.chmod(0o755)

    def cool_down_after_the_first_attempt() -> None:
        deadline = time.monotonic() + 120
        while _landed(tmp_path / "r") < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        dumpsys.write_text("#!/bin/sh\necho 'Thermal Status: 0'\n")

    threading.Thread(target=cool_down_after_the_first_attempt, daemon=True).start()
    proc = harness_cli("run", "--inventory", str(inv), "--device", "phone0", "--example", "tiny_cnn",
                       "--variants", "int8", "--repeats", "1", "--no-profile", "--min-runs", "5", "--min-seconds",
                       "0.2", "--retry-cooldown", "2", "--results", "r")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    runs = load_results(tmp_path / "r").runs.sort_values("attempt")
    assert list(runs["status"]) == ["inconclusive", "ok"]
    first = runs.iloc[0]
    assert first["failure_class"] == "inconclusive" and first["error_class"] == "Throttled"
    assert "thermal status 3" in first["error_message"]
    assert (runs.iloc[1]["started_at"] - first["finished_at"]).total_seconds() >= 1.5  # the cool-down


def test_keep_throttled_flags_instead_of_retrying(make_adb_farm, harness_cli, tmp_path):
    farm = make_adb_farm(1)
    double = write_double(tmp_path / "benchmark_model")
    inv = _inventory(tmp_path / "devices.toml", farm, double)
    dumpsys = farm.device(farm.serials[0]).device.dir / "system" / "bin" / "dumpsys"
    dumpsys.write_text("#!/bin/sh\necho 'Thermal Status: 4'\n")
    dumpsys.chmod(0o755)
    proc = harness_cli("run", "--inventory", str(inv), "--device", "phone0", "--example", "tiny_cnn",
                       "--variants", "fp32,int8", "--repeats", "1", "--no-profile", "--min-runs", "5", "--min-seconds",
                       "0.1", "--keep-throttled", "--cooldown", "0.3", "--results", "r")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    runs = load_results(tmp_path / "r").runs.sort_values("started_at")
    assert list(runs["status"]) == ["ok", "ok"] and runs["throttled"].all()
    assert runs["notes"].str.contains("thermal status 4").all()
    assert list(runs["cooldown_s"].round(1)) == [0.0, 0.3]  # no wait before the first run
