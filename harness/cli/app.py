"""The `harness` command. Thin: parse, call, render. One module per command group.

Only typer is imported at start-up; every command imports what it needs when it runs.
"""

from __future__ import annotations

import sys

import typer

from harness import __version__
from harness.cli import compare as compare_cli
from harness.cli import devices as devices_cli
from harness.cli import farm as farm_cli
from harness.cli import import_
from harness.cli import models as models_cli
from harness.cli import report as report_cli
from harness.cli import results as results_cli
from harness.cli import run as run_cli
from harness.cli import tools as tools_cli

app = typer.Typer(
    name="harness",
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


app.command("run", help=run_cli.HELP)(run_cli.run)
app.command("compare", help=compare_cli.HELP)(compare_cli.compare)
app.add_typer(models_cli.app, name="models")
app.add_typer(results_cli.app, name="results")
app.add_typer(devices_cli.app, name="devices")
app.add_typer(farm_cli.app, name="farm")
app.add_typer(tools_cli.app, name="tools")
app.command("import")(import_.import_)
app.command("report", help=report_cli.HELP)(report_cli.report)


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
