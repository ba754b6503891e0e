"""The `harness` command. Thin: parse, call, render. One module per command group.

Only typer is imported at start-up: `harness --help` lists the commands from COMMANDS without
importing their modules (harness.cli.lazy), and every command imports what it needs when it runs.
"""

from __future__ import annotations

import sys

import typer

from harness import __version__
from harness.cli.lazy import LazyCommand, LazyGroup

# name -> where the command lives, and the line `harness --help` shows for it (the first paragraph
# of the command's own help; tests/unit/test_cli_startup.py checks that they agree). In help order.
COMMANDS: dict[str, LazyCommand] = {
    "run": LazyCommand(
        "harness.cli.run", "run", "Run a plan of variants x threads x repeats on a device and store the results."
    ),
    "compare": LazyCommand(
        "harness.cli.compare",
        "compare",
        "Compare two variants (or two runtimes, with --by runtime) of a campaign, per device and thread count.",
    ),
    "recommend": LazyCommand(
        "harness.cli.recommend", "recommend",
        "Recommend the variant to ship on each device (and thread count), and say why.",
    ),
    "import": LazyCommand(
        "harness.cli.import_",
        "import_",
        "Import an existing benchmark_model output (stdout/log, CSV or proto profile) into the store.",
    ),
    "report": LazyCommand(
        "harness.cli.report", "report", "Write one self-contained HTML report of a campaign (default: the newest)."
    ),
    "models": LazyCommand(
        "harness.cli.models",
        "app",
        "Convert models into variants (fp32, fp16, dynamic, int8); inspect and validate .tflite files.",
    ),
    "results": LazyCommand(
        "harness.cli.results", "app", "Look at the results store: list, show, export, query; compact or migrate it."
    ),
    "devices": LazyCommand("harness.cli.devices", "app", "List devices and show their facts."),
    "farm": LazyCommand("harness.cli.farm", "app", "The device farm across hosts: Dask workers that own devices."),
    "tools": LazyCommand("harness.cli.tools", "app", "Manage benchmark_model binaries per ABI (add, list, fetch)."),
}


class _HarnessGroup(LazyGroup):
    lazy_commands = COMMANDS


app = typer.Typer(
    name="harness",
    cls=_HarnessGroup,
    help="Profile TensorFlow Lite / LiteRT models on phones, boards and this host: "
    "convert the variants, run them, compare them op by op.",
    no_args_is_help=False,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def version_line() -> str:
    """harness, the LiteRT runtime and Python, from package metadata (the runtime is not imported)."""
    from importlib import metadata

    try:
        litert = f"ai-edge-litert {metadata.version('ai-edge-litert')}"
    except metadata.PackageNotFoundError:
        litert = "ai-edge-litert not installed"
    return f"harness {__version__} ({litert}, Python {'.'.join(map(str, sys.version_info[:3]))})"


def _version(value: bool) -> None:
    if value:
        typer.echo(version_line())
        raise typer.Exit()


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())


def main(argv: list[str] | None = None) -> None:
    """Entry point: renders HarnessError as one line and sets the exit code.

    Usage errors are typer's own (exit code 2); everything the harness raises on purpose is a
    HarnessError with its exit code (2 for what the user can fix).
    """
    from harness.errors import HarnessError

    try:
        app(args=argv)
    except HarnessError as exc:
        from harness.cli.render import error

        error(str(exc))
        sys.exit(exc.exit_code)
