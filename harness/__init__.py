"""harness: on-device profiling of TensorFlow Lite / LiteRT models.

Public API: ``load_results(path) -> Results(runs, ops, samples)``.
Heavy modules (pandas, tensorflow) load only when used, so importing harness stays instant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:  # pragma: no cover
    from harness.store import Results


def load_results(path: Any = None) -> Results:
    """Load a results store, a campaign folder or one run folder as frames (runs, ops, samples)."""
    from harness.store import load_results as _load

    return _load(path)


__all__ = ["__version__", "load_results"]
