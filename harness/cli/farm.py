"""`harness farm`: the device farm across hosts (a Dask distributed cluster).

`harness farm worker --scheduler ADDRESS` runs on each farm host: a Dask worker that advertises
the devices this host can reach as resources (`device:<name>=1`), so `harness run --cluster
ADDRESS` sends each device's runs to the host it hangs off.
"""

from __future__ import annotations

import typer

app = typer.Typer(help="The device farm across hosts: Dask workers that own devices.", no_args_is_help=True)


@app.command("worker")
def worker(
    scheduler: str = typer.Option(..., "--scheduler", help="The Dask scheduler, e.g. tcp://10.0.0.5:8786."),
    inventory: str | None = typer.Option(None, "--inventory", help="The inventory file (devices.toml)."),
    devices: str | None = typer.Option(
        None, "--devices", "-d",
        help="Devices to advertise: NAME,NAME or tag:TAG (default: every inventory device but local, which is "
        "advertised only when named).",
    ),
    name: str | None = typer.Option(None, "--name", help="The worker's name (default: HOST-PID)."),
    host: str | None = typer.Option(None, "--host", help="Address to listen on (default: Dask's choice)."),
) -> None:
    """Start a Dask worker advertising the devices of the inventory this host can reach now.

    A device that cannot be reached (adb: not listed as `device` by its server; ssh: no TCP
    connection) is reported and not advertised. Runs until Ctrl-C or SIGTERM.
    """
    import os
    import socket

    import pandas as pd

    from harness.cli import render
    from harness.config import LOCAL, load_inventory
    from harness.errors import UserError
    from harness.farm.cluster import reachability, resource_name, serve_worker
    from harness.resolve import select_devices

    inv = load_inventory(inventory)
    if devices:
        chosen = select_devices(inv, devices)
        unnamed = [d.name for d in chosen if d.name not in inv.devices]
        if unnamed:  # the controller names a cluster's devices by their inventory names
            raise UserError(f"a farm worker advertises inventory devices only; {', '.join(unnamed)} has no entry: add "
                            "it with `harness devices add NAME --serial S | --host user@host` on this host and on "
                            "the controller.")
        explicit = [p.strip() for p in devices.split(",") if p.strip() and not p.strip().startswith("tag:")]
    else:
        chosen = [d for d in inv.devices.values() if d.name != LOCAL]
        explicit = []
    if not chosen:
        raise UserError(f"the inventory {inv.source or '(none: only local)'} names no device but local; name the "
                        "devices this host owns in devices.toml, or pass --devices local.")
    reach = reachability(chosen, explicit=explicit)
    render.table(pd.DataFrame([{"device": d.name, "transport": d.transport,
                                "advertised": "yes" if reach[d.name] is None else "no",
                                "why": reach[d.name] or ""} for d in chosen]), title="devices of this worker")
    ok = [d.name for d in chosen if reach[d.name] is None]
    if not ok:
        raise UserError("none of this worker's devices can be reached now, so it would advertise nothing; fix "
                        "them (see `harness devices`) and start it again.")
    worker_name = name or f"{socket.gethostname()}-{os.getpid()}"

    def ready(address: str) -> None:
        render.console().print(
            f"worker {worker_name} at {address} (pid {os.getpid()}) advertises "
            f"{', '.join(resource_name(d) for d in ok)} to {scheduler}; Ctrl-C to stop", markup=False, soft_wrap=True)

    serve_worker(scheduler, ok, name=worker_name, host=host, on_ready=ready)
