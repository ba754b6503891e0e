"""Strings from devices, models and users are printed as they are: markup-like names ([/x], [red])
neither crash nor restyle the output, and ANSI escapes in names cannot reach the terminal."""

from __future__ import annotations

ESC = "\x1b"


def inventory(path, *names: str) -> None:
    lines = []
    for name in names:
        key = name.replace("\\", "\\\\").replace('"', '\\"').replace(ESC, "\\u001b")
        lines += [f'[devices."{key}"]', 'transport = "local"', f'tags = ["{key}"]']
    path.write_text("\n".join(lines) + "\n")


def test_device_names_with_markup_and_escapes_print_literally(harness_cli, tmp_path):
    inventory(tmp_path / "devices.toml", "[/x]", "[red]evil[/red]", f"bell{ESC}[31mred")
    proc = harness_cli("devices", env={"ANDROID_ADB_SERVER_PORT": "1"})
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "[/x]" in out and "[red]evil[/red]" in out  # as written, not parsed as markup
    assert ESC not in out and "bell\\x1b[31mred" in out  # the escape shown, never sent


def test_a_run_on_such_a_device_summarises_it_literally(harness_cli, tmp_path):
    inventory(tmp_path / "devices.toml", "[red]x")
    proc = harness_cli("run", "--device", "[red]x", "--example", "tiny_cnn", "--variants", "fp32,int8",
                       "--repeats", "1", "--no-profile", "--min-runs", "5", "--min-seconds", "0.05", "--results", "r",
                       env={"COLUMNS": "300"})
    assert proc.returncode == 0, proc.stderr
    assert "[red]x" in proc.stderr or "[red]x" in proc.stdout
    assert ESC not in proc.stdout


def test_unknown_names_and_errors_print_literally(harness_cli, tmp_path):
    proc = harness_cli("run", "--device", f"[bold]no{ESC}]0;title{ESC}\\", env={"ANDROID_ADB_SERVER_PORT": "1"})
    assert proc.returncode == 2
    assert "[bold]no" in proc.stderr and ESC not in proc.stderr and "\\x1b" in proc.stderr
