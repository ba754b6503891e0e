"""The results store, format 2: each run lands alone and at once; runs are then compacted into
Parquet parts per campaign, which is what readers load.

    results/
      <campaign>/
        campaign.json                    what was asked: devices, model, variants, plan (rewritten atomically)
        runs/<key>/                      one landed run (the folder renamed into place whole)
          run.json                       its record: {"schema_version": 2, "run": {...}, "ops": {column: [...]},
                                         "samples": {"iteration": [...], "latency_us": [...]}, "command": {...}}
          raw/                           the runner's own output as pulled from the device (kept for re-parsing)
        parts/                           runs compacted, one Parquet file per table per part:
          samples-<part>.parquet         written first,
          ops-<part>.parquet
          runs-<part>.parquet            written last: a part whose runs file exists has landed

A run's id is ``<campaign>/<key>``; the key names the plan item (device, variant, threads, mode,
kernels, repeat). Landing a key twice is refused: on a folder by the rename itself, on an fsspec
URL by creating ``run.json`` with an exclusive create (``storefs``). Nothing rewrites or removes a
landed run's record: a part is a copy, and a run counts as compacted when a landed part holds its
key — landing a part is the only mark. Readers load the parts, then the runs no part holds yet; a
key held twice (two controllers compacting at once, or a merge interrupted before it removed
what it merged) is kept once, from the oldest part, and the copies dropped are listed in
``Results.dropped``. Runs are compacted when a device's session ends (its own runs), at the end
of ``harness.run``, by `harness results compact` and by `harness results migrate`; the last three
also merge the campaign's parts into one (streaming, one source part in memory at a time).

Stores of format 1 (``run.json`` with schema_version 1, ops and samples as lists of records) load
as they are; ``migrate`` rewrites their records in format 2 and compacts them. Why this layout,
and what a controller killed at each step leaves: docs/architecture.md, "Results store, format 2".
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import schema
from harness.errors import StoreError, UserError
from harness.storefs import StoreFS, filesystem_for

DEFAULT_STORE = Path("results")
CAMPAIGN_FILE = "campaign.json"
RUN_FILE = "run.json"
PARTS = "parts"
FORMAT = 2  # the store format this harness writes (``schema_version`` of a run.json)
READS = (1, 2)  # the formats it reads
# a part file without its runs file (a compaction killed mid-part) is removed when this old: a
# younger one may belong to a compaction still writing
ORPHAN_AGE_S = 3600.0
_RETRIES = 5  # times a reader starts over when a compaction removed a file it was about to read
ROW_GROUP = 1 << 20  # rows per Parquet row group (pyarrow's default): few, large reads


# --- what readers return --------------------------------------------------------------------------

@dataclass(frozen=True)
class DroppedCopy:
    """A second copy of a run that a reader left out: where it was, and where the copy kept is."""

    run_id: str
    dropped: str
    kept: str


class Results:
    """The frames of a store, a campaign or a run: ``runs`` and ``ops`` as loaded, ``samples``
    read on first use (``load_results(..., samples=True)`` reads them at once). Unpacking
    (``runs, ops, samples = results``) reads the samples too."""

    def __init__(self, runs: Any, ops: Any, samples: Any = None, *, dropped: Sequence[DroppedCopy] = (),
                 uncompacted: int = 0, load_samples: Callable[[], Any] | None = None) -> None:
        self.runs = runs
        self.ops = ops
        self._samples = samples
        self._load_samples = load_samples
        self.dropped = tuple(dropped)  # duplicate copies of runs left out (see the module's docstring)
        self.uncompacted = uncompacted  # runs read from their own run.json (no part holds them yet)

    @property
    def samples(self) -> Any:
        if self._samples is None:
            if self._load_samples is None:
                self._samples = schema.empty_frame("samples")
            else:
                self._samples = self._load_samples()
                self._load_samples = None
        return self._samples

    @samples.setter
    def samples(self, frame: Any) -> None:
        self._samples = frame
        self._load_samples = None

    @property
    def samples_loaded(self) -> bool:
        return self._samples is not None

    def __iter__(self) -> Iterator[Any]:
        return iter((self.runs, self.ops, self.samples))

    def __repr__(self) -> str:
        samples = f"{len(self._samples)} samples" if self._samples is not None else "samples not loaded"
        return f"Results({len(self.runs)} runs, {len(self.ops)} ops, {samples})"


@dataclass(frozen=True)
class Compaction:
    """What one compaction of a campaign did."""

    campaign: str
    runs: int = 0  # runs copied from their run.json into a new part
    merged: int = 0  # parts merged into one
    dropped: tuple[DroppedCopy, ...] = ()  # duplicate copies left out of the merged part
    removed: int = 0  # files of interrupted compactions removed (older than ORPHAN_AGE_S)
    part: str | None = None  # the part written last, if any


@dataclass(frozen=True)
class Migration:
    """What ``migrate`` did to one campaign."""

    campaign: str
    converted: int  # run.json files rewritten from format 1
    compaction: Compaction


# --- paths ----------------------------------------------------------------------------------------

def store_path(root: Any) -> Any:
    """A local Path (``file://`` URLs are local folders), or a pathlib-like UPath for another
    fsspec URL (``scheme://...``)."""
    if hasattr(root, "exists"):  # a Path or UPath already
        return root
    root = os.fspath(root)
    if isinstance(root, str) and root.startswith("file://"):
        return Path(root.removeprefix("file://"))
    if isinstance(root, str) and "://" in root:
        from upath import UPath

        return UPath(root)
    return Path(root)


def _is_local(path: Any) -> bool:
    return isinstance(path, Path) and type(path).__module__.startswith("pathlib")


def _part_file(campaign_dir: Any, table: str, part: str) -> Any:
    return campaign_dir / PARTS / f"{table}-{part}.parquet"


def _new_part_id() -> str:
    """Sorts by time of writing (UTC), then at random: the oldest part comes first."""
    now = time.time()
    return f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime(now))}{int(now % 1 * 1e6):06d}Z-{uuid.uuid4().hex[:12]}"


def _key_of(run_id: str) -> str:
    return run_id.partition("/")[2] or run_id


def _check_raw_name(name: str) -> str:
    parts = Path(name).parts
    if not name or name.startswith(("/", "\\")) or Path(name).is_absolute() or ".." in parts or not parts:
        raise StoreError(f"refusing to write {name!r}: it would land outside the run's raw/ folder")
    return "/".join(parts)


# --- the store ------------------------------------------------------------------------------------

class Store:
    """A results folder (or fsspec URL). Constructing it does no I/O."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = store_path(root) if root else DEFAULT_STORE
        self.fs: StoreFS = filesystem_for(self.root)

    # campaigns -----------------------------------------------------------------------
    def campaign_dir(self, campaign: str) -> Path:
        if not campaign or "/" in campaign or campaign.startswith("."):
            raise StoreError(f"invalid campaign name {campaign!r}: use letters, digits, '-', '_' and '.'")
        return self.root / campaign

    def write_campaign(self, campaign: str, meta: Mapping[str, Any]) -> None:
        path = self.campaign_dir(campaign) / CAMPAIGN_FILE
        if not _is_local(path):
            path.parent.mkdir(parents=True, exist_ok=True)
        self.fs.write(path, (json.dumps(dict(meta), indent=1, default=str) + "\n").encode())

    def read_campaign(self, campaign: str) -> dict[str, Any] | None:
        path = self.campaign_dir(campaign) / CAMPAIGN_FILE
        if not path.exists():
            return None
        try:
            meta: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            return meta
        except (OSError, json.JSONDecodeError) as exc:
            raise StoreError(f"cannot read {path}: {exc}") from exc

    def campaigns(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / CAMPAIGN_FILE).is_file())

    def resolve_campaign(self, campaign: str | None = None) -> str:
        """The one campaign lookup: ``campaign`` checked against what the store holds (with close
        names when it is not there), or the newest (campaign.json's ``created_at``) when None."""
        if not self.root.exists():
            raise UserError(f"No results store at {self.root}. Run `harness run` first, or pass --results DIR.")
        names = self.campaigns()
        if not names:
            raise UserError(f"No campaigns in {self.root}. Run `harness run` first, or pass --results DIR.")
        if campaign is None:
            return max(names, key=lambda n: (self._created_at(n), n))
        if campaign not in names:
            import difflib

            close = difflib.get_close_matches(campaign, names, n=3)
            hint = f" Did you mean {', '.join(close)}?" if close else f" It has {', '.join(names[-5:])}."
            raise UserError(f"No campaign {campaign!r} in {self.root}.{hint}")
        return campaign

    def _created_at(self, campaign: str) -> str:
        try:
            meta = self.read_campaign(campaign) or {}
        except StoreError:
            meta = {}
        return str(meta.get("created_at") or "")

    # runs ----------------------------------------------------------------------------
    def run_dir(self, campaign: str, key: str) -> Path:
        if not key or "/" in key or key.startswith("."):
            raise StoreError(f"invalid run key {key!r}")
        return self.campaign_dir(campaign) / "runs" / key

    def run_file(self, campaign: str, key: str) -> Path:
        """The landed run's record (run.json)."""
        return self.run_dir(campaign, key) / RUN_FILE

    def raw_path(self, campaign: str, key: str, name: str) -> Path:
        """A raw file the runner left with a landed run (``raw/<name>``)."""
        return self.run_dir(campaign, key) / "raw" / name

    def has_run(self, campaign: str, key: str) -> bool:
        return bool(self.run_file(campaign, key).is_file())

    def landed_keys(self, campaign: str) -> set[str]:
        return set(self.fs.marked_folders(self.campaign_dir(campaign) / "runs", RUN_FILE))

    def land_run(
        self,
        campaign: str,
        key: str,
        record: Mapping[str, Any],
        raw_files: Mapping[str, bytes] | None = None,
    ) -> Path:
        """Land one run whole and once: its folder (record and raw files) appears at once, or not at all.

        ``record`` is ``{"run": {...}, "ops": [...], "samples": [...], ...}`` (``records.stored``);
        the run, op and sample records are checked against the schema before anything is written.
        Raises StoreError if this key has landed already (nothing is overwritten).
        """
        final = self.run_dir(campaign, key)
        if self.has_run(campaign, key) or (_is_local(final) and final.exists()):
            raise StoreError(f"run {campaign}/{key} has landed already; not writing it twice")
        files = {f"raw/{_check_raw_name(name)}": data for name, data in (raw_files or {}).items()}
        files[RUN_FILE] = _encode(record)
        try:
            self.fs.land_folder(final, files, RUN_FILE)
        except FileExistsError as exc:
            raise StoreError(f"run {campaign}/{key} has landed already; not writing it twice") from exc
        except ValueError as exc:  # a raw file name from the device that would escape the folder
            raise StoreError(str(exc)) from exc
        return final

    def run_files(self, path: Any = None) -> list[Any]:
        """Every landed run's run.json below ``path`` (the store, a campaign, or one run), sorted."""
        base = self.root if path is None else store_path(path)
        if (base / RUN_FILE).is_file():
            return [base / RUN_FILE]
        return [c / "runs" / key / RUN_FILE for c in _campaign_dirs(self.fs, base)
                for key in sorted(self.fs.marked_folders(c / "runs", RUN_FILE))]

    # compaction ----------------------------------------------------------------------
    def compact(self, campaign: str, keys: Iterable[str] | None = None) -> Compaction:
        """Copy the campaign's runs that no part holds into a new part, merge its parts into
        one, and remove files of compactions interrupted more than ``ORPHAN_AGE_S`` ago. Safe at
        any time, by several processes at once.

        With ``keys``, only the records of those runs, as they are, with no merge: what a caller
        that has just landed them does (a device's session when it ends), at a cost that does
        not grow with the campaign. No part can hold runs just landed, unless a full compaction
        ran meanwhile; then readers keep one copy, and the next full compaction drops the other.
        """
        return _compact(self.fs, self.campaign_dir(campaign), campaign, keys=keys)

    def migrate(self, campaign: str) -> Migration:
        """Rewrite the campaign's format-1 run.json files in format 2, then compact it. Idempotent;
        interrupted at any point, the campaign loads with nothing lost or doubled."""
        cdir = self.campaign_dir(campaign)
        converted = 0
        for key in sorted(self.fs.marked_folders(cdir / "runs", RUN_FILE)):
            path = cdir / "runs" / key / RUN_FILE
            doc = _read_doc(self.fs, path)
            if doc.get("schema_version") == 1:
                self.fs.write(path, _encode(_rows_of(doc), keep=doc))
                converted += 1
        return Migration(campaign, converted, self.compact(campaign))


# --- run records ----------------------------------------------------------------------------------

def _encode(record: Mapping[str, Any], keep: Mapping[str, Any] | None = None) -> bytes:
    """A run record as run.json of format 2, its names and values checked against the schema (a
    record that cannot be compacted is refused before it lands). Ops and samples may be lists of
    records or columns. ``keep``: the fields of a document being converted (``command`` ...)."""
    body = {k: v for k, v in (keep or record).items() if k not in ("run", "ops", "samples", "schema_version")}
    run = schema.check_record("runs", record["run"])
    run_id = run["run_id"]
    schema.check_arrow("runs", {c: [v] for c, v in run.items()}, 1)
    columns: dict[str, dict[str, list[Any]]] = {}
    for table in ("ops", "samples"):
        given = record.get(table) or ()
        if isinstance(given, Mapping):
            cols = {c: list(v) for c, v in given.items()}
        else:
            rows = [schema.check_record(table, r) for r in given]
            cols = {c: [r[c] for r in rows] for c in schema.TABLES[table]}
        lengths = {len(v) for v in cols.values()}
        if len(lengths) > 1:
            raise StoreError(f"{table} columns of run {run_id} differ in length: {sorted(lengths)}")
        others = set(cols.pop("run_id", ())) - {run_id, None}
        if others:
            raise StoreError(f"{table} records of run {run_id} name other runs: {sorted(others)}")
        schema.check_arrow(table, cols, lengths.pop() if lengths else 0)
        columns[table] = {c: cols.get(c, [None] * len(next(iter(cols.values()), []))) for c in schema.TABLES[table]
                          if c != "run_id"}
    doc = {"schema_version": FORMAT, "run": run, "ops": columns["ops"], "samples": columns["samples"], **body}
    return (json.dumps(doc, separators=(",", ":"), default=str) + "\n").encode()


def _read_doc(fs: StoreFS, path: Any) -> dict[str, Any]:
    try:
        doc: dict[str, Any] = json.loads(fs.read_bytes(path))
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as exc:
        raise StoreError(f"cannot read {path}: {exc}") from exc
    version = doc.get("schema_version")
    if version not in READS:
        raise StoreError(
            f"{path} has schema version {version}; this harness reads {', '.join(map(str, READS))}. "
            "Upgrade harness (or migrate the store) to read it."
        )
    return doc


def _columns_of(doc: Mapping[str, Any], table: str) -> dict[str, list[Any]]:
    """A record's ops or samples as columns (without run_id), whichever format it is in."""
    data = doc.get(table) or {}
    if isinstance(data, Mapping):
        return {c: list(v) for c, v in data.items()}
    names = [c for c in schema.TABLES[table] if c != "run_id"]
    unknown = {c for row in data for c in row} - set(schema.TABLES[table])
    if unknown:
        raise StoreError(f"{table} record has columns the schema does not know: {sorted(unknown)}")
    return {c: [row.get(c) for row in data] for c in names}


def _rows_of(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A record in the shape ``land_run`` takes (ops and samples as lists of records)."""
    run_id = doc["run"]["run_id"]
    out: dict[str, Any] = {"run": doc["run"]}
    for table in ("ops", "samples"):
        cols = _columns_of(doc, table)
        n = len(next(iter(cols.values()), []))
        out[table] = [{"run_id": run_id, **{c: v[i] for c, v in cols.items()}} for i in range(n)]
    return out


def read_run(path: Any) -> dict[str, Any]:
    """One landed run's record, of either format, as ``land_run`` takes it: ``{"schema_version",
    "run", "ops": [records], "samples": [records], "command", ...}``."""
    p = store_path(path)
    try:
        doc = _read_doc(filesystem_for(p), p)
    except FileNotFoundError as exc:
        raise StoreError(f"cannot read {p}: it does not exist") from exc
    return {**doc, **_rows_of(doc)}


class _Gathered:
    """Run records gathered into Arrow tables (one pass; samples kept as Arrow, not Python lists)."""

    def __init__(self) -> None:
        self.runs: list[dict[str, Any]] = []
        self.ops: dict[str, list[Any]] = {c: [] for c in schema.OPS}
        self.ops_rows = 0
        self.sample_chunks: list[tuple[Any, Any]] = []  # (iteration, latency_us) per run
        self.sample_counts: list[int] = []

    def add(self, doc: Mapping[str, Any]) -> None:
        run = doc["run"]
        self.runs.append(run)
        run_id = run["run_id"]
        ops = _columns_of(doc, "ops")
        n = len(next(iter(ops.values()), []))
        for col in self.ops:
            self.ops[col].extend([run_id] * n if col == "run_id" else ops.get(col, [None] * n))
        self.ops_rows += n
        samples = _columns_of(doc, "samples")
        latency = samples.get("latency_us", [])
        iteration = samples.get("iteration", [None] * len(latency))
        arrays = schema.to_arrow("samples", {"iteration": iteration, "latency_us": latency}, len(latency))
        self.sample_chunks.append((arrays["iteration"], arrays["latency_us"]))
        self.sample_counts.append(len(latency))

    def tables(self) -> tuple[Any, Any, Any]:
        import numpy as np
        import pyarrow as pa

        runs = schema.to_arrow("runs", {c: [r.get(c) for r in self.runs] for c in schema.RUNS}, len(self.runs))
        ops = schema.to_arrow("ops", self.ops, self.ops_rows)
        ids = pa.array([r["run_id"] for r in self.runs], pa.string())
        codes = np.repeat(np.arange(len(self.runs), dtype=np.int32), self.sample_counts)
        run_id = pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32()), ids)
        iteration = pa.chunked_array([c for pair in self.sample_chunks for c in pair[0].chunks], pa.int64())
        latency = pa.chunked_array([c for pair in self.sample_chunks for c in pair[1].chunks], pa.float64())
        samples = schema.to_arrow("samples", {"run_id": run_id, "iteration": iteration, "latency_us": latency},
                                  len(codes))
        return runs, ops, samples


# --- reading --------------------------------------------------------------------------------------

def _is_campaign(fs: StoreFS, folder: Any) -> bool:
    return bool({CAMPAIGN_FILE, "runs", PARTS} & set(fs.names(folder)))


def _campaign_dirs(fs: StoreFS, base: Any) -> list[Any]:
    """``base`` when it is a campaign folder, else the campaign folders in it (a store root)."""
    if _is_campaign(fs, base):
        return [base]
    return [base / name for name in sorted(fs.names(base))
            if not name.startswith(".") and _is_campaign(fs, base / name)]


def _landed_parts(fs: StoreFS, campaign_dir: Any) -> list[str]:
    """The campaign's landed parts (their runs file exists), oldest first."""
    names = fs.names(campaign_dir / PARTS)
    return sorted(n[len("runs-"):-len(".parquet")] for n in names if n.startswith("runs-") and n.endswith(".parquet"))


def _read_parquet(fs: StoreFS, path: Any, columns: list[str] | None = None) -> Any:
    """An Arrow table; FileNotFoundError when the file is gone (merged away since it was listed)."""
    import pyarrow.parquet as pq

    source, filesystem = fs.arrow_source(path)
    try:
        return pq.read_table(source, filesystem=filesystem, columns=columns)
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as exc:
        if not path.exists():
            raise FileNotFoundError(str(path)) from exc
        raise StoreError(f"cannot read {path}: {exc}") from exc


def _read_table(fs: StoreFS, folder: Any, table: str, part: str, skip: set[str]) -> Any:
    return _without(schema.conform(table, _read_parquet(fs, _part_file(folder, table, part))), skip)


def _ids(data: Any) -> list[str]:
    return [str(i) for i in data["run_id"].to_pylist()]


def _without(data: Any, run_ids: set[str]) -> Any:
    """``data`` without the rows of ``run_ids``."""
    if not run_ids:
        return data
    import pyarrow as pa
    import pyarrow.compute as pc

    column = data["run_id"]
    if pa.types.is_dictionary(column.type):
        column = column.cast(pa.string())
    return data.filter(pc.invert(pc.is_in(column, value_set=pa.array(sorted(run_ids), pa.string()))))


@dataclass
class _Held:
    """Which copy of each run a reader keeps: the first it meets, parts oldest first."""

    where: dict[str, str] = field(default_factory=dict)  # key -> the file or folder of the copy kept
    skip: dict[str, set[str]] = field(default_factory=dict)  # part -> run ids of the copies dropped from it
    dropped: list[DroppedCopy] = field(default_factory=list)

    def add_part(self, part: str, path: Any, run_ids: Iterable[str]) -> None:
        for run_id in run_ids:
            key = _key_of(run_id)
            if key in self.where:
                self.skip.setdefault(part, set()).add(run_id)
                self.dropped.append(DroppedCopy(run_id, str(path), self.where[key]))
            else:
                self.where[key] = str(path)


@dataclass
class _Campaign:
    """One campaign as one reader saw it: its parts' runs, the runs no part holds (read whole
    from their run.json), and which copies it left out."""

    folder: Any
    parts: list[str]
    part_runs: Any  # Arrow
    held: _Held
    loose_runs: Any
    loose_ops: Any
    loose_samples: Any

    @property
    def runs(self) -> Any:
        import pyarrow as pa

        return pa.concat_tables([self.part_runs, self.loose_runs])

    def table(self, fs: StoreFS, name: str) -> Any:
        """The campaign's ops or samples: its parts' (read now) and its uncompacted runs'."""
        import pyarrow as pa

        parts = [_read_table(fs, self.folder, name, p, self.held.skip.get(p, set())) for p in self.parts]
        return pa.concat_tables([*parts, self.loose_ops if name == "ops" else self.loose_samples])


def _read_campaign(fs: StoreFS, folder: Any) -> _Campaign:
    """One look at a campaign: the runs files of its landed parts, then the run.json of every
    run no part holds. FileNotFoundError when a compaction removed a file after it was listed
    (the caller starts over)."""
    import pyarrow as pa

    parts = _landed_parts(fs, folder)
    held = _Held()
    runs = []
    for part in parts:
        path = _part_file(folder, "runs", part)
        table = schema.conform("runs", _read_parquet(fs, path))
        held.add_part(part, path, _ids(table))
        runs.append(_without(table, held.skip.get(part, set())))
    gathered = _Gathered()
    for key in sorted(fs.marked_folders(folder / "runs", RUN_FILE)):
        if key not in held.where:
            gathered.add(_read_doc(fs, folder / "runs" / key / RUN_FILE))
    loose_runs, loose_ops, loose_samples = gathered.tables()
    part_runs = pa.concat_tables(runs) if runs else loose_runs.slice(0, 0)
    return _Campaign(folder, parts, part_runs, held, loose_runs, loose_ops, loose_samples)


def _retrying(what: Callable[[], Any], where: Any) -> Any:
    for _ in range(_RETRIES):
        try:
            return what()
        except FileNotFoundError:
            continue  # a compaction merged what was listed: look again
    raise StoreError(f"{where} kept changing while it was read ({_RETRIES} tries); try again")


def _existing(path: str | os.PathLike[str] | None) -> Any:
    base = DEFAULT_STORE if path is None else store_path(path)
    if not base.exists():
        raise StoreError(f"No results at {base}. Run `harness run` first, or pass --results DIR.")
    return base


def _concat(name: str, tables: list[Any]) -> Any:
    import pyarrow as pa

    return pa.concat_tables(tables) if tables else schema.to_arrow(name, {}, 0)


def _frame(name: str, data: Any, *, order: bool = True) -> Any:
    """The typed frame; with ``order``, rows in run-id order (stable: a run's ops keep theirs).
    Without, ``data`` is consumed (its memory released as it is converted)."""
    if order and data.num_rows > 1:
        data = data.sort_by([("run_id", "ascending")])
    return schema.from_arrow(name, data, consume=not order)


def _only(data: Any, run_ids: Iterable[str]) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    column = data["run_id"]
    if pa.types.is_dictionary(column.type):
        column = column.cast(pa.string())
    return data.filter(pc.is_in(column, value_set=pa.array(sorted(set(run_ids)), pa.string())))


def load_results(path: str | os.PathLike[str] | None = None, *, samples: bool = False) -> Results:
    """Frames (runs, ops, samples) of everything under ``path`` (default: ./results): a store
    root, a campaign folder or a run folder, local or an fsspec URL.

    ``runs`` and ``ops`` are read now; ``samples`` (one row per timed invoke, the bulk of a store)
    when first used — ``res.samples``, or unpacking ``runs, ops, samples = load_results(...)`` —
    or now with ``samples=True``. A run found twice counts once: ``Results.dropped`` lists the
    copies left out. Runs and ops are in run-id order; samples grouped by run.
    """
    base = _existing(path)
    fs = filesystem_for(base)
    if (base / RUN_FILE).is_file():  # one run
        gathered = _Gathered()
        gathered.add(_read_doc(fs, base / RUN_FILE))
        runs, ops, one = gathered.tables()
        return Results(_frame("runs", runs), _frame("ops", ops), _frame("samples", one, order=False), uncompacted=1)

    def look() -> tuple[list[_Campaign], Any]:
        seen = [_read_campaign(fs, folder) for folder in _campaign_dirs(fs, base)]
        return seen, _concat("ops", [c.table(fs, "ops") for c in seen])

    seen, ops = _retrying(look, base)
    runs = _frame("runs", _concat("runs", [c.runs for c in seen]))

    def read_samples() -> Any:
        try:
            data = _concat("samples", [c.table(fs, "samples") for c in seen])
        except FileNotFoundError:  # merged since: the samples of these runs, from what is there now
            def fresh() -> Any:
                now = [_read_campaign(fs, c.folder) for c in seen]
                return _only(_concat("samples", [c.table(fs, "samples") for c in now]), runs["run_id"])

            data = _retrying(fresh, base)
        return _frame("samples", data, order=False)

    res = Results(runs, _frame("ops", ops), dropped=[d for c in seen for d in c.held.dropped],
                  uncompacted=sum(c.loose_runs.num_rows for c in seen), load_samples=read_samples)
    if samples:
        res.samples  # noqa: B018 - read now
    return res


def load_runs(path: str | os.PathLike[str] | None = None) -> Any:
    """The ``runs`` frame alone of everything under ``path`` (no ops or samples are read from parts)."""
    base = _existing(path)
    fs = filesystem_for(base)
    if (base / RUN_FILE).is_file():
        return load_results(base).runs

    def look() -> list[_Campaign]:
        return [_read_campaign(fs, folder) for folder in _campaign_dirs(fs, base)]

    seen: list[_Campaign] = _retrying(look, base)
    return _frame("runs", _concat("runs", [c.runs for c in seen]))


# --- compaction -----------------------------------------------------------------------------------

def _write_part(fs: StoreFS, folder: Any, tables: Callable[[str], Iterable[Any]]) -> str:
    """A new part from ``tables(name)`` (Arrow tables, streamed into each file): samples, then
    ops, then runs, whose file landing is the part landing. Each file lands whole."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    part = _new_part_id()
    if not _is_local(folder):
        (folder / PARTS).mkdir(parents=True, exist_ok=True)
    for name in ("samples", "ops", "runs"):
        with fs.open_write(_part_file(folder, name, part)) as f, \
                pq.ParquetWriter(f, schema.arrow_schema(name)) as writer:
            pending: list[Any] = []  # sources gathered into row groups of ROW_GROUP rows: a merge of a
            for data in tables(name):  # thousand small parts would otherwise be a thousand row groups
                pending.append(schema.conform(name, data))
                if sum(t.num_rows for t in pending) >= ROW_GROUP:
                    writer.write_table(pa.concat_tables(pending), row_group_size=ROW_GROUP)
                    pending = []
            if pending:
                writer.write_table(pa.concat_tables(pending), row_group_size=ROW_GROUP)
    return part


def _compact(fs: StoreFS, folder: Any, campaign: str, *, keys: Iterable[str] | None) -> Compaction:
    def some(wanted: list[str]) -> Compaction:
        gathered = _Gathered()
        for key in wanted:
            try:
                gathered.add(_read_doc(fs, folder / "runs" / key / RUN_FILE))
            except FileNotFoundError:
                continue  # never landed (refused: another controller landed it first)
        if not gathered.runs:
            return Compaction(campaign)
        return Compaction(campaign, runs=len(gathered.runs), part=_write_gathered(fs, folder, gathered))

    def everything() -> Compaction:
        parts = _landed_parts(fs, folder)
        held = _Held()
        for part in parts:
            path = _part_file(folder, "runs", part)
            held.add_part(part, path, _ids(_read_parquet(fs, path, columns=["run_id"])))
        gathered = _Gathered()
        for key in sorted(fs.marked_folders(folder / "runs", RUN_FILE)):
            if key not in held.where:
                gathered.add(_read_doc(fs, folder / "runs" / key / RUN_FILE))
        written = _write_gathered(fs, folder, gathered) if gathered.runs else None
        if written is not None:
            parts.append(written)
        merged = len(parts) if len(parts) > 1 else 0
        last = _merge(fs, folder, parts, held) if merged else written
        return Compaction(campaign, runs=len(gathered.runs), merged=merged, dropped=tuple(held.dropped),
                          removed=_remove_orphans(fs, folder), part=last)

    if keys is not None:
        return some(sorted(set(keys)))
    result: Compaction = _retrying(everything, folder)
    return result


def _write_gathered(fs: StoreFS, folder: Any, gathered: _Gathered) -> str:
    runs, ops, samples = gathered.tables()
    tables = {"runs": runs, "ops": ops, "samples": samples}
    return _write_part(fs, folder, lambda name: [tables[name]])


def _merge(fs: StoreFS, folder: Any, parts: list[str], held: _Held) -> str:
    """Merge ``parts`` into one, keeping the copies ``held`` keeps, then remove them: each part's
    runs file first, so that no reader takes a part being removed for a landed one."""
    def tables(name: str) -> Iterator[Any]:  # one source part in memory at a time
        for part in parts:
            yield _read_table(fs, folder, name, part, held.skip.get(part, set()))

    merged = _write_part(fs, folder, tables)
    for part in parts:
        for name in ("runs", "ops", "samples"):
            fs.remove(_part_file(folder, name, part))
    return merged


def _remove_orphans(fs: StoreFS, folder: Any) -> int:
    """Remove part files whose part never landed, and temporary files, once ORPHAN_AGE_S old."""
    names = fs.names(folder / PARTS)
    landed = set(_landed_parts(fs, folder))
    removed = 0
    for name in names:
        part = name.partition("-")[2].removesuffix(".parquet")
        orphan = name.startswith(".") or (name.endswith(".parquet") and part not in landed)
        age = fs.age_s(folder / PARTS / name) if orphan else None
        if age is not None and age > ORPHAN_AGE_S:
            fs.remove(folder / PARTS / name)
            removed += 1
    return removed


def compact(path: str | os.PathLike[str] | None = None) -> list[Compaction]:
    """Compact every campaign under ``path`` (a store root or a campaign folder; default ./results)."""
    base = _existing(path)
    fs = filesystem_for(base)
    return [_compact(fs, folder, folder.name, keys=None) for folder in _campaign_dirs(fs, base)]


def migrate(path: str | os.PathLike[str] | None = None) -> list[Migration]:
    """Convert every campaign under ``path`` (a store root or a campaign folder) to format 2 in
    place: format-1 run.json files rewritten (each atomically), then compacted. Idempotent."""
    base = _existing(path)
    return [Store(folder.parent).migrate(folder.name) for folder in _campaign_dirs(filesystem_for(base), base)]


# --- SQL ------------------------------------------------------------------------------------------

def query(sql: str, path: str | os.PathLike[str] | None = None) -> Any:
    """The result of one SQL statement (DuckDB) over the tables ``runs``, ``ops`` and ``samples``
    of everything under ``path``, as a pandas frame. The tables are views over the Parquet parts,
    read by DuckDB where they lie (nothing is loaded into pandas first), and over the runs not
    compacted yet; a run held twice counts once (``frame.attrs["dropped"]`` lists the copies left
    out). A bad statement raises UserError with DuckDB's message."""
    base = _existing(path)
    fs = filesystem_for(base)
    if (base / RUN_FILE).is_file():
        raise UserError(f"{base} is one run: query its campaign or the store.")

    def run() -> Any:
        seen = [_read_campaign(fs, folder) for folder in _campaign_dirs(fs, base)]
        if not any(c.runs.num_rows for c in seen):
            raise UserError(f"No runs in {base}: nothing to query. Run `harness run` first, or pass --results DIR.")
        frame = _duckdb(seen, sql)
        frame.attrs["dropped"] = [d for c in seen for d in c.held.dropped]
        return frame

    return _retrying(run, base)


def _url(path: Any) -> str:
    return str(path) if _is_local(path) else str(path.fs.unstrip_protocol(path.path))


def _duckdb(seen: list[_Campaign], sql: str) -> Any:
    import duckdb
    import pyarrow as pa

    con = duckdb.connect(":memory:")
    try:
        for c in seen:
            if not _is_local(c.folder):
                con.register_filesystem(c.folder.fs)
                break
        skipped = [(_url(_part_file(c.folder, name, part)), run_id) for c in seen
                   for part, ids in c.held.skip.items() for run_id in ids for name in schema.TABLES]
        skip = con.from_arrow(pa.table({"skip_file": [f for f, _ in skipped], "skip_run": [r for _, r in skipped]},
                                       schema=pa.schema([("skip_file", pa.string()), ("skip_run", pa.string())])))
        for name, loose in (("runs", [c.loose_runs for c in seen]), ("ops", [c.loose_ops for c in seen]),
                            ("samples", [c.loose_samples for c in seen])):
            if not re.search(rf"\b{name}\b", sql, re.IGNORECASE):
                continue  # a table the statement does not name: its files are not opened
            columns = ", ".join(f'"{c}"' for c in schema.TABLES[name])
            plain = pa.schema([pa.field(f.name, pa.string() if pa.types.is_dictionary(f.type) else f.type)
                               for f in schema.arrow_schema(name)])
            rel = con.from_arrow(_concat(name, loose).cast(plain)).project(columns)
            files = [_url(_part_file(c.folder, name, part)) for c in seen for part in c.parts]
            if files:
                parts = con.read_parquet(files, union_by_name=True, filename=bool(skipped))
                if skipped:
                    parts = parts.join(skip, "filename = skip_file AND run_id = skip_run", how="anti")
                rel = parts.project(columns).union(rel)
            rel.create_view(name)
        try:
            return con.execute(sql).df()
        except duckdb.IOException as exc:
            gone = [c for c in seen for p in c.parts if not _part_file(c.folder, "runs", p).exists()]
            if gone:
                raise FileNotFoundError(str(exc)) from exc  # a part merged away while the query ran
            raise StoreError(f"cannot read {seen[0].folder}: {str(exc).strip().splitlines()[0]}") from exc
        except duckdb.Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UserError(f"SQL error: {first}") from exc
    finally:
        con.close()
