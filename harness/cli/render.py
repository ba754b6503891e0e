"""Rendering helpers shared by the commands (rich, loaded on first use)."""

from __future__ import annotations

import functools
from typing import Any


@functools.cache
def console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def _labelled(label: str, style: str, message: str) -> None:
    from rich.text import Text

    console(stderr=True).print(Text.assemble((label, style), " ", message), soft_wrap=True)


def error(message: str) -> None:
    _labelled("error:", "bold red", message)


def warn(message: str) -> None:
    _labelled("warning:", "bold yellow", message)


def info(message: str) -> None:
    console(stderr=True).print(message, markup=False, soft_wrap=True)


FLEX_COLUMNS = {
    "top_ops", "run_id", "error_message", "op_type", "op_name", "value", "address", "variants", "what to do", "why",
    "detail", "tags",
}


def table(frame: Any, title: str | None = None) -> None:
    """Print a pandas frame as a rich table on stdout; only long text columns wrap."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    if "device" in frame.columns and len(frame) and frame["device"].nunique() == 1 and len(frame.columns) > 6:
        title = f"{title} on {frame['device'].iloc[0]}" if title else str(frame["device"].iloc[0])
        frame = frame.drop(columns="device")
    # names, facts and messages come from devices, models and users: rendered as text, never as markup
    t = Table(title=Text(title) if title else None, show_lines=False, box=box.SIMPLE_HEAD, pad_edge=False)
    for col in frame.columns:
        flex = str(col) in FLEX_COLUMNS
        t.add_column(str(col), overflow="fold", no_wrap=not flex, min_width=16 if flex else len(str(col)))
    for row in frame.itertuples(index=False):
        t.add_row(*(Text("" if _isna(v) else _fmt(v)) for v in row))
    console().print(t)


def _isna(v: Any) -> bool:
    import pandas as pd

    return v is None or (pd.api.types.is_scalar(v) and bool(pd.isna(v)))


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3f}" if abs(v) < 1000 else f"{v:.0f}"
    return str(v)
