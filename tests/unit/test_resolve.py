"""Device-name resolution without an adb server: the order, the matching rules, ssh:// parsing."""

from __future__ import annotations

import pytest

from harness.config import LOCAL_DEVICE, Device, Inventory, split_user_host
from harness.errors import AmbiguousDeviceError, TransportError, UnknownDeviceError, UserError
from harness.resolve import Attached, Discovery, Resolver, match_attached, parse_ssh_device, slug
from harness.transport.adb import server_address

SERVER = "127.0.0.1:5037"
P7 = Attached("1A2B", "device", SERVER, model="Pixel_7", product="panther", device="panther", name="pixel-7")
P8 = Attached("3C4D", "device", SERVER, model="Pixel_8_Pro", product="husky", device="husky", name="pixel-8-pro")
P8S = Attached("5E6F", "device", SERVER, model="Pixel_8", product="shiba", device="shiba", name="pixel-8")
LOCKED = Attached("7G8H", "unauthorized", SERVER, name="7g8h")


def resolver(*attached: Attached, devices: dict[str, Device] | None = None, calls: list[int] | None = None) -> Resolver:
    inv = Inventory(devices={"local": LOCAL_DEVICE, **(devices or {})})

    def fake(_inv: Inventory) -> Discovery:
        if calls is not None:
            calls.append(1)
        return Discovery(attached=list(attached))

    return Resolver(inv, discover_fn=fake)


def test_inventory_names_never_ask_adb():
    calls: list[int] = []
    r = resolver(P7, calls=calls)
    assert r.resolve("local") is LOCAL_DEVICE
    assert r.select("local") == [LOCAL_DEVICE]
    assert calls == []


@pytest.mark.parametrize("query, serial", [("PIXEL 7", "1A2B"), ("pixel_7", "1A2B"),
                                           ("panther", "1A2B"), ("pixel 8", "3C4D"), ("husky", "3C4D"),
                                           ("3C4D", "3C4D"), ("pixel-8-pro", "3C4D"), ("7G8H", "7G8H")])
def test_matches_with_two_phones(query, serial):
    assert resolver(P7, P8, LOCKED).resolve(query).serial == serial


def test_two_matches_are_an_error_listing_both():
    with pytest.raises(AmbiguousDeviceError) as err:
        resolver(P7, P8).resolve("pixel")
    assert "1A2B (Pixel 7, device)" in str(err.value) and "3C4D (Pixel 8 Pro, device)" in str(err.value)
    assert err.value.exit_code == 2


def test_a_whole_name_beats_a_partial_one():
    assert resolver(P8, P8S).resolve("pixel 8").serial == "5E6F"  # Pixel 8, not Pixel 8 Pro
    assert [a.serial for a in match_attached("pixel 8", [P8, P8S])] == ["5E6F"]
    assert [a.serial for a in match_attached("pix", [P7, P8])] == ["1A2B", "3C4D"]
    assert match_attached("ixel", [P7]) == []  # a match starts a word


def test_no_match_lists_what_is_attached():
    with pytest.raises(UnknownDeviceError) as err:
        resolver(P7, LOCKED).resolve("galaxy")
    assert "1A2B (Pixel 7, device)" in str(err.value) and "7G8H (model unknown, unauthorized)" in str(err.value)
    with pytest.raises(UnknownDeviceError, match="no device is attached"):
        resolver().resolve("galaxy")


def test_inventory_entries_win_over_attached_devices():
    entry = Device(name="pixel", transport="adb", serial="3C4D")
    r = resolver(P7, P8, devices={"pixel": entry})
    assert r.resolve("pixel") is entry  # not ambiguous: the inventory's name
    assert r.resolve("3C4D") is entry  # its serial
    assert r.resolve("pixel 8") is entry  # an attached phone the inventory names comes back as that entry
    assert r.resolve("pixel 7").name == "pixel-7"


def test_attached_devices_become_adb_devices_on_their_server():
    d = resolver(P7).resolve("pixel 7")
    assert (d.name, d.transport, d.serial, d.adb_server, d.default_runner) == (
        "pixel-7", "adb", "1A2B", SERVER, "benchmark_model")


def test_select_mixes_names_and_takes_each_device_once():
    r = resolver(P7, P8)
    names = [d.name for d in r.select("local,pixel 7,1A2B,husky")]
    assert names == ["local", "pixel-7", "pixel-8-pro"]


@pytest.mark.parametrize("spec, name, user, host, port", [
    ("ssh://pi@10.0.0.5:2222", "10.0.0.5-2222", "pi", "10.0.0.5", 2222),
    ("ssh://pi5", "pi5", None, "pi5", None),
    ("ssh://root@[2001:db8::1]:22", "2001:db8::1-22", "root", "2001:db8::1", 22),
    ("ssh://Board.lan", "Board.lan", None, "Board.lan", None),
])
def test_ssh_urls(spec, name, user, host, port):
    d = parse_ssh_device(spec)
    assert (d.name, d.user, d.host, d.port, d.transport, d.default_runner) == (name, user, host, port, "ssh", "litert")
    assert d.ref == spec  # how the advice names it again
    assert resolver().resolve(spec) == d


@pytest.mark.parametrize("bad", ["ssh://", "ssh://pi@", "ssh://h:x", "ssh://h:0", "ssh://h/path", "ssh://h:70000"])
def test_bad_ssh_urls_say_how_to_write_them(bad):
    with pytest.raises(UserError):
        parse_ssh_device(bad)


def test_split_user_host():
    assert split_user_host("pi@h:22") == ("pi", "h", 22)
    assert split_user_host("h") == (None, "h", None)


def test_slug():
    assert slug("Pixel_7") == "pixel-7" and slug("SM-S918B") == "sm-s918b"
    assert slug("127.0.0.1:5555") == "127-0-0-1-5555"


def test_adb_server_is_found_as_adb_finds_it(monkeypatch):
    for var in ("ADB_SERVER_SOCKET", "ANDROID_ADB_SERVER_ADDRESS", "ANDROID_ADB_SERVER_PORT"):
        monkeypatch.delenv(var, raising=False)
    assert server_address(None) == ("127.0.0.1", 5037)
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", "5038")
    assert server_address(None) == ("127.0.0.1", 5038)
    monkeypatch.setenv("ANDROID_ADB_SERVER_ADDRESS", "10.0.0.2")
    assert server_address(None) == ("10.0.0.2", 5038)
    monkeypatch.setenv("ADB_SERVER_SOCKET", "tcp:localhost:6000")
    assert server_address(None) == ("localhost", 6000)
    monkeypatch.setenv("ADB_SERVER_SOCKET", "tcp:6001")
    assert server_address(None) == ("127.0.0.1", 6001)
    assert server_address("h:1") == ("h", 1)  # the inventory's adb_server wins
    monkeypatch.setenv("ADB_SERVER_SOCKET", "localabstract:adb")
    with pytest.raises(TransportError, match="TCP only"):
        server_address(None)
    monkeypatch.delenv("ADB_SERVER_SOCKET")
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", "port")
    with pytest.raises(TransportError, match="port number"):
        server_address(None)


def test_one_phone_is_found_by_a_word_of_its_model():
    assert resolver(P7).resolve("pixel").serial == "1A2B"


def test_suggested_names_are_unique_and_never_an_inventory_name(monkeypatch):
    from harness import resolve
    from harness.transport import adb

    rows = [{"serial": s, "state": "device", "model": m, "product": "", "device": "", "server": SERVER}
            for s, m in (("AAA1", "Pixel_7"), ("BBB2", "Pixel_7"), ("CCC3", "SM_S918B"), ("DDD4", ""))]
    monkeypatch.setattr(adb, "list_server_devices", lambda server=None: rows)
    monkeypatch.delenv("ADB_SERVER_SOCKET", raising=False)
    monkeypatch.delenv("ANDROID_ADB_SERVER_PORT", raising=False)
    inv = Inventory(devices={"local": LOCAL_DEVICE, "sm-s918b": Device(name="sm-s918b", transport="adb", serial="Z")})
    names = [a.name for a in resolve.discover(inv).attached]
    assert names == ["pixel-7-aaa1", "pixel-7-bbb2", "sm-s918b-ccc3", "ddd4"]
    assert Resolver(inv).resolve("pixel-7-bbb2").serial == "BBB2"
