"""The official ``benchmark_model`` tool's outputs -> records for the runs / ops frames.

Pure functions over text or bytes: no I/O, no printing. Three inputs, told apart by content
(``detect_format``):

* ``text``  — the tool's stdout / log (every variant in reference/BENCHMARK_MODEL_FORMAT.md: old
  and new summary lines, the LiteRT CompiledModel ``BENCHMARK RESULTS`` block, ``INFO:`` and
  logcat prefixes, RST indentation, ``[start]`` column or not, percentiles or not, init and
  invoke profiles, several subgraphs, ``Delegate internal:`` blocks, failures). A log holding
  several invocations (several ``STARTING!``) gives several runs.
* ``csv``   — ``--op_profiling_output_mode=csv`` files (not pure CSV: wrapper lines, banners).
* ``proto`` — ``--op_profiling_output_mode=proto`` files (``tflite.profiling.BenchmarkProfilingData``).

Ops come from the Run Order tables only (Top-10 and the summary by node type are derived).
A value the output does not have is None, never 0. A recognised line that does not read raises
``ParseError(field, excerpt)``; a failed benchmark becomes a run with status ``failed``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from harness.errors import ParseError

RUNNER = "benchmark_model"
FORMATS = ("text", "csv", "proto")


@dataclass
class ParsedInvocation:
    """One invocation of the tool: a ``runs`` record, its ``ops`` records, and its text."""

    run: dict[str, Any]
    ops: list[dict[str, Any]] = field(default_factory=list)
    raw: str = ""  # the lines of this invocation (for a proto file: its text form)


@dataclass
class ParsedBenchmark:
    format: str  # text | csv | proto
    runs: list[ParsedInvocation] = field(default_factory=list)


# --- line prefixes ---------------------------------------------------------------------------
# Android logcat (threadtime and brief forms), iOS NSLog; then the TFLite log level, then the
# LiteRT source location ("[./litert/tools/benchmark_litert_model.h:82]").
_LOGCAT = re.compile(
    r"^\d\d-\d\d\s+\d\d:\d\d:\d\d\.\d+\s+\d+\s+\d+\s+[VDIWEF]\s+(?P<tag>[^:]*?)\s*: ?"
    r"|^[VDIWEF]/(?P<tag2>[^(:]+?)\s*\(\s*\d+\): ?"
)
_NSLOG = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[.\d]*[+-]\d{4} \S+\[\d+:\w+\] ")
_LEVEL = re.compile(r"^(INFO|WARN|WARNING|ERROR|FATAL|VERBOSE|DEBUG): ?")
_SRCLOC = re.compile(r"^\[[^\]\s]+:\d+\] ?")

# --- numbers and table rows ------------------------------------------------------------------
_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?nan|[-+]?inf"
_ROW_TAIL = (
    rf"(?P<first>{_NUM})\s+(?P<avg>{_NUM})\s+(?P<pct>{_NUM})%\s+(?P<cdf>{_NUM})%\s+"
    rf"(?P<mem>{_NUM})\s+(?P<times>\d+)\s+(?P<name>\S.*?)\s*$"
)
_TEXT_ROW = re.compile(rf"^\s*(?P<type>\S.*?)\s+{_ROW_TAIL}")
_TEXT_ROW_START = re.compile(rf"^\s*(?P<type>\S.*?)\s+(?P<start>{_NUM})\s+{_ROW_TAIL}")
_CSV_TAIL = (
    rf"(?P<first>{_NUM}), (?P<avg>{_NUM}), (?P<pct>{_NUM})%, (?P<cdf>{_NUM})%, "
    rf"(?P<mem>{_NUM}), (?P<times>\d+), (?P<name>.*?)\s*$"
)
# Node types are not escaped and contain ", " (XNNPACK): the numbers anchor the split.
_CSV_ROW = re.compile(rf"^\s*(?P<type>.+?), {_CSV_TAIL}")
_CSV_ROW_START = re.compile(rf"^\s*(?P<type>.+?), (?P<start>{_NUM}), {_CSV_TAIL}")
_CSV_HEADER = re.compile(r"^node type, (start, )?first, avg_ms, %, cdf%, mem KB, times called, name\s*$")

_BANNER = re.compile(r"^=+ (?P<title>.+?) =+$")
_NODE_INDEX = re.compile(r":(\d+)$")
_DELEGATE_KERNEL = re.compile(r"^TfLite\w*Delegate")

# --- top-level lines -------------------------------------------------------------------------
_KV = re.compile(rf"(\w+)=({_NUM})")
_SUMMARY_PAIR = re.compile(rf"([A-Za-z][A-Za-z ()]*?):\s*({_NUM})")
_PARAM = re.compile(r"^(?P<key>[^\[\]]+?)\s*:\s*\[(?P<value>.*)\]\s*$")
_USE_FLAG = re.compile(r"^use (?:legacy )?(nnapi|gpu|xnnpack|hexagon|coreml)$", re.I)
_SESSION = re.compile(rf"^Initialized session in ({_NUM})\s*ms")
_SUBGRAPH = re.compile(r"^Subgraph \(index: (\d+)(?:, name: .*)?\) profile:$")
_PRIMARY = re.compile(r"^Primary graph(?: \(name: .*\))? profile:$")
_TIMINGS = re.compile(r"^(?:Subgraph \(index: (\d+)(?:, name: .*)?\) )?Timings \(microseconds\): (count=.*)$")
_LITERT_MS = re.compile(rf"^(?P<key>Model initialization|Warmup \(first\)|Warmup \(avg\)|Inference \(avg\)|"
                        rf"Inference \(min\)|Inference \(max\)|Inference \(std\)):\s*(?P<v>{_NUM})\s*(?:ms)?"
                        rf"(?:\s*\((?P<n>\d+) runs\))?")
_PEAK = re.compile(rf"^Overall peak memory footprint \(MB\) via periodic monitoring:\s*({_NUM})")
_LITERT_PEAK = re.compile(rf"^Peak memory(?: usage)?:\s*({_NUM})\s*MB")
_MEM_DELTA = re.compile(rf"^(Memory footprint delta from the start of the tool|Peak memory footprint) \(MB\): "
                        rf"init=({_NUM}) overall=({_NUM})")
# the LiteRT CompiledModel tool: "Init footprint:       8.94 MB" and "Overall footprint:    11.51 MB"
_LITERT_FOOTPRINT = re.compile(rf"^(Init|Overall) footprint:\s*({_NUM})\s*MB")

# Failure markers -> error class, strongest first.
_FAILURES: list[tuple[re.Pattern[str], str, bool]] = [  # (pattern, class, fatal on its own)
    (re.compile(r"Failed to (?:load|read) model", re.I), "ModelLoadError", True),
    (re.compile(r"^usage: |Output mode.* is not supported", re.I), "UsageError", True),
    (re.compile(r"Failed to apply .*delegate", re.I), "DelegateError", True),
    (re.compile(r"Failed to allocate tensors", re.I), "AllocationError", True),
    (re.compile(r"failed to prepare", re.I), "PrepareError", False),
    (re.compile(r"failed to invoke|Failed to invoke", re.I), "InvokeError", False),
    (re.compile(r"Benchmarking failed", re.I), "BenchmarkFailed", True),
]

EXPECTED = ("a benchmark_model log ('STARTING!', 'count=' lines, 'Inference timings in us:' or a "
            "'Run Order' profile table), a CSV profile or a BenchmarkProfilingData proto")


def _num(text: str) -> float:
    return float(text)


@dataclass
class _Line:
    text: str  # without logcat/NSLog prefix, indentation, level and source location
    quoted: str  # as written, without logcat/NSLog prefix and indentation (for error messages)
    level: str | None
    foreign: bool  # a logcat record of another tag


def _clean(line: str) -> _Line:
    line = line.rstrip("\r\n")
    foreign = False
    m = _LOGCAT.match(line)
    if m:
        tag = (m.group("tag") or m.group("tag2") or "").strip().lower()
        foreign = "tflite" not in tag
        line = line[m.end():]
    else:
        m = _NSLOG.match(line)
        if m:
            line = line[m.end():]
    body = line.strip()
    quoted = body
    level = None
    m = _LEVEL.match(body)
    if m:
        level = m.group(1)
        body = body[m.end():]
        s = _SRCLOC.match(body)
        if s:
            body = body[s.end():]
    return _Line(body.strip(), quoted, level, foreign)


def _stats(line: str) -> dict[str, float]:
    """``count=N first=.. curr=.. min=.. max=.. avg=.. std=.. [p5=.. median=.. p95=..]``."""
    values = {k: _num(v) for k, v in _KV.findall(line)}
    if "count" not in values:
        raise ParseError("count", line)
    n = values["count"]
    if n > 0 and "avg" not in values and "curr" not in values:
        raise ParseError("avg", line)
    return values


def _latency_from_stats(values: dict[str, float]) -> dict[str, Any]:
    n = int(values["count"])
    if n == 0:  # dry run: percentile builds print p5=0 median=0 p95=0, which measure nothing
        return {"count": 0, "mean_us": None, "std_us": None, "min_us": None, "max_us": None, "p50_us": None}
    if "avg" not in values:  # all same: count=N curr=V
        v = values["curr"]
        return {"count": n, "mean_us": v, "std_us": 0.0, "min_us": v, "max_us": v, "p50_us": values.get("median", v)}
    return {
        "count": n,
        "mean_us": values["avg"],
        "std_us": values.get("std"),
        "min_us": values.get("min"),
        "max_us": values.get("max"),
        "p50_us": values.get("median"),
    }


def _first_of(values: dict[str, float]) -> float | None:
    if values["count"] == 0:
        return None
    return values.get("first", values.get("curr"))


def _avg_of(values: dict[str, float]) -> float | None:
    if values["count"] == 0:
        return None
    return values.get("avg", values.get("curr"))


class _Segment:
    """State of one invocation while its lines are read."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.started = False
        self.recognised = False
        self.params: dict[str, str] = {}
        self.flags: dict[str, bool] = {}
        self.xnnpack_seen = False
        self.model_path: str | None = None
        self.running_seen = 0
        self.stats: list[tuple[int, dict[str, float]]] = []  # (running lines seen, values)
        self.summary: dict[str, float] = {}
        self.legacy: dict[str, float] = {}
        self.litert: dict[str, float] = {}
        self.litert_runs: dict[str, int] = {}
        self.litert_tool = False
        self.session_ms: float | None = None
        self.peak_mb: float | None = None
        self.mem_delta: tuple[str | None, str | None] | None = None  # (init, overall) footprint, MB
        self.timings: list[tuple[str | None, float | None]] = []  # primary graph totals: (phase, avg us)
        self.invoke_header = False
        self.profile_invoke_us: float | None = None
        self.failures: list[tuple[str, bool]] = []
        self.reasons: list[str] = []
        self.ops: list[dict[str, Any]] = []
        self.tables = 0
        # profile position
        self.phase: str | None = None
        self.subgraph: int | None = 0
        self.delegate_internal = False
        self.table: str | None = None  # run_order | skip
        self.header: re.Pattern[str] | None = None
        self.csv = False
        self.positions: dict[tuple[str | None, int | None, bool], int] = {}


def _split_segments(text: str) -> list[list[str]]:
    lines = text.splitlines()
    cuts = [i for i, line in enumerate(lines) if "STARTING!" in line]
    if not cuts:
        return [lines]
    bounds = [0, *cuts[1:], len(lines)]
    return [lines[bounds[i]:bounds[i + 1]] for i in range(len(bounds) - 1)]


def parse_text(text: str) -> ParsedBenchmark:
    """A stdout / log text: one run per invocation (``STARTING!``)."""
    runs = [r for r in (_parse_segment(lines, csv_file=False) for lines in _split_segments(text)) if r is not None]
    if not runs:
        raise ParseError("benchmark_model output", f"expected {EXPECTED}; got: {text[:160]}")
    return ParsedBenchmark("text", runs)


def parse_csv(text: str) -> ParsedBenchmark:
    """A CSV profile file (``--op_profiling_output_mode=csv`` / ``--profiling_output_csv_file``)."""
    run = _parse_segment(text.splitlines(), csv_file=True)
    if run is None or not run.ops and not any(_CSV_HEADER.match(_clean(x).text) for x in text.splitlines()):
        raise ParseError("CSV profile", f"expected 'node type, first, avg_ms, ...' tables; got: {text[:160]}")
    return ParsedBenchmark("csv", [run])


def _parse_segment(lines: list[str], csv_file: bool) -> ParsedInvocation | None:
    seg = _Segment()
    seg.lines = lines
    for raw_line in lines:
        _read_line(seg, _clean(raw_line))
    if not seg.recognised:
        if seg.started:
            last = next((x.strip() for x in reversed(lines) if x.strip()), "")
            seg.failures.append(("IncompleteOutput", True))
            seg.reasons.append(f"the output ends after {last[:120]!r} with no timings and no failure message "
                               "(the tool crashed, was killed, or the log is cut)")
        else:
            return None
    _resolve_phases(seg)
    return ParsedInvocation(run=_build_run(seg, csv_file), ops=seg.ops, raw="\n".join(lines))


def _resolve_phases(seg: _Segment) -> None:
    """Tables before any section header: the init section of a cut log when the invoke header
    follows; otherwise a build that prints no headers (2018-19, the LiteRT CompiledModel tool)."""
    unlabelled = "init" if seg.invoke_header else "invoke"
    for op in seg.ops:
        if op["phase"] is None:
            op["phase"] = unlabelled
    invoke = [v for phase, v in seg.timings if (phase or unlabelled) == "invoke"]
    seg.profile_invoke_us = invoke[0] if invoke else None


def _read_line(seg: _Segment, ln: _Line) -> None:
    s = ln.text
    if seg.table is not None:
        if _table_line(seg, ln):
            return
    if not s:
        return
    if "STARTING!" in s:
        seg.started = True
        return
    if s.startswith("count="):
        seg.stats.append((seg.running_seen, _stats(s)))
        seg.recognised = True
        return
    if "BENCHMARK RESULTS" in s:  # the LiteRT CompiledModel tool's block (its banner is not a table)
        seg.litert_tool = seg.recognised = True
        return
    m = _BANNER.match(s)
    if m:
        seg.recognised = True
        seg.tables += 1
        if m.group("title") == "Run Order":
            seg.table, seg.header = "run_order", None
        else:
            seg.table = "skip"
        return
    if s.startswith("Running benchmark for"):
        seg.running_seen += 1
        return
    if s.startswith("Inference timings in us:"):
        seg.summary = {k.strip(): _num(v) for k, v in _SUMMARY_PAIR.findall(s.split(":", 1)[1])}
        if "Inference (avg)" not in seg.summary:
            raise ParseError("Inference (avg)", s)
        seg.recognised = True
        return
    if s.startswith("Average inference timings in us:"):
        seg.legacy = {k.strip(): _num(v) for k, v in _SUMMARY_PAIR.findall(s.split(":", 1)[1])}
        if "Init" not in seg.legacy:
            raise ParseError("Init", s)
        seg.recognised = True
        return
    if s == "Profiling Info for Benchmark Initialization:":
        seg.phase, seg.subgraph, seg.delegate_internal = "init", 0, False
        return
    if s == "Operator-wise Profiling Info for Regular Benchmark Runs:":
        seg.phase, seg.subgraph, seg.delegate_internal = "invoke", 0, False
        seg.invoke_header = True
        return
    if _PRIMARY.match(s):
        seg.subgraph, seg.delegate_internal = 0, False
        return
    m = _SUBGRAPH.match(s)
    if m:
        seg.subgraph, seg.delegate_internal = int(m.group(1)), False
        return
    if s == "Delegate internal:":
        seg.subgraph, seg.delegate_internal = None, True
        return
    m = _TIMINGS.match(s)
    if m:
        values = _stats(m.group(2))
        if m.group(1) is None and not seg.delegate_internal and seg.subgraph in (0, None):
            seg.timings.append((seg.phase, _avg_of(values)))
        return
    m = _LITERT_MS.match(s)
    if m and seg.litert_tool:
        seg.litert[m.group("key")] = _num(m.group("v"))
        if m.group("n"):
            seg.litert_runs[m.group("key")] = int(m.group("n"))
        return
    m = _SESSION.match(s)
    if m:
        seg.session_ms = _num(m.group(1))
        return
    m = _PEAK.match(s) or (_LITERT_PEAK.match(s) if seg.litert_tool else None)
    if m:
        seg.peak_mb = _num(m.group(1))
        return
    m = _MEM_DELTA.match(s)
    if m:
        seg.mem_delta = (m.group(2), m.group(3))
        return
    m = _LITERT_FOOTPRINT.match(s)
    if m:
        init, overall = seg.mem_delta or (None, None)
        seg.mem_delta = (m.group(2), overall) if m.group(1) == "Init" else (init, m.group(2))
        return
    if s.startswith("Loaded model "):
        seg.model_path = s[len("Loaded model "):].strip()
        return
    if "XNNPACK delegate for CPU" in s or "(TfLiteXNNPackDelegate)" in s:
        seg.xnnpack_seen = True
    failed = False
    for pattern, cls, fatal in _FAILURES:
        if pattern.search(s):
            seg.failures.append((cls, fatal))
            failed = True
            break
    if failed or ln.level in ("ERROR", "FATAL"):
        seg.recognised = seg.recognised or failed
        if ln.quoted not in seg.reasons:
            seg.reasons.append(ln.quoted)
        return
    m = _PARAM.match(s)
    if m:
        key, value = m.group("key").strip(), m.group("value").strip()
        seg.params.setdefault(key, value)
        f = _USE_FLAG.match(key)
        if f and value in ("0", "1", "true", "false"):
            seg.flags[f.group(1).lower()] = value in ("1", "true")


def _table_line(seg: _Segment, ln: _Line) -> bool:
    """Handle a line inside a table block; False when the line ends the table and is not consumed."""
    s = ln.text
    if not s:
        seg.table = None
        return True
    if _BANNER.match(s) or s.startswith(("Number of nodes executed", "Timings (microseconds)")) \
            or _TIMINGS.match(s) or s.endswith("profile:") or "Profiling Info for" in s:
        seg.table = None
        return False
    if seg.table == "skip":
        return True
    if seg.header is None:
        if "[node type]" in s:
            has_start = "[start]" in s
            seg.header, seg.csv = (_TEXT_ROW_START if has_start else _TEXT_ROW), False
            return True
        if s.startswith("node type,"):
            has_start = s.startswith("node type, start,")
            seg.header, seg.csv = (_CSV_ROW_START if has_start else _CSV_ROW), True
            return True
        if ln.foreign:
            return True
        raise ParseError("Run Order header", s)
    m = seg.header.match(s)
    if m is None:
        if ln.foreign:
            return True
        raise ParseError("Run Order row", s)
    seg.ops.append(_op_row(seg, m))
    return True


def _op_row(seg: _Segment, m: re.Match[str]) -> dict[str, Any]:
    phase = seg.phase  # None: no section header yet, resolved in _resolve_phases
    key = (phase, seg.subgraph, seg.delegate_internal)
    position = seg.positions.get(key, 0)
    seg.positions[key] = position + 1
    name = m.group("name")
    if seg.csv:
        name = name.replace("\t", ",")  # the tool escapes ',' in names as TAB in CSV mode
    op_type = m.group("type").strip()
    times = int(m.group("times"))
    avg_ms = _num(m.group("avg"))
    return _op_record(
        phase=phase, subgraph=seg.subgraph, position=position, op_type=op_type, op_name=name,
        delegate_internal=seg.delegate_internal, times_called=times, first_ms=_num(m.group("first")),
        avg_ms=avg_ms, pct=_num(m.group("pct")), cdf_pct=_num(m.group("cdf")), mem_kb=_num(m.group("mem")),
    )


def _op_record(*, phase: str | None, subgraph: int | None, position: int, op_type: str, op_name: str,
               delegate_internal: bool, times_called: int, first_ms: float | None, avg_ms: float | None,
               pct: float | None, cdf_pct: float | None, mem_kb: float | None) -> dict[str, Any]:
    delegate_row = op_name.startswith("Delegate/")
    idx = _NODE_INDEX.search(op_name)
    return {
        "phase": phase,
        "subgraph": subgraph,
        "position": position,
        # ``Delegate/<op>:<id>`` carries the delegate's own op id, not a TFLite node index
        "node_index": int(idx.group(1)) if idx and not delegate_row else None,
        "op_type": op_type,
        "op_name": op_name,
        "delegated": bool(delegate_internal or delegate_row or _DELEGATE_KERNEL.match(op_type)),
        "times_called": times_called,
        "first_ms": first_ms,
        "avg_ms": avg_ms,
        # calls per invoke is an integer division in the tool; 0 means "less than once per invoke"
        "per_run_ms": avg_ms * times_called if avg_ms is not None and times_called > 0 else None,
        "pct": pct,
        "cdf_pct": cdf_pct,
        "mem_kb": mem_kb,
    }


def _delegate(seg: _Segment) -> str | None:
    for name in ("nnapi", "gpu", "hexagon", "coreml"):
        if seg.flags.get(name):
            return name
    types = {o["op_type"] for o in seg.ops}
    for prefix, name in (("TfLiteNnapiDelegate", "nnapi"), ("TfLiteGpuDelegate", "gpu"),
                         ("TfLiteHexagonDelegate", "hexagon"), ("TfLiteCoreMlDelegate", "coreml")):
        if any(t.startswith(prefix) for t in types):
            return name
    if seg.flags.get("xnnpack") or seg.xnnpack_seen or any(t.startswith("TfLiteXNNPackDelegate") for t in types) \
            or any(o["op_name"].startswith("Delegate/") for o in seg.ops if o["phase"] == "invoke"):
        return "xnnpack"
    if seg.flags.get("xnnpack") is False:
        return "none"
    return None


def _threads(seg: _Segment) -> int | None:
    for key in ("Num threads", "#threads used for CPU inference"):
        value = seg.params.get(key)
        if value is not None:
            try:
                n = int(value)
            except ValueError as exc:
                raise ParseError(key, value) from exc
            return n if n > 0 else None
    return None


def _warmup_and_regular(seg: _Segment) -> tuple[dict[str, float] | None, dict[str, float] | None]:
    """The warm-up and the regular stats lines: after the 1st and the 2nd "Running benchmark" line."""
    if seg.running_seen >= 2:
        warmup = next((v for seen, v in seg.stats if seen <= 1), None)
        regular = next((v for seen, v in seg.stats if seen >= 2), None)
        return warmup, regular
    if seg.running_seen == 1:  # the regular runs never started (failure, or the log is cut)
        return (seg.stats[0][1] if seg.stats else None), None
    # no "Running benchmark" lines (trimmed by whoever pasted the log): take the lines in order
    if len(seg.stats) >= 2:
        return seg.stats[0][1], seg.stats[1][1]
    return None, (seg.stats[0][1] if seg.stats else None)


def _model_name(graph: str | None) -> str | None:
    """``/data/local/tmp/mobilenet_v1.tflite`` -> ``mobilenet_v1``."""
    if not graph:
        return None
    base = graph.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    return base[:-7] if base.endswith(".tflite") else base


def _build_run(seg: _Segment, csv_file: bool) -> dict[str, Any]:
    warmup, regular = _warmup_and_regular(seg)
    lat: dict[str, Any] = {"count": None, "mean_us": None, "std_us": None, "min_us": None, "max_us": None,
                           "p50_us": None}
    if regular is not None:
        lat = _latency_from_stats(regular)
    elif "Inference (avg)" in seg.summary:
        lat["mean_us"] = seg.summary["Inference (avg)"]
    elif seg.legacy:
        lat["mean_us"] = seg.legacy.get("Inference", seg.legacy.get("no stats"))
    elif "Inference (avg)" in seg.litert:
        lat["mean_us"] = seg.litert["Inference (avg)"] * 1000.0
        lat["count"] = seg.litert_runs.get("Inference (avg)")
        for key, col in (("Inference (min)", "min_us"), ("Inference (max)", "max_us"), ("Inference (std)", "std_us")):
            if key in seg.litert:
                lat[col] = seg.litert[key] * 1000.0

    init_us = seg.summary.get("Init", seg.legacy.get("Init"))
    if init_us is None and seg.session_ms is not None:
        init_us = seg.session_ms * 1000.0
    if init_us is None and "Model initialization" in seg.litert:
        init_us = seg.litert["Model initialization"] * 1000.0
    first_us = _first_of(warmup) if warmup is not None else None
    if first_us is None:
        first_us = seg.summary.get("First inference")
    if first_us is None and "Warmup (first)" in seg.litert:
        first_us = seg.litert["Warmup (first)"] * 1000.0
    # the warm-up stats line holds the same numbers as the summary, often more precisely
    warmup_avg = _avg_of(warmup) if warmup is not None else None
    if warmup_avg is None:
        warmup_avg = seg.summary.get("Warmup (avg)", seg.legacy.get("Warmup"))
    if warmup_avg is None and "Warmup (avg)" in seg.litert:
        warmup_avg = seg.litert["Warmup (avg)"] * 1000.0

    fatal = any(f for _, f in seg.failures)
    soft = bool(seg.failures) and regular is None and not seg.summary and not seg.legacy
    failed = fatal or soft
    order = [cls for _, cls, _ in _FAILURES] + ["IncompleteOutput"]
    error_class = min((c for c, _ in seg.failures), key=order.index) if failed else None

    notes = []
    graph = seg.params.get("Graph") or seg.model_path
    if graph:
        notes.append(f"graph: {graph}")
    if csv_file:
        notes.append("profile file only: latency is in the tool's stdout")
    profiled = bool(seg.ops) or seg.tables > 0 or seg.params.get("Enable op profiling") in ("1", "true") \
        or seg.params.get("Use profiler") in ("1", "true")
    return {
        "runner": RUNNER,
        "runtime": "litert_compiled_model" if seg.litert_tool else "tflite_interpreter",
        "model_name": _model_name(graph),
        "mode": "profile" if profiled else "latency",
        "threads": _threads(seg),
        "delegate": _delegate(seg),
        "init_us": init_us,
        "first_us": first_us,
        "warmup_avg_us": warmup_avg,
        **lat,
        "p90_us": None,
        "p99_us": None,
        "peak_mem_mb": seg.peak_mb,
        "mem_init_mb": _num(seg.mem_delta[0]) if seg.mem_delta and seg.mem_delta[0] else None,
        "mem_overall_mb": _num(seg.mem_delta[1]) if seg.mem_delta and seg.mem_delta[1] else None,
        "profile_invoke_us": seg.profile_invoke_us,
        "status": "failed" if failed else "ok",
        "error_class": error_class,
        "error_message": " | ".join(seg.reasons) if failed else None,
        "notes": "; ".join(notes) or None,
    }


# --- proto -----------------------------------------------------------------------------------
PROFILE_MESSAGE = "tflite.profiling.BenchmarkProfilingData"


def profiling_message(name: str = PROFILE_MESSAGE) -> Any:
    """The message class of ``tflite.profiling.<name>``.

    The schema ships in ai-edge-litert (``profiling_info_pb2``) and in TensorFlow; whichever was
    imported first registered it in protobuf's default pool, and importing the other then fails
    with "duplicate symbol". So look in the pool first, and import the wheel's copy only if
    nobody has registered it yet.
    """
    from google.protobuf import descriptor_pool, message_factory

    pool = descriptor_pool.Default()
    try:
        descriptor = pool.FindMessageTypeByName(name)
    except KeyError:
        try:
            from ai_edge_litert import profiling_info_pb2  # noqa: F401  (registers the schema)
        except ImportError as exc:  # pragma: no cover - ai-edge-litert is a dependency
            raise ParseError("BenchmarkProfilingData", "reading proto profiles needs the ai-edge-litert "
                             "package (pip install ai-edge-litert)") from exc
        descriptor = pool.FindMessageTypeByName(name)
    return message_factory.GetMessageClass(descriptor)


def parse_proto(data: bytes) -> ParsedBenchmark:
    """A binary ``tflite.profiling.BenchmarkProfilingData`` (``--op_profiling_output_mode=proto``)."""
    from google.protobuf.message import DecodeError

    msg = profiling_message()()
    try:
        msg.ParseFromString(data)
    except DecodeError as exc:
        raise ParseError("BenchmarkProfilingData", f"not a profiling proto ({exc}): {data[:60]!r}") from exc
    if not msg.HasField("init_profile") and not msg.HasField("runtime_profile"):
        raise ParseError("BenchmarkProfilingData", f"no init_profile or runtime_profile in {len(data)} bytes")
    ops: list[dict[str, Any]] = []
    for phase, profile in (("init", msg.init_profile), ("invoke", msg.runtime_profile)):
        blocks = [(sg.subgraph_index, False, list(sg.per_op_profiles)) for sg in profile.subgraph_profiles]
        blocks += [(None, True, list(d.per_op_profiles)) for d in profile.delegate_profiles]
        for subgraph, internal, per_op in blocks:
            rows = []
            for position, op in enumerate(sorted(per_op, key=lambda o: o.run_order)):
                t = op.inference_microseconds
                avg_ms = (t.sum / t.count / 1000.0) if t.count else None
                row = _op_record(
                    phase=phase, subgraph=subgraph, position=position, op_type=op.node_type, op_name=op.name,
                    delegate_internal=internal, times_called=int(op.times_called),
                    first_ms=t.first / 1000.0 if t.count else None, avg_ms=avg_ms, pct=None, cdf_pct=None,
                    mem_kb=float(op.mem_kb.last) if op.HasField("mem_kb") else None,
                )
                row["_total_us"] = float(t.sum)
                rows.append(row)
            from harness.parsers.litert import add_shares

            add_shares(rows)
            for r in rows:
                r.pop("_total_us")
            ops.extend(rows)
    seg = _Segment()
    seg.ops = ops
    seg.tables = 1
    seg.params["Graph"] = msg.model_name
    run = _build_run(seg, csv_file=True)
    return ParsedBenchmark("proto", [ParsedInvocation(run=run, ops=ops, raw=str(msg)[:100_000])])


# --- dispatch --------------------------------------------------------------------------------
_BINARY = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f]")
_TEXT_MARKERS = re.compile(r"STARTING!|^\s*(?:\S+: )?count=|Inference timings in us|\[node type\]", re.M)


def detect_format(data: bytes) -> str:
    """``text``, ``csv`` or ``proto``, by content."""
    head = data[:1 << 16]
    if _BINARY.search(head):
        return "proto"
    text = head.decode("utf-8", errors="replace")
    if not _TEXT_MARKERS.search(text) and any(_CSV_HEADER.match(_clean(x).text) for x in text.splitlines()):
        return "csv"
    return "text"


def parse(data: bytes | str) -> ParsedBenchmark:
    """Any benchmark_model output, format told apart by content."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fmt = detect_format(raw)
    if fmt == "proto":
        return parse_proto(raw)
    text = raw.decode("utf-8", errors="replace")
    return parse_csv(text) if fmt == "csv" else parse_text(text)
