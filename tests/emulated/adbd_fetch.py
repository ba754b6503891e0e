"""Fetch Debian's real `adbd` (bookworm-backports) for amd64 and arm64, without touching apt's sources.

A private apt configuration (its own source list, lists, cache and an empty dpkg status) names the
same Debian mirror as the system's `/etc/apt/sources.list*`, plus the backports suite. `apt-get
download` fetches adbd and the part of its dependency closure that a Debian system with apt does not
already have (the `android-lib*` packages, libprotobuf32, libbrotli1, libbsd0); `dpkg-deb -x` unpacks
them into `${XDG_CACHE_HOME:-~/.cache}/harness-tests/adbd-<arch>/`. Run adbd from there with
`LD_LIBRARY_PATH` = `library_path(arch)`.

Idempotent and cached: a finished folder holds `.complete`; a second call is a stat. A file lock makes
concurrent callers (pytest workers, engineers) wait for each other.

    python -m tests.emulated.adbd_fetch [--arch amd64 --arch arm64] [--print-mirror]
"""

from __future__ import annotations

import argparse
import fcntl
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SUITE = "bookworm"
BACKPORTS = f"{SUITE}-backports"
ARCHES = ("amd64", "arm64")
MULTIARCH = {"amd64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu"}
DEFAULT_MIRROR = "http://deb.debian.org/debian"
DEFAULT_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
ADBD_REL = "usr/lib/android-sdk/platform-tools/adbd"  # where the deb puts it (usr/sbin/adbd links there)


class FetchError(RuntimeError):
    """adbd could not be fetched; the message says why and what to do."""


def cache_root() -> Path:
    """`${XDG_CACHE_HOME:-~/.cache}/harness-tests` (outside the repository)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "harness-tests"


def adbd_dir(arch: str) -> Path:
    return cache_root() / f"adbd-{arch}"


def library_path(arch: str, root: Path | str | None = None) -> str:
    """The LD_LIBRARY_PATH for adbd unpacked at `root` (default: the cache folder)."""
    base = Path(root) if root is not None else adbd_dir(arch)
    return f"{base}/usr/lib/{MULTIARCH[arch]}:{base}/usr/lib/{MULTIARCH[arch]}/android"


def system_mirror() -> tuple[str, str | None]:
    """(URI, Signed-By keyring) of the system's Debian entry for the main suite, else the default."""
    entries: list[tuple[str, list[str], str | None]] = []
    one_line = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*.list"))]
    for path in one_line:
        if not path.is_file():
            continue
        for line in path.read_text(errors="replace").splitlines():
            m = re.match(r"^\s*deb\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)", line)
            if m:
                signed = re.search(r"signed-by=(\S+)", m.group(1) or "")
                entries.append((m.group(2), [m.group(3)], signed.group(1) if signed else None))
    for path in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        for stanza in re.split(r"\n\s*\n", path.read_text(errors="replace")):
            fields: dict[str, str] = {}
            for line in stanza.splitlines():
                m = re.match(r"^([A-Za-z-]+):\s*(.*)$", line)
                if m:
                    fields[m.group(1).lower()] = m.group(2).strip()
            if "deb" not in fields.get("types", "").split() or fields.get("enabled", "yes") == "no":
                continue
            for uri in fields.get("uris", "").split():
                entries.append((uri, fields.get("suites", "").split(), fields.get("signed-by") or None))
    for uri, suites, signed in entries:
        if SUITE in suites:
            return uri.rstrip("/"), signed
    return DEFAULT_MIRROR, None


class PrivateApt:
    """apt-get / apt-cache with their own sources, lists, cache and status; the system's stay untouched."""

    def __init__(self, arch: str, state: Path) -> None:
        self.arch = arch
        self.state = state

    def options(self) -> list[str]:
        s = self.state
        return [
            "-o", f"Dir::Etc::SourceList={s / 'sources.list'}",
            "-o", "Dir::Etc::SourceParts=/dev/null",
            "-o", f"Dir::State::Lists={s / 'lists'}",
            "-o", f"Dir::Cache={s / 'cache'}",
            "-o", f"Dir::State::status={s / 'status'}",
            "-o", f"APT::Architecture={self.arch}",
            "-o", f"APT::Architectures::={self.arch}",
            "-o", f"APT::Default-Release={BACKPORTS}",
            "-o", "Acquire::Retries=2",
            "-o", "Acquire::http::Timeout=20",
            "-o", "Debug::NoLocking=1",
            "-o", "APT::Sandbox::User=root",
        ]

    def prepare(self, mirror: str, keyring: str | None) -> None:
        (self.state / "lists" / "partial").mkdir(parents=True, exist_ok=True)
        (self.state / "cache" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
        (self.state / "status").touch()
        if keyring is None and Path(DEFAULT_KEYRING).is_file():
            keyring = DEFAULT_KEYRING
        opts = f"[signed-by={keyring}] " if keyring else ""
        lines = [f"deb {opts}{mirror} {suite} main" for suite in (SUITE, BACKPORTS)]
        (self.state / "sources.list").write_text("\n".join(lines) + "\n")

    def run(self, tool: str, *args: str, cwd: Path | None = None) -> str:
        argv = [tool, "-q", *self.options(), *args]
        proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            raise FetchError(f"{shlex_join(argv[:2] + list(args))} failed ({proc.returncode}):\n{proc.stderr.strip()}")
        return proc.stdout

    def update(self, mirror: str) -> None:
        try:
            out = self.run("apt-get", "update")
        except FetchError as exc:
            raise FetchError(
                f"cannot read the Debian mirror {mirror} (suites {SUITE}, {BACKPORTS}) for {self.arch}; "
                f"is the network up? {exc}"
            ) from exc
        if re.search(r"^(W|E|Err):", out, re.M):
            bad = "\n".join(line for line in out.splitlines() if re.match(r"^(W|E|Err):", line))
            raise FetchError(f"cannot read the Debian mirror {mirror} for {self.arch}:\n{bad}")

    def closure(self, package: str) -> set[str]:
        out = self.run(
            "apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests", "--no-conflicts",
            "--no-breaks", "--no-replaces", "--no-enhances", package,
        )
        return {line.strip() for line in out.splitlines() if line and not line.startswith(" ") and "<" not in line}


def shlex_join(argv: list[str]) -> str:
    import shlex

    return shlex.join(argv)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def packages_for(apt: PrivateApt) -> list[str]:
    """adbd's dependency closure minus apt's: what a Debian system with apt does not already have."""
    wanted = apt.closure("adbd") - apt.closure("apt")
    if "adbd" not in wanted:
        raise FetchError(f"the mirror has no adbd for {apt.arch} in {BACKPORTS}")
    return sorted(wanted)


def fetch_adbd(arch: str, *, force: bool = False) -> Path:
    """Unpack adbd + its missing libraries for `arch`; returns the folder (adbd is at `ADBD_REL` inside)."""
    if arch not in ARCHES:
        raise ValueError(f"arch must be one of {ARCHES}, not {arch!r}")
    target = adbd_dir(arch)
    if not force and (target / ".complete").is_file():
        return target
    for tool in ("apt-get", "apt-cache", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise FetchError(f"{tool} is not on PATH; fetching adbd needs a Debian system")
    with _locked(cache_root() / f".adbd-{arch}.lock"):
        if not force and (target / ".complete").is_file():
            return target
        mirror, keyring = system_mirror()
        apt = PrivateApt(arch, cache_root() / f"apt-{arch}")
        apt.prepare(mirror, keyring)
        apt.update(mirror)
        names = packages_for(apt)
        with tempfile.TemporaryDirectory(dir=cache_root(), prefix=f".adbd-{arch}-") as tmp:
            debs_dir = Path(tmp) / "debs"
            debs_dir.mkdir()
            apt.run("apt-get", "download", *names, cwd=debs_dir)
            debs = sorted(debs_dir.glob("*.deb"))
            if len(debs) != len(names):
                raise FetchError(f"expected {len(names)} packages for {arch}, downloaded {[d.name for d in debs]}")
            tree = Path(tmp) / "tree"
            tree.mkdir()
            for deb in debs:
                subprocess.run(["dpkg-deb", "-x", str(deb), str(tree)], check=True, timeout=120)
            if not (tree / ADBD_REL).is_file():
                raise FetchError(f"no {ADBD_REL} in {[d.name for d in debs]}")
            (tree / ".complete").write_text("".join(f"{d.name}\n" for d in debs))
            if target.exists():
                shutil.rmtree(target)
            os.replace(tree, target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", action="append", choices=ARCHES, help="default: both")
    parser.add_argument("--force", action="store_true", help="fetch again even if cached")
    parser.add_argument("--print-mirror", action="store_true", help="print the system's Debian mirror and exit")
    args = parser.parse_args(argv)
    if args.print_mirror:
        print(system_mirror()[0])
        return 0
    for arch in args.arch or ARCHES:
        try:
            path = fetch_adbd(arch, force=args.force)
        except FetchError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"{arch}: {path / ADBD_REL}  ({', '.join((path / '.complete').read_text().split())})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
