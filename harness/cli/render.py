"""Rendering helpers shared by the commands (rich, loaded on first use)."""

from __future__ import annotations

import functools
from typing import Any


@functools.cache
def console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def error(message: str) -> None:
    console(stderr=True).print(f"[bold red]error:[/] {message}", markup=True, soft_wrap=True)


def warn(message: str) -> None:
    console(stderr=True).print(f"[bold yellow]warning:[/] {message}", markup=True, soft_wrap=True)


def info(message: str) -> None:
    console(stderr=True).print(message, markup=False, soft_wrap=True)


def table(frame: Any, title: str | None = None) -> None:
    """Print a pandas frame as a rich table on stdout."""
    from rich.table import Table

    t = Table(title=title, show_lines=False)
    for col in frame.columns:
        t.add_column(str(col), overflow="fold")
    for row in frame.itertuples(index=False):
        t.add_row(*("" if _isna(v) else _fmt(v) for v in row))
    console().print(t)


def _isna(v: Any) -> bool:
    try:
        return v is None or v != v  # NaN
    except Exception:  # pragma: no cover - exotic types
        return False


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3f}" if abs(v) < 1000 else f"{v:.0f}"
    return str(v)
