"""Where harness keeps things on this host: one cache folder helper."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    """``$XDG_CACHE_HOME/harness/<parts>`` (default ``~/.cache``); not created here."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base, "harness", *parts)
