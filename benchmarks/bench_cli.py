"""`harness --help` wall time against `litert --help` (Google's litert-cli), side by side.

Interleaved runs of both commands in one process, median of each. litert-cli is installed
into benchmarks/out/litert-cli-venv from PyPI the first time (it is not a harness dependency).
Writes benchmarks/out/cli.json; prints a markdown table.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
REPO = HERE.parent
VENV_BIN = Path(sys.executable).parent


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


def wall(argv: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t0


def main(n: int = 21) -> dict:
    commands = {"harness --help": [str(VENV_BIN / "harness"), "--help"]}
    exe = litert_cli()
    if exe:
        commands["litert --help (litert-cli)"] = [str(exe), "--help"]
    for argv in commands.values():  # warm the page cache once
        wall(argv)
    times: dict[str, list[float]] = {k: [] for k in commands}
    for _ in range(n):
        for name, argv in commands.items():
            times[name].append(wall(argv))
    result = {name: {"median_s": statistics.median(ts), "min_s": min(ts), "n": n} for name, ts in times.items()}
    OUT.mkdir(exist_ok=True)
    (OUT / "cli.json").write_text(json.dumps(result, indent=1))
    print("| command | median (s) | min (s) | runs |\n|---|---|---|---|")
    for name, r in result.items():
        print(f"| `{name}` | {r['median_s']:.3f} | {r['min_s']:.3f} | {r['n']} |")
    return result


if __name__ == "__main__":
    main()
