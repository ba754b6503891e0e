"""Memory as a metric: one figure per run, and where it came from.

Runners measure memory differently, and the runs frame keeps each as it was measured:
``peak_mem_mb`` (benchmark_model's periodic monitor), ``peak_rss_mb`` (the litert runner's peak
resident set of the measuring process), ``mem_overall_mb`` (benchmark_model's footprint delta from
the tool's start, after the runs). ``run_memory_mb`` takes the first of these a run has, in that
order (a peak beats a delta); ``memory_source`` says which, so a comparison never mixes them
without saying so.
"""

from __future__ import annotations

from typing import Any

SOURCES = ("peak_mem_mb", "peak_rss_mb", "mem_overall_mb")


def run_memory_mb(runs: Any) -> Any:
    """Per run (a Series aligned with ``runs``): its memory figure in MB, NaN where none was measured."""
    import pandas as pd

    out = pd.Series(float("nan"), index=runs.index, dtype="float64")
    for column in reversed(SOURCES):  # the earlier sources win
        if column in runs:
            values = pd.to_numeric(runs[column], errors="coerce")
            out = values.where(values.notna(), out)
    return out


def memory_source(runs: Any) -> str | None:
    """The column the figures of ``runs`` come from (the first one any run has), or None."""
    for column in SOURCES:
        if column in runs and runs[column].notna().any():
            return column
    return None
