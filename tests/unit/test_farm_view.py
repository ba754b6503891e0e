"""The farm at a glance (harness.analysis.farm): which devices a farm's report sorts first, groups
by fastest variant, marks, and picks for sections of their own."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from harness.analysis import stats
from harness.analysis.farm import farm_view

# device -> (ratio of int8 to dynamic, ratio of fp32 to dynamic): ten alike, two pairs that are not
FARM = {**{f"pixel-{k}": (0.90 + 0.001 * k, 1.10) for k in range(10)},
        "odd-a1": (1.40, 1.10), "odd-a2": (1.41, 1.10),
        "odd-b1": (0.90, 0.60), "odd-b2": (0.90, 0.61)}


def _comp(device, candidate, ratio, lo, hi):
    verdict = stats.FASTER if hi < 1 else stats.SLOWER if lo > 1 else stats.NO_DIFFERENCE
    return SimpleNamespace(device=device, threads=1, baseline="dynamic", candidate=candidate, ratio=ratio, ci_low=lo,
                           ci_high=hi, verdict=verdict, n_baseline=5, n_candidate=5)


def _group(device, variant, ms):
    return SimpleNamespace(device=device, variant=variant, threads=1, median_ms=ms)


def _farm(detail=2, devices=()):
    comps, groups = [], []
    for device, (int8, fp32) in FARM.items():
        comps.append(_comp(device, "int8", int8, int8 * 0.98, int8 * 1.02))
        comps.append(_comp(device, "fp32", fp32, 0.95, 1.2))  # an interval that holds 1: not marked
        groups += [_group(device, "dynamic", 1.0), _group(device, "int8", int8), _group(device, "fp32", fp32)]
    return farm_view(comps, groups, "dynamic", "int8", detail, devices=devices)


def test_devices_are_sorted_by_the_candidates_ratio_and_those_without_one_come_last():
    view = _farm(devices=[*FARM, "broken"])
    assert view.columns == [("int8", 1), ("fp32", 1)]
    assert view.devices[-3:] == ["odd-a1", "odd-a2", "broken"]
    ratios = [view.cell(d, ("int8", 1)).ratio for d in view.devices[:-1]]
    assert ratios == sorted(ratios)
    assert view.farm_ratio[("int8", 1)] == pytest.approx(0.9045, abs=1e-3)


def test_cells_are_marked_where_the_interval_excludes_one():
    view = _farm()
    assert view.cell("pixel-0", ("int8", 1)).marked and view.cell("odd-a1", ("int8", 1)).marked
    assert not view.cell("pixel-0", ("fp32", 1)).marked
    assert view.counts(("int8", 1))[stats.FASTER] == 12 and view.counts(("int8", 1))[stats.SLOWER] == 2


def test_devices_are_grouped_by_their_fastest_variant():
    view = _farm()
    assert view.fastest_groups(1) == [("int8", [f"pixel-{k}" for k in range(10)]),  # most devices first
                                      ("fp32", ["odd-b1", "odd-b2"]), ("dynamic", ["odd-a1", "odd-a2"])]


def test_the_devices_that_differ_most_are_one_of_each_kind_not_two_alike():
    view = _farm(detail=2)
    assert {d.device[:5] for d in view.detail} == {"odd-a", "odd-b"}
    first = view.detail[0]  # odd-b is farthest: fp32 0.60 against the farm's 1.10
    assert first.device.startswith("odd-b") and first.column == ("fp32", 1)
    assert first.value == pytest.approx(0.60, abs=0.011) and first.farm_median == pytest.approx(1.10)
    assert first.fastest_differs
    assert [d.device for d in _farm(detail=0).detail] == []
    assert len(_farm(detail=20).detail) == len(FARM)
