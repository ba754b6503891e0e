"""The results store: one folder per campaign, one folder per run, written atomically.

    results/
      <campaign>/
        campaign.json            what was asked: device, model, variants, plan (rewritten atomically)
        runs/<key>/              one landed run (renamed into place whole, never half-written)
          run.json               parsed records: {"schema_version", "run", "ops", "samples", "command"}
          raw/                   the runner's own output as pulled from the device (kept for re-parsing)

The root may also be any fsspec URL (``s3://bucket/results``, ``memory://...``), so several
controllers can collect into one object store; there a run's files are written first and its
``run.json`` last, and a run has landed when its ``run.json`` exists.

A run's id is ``<campaign>/<key>``, where the key names the plan item (device, variant,
threads, mode, kernels, repeat): landing the same item twice is refused, so a re-run or a
resume never duplicates a result. Append-only: nothing here rewrites a landed run.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import schema
from harness.errors import StoreError
from harness.fileio import atomic_write_json, safe_local_path

DEFAULT_STORE = Path("results")
CAMPAIGN_FILE = "campaign.json"
RUN_FILE = "run.json"


@dataclass
class Results:
    """The three frames of a store, a campaign or a run."""

    runs: Any
    ops: Any
    samples: Any

    def __iter__(self) -> Iterator[Any]:
        return iter((self.runs, self.ops, self.samples))


def store_path(root: Any) -> Any:
    """A local Path, or a pathlib-like UPath for an fsspec URL (``scheme://...``)."""
    if hasattr(root, "exists"):  # a Path or UPath already
        return root
    root = os.fspath(root)
    if isinstance(root, str) and "://" in root:
        from upath import UPath

        return UPath(root)
    return Path(root)


def _is_local(path: Any) -> bool:
    return isinstance(path, Path) and type(path).__module__.startswith("pathlib")


class Store:
    """A results folder (or fsspec URL). Constructing it does no I/O."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = store_path(root) if root else DEFAULT_STORE

    # campaigns -----------------------------------------------------------------------
    def campaign_dir(self, campaign: str) -> Path:
        if not campaign or "/" in campaign or campaign.startswith("."):
            raise StoreError(f"invalid campaign name {campaign!r}: use letters, digits, '-', '_' and '.'")
        return self.root / campaign

    def write_campaign(self, campaign: str, meta: Mapping[str, Any]) -> None:
        path = self.campaign_dir(campaign) / CAMPAIGN_FILE
        if _is_local(path):
            atomic_write_json(path, dict(meta))
        else:  # an object store's put is whole or nothing
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes((json.dumps(dict(meta), indent=1, default=str) + "\n").encode())

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
        from harness.errors import UserError

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
        return (self.run_dir(campaign, key) / RUN_FILE).is_file()

    def landed_keys(self, campaign: str) -> set[str]:
        runs = self.campaign_dir(campaign) / "runs"
        if not runs.is_dir():
            return set()
        return {p.name for p in runs.iterdir() if (p / RUN_FILE).is_file()}

    def land_run(
        self,
        campaign: str,
        key: str,
        record: Mapping[str, Any],
        raw_files: Mapping[str, bytes] | None = None,
    ) -> Path:
        """Land one run whole: write it beside its final place, then rename it in.

        ``record`` is ``{"run": {...}, "ops": [...], "samples": [...], ...}``; the run, op and
        sample records are checked against the schema before anything is written.
        Raises StoreError if this key has landed already (nothing is overwritten).
        """
        final = self.run_dir(campaign, key)
        if (final / RUN_FILE).exists() or (_is_local(final) and final.exists()):
            raise StoreError(f"run {campaign}/{key} has landed already; not writing it twice")
        body = dict(record)
        body["run"] = schema.check_record("runs", body["run"])
        body["ops"] = [schema.check_record("ops", r) for r in body.get("ops", [])]
        body["samples"] = [schema.check_record("samples", r) for r in body.get("samples", [])]
        body["schema_version"] = schema.SCHEMA_VERSION
        if not _is_local(final):
            landed: Path = self._land_remote(final, body, raw_files or {})
            return landed
        parent = final.parent
        parent.mkdir(parents=True, exist_ok=True)
        incoming = Path(tempfile.mkdtemp(prefix=f".incoming-{key}-", dir=parent))
        try:
            for name, data in (raw_files or {}).items():
                try:
                    target = safe_local_path(incoming / "raw", name)
                except ValueError as exc:
                    raise StoreError(str(exc)) from exc
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            atomic_write_json(incoming / RUN_FILE, body)
            try:
                os.rename(incoming, final)
            except OSError as exc:
                raise StoreError(f"run {campaign}/{key} has landed already; not writing it twice") from exc
        except BaseException:
            shutil.rmtree(incoming, ignore_errors=True)
            raise
        return final

    def _land_remote(self, final: Any, body: Mapping[str, Any], raw_files: Mapping[str, bytes]) -> Any:
        """fsspec stores have no atomic folder rename: raw files first, run.json (the mark of a
        landed run) last."""
        for name, data in raw_files.items():
            parts = Path(name).parts
            if Path(name).is_absolute() or ".." in parts or not parts:
                raise StoreError(f"refusing to write {name!r}: it would land outside {final}")
            target = final.joinpath("raw", *parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        final.mkdir(parents=True, exist_ok=True)
        (final / RUN_FILE).write_bytes((json.dumps(body, indent=1, default=str) + "\n").encode())
        return final

    def run_files(self, path: Path | None = None) -> list[Path]:
        """Every run.json below ``path`` (the store, a campaign, or one run), sorted."""
        base = self.root if path is None else store_path(path)
        if (base / RUN_FILE).is_file():
            return [base / RUN_FILE]
        if not base.exists():
            return []
        return sorted(p for p in base.glob(f"**/runs/*/{RUN_FILE}") if not p.parent.name.startswith("."))


def read_run(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise StoreError(f"cannot read {path}: {exc}") from exc
    version = doc.get("schema_version")
    if version != schema.SCHEMA_VERSION:
        raise StoreError(
            f"{path} has schema version {version}; this harness reads {schema.SCHEMA_VERSION}. "
            "Upgrade harness (or migrate the store) to read it."
        )
    return dict(doc)


def load_results(path: str | os.PathLike[str] | None = None) -> Results:
    """Frames (runs, ops, samples) of everything under ``path`` (default: ./results).

    ``path`` may be a store root, a campaign folder or a run folder.
    """
    base = DEFAULT_STORE if path is None else store_path(path)
    if not base.exists():
        raise StoreError(f"No results at {base}. Run `harness run` first, or pass --results DIR.")
    files = Store(base).run_files(base)
    runs: list[dict[str, Any]] = []
    ops: list[dict[str, Any]] = []
    samples: list[dict[str, Any]] = []
    for f in files:
        doc = read_run(f)
        run_id = doc["run"]["run_id"]
        runs.append(doc["run"])
        ops.extend({**o, "run_id": run_id} for o in doc.get("ops", []))
        samples.extend({**s, "run_id": run_id} for s in doc.get("samples", []))
    return Results(
        runs=schema.to_frame("runs", runs),
        ops=schema.to_frame("ops", ops),
        samples=schema.to_frame("samples", samples),
    )


def load_runs(path: str | os.PathLike[str] | None = None) -> Any:
    """The ``runs`` frame alone of everything under ``path`` (no ops or samples frames)."""
    base = DEFAULT_STORE if path is None else store_path(path)
    if not base.exists():
        raise StoreError(f"No results at {base}. Run `harness run` first, or pass --results DIR.")
    return schema.to_frame("runs", [read_run(f)["run"] for f in Store(base).run_files(base)])
