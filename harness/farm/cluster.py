"""The farm on a Dask distributed cluster: each farm host runs a Dask worker that advertises the
devices attached to it as worker resources (``device:<name>=1``); the controller submits one task
per device with that resource, so each device's part of the plan runs on the host it hangs off,
one task at a time per device, and lands its runs in the shared store.

Why one task per device, not one per run: the device's plan stays sequential and interleaved in
one ``DeviceSession`` (the same code as in-process), one lease and one facts read cover the whole
stay, retries by failure class and reconnection work as in-process, and a rescheduled task
resumes from what landed (attempt keys), so nothing is run twice.

Model files travel with the tasks, not by path: the controller ships each variant's bytes once
(a task keyed by its sha256, recomputed if its worker dies) and the worker materialises them in a
content-addressed cache before running. Progress comes back as Dask structured events
(``log_event`` / ``subscribe_topic``).

``distributed`` is imported inside the functions, so ``harness --help`` stays instant.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.config import Device
from harness.errors import DeviceBusy, HarnessError, UserError
from harness.farm.scheduler import FarmResult, OnDevice, as_harness_error
from harness.farm.session import Execution, Job, RunEvent
from harness.paths import cache_dir
from harness.plan import ModelVariant, PlanItem

RESOURCE_PREFIX = "device:"


def resource_name(device: str) -> str:
    return f"{RESOURCE_PREFIX}{device}"


# the worker side: which devices this host can reach ------------------------------------------
def reachability(devices: Sequence[Device], *, explicit: Sequence[str] = (),
                 connect_timeout_s: float = 3.0) -> dict[str, str | None]:
    """``{device: None if reachable now, else why not}``.

    adb: listed in state ``device`` by its adb server; ssh: a TCP connection to host:port opens;
    local: only when named in ``explicit`` (every host has its own ``local``, so advertising it
    by default would let any worker take any other host's local runs).
    """
    from harness.errors import TransportError
    from harness.transport.adb import list_server_devices

    servers: dict[str | None, dict[str, str] | str] = {}
    out: dict[str, str | None] = {}
    for device in devices:
        if device.transport == "local":
            out[device.name] = None if device.name in explicit else \
                "local device: advertised only when named with --devices (every host has its own)"
        elif device.transport == "adb":
            if device.adb_server not in servers:
                try:
                    listing = list_server_devices(device.adb_server)
                    servers[device.adb_server] = {d["serial"]: d["state"] for d in listing}
                except TransportError as exc:
                    servers[device.adb_server] = str(exc)
            listed = servers[device.adb_server]
            if isinstance(listed, str):
                out[device.name] = listed
            elif device.serial not in listed:
                out[device.name] = f"serial {device.serial} is not listed by its adb server"
            elif listed[device.serial] != "device":
                out[device.name] = f"serial {device.serial} is {listed[device.serial]}, not ready (device)"
            else:
                out[device.name] = None
        elif device.transport == "ssh":
            port = device.port or 22
            try:
                socket.create_connection((device.host, port), timeout=connect_timeout_s).close()
                out[device.name] = None
            except OSError as exc:
                out[device.name] = f"cannot connect to {device.host}:{port}: {exc.strerror or exc}"
        else:
            out[device.name] = f"transport {device.transport!r} is unknown"
    return out


def serve_worker(scheduler: str, devices: Sequence[str], *, name: str | None = None, nthreads: int | None = None,
                 host: str | None = None, on_ready: Callable[[str], None] | None = None,
                 security: Any = None) -> None:
    """Run a Dask worker in this process advertising ``device:<name>=1`` for each of ``devices``,
    until SIGINT / SIGTERM or the scheduler closes it. ``on_ready(address)`` once registered;
    ``security``: Dask's ``Security`` for the worker role (``harness.farm.security``)."""
    import asyncio
    import signal

    from distributed import Worker

    resources = {resource_name(d): 1.0 for d in devices}

    async def main() -> None:
        worker = Worker(scheduler, name=name, nthreads=nthreads or max(1, len(devices)), resources=resources,
                        host=host, security=security)
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await asyncio.wait_for(worker.start(), timeout=60)
        except (OSError, TimeoutError) as exc:
            raise UserError(f"cannot reach the Dask scheduler at {scheduler}: {exc}; is `dask scheduler` running "
                            "there?") from exc
        if on_ready:
            on_ready(worker.address)
        finished = asyncio.ensure_future(worker.finished())
        stopped = asyncio.ensure_future(stop.wait())
        await asyncio.wait({finished, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if not finished.done():
            await worker.close(timeout=10)
        stopped.cancel()

    asyncio.run(main())


def serve_scheduler(address: str, *, security: Any = None, on_ready: Callable[[str], None] | None = None) -> None:
    """Run a Dask scheduler in this process at ``address`` (tcp:// or tls:// HOST:PORT) until SIGINT /
    SIGTERM. ``on_ready(address)`` once it listens."""
    import asyncio
    import signal

    from distributed import Scheduler

    async def main() -> None:
        scheduler = Scheduler(host=address.rsplit(":", 1)[0], port=int(address.rsplit(":", 1)[1]),
                              security=security, dashboard=False)
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await scheduler.start()
        except OSError as exc:
            raise UserError(f"cannot listen at {address}: {exc}") from exc
        if on_ready:
            on_ready(scheduler.address)
        await stop.wait()
        await scheduler.close()

    asyncio.run(main())


# model files: shipped by content, cached by content ------------------------------------------
def model_cache_dir() -> Path:
    return cache_dir("cluster-models")


def materialise(sha256: str, data: bytes, cache: Path | None = None) -> Path:
    """The model file for ``sha256`` in the worker's content-addressed cache (written atomically,
    checked against its hash)."""
    cache = cache or model_cache_dir()
    path = cache / f"{sha256}.tflite"
    if path.is_file() and path.stat().st_size == len(data):
        return path
    if hashlib.sha256(data).hexdigest() != sha256:
        raise HarnessError(f"model bytes shipped for {sha256[:12]} do not match their sha256")
    cache.mkdir(parents=True, exist_ok=True)
    tmp = cache / f".{sha256}.{os.getpid()}.{threading.get_ident()}.tmp"
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


def _model_bytes(data: bytes) -> bytes:
    return data


# the task --------------------------------------------------------------------------------------
def executor_name() -> str:
    """Which process runs a run: ``host:pid`` (the runs frame's ``executor`` column)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def device_task(device: Device, job: Job, models: Mapping[str, tuple[str, int, bytes]],
                topic: str) -> Execution:
    """On the worker: materialise the models, run this device's part of ``job`` in a
    ``DeviceSession``, land into the job's store. Errors are raised as they are (they pickle
    with their type and message), with the worker named."""
    from distributed import get_worker

    from harness.farm.session import DeviceSession

    worker = get_worker()
    where = f"{worker.name} ({executor_name()})"

    def send(msg: dict[str, Any]) -> None:
        try:
            worker.log_event(topic, msg)
        except Exception:  # progress is best-effort; the runs land regardless
            pass

    def on_event(event: RunEvent) -> None:
        send({"kind": event.kind, "item": dataclasses.asdict(event.item), "run_id": event.run_id,
              "message": event.message})

    send({"kind": "device", "device": device.name, "state": "running", "detail": f"on {where}"})
    variants = {v: ModelVariant(v, materialise(sha, data), sha, size) for v, (sha, size, data) in models.items()}
    try:
        return DeviceSession(device, dataclasses.replace(job, variants=variants), on_event=on_event).run()
    except HarnessError as exc:
        exc.args = (f"{exc} (on {where})",)
        raise


# the controller side ---------------------------------------------------------------------------
def advertised_devices(client: Any, *, addresses: bool = False) -> dict[str, list[str]]:
    """``{device: [worker names]}`` (or worker addresses) for every device some worker of the
    cluster advertises."""
    info = client.scheduler_info(n_workers=-1)
    out: dict[str, list[str]] = {}
    for address, w in info.get("workers", {}).items():
        for res, amount in (w.get("resources") or {}).items():
            if res.startswith(RESOURCE_PREFIX) and amount:
                out.setdefault(res[len(RESOURCE_PREFIX):], []).append(
                    address if addresses else str(w.get("name") or address))
    return out


def connect(address: str, timeout_s: float = 15.0, security: Any = None) -> Any:
    from distributed import Client

    try:
        return Client(address, timeout=timeout_s, set_as_default=False, security=security)
    except (OSError, TimeoutError) as exc:
        raise UserError(f"cannot reach the Dask scheduler at {address}: {exc}. Start one with `dask scheduler` "
                        "and a `harness farm worker --scheduler ADDRESS` on each farm host.") from exc


def check_cluster(address: str, devices: Sequence[str], security: Any = None) -> dict[str, list[str]]:
    """Fail fast (UserError naming the devices the cluster has) unless a worker of the cluster at
    ``address`` advertises each of ``devices``; ``{device: [worker names]}``."""
    client = connect(address, security=security)
    try:
        return _require_devices(client, address, devices)
    finally:
        client.close()


def _require_devices(client: Any, address: str, devices: Sequence[str]) -> dict[str, list[str]]:
    have = advertised_devices(client)
    missing = [d for d in devices if d not in have]
    if missing:
        known = ", ".join(f"{d} (on {', '.join(ws)})" for d, ws in sorted(have.items())) or "none"
        raise UserError(f"no worker of the cluster at {address} advertises {', '.join(missing)}. Devices the "
                        f"cluster has: {known}. Start `harness farm worker --scheduler {address}` on the host "
                        "each missing device hangs off.")
    return have


def is_url(root: str) -> bool:
    return "://" in root


def run_on_cluster(address: str, devices: Sequence[Device], job: Job, *,
                   on_event: Callable[[RunEvent], None] | None = None, on_device: OnDevice | None = None,
                   lost_grace_s: float = 30.0, security: Any = None) -> FarmResult:
    """``run_farm`` on a Dask cluster: one task per device, pinned by its ``device:<name>``
    resource. Fails fast (UserError) when no worker advertises one of ``devices``; a device whose
    workers all leave while its task waits is given up after ``lost_grace_s``."""
    say = on_device or (lambda name, state, detail: None)
    emit = on_event or (lambda e: None)
    root = job.store_root
    if not is_url(root):
        root = os.path.abspath(root)  # the workers resolve it, not this folder
    client = connect(address, security=security)
    try:
        have = _require_devices(client, address, [d.name for d in devices])
        topic = f"harness-{job.campaign}-{uuid.uuid4().hex[:8]}"

        def handler(event: tuple[float, dict[str, Any]]) -> None:
            msg = event[1]
            if msg.get("kind") == "device":
                say(msg["device"], msg["state"], msg.get("detail", ""))
            else:
                emit(RunEvent(msg["kind"], PlanItem(**msg["item"]), msg["run_id"], msg.get("message", "")))

        client.subscribe_topic(topic, handler)
        # each file once, as a task that returns its bytes (keyed by sha256), not client.scatter: scattered
        # data dies with the worker that holds it, and so would every task waiting on it; a task's result
        # is recomputed (from the bytes the scheduler keeps) on whichever worker needs it next
        models = {}
        for name, v in job.variants.items():
            future = client.submit(_model_bytes, Path(v.path).read_bytes(), key=f"harness-model-{v.sha256}",
                                   pure=False)
            models[name] = (v.sha256, v.bytes, future)
        shipped = dataclasses.replace(job, store_root=root, variants={})  # the worker makes its own paths
        futures = {}
        for device in devices:
            mine = dataclasses.replace(shipped, plan=tuple(job.items_for(device.name)))
            say(device.name, "queued", f"on {', '.join(have[device.name])}")
            futures[device.name] = client.submit(
                device_task, device, mine, models, topic, resources={resource_name(device.name): 1}, pure=False,
                key=f"harness-{device.name}-{uuid.uuid4().hex[:8]}",
            )
        return _gather(client, futures, say, lost_grace_s)
    finally:
        client.close()


def _gather(client: Any, futures: dict[str, Any], say: Callable[[str, str, str], None],
            lost_grace_s: float) -> FarmResult:
    result = FarmResult()
    lost_since: dict[str, float] = {}
    pending = dict(futures)
    last_check = 0.0
    while pending:
        for name, future in list(pending.items()):
            if not future.done():
                continue
            del pending[name]
            try:
                execution = future.result()
            except Exception as exc:  # the device's error as it was raised; KilledWorker, a bug, ...
                error = as_harness_error(exc)
                result.errors[name] = error
                say(name, "busy" if isinstance(error, DeviceBusy) else "error", str(error))
                continue
            result.executions[name] = execution
            say(name, "done", f"{len(execution.landed)} landed, {len(execution.failed)} failed")
        now = time.monotonic()
        if pending and now - last_check > 2.0:
            last_check = now
            have = advertised_devices(client)
            for name in list(pending):
                if name in have:
                    lost_since.pop(name, None)
                    continue
                since = lost_since.setdefault(name, now)
                if now - since > lost_grace_s:
                    pending.pop(name).cancel()
                    why = f"no worker advertises {resource_name(name)} any more (its worker left or died)"
                    result.errors[name] = HarnessError(why)
                    say(name, "error", why)
        time.sleep(0.1)
    return result

