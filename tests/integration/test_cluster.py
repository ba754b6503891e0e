"""The same plan on a real Dask cluster: a scheduler and two `harness farm worker` processes started
here, each owning different emulated adb devices (real adbd per network namespace behind Debian's
adb server); the controller (`harness run --cluster`) lists them all. All on loopback.

The phones run the TEST DOUBLE of benchmark_model (tests/doubles), which sleeps --min_secs and
replays recorded output: these tests check where runs execute and what lands, not speed."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from harness import load_results
from tests.doubles.benchmark_model_double import write_double


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _phone(name: str, serial: str, server_port: int, double: Path) -> list[str]:
    return [f"[devices.{name}]", 'transport = "adb"', f'serial = "{serial}"', f'adb_server = "127.0.0.1:{server_port}"',
            'runner = "benchmark_model"', f'benchmark_model = "{double}"', 'tags = ["android"]']


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


class Proc:
    """A background process whose stdout is collected in a file (read while it runs)."""

    def __init__(self, argv: list[str], log: Path, env: dict[str, str], cwd: Path) -> None:
        self.log = log
        self.out = open(log, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(argv, stdout=self.out, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                     start_new_session=True)

    def text(self) -> str:
        return self.log.read_text()

    def wait_for(self, pattern: str, timeout: float = 60) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(pattern, self.text())
            if m:
                return m
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"{pattern!r} never appeared (exit {self.proc.poll()}):\n{self.text()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.out.close()


@pytest.fixture
def dask_cluster(tmp_path: Path, cache_home: Path):
    """`start(workers={name: inventory})` -> scheduler address; stops everything after the test."""
    procs: list[Proc] = []
    env = dict(os.environ, XDG_CACHE_HOME=str(cache_home), COLUMNS="200")
    env.pop("HARNESS_INVENTORY", None)

    @contextmanager
    def noop() -> Iterator[None]:
        yield

    def scheduler() -> str:
        port = _free_port()
        p = Proc([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", str(port),
                  "--no-dashboard"], tmp_path / "scheduler.log", env, tmp_path)
        procs.append(p)
        p.wait_for(r"Scheduler at:")
        return f"tcp://127.0.0.1:{port}"

    def worker(address: str, name: str, inventory: Path, *extra: str) -> Proc:
        p = Proc([sys.executable, "-m", "harness", "farm", "worker", "--scheduler", address, "--name", name,
                  "--inventory", str(inventory), "--host", "127.0.0.1", *extra], tmp_path / f"{name}.log", env,
                 tmp_path)
        procs.append(p)
        return p

    yield scheduler, worker
    for p in reversed(procs):
        p.stop()


RUN_ARGS = ["--device", "tag:android", "--example", "tiny_cnn", "--variants", "fp32,int8", "--repeats", "2",
            "--threads", "1,2", "--profile-kernels", "xnnpack", "--min-runs", "5", "--min-seconds", "0.2",
            "--profile-runs", "3", "--lease-ttl", "5"]


def test_plan_on_a_dask_cluster_runs_each_device_on_its_worker_and_equals_in_process(
        make_adb_farm, dask_cluster, harness_cli, tmp_path):
    farm = make_adb_farm(4)
    double = write_double(tmp_path / "benchmark_model")
    phones = {f"phone{i}": s for i, s in enumerate(farm.serials)}
    owners = {"wa": ["phone0", "phone1"], "wb": ["phone2", "phone3"]}
    everything = _write(tmp_path / "devices.toml",
                        [line for n, s in phones.items() for line in _phone(n, s, farm.server_port, double)])
    scheduler, worker = dask_cluster
    address = scheduler()
    pids = {}
    for name, mine in owners.items():
        inv = _write(tmp_path / f"{name}.toml",
                     [line for n in mine for line in _phone(n, phones[n], farm.server_port, double)])
        w = worker(address, name, inv)
        w.wait_for(r"advertises device:")
        assert f"advertises {', '.join('device:' + n for n in mine)} to" in w.text()
        pids[name] = w.proc.pid

    t0 = time.monotonic()
    on_cluster = harness_cli("run", "--inventory", str(everything), *RUN_ARGS, "--results", str(tmp_path / "rc"),
                             "--campaign", "c", "--cluster", address, timeout=300)
    cluster_s = time.monotonic() - t0
    assert on_cluster.returncode == 0, on_cluster.stdout + on_cluster.stderr
    assert "48 runs landed, 0 failed" in on_cluster.stderr

    runs = load_results(tmp_path / "rc").runs
    # every run executed on the worker that owns its device (executor = host:pid of that worker process)
    expected = {n: f"{socket.gethostname()}:{pids[w]}" for w, mine in owners.items() for n in mine}
    assert dict(zip(runs["device"], runs["executor"], strict=True)) == expected
    for device, group in runs.groupby("device"):  # one run at a time per device
        spans = group.sort_values("started_at")
        assert (spans["started_at"].iloc[1:].to_numpy() >= spans["finished_at"].iloc[:-1].to_numpy()).all(), device

    t0 = time.monotonic()
    in_process = harness_cli("run", "--inventory", str(everything), *RUN_ARGS, "--results", str(tmp_path / "ri"),
                             "--campaign", "c", timeout=300)
    local_s = time.monotonic() - t0
    assert in_process.returncode == 0, in_process.stdout + in_process.stderr
    local = load_results(tmp_path / "ri").runs
    assert len(runs) == len(local) == 48
    assert sorted(zip(runs["run_id"], runs["status"], strict=True)) == \
        sorted(zip(local["run_id"], local["status"], strict=True))
    assert set(local["executor"]) != set(runs["executor"])
    print(f"cluster {cluster_s:.1f} s, in-process {local_s:.1f} s")

    # the controller again: everything landed already, nothing runs twice
    again = harness_cli("run", "--inventory", str(everything), *RUN_ARGS, "--results", str(tmp_path / "rc"),
                        "--campaign", "c", "--cluster", address, timeout=300)
    assert again.returncode == 0 and "0 runs landed, 0 failed, 48 already there" in again.stderr
    assert len(load_results(tmp_path / "rc").runs) == 48


def test_a_worker_killed_mid_task_is_replaced_by_another_that_owns_the_device(
        make_adb_farm, dask_cluster, harness_cli, tmp_path):
    farm = make_adb_farm(1)
    double = write_double(tmp_path / "benchmark_model")
    inv = _write(tmp_path / "devices.toml", _phone("phone0", farm.serials[0], farm.server_port, double))
    scheduler, worker = dask_cluster
    address = scheduler()
    workers = [worker(address, name, inv) for name in ("wa", "wb")]  # both hosts see the phone
    for w in workers:
        w.wait_for(r"advertises device:phone0")
    results = tmp_path / "r"
    env = dict(os.environ, COLUMNS="200")
    controller = subprocess.Popen(
        [sys.executable, "-m", "harness", "run", "--inventory", str(inv), "--device", "phone0", "--example",
         "tiny_cnn", "--variants", "fp32,int8", "--repeats", "4", "--no-profile", "--min-runs", "5", "--min-seconds",
         "0.3", "--lease-ttl", "3", "--results", str(results), "--campaign", "k", "--cluster", address],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while len(list(results.glob("k/runs/*/run.json"))) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    first = load_results(results).runs["executor"].iloc[0]
    victim = next(w for w in workers if first.endswith(f":{w.proc.pid}"))
    victim.proc.send_signal(signal.SIGKILL)  # its lease on the phone stays until the TTL runs out
    out, err = controller.communicate(timeout=180)
    assert controller.returncode == 0, out + err
    runs = load_results(results).runs
    assert len(runs) == 8 and runs["plan_key"].is_unique and (runs["status"] == "ok").all()
    survivor = next(w for w in workers if w is not victim)
    assert set(runs["executor"]) == {first, f"{socket.gethostname()}:{survivor.proc.pid}"}


def test_unreachable_devices_are_not_advertised_and_unadvertised_ones_fail_fast(
        make_adb_farm, dask_cluster, harness_cli, tmp_path):
    farm = make_adb_farm(1)
    double = write_double(tmp_path / "benchmark_model")
    closed = _free_port()  # nothing listens there
    inv = _write(tmp_path / "w.toml", [
        *_phone("phone0", farm.serials[0], farm.server_port, double),
        *_phone("ghost", "127.0.0.1:1", farm.server_port, double),  # not listed by the adb server
        "[devices.board]", 'transport = "ssh"', 'host = "127.0.0.1"', f"port = {closed}",
    ])
    scheduler, worker = dask_cluster
    address = scheduler()
    w = worker(address, "wa", inv)
    w.wait_for(r"advertises device:")
    text = w.text()
    assert "advertises device:phone0 to" in text
    assert re.search(r"ghost\s+adb\s+no\s+serial 127\.0\.0\.1:1 is not listed", text), text
    assert re.search(r"board\s+ssh\s+no\s+cannot connect to 127\.0\.0\.1:\d+", text), text
    assert "device:ghost" not in text and "device:board" not in text
    assert "local " not in text  # local is advertised only when named

    t0 = time.monotonic()
    proc = harness_cli("run", "--inventory", str(inv), "--device", "phone0,ghost", "--example", "tiny_cnn",
                       "--variants", "fp32", "--repeats", "1", "--no-profile", "--results", str(tmp_path / "r"),
                       "--cluster", address, timeout=60)
    assert time.monotonic() - t0 < 20
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "no worker of the cluster" in proc.stderr and "advertises ghost" in proc.stderr
    assert "Devices the cluster has: phone0 (on wa)" in proc.stderr
    assert not (tmp_path / "r").exists()  # nothing written before the check

    # a worker that can reach none of its devices refuses to start
    lonely = _write(tmp_path / "lonely.toml", ["[devices.board]", 'transport = "ssh"', 'host = "127.0.0.1"',
                                               f"port = {closed}"])
    refused = harness_cli("farm", "worker", "--scheduler", address, "--inventory", str(lonely), timeout=60)
    assert refused.returncode == 2 and "advertise nothing" in refused.stderr
