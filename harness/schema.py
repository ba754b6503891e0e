"""Every frame's columns, dtypes and units — the one place they are defined.

Units are in the column names (``_us``, ``_ms``, ``_mb``, ``_kb``, ``_c``, ``_s``); a column never
changes meaning with a flag. Records are plain dicts; ``to_frame`` checks them against the
columns below and gives typed pandas frames (pandas is imported only there). The store keeps the
same columns as Arrow tables (``to_arrow``, ``arrow_schema``) and loads them with ``from_arrow``,
which gives the frames ``to_frame`` gives.

Null means "not measured"; it is never turned into 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from harness.errors import StoreError

# 1: the first store (one run.json per run, ops and samples as lists of records).
# 2: store format 2 (harness/store.py: columnar run records, Parquet parts); samples.run_id is a
#    "key" column (a pandas Categorical). The columns are those of 1.
SCHEMA_VERSION = 2

# dtype names: "str", "int", "float", "bool", "time" (UTC timestamps, ISO-8601 in records), and "key":
# a str column whose few values repeat over many rows, held as a pandas Categorical (and an Arrow
# dictionary): 5.8 million samples keep 2,800 run ids as codes, not 5.8 million strings
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
    "temp_before_c": "float",  # hottest zone before the run: the previous run's "after" reading when the run
    # followed it at once (no cool-down, under 2 s: farm/session.py LastThermal), else read anew
    "temp_after_c": "float",  # hottest zone right after the run
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
    "run_id": "key",
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
    "key": "category",
}


def check_record(table: str, record: Mapping[str, Any]) -> dict[str, Any]:
    """A record with every column of ``table`` (missing ones null); unknown keys are an error."""
    columns = TABLES[table]
    _refuse_unknown(table, record)
    return {c: record.get(c) for c in columns}


def _refuse_unknown(table: str, names: Iterable[str]) -> None:
    unknown = set(names) - set(TABLES[table])
    if unknown:
        raise StoreError(f"{table} record has columns the schema does not know: {sorted(unknown)}")


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


def arrow_schema(table: str) -> Any:
    """The Arrow schema the store keeps ``table`` in (pyarrow is imported only here and below)."""
    import pyarrow as pa

    types = {
        "str": pa.string(),
        "key": pa.dictionary(pa.int32(), pa.string()),
        "int": pa.int64(),
        "float": pa.float64(),
        "bool": pa.bool_(),
        "time": pa.timestamp("us", tz="UTC"),
    }
    return pa.schema([pa.field(col, types[kind]) for col, kind in TABLES[table].items()])


def _timestamp(value: Any) -> Any:
    """An aware datetime (naive ones are UTC, as ``to_frame`` reads them) from ISO-8601 text or a datetime."""
    from datetime import UTC, datetime

    if value is None or isinstance(value, float) and value != value:
        return None
    stamp = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)


def _whole(value: Any) -> int:
    number = float(value)
    if not number.is_integer():
        raise ValueError(f"{value!r} is not a whole number")
    return int(number)


def _flag(value: Any) -> bool:
    if value in (0, 1):
        return bool(value)
    raise ValueError(f"{value!r} is not a bool")


_COERCE: dict[str, Any] = {"str": str, "key": str, "int": _whole, "float": float, "bool": _flag}


def _arrow_column(table: str, col: str, kind: str, values: Any, typ: Any) -> Any:
    import pyarrow as pa

    def build(values: Any) -> Any:
        if kind == "time":
            return pa.array([_timestamp(v) for v in values], typ)
        if kind == "key":
            return pa.array(values, pa.string()).dictionary_encode()
        return pa.array(values, typ)

    failures = (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError)
    try:
        return build(values)
    except failures:
        pass
    try:  # values of another Python type that fit (an int in a float column, a number in a str one)
        if kind == "time":
            raise ValueError("not ISO-8601 timestamps")
        coerce = _COERCE[kind]  # every kind but time has one
        return build([None if v is None else coerce(v) for v in values])
    except failures as exc:
        raise StoreError(f"{table}.{col}: values do not fit {kind}: {exc}") from exc


def to_arrow(table: str, columns: Mapping[str, Any], rows: int) -> Any:
    """An Arrow table of ``table`` from columns (sequences or Arrow arrays of ``rows`` values);
    columns not given are null, unknown ones an error. Values are checked against the kinds."""
    import pyarrow as pa

    _refuse_unknown(table, columns)
    target = arrow_schema(table)
    arrays = []
    for field in target:
        values = columns.get(field.name)
        if values is None:
            arrays.append(pa.nulls(rows, field.type))
        elif isinstance(values, pa.Array | pa.ChunkedArray):
            arrays.append(values if values.type == field.type else values.cast(field.type))
        else:
            arrays.append(_arrow_column(table, field.name, TABLES[table][field.name], values, field.type))
    return pa.Table.from_arrays(arrays, schema=target)


_INT64 = 2**63


def _plainly_fits(kind: str, values: Any) -> bool:
    """True when every value is null or of the Python type Arrow takes for ``kind`` as it is (no
    coercion, no parsing): what ``to_arrow`` would accept. False means: let Arrow decide."""
    if kind in ("str", "key"):
        return all(v is None or type(v) is str for v in values)
    if kind == "float":
        return all(v is None or type(v) is float or (type(v) is int and -_INT64 <= v < _INT64) for v in values)
    if kind == "int":
        return all(v is None or (type(v) is int and -_INT64 <= v < _INT64) for v in values)
    if kind == "bool":
        return all(v is None or type(v) is bool for v in values)
    if kind == "time":
        return all(v is None or (type(v) is str and _iso_time(v)) for v in values)
    return False


def _iso_time(text: str) -> bool:
    try:
        _timestamp(text)
    except ValueError:
        return False
    return True


def check_arrow(table: str, columns: Mapping[str, Any], rows: int) -> None:
    """Raise StoreError where ``to_arrow`` would: unknown columns, values that do not fit their kind.
    Short columns of plain Python values are checked in Python (a run record's 80-odd one-value
    columns cost Arrow more to build than to check); the others go through Arrow as ``to_arrow``."""
    _refuse_unknown(table, columns)
    kinds = TABLES[table]
    left = {c: v for c, v in columns.items()
            if v is not None and not (isinstance(v, list | tuple) and len(v) <= 256 and _plainly_fits(kinds[c], v))}
    if left:
        to_arrow(table, left, rows)


def conform(table: str, data: Any) -> Any:
    """``data`` (an Arrow table) with exactly ``table``'s columns, in order and type: a column a
    store written by an older harness lacks becomes null; one this harness does not know is left out."""
    import pyarrow as pa

    target = arrow_schema(table)
    if data.schema.equals(target):
        return data
    arrays = []
    for field in target:
        if field.name not in data.column_names:
            arrays.append(pa.nulls(data.num_rows, field.type))
            continue
        column = data[field.name]
        arrays.append(column if column.type == field.type else column.cast(field.type))
    return pa.Table.from_arrays(arrays, schema=target)


def from_arrow(table: str, data: Any, *, consume: bool = False) -> Any:
    """The typed frame of ``table`` (the dtypes of ``to_frame``) from an Arrow table. With
    ``consume``, ``data``'s memory is released column by column as it is converted (``data``
    cannot be used afterwards): a samples frame of millions of rows then needs no second copy."""
    import pandas as pd
    import pyarrow as pa

    mapper = {pa.string(): pd.StringDtype(), pa.large_string(): pd.StringDtype(), pa.int64(): pd.Int64Dtype(),
              pa.bool_(): pd.BooleanDtype()}
    return conform(table, data).to_pandas(types_mapper=mapper.get, self_destruct=consume, split_blocks=consume)


def describe() -> str:
    """The schema as text (for docs and `harness results schema`)."""
    lines = []
    for name, cols in TABLES.items():
        lines.append(f"{name}:")
        lines.extend(f"  {c}: {k}" for c, k in cols.items())
    return "\n".join(lines)
