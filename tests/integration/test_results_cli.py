"""`harness results migrate / compact / show / export / query` through the real command line, on the
committed store of format 1 (tests/data/store_format1)."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pandas as pd

from harness import load_results

FORMAT1 = Path(__file__).resolve().parents[1] / "data" / "store_format1"


def copy_store(tmp_path: Path) -> Path:
    root = tmp_path / "old"
    shutil.copytree(FORMAT1, root, ignore=shutil.ignore_patterns("README.md"))
    return root


def test_an_old_store_is_shown_exported_and_queried_as_it_is_then_migrated(harness_cli, tmp_path):
    root = copy_store(tmp_path)
    shown = harness_cli("results", "show", "mnv2-fp32-int8", "--results", str(root), check=True)
    assert "local.int8.t1.profile.xnnpack.r0" in shown.stdout
    before = harness_cli("results", "export", "--table", "samples", "--format", "csv", "--results", str(root),
                         check=True).stdout
    assert len(pd.read_csv(io.StringIO(before))) == len(load_results(root).samples)

    first = harness_cli("results", "migrate", str(root), check=True)
    assert "imported-log: 2 run record(s) converted, 2 compacted" in first.stderr + first.stdout
    assert "mnv2-fp32-int8: 6 run record(s) converted, 6 compacted" in first.stderr + first.stdout
    again = harness_cli("results", "migrate", "--results", str(root), check=True)
    assert "mnv2-fp32-int8: 0 run record(s) converted, 0 compacted" in again.stderr + again.stdout

    after = harness_cli("results", "export", "--table", "samples", "--format", "csv", "--results", str(root),
                        check=True).stdout
    key = ["run_id", "iteration"]
    pd.testing.assert_frame_equal(pd.read_csv(io.StringIO(before)).sort_values(key).reset_index(drop=True),
                                  pd.read_csv(io.StringIO(after)).sort_values(key).reset_index(drop=True))
    rows = json.loads(harness_cli("results", "query", "SELECT campaign, count(*) AS n FROM runs GROUP BY campaign "
                                  "ORDER BY campaign", "--format", "json", "--results", str(root), check=True).stdout)
    assert rows == [{"campaign": "imported-log", "n": 2}, {"campaign": "mnv2-fp32-int8", "n": 6}]
    listed = harness_cli("results", "list", "--results", str(root), check=True).stdout
    assert "mnv2-fp32-int8" in listed and "imported-log" in listed


def test_compact_says_what_it_did_and_duplicates_are_noted(harness_cli, tmp_path):
    root = copy_store(tmp_path)
    done = harness_cli("results", "compact", str(root / "mnv2-fp32-int8"), check=True)
    assert "mnv2-fp32-int8: 6 run(s) compacted" in done.stderr + done.stdout
    parts = root / "mnv2-fp32-int8" / "parts"
    (part,) = [p.name.removeprefix("runs-").removesuffix(".parquet") for p in parts.glob("runs-*.parquet")]
    for table in ("samples", "ops", "runs"):  # a second controller compacted the same runs
        shutil.copy(parts / f"{table}-{part}.parquet", parts / f"{table}-99991231T000000000000Z-copy.parquet")
    queried = harness_cli("results", "query", "SELECT count(*) AS n FROM runs", "--format", "csv",
                          "--campaign", "mnv2-fp32-int8", "--results", str(root), check=True)
    assert queried.stdout.split() == ["n", "6"]
    assert "6 duplicate copies of 6 run(s) left out" in queried.stderr
    merged = harness_cli("results", "compact", "--results", str(root), check=True)
    assert "mnv2-fp32-int8: nothing new, 2 parts merged into one, 6 duplicate copies dropped" in merged.stderr
    clean = harness_cli("results", "query", "SELECT count(*) AS n FROM runs", "--results", str(root), check=True)
    assert "duplicate" not in clean.stderr
