"""`harness results query "SQL"`: the store's frames as DuckDB tables, on a real small campaign."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from harness import load_results

FAST = ["--min-runs", "5", "--min-seconds", "0.05", "--warmup-runs", "1", "--profile-runs", "5"]


@pytest.fixture(scope="module")
def store(tmp_path_factory, cache_home):
    """A real run of the tiny example: 4 variants x 2 latency repeats + profile runs."""
    root = tmp_path_factory.mktemp("query")
    env = dict(os.environ, XDG_CACHE_HOME=str(cache_home), COLUMNS="200")
    env.pop("HARNESS_INVENTORY", None)
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "run", "--example", "tiny_cnn", "--repeats", "2",
         "--results", str(root / "results"), "--campaign", "q1", *FAST],
        cwd=root, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return root / "results"


def query(store, sql, *args):
    env = dict(os.environ, COLUMNS="200")
    return subprocess.run([sys.executable, "-m", "harness", "results", "query", sql, "--results", str(store), *args],
                          env=env, capture_output=True, text=True, timeout=120)


def test_group_by_over_runs_matches_the_frames(store):
    proc = query(store, "SELECT variant, count(*) AS n, median(p50_us) AS p50 FROM runs "
                        "WHERE mode = 'latency' GROUP BY variant ORDER BY variant", "--format", "csv")
    assert proc.returncode == 0, proc.stderr
    got = pd.read_csv(io.StringIO(proc.stdout))
    assert list(got["variant"]) == ["dynamic", "fp16", "fp32", "int8"]
    assert list(got["n"]) == [2, 2, 2, 2]
    runs = load_results(store).runs
    lat = runs[runs["mode"] == "latency"]
    expected = lat.groupby("variant")["p50_us"].median()
    for row in got.itertuples():
        assert row.p50 == pytest.approx(expected[row.variant])


def test_join_ops_with_runs_gives_per_op_type_time_per_variant(store):
    sql = ("SELECT r.variant, o.op_type, sum(o.per_run_ms) AS ms FROM ops o JOIN runs r USING (run_id) "
           "WHERE r.mode = 'profile' AND o.phase = 'invoke' GROUP BY ALL ORDER BY r.variant, ms DESC")
    proc = query(store, sql, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert {r["variant"] for r in rows} == {"fp32", "fp16", "dynamic", "int8"}
    assert all(r["ms"] >= 0 for r in rows) and sum(r["ms"] for r in rows) > 0
    res = load_results(store)
    prof = res.runs[res.runs["mode"] == "profile"]
    ops = res.ops[(res.ops["phase"] == "invoke")].merge(prof[["run_id", "variant"]], on="run_id")
    expected = ops.groupby(["variant", "op_type"])["per_run_ms"].sum()
    assert len(rows) == len(expected)
    for r in rows:
        assert r["ms"] == pytest.approx(expected[(r["variant"], r["op_type"])])


def test_table_format_and_samples_table(store):
    proc = query(store, "SELECT count(*) AS invokes FROM samples JOIN runs USING (run_id) WHERE mode = 'latency'")
    assert proc.returncode == 0, proc.stderr
    res = load_results(store)
    lat = res.runs[res.runs["mode"] == "latency"]
    assert str(int(lat["count"].sum())) in proc.stdout
    assert "invokes" in proc.stdout


def test_campaign_filter(store):
    proc = query(store, "SELECT DISTINCT campaign FROM runs", "--campaign", "q1", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [{"campaign": "q1"}]
    proc = query(store, "SELECT 1", "--campaign", "nope")
    assert proc.returncode == 2 and "No campaign 'nope'" in proc.stderr


def test_bad_sql_exits_2_with_duckdbs_one_line_message(store):
    proc = query(store, "SELEC variant FROM runs")
    assert proc.returncode == 2
    assert "syntax error" in proc.stderr and "SELEC" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = query(store, "SELECT no_such_column FROM runs")
    assert proc.returncode == 2 and "no_such_column" in proc.stderr


def test_empty_store_says_so(tmp_path):
    (tmp_path / "empty").mkdir()
    proc = query(tmp_path / "empty", "SELECT 1")
    assert proc.returncode == 2 and "No runs" in proc.stderr
    proc = query(tmp_path / "missing", "SELECT 1")
    assert proc.returncode == 2 and "No results store" in proc.stderr


def test_a_finished_campaign_is_one_parquet_part_and_its_runs_keep_their_folders(store):
    parts = sorted(p.name.split("-")[0] for p in (store / "q1" / "parts").iterdir())
    assert parts == ["ops", "runs", "samples"]  # the devices' parts merged into one when harness run ended
    res = load_results(store)
    assert res.uncompacted == 0 and res.dropped == () and not res.samples_loaded
    assert sorted(p.name for p in (store / "q1" / "runs").iterdir()) == sorted(res.runs["run_id"].str.split("/").str[1])
    assert all((store / "q1" / "runs" / key / "raw" / "result.json").is_file() for key in res.runs["plan_key"])
