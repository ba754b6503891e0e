"""Where a results store's bytes live: a local folder, or an fsspec URL (an object store), behind
the few operations the store needs. ``store.py`` decides what goes where; this module only moves
bytes, with the guarantees each kind of storage can give:

- ``LocalFS`` (a folder; ``file://`` URLs are folders too): a file is written beside its place,
  synced and renamed in (readers see the old file or the new one, never half of one); a run's
  folder is filled under a temporary name and renamed into place whole, and that rename is refused
  when the run's folder exists already — the exclusive create.
- ``FsspecFS`` (``s3://``, ``gs://``, ``memory://`` ...): every put is whole or nothing; a file is
  created only if absent with fsspec's ``mode="xb"`` where the backend implements it (S3 through
  If-None-Match, GCS through ifGenerationMatch=0, Azure with overwrite=False, the local and memory
  file systems). A backend that refuses the mode gets a plain write, and ``exclusive`` turns False:
  there the store's readers' first-landed rule is what keeps a run from counting twice.

Every change to a store goes through ``write``, ``land_folder`` or ``remove``: one place to see
(and, in tests, to interrupt) what a store does to its files.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any, Protocol

from harness.fileio import FILE_MODE, fresh_folder_path

DIR_MODE = 0o755


class StoreFS(Protocol):
    """The operations of one kind of storage (paths are ``Path`` or ``UPath``)."""

    exclusive: bool  # land_folder refuses a folder whose mark exists, atomically

    def names(self, folder: Any) -> list[str]:
        """The entries of ``folder`` (none when it does not exist)."""
        ...

    def marked_folders(self, folder: Any, mark: str) -> list[str]:
        """Names of the sub-folders of ``folder`` that hold a file named ``mark``."""
        ...

    def read_bytes(self, path: Any) -> bytes: ...

    def write(self, path: Any, data: bytes) -> None:
        """Write ``path`` whole (replacing it): readers see the old bytes or the new ones."""
        ...

    def open_write(self, path: Any) -> contextlib.AbstractContextManager[IO[bytes]]:
        """A stream that becomes ``path`` whole when closed without error (nothing otherwise)."""
        ...

    def land_folder(self, final: Any, files: Mapping[str, bytes], mark: str) -> None:
        """Make ``final`` hold ``files`` (relative names), ``mark`` among them and seen last.
        Raises FileExistsError when ``final`` holds ``mark`` already."""
        ...

    def remove(self, path: Any) -> None:
        """Remove a file; one that is not there is fine."""
        ...

    def age_s(self, path: Any) -> float | None:
        """Seconds since ``path`` was last written, when the storage says."""
        ...

    def arrow_source(self, path: Any) -> tuple[str, Any]:
        """``(path, filesystem)`` as pyarrow and DuckDB take them (filesystem None: local)."""
        ...


def filesystem_for(path: Any) -> StoreFS:
    if isinstance(path, Path) and type(path).__module__.startswith("pathlib"):
        return LocalFS()
    return FsspecFS()


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class LocalFS:
    exclusive = True

    def names(self, folder: Path) -> list[str]:
        try:
            return os.listdir(folder)
        except (FileNotFoundError, NotADirectoryError):
            return []

    def marked_folders(self, folder: Path, mark: str) -> list[str]:
        try:
            entries = list(os.scandir(folder))
        except (FileNotFoundError, NotADirectoryError):
            return []
        return [e.name for e in entries if not e.name.startswith(".") and os.path.isfile(os.path.join(e.path, mark))]

    def read_bytes(self, path: Path) -> bytes:
        return path.read_bytes()

    def write(self, path: Path, data: bytes) -> None:
        with self.open_write(path) as f:
            f.write(data)

    @contextlib.contextmanager
    def open_write(self, path: Path) -> Iterator[IO[bytes]]:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            os.fchmod(fd, FILE_MODE)  # explicit: never a process-wide umask change, which threads race
            with os.fdopen(fd, "wb") as f:
                yield f
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        _fsync_dir(path.parent)

    def land_folder(self, final: Path, files: Mapping[str, bytes], mark: str) -> None:
        final.parent.mkdir(parents=True, exist_ok=True)
        incoming = Path(tempfile.mkdtemp(prefix=f".incoming-{final.name}-", dir=final.parent))
        try:
            os.chmod(incoming, DIR_MODE)  # mkdtemp makes 0700
            for name, data in sorted(files.items(), key=lambda kv: kv[0] == mark):  # the mark last
                target = fresh_folder_path(incoming, name)
                target.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
            try:
                os.rename(incoming, final)  # refused when final exists (and is not an empty folder)
            except OSError as exc:
                raise FileExistsError(str(final)) from exc
        except BaseException:
            shutil.rmtree(incoming, ignore_errors=True)
            raise
        _fsync_dir(final.parent)

    def remove(self, path: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)

    def age_s(self, path: Path) -> float | None:
        try:
            return time.time() - os.stat(path).st_mtime
        except FileNotFoundError:
            return None

    def arrow_source(self, path: Path) -> tuple[str, Any]:
        return str(path), None


# backends (fsspec protocol names) found to refuse mode "xb" in this process
_NO_EXCLUSIVE: set[str] = set()


class FsspecFS:
    def __init__(self) -> None:
        self.exclusive = True

    @staticmethod
    def _protocol(path: Any) -> str:
        protocol = path.fs.protocol
        return str(protocol if isinstance(protocol, str) else protocol[0])

    def names(self, folder: Any) -> list[str]:
        try:
            listed = folder.fs.ls(folder.path, detail=False)
        except (FileNotFoundError, NotADirectoryError):
            return []
        return sorted({str(p).rstrip("/").rsplit("/", 1)[-1] for p in listed} - {""})

    def marked_folders(self, folder: Any, mark: str) -> list[str]:
        found = folder.fs.glob(f"{folder.path.rstrip('/')}/*/{mark}")
        names = (str(p).rstrip("/").rsplit("/", 2)[-2] for p in found)
        return sorted(n for n in names if not n.startswith("."))

    def read_bytes(self, path: Any) -> bytes:
        data: bytes = path.fs.cat_file(path.path)
        return data

    def write(self, path: Any, data: bytes) -> None:
        path.fs.pipe_file(path.path, data)  # one put: whole or nothing

    @contextlib.contextmanager
    def open_write(self, path: Any) -> Iterator[IO[bytes]]:
        # an object store shows an upload when it completes (a multipart upload at its end)
        with path.fs.open(path.path, "wb") as f:
            yield f

    def land_folder(self, final: Any, files: Mapping[str, bytes], mark: str) -> None:
        for name, data in files.items():
            if name != mark:
                self.write(final.joinpath(*name.split("/")), data)
        self._create(final / mark, files[mark])

    def _create(self, path: Any, data: bytes) -> None:
        protocol = self._protocol(path)
        if protocol not in _NO_EXCLUSIVE:
            try:
                with path.fs.open(path.path, "xb") as f:
                    f.write(data)
                return
            except (ValueError, NotImplementedError, TypeError):
                _NO_EXCLUSIVE.add(protocol)  # no conditional create here: readers keep the first copy
        self.exclusive = False
        if path.fs.exists(path.path):
            raise FileExistsError(str(path))
        self.write(path, data)

    def remove(self, path: Any) -> None:
        with contextlib.suppress(FileNotFoundError):
            path.fs.rm_file(path.path)

    def age_s(self, path: Any) -> float | None:
        try:
            modified = path.fs.modified(path.path)
        except (NotImplementedError, FileNotFoundError, OSError):
            return None
        return float(time.time() - modified.timestamp())

    def arrow_source(self, path: Any) -> tuple[str, Any]:
        return str(path.path), path.fs
