"""`harness devices`: the devices you can name (inventory and attached), their facts, and naming them."""

from __future__ import annotations

import typer

app = typer.Typer(help="List devices and show their facts.", invoke_without_command=True)


@app.callback()
def devices(
    ctx: typer.Context,
    inventory: str | None = typer.Option(None, "--inventory", help="The inventory file (devices.toml)."),
    adb_server: str | None = typer.Option(
        None, "--adb-server", help="Also list what this adb server (HOST:PORT) sees."
    ),
) -> None:
    """List the devices you can name: the inventory's, with their state, and every device the adb
    servers see (the default one, as `adb` finds it, and the inventory's), each with a suggested name."""
    if ctx.invoked_subcommand is not None:
        return
    import pandas as pd

    from harness.cli import render
    from harness.config import load_inventory
    from harness.resolve import list_devices

    inv = load_inventory(inventory)
    listing = list_devices(inv, extra_servers=[adb_server] if adb_server else ())
    rows = [{"name": r.name, "transport": r.transport, "runner": r.runner, "address": r.address, "state": r.state,
             "model": r.model, "what to do": r.advice, "tags": ",".join(r.tags)} for r in listing.rows]
    frame = pd.DataFrame(rows)
    if not frame["what to do"].astype(bool).any():
        frame = frame.drop(columns="what to do")
    source = inv.source or "no devices.toml: built-in local and what adb sees"
    render.table(frame, title=f"devices ({source})")
    attached = [r for r in listing.rows if not r.in_inventory and r.state == "device"]
    if attached:
        first = attached[0]
        render.info(f"Attached devices work by the name shown (or serial, or model: --device {first.name}); "
                    f"`harness devices add {first.name} --serial {first.address.split(' @ ')[0]}` keeps a name.")
    for server, why in listing.problems.items():
        render.info(f"{server}: {why}")


@app.command("add")
def add(
    name: str = typer.Argument(..., help="The name to give it, e.g. pixel-7."),
    serial: str | None = typer.Option(None, "--serial", help="A phone: its adb serial (see `harness devices`)."),
    host: str | None = typer.Option(None, "--host", help="A board: user@host[:port] or a Host alias of ~/.ssh/config."),
    tags: str = typer.Option("", "--tags", help="Comma-separated tags, for --device tag:TAG."),
    runner: str | None = typer.Option(None, "--runner", help="litert or benchmark_model (default: by transport)."),
    adb_server: str | None = typer.Option(
        None, "--adb-server", help="A phone on another host's adb server (HOST:PORT)."
    ),
    key: str | None = typer.Option(None, "--key", help="A board: the SSH private key (else the agent / default keys)."),
    replace: bool = typer.Option(False, "--replace", help="Replace an entry of the same name."),
    inventory: str | None = typer.Option(
        None, "--inventory",
        help="The file to write (default: the inventory in force, else ~/.config/harness/devices.toml).",
    ),
) -> None:
    """Name a phone or a board in devices.toml (written atomically; its comments and order kept)."""
    from harness.cli import render
    from harness.config import add_device

    path = add_device(name, serial=serial, host=host, adb_server=adb_server, runner=runner, key=key,
                      tags=tags.split(","), path=inventory, replace=replace)
    render.info(f"added [devices.{name}] to {path}; use it as --device {name}")


@app.command("facts")
def facts(
    name: str = typer.Argument("local", help="Device: inventory name, adb serial or model, or ssh://user@host."),
    inventory: str | None = typer.Option(None, "--inventory", help="The inventory file (devices.toml)."),
) -> None:
    """Read and print a device's facts (model, CPU, cores, OS, clusters, thermal)."""
    import json

    from harness.config import load_inventory
    from harness.facts import collect_facts
    from harness.resolve import resolve_device
    from harness.transport import open_transport

    device = resolve_device(load_inventory(inventory), name)
    with open_transport(device) as transport:
        typer.echo(json.dumps(collect_facts(transport), indent=1, sort_keys=True, default=str))


@app.command("provision")
def provision(
    name: str = typer.Argument(..., help="An SSH board: inventory name or ssh://user@host[:port]."),
    offline: bool = typer.Option(False, "--offline", help="Do not try the board's package index; push wheels."),
    online: bool = typer.Option(False, "--online", help="Install only from the board's package index."),
    inventory: str | None = typer.Option(None, "--inventory", help="The inventory file (devices.toml)."),
) -> None:
    """Create a virtual environment on a board and install the litert runner's runtime in it."""
    from harness.cli import render
    from harness.config import load_inventory
    from harness.errors import UserError
    from harness.resolve import resolve_device
    from harness.runners.runtime import provision as do_provision
    from harness.transport import open_transport

    if offline and online:
        raise UserError("--offline and --online exclude each other.")
    device = resolve_device(load_inventory(inventory), name)
    if device.transport != "ssh":
        raise UserError(f"{name} is a {device.transport} device; provision is for SSH boards (phones use "
                        "benchmark_model, the local device uses this host's environment).")
    with open_transport(device) as transport:
        record = do_provision(transport, mode="offline" if offline else "online" if online else "auto",
                              step=lambda s: render.info(f"- {s}"))
    render.info(f"{name} is ready: {record['package']} {record['version']} at {record['python']}")


def _tune(name: str, op: str, inventory: str | None) -> None:
    import pandas as pd

    from harness.cli import render
    from harness.config import load_inventory
    from harness.resolve import resolve_device
    from harness.transport import open_transport
    from harness.tune import tune

    device = resolve_device(load_inventory(inventory), name)
    with open_transport(device) as transport:
        steps, how = tune(transport, op, device.transport)
    render.table(pd.DataFrame([{"cpu": s.cpu, "result": "ok" if s.ok else "unavailable", "detail": s.detail}
                               for s in steps]), title=f"{name}: {op} ({how})")
    if not any(s.ok for s in steps):
        render.warn(f"{name}: CPU frequencies could not be {'locked' if op == 'lock' else 'restored'} "
                    "(needs root and cpufreq); runs will record clocks_locked = false or null.")
        raise typer.Exit(1)


@app.command("tune")
def tune_(
    name: str = typer.Argument(..., help="Device: inventory name, adb serial or model, or ssh://user@host."),
    inventory: str | None = typer.Option(None, "--inventory", help="The inventory file (devices.toml)."),
) -> None:
    """Lock CPU frequencies for benchmarking (governor performance, min = max), each step read back.
    Needs root (rooted phones: su; boards: sudo without a password). Undo with `harness devices reset`."""
    _tune(name, "lock", inventory)


@app.command("reset")
def reset(
    name: str = typer.Argument(..., help="Device: inventory name, adb serial or model, or ssh://user@host."),
    inventory: str | None = typer.Option(None, "--inventory", help="The inventory file (devices.toml)."),
) -> None:
    """Restore the CPU frequency settings `harness devices tune` saved."""
    _tune(name, "reset", inventory)
