"""Record the real ``benchmark_model`` on harness's example models: the recordings the TEST
DOUBLE (benchmark_model_double.py) replays.

    .venv/bin/python -m tests.doubles.record_benchmark_model PATH/TO/benchmark_model [--out DIR]

For each example model (tiny_cnn and mobilenet_v2, variants fp32 / fp16 / dynamic / int8), each
kernel mode (XNNPACK on: ``--use_xnnpack=true``; builtin kernels: ``--use_xnnpack=false``) and
threads 1 and 2, it runs the tool with the command lines harness itself builds
(``harness.runners.benchmark_model.build_argv``, harness's default timing options) three ways:

- ``latency``: no profiling (what a latency run prints);
- ``csv``: ``--enable_op_profiling=true --op_profiling_output_mode=csv
  --op_profiling_output_file=./ops.csv`` (what a profile run prints, and the CSV it writes);
- ``text``: ``--enable_op_profiling=true`` alone (the profile on stdout: what a build without
  ``--op_profiling_output_mode`` prints), for tiny_cnn only.

plus ``--help`` and five failures: a missing model, a file that is not a model, no ``--graph``, a
malformed flag value, and an unknown and a repeated flag (which the tool only warns about). Each run happens
in a scratch folder holding the model as ``./model.tflite``, so no host path is recorded; stdout,
stderr and the CSV are kept byte for byte, and ``recordings.json`` lists every command line, exit
code, the model's sha256 and variant, the binary's sha256, the date and the CPU.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "harness" / "models" / "examples_data"
DEFAULT_OUT = REPO / "tests" / "data" / "benchmark_model" / "litert-v2.2.0_x86_64_examples"
FAMILIES = ("tiny_cnn", "mobilenet_v2")
VARIANTS = ("fp32", "fp16", "dynamic", "int8")
KERNELS = ("xnnpack", "builtin")
THREADS = (1, 2)
MODES = ("latency", "csv", "text")
TEXT_FAMILIES = ("tiny_cnn",)  # text profiles of mobilenet_v2 would add 0.5 MB for a mode harness rarely uses
GRAPH = "./model.tflite"
PROFILE = "./ops.csv"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _cpu() -> str:
    out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    return next((ln.split(":", 1)[1].strip() for ln in out.splitlines() if ln.startswith("Model name:")), "?")


def argv_for(binary: str, tool: object, threads: int, kernels: str, mode: str) -> list[str]:
    from harness.config import RunOptions
    from harness.runners.benchmark_model import build_argv
    from harness.spec import BenchmarkFlags

    options = RunOptions(threads=threads, kernels=kernels, mode="latency" if mode == "latency" else "profile")
    argv = build_argv(binary, GRAPH, options, BenchmarkFlags(), tool, PROFILE if mode == "csv" else None)  # type: ignore[arg-type]
    if mode == "text":
        assert not any(a.startswith("--op_profiling_output") for a in argv)
    return argv


def _run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, timeout=600)


def record(binary: Path, out: Path) -> dict[str, object]:
    from harness.models.inspect import inspect_model
    from harness.runners.benchmark_model import parse_help

    out.mkdir(parents=True, exist_ok=True)
    load_at_start = list(os.getloadavg())
    entries: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="bm-record-") as tmp:
        scratch = Path(tmp)
        tool_path = scratch / "benchmark_model"
        shutil.copyfile(binary, tool_path)
        tool_path.chmod(0o755)
        # argv[0] as harness runs it on a device is its own path; record it as ./benchmark_model
        helped = _run(["./benchmark_model", "--help"], scratch)
        (out / "help_stdout.txt").write_bytes(helped.stdout)
        (out / "help_stderr.txt").write_bytes(helped.stderr)
        tool = parse_help(helped.stdout.decode() + "\n" + helped.stderr.decode())
        entries.append({"key": "help", "argv": ["./benchmark_model", "--help"], "exit_code": helped.returncode})
        for family in FAMILIES:
            for variant in VARIANTS:
                model = EXAMPLES / family / f"{variant}.tflite"
                info = inspect_model(model)
                work = scratch / f"{family}-{variant}"
                work.mkdir()
                shutil.copyfile(model, work / "model.tflite")
                for kernels in KERNELS:
                    for threads in THREADS:
                        for mode in MODES:
                            if mode == "text" and family not in TEXT_FAMILIES:
                                continue
                            key = f"{family}_{variant}_{kernels}_t{threads}_{mode}"
                            argv = argv_for("../benchmark_model", tool, threads, kernels, mode)
                            (work / "ops.csv").unlink(missing_ok=True)
                            proc = _run(argv, work)
                            (out / f"{key}_stdout.txt").write_bytes(proc.stdout)
                            (out / f"{key}_stderr.txt").write_bytes(proc.stderr)
                            if mode == "csv":
                                shutil.copyfile(work / "ops.csv", out / f"{key}_ops.csv")
                            entries.append({"key": key, "family": family, "variant": variant,
                                            "detected_variant": info.variant, "model_sha256": info.sha256,
                                            "kernels": kernels, "threads": threads, "mode": mode,
                                            "argv": argv, "exit_code": proc.returncode})
                            print(key, proc.returncode, file=sys.stderr, flush=True)
        failures = scratch / "failures"
        failures.mkdir()
        (failures / "random.tflite").write_bytes(os.urandom(4096))
        for key, args in (("missing_model", ["--graph=./nonexistent.tflite", "--num_threads=1"]),
                          ("not_a_model", ["--graph=./random.tflite", "--num_threads=1"]),
                          ("no_graph", ["--num_threads=1"]),
                          ("bad_flag_value", ["--graph=./random.tflite", "--use_xnnpack=yes"]),
                          ("unknown_flag", ["--graph=./nonexistent.tflite", "--no_such_flag=1", "--num_threads=1",
                                            "--num_threads=2"])):
            argv = ["../benchmark_model", *args]
            proc = _run(argv, failures)
            (out / f"{key}_stdout.txt").write_bytes(proc.stdout)
            (out / f"{key}_stderr.txt").write_bytes(proc.stderr)
            entries.append({"key": key, "argv": argv, "exit_code": proc.returncode})
    manifest: dict[str, object] = {
        "tool": {"sha256": _sha256(binary), "bytes": binary.stat().st_size,
                 "what": "classic TFLite benchmark_model, LiteRT v2.2.0 sources (tflite/tools/benchmark), "
                         "CMake Release, XNNPACK on, x86_64 Linux (../shared/tools/benchmark_model/README.md)"},
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu": _cpu(),
        "cores": os.cpu_count(),
        "load_average_at_start": load_at_start,
        "load_average_at_end": list(os.getloadavg()),
        "graph": GRAPH,
        "profile_file": PROFILE,
        "recordings": entries,
    }
    (out / "recordings.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("binary", type=Path)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    manifest = record(args.binary, args.out)
    print(f"{len(manifest['recordings'])} recordings in {args.out}")  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    sys.exit(main())
