"""A farm nobody can hijack: a real Dask scheduler started by `harness farm scheduler --tls` on
loopback, real `harness farm worker` processes and real `harness run --cluster` clients. Only those
with a certificate from the farm's CA (`harness farm certs`) may join or submit; plain TCP off
loopback is refused before anything connects."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from harness import load_results
from tests.integration.test_cluster import Proc, _free_port

FAST = ["--example", "tiny_cnn", "--variants", "fp32", "--repeats", "1", "--no-profile", "--min-runs", "5",
        "--min-seconds", "0.05"]


@pytest.fixture
def farm(tmp_path: Path, cache_home: Path):
    procs: list[Proc] = []
    env = dict(os.environ, XDG_CACHE_HOME=str(cache_home), COLUMNS="200",
               DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT="5s")  # a refused handshake fails in seconds
    env.pop("HARNESS_INVENTORY", None)

    def start(*argv: str, log: str) -> Proc:
        p = Proc([sys.executable, "-m", "harness", *argv], tmp_path / log, env, tmp_path)
        procs.append(p)
        return p

    yield start, env
    for p in reversed(procs):
        p.stop()


def _harness(env: dict[str, str], cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", *argv], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.slow
def test_only_holders_of_the_farms_certificates_join_or_submit(farm, tmp_path):
    start, env = farm
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    for folder in (ours, theirs):
        made = _harness(env, tmp_path, "farm", "certs", str(folder))
        assert made.returncode == 0, made.stderr
    assert (ours / "ca.key").stat().st_mode & 0o777 == 0o600 and (ours / "worker.key").stat().st_mode & 0o777 == 0o600
    port = _free_port()
    scheduler = start("farm", "scheduler", "--tls", str(ours), "--port", str(port), log="scheduler.log")
    address = scheduler.wait_for(r"scheduler at (tls://\S+)").group(1)
    assert address == f"tls://127.0.0.1:{port}"

    # a bare TLS handshake without a client certificate is refused by the scheduler
    ctx = ssl.create_default_context(cafile=str(ours / "ca.pem"))
    ctx.check_hostname = False
    with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError, OSError)):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
                ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            tls.sendall(b"\0" * 8)
            if not tls.recv(1):
                raise ConnectionResetError("closed by the scheduler")

    # a worker with another CA's certificate cannot join; nor one speaking plain TCP
    stranger = start("farm", "worker", "--scheduler", address, "--tls", str(theirs), "--devices", "local",
                     "--name", "stranger", log="stranger.log")
    assert stranger.proc.wait(120) != 0 and "cannot reach the Dask scheduler" in stranger.text()
    plain = start("farm", "worker", "--scheduler", f"tcp://127.0.0.1:{port}", "--devices", "local", "--name", "plain",
                  log="plain.log")
    assert plain.proc.wait(120) != 0

    # the farm's own worker joins; a client with another CA's certificate cannot submit, ours can
    worker = start("farm", "worker", "--scheduler", address, "--tls", str(ours), "--devices", "local", "--name", "w",
                   "--host", "127.0.0.1", log="worker.log")
    worker.wait_for(r"advertises device:local", timeout=120)
    refused = _harness(env, tmp_path, "run", "--cluster", address, "--tls", str(theirs), "--device", "local", *FAST,
                       "--results", "refused")
    assert refused.returncode == 2 and "cannot reach the Dask scheduler" in refused.stderr
    assert not (tmp_path / "refused").exists()
    ran = _harness(env, tmp_path, "run", "--cluster", address, "--tls", str(ours), "--device", "local", *FAST,
                   "--results", "ok")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    runs = load_results(tmp_path / "ok").runs
    assert (runs["status"] == "ok").all() and set(runs["executor"]) == {f"{socket.gethostname()}:{worker.proc.pid}"}


@pytest.mark.parametrize("argv", [
    ["run", "--cluster", "tcp://192.0.2.10:8786", "--device", "local"],
    ["run", "--cluster", "192.0.2.10:8786", "--device", "local"],
    ["farm", "worker", "--scheduler", "tcp://192.0.2.10:8786", "--devices", "local"],
    ["farm", "scheduler", "--host", "0.0.0.0", "--port", "0"],
    ["run", "--cluster", "tls://192.0.2.10:8786", "--tls", "/nonexistent", "--device", "local"],
])
def test_plain_tcp_off_loopback_and_tls_without_certificates_are_refused(farm, tmp_path, argv):
    _start, env = farm
    proc = _harness(env, tmp_path, *argv)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert ("plain TCP off this host" in proc.stderr and "--insecure" in proc.stderr) or "harness farm certs" in \
        proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
