"""The emulated Android devices behave like devices: real adb server, real adbd, real protocols.

These tests check the fixtures other tests rely on (tests/emulated/), through the real `adb` CLI
and adbutils; the harness's own ADB transport is tested elsewhere on top of them. The fixtures
(adb_farm, adb_farm_arm64, make_adb_farm) come from tests.emulated.fixtures via tests/conftest.py.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from tests.emulated.adb_device import DeviceSpec
from tests.emulated.adb_farm import AdbFarm

CAP_SYS_BOOT = 22


def sh(farm: AdbFarm, serial: str, command: str, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    """`adb -s SERIAL shell COMMAND` against the farm's server (the command is one device-side string)."""
    return farm.adb("-s", serial, "shell", command, timeout=timeout)


def text(data: bytes) -> str:
    return data.decode(errors="replace")


# -- the device as the adb server sees it -----------------------------------------------------------

def test_device_is_listed_with_state_device_and_model(adb_farm: AdbFarm) -> None:
    serial = adb_farm.serials[0]
    out = text(adb_farm.adb("devices", "-l", check=True).stdout)
    line = next(line for line in out.splitlines() if line.startswith(serial))
    assert line.split()[1] == "device"
    assert "model:Emulated_x86_64" in line  # the relay fills the banner's empty ro.product.* fields
    assert not re.search(r"^emulator-\d+", out, re.M)  # ADB_LOCAL_TRANSPORT_MAX_PORT keeps 5555 out


def test_device_advertises_shell_v2(adb_farm: AdbFarm) -> None:
    features = text(adb_farm.adb("-s", adb_farm.serials[0], "features", check=True).stdout).split()
    assert "shell_v2" in features
    assert "stat_v2" in features


def test_shell_v2_keeps_exit_code_and_separates_stderr(adb_farm: AdbFarm) -> None:
    proc = sh(adb_farm, adb_farm.serials[0], "echo out; echo err >&2; exit 7")
    assert proc.returncode == 7
    assert proc.stdout == b"out\n"
    assert proc.stderr == b"err\n"
    assert sh(adb_farm, adb_farm.serials[0], "true").returncode == 0


def test_shell_is_posix_sh_with_coreutils_on_path(adb_farm: AdbFarm) -> None:
    tools = ["sh", "sha256sum", "mkdir", "mv", "test", "cat", "rm", "getprop", "python3"]
    proc = sh(adb_farm, adb_farm.serials[0], "for t in " + " ".join(tools) + '; do command -v "$t" || exit 1; done')
    assert proc.returncode == 0, proc
    found = dict(zip(tools, text(proc.stdout).split(), strict=True))
    assert found["getprop"] == "/system/bin/getprop"
    assert found["python3"] == "/system/bin/python3"


def test_getprop_answers_like_a_phone(adb_farm: AdbFarm) -> None:
    serial = adb_farm.serials[0]
    expected = adb_farm.device(serial).spec.all_props()
    for key in ("ro.product.model", "ro.product.manufacturer", "ro.soc.model", "ro.board.platform",
                "ro.product.cpu.abilist", "ro.build.version.sdk", "ro.build.fingerprint", "sys.boot_completed",
                "ro.kernel.qemu"):
        proc = sh(adb_farm, serial, f"getprop {key}")
        assert proc.returncode == 0
        assert text(proc.stdout) == expected[key] + "\n", key
    assert text(sh(adb_farm, serial, "getprop sys.boot_completed").stdout) == "1\n"
    assert text(sh(adb_farm, serial, "getprop no.such.property").stdout) == "\n"
    listing = text(sh(adb_farm, serial, "getprop").stdout)
    parsed = dict(re.findall(r"^\[([^\]]+)\]: \[([^\]]*)\]$", listing, re.M))
    assert parsed == expected


def test_push_pull_5mb_and_device_side_sha256(adb_farm: AdbFarm, tmp_path: Path) -> None:
    serial = adb_farm.serials[0]
    payload = os.urandom(5 * 1024 * 1024)
    src = tmp_path / "blob.bin"
    src.write_bytes(payload)
    adb_farm.adb("-s", serial, "push", str(src), "/data/local/tmp/blob.bin", check=True)
    proc = sh(adb_farm, serial, "sha256sum /data/local/tmp/blob.bin")
    assert text(proc.stdout).split()[0] == hashlib.sha256(payload).hexdigest()
    back = tmp_path / "back.bin"
    adb_farm.adb("-s", serial, "pull", "/data/local/tmp/blob.bin", str(back), check=True)
    assert back.read_bytes() == payload
    # The device's /data is its own folder, not the host's /data.
    assert (adb_farm.device(serial).device.data_dir / "local/tmp/blob.bin").read_bytes() == payload
    assert not Path("/data/local/tmp/blob.bin").exists()
    sh(adb_farm, serial, "rm /data/local/tmp/blob.bin")


def test_devices_have_private_data_folders(make_adb_farm) -> None:
    farm = make_adb_farm(2)
    a, b = farm.serials
    assert sh(farm, a, "echo from-a > /data/local/tmp/mark").returncode == 0
    assert sh(farm, b, "test -e /data/local/tmp/mark").returncode == 1
    assert text(sh(farm, a, "cat /data/local/tmp/mark").stdout) == "from-a\n"


def test_x86_64_device_runs_numpy_and_litert(adb_farm: AdbFarm) -> None:
    proc = sh(adb_farm, adb_farm.serials[0],
              'python3 -c "import numpy, ai_edge_litert, platform; print(platform.machine(), numpy.__version__)"',
              timeout=120)
    assert proc.returncode == 0, proc
    assert text(proc.stdout).split()[0] == "x86_64"


def test_adbutils_sees_the_device_and_gets_exit_codes(adb_farm: AdbFarm, tmp_path: Path) -> None:
    import adbutils

    client = adbutils.AdbClient(host="127.0.0.1", port=adb_farm.server_port)
    serials = {d.serial: d.state for d in client.list()}
    assert serials == {adb_farm.serials[0]: "device"}
    device = client.device(adb_farm.serials[0])
    result = device.shell2("echo hi; exit 5", v2=True)
    assert (result.returncode, result.stdout) == (5, "hi\n")
    assert device.getprop("ro.product.model") == "Emulated x86_64"
    device.sync.push(b"x" * 1000, "/data/local/tmp/adbutils.txt")
    assert device.sync.read_bytes("/data/local/tmp/adbutils.txt") == b"x" * 1000


# -- faults ------------------------------------------------------------------------------------------

def test_killed_device_goes_offline_and_comes_back(make_adb_farm) -> None:
    farm = make_adb_farm(1)
    serial = farm.serials[0]
    assert sh(farm, serial, "echo keep > /data/local/tmp/keep").returncode == 0
    farm.kill_device(serial)
    farm.wait_state(serial, "offline", timeout=10)
    assert sh(farm, serial, "true", timeout=30).returncode != 0
    farm.revive_device(serial)
    assert farm.states()[serial] == "device"
    assert text(sh(farm, serial, "cat /data/local/tmp/keep").stdout) == "keep\n"  # /data survives a restart


def test_adb_server_restart_reconnects_devices(make_adb_farm) -> None:
    farm = make_adb_farm(2)
    port = farm.server_port
    farm.restart_server()
    assert farm.server_port == port
    assert farm.states() == dict.fromkeys(farm.serials, "device")
    assert sh(farm, farm.serials[1], "exit 4").returncode == 4


def test_device_without_shell_v2_loses_exit_code_on_legacy_shell(make_adb_farm) -> None:
    farm = make_adb_farm([DeviceSpec(name="legacy", shell_v2=False)])
    serial = farm.serials[0]
    features = text(farm.adb("-s", serial, "features", check=True).stdout).split()
    assert "shell_v2" not in features
    proc = sh(farm, serial, "echo out; echo err >&2; exit 7")
    assert proc.returncode == 0  # legacy shell: no exit status on the wire
    assert b"out" in proc.stdout and b"err" in proc.stdout  # one PTY-less stream carries both


def test_farm_of_eight_devices(make_adb_farm) -> None:
    specs = [DeviceSpec(name=f"dev{i}", props={"ro.product.model": f"Model {i}"}) for i in range(8)]
    t0 = time.monotonic()
    farm = make_adb_farm(specs)
    took = time.monotonic() - t0
    assert len(set(farm.serials)) == 8
    assert farm.states() == dict.fromkeys(farm.serials, "device")
    for i, serial in enumerate(farm.serials):
        assert text(sh(farm, serial, "getprop ro.product.model").stdout) == f"Model {i}\n"
    assert took < 60


# -- safety ------------------------------------------------------------------------------------------

VSOCK_PROBE = (
    "import errno, socket\n"
    "try:\n"
    "    socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)\n"
    "    print('open')\n"
    "except OSError as exc:\n"
    "    print(errno.errorcode[exc.errno])\n"
)


def test_vsock_is_blocked_for_adbd_and_its_shells(adb_farm: AdbFarm) -> None:
    serial = adb_farm.serials[0]
    proc = farm_python(adb_farm, serial, VSOCK_PROBE)
    assert text(proc.stdout).strip() == "EAFNOSUPPORT"
    # adbd itself runs under the filter too (it logs "listening on vsock" but holds no vsock socket).
    status = text(sh(adb_farm, serial, "cat /proc/1/status").stdout)
    assert re.search(r"^Seccomp:\s+2$", status, re.M)


def test_device_cannot_reboot_the_machine(adb_farm: AdbFarm) -> None:
    serial = adb_farm.serials[0]
    for pid in ("1", "self"):  # adbd, and a shell it spawned
        status = text(sh(adb_farm, serial, f"cat /proc/{pid}/status").stdout)
        for field in ("CapBnd", "CapEff", "CapPrm"):
            value = int(re.search(rf"^{field}:\s+([0-9a-f]+)$", status, re.M).group(1), 16)
            assert not value & (1 << CAP_SYS_BOOT), f"{field} of {pid} has CAP_SYS_BOOT"
    # Only now (the capability is gone) try the syscall, with the harmless Ctrl-Alt-Del switch.
    probe = (
        "import ctypes, errno\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "rc = libc.reboot(0)  # LINUX_REBOOT_CMD_CAD_OFF\n"
        "print(rc, errno.errorcode.get(ctypes.get_errno()))\n"
    )
    assert text(farm_python(adb_farm, serial, probe).stdout).split() == ["-1", "EPERM"]


def farm_python(farm: AdbFarm, serial: str, code: str) -> subprocess.CompletedProcess[bytes]:
    """Run Python code on the device (pushed as a file: no quoting through two shells)."""
    script = f"/data/local/tmp/probe-{os.getpid()}.py"
    farm.adb("-s", serial, "shell", f"cat > {script}", input=code.encode(), check=True)
    proc = sh(farm, serial, f"python3 {script}; rc=$?; rm -f {script}; exit $rc", timeout=120)
    assert proc.returncode == 0, proc
    return proc


# -- arm64 under qemu-user ---------------------------------------------------------------------------

@pytest.mark.slow
def test_arm64_device_is_aarch64_and_runs_litert(adb_farm_arm64: AdbFarm) -> None:
    serial = adb_farm_arm64.serials[0]
    assert text(sh(adb_farm_arm64, serial, "uname -m").stdout) == "aarch64\n"
    assert text(sh(adb_farm_arm64, serial, "getprop ro.product.cpu.abilist").stdout).startswith("arm64-v8a")
    assert sh(adb_farm_arm64, serial, "test -e /sys/devices").returncode == 1  # no /sys: XNNPACK under qemu
    proc = sh(adb_farm_arm64, serial,
              'python3 -c "import numpy, ai_edge_litert, platform; print(platform.machine())"', timeout=300)
    assert proc.returncode == 0, proc
    assert text(proc.stdout) == "aarch64\n"


@pytest.mark.slow
def test_arm64_device_shell_v2_push_and_vsock(adb_farm_arm64: AdbFarm, tmp_path: Path) -> None:
    serial = adb_farm_arm64.serials[0]
    assert sh(adb_farm_arm64, serial, "exit 9").returncode == 9
    payload = os.urandom(1024 * 1024)
    (tmp_path / "b").write_bytes(payload)
    adb_farm_arm64.adb("-s", serial, "push", str(tmp_path / "b"), "/data/local/tmp/b", check=True)
    out = text(sh(adb_farm_arm64, serial, "sha256sum /data/local/tmp/b").stdout)
    assert out.split()[0] == hashlib.sha256(payload).hexdigest()
    assert text(farm_python(adb_farm_arm64, serial, VSOCK_PROBE).stdout).strip() == "EAFNOSUPPORT"
