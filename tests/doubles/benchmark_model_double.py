"""TEST DOUBLE of the official ``benchmark_model`` tool (classic TFLite family) — not the tool.

The orchestration (provision, push, ``--help`` detection, flags, run, pull the profile file,
parse, store) is exercised everywhere with this stand-in; the real tool is exercised by the
opt-in contract test (tests/integration/test_benchmark_model_real.py, ``HARNESS_BENCHMARK_MODEL``).
``write_double(path)`` writes one self-contained POSIX sh script (sh, sha256sum and awk; no Python on the device, no
other file) that replays recordings of ONE real build — the classic tool built from LiteRT v2.2.0
for x86_64 Linux — made on harness's example models by ``record_benchmark_model.py``
(tests/data/benchmark_model/litert-v2.2.0_x86_64_examples/, provenance in its README.md):

- ``--help`` (or ``--help=true``): that build's help, as it prints it (usage on stderr, exit 1);
- flags as that build reads them: a flag its ``--help`` does not list, a repeated flag or a word
  that is not ``--name=value`` is NOT an error for the real tool: it prints ``WARN: Unconsumed
  cmdline flags: ...`` and runs without it (exit 0), and so does the double (harness's runner
  turns that warning into a failed run). A value the flag's type cannot read (a bool other than
  true / false / 1 / 0, a number that does not start like one) fails as the tool fails:
  ``ERROR: Failed to parse flag 'NAME' against argv '--NAME=VALUE'``, the usage, exit 1;
- no ``--graph``, or a graph that cannot be read: the build's recorded failure (exit 1);
- a model is recognised by its sha256: each of the eight example models (tiny_cnn and
  mobilenet_v2; fp32, fp16, dynamic, int8) has its own recordings, chosen by
  ``--use_xnnpack`` (``false``: the builtin-kernel recording; else XNNPACK, as the tool defaults
  to it), ``--num_threads`` (1 or 2) and the profiling flags (none: a latency run; CSV mode with
  ``--op_profiling_output_file``: the stdout and the CSV file it wrote; stdout mode: the profile
  on stdout). A model without recordings, another thread count or another output mode (proto)
  is refused with ``ERROR: TEST DOUBLE has no recording ...`` and exit 1: the double never
  answers for a model or a setting it did not see;
- every answer starts with ``INFO: TEST DOUBLE of benchmark_model: ...`` after ``INFO:
  STARTING!``, naming the recording replayed. harness's runner reads that line and lands the
  run with ``runner_version = "test-double"`` and a note naming the recording, whatever version
  the tool cache gave the binary: the numbers are the recording's, not a measurement;
- the recorded lines are replayed as recorded (the parameters they echo, the timings), except
  the model and profile file paths, which are the ones given;
- it takes as long as the real tool at least would: it sleeps ``--warmup_min_secs`` plus
  ``--min_secs`` (the real tool warms up for the one, then measures for the other: 1.5 s on
  tiny_cnn with harness's defaults, 0.5 + 1), without using the CPU, so many doubles can run side
  by side. A flag not given counts as 0 (the real tool's defaults are 0.5 and 1), so that tests
  calling the double by hand stay quick;
- ``write_double(path, argv_log=FILE)``: appends its argv to FILE, so tests can check the flags;
- ``write_double(path, fail=True)``: replays a real recorded failure of another build (an NNAPI
  delegate that failed to prepare, sample 03 of ../shared/reference) and exits 1.
  (Written into the script, not read from the environment: the local device runs its commands
  with an allow-listed environment, and adb and SSH devices have their own.)
"""

from __future__ import annotations

import json
import re
import shlex
from collections import Counter
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent.parent / "data" / "benchmark_model"
RECORDED = DATA / "litert-v2.2.0_x86_64_examples"
BUILD = "benchmark_model (classic TFLite, LiteRT v2.2.0, x86_64 Linux)"
MARK = "INFO: TEST DOUBLE of benchmark_model: "
GRAPH = "./model.tflite"  # the paths the recordings were made with (record_benchmark_model.py)
PROFILE = "./ops.csv"
THREADS = (1, 2)
_HELP_FLAG = re.compile(r"^\s*--([A-Za-z0-9_]+)=\S*\s+(int32|int64|float|bool|string)\b", re.MULTILINE)


def manifest() -> dict[str, Any]:
    """recordings.json: every recording, its command line, exit code and model."""
    loaded: dict[str, Any] = json.loads((RECORDED / "recordings.json").read_text())
    return loaded


def recorded_models() -> dict[str, str]:
    """sha256 -> ``family_variant`` of every model with recordings."""
    return {str(r["model_sha256"]): f"{r['family']}_{r['variant']}"
            for r in manifest()["recordings"] if "model_sha256" in r}


def _text(name: str) -> str:
    return (RECORDED / name).read_text()


SECTION = "@@HARNESS_RECORDING@@ "  # a section of the data after the script: name, then where it goes
TOKENS = {GRAPH: "@@HARNESS_GRAPH@@", PROFILE: "@@HARNESS_PROFILE@@"}  # replaced by the paths given


def _section(name: str, dest: str, text: str, subst: dict[str, str] | None = None) -> str:
    """One recording in the data section (``dest``: 1 stdout, 2 stderr, f the profile file), the
    literals of ``subst`` replaced by tokens the replay fills in. Replayed line by line, each
    line with its newline: as recorded, blank lines included, when the text ends with one."""
    for token in (SECTION.strip(), "@@HARNESS_DATA@@", *TOKENS.values()):
        if token in text:
            raise ValueError(f"a recording ({name}) contains the double's marker {token}")
    for literal, token in (subst or {}).items():
        text = text.replace(literal, token)
    return f"{SECTION}{name} {dest}\n" + (text if not text or text.endswith("\n") else f"{text}\n")


# Prints the named sections of the data after the script ($0), each to where it goes, the tokens
# replaced by the paths in HARNESS_G / HARNESS_O (read from the environment: no escape processing).
_REPLAY_AWK = r"""
BEGIN { n = split(ENVIRON["HARNESS_WANT"], w, " "); for (i = 1; i <= n; i++) want[w[i]] = 1
        g = ENVIRON["HARNESS_G"]; o = ENVIRON["HARNESS_O"]; on = 0; data = 0 }
function put(s, token, value,    i, r) {
  r = ""
  while ((i = index(s, token)) > 0) { r = r substr(s, 1, i - 1) value; s = substr(s, i + length(token)) }
  return r s
}
$0 == "exit 0 # @@HARNESS_DATA@@" { data = 1; next }
!data { next }
index($0, "@@HARNESS_RECORDING@@ ") == 1 { on = ($2 in want); dest = $3; next }
on { line = put(put($0, "@@HARNESS_GRAPH@@", g), "@@HARNESS_PROFILE@@", o)
     if (dest == "1") print line; else if (dest == "2") print line > "/dev/stderr"; else print line > o }
"""


def _without_start(stdout: str) -> str:
    first, _, rest = stdout.partition("\n")
    if first != "INFO: STARTING!":
        raise ValueError(f"a recorded stdout that does not start with INFO: STARTING!: {first!r}")
    return rest


def _flag_cases(help_text: str) -> tuple[str, str]:
    """The shell ``case`` arms giving each flag of the build its type, and how many times the
    tool reports a value it cannot parse (once per parameter list that holds the flag)."""
    found = _HELP_FLAG.findall(help_text)
    if not found:
        raise ValueError("the recorded --help lists no flags")
    by_type: dict[str, list[str]] = {}
    for name, kind in found:
        kind = "int32" if kind == "int64" else kind
        if name not in by_type.setdefault(kind, []):
            by_type[kind].append(name)
    types = "".join(f"    {'|'.join(names)}) kind={kind};;\n" for kind, names in by_type.items())
    twice = sorted(name for name, n in Counter(n for n, _ in found).items() if n > 1)
    repeats = f"    {'|'.join(twice)}) times=2;;\n" if twice else ""
    return types, repeats


def script_text(argv_log: Path | None = None, fail: bool = False) -> str:
    """The double's script: a short POSIX sh program (the flags, the model, which recording),
    then, after its last command, the recordings as data it prints with one awk. The shell parses
    a script command by command as it runs it, so it never parses the recordings: a run costs the
    device a shell, sha256sum and awk, as few milliseconds of CPU as the farm benchmark can afford
    on 64 emulated phones sharing one host (benchmarks/bench_farm.py)."""
    data = manifest()
    help_stderr = _text("help_stderr.txt")
    usage_first, _, usage_rest = help_stderr.partition("\n")
    if not usage_first.startswith("ERROR: usage: "):
        raise ValueError(f"unexpected recorded --help: {usage_first!r}")
    types, repeats = _flag_cases(help_stderr)
    models = "".join(f"  {sha}) model={key};;\n" for sha, key in sorted(recorded_models().items()))
    runs = [r for r in data["recordings"] if "model_sha256" in r]
    sections = [_section("usage", "2", usage_rest)]
    for r in runs:
        key = r["key"]
        if r["exit_code"] != 0:
            raise ValueError(f"recording {key} failed (exit {r['exit_code']}); re-record")
        sections.append(_section(f"{key}.out", "1", _without_start(_text(f"{key}_stdout.txt")), TOKENS))
        sections.append(_section(f"{key}.err", "2", _text(f"{key}_stderr.txt")))
        if r["mode"] == "csv":
            sections.append(_section(f"{key}.csv", "f", _text(f"{key}_ops.csv")))
    missing = {"./nonexistent.tflite": TOKENS[GRAPH]}
    sections.append(_section("missing_model.out", "1", _without_start(_text("missing_model_stdout.txt")), missing))
    sections.append(_section("missing_model.err", "2", _text("missing_model_stderr.txt"), missing))
    sections.append(_section("no_graph.out", "1", _without_start(_text("no_graph_stdout.txt"))))
    sections.append(_section("no_graph.err", "2", _text("no_graph_stderr.txt")))
    fail_03 = (DATA / "03_tf2.4_android-mi11_nnapi-qti-default_delegate-failure.txt").read_text()
    sections.append(_section("fail_03.out", "1", fail_03.partition("\n")[2]))  # its STARTING! is printed already
    log_line = f"printf '%s\\n' \"$*\" >> {shlex.quote(str(argv_log))}" if argv_log else ""
    names = ", ".join(sorted({f"{r['family']}/{r['variant']}" for r in runs}))
    return f"""#!/bin/sh
# TEST DOUBLE of benchmark_model (written by harness tests/doubles/benchmark_model_double.py).
# It replays recordings of a real build made on harness's example models: {BUILD}.
# Its numbers are those recordings', never a measurement of this run.
# The recordings are the data after the script's last command (exit 0), printed by replay.
{log_line}
BUILD='{BUILD}'
MARK='{MARK}'

replay() {{  # the named recordings: to stdout, stderr or the profile file, with the paths given
  HARNESS_WANT="$*" HARNESS_G="$graph" HARNESS_O="$out_file" awk {shlex.quote(_REPLAY_AWK)} "$0"
}}
usage() {{  # the build's --help, as it prints it (stderr)
  printf 'ERROR: usage: %s <flags>\\n' "$0" >&2
  replay usage
}}
refuse() {{  # what the double cannot answer: said plainly, exit 1
  echo "${{MARK}}no recording for this command"
  printf 'ERROR: TEST DOUBLE has no recording %s\\n' "$1" >&2
  echo "ERROR: Benchmarking failed." >&2
  exit 1
}}

graph=""; threads=""; xnnpack=""; profiling=false; out_mode=stdout; out_file=""; csv_file=""
min_secs=0; warmup_secs=0; help=false; unconsumed=""; seen=" "; bad=""; badarg=""
for a in "$@"; do
  case "$a" in
    --help) help=true; continue;;
    --?*=*) ;;
    *) unconsumed="$unconsumed $a"; continue;;
  esac
  name=${{a%%=*}}; name=${{name#--}}; value=${{a#*=}}
  case "$seen" in *" $name "*) unconsumed="$unconsumed $a"; continue;; esac
  case "$name" in
{types}    *) unconsumed="$unconsumed $a"; continue;;
  esac
  case "$kind" in
    bool) case "$value" in true|1) value=true;; false|0) value=false;; *) bad=$name; badarg=$a; break;; esac;;
    int32|float) case "$value" in ""|[-+0-9.\\ ]*) ;; *) bad=$name; badarg=$a; break;; esac;;
  esac
  seen="$seen$name "
  case "$name" in
    graph) graph=$value;;
    num_threads) threads=$value;;
    use_xnnpack) xnnpack=$value;;
    enable_op_profiling) profiling=$value;;
    op_profiling_output_mode) out_mode=$value;;
    op_profiling_output_file) out_file=$value;;
    profiling_output_csv_file) csv_file=$value;;
    min_secs) min_secs=$value;;
    warmup_min_secs) warmup_secs=$value;;
    help) help=$value;;
  esac
done

echo "INFO: STARTING!"
if [ -n "$bad" ]; then
  echo "${{MARK}}a flag value this build cannot read"
  times=1
  case "$bad" in
{repeats}  esac
  while [ "$times" -gt 0 ]; do
    printf "ERROR: Failed to parse flag '%s' against argv '%s'\\n" "$bad" "$badarg" >&2
    times=$((times - 1))
  done
  usage
  exit 1
fi
if [ "$help" = true ]; then
  echo "${{MARK}}the --help of $BUILD"
  usage
  exit 1
fi
[ -n "$unconsumed" ] && echo "WARN: Unconsumed cmdline flags:$unconsumed"
if [ {"true" if fail else "false"} = true ]; then
  echo "${{MARK}}replaying a recorded failure of another build (NNAPI delegate, TF 2.4, reference sample 03)"
  replay fail_03.out
  exit 1
fi
if [ -z "$graph" ]; then
  echo "${{MARK}}replaying the recorded failure no_graph of $BUILD"
  replay no_graph.out no_graph.err
  exit 1
fi
if [ ! -f "$graph" ] || [ ! -r "$graph" ]; then
  echo "${{MARK}}replaying the recorded failure missing_model of $BUILD"
  replay missing_model.out missing_model.err
  exit 1
fi
sha=$(sha256sum < "$graph") || refuse "(cannot hash $graph)"
sha=${{sha%% *}}
case "$sha" in
{models}  *) refuse "of the model $graph (sha256 $sha): it has recordings of {names} only";;
esac
case "$threads" in
  1|2) ;;
  *) refuse "with --num_threads=${{threads:-(not given)}} (recorded: {', '.join(map(str, THREADS))})";;
esac
if [ "$xnnpack" = false ]; then kernels=builtin; else kernels=xnnpack; fi
mode=latency
if [ "$profiling" = true ]; then
  [ -z "$out_file" ] && [ -n "$csv_file" ] && out_mode=csv && out_file=$csv_file
  case "$out_mode" in
    csv) [ -n "$out_file" ] || refuse "of a CSV profile without --op_profiling_output_file"; mode=csv;;
    stdout) mode=text;;
    *) refuse "of --op_profiling_output_mode=$out_mode (recorded: csv, stdout)";;
  esac
fi
key="${{model}}_${{kernels}}_t${{threads}}_${{mode}}"
case "$key" in
  {"|".join(r["key"] for r in runs)}) ;;
  *) refuse "for $key (the profile on stdout is recorded for tiny_cnn only)";;
esac
echo "${{MARK}}replaying the recording $key of $BUILD; its numbers are not a measurement of this run"
sleep "$warmup_secs" "$min_secs" 2>/dev/null || true  # warm-up, then the timed runs
if [ "$mode" = csv ]; then
  : > "$out_file" || exit 1
  replay "$key.out" "$key.err" "$key.csv" || exit 1
else
  replay "$key.out" "$key.err" || exit 1
fi
exit 0 # @@HARNESS_DATA@@
{"".join(sections)}"""


def write_double(path: Path, *, argv_log: Path | None = None, fail: bool = False) -> Path:
    """The double as an executable at ``path``; see the module's docstring."""
    path.write_text(script_text(argv_log, fail))
    path.chmod(0o755)
    return path


if __name__ == "__main__":
    import sys

    target = Path(sys.argv[1] if len(sys.argv) > 1 else "benchmark_model_double")
    print(shlex.quote(str(write_double(target))))
