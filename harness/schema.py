"""Every frame's columns, dtypes and units — the one place they are defined.

Units are in the column names (``_us``, ``_ms``, ``_mb``, ``_kb``, ``_c``, ``_s``); a column never
changes meaning with a flag. Records are plain dicts; ``to_frame`` checks them against the
columns below and gives typed pandas frames (pandas is imported only there).

Null means "not measured"; it is never turned into 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from harness.errors import StoreError

SCHEMA_VERSION = 1

# dtype names: "str", "int", "float", "bool", "time" (UTC timestamps, ISO-8601 in records)
RUNS: dict[str, str] = {
    "run_id": "str",  # stable key of the plan item: a re-run never duplicates it
    "campaign": "str",
    "device": "str",  # the inventory name
    "transport": "str",  # local | adb | ssh
    "device_model": "str",  # phone model / board model / host name
    "cpu_model": "str",
    "abi": "str",  # arm64-v8a, x86_64, aarch64, ...
    "os": "str",
    "cores": "int",
    "facts_json": "str",  # every device fact collected, as JSON
    "runner": "str",  # litert | benchmark_model
    "runner_version": "str",
    "runtime": "str",  # ai_edge_litert | tflite_runtime | tensorflow | benchmark_model build
    "runtime_version": "str",
    "model_name": "str",
    "model_sha256": "str",
    "model_bytes": "int",
    "variant": "str",  # fp32 | fp16 | dynamic | int8 | mixed
    "mode": "str",  # latency | profile | accuracy (as planned)
    "threads": "int",  # as asked
    "delegate": "str",  # xnnpack | none (TFLite builtin kernels) | gpu | nnapi ... (as asked)
    "runner_mode": "str",  # what the runner says it did: a mismatch with the asked values is a warning
    "runner_threads": "int",
    "runner_delegate": "str",
    "accuracy_on": "str",  # accuracy runs: device (the runner returned the outputs) | host (computed here)
    "repeat": "int",  # index of the repeat within the plan
    "plan_key": "str",  # the plan item this run is an attempt of
    "attempt": "int",  # 1 for the first attempt; retries land as <plan_key>~N
    "failure_class": "str",  # invalid | transport | inconclusive (null when ok)
    "executor": "str",  # host:pid of the process that ran it (the controller, or a `harness farm worker`)
    "init_us": "float",
    "first_us": "float",
    "warmup_avg_us": "float",
    "count": "int",  # timed invokes
    "mean_us": "float",
    "std_us": "float",
    "min_us": "float",
    "p50_us": "float",
    "p90_us": "float",
    "p99_us": "float",
    "max_us": "float",
    "peak_mem_mb": "float",  # benchmark_model's periodic monitor (--report_peak_memory_footprint)
    "mem_init_mb": "float",  # benchmark_model's footprint delta from the tool's start: after init
    "mem_overall_mb": "float",  # ... and overall (the "Memory footprint delta" line, both formats)
    "peak_rss_mb": "float",  # the litert runner: peak resident set of the measuring process
    "profile_invoke_us": "float",  # profile runs: mean invoke time as the profiler timed it
    "throttled": "bool",  # the device throttled before or after the run
    "cooldown_s": "float",  # time waited before the run for the device to cool down (--cooldown)
    "clocks_locked": "bool",  # CPU frequencies were locked (harness devices tune) during the run
    "temp_before_c": "float",
    "temp_after_c": "float",
    "status": "str",  # ok | failed | inconclusive (measured, but e.g. throttled: not to be trusted)
    "error_class": "str",
    "error_message": "str",
    "notes": "str",  # what the runner said about how it ran (e.g. a runtime fallback)
    "started_at": "time",
    "finished_at": "time",
    "duration_s": "float",  # wall time of the whole run as the host saw it
    "harness_version": "str",
    "schema_version": "int",
}

OPS: dict[str, str] = {
    "run_id": "str",
    "phase": "str",  # init | invoke
    "subgraph": "int",
    "position": "int",  # order of first appearance within one invoke
    "node_index": "int",  # TFLite node index where known (builtin kernels), else null
    "op_type": "str",  # CONV_2D, or an XNNPACK kernel such as "Convolution (NHWC, QC8) GEMM"
    "op_name": "str",
    "delegated": "bool",  # ran inside a delegate (XNNPACK, GPU, NNAPI)
    "times_called": "int",  # calls per invoke
    "first_ms": "float",
    "avg_ms": "float",  # mean per call
    "per_run_ms": "float",  # mean time per invoke = avg_ms x calls per invoke
    "pct": "float",  # share of the summed op time, percent
    "cdf_pct": "float",
    "mem_kb": "float",
}

SAMPLES: dict[str, str] = {
    "run_id": "str",
    "iteration": "int",
    "latency_us": "float",
}

TABLES: dict[str, dict[str, str]] = {"runs": RUNS, "ops": OPS, "samples": SAMPLES}

_PANDAS_DTYPES = {
    "str": "string",
    "int": "Int64",
    "float": "float64",
    "bool": "boolean",
    "time": "datetime64[us, UTC]",
}


def check_record(table: str, record: Mapping[str, Any]) -> dict[str, Any]:
    """A record with every column of ``table`` (missing ones null); unknown keys are an error."""
    columns = TABLES[table]
    unknown = set(record) - set(columns)
    if unknown:
        raise StoreError(f"{table} record has columns the schema does not know: {sorted(unknown)}")
    return {c: record.get(c) for c in columns}


def empty_frame(table: str) -> Any:
    return to_frame(table, [])


def to_frame(table: str, records: Iterable[Mapping[str, Any]]) -> Any:
    """Typed frame for ``table`` from records; raises StoreError on unknown columns or bad values."""
    import pandas as pd

    columns = TABLES[table]
    rows = [check_record(table, r) for r in records]
    frame = pd.DataFrame.from_records(rows, columns=list(columns))
    for col, kind in columns.items():
        try:
            if kind == "time":
                frame[col] = pd.to_datetime(frame[col], utc=True, format="ISO8601").astype(
                    _PANDAS_DTYPES[kind]
                )
            elif kind == "float":
                frame[col] = pd.to_numeric(frame[col], errors="raise").astype("float64")
            else:
                frame[col] = frame[col].astype(_PANDAS_DTYPES[kind])
        except (ValueError, TypeError) as exc:
            raise StoreError(f"{table}.{col}: values do not fit {kind}: {exc}") from exc
    return frame


def describe() -> str:
    """The schema as text (for docs and `harness results schema`)."""
    lines = []
    for name, cols in TABLES.items():
        lines.append(f"{name}:")
        lines.extend(f"  {c}: {k}" for c, k in cols.items())
    return "\n".join(lines)
