from __future__ import annotations

HELP = "Run a plan of variants x threads x repeats on a device."


def run() -> None:
    raise NotImplementedError
