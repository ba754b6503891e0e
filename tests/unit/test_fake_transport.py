"""The fake transport shipped in the package: users test their own code against it; here it is held
to the contracts of the real transports (argv lists, deadlines, open before use) and shown driving
real harness code (pushes, facts) with no device."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import DeadlineExceeded, TransportError
from harness.transport.base import Transport, in_fresh_folder, pull_bytes, push_cached
from harness.transport.fake import FakeTransport


def test_it_is_a_transport_and_must_be_opened(tmp_path):
    fake = FakeTransport()
    assert isinstance(fake, Transport)
    with pytest.raises(TransportError, match="not open"):
        fake.run(["true"], timeout_s=1)
    with fake:
        assert fake.run(["true"], timeout_s=1).ok
    assert not fake.opened


def test_pushes_are_content_addressed_and_never_repeated(tmp_path):
    model = tmp_path / "model.tflite"
    model.write_bytes(b"TFL3" + bytes(100))
    with FakeTransport() as fake:
        remote, sent = push_cached(fake, model)
        assert sent == 104 and fake.files[remote] == model.read_bytes()
        assert remote.startswith("/data/local/tmp/harness/cache/")
        assert not any(p.endswith(".partial") for p in fake.files)
        again, sent = push_cached(fake, model)
        assert (again, sent) == (remote, 0)
        assert pull_bytes(fake, remote) == model.read_bytes()
        assert pull_bytes(fake, "/nowhere") is None


def test_a_handler_answers_commands_and_every_call_is_recorded():
    def handler(argv: list[str], fake: FakeTransport):
        if argv[0] == "getprop":
            return 0, b"Pixel 7\n", b""
        if argv[0] == "sleep":
            raise DeadlineExceeded(argv, 1.0)
        return None

    with FakeTransport(handler) as fake:
        assert fake.run(["getprop", "ro.product.model"], timeout_s=5).text() == "Pixel 7\n"
        missing = fake.run(["python3", "-V"], timeout_s=5)
        assert missing.exit_code == 127 and b"not found" in missing.stderr
        with pytest.raises(DeadlineExceeded):
            fake.run(["sleep", "100"], timeout_s=1)
        with pytest.raises(TransportError, match="argv lists"):
            fake.run("rm -rf /", timeout_s=1)  # type: ignore[arg-type]
        folder = fake.run(in_fresh_folder("/data/local/tmp/harness/runs/x", ["getprop", "a"]), timeout_s=5)
        assert folder.ok and "/data/local/tmp/harness/runs/x" in fake.dirs
    assert fake.calls[0] == ["getprop", "ro.product.model"] and ["sleep", "100"] in fake.calls


def test_real_harness_code_runs_against_it():
    """collect_facts pushes device_facts.sh and runs it: the handler plays the device's answer."""
    from harness.facts import collect_facts

    def device(argv: list[str], fake: FakeTransport):
        if argv[0] == "sh" and argv[1].endswith("device_facts.sh") and argv[1] in fake.files:
            return 0, b"prop.ro.product.model=Pixel 7\nprop.ro.product.cpu.abilist=arm64-v8a,armeabi-v7a\n", b""
        return None

    with FakeTransport(device) as fake:
        facts = collect_facts(fake)
    assert facts["device_model"] == "Pixel 7" and facts["abi"] == "arm64-v8a"
    assert Path(next(p for p in fake.files if p.endswith("device_facts.sh"))).name == "device_facts.sh"


def test_a_cached_script_runs_in_one_round_trip_once_it_is_on_the_device(tmp_path):
    """run_cached_script (facts and thermal reads): absent -> pushed and run; then one command."""
    from harness.transport.base import run_cached_script

    script = tmp_path / "probe.sh"
    script.write_text("echo hi\n")

    def device(argv: list[str], fake: FakeTransport):
        if argv[:1] == ["sh"] and argv[1].endswith("/probe.sh"):
            return 0, f"ran {' '.join(argv[2:])}\n".encode(), b""
        return None

    with FakeTransport(device) as fake:
        first = run_cached_script(fake, script, ["thermal"], timeout_s=5)
        assert first.ok and first.text() == "ran thermal\n"
        assert any(c[:2] == ["mv", "-f"] for c in fake.calls)  # pushed into the cache
        fake.calls.clear()
        again = run_cached_script(fake, script, ["all"], timeout_s=5)
        assert again.text() == "ran all\n"
        wrapper, inner = fake.calls  # the one command sent, and the script run inside it
        assert wrapper[:2] == ["sh", "-c"] and inner[0] == "sh" and inner[2:] == ["all"]
