"""`harness --help` imports no command module; every command it lists still loads and helps.

The modules a help run imports are read from sys.modules in a fresh interpreter, not from
`-X importtime`, which does not report modules loaded through importlib.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import subprocess
import sys

import pytest

from harness.cli.app import COMMANDS, main

COMMAND_MODULES = {entry.module for entry in COMMANDS.values()} | {"harness.cli.render"}
# Libraries a command may need when it runs, never to describe itself.
HEAVY = {
    "numpy", "pandas", "scipy", "pyarrow", "duckdb", "matplotlib", "tensorflow", "ai_edge_litert",
    "adbutils", "paramiko", "dask", "distributed", "fsspec", "upath", "tomlkit",
    "pydantic",  # typer 0.29 validates option values with it: running a command needs it, help does not
}


def modules_after(*argv: str) -> set[str]:
    """The modules `harness ARGV` leaves imported, in a fresh interpreter."""
    probe = (
        "import json, sys\n"
        "from harness.cli.app import main\n"
        f"try:\n    main({list(argv)!r})\nexcept SystemExit as exc:\n    assert exc.code in (0, None), exc.code\n"
        "print('\\n' + json.dumps(sorted(sys.modules)))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "80"}
    )
    assert proc.returncode == 0, proc.stderr
    return set(json.loads(proc.stdout.splitlines()[-1]))


def top_level(modules: set[str]) -> set[str]:
    return {name.split(".")[0] for name in modules}


def test_top_level_help_imports_no_command_module_and_no_heavy_library():
    modules = modules_after("--help")
    assert "harness.cli.app" in modules  # the probe did run the CLI
    assert modules & COMMAND_MODULES == set()
    assert top_level(modules) & HEAVY == set()


@pytest.mark.parametrize(
    ("argv", "module"),
    [(["run", "--help"], "harness.cli.run"), (["models", "example", "--help"], "harness.cli.models")],
)
def test_a_command_help_imports_its_own_module_alone(argv, module):
    modules = modules_after(*argv)
    assert modules & COMMAND_MODULES == {module}
    assert top_level(modules) & HEAVY == set()


def listed_commands(help_text: str) -> list[str]:
    """The names in the Commands panel of a rich help screen."""
    _, found, panel = help_text.partition("─ Commands ─")
    if not found:
        return []
    return re.findall(r"^│ (\S+)  ", panel, flags=re.MULTILINE)


def help_of(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--help"])
    out = capsys.readouterr().out
    assert exit_.value.code == 0, f"harness {' '.join(argv)} --help exited {exit_.value.code}"
    return out


def test_every_listed_command_and_subcommand_shows_its_own_help(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")
    monkeypatch.setattr(sys, "argv", ["harness"])  # the program name in "Usage: harness ..."
    # click names the program after `python -m <package>` when __main__ is a package's (python -m pytest)
    monkeypatch.setattr(sys.modules["__main__"], "__package__", None, raising=False)
    top = listed_commands(help_of(capsys))
    assert top == list(COMMANDS)
    seen = []
    pending = [[name] for name in top]
    while pending:
        path = pending.pop(0)
        out = help_of(capsys, *path)
        assert f"Usage: harness {' '.join(path)} " in re.sub(r"\s+", " ", out)
        seen.append(" ".join(path))
        pending += [[*path, sub] for sub in listed_commands(out)]
    # the nested groups were reached, not only the top-level names
    assert {"devices facts", "models example", "results query", "farm worker", "tools list"} <= set(seen)


@pytest.mark.parametrize("name", list(COMMANDS))
def test_the_listed_line_is_the_first_paragraph_of_the_command_help(name):
    command = COMMANDS[name].load(name)
    assert command.name == name
    assert inspect.cleandoc(command.help).split("\n\n")[0] == COMMANDS[name].short_help


def test_a_mistyped_command_exits_2_naming_the_nearest(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")
    with pytest.raises(SystemExit) as exit_:
        main(["rn"])
    assert exit_.value.code == 2
    assert "No such command 'rn'. Did you mean 'run'?" in capsys.readouterr().err


def test_no_arguments_prints_the_top_level_help(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")
    with pytest.raises(SystemExit) as exit_:
        main([])
    assert exit_.value.code == 0
    assert listed_commands(capsys.readouterr().out) == list(COMMANDS)
