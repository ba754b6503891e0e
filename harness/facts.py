"""Device facts: model, SoC, ABI, OS, cores, clusters, governors, thermal, battery.

``device_scripts/device_facts.sh`` prints ``key=value`` lines on the device; ``parse_facts``
(pure) turns them into a dict; ``collect_facts`` / ``read_temperature`` run it through any
transport.
"""

from __future__ import annotations

from typing import Any

from harness.resources import device_script
from harness.transport.base import Transport, run_cached_script


def parse_facts(text: str) -> dict[str, Any]:
    raw: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key and not key.startswith("#"):
            raw[key.strip()] = value.strip()
    facts: dict[str, Any] = {}
    prop = {k[5:]: v for k, v in raw.items() if k.startswith("prop.")}
    facts["device_model"] = (
        prop.get("ro.product.model") or raw.get("dt.model") or raw.get("dmi.product") or raw.get("hostname")
    )
    facts["manufacturer"] = prop.get("ro.product.manufacturer")
    facts["soc"] = prop.get("ro.soc.model") or prop.get("ro.board.platform")
    abilist = prop.get("ro.product.cpu.abilist")
    facts["abis"] = abilist.split(",") if abilist else None
    facts["abi"] = facts["abis"][0] if facts["abis"] else raw.get("uname.m")
    facts["sdk"] = _int(prop.get("ro.build.version.sdk"))
    facts["fingerprint"] = prop.get("ro.build.fingerprint")
    facts["emulator"] = (
        prop.get("ro.kernel.qemu") == "1" or prop.get("ro.boot.qemu") == "1"
        or prop.get("ro.hardware") in ("ranchu", "goldfish", "cutf_cvm")
    ) if prop else None
    osname = raw.get("os.pretty") or " ".join(x for x in (raw.get("uname.s"), raw.get("uname.r")) if x)
    if facts["sdk"] is not None:
        osname = f"Android SDK {facts['sdk']}"
    facts["os"] = osname or None
    facts["kernel"] = raw.get("uname.r")
    facts["hostname"] = raw.get("hostname")
    facts["cpu_model"] = raw.get("cpu.model")
    facts["cores"] = _int(raw.get("cpu.cores"))
    facts["cpu_parts"] = {k[9:]: _int(v) for k, v in raw.items() if k.startswith("cpu.part.")} or None
    freqs: dict[str, int | None] = {}
    governors: dict[str, str] = {}
    for k, v in raw.items():
        if k.startswith("cpufreq."):
            f, _, g = v.partition(":")
            freqs[k[8:]] = _int(f)
            if g:
                governors[k[8:]] = g
    facts["max_freq_khz"] = freqs or None
    facts["clocks_locked"] = _clocks_locked(raw, freqs, governors)
    facts["governors"] = governors or None
    facts["clusters"] = _clusters(freqs)
    facts["battery_level"] = _int(raw.get("battery.level"))
    facts["glibc"] = raw.get("glibc")
    facts["python"] = raw.get("python") or None
    facts.update(parse_thermal(text))
    return facts


# vcgencmd get_throttled bits (Raspberry Pi firmware documentation)
_THROTTLE_BITS = {0: "under-voltage", 1: "arm frequency capped", 2: "throttled", 3: "soft temperature limit"}


def parse_throttled(value: str | None) -> dict[str, Any]:
    """Raspberry Pi throttling: what is happening now and what has happened since boot."""
    if not value:
        return {"throttled_now": None, "throttled_since_boot": None}
    try:
        bits = int(value, 16)
    except ValueError:
        return {"throttled_now": None, "throttled_since_boot": None}
    now = [name for b, name in _THROTTLE_BITS.items() if bits & (1 << b)]
    since = [name for b, name in _THROTTLE_BITS.items() if bits & (1 << (b + 16))]
    return {"throttled_now": now, "throttled_since_boot": since}


def parse_thermal(text: str) -> dict[str, Any]:
    zones: dict[str, float] = {}
    battery = None
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if not sep:
            continue
        if key.startswith("thermal.") and key != "thermal.status":
            kind, _, temp = value.rpartition(":")
            t = _int(temp)
            if t is not None:
                zones[f"{key[8:]}:{kind}"] = _milli(t)
        elif key == "battery.temp":
            t = _int(value)
            battery = t / 10.0 if t is not None else None  # Android reports tenths of a degree
    status = None
    throttled = None
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key == "thermal.status":
            status = _int(value)
        elif key == "rpi.throttled":
            throttled = value.strip()
    return {
        "thermal_zones_c": zones or None,
        "max_temp_c": max(zones.values()) if zones else None,
        "battery_temp_c": battery,
        # Android's thermal status: 0 none, 1 light, 2 moderate, 3 severe, 4 critical, 5 emergency
        "thermal_status": status,
        **parse_throttled(throttled),
    }


SEVERE_THERMAL_STATUS = 3


def throttling(thermal: dict[str, Any]) -> str | None:
    """Why a measurement taken in this thermal state cannot be trusted, or None."""
    status = thermal.get("thermal_status")
    if status is not None and status >= SEVERE_THERMAL_STATUS:
        return f"thermal status {status} (severe or worse: the system throttles)"
    now = thermal.get("throttled_now") or []
    slowed = [w for w in now if w in ("throttled", "arm frequency capped", "under-voltage")]
    return f"the board reports {', '.join(slowed)}" if slowed else None


def _milli(t: int) -> float:
    return t / 1000.0 if abs(t) > 200 else float(t)


def _clocks_locked(raw: dict[str, str], freqs: dict[str, int | None], governors: dict[str, str]) -> bool | None:
    """Every CPU pinned at its top frequency (governor performance, min = max = cpuinfo max);
    None where the device shows no cpufreq."""
    if not freqs:
        return None
    for cpu, top in freqs.items():
        lo, _, hi = raw.get(f"cpuscaling.{cpu}", ":").partition(":")
        if governors.get(cpu) != "performance" or _int(lo) != top or _int(hi) != top:
            return False
    return True


def _clusters(freqs: dict[str, int | None]) -> list[dict[str, Any]] | None:
    groups: dict[int, list[str]] = {}
    for cpu, f in freqs.items():
        if f is not None:
            groups.setdefault(f, []).append(cpu)
    if not groups:
        return None
    return [
        {"max_freq_khz": f, "cpus": sorted(groups[f], key=lambda c: int(c[3:]) if c[3:].isdigit() else 0)}
        for f in sorted(groups, reverse=True)
    ]


def _int(v: str | None) -> int | None:
    try:
        return int(str(v).strip()) if v not in (None, "") else None
    except ValueError:
        return None


def collect_facts(transport: Transport, timeout_s: float = 30) -> dict[str, Any]:
    result = run_cached_script(transport, device_script("device_facts.sh"), ["all"], timeout_s=timeout_s)
    facts = parse_facts(result.text())
    if not result.ok:
        facts["facts_error"] = result.text("stderr").strip()[:300] or f"exit code {result.exit_code}"
    return facts


def read_thermal(transport: Transport, timeout_s: float = 15) -> dict[str, Any]:
    """Temperatures, Android's thermal status and Pi throttling now (each None where unknown)."""
    result = run_cached_script(transport, device_script("device_facts.sh"), ["thermal"], timeout_s=timeout_s)
    return parse_thermal(result.text() if result.ok else "")
