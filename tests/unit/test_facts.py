from __future__ import annotations

import platform
import shutil
import subprocess

import pytest

from harness.facts import parse_facts, parse_thermal
from harness.resources import device_script

# The shape device_facts.sh prints on an Android phone (keys from the script; values typical
# of a Pixel 7: Tensor G2, 2+2+4 cores). Hand-written for the parser, not captured.
PHONE = """\
uname.m=aarch64
uname.s=Linux
uname.r=5.10.157-android13-4
hostname=localhost
prop.ro.product.model=Pixel 7
prop.ro.product.manufacturer=Google
prop.ro.soc.model=GS201
prop.ro.product.cpu.abilist=arm64-v8a,armeabi-v7a,armeabi
prop.ro.build.version.sdk=34
cpu.model=
cpu.part.0xd05=4
cpu.part.0xd41=2
cpu.part.0xd44=2
cpu.cores=8
cpufreq.cpu0=1803000:sched_pixel
cpufreq.cpu1=1803000:sched_pixel
cpufreq.cpu4=2348000:sched_pixel
cpufreq.cpu6=2850000:sched_pixel
battery.level=87
thermal.status=1
thermal.thermal_zone0=BIG:41200
thermal.thermal_zone1=LITTLE:38900
battery.temp=312
"""


def test_phone_facts():
    f = parse_facts(PHONE)
    assert f["device_model"] == "Pixel 7" and f["soc"] == "GS201"
    assert f["abi"] == "arm64-v8a" and f["abis"][1] == "armeabi-v7a"
    assert f["os"] == "Android SDK 34" and f["cores"] == 8
    assert [c["max_freq_khz"] for c in f["clusters"]] == [2850000, 2348000, 1803000]
    assert f["clusters"][0]["cpus"] == ["cpu6"]
    assert f["governors"]["cpu4"] == "sched_pixel"
    assert f["max_temp_c"] == 41.2 and f["battery_temp_c"] == 31.2 and f["battery_level"] == 87
    assert f["thermal_status"] == 1 and f["emulator"] is False
    assert set(f["thermal_zones_c"]) == {"thermal_zone0:BIG", "thermal_zone1:LITTLE"}


def test_emulator_is_recognised():
    assert parse_facts("prop.ro.hardware=ranchu\nprop.ro.build.version.sdk=34\n")["emulator"] is True
    assert parse_facts("prop.ro.kernel.qemu=1\n")["emulator"] is True


def test_board_facts_without_props():
    f = parse_facts("uname.m=aarch64\ndt.model=Raspberry Pi 5 Model B Rev 1.0\nos.pretty=Debian GNU/Linux 12\n")
    assert f["device_model"].startswith("Raspberry Pi 5") and f["abi"] == "aarch64"
    assert f["os"] == "Debian GNU/Linux 12" and f["sdk"] is None


def test_unreadable_facts_stay_null():
    f = parse_facts("")
    assert f["cores"] is None and f["max_temp_c"] is None and f["clusters"] is None
    assert parse_thermal("thermal.thermal_zone0=x:notanumber\n")["max_temp_c"] is None


def test_raspberry_pi_throttling_and_versions():
    f = parse_facts("dt.model=Raspberry Pi 5 Model B Rev 1.0\nrpi.throttled=0x50005\nglibc=2.36\npython=3.11.2\n")
    assert f["throttled_now"] == ["under-voltage", "throttled"]
    assert f["throttled_since_boot"] == ["under-voltage", "throttled"]
    assert f["glibc"] == "2.36" and f["python"] == "3.11.2"
    assert parse_facts("rpi.throttled=0x0\n")["throttled_now"] == []
    assert parse_facts("")["throttled_now"] is None


def test_throttling_verdicts():
    from harness.facts import throttling

    assert throttling(parse_thermal("thermal.status=3\n")).startswith("thermal status 3")
    assert throttling(parse_thermal("thermal.status=2\n")) is None
    assert "throttled" in throttling(parse_thermal("rpi.throttled=0x4\n"))
    assert throttling(parse_thermal("rpi.throttled=0x40000\n")) is None  # only in the past
    assert throttling(parse_thermal("")) is None


def _facts_script(env: dict[str, str], *args: str, shell: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    """device_facts.sh run by ``shell`` (sh) with only ``env``, as a device would."""
    return subprocess.run([*(shell or ["sh"]), str(device_script("device_facts.sh")), *args], env=env,
                          capture_output=True, text=True, check=True, timeout=60)


@pytest.mark.parametrize("shell", ["sh", "busybox sh"])
def test_thermal_script_reads_zones_and_battery_without_a_process_per_file(tmp_path, shell):
    """device_facts.sh thermal over a sysfs tree (HARNESS_SYSFS): each zone's type and temperature,
    a zone without a type, a zone whose temperature cannot be read (skipped), the battery; run by
    dash and by busybox's sh (the boards without Python)."""
    argv = shell.split()
    found = shutil.which(argv[0])
    if found is None:
        pytest.skip(f"{argv[0]} is not installed")
    argv[0] = found
    thermal = tmp_path / "class" / "thermal"
    for name, temp, kind in (("thermal_zone0", "41200\n", "BIG\n"), ("thermal_zone1", "38900", None),
                             ("thermal_zone2", None, "skin\n"), ("thermal_zone10", "", "gpu\n")):
        zone = thermal / name
        zone.mkdir(parents=True)
        if temp is not None:
            (zone / "temp").write_text(temp)
        if kind is not None:
            (zone / "type").write_text(kind)
    (tmp_path / "class" / "power_supply" / "battery").mkdir(parents=True)
    (tmp_path / "class" / "power_supply" / "battery" / "temp").write_text("312\n")
    no_tools = tmp_path / "bin"  # PATH without head, tr, cat: the shell's own read or nothing
    no_tools.mkdir()
    env = {"PATH": str(no_tools), "HARNESS_SYSFS": str(tmp_path)}
    out = _facts_script(env, "thermal", shell=argv)
    assert out.stderr == ""
    assert sorted(out.stdout.splitlines()) == ["battery.temp=312", "thermal.thermal_zone0=BIG:41200",
                                               "thermal.thermal_zone1=unknown:38900"]
    t = parse_thermal(out.stdout)
    assert t["max_temp_c"] == 41.2 and t["battery_temp_c"] == 31.2


@pytest.mark.parametrize(("says", "expected"), [("Python 3.9.2", "3.9.2"), ("Python 2.7.18", "2.7.18"),
                                                ("pyenv: python3: command not found", "")])
def test_facts_script_asks_python_its_version_without_starting_it(tmp_path, says, expected):
    """The python fact comes from ``python3 --version`` (what a phone's or board's python3 says,
    stdout or stderr), never from starting the interpreter; anything else is no version."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "python3"
    fake.write_text(f'#!/bin/sh\n[ "$1" = --version ] || exit 1\necho "{says}" >&2\n')
    fake.chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HARNESS_SYSFS": str(tmp_path / "sys")}
    out = _facts_script(env)
    assert [line for line in out.stdout.splitlines() if line.startswith("python=")] == [f"python={expected}"]
    assert parse_facts(out.stdout)["python"] == (expected or None)


def test_facts_script_reads_android_props_from_one_getprop_listing(tmp_path):
    """On Android: one ``getprop`` (no argument: every property as ``[key]: [value]``), the keys
    harness reads kept, empty values and look-alike keys left out; uname's four facts from one call."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    listing = ("[ro.board.platform]: [gs201]\n"
               "[ro.build.fingerprint]: [google/panther/panther:14/UQ1A:user/release-keys]\n"
               "[ro.hardware]: []\n[ro.product.model]: [Pixel 7]\n[ro.product.model.x]: [no]\n"
               "[vendor.ro.product.model]: [no]\n[ro.product.cpu.abilist]: [arm64-v8a,armeabi-v7a]\n")
    getprop = bin_dir / "getprop"  # a key asked one by one gets nothing: the listing is the only answer
    getprop.write_text(f"#!/bin/sh\n[ \"$#\" -eq 0 ] || exit 0\nprintf '%s' '{listing}'\n")
    getprop.chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HARNESS_SYSFS": str(tmp_path / "sys")}
    out = _facts_script(env)
    props = sorted(line for line in out.stdout.splitlines() if line.startswith("prop."))
    assert props == ["prop.ro.board.platform=gs201",
                     "prop.ro.build.fingerprint=google/panther/panther:14/UQ1A:user/release-keys",
                     "prop.ro.product.cpu.abilist=arm64-v8a,armeabi-v7a", "prop.ro.product.model=Pixel 7"]
    facts = parse_facts(out.stdout)
    assert facts["device_model"] == "Pixel 7" and facts["abi"] == "arm64-v8a" and facts["soc"] == "gs201"
    uname = dict(line.split("=", 1) for line in out.stdout.splitlines() if line.split("=")[0] in
                 ("uname.m", "uname.s", "uname.r", "hostname"))
    assert uname == {"uname.m": platform.machine(), "uname.s": platform.system(), "uname.r": platform.release(),
                     "hostname": platform.node()}
