"""The first ten minutes: phones and boards named with no devices.toml at all.

Against the real peers: Debian's adb server with real adbd devices in namespaces (tests/emulated)
whose ro.product.model says "Pixel 7" and "Pixel 8 Pro", and the real OpenSSH sshd on loopback.
Every test runs the `harness` command line with no inventory anywhere (empty working folder,
private XDG_CONFIG_HOME), finding the adb server as `adb` does (ANDROID_ADB_SERVER_PORT or
ADB_SERVER_SOCKET).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from harness import load_results
from tests.emulated.adb_device import DeviceSpec

FAST = ["--min-runs", "5", "--min-seconds", "0.05", "--repeats", "1", "--no-profile"]
PHONES = [
    DeviceSpec(name="panther", props={"ro.product.model": "Pixel 7", "ro.product.name": "panther",
                                      "ro.product.device": "panther"}),
    DeviceSpec(name="husky", props={"ro.product.model": "Pixel 8 Pro", "ro.product.name": "husky",
                                    "ro.product.device": "husky"}),
]


@pytest.fixture(scope="module")
def phones():
    """Two phones on one adb server, for the whole module (the tests only read them)."""
    from tests.emulated.adb_farm import AdbFarm
    from tests.emulated.fixtures import _skip_if_impossible

    _skip_if_impossible()
    with AdbFarm(PHONES) as farm:
        yield farm


def serial_of(farm, name: str) -> str:
    return farm.device(name).serial


def adb_env(farm) -> dict[str, str]:
    return {"ANDROID_ADB_SERVER_PORT": str(farm.server_port)}


def test_devices_lists_what_the_default_adb_server_sees(phones, harness_cli):
    proc = harness_cli("devices", env=adb_env(phones))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for name, model in (("panther", "Pixel 7"), ("husky", "Pixel 8 Pro")):
        line = next(line for line in out.splitlines() if serial_of(phones, name) in line)
        assert model in line and "device" in line
    assert "pixel-7 " in out and "pixel-8-pro" in out  # suggested names, from ro.product.model
    assert "local" in out


def test_adb_server_socket_is_honoured_like_adb_does(phones, harness_cli):
    env = {"ADB_SERVER_SOCKET": f"tcp:127.0.0.1:{phones.server_port}", "ANDROID_ADB_SERVER_PORT": "1"}
    proc = harness_cli("devices", env=env)  # ADB_SERVER_SOCKET wins over the port variable, as in adb
    assert proc.returncode == 0, proc.stderr
    assert serial_of(phones, "panther") in proc.stdout
    bad = harness_cli("devices", "facts", "pixel", env={"ADB_SERVER_SOCKET": "localfilesystem:/tmp/adb"})
    assert bad.returncode == 2 and "tcp:HOST:PORT" in bad.stderr


def test_a_model_name_resolves_and_runs(phones, harness_cli, tmp_path):
    proc = harness_cli("run", "--device", "pixel 7", "--runner", "litert", "--example", "tiny_cnn",
                       "--variants", "fp32,int8", *FAST, "--results", "r", env=adb_env(phones), timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    runs = load_results(tmp_path / "r").runs
    assert set(runs["device"]) == {"pixel-7"} and (runs["status"] == "ok").all() and len(runs) == 2
    assert set(runs["device_model"]) == {"Pixel 7"} and set(runs["transport"]) == {"adb"}


@pytest.mark.parametrize("query, expected", [("pixel 8", "husky"), ("PIXEL_8_pro", "husky"), ("panther", "panther"),
                                             ("pixel-7", "panther"), ("Pixel 7", "panther")])
def test_names_match_model_product_or_device_case_insensitively(phones, harness_cli, query, expected):
    proc = harness_cli("devices", "facts", query, env=adb_env(phones))
    assert proc.returncode == 0, proc.stderr
    model = phones.device(expected).spec.props["ro.product.model"]
    other = next(p.props["ro.product.model"] for p in PHONES if p.name != expected)
    assert f'"{model}"' in proc.stdout and f'"{other}"' not in proc.stdout


def test_an_exact_serial_resolves(phones, harness_cli):
    proc = harness_cli("devices", "facts", serial_of(phones, "husky"), env=adb_env(phones))
    assert proc.returncode == 0, proc.stderr
    assert "Pixel 8 Pro" in proc.stdout


def test_two_matches_exit_2_listing_both_serials(phones, harness_cli):
    proc = harness_cli("run", "--device", "pixel", "--example", "tiny_cnn", *FAST, env=adb_env(phones))
    assert proc.returncode == 2
    assert serial_of(phones, "panther") in proc.stderr and serial_of(phones, "husky") in proc.stderr
    assert "matches 2 attached devices" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_no_match_exits_2_listing_what_is_attached(phones, harness_cli, tmp_path):
    proc = harness_cli("run", "--device", "galaxy", "--example", "tiny_cnn", *FAST, env=adb_env(phones))
    assert proc.returncode == 2
    assert "Unknown device 'galaxy'" in proc.stderr
    assert f"{serial_of(phones, 'panther')} (Pixel 7, device)" in proc.stderr
    assert f"{serial_of(phones, 'husky')} (Pixel 8 Pro, device)" in proc.stderr
    assert not (tmp_path / "results").exists()


def test_no_adb_server_says_how_to_start_one(harness_cli, tmp_path):
    from tests.emulated.adb_farm import free_port

    proc = harness_cli("run", "--device", "pixel", env={"ANDROID_ADB_SERVER_PORT": str(free_port())})
    assert proc.returncode == 2 and "adb start-server" in proc.stderr
    listing = harness_cli("devices", env={"ANDROID_ADB_SERVER_PORT": str(free_port())})
    assert listing.returncode == 0 and "local" in listing.stdout and "adb start-server" in listing.stderr


def test_inventory_entries_always_win(phones, harness_cli, tmp_path):
    husky = serial_of(phones, "husky")
    (tmp_path / "devices.toml").write_text(
        f'[devices.pixel]\ntransport = "adb"\nserial = "{husky}"\nrunner = "litert"\n')
    proc = harness_cli("run", "--device", "pixel", "--example", "tiny_cnn", "--variants", "fp32", *FAST,
                       "--results", "r", env=adb_env(phones), timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    runs = load_results(tmp_path / "r").runs
    assert set(runs["device"]) == {"pixel"} and set(runs["device_model"]) == {"Pixel 8 Pro"}
    listing = harness_cli("devices", env=adb_env(phones)).stdout
    assert listing.count(husky) == 1  # listed once, under its inventory name


def test_devices_add_then_use_by_name(phones, harness_cli, tmp_path):
    config = tmp_path / "xdg-config" / "harness" / "devices.toml"
    proc = harness_cli("devices", "add", "desk", "--serial", serial_of(phones, "panther"), "--tags", "android,desk",
                       env=adb_env(phones))
    assert proc.returncode == 0, proc.stderr
    assert str(config) in proc.stderr
    entry = tomllib.loads(config.read_text())["devices"]["desk"]
    assert entry == {"transport": "adb", "serial": serial_of(phones, "panther"), "tags": ["android", "desk"]}
    facts = harness_cli("devices", "facts", "desk", env=adb_env(phones))
    assert facts.returncode == 0 and "Pixel 7" in facts.stdout


def test_devices_add_keeps_comments_and_order(harness_cli, tmp_path):
    inv = tmp_path / "devices.toml"
    original = ("# our farm\n\n[devices.pixel]   # the desk phone\ntransport = \"adb\"\nserial = \"1A2B\"  # USB\n\n"
                "# boards below\n[devices.pi5]\ntransport = \"ssh\"\nhost = \"pi5.lan\"\n")
    inv.write_text(original)
    inv.chmod(0o600)
    assert harness_cli("devices", "add", "pi4", "--host", "pi@10.0.0.7:2222", "--inventory", str(inv)).returncode == 0
    # no --inventory: the one in force, ./devices.toml
    assert harness_cli("devices", "add", "tab", "--serial", "R52N", "--tags", "tablet").returncode == 0
    text = inv.read_text()
    assert text.startswith(original)  # comments, order and spacing untouched; new entries at the end
    assert text.index("[devices.pi4]") < text.index("[devices.tab]")
    data = tomllib.loads(text)["devices"]
    assert list(data) == ["pixel", "pi5", "pi4", "tab"]
    assert data["pi4"] == {"transport": "ssh", "host": "10.0.0.7", "user": "pi", "port": 2222}
    assert inv.stat().st_mode & 0o777 == 0o600
    again = harness_cli("devices", "add", "pi4", "--host", "pi@10.0.0.8")
    assert again.returncode == 2 and "--replace" in again.stderr and inv.read_text() == text
    for bad in (["bad name", "--serial", "X"], ["x", "--serial", "A", "--host", "h"], ["x", "--host", "u@h:port"],
                ["x", "--serial", "A", "--runner", "tflite"], ["local", "--serial", "A"]):
        proc = harness_cli("devices", "add", *bad)
        assert proc.returncode == 2, bad
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert inv.read_text() == text
    assert harness_cli("devices", "add", "pi4", "--host", "pi@10.0.0.8", "--replace").returncode == 0
    assert tomllib.loads(inv.read_text())["devices"]["pi4"]["host"] == "10.0.0.8"
    assert "# boards below" in inv.read_text()


def _ssh_home(tmp_path: Path, board, *, known: bool) -> dict[str, str]:
    home = tmp_path / "home"
    ssh = home / ".ssh"
    ssh.mkdir(parents=True, exist_ok=True)
    key = ssh / "id_ed25519"
    key.write_bytes(Path(board.key_path).read_bytes())
    key.chmod(0o600)
    if known:
        (ssh / "known_hosts").write_text(board.known_hosts_line())
    return {"HOME": str(home)}


def test_an_ad_hoc_ssh_board_is_verified_like_an_inventory_board(sshd, harness_cli, tmp_path):
    spec = f"ssh://{sshd.user}@{sshd.host}:{sshd.port}"
    env = _ssh_home(tmp_path, sshd, known=False)
    refused = harness_cli("devices", "facts", spec, env=env)
    assert refused.returncode != 0
    assert "ssh-keyscan" in refused.stderr and sshd.host_key_fingerprint in refused.stderr
    env = _ssh_home(tmp_path, sshd, known=True)
    facts = harness_cli("devices", "facts", spec, env=env)
    assert facts.returncode == 0, facts.stderr
    assert '"glibc"' in facts.stdout
    # an unprovisioned ad-hoc board: the advice names it the way the user can type it
    proc = harness_cli("run", "--device", spec, "--example", "tiny_cnn", *FAST, env=env)
    assert proc.returncode == 2 and f"harness devices provision {spec}" in proc.stderr


def test_an_ad_hoc_board_by_ssh_config_alias_runs(sshd, harness_cli, tmp_path):
    from tests.doubles.benchmark_model_double import write_double

    env = _ssh_home(tmp_path, sshd, known=True)
    (Path(env["HOME"]) / ".ssh" / "config").write_text(
        f"Host bench-board\n  HostName {sshd.host}\n  Port {sshd.port}\n  User {sshd.user}\n")
    double = write_double(tmp_path / "benchmark_model")
    added = harness_cli("tools", "add", "benchmark_model", str(double), "--abi", "linux-x86_64", "--version", "double",
                        env=env)
    assert added.returncode == 0, added.stderr
    proc = harness_cli("run", "--device", "ssh://bench-board", "--runner", "benchmark_model", "--example", "tiny_cnn",
                       "--variants", "int8", *FAST, "--results", "r", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    runs = load_results(tmp_path / "r").runs
    assert set(runs["device"]) == {"bench-board"} and set(runs["transport"]) == {"ssh"}
    assert (runs["status"] == "ok").all()
