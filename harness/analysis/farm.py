"""A farm at a glance: every device's ratio to the baseline, which variant is fastest where, and
the devices that differ most from the rest (pure; no I/O, no HTML).

Built from what `harness compare` and the report already computed — ``compare.Comparison``
objects (ratios, intervals, verdicts) and the report's ``LatencyGroup``s (each group's median
over its runs' own medians) — so it reads per-run aggregates only, never the timed invokes.

- ``FarmView.cells``: device x column, a column being a candidate variant at a thread count; the
  ratio candidate / baseline with its interval. A cell whose interval excludes 1 is *marked*.
- ``FarmView.fastest``: per device and thread count, the variant with the lowest median.
- ``FarmView.detail``: the devices that differ most from the rest, by their largest distance from
  the farm in any column: ``|log(ratio) - median over devices of log(ratio)|`` (a device 1.35x
  where the farm's median is 0.90x is 0.41 away), picked one at a time so that each next one is
  also far from those already picked. A farm without ratios (one variant) uses each group's
  median latency the same way.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.analysis import stats
from harness.analysis.summary import VARIANT_ORDER

FARM_DEVICES = 4
"""Above this many devices the report shows the farm (heatmap, spread, fastest variant, one table)
and gives its own section only to the devices that differ most; up to this many, every device."""
DETAIL = 3
"""Devices with their own section on a farm's page, by default (`harness report --detail N`)."""
MAX_DETAIL = 6
"""The most `--detail` may ask for: the farm's 2 plots + 2 per device (latency, op types) + the
accuracy plot stay within 15 plots."""

Column = tuple[str, int]  # (candidate variant, threads)


@dataclass(frozen=True)
class Cell:
    """One device x column: ``ratio`` = candidate / baseline median latency (below 1: faster)."""

    device: str
    variant: str
    threads: int
    ratio: float | None
    ci_low: float | None
    ci_high: float | None
    verdict: str
    n_baseline: int
    n_candidate: int

    @property
    def marked(self) -> bool:
        """The interval excludes 1."""
        return self.ci_low is not None and self.ci_high is not None and (self.ci_high < 1.0 or self.ci_low > 1.0)


@dataclass(frozen=True)
class Distinct:
    """A device picked for its own section, and why (``column`` is where it is farthest off)."""

    device: str
    score: float
    column: Column
    value: float  # its ratio in that column (or its median ms, in a farm without ratios)
    farm_median: float
    fastest_differs: bool  # its fastest variant is not the farm's most common one


@dataclass
class FarmView:
    baseline: str
    candidate: str | None  # the column the devices are sorted by is (candidate, its first thread count)
    columns: list[Column]
    devices: list[str]  # sorted by the first column's ratio (fastest first), devices without one last
    cells: dict[tuple[str, str, int], Cell]
    fastest: dict[tuple[str, int], str]  # (device, threads) -> variant with the lowest median
    medians_ms: dict[tuple[str, str, int], float]  # (device, variant, threads) -> median over its runs (ms)
    farm_ratio: dict[Column, float]  # the median over devices of each column's ratio
    detail: list[Distinct]
    notes: list[str] = field(default_factory=list)

    def cell(self, device: str, column: Column) -> Cell | None:
        return self.cells.get((device, *column))

    def threads(self) -> list[int]:
        return sorted({t for _, t in self.fastest})

    def fastest_groups(self, threads: int) -> list[tuple[str, list[str]]]:
        """(variant, its devices) at ``threads``, most devices first."""
        by: dict[str, list[str]] = {}
        for (device, t), variant in sorted(self.fastest.items()):
            if t == threads:
                by.setdefault(variant, []).append(device)
        return sorted(by.items(), key=lambda kv: (-len(kv[1]), VARIANT_ORDER.get(kv[0], 9), kv[0]))

    def counts(self, column: Column) -> dict[str, int]:
        """Devices per verdict in ``column``."""
        got = Counter(c.verdict for (_, v, t), c in self.cells.items() if (v, t) == column and c.ratio is not None)
        return {v: got.get(v, 0) for v in (stats.FASTER, stats.SLOWER, stats.NO_DIFFERENCE, stats.INCONCLUSIVE)}


def _log(x: float | None) -> float | None:
    return math.log(x) if x is not None and x > 0 and math.isfinite(x) else None


def farm_view(comps: Sequence[Any], groups: Sequence[Any], baseline: str, candidate: str | None,
              detail: int = DETAIL, devices: Sequence[str] = ()) -> FarmView:
    """The farm of ``comps`` (``Comparison``s of candidates against ``baseline``) and ``groups``
    (``report.LatencyGroup``s), with the ``detail`` devices that differ most. ``devices``: every
    device of the campaign, also those without a successful run (listed last)."""
    notes: list[str] = []
    cells: dict[tuple[str, str, int], Cell] = {}
    doubled = 0
    for c in comps:
        if c.baseline != baseline:
            continue
        key = (str(c.device), str(c.candidate), int(c.threads))
        if key in cells:  # split by runtime or kernels: the first one speaks for the device
            doubled += 1
            continue
        cells[key] = Cell(key[0], key[1], key[2], c.ratio, c.ci_low, c.ci_high, c.verdict, c.n_baseline,
                          c.n_candidate)
    if doubled:
        notes.append(f"{doubled} comparison(s) of a device split by runtime or kernels: the farm view shows the "
                     "first of each; the device's own `harness compare` shows them all")
    columns = sorted({(v, t) for _, v, t in cells}, key=lambda col: (col[0] != candidate, VARIANT_ORDER.get(col[0], 9),
                                                                        col[0], col[1]))
    medians: dict[tuple[str, str, int], float] = {}
    for g in groups:
        key = (g.device, g.variant, g.threads)
        medians[key] = min(medians.get(key, math.inf), g.median_ms)
    fastest: dict[tuple[str, int], str] = {}
    best: dict[tuple[str, int], float] = {}
    for (device, variant, threads), ms in sorted(medians.items()):
        if ms < best.get((device, threads), math.inf):
            best[(device, threads)], fastest[(device, threads)] = ms, variant
    logs: dict[Column, list[float]] = {}
    for (_, v, t), c in cells.items():
        x = _log(c.ratio)
        if x is not None:
            logs.setdefault((v, t), []).append(x)
    farm_ratio = {col: math.exp(statistics.median(xs)) for col, xs in logs.items()}
    first = columns[0] if columns else None

    def order(device: str) -> tuple[int, float, str]:
        cell = cells.get((device, *first)) if first else None
        return (0, cell.ratio, device) if cell is not None and cell.ratio is not None else (1, 0.0, device)

    everyone = sorted({str(d) for d in devices} | {g.device for g in groups} | {d for d, _, _ in cells}, key=order)
    view = FarmView(baseline, candidate, columns, everyone, cells, fastest, medians, farm_ratio, [], notes)
    view.detail = distinct(view, detail)
    return view


def distinct(view: FarmView, n: int) -> list[Distinct]:
    """The ``n`` devices that differ most (see the module's docstring), picked one at a time: each
    next one is the device farthest from both the farm and the devices already picked, so ten
    phones of one model that behave alike give one section, not ten."""
    if n <= 0:
        return []
    values: dict[str, dict[Column, float]] = {}
    points = ([(key, c.ratio) for key, c in view.cells.items()] if view.columns
              else list(view.medians_ms.items()))
    for (device, v, t), value in points:
        x = _log(value)
        if x is not None:
            values.setdefault(device, {})[(v, t)] = x
    by_column: dict[Column, list[float]] = {}
    for per in values.values():
        for col, x in per.items():
            by_column.setdefault(col, []).append(x)
    centre = {col: statistics.median(xs) for col, xs in by_column.items()}

    def apart(a: dict[Column, float], b: dict[Column, float]) -> float:
        return max((abs(a[c] - b[c]) for c in a.keys() & b.keys()), default=0.0)

    common = {t: groups[0][0] for t in view.threads() if (groups := view.fastest_groups(t))}
    picked: list[Distinct] = []
    left = dict(values)
    while left and len(picked) < n:
        def off(device: str) -> float:
            own = values[device]
            return min([apart(own, centre), *(apart(own, values[p.device]) for p in picked)])

        device = min(left, key=lambda d: (-off(d), d))
        per = left.pop(device)
        col, x = max(per.items(), key=lambda kv: (abs(kv[1] - centre[kv[0]]), kv[0]))
        differs = any(view.fastest.get((device, t)) not in (None, v) for t, v in common.items())
        picked.append(Distinct(device, abs(x - centre[col]), col, math.exp(x), math.exp(centre[col]), differs))
    return picked
