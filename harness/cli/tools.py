"""`harness tools ...`: the benchmark_model binaries the host keeps per ABI."""

from __future__ import annotations

import typer

app = typer.Typer(help="Manage benchmark_model binaries per ABI (add, list, fetch).", no_args_is_help=True)


@app.command("add")
def add(
    tool: str = typer.Argument(..., help="The tool: benchmark_model."),
    path: str = typer.Argument(..., help="Path of the binary."),
    abi: str = typer.Option(..., "--abi", help="arm64-v8a, armeabi-v7a, x86_64, x86, linux-aarch64, "
                            "linux-armhf or linux-x86_64."),
    version: str = typer.Option("unknown", "--version", help="Its version, e.g. 2.21 or nightly-20261101."),
    family: str | None = typer.Option(None, "--family", help="classic or compiled_model (else detected on "
                                      "the device from --help)."),
) -> None:
    """Add a benchmark_model binary to the host's cache (content-addressed by sha256)."""
    from pathlib import Path

    from harness.errors import UserError
    from harness.runners.provision import ToolCache

    if tool != "benchmark_model":
        raise UserError(f"Unknown tool {tool!r}; harness manages benchmark_model.")
    entry = ToolCache().add(abi, Path(path), version=version, family=family)
    typer.echo(f"added benchmark_model for {entry.abi}: sha256 {entry.sha256[:16]}..., {entry.bytes} bytes")


@app.command("list")
def list_() -> None:
    """List the binaries in the host's cache."""
    import pandas as pd

    from harness.cli import render
    from harness.runners.provision import ToolCache

    cache = ToolCache()
    entries = cache.entries()
    if not entries:
        render.info(f"No benchmark_model binaries in {cache.root}. Add one with `harness tools add`.")
        return
    render.table(pd.DataFrame([{"abi": e.abi, "version": e.version, "family": e.family or "?",
                                "sha256": e.sha256[:16], "bytes": e.bytes, "source": e.source}
                               for e in entries]), title=str(cache.root))


@app.command("fetch")
def fetch(
    abi: str = typer.Option(..., "--abi", help="The ABI to download for."),
    family: str = typer.Option("classic", "--family", help="classic (TFLite) or compiled_model (LiteRT)."),
) -> None:
    """Download the official nightly benchmark_model for an ABI (needs internet access)."""
    from harness.runners.provision import ToolCache

    entry = ToolCache().fetch(abi, family)
    typer.echo(f"fetched benchmark_model for {entry.abi} from {entry.source}")
