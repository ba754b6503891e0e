"""Device inventory (devices.toml) and run options, as frozen dataclasses.

The inventory is searched in this order: ``--inventory FILE``, the ``HARNESS_INVENTORY``
variable, ``./devices.toml``, then ``$XDG_CONFIG_HOME/harness/devices.toml``. The ``local``
device (this host, litert runner) always exists, so a fresh machine needs no file at all.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import ConfigError, UnknownDeviceError, UserError

TRANSPORTS = ("local", "adb", "ssh")
RUNNERS = ("litert", "benchmark_model")
VARIANTS = ("fp32", "fp16", "dynamic", "int8")
LOCAL = "local"

def parse_variants(spec: str | Iterable[str] | None) -> list[str]:
    """``"fp32,int8"`` -> ``["fp32", "int8"]`` (order kept, duplicates dropped); None or
    ``"all"`` -> all four. Unknown names raise ``UserError`` with the close ones."""
    if spec is None or (isinstance(spec, str) and spec.strip().lower() in ("", "all")):
        return list(VARIANTS)
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    names = [s.strip().lower() for s in items if s.strip()]
    bad = [n for n in names if n not in VARIANTS]
    if bad:
        hints = []
        for b in bad:
            close = difflib.get_close_matches(b, VARIANTS, n=1, cutoff=0.5)
            hints.append(f"{b!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise UserError(
            f"Unknown variant {', '.join(hints)}. Valid variants: {', '.join(VARIANTS)} "
            "(e.g. --variants fp32,int8)."
        )
    return list(dict.fromkeys(names))


_DEVICE_KEYS = {
    "transport", "serial", "adb_server", "host", "port", "user", "key", "known_hosts",
    "host_key_policy", "runner", "python", "workdir", "tags", "benchmark_model",
}


@dataclass(frozen=True)
class Device:
    """One inventory entry. Holds parameters only; transports connect later."""

    name: str
    transport: str = "local"
    runner: str | None = None
    tags: tuple[str, ...] = ()
    serial: str | None = None
    adb_server: str | None = None
    host: str | None = None
    port: int | None = None
    user: str | None = None
    key: str | None = None
    known_hosts: str | None = None
    host_key_policy: str | None = None
    python: str | None = None
    workdir: str | None = None
    benchmark_model: str | None = None

    @property
    def ref(self) -> str:
        """How to name this device on the command line: its name, or for a board used ad hoc
        (``--device ssh://...``, no inventory entry) that address again."""
        if self.transport == "ssh" and "adhoc" in self.tags:
            port = f":{self.port}" if self.port else ""
            host = f"[{self.host}]" if self.host and ":" in self.host else self.host
            return f"ssh://{self.user + '@' if self.user else ''}{host}{port}"
        return self.name

    @property
    def default_runner(self) -> str:
        if self.runner:
            return self.runner
        return "benchmark_model" if self.transport == "adb" else "litert"


LOCAL_DEVICE = Device(name=LOCAL, transport="local", runner="litert", tags=("host",))


@dataclass(frozen=True)
class Inventory:
    devices: Mapping[str, Device]
    source: Path | None = None

    def get(self, name: str) -> Device:
        try:
            return self.devices[name]
        except KeyError:
            raise UnknownDeviceError(name, self.devices) from None

    def names(self) -> list[str]:
        return list(self.devices)


def inventory_path(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The inventory file in force, or None when only the built-in `local` exists."""
    if explicit:
        p = Path(explicit)
        if not p.is_file():
            raise ConfigError(f"Inventory file {p} does not exist. Check the --inventory path.")
        return p
    env = os.environ.get("HARNESS_INVENTORY")
    if env:
        p = Path(env)
        if not p.is_file():
            raise ConfigError(
                f"HARNESS_INVENTORY names {p}, which does not exist. Fix or unset the variable."
            )
        return p
    cwd = Path("devices.toml")
    if cwd.is_file():
        return cwd
    cfg = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "harness" / "devices.toml"
    return cfg if cfg.is_file() else None


def load_inventory(explicit: str | os.PathLike[str] | None = None) -> Inventory:
    path = inventory_path(explicit)
    devices: dict[str, Device] = {LOCAL: LOCAL_DEVICE}
    if path is None:
        return Inventory(devices=devices, source=None)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Cannot read inventory {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"Inventory {path} is not valid TOML: {exc}") from exc
    entries = data.get("devices", {})
    if not isinstance(entries, dict):
        raise ConfigError(f"Inventory {path}: [devices] must be a table of [devices.NAME] tables.")
    for name, entry in entries.items():
        devices[name] = parse_device(name, entry, path)
    return Inventory(devices=devices, source=path)


def parse_device(name: str, entry: Any, source: Path | str = "inventory") -> Device:
    where = f"{source}: [devices.{name}]"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} must be a table.")
    unknown = set(entry) - _DEVICE_KEYS
    if unknown:
        raise ConfigError(
            f"{where} has unknown keys {sorted(unknown)}; known keys: {sorted(_DEVICE_KEYS)}."
        )
    transport = entry.get("transport", "local" if name == LOCAL else None)
    if transport not in TRANSPORTS:
        raise ConfigError(f"{where}: transport must be one of {', '.join(TRANSPORTS)} (got {transport!r}).")
    runner = entry.get("runner")
    if runner is not None and runner not in RUNNERS:
        raise ConfigError(f"{where}: runner must be one of {', '.join(RUNNERS)} (got {runner!r}).")
    if transport == "adb" and not entry.get("serial"):
        raise ConfigError(f"{where}: an adb device needs serial = \"...\" (see `adb devices`).")
    if transport == "ssh" and not entry.get("host"):
        raise ConfigError(f"{where}: an ssh device needs host = \"...\".")
    tags = entry.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ConfigError(f"{where}: tags must be a list of strings.")
    port = entry.get("port")
    if port is not None and not isinstance(port, int):
        raise ConfigError(f"{where}: port must be a whole number.")
    kwargs = {k: entry[k] for k in _DEVICE_KEYS - {"tags", "transport", "runner", "port"} if k in entry}
    return Device(name=name, transport=transport, runner=runner, tags=tuple(tags), port=port, **kwargs)


@dataclass(frozen=True)
class RunOptions:
    """What one latency or profile run of the litert runner is asked to do."""

    threads: int = 1
    kernels: str = "xnnpack"  # xnnpack | builtin
    mode: str = "latency"  # latency | profile | accuracy
    warmup_runs: int = 1
    warmup_min_s: float = 0.5
    min_runs: int = 50
    min_s: float = 1.0
    max_s: float = 150.0
    profile_runs: int = 20
    seed: int = 0
    samples: int = 32  # accuracy runs: inputs to run once each
    inputs_file: str | None = None  # accuracy runs: the user's inputs (.npz on this host)
    timeout_s: float = 600.0
    extra: tuple[tuple[str, str], ...] = field(default=())


NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]*"


def user_inventory_path() -> Path:
    """``$XDG_CONFIG_HOME/harness/devices.toml``: found from any folder."""
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "harness" / "devices.toml"


def split_user_host(text: str, what: str = "--host") -> tuple[str | None, str, int | None]:
    """``user@host[:port]`` (``[v6addr]:port`` too) -> ``(user, host, port)``."""
    user, _, hostport = text.rpartition("@")
    if not hostport or any(c in hostport for c in "/?# "):
        raise UserError(f"{what} {text!r}: write it as user@host[:port] or a Host alias of ~/.ssh/config.")
    port: int | None = None
    if hostport.startswith("["):  # [2001:db8::1]:2222
        host, _, tail = hostport[1:].partition("]")
        if tail and not (tail.startswith(":") and tail[1:].isdigit()):
            raise UserError(f"{what} {text!r}: the port after ']' must be :NUMBER.")
        port = int(tail[1:]) if tail else None
    elif hostport.count(":") == 1:
        host, _, digits = hostport.partition(":")
        if not digits.isdigit():
            raise UserError(f"{what} {text!r}: the port must be a number (user@host:2222).")
        port = int(digits)
    else:
        host = hostport
    if not host or (port is not None and not 0 < port < 65536):
        raise UserError(f"{what} {text!r}: give a host and, optionally, a port between 1 and 65535.")
    return user or None, host, port


def add_device(
    name: str,
    *,
    serial: str | None = None,
    host: str | None = None,
    adb_server: str | None = None,
    runner: str | None = None,
    key: str | None = None,
    tags: Iterable[str] = (),
    path: str | os.PathLike[str] | None = None,
    replace: bool = False,
) -> Path:
    """Add ``[devices.NAME]`` to the inventory (a phone by ``serial``, or a board by ``host`` =
    ``user@host[:port]``) and return the file written. The file is the one given, else the
    inventory in force, else the user's (``~/.config/harness/devices.toml``); its comments and
    order are kept, and it is replaced atomically (a temporary file renamed over it)."""
    import re

    import tomlkit

    if not re.fullmatch(NAME_PATTERN, name) or name == LOCAL:
        raise UserError(f"device name {name!r}: use letters, digits, '.', '_' and '-' (not 'local'), e.g. pixel-7.")
    if (serial is None) == (host is None):
        raise UserError("give exactly one of --serial SERIAL (a phone) or --host user@host[:port] (a board).")
    entry: dict[str, Any] = {}
    if serial is not None:
        entry.update(transport="adb", serial=serial)
        if adb_server:
            entry["adb_server"] = adb_server
    else:
        assert host is not None
        if adb_server:
            raise UserError("--adb-server applies to phones (--serial), not to boards.")
        user, hostname, port = split_user_host(host)
        entry.update(transport="ssh", host=hostname)
        if user:
            entry["user"] = user
        if port is not None:
            entry["port"] = port
        if key:
            entry["key"] = key
    if runner:
        entry["runner"] = runner
    tag_list = [t.strip() for t in tags if t.strip()]
    if tag_list:
        entry["tags"] = tag_list
    target = Path(path) if path else (inventory_path() or user_inventory_path())
    parse_device(name, entry, target)  # the same checks as when the file is read
    try:
        text = target.read_text(encoding="utf-8") if target.exists() else ""
        doc = tomlkit.parse(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Cannot read inventory {target}: {exc}") from exc
    except tomlkit.exceptions.TOMLKitError as exc:
        raise ConfigError(f"Inventory {target} is not valid TOML: {exc}; fix it before adding devices.") from exc
    devices: Any = doc.get("devices")
    if devices is None:
        devices = tomlkit.table(is_super_table=True)
        doc.add("devices", devices)
    elif not isinstance(devices, dict):
        raise ConfigError(f"Inventory {target}: [devices] must be a table of [devices.NAME] tables.")
    if name in devices:
        if not replace:
            raise UserError(f"{target} already has [devices.{name}]; choose another name or pass --replace.")
        del devices[name]
    table = tomlkit.table()
    for k, v in entry.items():
        table.add(k, v)
    table.add(tomlkit.nl())
    devices.add(name, table)
    out = tomlkit.dumps(doc)
    tomllib.loads(out)  # what we write must read back
    from harness.fileio import atomic_write_bytes

    mode = target.stat().st_mode & 0o777 if target.exists() else 0o600  # an inventory may name keys and hosts
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(target, out.encode("utf-8"), mode)  # the owner's permissions kept, set at creation
    return target
