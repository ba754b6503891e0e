"""`harness devices tune / reset` on the local device, over a fake cpufreq tree (HARNESS_SYSFS;
this VM has no cpufreq), and the refusal where there is none."""

from __future__ import annotations

from pathlib import Path

from harness import load_results


def _fake_sysfs(root: Path, cpus: int = 2) -> Path:
    for c in range(cpus):
        d = root / "devices/system/cpu" / f"cpu{c}" / "cpufreq"
        d.mkdir(parents=True)
        for name, value in (("scaling_governor", "schedutil"), ("scaling_min_freq", "300000"),
                            ("scaling_max_freq", "1800000"), ("cpuinfo_max_freq", "1800000")):
            (d / name).write_text(value + "\n")
    return root


def _read(root: Path, cpu: int, name: str) -> str:
    return (root / "devices/system/cpu" / f"cpu{cpu}" / "cpufreq" / name).read_text().strip()


def test_tune_locks_reads_back_records_and_reset_restores(harness_cli, tmp_path):
    sysfs = _fake_sysfs(tmp_path / "sys")
    env = {"HARNESS_SYSFS": str(sysfs)}
    proc = harness_cli("devices", "tune", "local", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("ok") >= 2 and "performance" in proc.stdout
    assert [_read(sysfs, 0, n) for n in ("scaling_governor", "scaling_min_freq", "scaling_max_freq")] == [
        "performance", "1800000", "1800000"]
    run = harness_cli("run", "--example", "tiny_cnn", "--variants", "int8", "--repeats", "1", "--no-profile",
                      "--min-runs", "5", "--min-seconds", "0.05", "--results", "r", env=env)
    assert run.returncode == 0, run.stderr
    assert load_results(tmp_path / "r").runs["clocks_locked"].tolist() == [True]
    back = harness_cli("devices", "reset", "local", env=env)
    assert back.returncode == 0 and "restored" in back.stdout
    assert [_read(sysfs, 1, n) for n in ("scaling_governor", "scaling_min_freq")] == ["schedutil", "300000"]
    run2 = harness_cli("run", "--example", "tiny_cnn", "--variants", "int8", "--repeats", "1", "--no-profile",
                       "--min-runs", "5", "--min-seconds", "0.05", "--results", "r2", env=env)
    assert run2.returncode == 0, run2.stderr
    assert load_results(tmp_path / "r2").runs["clocks_locked"].tolist() == [False]


def test_tune_where_the_device_has_no_cpufreq_says_unavailable(harness_cli, tmp_path):
    proc = harness_cli("devices", "tune", "local", env={"HARNESS_SYSFS": str(tmp_path / "empty")})
    assert proc.returncode == 1
    assert "unavailable" in proc.stdout and "no cpufreq" in proc.stdout
    assert "could not be locked" in proc.stderr
