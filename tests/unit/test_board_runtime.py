"""Which runtime a board gets (pure): the platform limits of ai-edge-litert and tflite-runtime."""

from __future__ import annotations

import pytest

from harness.errors import UserError
from harness.runners.runtime import BoardPlatform, choose_runtime


def board(machine="aarch64", python=(3, 11), glibc=(2, 36)) -> BoardPlatform:
    return BoardPlatform(machine=machine, python=python, python_path="/usr/bin/python3" if python else None,
                         glibc=glibc, venv_ok=True)


def test_bookworm_pi_gets_litert_with_profiling():
    c = choose_runtime(board())
    assert (c.package, c.version, c.profiling) == ("ai-edge-litert", "2.3.0", True)
    assert "manylinux_2_27_aarch64" in c.pip_platforms


def test_old_glibc_falls_back_to_tflite_runtime_on_python_310():
    c = choose_runtime(board(python=(3, 9), glibc=(2, 31)))
    assert c.package == "tflite-runtime" and not c.profiling and "2.34" in c.why
    assert "numpy<2" in c.requirements


def test_old_glibc_with_new_python_has_no_runtime_and_says_why():
    with pytest.raises(UserError, match="glibc >= 2.34"):
        choose_runtime(board(python=(3, 11), glibc=(2, 31)))


def test_armv7l_has_no_litert():
    assert choose_runtime(board("armv7l", python=(3, 9))).package == "tflite-runtime"
    with pytest.raises(UserError, match="no armv7l LiteRT wheels"):
        choose_runtime(board("armv7l", python=(3, 11)))


def test_no_python_says_what_to_install():
    with pytest.raises(UserError, match="apt install python3 python3-venv"):
        choose_runtime(board(python=None))


def test_x86_64_board():
    assert choose_runtime(board("x86_64")).package == "ai-edge-litert"
    with pytest.raises(UserError, match="3.10-3.13"):
        choose_runtime(board("x86_64", python=(3, 8)))
