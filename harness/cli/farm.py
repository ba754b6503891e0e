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
    tls: str | None = typer.Option(
        None, "--tls", metavar="DIR", help="The farm's certificates (`harness farm certs DIR`) for a tls:// scheduler "
        "(default: ~/.config/harness/tls)."
    ),
    insecure: bool = typer.Option(False, "--insecure", help="Allow a plain tcp:// scheduler on another host."),
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
    from harness.farm.security import check_address, security
    from harness.resolve import select_devices

    folder = check_address(scheduler, tls_dir=tls, insecure=insecure, what="--scheduler")
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
        render.say(f"worker {worker_name} at {address} (pid {os.getpid()}) advertises "
                   f"{', '.join(resource_name(d) for d in ok)} to {scheduler}; Ctrl-C to stop")

    serve_worker(scheduler, ok, name=worker_name, host=host, on_ready=ready,
                 security=None if folder is None else security("worker", folder))


@app.command("certs")
def certs(
    directory: str = typer.Argument(None, help="Where to write them (default: ~/.config/harness/tls)."),
    hosts: str = typer.Option("", "--hosts", help="Farm host names or IPs to name in the certificates (optional)."),
    days: int = typer.Option(825, "--days", help="How long the certificates are valid."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing CA (locks out old certificates)."),
) -> None:
    """Make the farm's CA and a certificate + key for the scheduler, the workers and the clients
    (mutual TLS: nobody without a certificate from this CA can join the farm or submit to it)."""
    from harness.cli import render
    from harness.farm.security import default_dir, make_certs

    folder = directory or str(default_dir())
    written = make_certs(folder, hosts=[h.strip() for h in hosts.split(",") if h.strip()], days=days,
                         overwrite=overwrite)
    render.info(f"wrote {', '.join(sorted(written))} to {folder} (keys 0600). Copy the folder to every farm host "
                "(ca.key may stay here); then `harness farm scheduler --tls DIR`, `harness farm worker --scheduler "
                "tls://HOST:8786 --tls DIR`, `harness run --cluster tls://HOST:8786 --tls DIR`.")


@app.command("scheduler")
def scheduler_(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (0.0.0.0: every interface)."),
    port: int = typer.Option(8786, "--port", help="Port to listen on (0: any free port)."),
    tls: str | None = typer.Option(None, "--tls", metavar="DIR", help="The farm's certificates: listen on tls://."),
    insecure: bool = typer.Option(False, "--insecure", help="Listen on plain tcp:// off loopback (trusted networks)."),
) -> None:
    """Run the farm's Dask scheduler: tls:// with --tls DIR; plain tcp:// only on loopback unless --insecure.
    Runs until Ctrl-C or SIGTERM."""
    import os

    from harness.cli import render
    from harness.farm.cluster import serve_scheduler
    from harness.farm.security import check_address, security

    scheme = "tls" if tls else "tcp"
    check_address(f"{scheme}://{host}:{port}", tls_dir=tls, insecure=insecure, what="--host")

    def ready(address: str) -> None:
        render.say(f"scheduler at {address} (pid {os.getpid()}); Ctrl-C to stop")

    serve_scheduler(f"{scheme}://{host}:{port}", security=None if tls is None else security("scheduler", tls),
                    on_ready=ready)
