"""TEST DOUBLE of the official `benchmark_model` tool (classic TFLite family) — not the tool.

No benchmark_model binary can be downloaded on the test machines, so the orchestration
(provision, push, --help detection, flags, run, pull the profile file, parse, store) is
exercised with this stand-in. ``write_double(path)`` writes a POSIX sh script that:

- answers ``--help`` with the real ``--help`` text of a TF 2.21 build (on stderr, exit 1, as
  the real tool does);
- checks that ``--graph`` names a readable file (else prints the real failure lines and exits 1);
- replays real recorded stdout of that build: with ``--enable_op_profiling=true`` and a CSV
  output file it writes the recorded CSV profile there; without profiling it prints the
  recorded latency lines only;
- takes as long as the real tool at least would: it sleeps ``--min_secs`` (the tool's minimum
  benchmark time), without using the CPU, so many doubles can run side by side;
- records its own argv in ``$HARNESS_DOUBLE_LOG`` (if set) so tests can check the flags;
- with ``$HARNESS_DOUBLE_FAIL`` set, replays a real recorded failure (an NNAPI delegate that
  failed to prepare, sample 03) and exits 1.

Recordings: tests/data/benchmark_model/tf2.21-x86_64-local/ (see SOURCES.md there). The
numbers it prints are those recordings', not measurements of the model it is given.
"""

from __future__ import annotations

import shlex
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "data" / "benchmark_model"
RECORDINGS = ("help.txt", "cnn_dynamic_csv-mode_stdout.txt", "cnn_dynamic_ops.csv", "cnn_fp32_op-profiling_stdout.txt")


def _recording(name: str) -> str:
    found = sorted(DATA.rglob(name))
    if not found:
        raise FileNotFoundError(f"recording {name} is missing under {DATA}")
    return found[0].read_text()


def _latency_only(stdout: str) -> str:
    """The recorded CSV-mode stdout without its profiling parameter lines: what a run without
    --enable_op_profiling prints (everything before the profile tables is the same)."""
    keep = [ln for ln in stdout.splitlines() if "profiling" not in ln.lower()]
    return "\n".join(keep) + "\n"


def script_text() -> str:
    help_text = _recording("help.txt")
    csv_stdout = _recording("cnn_dynamic_csv-mode_stdout.txt")
    csv_file = _recording("cnn_dynamic_ops.csv")
    profile_stdout = _recording("cnn_fp32_op-profiling_stdout.txt")
    plain = _latency_only(csv_stdout)
    failure = _recording("03_tf2.4_android-mi11_nnapi-qti-default_delegate-failure.txt")
    return f"""#!/bin/sh
# TEST DOUBLE of benchmark_model (harness tests/doubles) - replays recorded real outputs.
[ -n "$HARNESS_DOUBLE_LOG" ] && printf '%s\\n' "$*" >> "$HARNESS_DOUBLE_LOG"
graph=""; profiling=false; out_file=""; mode=stdout; min_secs=0
for a in "$@"; do
  case "$a" in
    --help|--help=true) cat >&2 <<'HARNESS_EOF'
{help_text.rstrip()}
HARNESS_EOF
      exit 1;;
    --graph=*) graph="${{a#--graph=}}";;
    --enable_op_profiling=true) profiling=true;;
    --op_profiling_output_file=*) out_file="${{a#--op_profiling_output_file=}}";;
    --op_profiling_output_mode=*) mode="${{a#--op_profiling_output_mode=}}";;
    --min_secs=*) min_secs="${{a#--min_secs=}}";;
    --*=*) ;;
    *) echo "ERROR: unknown argument $a" >&2; exit 1;;
  esac
done
if [ -n "$HARNESS_DOUBLE_FAIL" ]; then
  cat <<'HARNESS_EOF'
{failure.rstrip()}
HARNESS_EOF
  exit 1
fi
if [ ! -r "$graph" ]; then
  echo "INFO: STARTING!"
  echo "ERROR: Could not open '$graph'." >&2
  echo "ERROR: Failed to load model $graph" >&2
  echo "ERROR: Benchmarking failed." >&2
  exit 1
fi
sleep "$min_secs" 2>/dev/null || true
if [ "$profiling" = true ] && [ "$mode" = csv ] && [ -n "$out_file" ]; then
  cat <<'HARNESS_EOF'
{csv_stdout.rstrip()}
HARNESS_EOF
  cat > "$out_file" <<'HARNESS_EOF'
{csv_file.rstrip()}
HARNESS_EOF
elif [ "$profiling" = true ]; then
  cat <<'HARNESS_EOF'
{profile_stdout.rstrip()}
HARNESS_EOF
else
  cat <<'HARNESS_EOF'
{plain.rstrip()}
HARNESS_EOF
fi
echo "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." >&2
exit 0
"""


def write_double(path: Path) -> Path:
    path.write_text(script_text())
    path.chmod(0o755)
    return path


if __name__ == "__main__":
    import sys

    target = Path(sys.argv[1] if len(sys.argv) > 1 else "benchmark_model_double")
    print(shlex.quote(str(write_double(target))))
