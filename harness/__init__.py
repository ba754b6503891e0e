"""harness: on-device profiling of TensorFlow Lite / LiteRT models.

The Python API (what every `harness` command calls; see ``harness.api``):

    harness.run(device=..., model=... | example=..., variants=..., threads=..., repeats=..., ...) -> Campaign
    harness.compare(campaign, baseline=..., candidate=..., by="variant") -> pandas.DataFrame
    harness.report(campaign, out="report.html") -> ReportFile
    harness.summary(campaign) -> pandas.DataFrame
    harness.recommend(campaign, min_agreement="99%", ...) -> pandas.DataFrame   which variant to ship, and why
    harness.open_campaign(name_or_path=None, results="results") -> Campaign
    harness.load_results(path, samples=False) -> Results(runs, ops, samples)   samples read when first used

Errors are those of ``harness.errors`` (bad input: ``UserError``). Heavy modules (pandas,
tensorflow) load only when used, so importing harness stays instant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:  # pragma: no cover
    from harness.api import Campaign, ReportFile, compare, open_campaign, recommend, report, run, summary
    from harness.store import Results


def load_results(path: Any = None, *, samples: bool = False) -> Results:
    """Load a results store, a campaign folder or one run folder as frames (runs, ops, samples):
    runs and ops now, samples when first used (or now, with ``samples=True``)."""
    from harness.store import load_results as _load

    return _load(path, samples=samples)


_API = ("Campaign", "ReportFile", "compare", "open_campaign", "recommend", "report", "run", "summary")


def __getattr__(name: str) -> Any:
    if name in _API:
        from harness import api

        return getattr(api, name)
    raise AttributeError(f"module 'harness' has no attribute {name!r}")


__all__ = ["Campaign", "ReportFile", "__version__", "compare", "load_results", "open_campaign", "recommend", "report",
           "run", "summary"]
