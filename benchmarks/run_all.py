"""`make bench`: every benchmark of the harness itself, one after another.

Numbers go to benchmarks/out/*.json and are summarised by hand in BENCHMARKS.md with the
machine and the date. Not part of the test suite: timings are never asserted.
"""

from __future__ import annotations

import platform
import runpy
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def machine() -> str:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import os

    return f"{platform.machine()} {cpu} x{os.cpu_count()}, Python {platform.python_version()}"


def main() -> None:
    print(f"machine: {machine()}")
    print(subprocess.run(["date", "-u"], capture_output=True, text=True).stdout.strip())
    for name in sorted(p.name for p in HERE.glob("bench_*.py")):
        print(f"\n## {name}")
        sys.argv = [str(HERE / name)]
        runpy.run_path(str(HERE / name), run_name="__main__")


if __name__ == "__main__":
    main()
