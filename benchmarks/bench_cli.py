"""`harness --help` and `harness run --help` wall time against `litert --help` (Google's litert-cli).

Targets (BENCHMARKS.md): `harness --help` no slower than `litert --help`, `harness run --help`
within 1.5x of it. All commands run interleaved in one process (the order rotates each round),
medians compared. litert-cli is installed into benchmarks/out/litert-cli-venv from PyPI the first
time (it is not a harness dependency); `litert run --help` is measured for context.

The commands run with bytecode caching on (PYTHONDONTWRITEBYTECODE removed from their
environment), as from an installed wheel: an editable checkout under PYTHONDONTWRITEBYTECODE=1
would otherwise compile harness's own modules at every start, while pip compiled litert-cli's.
Writes benchmarks/out/cli.json; prints a markdown table.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
REPO = HERE.parent
VENV_BIN = Path(sys.executable).parent
BASELINE = "litert --help"


def litert_cli() -> Path | None:
    venv = OUT / "litert-cli-venv"
    exe = venv / "bin" / "litert"
    if not exe.exists():
        OUT.mkdir(exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        r = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "litert-cli"], capture_output=True, text=True)
        if r.returncode != 0:
            print(f"litert-cli could not be installed: {r.stderr.strip()[-300:]}", file=sys.stderr)
            return None
    return exe if exe.exists() else None


def litert_cli_version(exe: Path) -> str:
    pip = exe.parent / "pip"
    out = subprocess.run([str(pip), "show", "litert-cli"], capture_output=True, text=True).stdout
    return next((line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Version:")), "?")


ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"} | {"COLUMNS": "80"}


def wall(argv: list[str]) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of one run; CPU time suffers less from a busy machine."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, argv)
    return elapsed, usage.ru_utime + usage.ru_stime


def main(n: int = 41) -> dict:
    harness = str(VENV_BIN / "harness")
    commands = {"harness --help": [harness, "--help"], "harness run --help": [harness, "run", "--help"]}
    exe = litert_cli()
    if exe:
        commands[BASELINE] = [str(exe), "--help"]
        commands["litert run --help"] = [str(exe), "run", "--help"]
    for argv in commands.values():  # warm the page cache and write the bytecode caches once
        wall(argv)
    times: dict[str, list[float]] = {k: [] for k in commands}
    cpu: dict[str, list[float]] = {k: [] for k in commands}
    names = list(commands)
    for i in range(n):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            elapsed, used = wall(commands[name])
            times[name].append(elapsed)
            cpu[name].append(used)
    base = statistics.median(times[BASELINE]) if BASELINE in times else None
    base_cpu = statistics.median(cpu[BASELINE]) if BASELINE in cpu else None
    result: dict = {
        "date": date.today().isoformat(),
        "litert_cli": litert_cli_version(exe) if exe else None,
        "commands": {
            name: {
                "median_s": statistics.median(ts),
                "min_s": min(ts),
                "n": n,
                "vs_litert_help": statistics.median(ts) / base if base else None,
                "cpu_median_s": statistics.median(cpu[name]),
                "cpu_vs_litert_help": statistics.median(cpu[name]) / base_cpu if base_cpu else None,
            }
            for name, ts in times.items()
        },
    }
    try:
        from run_all import machine  # benchmarks/ is on sys.path when run as a script or by run_all

        result["machine"] = machine()
    except ImportError:
        pass
    OUT.mkdir(exist_ok=True)
    (OUT / "cli.json").write_text(json.dumps(result, indent=1))
    print(f"| command | median (s) | min (s) | vs `{BASELINE}` | CPU median (s) | CPU vs `{BASELINE}` | runs |")
    print("|---|---|---|---|---|---|---|")
    for name, r in result["commands"].items():
        ratio = f"{r['vs_litert_help']:.2f}x" if r["vs_litert_help"] else "-"
        cpu_ratio = f"{r['cpu_vs_litert_help']:.2f}x" if r["cpu_vs_litert_help"] else "-"
        print(
            f"| `{name}` | {r['median_s']:.3f} | {r['min_s']:.3f} | {ratio} | {r['cpu_median_s']:.3f} | {cpu_ratio} "
            f"| {r['n']} |"
        )
    return result


if __name__ == "__main__":
    main()
