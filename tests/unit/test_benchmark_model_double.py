"""The TEST DOUBLE's recordings (tests/doubles/benchmark_model_double.py): they cover the models
it answers for, and they are what the recorded build prints."""

from __future__ import annotations

import shutil
import subprocess

from harness.fileio import sha256_file
from harness.models.examples import DATA_DIR as EXAMPLES_DIR
from harness.runners.benchmark_model import parse_help
from tests.doubles.benchmark_model_double import (
    GRAPH,
    MARK,
    PROFILE,
    RECORDED,
    manifest,
    recorded_models,
    script_text,
    write_double,
)


def test_every_example_model_has_its_recordings():
    """Rebuilt example models need new recordings: python -m tests.doubles.record_benchmark_model BINARY."""
    have = recorded_models()
    for family in ("tiny_cnn", "mobilenet_v2"):
        for variant in ("fp32", "fp16", "dynamic", "int8"):
            sha = sha256_file(EXAMPLES_DIR / family / f"{variant}.tflite")
            assert have.get(sha) == f"{family}_{variant}", f"no recordings of the current {family}/{variant}"
    keys = {r["key"] for r in manifest()["recordings"]}
    for key in have.values():
        for kernels in ("xnnpack", "builtin"):
            for threads in (1, 2):
                assert {f"{key}_{kernels}_t{threads}_latency", f"{key}_{kernels}_t{threads}_csv"} <= keys


def test_recordings_are_of_one_real_build_and_the_script_carries_its_help():
    data = manifest()
    assert data["tool"]["sha256"] == "e8ad7c033343dba91170c820e225081689d2503331b5b50e699413851fde14ca"
    runs = [r for r in data["recordings"] if "model_sha256" in r]
    assert all(r["exit_code"] == 0 for r in runs)
    builtin = [r for r in runs if r["kernels"] == "builtin"]
    assert builtin and all("--use_xnnpack=false" in r["argv"] for r in builtin)
    for r in builtin:  # no XNNPACK delegate was made in a builtin-kernel recording
        assert "XNNPACK" not in (RECORDED / f"{r['key']}_stderr.txt").read_text()
    help_text = (RECORDED / "help_stdout.txt").read_text() + (RECORDED / "help_stderr.txt").read_text()
    tool = parse_help(help_text)
    assert tool.family == "classic" and tool.has("op_profiling_output_mode") and not tool.has("use_nnapi")
    assert parse_help(script_text()).flags == tool.flags


def test_the_double_replays_each_recording_as_recorded(tmp_path):
    """Every recorded run, replayed: stdout (after the double's own line), stderr and the CSV file
    byte for byte as the build printed them, with the graph and profile paths the command gave
    (here with a space and a quote, which the replay takes literally)."""
    double = write_double(tmp_path / "benchmark_model")
    folder = tmp_path / "a 'b"
    folder.mkdir()
    profile = folder / "ops.csv"
    replayed = 0
    for r in manifest()["recordings"]:
        if "model_sha256" not in r:
            continue
        graph = folder / f"{r['family']}_{r['variant']}.tflite"
        if not graph.exists():
            shutil.copy(EXAMPLES_DIR / r["family"] / f"{r['variant']}.tflite", graph)
        argv = [a.replace(GRAPH, str(graph)).replace(PROFILE, str(profile)) for a in r["argv"][1:]]
        argv = [a for a in argv if not a.startswith(("--min_secs=", "--warmup_min_secs="))] + ["--min_secs=0"]
        profile.unlink(missing_ok=True)
        done = subprocess.run([str(double), *argv], capture_output=True, text=True, timeout=60)
        recorded = (RECORDED / f"{r['key']}_stdout.txt").read_text()
        first, _, rest = done.stdout.partition("\n")
        mark, _, rest = rest.partition("\n")
        assert (done.returncode, first) == (0, "INFO: STARTING!"), r["key"]
        assert mark.startswith(MARK) and r["key"] in mark
        expected = recorded.partition("\n")[2].replace(GRAPH, str(graph)).replace(PROFILE, str(profile))
        assert rest.replace("--min_secs=0", "") == expected.replace("--min_secs=1", ""), r["key"]
        assert done.stderr == (RECORDED / f"{r['key']}_stderr.txt").read_text(), r["key"]
        if r["mode"] == "csv":
            assert profile.read_text() == (RECORDED / f"{r['key']}_ops.csv").read_text(), r["key"]
        else:
            assert not profile.exists()
        replayed += 1
    assert replayed >= 64


def test_the_double_takes_the_warm_up_and_the_timed_runs_as_the_real_tool_at_least_does(tmp_path):
    """The real tool warms up for --warmup_min_secs, then measures for --min_secs (1.5 s with
    harness's defaults on tiny_cnn, measured with the real build); the double sleeps both."""
    import time

    double = write_double(tmp_path / "benchmark_model")
    graph = tmp_path / "model.tflite"
    shutil.copy(EXAMPLES_DIR / "tiny_cnn" / "fp32.tflite", graph)
    argv = [str(double), f"--graph={graph}", "--num_threads=1"]
    t0 = time.perf_counter()
    done = subprocess.run([*argv, "--warmup_min_secs=0.3", "--min_secs=0.2"], capture_output=True, text=True,
                          timeout=60)
    waited = time.perf_counter() - t0
    assert done.returncode == 0, done.stderr
    assert waited >= 0.5  # a sleep never ends early: 0.3 + 0.2, not the 0.2 of --min_secs alone
