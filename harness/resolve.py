"""Which device a name means, with or without an inventory.

A name given to ``--device`` (or to ``harness devices facts|tune|reset|provision``) resolves in
this order:

1. an inventory name (``devices.toml``; ``local`` always exists) — inventory entries always win;
2. ``ssh://[user@]host[:port]`` or ``ssh://alias`` (a Host of ``~/.ssh/config``): a board with no
   entry, its host key verified exactly as for inventory boards;
3. the exact serial of an attached adb device, or the name `harness devices` suggests for it
   (the inventory's entry for that serial, if any);
4. a case-insensitive match against the model, product or device name of the attached adb
   devices (``pixel`` finds ``Pixel 7``, ``"pixel 8"`` finds ``Pixel 8 Pro``): a whole-name
   match beats a partial one; two matches are an error that lists both with their serials.

"Attached" means what the adb servers see: the default server, found as `adb` finds it
(``ADB_SERVER_SOCKET``, ``ANDROID_ADB_SERVER_ADDRESS`` / ``ANDROID_ADB_SERVER_PORT``, else
127.0.0.1:5037), and every server the inventory names. The servers are asked only when a name is
not in the inventory, so ``--device local`` never touches adb.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from harness.config import Device, Inventory, split_user_host
from harness.errors import AmbiguousDeviceError, ConfigError, TransportError, UnknownDeviceError, UserError

SSH_SCHEME = "ssh://"


@dataclass(frozen=True)
class Attached:
    """One device an adb server lists (``adb devices -l``), with the name harness suggests for it."""

    serial: str
    state: str
    server: str  # host:port of the adb server that sees it
    model: str = ""  # ro.product.model as adb lists it (spaces written as '_')
    product: str = ""  # ro.product.name
    device: str = ""  # ro.product.device
    name: str = ""  # the suggested name: pixel-7 from "Pixel 7"

    @property
    def model_text(self) -> str:
        return self.model.replace("_", " ")

    def describe(self) -> str:
        what = self.model_text or self.product or "model unknown"
        return f"{self.serial} ({what}, {self.state})"

    def as_device(self) -> Device:
        return Device(name=self.name, transport="adb", serial=self.serial, adb_server=self.server,
                      tags=("android", "attached"))


@dataclass
class Discovery:
    """What the adb servers see now; ``problems`` maps a server to why it could not be asked."""

    attached: list[Attached] = field(default_factory=list)
    problems: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        """One phrase for an error message: what is attached, or why nothing could be listed."""
        parts = [a.describe() for a in self.attached]
        for server, why in self.problems.items():
            if why.startswith("no adb server answers"):
                why = "no adb server answers there; `adb start-server` starts one"
            parts.append(f"none from {server} ({why})")
        return "; ".join(parts) if parts else "no device is attached to the adb server"


def slug(text: str) -> str:
    """``Pixel_7`` -> ``pixel-7``: lower case, runs of anything but letters and digits as one '-'."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def default_server() -> str:
    """``host:port`` of the adb server `adb` itself would use (raises TransportError on a bad variable)."""
    from harness.transport.adb import server_address

    host, port = server_address(None)
    return f"{host}:{port}"


def discover(inventory: Inventory, servers: Sequence[str] | None = None) -> Discovery:
    """The devices the default adb server and the inventory's adb servers see, with suggested
    names that are unique among them and never an inventory name of another device."""
    from harness.transport.adb import list_server_devices

    found = Discovery()
    wanted: list[str] = []
    if servers is None:
        try:
            wanted.append(default_server())
        except TransportError as exc:
            found.problems["default adb server"] = str(exc)
        wanted += [d.adb_server for d in inventory.devices.values() if d.transport == "adb" and d.adb_server]
    else:
        wanted = list(servers)
    rows: dict[tuple[str, str], dict[str, str]] = {}
    for server in dict.fromkeys(wanted):
        try:
            listing = list_server_devices(server)
        except TransportError as exc:
            found.problems[server] = str(exc)
            continue
        for row in listing:
            rows.setdefault((row["server"], row["serial"]), row)
    bases = {key: slug(row["model"]) or slug(row["serial"]) for key, row in rows.items()}
    taken = set(inventory.devices)
    for key, row in rows.items():
        base = bases[key]
        clash = sum(1 for b in bases.values() if b == base) > 1 or base in taken
        name = f"{base}-{slug(row['serial'])}" if clash and slug(row["serial"]) != base else base
        found.attached.append(Attached(serial=row["serial"], state=row["state"], server=row["server"],
                                       model=row.get("model", ""), product=row.get("product", ""),
                                       device=row.get("device", ""), name=name))
    return found


def parse_ssh_device(spec: str) -> Device:
    """``ssh://[user@]host[:port]`` (``[v6addr]:port`` too) or ``ssh://alias`` -> a board device named
    ``host`` (``host-port`` with a port). Its runner is litert, as for inventory boards."""
    user, host, port = split_user_host(spec[len(SSH_SCHEME):], "--device")
    name = host if port is None else f"{host}-{port}"
    return Device(name=name, transport="ssh", host=host, port=port, user=user, tags=("board", "adhoc"))


class Resolver:
    """Resolves names against one inventory, asking the adb servers at most once (lazily)."""

    def __init__(self, inventory: Inventory, discover_fn: Callable[[Inventory], Discovery] = discover) -> None:
        self.inventory = inventory
        self._discover = discover_fn
        self._discovery: Discovery | None = None

    def discovery(self) -> Discovery:
        if self._discovery is None:
            self._discovery = self._discover(self.inventory)
        return self._discovery

    def resolve(self, name: str) -> Device:
        name = name.strip()
        if name in self.inventory.devices:
            return self.inventory.devices[name]
        if name.startswith(SSH_SCHEME):
            return parse_ssh_device(name)
        if not name:
            raise UnknownDeviceError(name, self.inventory.devices)
        for device in self.inventory.devices.values():
            if device.transport == "adb" and device.serial == name:
                return device
        found = self.discovery()
        by_serial = [a for a in found.attached if a.serial == name or a.name == name]
        if by_serial:
            return self._known_or_attached(by_serial[0])
        matches = match_attached(name, found.attached)
        if len(matches) > 1:
            raise AmbiguousDeviceError(name, [a.describe() for a in matches])
        if matches:
            return self._known_or_attached(matches[0])
        raise UnknownDeviceError(name, self.inventory.devices, attached=found.summary())

    def _known_or_attached(self, attached: Attached) -> Device:
        for device in self.inventory.devices.values():
            if device.transport == "adb" and device.serial == attached.serial:
                return device  # the inventory's entry for that phone wins
        return attached.as_device()

    def select(self, spec: str | None, all_devices: bool = False) -> list[Device]:
        """``pixel,pi5``, ``tag:arm64``, serials, models and ``ssh://`` boards (any mix), or every
        inventory device with ``all_devices``. A device named twice is taken once."""
        if all_devices:
            return list(self.inventory.devices.values())
        chosen: dict[str, Device] = {}
        for part in (p.strip() for p in (spec or "local").split(",")):
            if not part:
                continue
            if part.startswith("tag:"):
                tag = part[4:]
                tagged = [d for d in self.inventory.devices.values() if tag in d.tags]
                if not tagged:
                    known = sorted({t for d in self.inventory.devices.values() for t in d.tags})
                    raise UserError(f"No device has tag {tag!r}. Tags in the inventory: {', '.join(known) or 'none'}.")
                chosen.update((d.name, d) for d in tagged)
                continue
            device = self.resolve(part)
            other = chosen.get(device.name)
            if other is not None and other != device:
                raise ConfigError(f"{part!r} and another --device both come out as {device.name!r} but are different "
                                  "devices; give them names with `harness devices add`.")
            chosen[device.name] = device
        if not chosen:
            raise UnknownDeviceError("", self.inventory.devices)
        return list(chosen.values())


def _norm(text: str) -> str:
    return re.sub(r"[\s_\-]+", " ", text.lower()).strip()


def match_attached(name: str, attached: Sequence[Attached]) -> list[Attached]:
    """Attached devices whose model, product or device name is ``name`` (case, spaces, '_' and '-'
    ignored), else those where ``name`` starts a word of one of them (``pixel 8`` -> ``Pixel 8 Pro``)."""
    query = _norm(name)
    if not query:
        return []
    fields = [(a, [_norm(f) for f in (a.model, a.product, a.device) if f]) for a in attached]
    exact = [a for a, names in fields if query in names]
    if exact:
        return exact
    pattern = re.compile(r"(?:^| )" + re.escape(query))
    return [a for a, names in fields if any(pattern.search(n) for n in names)]


def resolve_device(inventory: Inventory, name: str) -> Device:
    """One device by name (see the module's docstring for the order)."""
    return Resolver(inventory).resolve(name)


def select_devices(inventory: Inventory, spec: str | None, all_devices: bool = False) -> list[Device]:
    """The devices ``--device`` names (see ``Resolver.select``)."""
    return Resolver(inventory).select(spec, all_devices)


@dataclass(frozen=True)
class DeviceRow:
    """One line of `harness devices`."""

    name: str
    transport: str
    runner: str
    address: str
    state: str  # device / offline / unauthorized / missing / unreachable / "" (not checked: ssh)
    model: str = ""
    advice: str = ""
    tags: tuple[str, ...] = ()
    in_inventory: bool = True


@dataclass
class DeviceListing:
    rows: list[DeviceRow]
    problems: dict[str, str]  # adb server -> why it could not be asked


def list_devices(inventory: Inventory, extra_servers: Sequence[str] = ()) -> DeviceListing:
    """What `harness devices` shows: the inventory's devices with their state, then every device
    the adb servers see that no entry names, under its suggested name."""
    from harness.transport.adb import STATE_ADVICE

    found = discover(inventory)
    if extra_servers:
        more = discover(inventory, servers=[s for s in extra_servers if s not in found.problems])
        known = {(a.server, a.serial) for a in found.attached}
        found.attached += [a for a in more.attached if (a.server, a.serial) not in known]
        found.problems.update(more.problems)
    default = None
    try:
        default = default_server()
    except TransportError:
        pass
    rows: list[DeviceRow] = []
    claimed: set[str] = set()
    for d in inventory.devices.values():
        state, advice, model = "", "", ""
        if d.transport == "local":
            state = "device"
        elif d.transport == "adb":
            server = d.adb_server or default
            seen = [a for a in found.attached if a.serial == d.serial and a.server == server]
            if server in found.problems or server is None:
                state, advice = "unreachable", found.problems.get(server or "default adb server", "")
            elif seen:
                state, model = seen[0].state, seen[0].model_text
                claimed.add(f"{seen[0].server}/{seen[0].serial}")
                advice = "" if state == "device" else STATE_ADVICE.get(state, "check `adb devices -l`")
            else:
                state, advice = "missing", STATE_ADVICE["missing"]
        address = d.serial or (f"{d.user + '@' if d.user else ''}{d.host}{f':{d.port}' if d.port else ''}"
                               if d.host else "this host")
        rows.append(DeviceRow(d.name, d.transport, d.default_runner, address, state, model, advice, d.tags))
    for a in found.attached:
        if f"{a.server}/{a.serial}" in claimed:
            continue
        advice = "" if a.state == "device" else STATE_ADVICE.get(a.state, "check `adb devices -l`")
        address = a.serial if a.server == default else f"{a.serial} @ {a.server}"
        rows.append(DeviceRow(a.name, "adb", "benchmark_model", address, a.state, a.model_text, advice,
                              ("attached",), in_inventory=False))
    problems = dict(found.problems)
    if default in problems and problems[default].startswith("no adb server answers"):
        problems[default] = "no adb server answers here; attached phones are listed once one runs (`adb start-server`)"
    return DeviceListing(rows, problems)
