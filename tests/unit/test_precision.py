from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.analysis import stats
from harness.errors import UserError
from harness.precision import half_widths, parse_precision, precise_enough


def _runs(values, variant="int8"):
    return pd.DataFrame({"device": "d", "threads": 1, "variant": variant, "mode": "latency", "status": "ok",
                         "p50_us": values, "mean_us": values})


def test_interval_narrows_with_more_runs():
    rng = np.random.default_rng(3)
    few = half_widths(_runs(rng.normal(100, 5, 5)))[("d", 1, "int8")]
    many = half_widths(_runs(rng.normal(100, 5, 40)))[("d", 1, "int8")]
    assert many < few and many < 0.03
    assert half_widths(_runs([10.0] * 5))[("d", 1, "int8")] == pytest.approx(0.0, abs=1e-12)


def test_the_half_width_is_compares_interval_of_the_median():
    values = [100.0, 103.0, 98.0, 101.0, 107.0, 99.0]
    (width,) = half_widths(_runs(values)).values()
    low, high = stats.median_ci(values)
    assert width == (high - low) / 2 / stats.hd_median(values)


def test_too_few_runs_are_never_precise_enough():
    # below the number the stability warnings call too few runs, there is no interval
    widths = half_widths(_runs([100.0] * (stats.MIN_RUNS - 1)))
    assert widths == {("d", 1, "int8"): None} and not precise_enough(widths, 0.5)


def test_parse_precision():
    assert parse_precision("2%") == pytest.approx(0.02) and parse_precision("0.05") == 0.05
    for bad in ("x", "0%", "150%"):
        with pytest.raises(UserError):
            parse_precision(bad)
