"""`harness devices`: the devices the inventory names, and their facts."""

from __future__ import annotations

import typer

app = typer.Typer(help="List devices and show their facts.", invoke_without_command=True)


@app.callback()
def devices(
    ctx: typer.Context,
    inventory: str | None = typer.Option(None, "--inventory", help="The inventory file (devices.toml)."),
    adb_server: str | None = typer.Option(
        None, "--adb-server", help="Also list what this adb server (HOST:PORT) sees; '' for the default one."
    ),
) -> None:
    """List configured devices with their state, and devices the adb servers see (with what to do)."""
    if ctx.invoked_subcommand is not None:
        return
    import pandas as pd

    from harness.cli import render
    from harness.config import load_inventory
    from harness.errors import TransportError
    from harness.transport.adb import STATE_ADVICE, list_server_devices

    inv = load_inventory(inventory)
    servers: dict[str, list[dict[str, str]] | str] = {}
    for d in inv.devices.values():
        if d.transport == "adb":
            key = d.adb_server or ""
            if key not in servers:
                try:
                    servers[key] = list_server_devices(d.adb_server)
                except TransportError as exc:
                    servers[key] = str(exc)
    if adb_server is not None and adb_server not in servers:
        try:
            servers[adb_server] = list_server_devices(adb_server or None)
        except TransportError as exc:
            servers[adb_server] = str(exc)
    rows = []
    seen: set[tuple[str, str]] = set()
    for d in inv.devices.values():
        state, advice = "", ""
        if d.transport == "adb":
            listing = servers.get(d.adb_server or "")
            if isinstance(listing, str):
                state, advice = "unreachable", listing
            else:
                match = [x for x in listing or [] if x["serial"] == d.serial]
                state = match[0]["state"] if match else "missing"
                seen.add((d.adb_server or "", str(d.serial)))
                advice = "" if state == "device" else STATE_ADVICE.get(state, "check `adb devices -l`")
        elif d.transport == "local":
            state = "device"
        rows.append({
            "name": d.name, "transport": d.transport, "runner": d.default_runner,
            "address": d.serial or (f"{d.user + '@' if d.user else ''}{d.host}" if d.host else "this host"),
            "state": state, "what to do": advice, "tags": ",".join(d.tags),
        })
    for server, listing in servers.items():
        if isinstance(listing, str):
            continue
        for x in listing:
            if (server, x["serial"]) in seen:
                continue
            rows.append({
                "name": "(not in inventory)", "transport": "adb", "runner": "benchmark_model",
                "address": f"{x['serial']} @ {x['server']}", "state": x["state"],
                "what to do": "add it to devices.toml to use it" if x["state"] == "device"
                else STATE_ADVICE.get(x["state"], "check `adb devices -l`"),
                "tags": x.get("model", ""),
            })
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


@app.command("provision")
def provision(
    name: str = typer.Argument(..., help="Device name (an SSH board)."),
    offline: bool = typer.Option(False, "--offline", help="Do not try the board's package index; push wheels."),
    online: bool = typer.Option(False, "--online", help="Install only from the board's package index."),
    inventory: str | None = typer.Option(None, "--inventory", help="The inventory file (devices.toml)."),
) -> None:
    """Create a virtual environment on a board and install the litert runner's runtime in it."""
    from harness.cli import render
    from harness.config import load_inventory
    from harness.errors import UserError
    from harness.execute import open_transport
    from harness.runners.runtime import provision as do_provision

    if offline and online:
        raise UserError("--offline and --online exclude each other.")
    device = load_inventory(inventory).get(name)
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
    from harness.execute import open_transport
    from harness.tune import tune

    device = load_inventory(inventory).get(name)
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
    name: str = typer.Argument(..., help="Device name."),
    inventory: str | None = typer.Option(None, "--inventory", help="The inventory file (devices.toml)."),
) -> None:
    """Lock CPU frequencies for benchmarking (governor performance, min = max), each step read back.
    Needs root (rooted phones: su; boards: sudo without a password). Undo with `harness devices reset`."""
    _tune(name, "lock", inventory)


@app.command("reset")
def reset(
    name: str = typer.Argument(..., help="Device name."),
    inventory: str | None = typer.Option(None, "--inventory", help="The inventory file (devices.toml)."),
) -> None:
    """Restore the CPU frequency settings `harness devices tune` saved."""
    _tune(name, "reset", inventory)
