"""Small file helpers shared by the store, the transports and the converter."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


FILE_MODE = 0o644  # results, reports, inventories: readable by the team, written by their owner


def atomic_write_bytes(path: Path, data: bytes, mode: int = FILE_MODE) -> None:
    """Write beside ``path`` and rename into place: readers see the old file or the new one. The
    file gets ``mode`` explicitly (never through a process-wide umask change, which threads race)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_json(path: Path, obj: Any, indent: int = 1, mode: int = FILE_MODE) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=indent, default=str) + "\n").encode(), mode)


def fresh_folder_path(folder: Path, name: str) -> Path:
    """``folder / name`` in a folder this process has just made (so no link inside it can lead
    out): refused, as ``safe_local_path`` refuses, when the name itself would land outside it or on
    it. Checked on the name alone, without resolving paths on disk (a run lands several files)."""
    parts = PurePosixPath(name).parts
    if name.startswith(("/", "\\")) or not parts or ".." in parts:
        raise ValueError(f"refusing to write {name!r}: it would land outside {folder}")
    return folder / name


def safe_local_path(dest_dir: Path, name: str) -> Path:
    """``dest_dir / name``, refusing names (e.g. pulled from a device) that would land outside it."""
    dest = dest_dir.resolve()
    target = (dest / name).resolve()
    if name.startswith(("/", "\\")) or target == dest or dest not in target.parents:
        raise ValueError(f"refusing to write {name!r}: it would land outside {dest_dir}")
    return target
