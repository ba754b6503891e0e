"""The litert runner's result JSON -> records for the runs / ops / samples frames.

Pure functions over bytes. A field the runner must write and did not raises
``ParseError(field, excerpt)``; a measurement that is absent stays null, never 0.
The format is written by ``device_scripts/litert_runner.py`` (format_version 1).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from harness.errors import ParseError

FORMAT = "harness-litert-runner"
FORMAT_VERSIONS = (1,)

# Profiler event types (litert_profiler_event.h)
EVENT_OPERATOR = 2
EVENT_DELEGATE_OPERATOR = 4
EVENT_DELEGATE_PROFILED_OPERATOR = 8


@dataclass
class ParsedRun:
    """What one runner result says, before the executor adds plan and device context."""

    run: dict[str, Any]
    ops: list[dict[str, Any]] = field(default_factory=list)
    samples: list[dict[str, Any]] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    inputs: list[dict[str, Any]] = field(default_factory=list)
    outputs: list[dict[str, Any]] = field(default_factory=list)


def latency_stats(latencies_us: list[float]) -> dict[str, float | int | None]:
    """count, mean, population std, min, p50, p90, p99, max (µs); nulls when there are none."""
    n = len(latencies_us)
    keys = ("mean_us", "std_us", "min_us", "p50_us", "p90_us", "p99_us", "max_us")
    if n == 0:
        return {"count": 0, **{k: None for k in keys}}
    xs = sorted(float(x) for x in latencies_us)
    mean = math.fsum(xs) / n
    var = math.fsum((x - mean) ** 2 for x in xs) / n
    return {
        "count": n,
        "mean_us": mean,
        "std_us": math.sqrt(var),
        "min_us": xs[0],
        "p50_us": _percentile(xs, 50),
        "p90_us": _percentile(xs, 90),
        "p99_us": _percentile(xs, 99),
        "max_us": xs[-1],
    }


def _percentile(sorted_xs: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if len(sorted_xs) == 1:
        return sorted_xs[0]
    pos = (len(sorted_xs) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_xs) - 1)
    return sorted_xs[lo] + (sorted_xs[hi] - sorted_xs[lo]) * (pos - lo)


def _need(obj: dict[str, Any], key: str, where: str, raw: str) -> Any:
    if key not in obj:
        raise ParseError(f"{where}{key}", raw[:200])
    return obj[key]


def _num_list(value: Any, name: str, raw: str) -> list[float]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, int | float) for v in value):
        raise ParseError(name, raw[:200])
    return [float(v) for v in value]


def parse_result(data: bytes | str) -> ParsedRun:
    """Parse one runner result file."""
    raw = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    try:
        doc = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ParseError("result JSON", raw[: max(0, exc.pos) + 80]) from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ParseError("format", raw[:200])
    if doc.get("format_version") not in FORMAT_VERSIONS:
        raise ParseError("format_version", f"got {doc.get('format_version')!r}, know {FORMAT_VERSIONS}")

    status = _need(doc, "status", "", raw)
    if status not in ("ok", "failed"):
        raise ParseError("status", repr(status))
    error = doc.get("error") or {}
    runtime = doc.get("runtime") or {}
    config = doc.get("config") or {}
    machine = doc.get("machine") or {}

    warmup = _num_list(doc.get("warmup_us"), "warmup_us", raw)
    latencies = _num_list(doc.get("latencies_us"), "latencies_us", raw)
    if status == "ok" and not latencies:
        raise ParseError("latencies_us", "a successful run with no timed invokes")

    kernels = config.get("kernels")
    run: dict[str, Any] = {
        "runner": "litert",
        "runner_version": doc.get("runner_version"),
        "runtime": runtime.get("name"),
        "runtime_version": runtime.get("version"),
        "mode": config.get("mode"),
        "threads": config.get("threads"),
        "delegate": {"xnnpack": "xnnpack", "builtin": "none"}.get(str(kernels), kernels),
        "init_us": doc.get("init_us"),
        "first_us": warmup[0] if warmup else None,
        "warmup_avg_us": (math.fsum(warmup) / len(warmup)) if warmup else None,
        "peak_rss_mb": (doc["peak_rss_kb"] / 1024.0) if doc.get("peak_rss_kb") is not None else None,
        "status": status,
        "error_class": error.get("class") if status == "failed" else None,
        "error_message": error.get("message") if status == "failed" else None,
        **latency_stats(latencies),
    }
    if status == "failed" and not run["error_class"]:
        raise ParseError("error.class", raw[:200])

    samples = [{"iteration": i, "latency_us": v} for i, v in enumerate(latencies)]
    profile = doc.get("profile") if status == "ok" else None
    ops = parse_profile(profile, raw)
    invoke_events = _num_list((profile or {}).get("invoke_event_us"), "profile.invoke_event_us", raw)
    run["profile_invoke_us"] = math.fsum(invoke_events) / len(invoke_events) if invoke_events else None
    facts = {
        "cpu_model": machine.get("cpu_model"),
        "abi": machine.get("machine"),
        "os": " ".join(x for x in (machine.get("system"), machine.get("kernel")) if x) or None,
        "cores": machine.get("cores"),
        "device_model": machine.get("hostname"),
        "python": machine.get("python"),
        "glibc": machine.get("glibc"),
        "runtime_note": runtime.get("note"),
    }
    return ParsedRun(
        run=run,
        ops=ops,
        samples=samples,
        facts=facts,
        inputs=list(doc.get("inputs") or []),
        outputs=list(doc.get("outputs") or []),
    )


def parse_profile(profile: Any, raw: str = "") -> list[dict[str, Any]]:
    """Aggregated per-op rows of the profiled invokes (phase ``invoke``)."""
    if profile is None:
        return []
    if not isinstance(profile, dict):
        raise ParseError("profile", raw[:200])
    runs = profile.get("runs")
    if not isinstance(runs, int) or runs <= 0:
        raise ParseError("profile.runs", repr(runs))
    rows_in = profile.get("ops")
    if not isinstance(rows_in, list):
        raise ParseError("profile.ops", raw[:200])
    rows: list[dict[str, Any]] = []
    for i, op in enumerate(rows_in):
        where = f"profile.ops[{i}]."
        calls = _need(op, "calls", where, raw)
        total_us = float(_need(op, "total_us", where, raw))
        first_us = op.get("first_us")
        rows.append(
            {
                "phase": "invoke",
                "subgraph": op.get("subgraph"),
                "position": _need(op, "position", where, raw),
                "node_index": op.get("node_index"),
                "op_type": _need(op, "op_type", where, raw),
                "op_name": op.get("op_name") or op["op_type"],
                "delegated": bool(op.get("delegated", False)),
                "times_called": calls // runs,
                "first_ms": None if first_us is None else float(first_us) / 1000.0,
                "avg_ms": (total_us / calls / 1000.0) if calls else None,
                "per_run_ms": total_us / runs / 1000.0,
                "mem_kb": None,
                "_total_us": total_us,
            }
        )
    add_shares(rows)
    for r in rows:
        r.pop("_total_us")
    return rows


def add_shares(rows: list[dict[str, Any]]) -> None:
    """pct = share of the summed op time; cdf_pct = running sum in row order."""
    total = math.fsum(r["_total_us"] for r in rows)
    cdf = 0.0
    for r in rows:
        pct = (r["_total_us"] * 100.0 / total) if total > 0 else None
        r["pct"] = pct
        cdf += pct or 0.0
        r["cdf_pct"] = cdf if total > 0 else None
