"""benchmark_model binaries on the host, one per ABI: added by hand, or fetched when online.

    ~/.cache/harness/tools/benchmark_model/
      index.json                          [{abi, version, family, sha256, bytes, source, added_at}]
      <abi>/<sha256>/benchmark_model      the binary, content-addressed

A device's binary comes from its inventory entry (``benchmark_model = "/path"``) first, then
from this cache (the entry added last for its ABI). Nothing is downloaded at run time.
"""

from __future__ import annotations

import os
import shutil
import stat
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from harness.errors import HarnessError, UserError
from harness.fileio import atomic_write_json, sha256_file

ANDROID_ABIS = ("arm64-v8a", "armeabi-v7a", "x86_64", "x86")
LINUX_ABIS = ("linux-aarch64", "linux-armhf", "linux-x86_64")
ABIS = ANDROID_ABIS + LINUX_ABIS
FAMILIES = ("classic", "compiled_model")

_CLASSIC = "https://storage.googleapis.com/tensorflow-nightly-public/prod/tensorflow/release/lite/tools/nightly/latest/"
_COMPILED = "https://storage.googleapis.com/litert/binaries/latest/"
# The official nightly locations (TFLite docs: "Download prebuilt binary"; LiteRT docs: benchmark).
NIGHTLY_URLS: dict[tuple[str, str], str] = {
    ("arm64-v8a", "classic"): _CLASSIC + "android_aarch64_benchmark_model",
    ("armeabi-v7a", "classic"): _CLASSIC + "android_arm_benchmark_model",
    ("linux-x86_64", "classic"): _CLASSIC + "linux_x86-64_benchmark_model",
    ("linux-aarch64", "classic"): _CLASSIC + "linux_aarch64_benchmark_model",
    ("linux-armhf", "classic"): _CLASSIC + "linux_arm_benchmark_model",
    ("arm64-v8a", "compiled_model"): _COMPILED + "android_arm64/benchmark_model",
    ("linux-x86_64", "compiled_model"): _COMPILED + "linux_x86_64/benchmark_model",
    ("linux-aarch64", "compiled_model"): _COMPILED + "linux_arm64/benchmark_model",
}


@dataclass(frozen=True)
class ToolEntry:
    abi: str
    version: str
    family: str | None
    sha256: str
    bytes: int
    source: str
    added_at: str

    def path(self, root: Path) -> Path:
        return root / self.abi / self.sha256 / "benchmark_model"


def tools_root() -> Path:
    from harness.paths import cache_dir

    return cache_dir("tools", "benchmark_model")


def device_abi(facts: dict[str, object], transport: str) -> str | None:
    """The benchmark_model ABI key for a device from its facts."""
    abi = facts.get("abi")
    if not isinstance(abi, str) or not abi:
        return None
    if transport == "adb" or facts.get("sdk") is not None:
        return abi
    machine = {"aarch64": "aarch64", "arm64": "aarch64", "x86_64": "x86_64", "amd64": "x86_64"}.get(abi)
    if machine is None and abi.startswith("armv7"):
        machine = "armhf"
    return f"linux-{machine}" if machine else None


class ToolCache:
    """The host's benchmark_model binaries. Constructing it does no I/O."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root else tools_root()

    @property
    def index_path(self) -> Path:
        return self.root / "index.json"

    def entries(self) -> list[ToolEntry]:
        import json

        if not self.index_path.is_file():
            return []
        try:
            rows = json.loads(self.index_path.read_text())
            return [ToolEntry(**row) for row in rows]
        except (OSError, ValueError, TypeError) as exc:
            raise HarnessError(f"the tool index {self.index_path} is damaged ({exc}); delete it and "
                               "add the binaries again with `harness tools add`") from exc

    def add(self, abi: str, source: Path, *, version: str = "unknown", family: str | None = None,
            origin: str | None = None) -> ToolEntry:
        if abi not in ABIS:
            raise UserError(f"Unknown ABI {abi!r}. Known ABIs: {', '.join(ABIS)}.")
        if family is not None and family not in FAMILIES:
            raise UserError(f"Unknown family {family!r}: use classic or compiled_model.")
        source = Path(source)
        if not source.is_file():
            raise UserError(f"{source} is not a file. Pass the path of a benchmark_model binary.")
        with open(source, "rb") as f:
            head = f.read(4)
        if head != b"\x7fELF" and not head.startswith(b"#!"):
            raise UserError(f"{source} is not an executable (ELF binary or #! script); "
                            "pass the benchmark_model binary itself.")
        digest = sha256_file(source)
        entry = ToolEntry(abi=abi, version=version, family=family, sha256=digest, bytes=source.stat().st_size,
                          source=origin or str(source.resolve()),
                          added_at=datetime.now(UTC).isoformat(timespec="seconds"))
        target = entry.path(self.root)
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.is_file() or sha256_file(target) != digest:
            tmp = target.with_suffix(".partial")
            shutil.copyfile(source, tmp)
            tmp.chmod(tmp.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
            os.replace(tmp, target)
        rows = [e for e in self.entries() if not (e.abi == abi and e.sha256 == digest)] + [entry]
        atomic_write_json(self.index_path, [asdict(e) for e in rows])
        return entry

    def find(self, abi: str) -> tuple[ToolEntry, Path]:
        matches = [e for e in self.entries() if e.abi == abi and e.path(self.root).is_file()]
        if not matches:
            raise UserError(
                f"No benchmark_model binary for ABI {abi} on this host. Add one with "
                f"`harness tools add benchmark_model --abi {abi} PATH`, or `harness tools fetch --abi {abi}` "
                "when this host is online, or set benchmark_model = \"PATH\" in the device's inventory entry."
            )
        entry = matches[-1]
        return entry, entry.path(self.root)

    def fetch(self, abi: str, family: str = "classic", timeout_s: float = 30.0) -> ToolEntry:
        url = NIGHTLY_URLS.get((abi, family))
        if url is None:
            known = ", ".join(f"{a} ({f})" for a, f in NIGHTLY_URLS)
            raise UserError(f"No official nightly benchmark_model for {abi} ({family}). Available: {known}.")
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".download-{abi}-{family}"
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as resp, open(tmp, "wb") as out:
                shutil.copyfileobj(resp, out)
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            tmp.unlink(missing_ok=True)
            reason = getattr(exc, "reason", exc)
            raise HarnessError(
                f"cannot download {url} ({reason}). This host seems offline: download that file on a "
                f"machine with internet access, copy it here, and run "
                f"`harness tools add benchmark_model --abi {abi} --family {family} FILE`."
            ) from exc
        try:
            return self.add(abi, tmp, version="nightly", family=family, origin=url)
        finally:
            tmp.unlink(missing_ok=True)
