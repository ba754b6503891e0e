"""harness.farm.lease: the pure parts (lease.sh's replies, targets, holder names, the busy message)."""

from __future__ import annotations

import pytest

from harness.errors import ConfigError, DeviceBusy, HarnessError, ParseError
from harness.farm.lease import DeviceLease, LeaseInfo, default_holder, parse_reply, parse_target, script_text
from harness.transport.local import LocalTransport


def test_a_busy_reply_names_the_holder_and_the_device_seconds_left():
    reply = parse_reply("now=1000\nepoch=7\nlease=ci-a:12:ab12 1004 0123456789abcdef\nstate=busy\n")
    assert (reply.state, reply.device_now, reply.epoch) == ("busy", 1000, 7)
    assert reply.lease == LeaseInfo("ci-a:12:ab12", 1004, 1000, 7, "0123456789abcdef")
    assert reply.lease.seconds_left == 4 and reply.lease.live


def test_a_device_without_any_lease_replies_with_no_lease():
    reply = parse_reply("now=5\nepoch=0\nlease=\nstate=read\n")
    assert reply.lease is None and reply.epoch == 0


def test_released_and_expired_leases_are_not_live():
    released = parse_target("ci-a:1:x 0 tok", 3, 1000)
    assert released is not None and not released.live and released.seconds_left == 0
    expired = parse_target("ci-a:1:x 1000 tok", 3, 1000)  # free from its expires_at second on
    assert expired is not None and not expired.live


@pytest.mark.parametrize("text, field", [
    ("epoch=1\nlease=\nstate=busy\n", "now"),
    ("now=1\nlease=\nstate=busy\n", "epoch"),
    ("now=1\nepoch=1\nlease=\n", "state"),
    ("", "now"),
])
def test_a_reply_missing_a_field_is_a_parse_error_naming_it(text, field):
    with pytest.raises(ParseError) as err:
        parse_reply(text)
    assert err.value.field == field


@pytest.mark.parametrize("target", ["holder-only", "a b", "a notanumber tok", "a 1 tok extra"])
def test_a_malformed_lease_target_is_a_parse_error(target):
    with pytest.raises(ParseError):
        parse_target(target, 1, 1)


def test_default_holder_is_host_pid_and_a_short_uuid_and_unique():
    a, b = default_holder(), default_holder()
    host, pid, short = a.split(":")
    assert host and pid.isdigit() and len(short) == 8 and a != b


@pytest.mark.parametrize("holder", ["with space", "a/b", "", "x" * 201, "glob*", "new\nline"])
def test_holders_that_would_break_the_on_device_format_are_refused(holder, tmp_path):
    with pytest.raises(ConfigError):
        DeviceLease(LocalTransport(workdir=tmp_path), holder=holder or " ")


def test_constructing_a_lease_does_no_io(tmp_path):
    workdir = tmp_path / "not-yet"
    lease = DeviceLease(LocalTransport(workdir=workdir), ttl_s=3)
    assert not workdir.exists() and lease.epoch is None and not lease.lost and not lease.held
    assert lease.renew_every_s == 1.0
    with pytest.raises(ConfigError):
        DeviceLease(LocalTransport(workdir=workdir), ttl_s=0.5)


def test_device_busy_is_a_harness_error_saying_who_and_for_how_long():
    err = DeviceBusy("pixel", LeaseInfo("ci-b:99:deadbeef", 1060, 1015, 3, "t"), waited_s=30)
    assert isinstance(err, HarnessError)
    assert (err.holder, err.seconds_left, err.expires_at) == ("ci-b:99:deadbeef", 45, 1060)
    assert "pixel is busy after waiting 30 s: held by ci-b:99:deadbeef, free in 45 s" in str(err)


def test_the_script_sent_to_devices_fits_an_old_adbd_command_line():
    text = script_text()
    assert len(text.encode()) < 3000  # adbd before Android 7 takes 4 KiB per service request
    assert "#" not in "".join(line[:1] for line in text.splitlines())
