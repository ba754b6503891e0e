from __future__ import annotations

import time
from pathlib import Path

import pytest

from harness.errors import DeadlineExceeded, TransportError
from harness.fileio import safe_local_path, sha256_file
from harness.transport.base import push_cached
from harness.transport.local import LocalTransport


@pytest.fixture
def transport(tmp_path):
    t = LocalTransport("local", tmp_path / "device")
    with t:
        yield t


def test_constructor_does_no_io(tmp_path):
    LocalTransport("local", tmp_path / "never")
    assert not (tmp_path / "never").exists()


def test_real_exit_codes_and_both_streams(transport):
    r = transport.run(["sh", "-c", "echo out; echo err >&2; exit 7"], timeout_s=10)
    assert (r.exit_code, r.stdout, r.stderr) == (7, b"out\n", b"err\n")
    assert not r.ok


def test_argv_is_not_shell_interpreted(transport, tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("x")
    r = transport.run(["echo", f"; rm {victim}"], timeout_s=10)
    assert r.ok and victim.exists()


def test_deadline_kills_the_whole_process_group(transport):
    t0 = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        transport.run(["sh", "-c", "sleep 30 & sleep 30"], timeout_s=0.5)
    assert time.monotonic() - t0 < 5


def test_missing_program_is_a_transport_error(transport):
    with pytest.raises(TransportError, match="cannot start"):
        transport.run(["/no/such/program"], timeout_s=5)


def test_push_cached_pushes_once(transport, tmp_path):
    f = tmp_path / "model.tflite"
    f.write_bytes(b"x" * 1000)
    remote, sent = push_cached(transport, f)
    assert sent == 1000 and Path(remote).read_bytes() == f.read_bytes()
    assert sha256_file(f) in remote
    remote2, sent2 = push_cached(transport, f)
    assert (remote2, sent2) == (remote, 0)
    assert not list(Path(remote).parent.glob("*.partial"))


def test_safe_local_path_refuses_escapes(tmp_path):
    assert safe_local_path(tmp_path, "raw/result.json") == (tmp_path / "raw/result.json").resolve()
    for bad in ("../x", "/etc/passwd", "raw/../../x", "."):
        with pytest.raises(ValueError, match="outside"):
            safe_local_path(tmp_path, bad)


def test_fresh_folder_path_refuses_the_same_names_on_the_name_alone(tmp_path):
    from harness.fileio import fresh_folder_path

    assert fresh_folder_path(tmp_path, "raw/result.json") == tmp_path / "raw/result.json"
    for bad in ("../x", "/etc/passwd", "raw/../../x", "raw/../x", ".", "", "\\x"):
        with pytest.raises(ValueError, match="outside"):
            fresh_folder_path(tmp_path, bad)
