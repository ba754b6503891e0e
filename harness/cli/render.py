"""Rendering helpers shared by the commands (rich, loaded on first use).

Strings from devices, models and users (names, facts, op and tensor names, error messages) are
data: they are printed as rich ``Text`` (never parsed as markup: ``[red]`` stays ``[red]``) with
control characters shown escaped (an ANSI escape in a device name cannot restyle or move the
terminal). Everything printed goes through ``say``, ``info``, ``warn``, ``error``, ``table`` or
``new_table``.
"""

from __future__ import annotations

import functools
import re
from typing import Any

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean(value: Any) -> str:
    """``value`` as text, with control characters (ESC, CR, BEL ...) written as ``\\xNN``."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(value))


def text(*parts: Any) -> Any:
    """A rich Text of literal parts; a part may be ``(string, style)``."""
    from rich.text import Text

    return Text.assemble(*((clean(p[0]), p[1]) if isinstance(p, tuple) else clean(p) for p in parts))


@functools.cache
def console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def _labelled(label: str, style: str, message: str) -> None:
    console(stderr=True).print(text((label, style), " ", message), soft_wrap=True)


def error(message: str) -> None:
    _labelled("error:", "bold red", message)


def warn(message: str) -> None:
    _labelled("warning:", "bold yellow", message)


def info(message: str) -> None:
    """A line for the user on stderr (progress, notes)."""
    console(stderr=True).print(text(message), soft_wrap=True)


def say(message: str) -> None:
    """A line of the command's output on stdout."""
    console().print(text(message), soft_wrap=True)


def new_table(title: str | None = None, **kwargs: Any) -> Any:
    """A rich Table whose string cells and title are literal text."""
    from rich.table import Table

    class _LiteralTable(Table):
        def add_row(self, *cells: Any, **kw: Any) -> None:
            super().add_row(*(text(c) if isinstance(c, str) else c for c in cells), **kw)

    return _LiteralTable(title=text(title) if title else None, **kwargs)


FLEX_COLUMNS = {
    "top_ops", "run_id", "error_message", "op_type", "op_name", "value", "address", "variants", "what to do", "why",
    "detail", "tags",
}


def table(frame: Any, title: str | None = None) -> None:
    """Print a pandas frame as a rich table on stdout; only long text columns wrap."""
    from rich import box
    from rich.table import Table

    if "device" in frame.columns and len(frame) and frame["device"].nunique() == 1 and len(frame.columns) > 6:
        title = f"{title} on {frame['device'].iloc[0]}" if title else str(frame["device"].iloc[0])
        frame = frame.drop(columns="device")
    # names, facts and messages come from devices, models and users: rendered as text, never as markup
    t = Table(title=text(title) if title else None, show_lines=False, box=box.SIMPLE_HEAD, pad_edge=False)
    for col in frame.columns:
        flex = str(col) in FLEX_COLUMNS
        t.add_column(text(col), overflow="fold", no_wrap=not flex, min_width=16 if flex else len(str(col)))
    for row in frame.itertuples(index=False):
        t.add_row(*(text("" if _isna(v) else _fmt(v)) for v in row))
    console().print(t)


def _isna(v: Any) -> bool:
    import pandas as pd

    return v is None or (pd.api.types.is_scalar(v) and bool(pd.isna(v)))


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3f}" if abs(v) < 1000 else f"{v:.0f}"
    return str(v)
