"""Store format 2: runs land once, compact into Parquet parts, load fast and whole; old stores load
and migrate; a store interrupted at any step loads with nothing lost or counted twice."""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path

import fsspec
import pandas as pd
import pytest
from fsspec.implementations.memory import MemoryFileSystem

from harness import load_results, schema
from harness import store as store_mod
from harness.errors import StoreError, UserError
from harness.store import Store, load_runs, migrate, query
from harness.storefs import FsspecFS, LocalFS

FORMAT1 = Path(__file__).resolve().parents[1] / "data" / "store_format1"


def record(run_id: str, n: int = 3, device: str = "d1", base: float = 100.0) -> dict:
    return {
        "run": {"run_id": run_id, "campaign": run_id.split("/")[0], "device": device, "variant": "fp32",
                "mode": "latency", "threads": 1, "status": "ok", "count": n, "p50_us": base,
                "started_at": "2026-11-28T04:00:00.000001+00:00", "finished_at": "2026-11-28T04:00:01+00:00"},
        "ops": [{"run_id": run_id, "phase": "invoke", "position": i, "op_type": "CONV_2D", "avg_ms": 0.5,
                 "per_run_ms": 0.5, "times_called": 1, "delegated": False, "node_index": i} for i in range(2)],
        "samples": [{"run_id": run_id, "iteration": i, "latency_us": base + i} for i in range(n)],
        "command": {"argv": ["runner", run_id]},
    }


def land(store: Store, campaign: str, keys: list[str], **kwargs) -> None:
    for key in keys:
        store.land_run(campaign, key, record(f"{campaign}/{key}", **kwargs), {"result.json": key.encode()})


def frames(res) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The three frames, samples in (run, iteration) order and as plain strings, to compare loads."""
    samples = res.samples.assign(run_id=res.samples["run_id"].astype(str))
    samples = samples.sort_values(["run_id", "iteration"]).reset_index(drop=True)
    return res.runs.reset_index(drop=True), res.ops.reset_index(drop=True), samples


def assert_same(a, b) -> None:
    for x, y in zip(frames(a), frames(b), strict=True):
        pd.testing.assert_frame_equal(x, y)


def parts(folder: Path) -> list[str]:
    return sorted(p.name for p in (folder / "parts").glob("runs-*.parquet"))


# --- landing -------------------------------------------------------------------------------------

def test_runs_load_the_same_before_and_after_compaction_with_the_schemas_dtypes(tmp_path):
    store = Store(tmp_path)
    land(store, "c1", ["d1.a", "d1.b", "d2.a"])
    loose = load_results(tmp_path, samples=True)
    assert loose.uncompacted == 3 and not parts(tmp_path / "c1")
    compaction = store.compact("c1")
    assert compaction.runs == 3 and compaction.part is not None
    packed = load_results(tmp_path, samples=True)
    assert packed.uncompacted == 0 and len(parts(tmp_path / "c1")) == 1
    assert_same(loose, packed)
    assert list(packed.runs["run_id"]) == ["c1/d1.a", "c1/d1.b", "c1/d2.a"]
    def kinds(frame):
        return ["category" if isinstance(d, pd.CategoricalDtype) else str(d) for d in frame.dtypes]

    for table in ("runs", "ops", "samples"):  # the dtypes to_frame gives, whatever the source
        assert kinds(getattr(packed, table)) == kinds(schema.empty_frame(table)), table
    assert isinstance(packed.samples["run_id"].dtype, pd.CategoricalDtype)
    # the run's own record and raw files stay where they landed; a run folder loads alone
    assert (tmp_path / "c1/runs/d1.a/raw/result.json").read_bytes() == b"d1.a"
    one = load_results(tmp_path / "c1/runs/d1.b")
    assert list(one.samples["latency_us"]) == [100.0, 101.0, 102.0] and len(one.ops) == 2
    doc = json.loads((tmp_path / "c1/runs/d1.a/run.json").read_text())
    assert doc["schema_version"] == 2 and doc["samples"]["latency_us"] == [100.0, 101.0, 102.0]
    assert doc["command"] == {"argv": ["runner", "c1/d1.a"]}


def test_a_record_whose_values_do_not_fit_the_schema_is_refused_before_it_lands(tmp_path):
    bad = record("c1/a")
    bad["samples"][1]["latency_us"] = "fast"
    with pytest.raises(StoreError, match="latency_us"):
        Store(tmp_path).land_run("c1", "a", bad)
    other = record("c1/b")
    other["ops"][0]["run_id"] = "c1/zzz"
    with pytest.raises(StoreError, match="other runs"):
        Store(tmp_path).land_run("c1", "b", other)
    assert not (tmp_path / "c1/runs").exists() or not any((tmp_path / "c1/runs").iterdir())


def test_the_quick_check_refuses_and_accepts_what_arrow_does():
    """schema.check_arrow (used when a run lands) against schema.to_arrow (what compaction writes):
    the same verdict on good values, on values Arrow coerces, and on values that do not fit."""
    from harness import schema

    cases = [
        ("runs", {"threads": [2], "p50_us": [3], "status": ["ok"], "throttled": [True]}),   # an int in a float column
        ("runs", {"p50_us": ["3.5"]}),                  # text Arrow coerces to a float
        ("runs", {"threads": [2.0]}),                   # a whole float in an int column
        ("runs", {"threads": [2.5]}),                   # not whole: refused
        ("runs", {"threads": [2**63]}),                 # beyond int64: refused
        ("runs", {"p50_us": ["fast"]}),
        ("runs", {"throttled": ["maybe"]}),
        ("runs", {"started_at": ["2026-11-28T04:00:00+00:00"]}),
        ("runs", {"started_at": ["yesterday"]}),
        ("runs", {"no_such_column": [1]}),
        ("samples", {"iteration": list(range(300)), "latency_us": [1.0] * 299 + ["x"]}),
    ]
    for table, columns in cases:
        rows = len(next(iter(columns.values())))
        verdicts = []
        for check in (schema.check_arrow, schema.to_arrow):
            try:
                check(table, columns, rows)
                verdicts.append("ok")
            except StoreError:
                verdicts.append("refused")
        assert verdicts[0] == verdicts[1], (columns, verdicts)


def test_threads_racing_to_land_one_key_land_one_whole_copy(tmp_path):
    store = Store(tmp_path)
    barrier = threading.Barrier(8)
    outcome: dict[int, str] = {}

    def writer(i: int) -> None:
        barrier.wait()
        try:
            store.land_run("c1", "k", record("c1/k", n=10 + i, base=1000.0 * i), {"result.json": str(i).encode()})
            outcome[i] = "landed"
        except StoreError as exc:
            outcome[i] = str(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [i for i, o in outcome.items() if o == "landed"]
    assert len(winners) == 1 and all("landed already" in o for i, o in outcome.items() if i not in winners)
    res = load_results(tmp_path)
    (w,) = winners
    assert len(res.runs) == 1 and int(res.runs["count"].iloc[0]) == 10 + w
    assert len(res.samples) == 10 + w and res.samples["latency_us"].min() == 1000.0 * w  # never mixed
    assert (tmp_path / "c1/runs/k/raw/result.json").read_bytes() == str(w).encode()
    assert [p.name for p in (tmp_path / "c1/runs").iterdir()] == ["k"]  # no half-landed folders left


# --- reading what was asked ----------------------------------------------------------------------

def test_samples_are_read_only_when_asked(tmp_path):
    store = Store(tmp_path)
    land(store, "c1", ["d1.a", "d1.b"])
    store.compact("c1")
    (samples_file,) = (tmp_path / "c1/parts").glob("samples-*.parquet")
    good = samples_file.read_bytes()
    samples_file.write_bytes(b"not parquet")  # a samples file no one should touch to get runs and ops
    res = load_results(tmp_path)
    assert len(res.runs) == 2 and len(res.ops) == 4 and not res.samples_loaded
    assert len(load_runs(tmp_path)) == 2
    assert len(query("SELECT * FROM runs JOIN ops USING (run_id)", tmp_path)) == 4
    with pytest.raises(StoreError, match="cannot read"):
        res.samples  # noqa: B018
    with pytest.raises(StoreError, match="cannot read"):
        load_results(tmp_path, samples=True)
    samples_file.write_bytes(good)
    runs, ops, samples = load_results(tmp_path)  # unpacking reads them, as before
    assert len(samples) == 6 and list(samples["latency_us"][:3]) == [100.0, 101.0, 102.0]


def test_samples_read_late_are_those_of_the_runs_loaded_even_after_a_merge(tmp_path):
    store = Store(tmp_path)
    land(store, "c1", ["d1.a"])
    store.compact("c1", keys=["d1.a"])
    land(store, "c1", ["d2.a"])
    store.compact("c1", keys=["d2.a"])
    res = load_results(tmp_path)  # two parts; samples not read yet
    land(store, "c1", ["d3.a"])  # landed after the load: not part of it
    store.compact("c1")  # merges the parts the load saw and removes them
    assert len(parts(tmp_path / "c1")) == 1
    assert set(res.samples["run_id"].astype(str)) == {"c1/d1.a", "c1/d2.a"} and len(res.samples) == 6


# --- duplicates ----------------------------------------------------------------------------------

def copy_part(folder: Path, part_file: Path, newer: str) -> None:
    """What two controllers compacting the same runs leave: the same runs in a second part."""
    old = part_file.name.removeprefix("runs-").removesuffix(".parquet")
    for table in ("samples", "ops", "runs"):
        shutil.copy(folder / "parts" / f"{table}-{old}.parquet", folder / "parts" / f"{table}-{newer}.parquet")


def test_a_run_held_by_two_parts_counts_once_and_the_copy_dropped_is_named(tmp_path):
    store = Store(tmp_path)
    land(store, "c1", ["d1.a", "d1.b"])
    store.compact("c1", keys=["d1.a", "d1.b"])
    (first,) = (tmp_path / "c1/parts").glob("runs-*.parquet")
    copy_part(tmp_path / "c1", first, "99991231T000000000000Z-copy")
    land(store, "c1", ["d2.a"])  # and one run no part holds
    res = load_results(tmp_path, samples=True)
    assert sorted(res.runs["run_id"]) == ["c1/d1.a", "c1/d1.b", "c1/d2.a"]
    assert len(res.ops) == 6 and len(res.samples) == 9
    assert {d.run_id for d in res.dropped} == {"c1/d1.a", "c1/d1.b"}
    assert all("99991231" in d.dropped and d.kept == str(first) for d in res.dropped)  # the oldest copy kept
    counted = query("SELECT (SELECT count(*) FROM runs) AS runs, (SELECT count(*) FROM ops) AS ops, "
                    "(SELECT count(*) FROM samples) AS samples", tmp_path)
    assert counted.iloc[0].tolist() == [3, 6, 9] and len(counted.attrs["dropped"]) == 2
    compaction = store.compact("c1")  # merges the three parts, the duplicates left out
    assert compaction.merged == 3 and len(compaction.dropped) == 2 and len(parts(tmp_path / "c1")) == 1
    after = load_results(tmp_path, samples=True)
    assert after.dropped == () and after.uncompacted == 0
    assert_same(res, after)


def test_the_copy_kept_is_the_first_landed_when_two_copies_differ(tmp_path):
    """Without a conditional create, two controllers may land different copies of one key; the
    part compacted first holds the copy that landed first."""
    store = Store(tmp_path)
    land(store, "c1", ["d1.a"], base=100.0)
    store.compact("c1")
    first = parts(tmp_path / "c1")
    # a second copy of the key, landed later elsewhere and compacted into a newer part
    other = Store(tmp_path / "elsewhere")
    land(other, "c1", ["d1.a"], base=500.0)
    other.compact("c1")
    (late,) = (tmp_path / "elsewhere/c1/parts").glob("runs-*.parquet")
    late_id = late.name.removeprefix("runs-").removesuffix(".parquet")
    for table in ("samples", "ops", "runs"):
        shutil.copy(tmp_path / f"elsewhere/c1/parts/{table}-{late_id}.parquet", tmp_path / "c1/parts")
    assert sorted(parts(tmp_path / "c1")) == sorted([*first, late.name])
    res = load_results(tmp_path / "c1", samples=True)
    assert res.runs["p50_us"].tolist() == [100.0] and res.samples["latency_us"].tolist() == [100.0, 101.0, 102.0]
    assert [d.dropped for d in res.dropped] == [str(tmp_path / "c1/parts" / late.name)]


# --- interrupted at every step -------------------------------------------------------------------

class Killed(BaseException):
    """A controller stopping dead between two changes to the store (nothing after runs)."""


MUTATIONS = ("write", "open_write", "land_folder", "remove")


def interrupt_after(monkeypatch, steps: int | None) -> list[str]:
    """Make the store's (steps+1)-th change to its files raise Killed; count changes (None: never)."""
    done: list[str] = []
    for cls in (LocalFS, FsspecFS):
        for name in MUTATIONS:
            original = getattr(cls, name)

            def wrapped(self, *args, __original=original, __name=name, **kwargs):
                if steps is not None and len(done) >= steps:
                    raise Killed(f"killed before {__name} #{len(done) + 1}")
                done.append(__name)
                return __original(self, *args, **kwargs)

            monkeypatch.setattr(cls, name, wrapped)
    return done


def mixed_store(root: Path) -> Store:
    """Two parts (two devices' sessions ended), one run compacted twice, and three loose runs."""
    store = Store(root)
    land(store, "c1", ["d1.a", "d1.b"])
    store.compact("c1", keys=["d1.a", "d1.b"])
    land(store, "c1", ["d2.a"])
    store.compact("c1", keys=["d2.a"])
    store.compact("c1", keys=["d2.a"])  # compacted twice: a duplicate to drop
    land(store, "c1", ["d3.a", "d3.b", "d4.a"])
    return store


def test_compaction_interrupted_at_every_step_loses_and_doubles_nothing(tmp_path, monkeypatch):
    mixed_store(tmp_path / "ref")
    reference = load_results(tmp_path / "ref", samples=True)
    assert len(reference.runs) == 6 and len(reference.dropped) == 1
    with monkeypatch.context() as m:
        counted = interrupt_after(m, None)
        Store(tmp_path / "ref").compact("c1")
    steps = len(counted)
    assert steps >= 7, counted  # 3 files of the new part, 3 of the merged one, removals of three parts
    for k in range(steps):
        root = tmp_path / f"k{k}"
        store = mixed_store(root)
        with monkeypatch.context() as m:
            interrupt_after(m, k)
            with pytest.raises(Killed):
                store.compact("c1")
        after_kill = load_results(root, samples=True)
        assert_same(reference, after_kill)
        assert after_kill.runs["run_id"].is_unique
        store.compact("c1")  # the next compaction finishes the job
        final = load_results(root, samples=True)
        assert_same(reference, final)
        assert final.dropped == () and final.uncompacted == 0 and len(parts(root / "c1")) == 1


def test_files_of_an_interrupted_compaction_are_ignored_then_removed_once_old(tmp_path):
    store = Store(tmp_path)
    land(store, "c1", ["d1.a"])
    store.compact("c1")
    folder = tmp_path / "c1/parts"
    (folder / "samples-20261201T000000000000Z-dead.parquet").write_bytes(b"half a part")
    (folder / "ops-20261201T000000000000Z-dead.parquet").write_bytes(b"half a part")
    (folder / ".runs-20261201T000000000000Z-dead.parquet.x1.tmp").write_bytes(b"half a file")
    (tmp_path / "c1/runs/.incoming-d1.b-x1").mkdir()  # a landing killed before its rename
    (tmp_path / "c1/runs/.incoming-d1.b-x1/run.json").write_text("{trunc")
    res = load_results(tmp_path, samples=True)
    assert len(res.runs) == 1 and len(res.samples) == 3 and res.dropped == ()
    assert store.compact("c1").removed == 0  # young: may be a compaction still writing
    for p in folder.iterdir():
        os.utime(p, (0, 0))
    assert store.compact("c1").removed == 3
    assert sorted(p.name.split("-")[0] for p in folder.iterdir()) == ["ops", "runs", "samples"]


def test_a_reader_that_meets_a_merge_starts_over(tmp_path, monkeypatch):
    store = Store(tmp_path)
    land(store, "c1", ["d1.a"])
    store.compact("c1", keys=["d1.a"])
    land(store, "c1", ["d2.a"])
    store.compact("c1", keys=["d2.a"])
    stale = store_mod._landed_parts(store.fs, tmp_path / "c1")
    store.compact("c1")  # merged: the parts listed are gone
    original, calls = store_mod._landed_parts, []

    def listing(fs, folder):  # the first look lists the parts as they were before the merge
        calls.append(folder)
        return stale if len(calls) == 1 else original(fs, folder)

    monkeypatch.setattr(store_mod, "_landed_parts", listing)
    res = load_results(tmp_path, samples=True)
    assert sorted(res.runs["run_id"]) == ["c1/d1.a", "c1/d2.a"] and len(res.samples) == 6


# --- format 1: loads as it is, migrates in place ------------------------------------------------

@pytest.fixture
def format1(tmp_path) -> Path:
    root = tmp_path / "store"
    shutil.copytree(FORMAT1, root, ignore=shutil.ignore_patterns("README.md"))
    return root


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_the_committed_format1_store_loads_as_it_is(format1):
    res = load_results(format1, samples=True)
    assert sorted(set(res.runs["campaign"])) == ["imported-log", "mnv2-fp32-int8"] and len(res.runs) == 8
    assert res.uncompacted == 8 and len(res.ops) > 0 and len(res.samples) > 0
    failed = res.runs[res.runs["status"] == "failed"]
    assert list(failed["error_class"]) == ["DelegateError"] and failed["p50_us"].isna().all()
    per_run = res.samples.groupby("run_id", observed=True).size()
    counts = res.runs.set_index("run_id")["count"]
    assert len(per_run) == 6 and all(per_run[r] == counts[r] for r in per_run.index)  # one sample per timed invoke
    assert len(query("SELECT * FROM runs WHERE mode = 'profile'", format1)) == 2


def test_migrate_the_committed_format1_store_in_place_and_again(format1):
    before = load_results(format1, samples=True)
    raw_before = {k: v for k, v in tree(format1).items() if "/raw/" in k}
    done = migrate(format1)
    assert [(m.campaign, m.converted, m.compaction.runs) for m in done] == [("imported-log", 2, 2),
                                                                          ("mnv2-fp32-int8", 6, 6)]
    after = load_results(format1, samples=True)
    assert_same(before, after)
    assert after.uncompacted == 0
    files = tree(format1)
    assert all(json.loads(v)["schema_version"] == 2 for k, v in files.items() if k.endswith("/run.json"))
    assert {k: v for k, v in files.items() if "/raw/" in k} == raw_before  # raw output untouched
    again = migrate(format1)
    assert [(m.converted, m.compaction.runs, m.compaction.merged) for m in again] == [(0, 0, 0), (0, 0, 0)]
    assert tree(format1) == files  # idempotent: nothing rewritten


def test_migrate_interrupted_at_every_step_loads_with_nothing_lost_or_doubled(tmp_path, monkeypatch):
    reference = load_results(FORMAT1, samples=True)
    root = tmp_path / "count"
    shutil.copytree(FORMAT1, root)
    with monkeypatch.context() as m:
        counted = interrupt_after(m, None)
        migrate(root)
    assert len(counted) >= 14, counted  # 8 records rewritten, 3 part files per campaign
    for k in range(len(counted)):
        root = tmp_path / f"k{k}"
        shutil.copytree(FORMAT1, root)
        with monkeypatch.context() as m:
            interrupt_after(m, k)
            with pytest.raises(Killed):
                migrate(root)
        assert_same(reference, load_results(root, samples=True))
        migrate(root)
        final = load_results(root, samples=True)
        assert_same(reference, final)
        assert final.uncompacted == 0 and final.dropped == ()


# --- fsspec URLs ---------------------------------------------------------------------------------

def test_a_memory_store_lands_once_compacts_queries_and_migrates(tmp_path):
    root = "memory://harness-format2"
    fs = fsspec.filesystem("memory")
    if fs.exists("/harness-format2"):
        fs.rm("/harness-format2", recursive=True)
    store = Store(root)
    land(store, "c1", ["d1.a", "d1.b"])
    with pytest.raises(StoreError, match="landed already"):
        land(store, "c1", ["d1.a"])
    assert store.fs.exclusive and store.landed_keys("c1") == {"d1.a", "d1.b"}
    loose = load_results(root, samples=True)
    assert store.compact("c1").runs == 2 and fs.glob("/harness-format2/c1/parts/runs-*.parquet")
    packed = load_results(root, samples=True)
    assert_same(loose, packed)
    assert query("SELECT count(*) AS n FROM samples", root)["n"].tolist() == [6]
    with pytest.raises(StoreError, match="landed already"):  # a compacted run is still landed
        land(store, "c1", ["d1.b"])
    # a format-1 store copied into an object store migrates there
    fs.put(str(FORMAT1), "/harness-f1", recursive=True)
    migrate("memory://harness-f1")
    assert_same(load_results(FORMAT1, samples=True), load_results("memory://harness-f1", samples=True))


def test_a_landing_killed_before_its_record_on_an_object_store_is_not_a_run():
    root = "memory://harness-half-landed"
    fs = fsspec.filesystem("memory")
    if fs.exists("/harness-half-landed"):
        fs.rm("/harness-half-landed", recursive=True)
    fs.pipe_file("/harness-half-landed/c1/runs/d1.a/raw/result.json", b"from the killed controller")
    store = Store(root)
    land(store, "c1", ["d1.b"])
    assert not store.has_run("c1", "d1.a") and list(load_results(root).runs["run_id"]) == ["c1/d1.b"]
    land(store, "c1", ["d1.a"])  # the next landing of the key replaces what was left
    assert fs.cat_file("/harness-half-landed/c1/runs/d1.a/raw/result.json") == b"d1.a"
    assert sorted(load_results(root).runs["run_id"]) == ["c1/d1.a", "c1/d1.b"]


class NoExclusiveFS(MemoryFileSystem):
    """An object store without a conditional create (fsspec refuses mode "xb")."""

    protocol = "noexclusive"
    store: dict = {}
    pseudo_dirs = [""]

    def _open(self, path, mode="rb", **kwargs):
        if "x" in mode:
            raise ValueError(f"unsupported file mode {mode!r}")
        return super()._open(path, mode, **kwargs)


@pytest.mark.filterwarnings("ignore:UPath 'noexclusive' filesystem not explicitly implemented")
def test_a_backend_without_conditional_create_still_lands_once_and_readers_keep_one_copy():
    fsspec.register_implementation("noexclusive", NoExclusiveFS, clobber=True)
    root = "noexclusive://s"
    store = Store(root)
    land(store, "c1", ["d1.a"])
    assert store.fs.exclusive is False  # said, not hidden
    with pytest.raises(StoreError, match="landed already"):
        land(store, "c1", ["d1.a"])
    store.compact("c1", keys=["d1.a"])
    store.compact("c1", keys=["d1.a"])  # two controllers compacted it: two copies
    res = load_results(root, samples=True)
    assert len(res.runs) == 1 and len(res.samples) == 3 and len(res.dropped) == 1


def test_a_file_url_is_a_local_folder(tmp_path):
    store = Store(f"file://{tmp_path}/via-url")
    assert isinstance(store.fs, LocalFS) and store.root == tmp_path / "via-url"


def test_query_errors_and_an_empty_store(tmp_path):
    land(Store(tmp_path), "c1", ["d1.a"])
    with pytest.raises(UserError, match="SQL error"):
        query("SELEC 1", tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="No runs"):
        query("SELECT 1", tmp_path / "empty")
