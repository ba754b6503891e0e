"""`harness devices`: the devices the inventory names, and their facts."""

from __future__ import annotations

import typer

app = typer.Typer(help="List devices and show their facts.", invoke_without_command=True)


@app.callback()
def devices(
    ctx: typer.Context,
    inventory: str | None = typer.Option(None, "--inventory", help="The inventory file (devices.toml)."),
) -> None:
    """List the configured devices (the built-in `local` is always there)."""
    if ctx.invoked_subcommand is not None:
        return
    import pandas as pd

    from harness.cli import render
    from harness.config import load_inventory

    inv = load_inventory(inventory)
    rows = [
        {
            "name": d.name,
            "transport": d.transport,
            "runner": d.default_runner,
            "address": d.serial or (f"{d.user + '@' if d.user else ''}{d.host}" if d.host else "this host"),
            "tags": ",".join(d.tags),
        }
        for d in inv.devices.values()
    ]
    source = inv.source or "built-in (no devices.toml found)"
    render.table(pd.DataFrame(rows), title=f"devices ({source})")


@app.command("facts")
def facts(
    name: str = typer.Argument("local", help="Device name."),
    inventory: str | None = typer.Option(None, "--inventory", help="The inventory file (devices.toml)."),
) -> None:
    """Read and print a device's facts (model, CPU, cores, OS, clusters, thermal)."""
    import json

    from harness.config import load_inventory
    from harness.execute import open_transport
    from harness.facts import collect_facts

    device = load_inventory(inventory).get(name)
    with open_transport(device) as transport:
        typer.echo(json.dumps(collect_facts(transport), indent=1, sort_keys=True, default=str))
