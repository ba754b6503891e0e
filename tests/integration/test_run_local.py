"""`harness run` on the local device with the real LiteRT runtime, end to end."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from harness import load_results
from harness.analysis.compare import HYBRID_MARKERS

FAST = ["--min-runs", "5", "--min-seconds", "0.05", "--warmup-runs", "1", "--profile-runs", "5"]


@pytest.fixture(scope="module")
def campaign(tmp_path_factory, cache_home):
    """One real run of the committed tiny example: 4 variants x 2 repeats + profile runs."""
    root = tmp_path_factory.mktemp("run")
    env = dict(os.environ, XDG_CACHE_HOME=str(cache_home), COLUMNS="200")
    env.pop("HARNESS_INVENTORY", None)
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "run", "--example", "tiny_cnn", "--repeats", "2",
         "--results", str(root / "results"), "--campaign", "c1", *FAST],
        cwd=root, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return root, proc


def test_all_four_variants_ran_interleaved(campaign):
    root, proc = campaign
    res = load_results(root / "results")
    lat = res.runs[res.runs["mode"] == "latency"]
    assert sorted(lat["variant"].unique()) == ["dynamic", "fp16", "fp32", "int8"]
    assert (lat.groupby("variant").size() == 2).all()
    assert (res.runs["status"] == "ok").all(), res.runs[["run_id", "error_message"]]
    order = list(lat.sort_values("started_at")["variant"])
    assert order[:4] != [order[0]] * 4  # ABAB, not AAAA
    assert (lat["count"] >= 5).all() and (lat["p50_us"] > 0).all()
    # every timed invoke is a sample of its run
    counts = res.samples.groupby("run_id").size()
    assert (counts.loc[lat["run_id"]].to_numpy() == lat["count"].to_numpy()).all()
    # the summary table names every variant and the ratio to fp32
    for v in ("fp32", "fp16", "dynamic", "int8"):
        assert v in proc.stdout
    assert "1.00x" in proc.stdout


def _profile_ops(res, variant, delegate):
    runs = res.runs[(res.runs["mode"] == "profile") & (res.runs["variant"] == variant)
                    & (res.runs["delegate"] == delegate)]
    assert len(runs) == 1, f"one {delegate} profile run of {variant}"
    return runs.iloc[0], res.ops[res.ops["run_id"] == runs.iloc[0]["run_id"]]


def test_int8_runs_int8_kernels_and_dynamic_runs_hybrid_kernels(campaign):
    res = load_results(campaign[0] / "results")
    _, int8 = _profile_ops(res, "int8", "xnnpack")
    _, dyn = _profile_ops(res, "dynamic", "xnnpack")
    _, fp32 = _profile_ops(res, "fp32", "xnnpack")
    int8_types = " | ".join(int8["op_type"])
    dyn_types = " | ".join(dyn["op_type"])
    assert "QC8" in int8_types or "QS8" in int8_types, int8_types
    # dynamically quantized activations: QD8, or QDU8 where XNNPACK picks its unsigned kernels
    # (x86 with AVX512-VNNI / AVX-VNNI, seen on an AMD EPYC)
    assert any(m in dyn_types for m in HYBRID_MARKERS), dyn_types
    assert not any(m in int8_types for m in HYBRID_MARKERS) and "QC8" not in " | ".join(fp32["op_type"])


@pytest.fixture(scope="module")
def mobilenet(tmp_path_factory, cache_home):
    """The default example (MobileNetV2-class), one latency run and the profile runs per variant."""
    root = tmp_path_factory.mktemp("mobilenet")
    env = dict(os.environ, XDG_CACHE_HOME=str(cache_home), COLUMNS="200")
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "run", "--repeats", "1", "--results", "results", *FAST],
        cwd=root, env=env, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return load_results(root / "results")


def test_default_run_is_the_mobilenet_example_with_four_variants(mobilenet):
    assert set(mobilenet.runs["model_name"]) == {"mobilenet_v2"}
    assert set(mobilenet.runs["variant"]) == {"fp32", "fp16", "dynamic", "int8"}


def test_builtin_profile_is_node_exact_and_adds_up(mobilenet):
    for variant in ("fp32", "fp16", "dynamic", "int8"):
        run, ops = _profile_ops(mobilenet, variant, "none")
        assert ops["node_index"].notna().all()
        assert list(ops["node_index"]) == sorted(ops["node_index"])  # execution order = node order
        assert not ops["delegated"].any()
        assert (ops["op_type"] == "CONV_2D").sum() >= 10
        share = ops["per_run_ms"].sum() * 1000.0 / run["profile_invoke_us"]
        assert share >= 0.8, f"{variant}: per-op sum is {share:.0%} of the invoke time"
        assert abs(ops["pct"].sum() - 100.0) < 0.01


def test_results_reload_identically(campaign):
    a = load_results(campaign[0] / "results")
    b = load_results(campaign[0] / "results" / "c1")
    for x, y in zip(a, b, strict=True):
        assert x.equals(y)


def test_rerun_of_a_campaign_duplicates_nothing(campaign, harness_cli):
    root, _ = campaign
    before = load_results(root / "results")
    proc = harness_cli("run", "--example", "tiny_cnn", "--repeats", "2", "--results", str(root / "results"),
                       "--campaign", "c1", *FAST)
    assert proc.returncode == 0, proc.stderr
    assert "0 runs landed" in proc.stderr and "already there" in proc.stderr
    after = load_results(root / "results")
    assert len(after.runs) == len(before.runs) and after.runs["run_id"].is_unique


def test_export_formats(campaign, harness_cli, tmp_path):
    root, _ = campaign
    res = load_results(root / "results")
    out = harness_cli("results", "export", "--table", "ops", "--format", "csv", "--results",
                      str(root / "results"), check=True)
    assert out.stdout.splitlines()[0].startswith("run_id,phase,subgraph")
    assert len(out.stdout.splitlines()) == len(res.ops) + 1
    pq = tmp_path / "runs.parquet"
    harness_cli("results", "export", "--table", "runs", "--format", "parquet", "--out", str(pq),
                "--results", str(root / "results"), check=True)
    import pandas as pd

    assert len(pd.read_parquet(pq)) == len(res.runs)
    js = harness_cli("results", "export", "--table", "samples", "--format", "json", "--results",
                     str(root / "results"), check=True)
    import json

    assert len(json.loads(js.stdout)) == len(res.samples)
    shown = harness_cli("results", "show", "c1", "--results", str(root / "results"), check=True)
    assert "int8" in shown.stdout
    listed = harness_cli("results", "list", "--results", str(root / "results"), check=True)
    assert "c1" in listed.stdout and "tiny_cnn" in listed.stdout


def test_run_failures_are_recorded_retried_and_the_plan_goes_on(harness_cli, tmp_path):
    # a deadline far shorter than the run: every attempt fails with DeadlineExceeded (a transport
    # failure: retried once more on the device), none is lost, nothing is turned into 0
    args = ("run", "--example", "tiny_cnn", "--variants", "fp32,int8", "--repeats", "1", "--no-profile",
            "--min-seconds", "5", "--timeout", "0.5", "--max-attempts", "2", "--results", "r", "--campaign", "late")
    proc = harness_cli(*args)
    assert proc.returncode == 1
    assert "retry" in proc.stderr
    res = load_results(tmp_path / "r")
    assert sorted(res.runs["run_id"].str.split("/").str[1]) == [
        "local.fp32.t1.latency.xnnpack.r0", "local.fp32.t1.latency.xnnpack.r0~2",
        "local.int8.t1.latency.xnnpack.r0", "local.int8.t1.latency.xnnpack.r0~2"]
    assert (res.runs["status"] == "failed").all() and set(res.runs["failure_class"]) == {"transport"}
    assert set(res.runs["error_class"]) == {"DeadlineExceeded"} and sorted(set(res.runs["attempt"])) == [1, 2]
    assert res.runs["p50_us"].isna().all()
    # attempts are used up: a re-run of the campaign adds nothing
    again = harness_cli(*args)
    assert again.returncode == 0 and len(load_results(tmp_path / "r").runs) == 4


def test_interrupted_run_loses_at_most_the_run_in_progress(harness_cli, tmp_path, cache_home):
    env = dict(os.environ, XDG_CACHE_HOME=str(cache_home))
    args = [sys.executable, "-m", "harness", "run", "--example", "tiny_cnn", "--repeats", "3",
            "--no-profile", "--min-runs", "5", "--min-seconds", "0.3", "--results", "r", "--campaign", "k"]
    proc = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runs_dir = tmp_path / "r" / "k" / "runs"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if runs_dir.is_dir() and len([p for p in runs_dir.iterdir() if not p.name.startswith(".")]) >= 3:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    landed = load_results(tmp_path / "r")
    assert 3 <= len(landed.runs) < 12
    resumed = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    final = load_results(tmp_path / "r")
    assert len(final.runs) == 12 and final.runs["run_id"].is_unique
    assert set(landed.runs["run_id"]) <= set(final.runs["run_id"])


@pytest.mark.parametrize(
    "args, needle",
    [
        (["run", "--device", "locl"], "Did you mean 'local'"),
        (["run", "--model", "nope.tflite"], "does not exist"),
        (["run", "--variants", "fp32,int4"], "Valid variants"),
        (["run", "--threads", "0"], "--threads"),
        (["run", "--example", "resnet9000"], "resnet9000"),
        (["results", "show", "nosuch", "--results", "."], "No campaign"),
    ],
)
def test_bad_input_is_one_line_with_exit_code_2(harness_cli, args, needle):
    proc = harness_cli(*args)
    assert proc.returncode == 2, proc.stderr
    assert needle in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) <= 2


def test_single_tflite_file_runs_as_its_detected_variant(harness_cli, tmp_path):
    from harness.models.examples import example_variants

    int8 = example_variants("tiny_cnn")["int8"]
    proc = harness_cli("run", "--model", str(int8), "--repeats", "2", "--no-profile", *FAST, "--results", "r")
    assert proc.returncode == 0, proc.stderr
    runs = load_results(tmp_path / "r").runs
    assert list(runs["variant"]) == ["int8", "int8"] and set(runs["model_name"]) == {"int8"}


def test_a_corrupt_tflite_is_rejected_before_anything_runs(harness_cli, tmp_path):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"\x18\x00\x00\x00TFL3" + bytes(range(256)) * 4)
    proc = harness_cli("run", "--model", str(bad), "--results", "r")
    assert proc.returncode == 2 and "bad.tflite" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "r").exists()


def test_results_to_an_fsspec_url(harness_cli, tmp_path):
    url = f"file://{tmp_path}/objstore"
    proc = harness_cli("run", "--example", "tiny_cnn", "--variants", "int8", "--no-profile", *FAST,
                       "--repeats", "1", "--results", url, "--campaign", "u")
    assert proc.returncode == 0, proc.stderr
    res = load_results(url)
    assert len(res.runs) == 1 and (res.runs["status"] == "ok").all()
    listed = harness_cli("results", "list", "--results", url, check=True)
    assert "u" in listed.stdout
    again = harness_cli("run", "--resume", "u", "--results", url)
    assert again.returncode == 0 and len(load_results(url).runs) == 1


def test_accuracy_runs_compare_every_variant_with_fp32(harness_cli, tmp_path):
    import numpy as np

    from harness.analysis.accuracy import accuracy_table

    proc = harness_cli("run", "--example", "mobilenet_v2", "--no-profile", *FAST, "--repeats", "1", "--accuracy",
                       "--samples", "16", "--results", "r")
    assert proc.returncode == 0, proc.stderr
    assert "top1_vs_fp32" in proc.stdout and "sqnr_db" in proc.stdout
    res = load_results(tmp_path / "r")
    acc = accuracy_table(tmp_path / "r", res.runs).set_index("variant")
    assert set(acc.index) == {"fp32", "fp16", "dynamic", "int8"}
    assert acc.loc["fp32", "sqnr_db"] is None or np.isnan(acc.loc["fp32", "sqnr_db"])
    assert acc.loc["fp32", "top1_agreement"] == 1.0 and (acc["samples"] == 16).all()
    # quantization costs accuracy, in order: fp16 closest to fp32, int8 (synthetic calibration) farthest
    assert acc.loc["fp16", "sqnr_db"] > acc.loc["dynamic", "sqnr_db"] > acc.loc["int8", "sqnr_db"] > 0
    assert set(acc["computed_on"]) == {"device (ai_edge_litert)"}
    # the user's own inputs
    inputs = tmp_path / "inputs.npz"
    np.savez(inputs, input_0=np.random.default_rng(1).random((5, 1, 96, 96, 3)))
    proc = harness_cli("run", "--example", "mobilenet_v2", "--variants", "fp32,int8", "--no-profile", *FAST,
                       "--repeats", "1", "--inputs", str(inputs), "--results", "r2")
    assert proc.returncode == 0, proc.stderr
    acc2 = accuracy_table(tmp_path / "r2", load_results(tmp_path / "r2").runs)
    assert set(acc2["samples"]) == {5}


def test_adaptive_repeats_until_precise_or_out_of_time(harness_cli, tmp_path):
    loose = harness_cli("run", "--example", "tiny_cnn", "--variants", "int8", "--no-profile", *FAST,
                        "--repeats", "5", "--precision", "50%", "--results", "r1")
    assert loose.returncode == 0 and "precision reached with 5 repeats" in loose.stderr
    assert len(load_results(tmp_path / "r1").runs) == 5
    # below stats.MIN_RUNS (5) runs there is no interval yet: 3 repeats grow to 5 before it is computed
    short = harness_cli("run", "--example", "tiny_cnn", "--variants", "int8", "--no-profile", *FAST,
                        "--repeats", "3", "--precision", "50%", "--results", "r3")
    assert short.returncode == 0 and "not yet computable" not in short.stderr
    assert "going to 5 repeats" in short.stderr and "precision reached with 5 repeats" in short.stderr
    tight = harness_cli("run", "--example", "tiny_cnn", "--variants", "int8", "--no-profile", *FAST,
                        "--repeats", "3", "--precision", "0.01%", "--max-time", "20", "--results", "r2")
    assert tight.returncode == 0 and "not reached" in tight.stderr and "--max-time is up" in tight.stderr
    runs = load_results(tmp_path / "r2").runs
    assert len(runs) > 3 and runs["plan_key"].is_unique  # repeats were added, none twice
