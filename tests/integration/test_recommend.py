"""harness recommend on real runs: one real campaign of the tiny_cnn example (all four variants,
5 repeats, accuracy runs, XNNPACK profiles) on this host, then stores arranged from its records —
the same runs under other device names with latencies scaled per variant — so that each of fp32,
dynamic and int8 is the answer somewhere, two variants tie, a bound excludes the fastest, and the
devices of a farm disagree. Plus labelled inputs through `harness run --labels`."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import harness
from harness.errors import UserError
from harness.store import Store

FAST = dict(min_runs=5, min_seconds=0.05, warmup_runs=1, profile_runs=5)
SCALED = ("init_us", "first_us", "warmup_avg_us", "mean_us", "std_us", "min_us", "p50_us", "p90_us", "p99_us",
          "max_us", "profile_invoke_us")


@pytest.fixture(scope="module")
def real(tmp_path_factory, cache_home):
    root = tmp_path_factory.mktemp("recommend") / "results"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(cache_home))
        c = harness.run(example="tiny_cnn", repeats=5, accuracy=True, samples=16, profile_kernels=["xnnpack"],
                        results=root, campaign="real", **FAST)
    assert c.ok
    return c


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if value is __import__("pandas").NA:
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def arrange(real: harness.Campaign, root: Path, devices: dict[str, dict[str, float]], *, name: str = "farm",
            accuracy: bool = True, facts: dict[str, dict[str, str]] | None = None,
            same: dict[str, str] | None = None) -> harness.Campaign:
    """A campaign whose devices each replay the real runs, latencies scaled by {variant: factor};
    ``same`` = {variant: other}: the variant's latency runs take the other's timings (a tie)."""
    res = real.results()
    timings = {(r["variant"], r["mode"], r["repeat"]): r for r in res.runs.to_dict("records")}
    src = Store(real.store.root)
    store = Store(root)
    meta = real.meta()
    store.write_campaign(name, {**meta, "campaign": name, "devices": list(devices)})
    for device, scale in devices.items():
        for run in res.runs.to_dict("records"):
            if run["mode"] == "accuracy" and not accuracy:
                continue
            key = run["run_id"].split("/", 1)[1]
            new_key = key.replace("local.", f"{device}.", 1)
            record = {k: _plain(v) for k, v in run.items()}
            if same and record["variant"] in same and record["mode"] == "latency":
                twin = timings[(same[record["variant"]], "latency", record["repeat"])]
                record.update({col: _plain(twin[col]) for col in SCALED})
            factor = scale.get(record["variant"], 1.0)
            for col in SCALED:
                if record.get(col) is not None:
                    record[col] *= factor
            record.update(run_id=f"{name}/{new_key}", campaign=name, device=device)
            if facts and device in facts:
                record["facts_json"] = json.dumps({**json.loads(record["facts_json"] or "{}"), **facts[device]})
            ops = [{k: _plain(v) for k, v in o.items()} | {"run_id": f"{name}/{new_key}"}
                   for o in res.ops[res.ops["run_id"] == run["run_id"]].to_dict("records")]
            raw = {}
            if run["mode"] == "accuracy":
                raw["outputs.npz"] = src.raw_path("real", key, "outputs.npz").read_bytes()
            store.land_run(name, new_key, {"run": record, "ops": ops, "samples": []}, raw)
    return harness.open_campaign(name, results=root)


def answers(frame) -> dict[str, str]:
    return dict(zip(frame["device"], frame["recommended"], strict=True))


def test_each_variant_is_the_answer_somewhere_and_the_farm_is_grouped(real, tmp_path):
    exynos = {"soc": "Exynos 2200"}
    farm = arrange(real, tmp_path / "r", {
        "a": {"fp32": 0.5}, "a2": {"fp32": 0.5},            # fp32 clearly fastest (an Exynos pair)
        "b": {"dynamic": 0.3},                               # dynamic clearly fastest
        "c": {"int8": 0.3}, "c2": {"int8": 0.3}, "c3": {"int8": 0.3},
    }, facts={"a": exynos, "a2": exynos})
    frame = harness.recommend(farm)
    assert answers(frame) == {"a": "fp32", "a2": "fp32", "b": "dynamic", "c": "int8", "c2": "int8", "c3": "int8"}
    assert set(frame["confidence"]) == {"decided"}
    assert list(frame.columns) == ["device", "threads", "recommended", "runner_up", "confidence", "speedup_vs_fp32",
                                   "ci_low", "ci_high", "top1_agreement", "sqnr_db", "accuracy", "memory_mb",
                                   "reason"]
    b = frame.set_index("device").loc["b"]
    assert b.speedup_vs_fp32 > 2 and b.ci_low <= b.speedup_vs_fp32 <= b.ci_high
    assert "x the speed of fp32" in b.reason and "faster than" in b.reason
    assert frame.set_index("device").loc["a"].speedup_vs_fp32 == 1.0
    answer = frame.attrs["answer"]
    assert answer.groups == ["int8 on 3 devices", "fp32 on 2 devices", "dynamic on 1 device"]
    assert any("soc Exynos 2200 (2 of 2 here, 0 % of the others)" in line for line in answer.apart["fp32"])
    assert answer.apart["dynamic"]  # what sets it apart, or that the recorded facts do not


def test_a_tie_is_settled_by_the_smaller_model_and_says_so(real, tmp_path):
    c = arrange(real, tmp_path / "r", {"d": {"fp32": 10.0, "fp16": 10.0, "dynamic": 0.5, "int8": 0.5}},
                same={"int8": "dynamic"})
    row = harness.recommend(c).iloc[0]
    assert row.confidence == "tie" and row.recommended == "int8" and row.runner_up == "dynamic"  # int8 is smaller
    assert "tie with dynamic" in row.reason and "smaller model" in row.reason


def test_a_bound_that_excludes_the_fastest(real, tmp_path):
    c = arrange(real, tmp_path / "r", {"e": {"int8": 0.2, "dynamic": 0.5}})
    row = harness.recommend(c).iloc[0]
    assert row.recommended == "int8" and row.sqnr_db is not None
    bounded = harness.recommend(c, min_sqnr=f"int8={row.sqnr_db + 1:.3f}").iloc[0]  # just above int8's SQNR
    assert bounded.recommended == "dynamic"
    assert f"int8 excluded: SQNR {row.sqnr_db:.1f} dB <" in bounded.reason


def test_memory_bound(real, tmp_path):
    c = arrange(real, tmp_path / "r", {"m": {"int8": 0.2}})
    from harness.analysis.memory import run_memory_mb

    runs = c.results().runs
    mem = runs.assign(m=run_memory_mb(runs)).groupby("variant")["m"].median()
    if mem.isna().all():
        pytest.skip("the runner measured no memory here")
    with pytest.raises(UserError, match="no variant meets the bounds"):
        harness.recommend(c, max_memory=mem.min() / 10)


def test_without_accuracy_runs_it_is_speed_only_and_says_how_to_add_them(real, tmp_path):
    c = arrange(real, tmp_path / "r", {"f": {"int8": 0.3}}, accuracy=False)
    frame = harness.recommend(c)
    assert set(frame["confidence"]) == {"speed-only"} and frame.iloc[0].recommended == "int8"
    hint = frame.attrs["answer"].accuracy_hint
    assert "--accuracy" in hint and "harness run --campaign farm" in hint


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "200"}, timeout=300)


def test_cli_formats_and_fail_if_changed_both_ways(real, tmp_path):
    arrange(real, tmp_path / "results", {"a": {"fp32": 0.5}, "b": {"dynamic": 0.3}})
    table = cli("recommend", cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    assert "ship fp32" in table.stdout and "ship dynamic" in table.stdout and "Across the farm" in table.stdout
    out = cli("recommend", "--format", "json", cwd=tmp_path)
    rows = json.loads(out.stdout)
    (tmp_path / "before.json").write_text(out.stdout)
    assert {r["device"]: r["recommended"] for r in rows} == {"a": "fp32", "b": "dynamic"}
    csv = cli("recommend", "--format", "csv", cwd=tmp_path)
    assert csv.stdout.splitlines()[0].startswith("device,threads,recommended,runner_up,confidence")
    same = cli("recommend", "--fail-if-changed", "before.json", cwd=tmp_path)
    assert same.returncode == 0, same.stderr
    if real.results().runs["peak_rss_mb"].isna().all():
        pytest.skip("no memory measured here")
    changed = cli("recommend", "--fail-if-changed", "before.json", "--max-memory", "dynamic=0.001", cwd=tmp_path)
    assert changed.returncode == 1
    assert "changed: b (1 thread(s)): dynamic ->" in changed.stderr and "dynamic excluded: memory" in changed.stderr


@pytest.mark.parametrize("args, says", [
    (["nope"], "No campaign 'nope'"),
    (["--min-agreement", "fp64=99%"], "names variant 'fp64'"),
    (["--min-agreement", "150%"], "between 0 and 100 %"),
    (["--min-agreement", "lots"], "takes a number"),
    (["--metric", "p75"], "--metric must be one of"),
    (["--threads", "8"], "--threads 8"),
    (["--format", "xml"], "--format must be"),
])
def test_bad_input_exits_2_in_one_line(real, tmp_path, args, says):
    arrange(real, tmp_path / "results", {"a": {}})
    proc = cli("recommend", *args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert says in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_labelled_inputs_give_real_top1_accuracy(tmp_path, cache_home, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache_home))
    from harness.models import inspect_model
    from harness.models.examples import example_variants

    rng = np.random.default_rng(0)
    inputs = tmp_path / "inputs.npz"
    spec = inspect_model(example_variants("tiny_cnn")["fp32"]).inputs[0]
    np.savez(inputs, input_0=rng.random((24, *spec.shape[1:]), dtype=np.float32))  # 24 samples of the one input
    labels = tmp_path / "labels.npy"
    np.save(labels, rng.integers(0, 10, size=24))
    c = harness.run(example="tiny_cnn", variants="fp32,int8", repeats=1, profile=False, inputs=inputs,
                    labels=labels, results=tmp_path / "results", **FAST)
    assert c.ok, c.results().runs[["variant", "mode", "error_message"]]
    summary = c.summary().set_index("variant")
    assert "top1_accuracy" in summary and 0.0 <= summary.loc["fp32", "top1_accuracy"] <= 1.0
    acc = harness.recommend(c).iloc[0].accuracy
    assert acc is not None and 0.0 <= acc <= 1.0
    # the same number by hand: argmax of the stored outputs against the labels
    from harness.analysis.accuracy import accuracy_table

    table = accuracy_table(c.store.root, c.results().runs).set_index("variant")
    assert table.loc["fp32", "accuracy"] == pytest.approx(summary.loc["fp32", "top1_accuracy"])
    with pytest.raises(UserError, match="one per sample"):
        bad = tmp_path / "bad.npy"
        np.save(bad, np.zeros(5, dtype=np.int64))
        harness.run(example="tiny_cnn", variants="fp32", inputs=inputs, labels=bad, results=tmp_path / "x")
    with pytest.raises(UserError, match="--labels needs --inputs"):
        harness.run(example="tiny_cnn", variants="fp32", labels=labels, results=tmp_path / "x")
