from __future__ import annotations

import json

import pytest

from harness import load_results, schema
from harness.errors import StoreError
from harness.store import Store


def _record(run_id: str, status: str = "ok", n: int = 3) -> dict:
    return {
        "run": {"run_id": run_id, "campaign": run_id.split("/")[0], "device": "local", "variant": "fp32",
                "mode": "latency", "threads": 1, "status": status, "count": n, "p50_us": 100.0,
                "started_at": "2026-11-28T04:00:00.000001+00:00"},
        "ops": [{"run_id": run_id, "phase": "invoke", "position": 0, "op_type": "CONV_2D", "avg_ms": 0.5,
                 "per_run_ms": 0.5, "times_called": 1, "delegated": False, "node_index": 0}],
        "samples": [{"run_id": run_id, "iteration": i, "latency_us": 100.0 + i} for i in range(n)],
    }


def test_land_and_reload_roundtrip(tmp_path):
    store = Store(tmp_path)
    store.write_campaign("c1", {"campaign": "c1"})
    store.land_run("c1", "a", _record("c1/a"), {"result.json": b"{}", "stdout.txt": b"hi"})
    store.land_run("c1", "b", _record("c1/b", status="failed", n=0))
    res = load_results(tmp_path)
    assert list(res.runs["run_id"]) == ["c1/a", "c1/b"]
    assert res.runs["threads"].dtype == "Int64"
    assert str(res.runs["started_at"].dtype) == "datetime64[us, UTC]"
    assert len(res.samples) == 3 and len(res.ops) == 2
    assert (tmp_path / "c1/runs/a/raw/stdout.txt").read_bytes() == b"hi"
    # a campaign folder and a run folder load too, with the same rows
    assert len(load_results(tmp_path / "c1").runs) == 2
    one = load_results(tmp_path / "c1/runs/a")
    assert list(one.samples["latency_us"]) == [100.0, 101.0, 102.0]


def test_landing_twice_is_refused_and_keeps_the_first(tmp_path):
    store = Store(tmp_path)
    store.land_run("c1", "a", _record("c1/a", n=2))
    with pytest.raises(StoreError, match="landed already"):
        store.land_run("c1", "a", _record("c1/a", n=5))
    assert len(load_results(tmp_path).samples) == 2
    assert not [p for p in (tmp_path / "c1/runs").iterdir() if p.name.startswith(".")]


def test_unknown_columns_are_refused_before_writing(tmp_path):
    rec = _record("c1/a")
    rec["run"]["latency_ms"] = 1.0
    with pytest.raises(StoreError, match="latency_ms"):
        Store(tmp_path).land_run("c1", "a", rec)
    assert not (tmp_path / "c1/runs/a").exists()


def test_raw_file_names_from_a_device_cannot_escape_the_run_folder(tmp_path):
    store = Store(tmp_path)
    for bad in ("../../../evil", "/etc/passwd"):
        with pytest.raises(StoreError, match="outside"):
            store.land_run("c1", "a", _record("c1/a"), {bad: b"x"})
    assert not (tmp_path / "evil").exists() and not (tmp_path / "c1/runs/a").exists()


def test_half_written_incoming_folders_are_ignored(tmp_path):
    store = Store(tmp_path)
    store.land_run("c1", "a", _record("c1/a"))
    junk = tmp_path / "c1/runs/.incoming-b-xyz"
    junk.mkdir()
    (junk / "run.json").write_text("{trunc")
    assert len(load_results(tmp_path).runs) == 1


def test_schema_version_mismatch_says_what_to_do(tmp_path):
    store = Store(tmp_path)
    p = store.land_run("c1", "a", _record("c1/a")) / "run.json"
    doc = json.loads(p.read_text())
    doc["schema_version"] = 99
    p.write_text(json.dumps(doc))
    with pytest.raises(StoreError, match="Upgrade harness"):
        load_results(tmp_path)


def test_missing_store_is_a_clear_error(tmp_path):
    with pytest.raises(StoreError, match="harness run"):
        load_results(tmp_path / "nothing")


def test_nulls_stay_null_not_zero():
    f = schema.to_frame("runs", [{"run_id": "x", "p99_us": None, "count": None}])
    assert f["p99_us"].isna().all() and f["count"].isna().all()


def test_bad_campaign_and_key_names(tmp_path):
    store = Store(tmp_path)
    for bad in ("", "../x", ".hidden"):
        with pytest.raises(StoreError):
            store.campaign_dir(bad)
    with pytest.raises(StoreError):
        store.run_dir("c", "a/b")


def test_an_fsspec_url_store_lands_and_loads_the_same(tmp_path):
    """memory:// and file:// roots go through fsspec (object stores: run.json written last)."""
    for root in ("memory://harness-test-store", f"file://{tmp_path}/via-fsspec"):
        store = Store(root)
        store.write_campaign("c1", {"campaign": "c1"})
        store.land_run("c1", "a", _record("c1/a"), {"result.json": b"{}"})
        store.land_run("c1", "b", _record("c1/b", status="failed", n=0))
        with pytest.raises(StoreError, match="landed already"):
            store.land_run("c1", "a", _record("c1/a"))
        with pytest.raises(StoreError, match="outside"):
            store.land_run("c1", "x", _record("c1/x"), {"../../evil": b"x"})
        assert store.campaigns() == ["c1"] and store.landed_keys("c1") == {"a", "b"}
        res = load_results(root)
        assert list(res.runs["run_id"]) == ["c1/a", "c1/b"] and len(res.samples) == 3
        assert store.read_campaign("c1") == {"campaign": "c1"}
