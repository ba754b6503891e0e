"""Execute a plan on one device: push, run, pull, parse, land — one item at a time.

Every item lands as a run, ok or failed; a failure is recorded with its error class and
the rest of the plan continues. Nothing here prints: progress goes to ``on_event``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness import __version__, schema
from harness.config import Device, RunOptions
from harness.errors import HarnessError, StoreError, TransportError
from harness.facts import throttling
from harness.plan import ModelVariant, PlanItem
from harness.runners.base import RunnerOutput
from harness.store import Store
from harness.transport.base import Transport


@dataclass(frozen=True)
class RunEvent:
    kind: str  # start | landed | failed | retry | waiting | skipped
    item: PlanItem
    run_id: str
    message: str = ""


@dataclass
class Execution:
    campaign: str
    landed: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    bytes_pushed: int = 0


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def open_transport(device: Device) -> Transport:
    """The transport for a device (not yet opened)."""
    if device.transport == "local":
        from harness.transport.local import LocalTransport

        return LocalTransport(device.name, device.workdir)
    if device.transport == "adb":
        from harness.transport.adb import AdbTransport

        assert device.serial is not None  # the inventory insists
        return AdbTransport(device.name, device.serial, device.adb_server, device.workdir)
    if device.transport == "ssh":
        from harness.transport.ssh import SshTransport

        assert device.host is not None  # the inventory insists
        return SshTransport(device.name, device.host, port=device.port, user=device.user, key=device.key,
                            known_hosts=device.known_hosts, host_key_policy=device.host_key_policy,
                            workdir=device.workdir)
    raise HarnessError(f"device {device.name!r} uses transport {device.transport!r}, which harness does not know")


def make_runner(name: str, device: Device, transport: Transport, facts: Mapping[str, Any],
                flags: Any = None, big_cores: bool = False) -> Any:
    """The runner object for a device: litert, or benchmark_model provisioned for its ABI."""
    if name == "litert":
        from harness.runners.litert import LitertRunner

        return LitertRunner(device, transport)
    if name == "benchmark_model":
        from harness.errors import UserError
        from harness.runners.benchmark_model import BenchmarkFlags, BenchmarkModelRunner, big_core_mask
        from harness.runners.provision import ToolCache, device_abi

        flags = flags or BenchmarkFlags()
        if big_cores:
            mask = big_core_mask(dict(facts))
            if mask is None:
                raise UserError(f"{device.name} reports no CPU clusters (cpufreq), so --big-cores cannot pick "
                                "its fastest cores; run without it")
            flags = dataclasses.replace(flags, cpu_mask=mask)
        if device.benchmark_model:
            return BenchmarkModelRunner(device, transport, Path(device.benchmark_model).expanduser(), flags)
        abi = device_abi(dict(facts), device.transport)
        if abi is None:
            raise UserError(f"cannot tell the ABI of {device.name} from its facts; set benchmark_model = "
                            "\"PATH\" in its inventory entry")
        entry, path = ToolCache().find(abi)
        return BenchmarkModelRunner(device, transport, path, flags, version=entry.version)
    raise HarnessError(f"unknown runner {name!r}")


def options_for(item: PlanItem, base: RunOptions) -> RunOptions:
    return dataclasses.replace(base, threads=item.threads, mode=item.mode, kernels=item.kernels)


@dataclass(frozen=True)
class RetryPolicy:
    """How failures are retried (failure classes as trusted device farms use them)."""

    max_attempts: int = 3  # per plan item, all classes together
    backoff_s: float = 2.0  # first wait before reconnecting to a device that failed; doubles
    max_backoff_s: float = 30.0
    reconnect_for_s: float = 120.0  # how long a vanished device may take to come back
    cooldown_s: float = 30.0  # wait after an inconclusive (throttled) run before retrying


@dataclass(frozen=True)
class Control:
    """Measurement control between runs on one device."""

    cooldown_s: float | None = None  # fixed wait before each run
    cooldown_auto: bool = False  # wait until the device is back near its idle temperature
    auto_tolerance_c: float = 2.0
    auto_max_s: float = 300.0
    auto_poll_s: float = 2.0
    exclude_throttled: bool = True  # throttled runs land inconclusive and are retried


TRANSPORT_ERRORS = {"TransportError", "DeadlineExceeded"}


def failure_class(error_class: str | None, status: str) -> str | None:
    """invalid (model / options: retrying cannot help), transport (the device or the link failed:
    retried), inconclusive (measured under bad conditions, e.g. throttled: retried after a
    cool-down), or None for a good run."""
    if status == "ok":
        return None
    if status == "inconclusive":
        return "inconclusive"
    return "transport" if error_class in TRANSPORT_ERRORS else "invalid"


def attempt_key(item: PlanItem, attempt: int) -> str:
    """Run key of one attempt: the plan key for the first, ``key~N`` for retries."""
    return item.key if attempt == 1 else f"{item.key}~{attempt}"


@dataclass
class ItemState:
    attempts: int = 0  # landed attempts
    done: bool = False
    ok: bool = False
    last_error: str = ""


def item_states(store: Store, campaign: str, plan: Sequence[PlanItem], policy: RetryPolicy) -> dict[str, ItemState]:
    """What the store says about each plan item: attempts made, and whether it is finished."""
    from harness.store import read_run

    states = {item.key: ItemState() for item in plan}
    runs_dir = store.campaign_dir(campaign) / "runs"
    if not runs_dir.is_dir():
        return states
    for key in store.landed_keys(campaign):
        base, _, n = key.partition("~")
        state = states.get(base)
        if state is None:
            continue
        attempt = int(n) if n.isdigit() else 1
        run = read_run(store.run_dir(campaign, key) / "run.json")["run"]
        state.attempts = max(state.attempts, attempt)
        if run["status"] == "ok":
            state.ok = state.done = True
        elif failure_class(run.get("error_class"), run["status"]) == "invalid":
            state.done = True
            state.last_error = f"{run.get('error_class')}: {run.get('error_message')}"
        else:
            state.last_error = f"{run.get('error_class')}: {run.get('error_message')}"
    for state in states.values():
        if not state.done and state.attempts >= policy.max_attempts:
            state.done = True
    return states


class _DeviceTrouble(Exception):
    """The device or its link failed during a run: reconnect before going on."""


def execute_plan(
    plan: Sequence[PlanItem],
    *,
    campaign: str,
    store: Store,
    device: Device,
    variants: Mapping[str, ModelVariant],
    options: RunOptions,
    runner: str | None = None,
    runner_flags: Any = None,
    big_cores: bool = False,
    transport: Transport | None = None,
    policy: RetryPolicy | None = None,
    lease: Callable[[Transport], Any] | None = None,
    control: Control | None = None,
    on_event: Callable[[RunEvent], None] | None = None,
) -> Execution:
    """Run this device's items in plan order, retrying by failure class; land every attempt.

    A transport failure (device gone, link dropped, deadline) lands that run as failed, then the
    device is reconnected (with backoff, for up to ``policy.reconnect_for_s``) and the item is
    retried on it; a device that does not come back fails its remaining items with the reason.
    ``lease(transport)`` returns a context manager held while the device is used.
    """
    policy = policy or RetryPolicy()
    control = control or Control()
    emit = on_event or (lambda e: None)
    execution = Execution(campaign=campaign)
    mine = [item for item in plan if item.device == device.name]
    states = item_states(store, campaign, mine, policy)
    todo = []
    for item in mine:
        state = states[item.key]
        if state.done:
            run_id = f"{campaign}/{attempt_key(item, max(state.attempts, 1))}"
            execution.skipped.append(run_id)
            emit(RunEvent("skipped", item, run_id, "landed already" if state.ok else state.last_error))
        else:
            todo.append(item)
    if not todo:
        return execution

    from harness.facts import collect_facts, read_thermal

    trouble_since: float | None = None
    backoff = policy.backoff_s
    held: Any = None  # the device's lease, kept across reconnects
    host_runner: Any = None  # accuracy runs for runners that cannot return outputs
    try:
        while todo:
            link = transport or open_transport(device)
            try:
                with link:
                    if lease is not None:
                        held = _hold(lease, held, link)
                    facts = collect_facts(link)
                    worker = make_runner(runner or device.default_runner, device, link, facts, runner_flags,
                                         big_cores)
                    worker.prepare()
                    trouble_since, backoff = None, policy.backoff_s
                    idle_c = read_thermal(link)["max_temp_c"] if control.cooldown_auto else None
                    first = True
                    while todo:
                        item = todo[0]
                        waited = 0.0 if first else _cool_down(link, control, idle_c, item, emit, read_thermal)
                        first = False
                        state = states[item.key]
                        state.attempts += 1
                        key = attempt_key(item, state.attempts)
                        run_id = f"{campaign}/{key}"
                        emit(RunEvent("start", item, run_id))
                        on_host = item.mode == "accuracy" and worker.name != "litert"
                        if on_host and host_runner is None:
                            host_runner = _host_litert_runner()
                        record, raw = _run_one(item, run_id, campaign, device, facts, variants, options,
                                               host_runner if on_host else worker, link, read_thermal,
                                               control.exclude_throttled)
                        record["run"]["cooldown_s"] = waited
                        if on_host:
                            record["run"]["notes"] = ("accuracy computed on this host with ai-edge-litert: the "
                                                      f"{worker.name} runner cannot return the model's outputs")
                        if held is not None and not held.confirm() and record["run"]["status"] == "ok":
                            record["run"].update(status="inconclusive", error_class="LeaseLost",
                                                 error_message="the device's lease was lost during the run: "
                                                 f"another controller ({held.lost_to}) may have used the device")
                        record["run"]["plan_key"] = item.key
                        record["run"]["attempt"] = state.attempts
                        cls = failure_class(record["run"].get("error_class"), record["run"]["status"])
                        record["run"]["failure_class"] = cls
                        try:
                            store.land_run(campaign, key, record, raw)
                        except StoreError as exc:
                            execution.failed.append((run_id, str(exc)))
                            emit(RunEvent("failed", item, run_id, str(exc)))
                            todo.pop(0)
                            continue
                        execution.bytes_pushed = worker.bytes_pushed
                        if cls is None:
                            execution.landed.append(run_id)
                            emit(RunEvent("landed", item, run_id))
                            todo.pop(0)
                            continue
                        message = f"{record['run']['error_class']}: {record['run']['error_message']}"
                        state.last_error = message
                        if cls == "invalid" or state.attempts >= policy.max_attempts:
                            execution.failed.append((run_id, message))
                            emit(RunEvent("failed", item, run_id, message))
                            todo.pop(0)
                            continue
                        emit(RunEvent("retry", item, run_id, message))
                        if cls == "inconclusive":
                            if held is not None and held.lost:
                                held = _hold(lease, None, link)  # take the device back before retrying
                            time.sleep(policy.cooldown_s)
                            continue
                        raise _DeviceTrouble(message)
            except (_DeviceTrouble, HarnessError) as exc:
                if isinstance(exc, HarnessError) and not isinstance(exc, TransportError):
                    raise  # bad input or configuration: the caller reports it
                now = time.monotonic()
                trouble_since = trouble_since or now
                if now - trouble_since > policy.reconnect_for_s or transport is not None:  # a handed-in one stays shut
                    reason = f"{device.name} did not come back within {policy.reconnect_for_s:g} s ({exc})"
                    _give_up(todo, states, store, campaign, device, reason, execution, emit)
                    break
                emit(RunEvent("waiting", todo[0], f"{campaign}/{todo[0].key}", f"{device.name}: {exc}; retrying "
                              f"in {backoff:g} s"))
                time.sleep(backoff)
                backoff = min(backoff * 2, policy.max_backoff_s)
    finally:
        if held is not None:
            try:
                held.release()
            except HarnessError:
                pass  # the device is gone: the lease expires by itself within its TTL
    return execution


def _cool_down(link: Transport, control: Control, idle_c: float | None, item: PlanItem,
               emit: Callable[[RunEvent], None], read_thermal: Callable[[Transport], dict[str, Any]]) -> float:
    """Wait before a run: a fixed time, or (auto) until the device is within the tolerance of its
    idle temperature, bounded. Returns the seconds waited."""
    t0 = time.monotonic()
    if control.cooldown_s:
        time.sleep(control.cooldown_s)
    if control.cooldown_auto and idle_c is not None:
        while True:
            now_c = read_thermal(link)["max_temp_c"]
            waited = time.monotonic() - t0
            if now_c is None or now_c <= idle_c + control.auto_tolerance_c or waited >= control.auto_max_s:
                break
            emit(RunEvent("waiting", item, "", f"cooling down: {now_c:.1f} °C, idle was {idle_c:.1f} °C "
                          f"(+{control.auto_tolerance_c:g} allowed), waited {waited:.0f} s"))
            time.sleep(control.auto_poll_s)
    return time.monotonic() - t0


def _host_litert_runner() -> Any:
    from harness.config import LOCAL_DEVICE
    from harness.runners.litert import LitertRunner
    from harness.transport.local import LocalTransport

    local = LocalTransport(LOCAL_DEVICE.name)
    local.open()
    runner = LitertRunner(LOCAL_DEVICE, local)
    runner.prepare()
    return runner


def _hold(lease: Callable[[Transport], Any], held: Any, link: Transport) -> Any:
    """The device's lease on this connection: the one we hold, rebound, if it is still ours;
    else a newly acquired one."""
    if held is not None:
        held.rebind(link)
        if held.confirm():
            return held
    return lease(link)


def _give_up(todo: list[PlanItem], states: dict[str, ItemState], store: Store, campaign: str, device: Device,
             reason: str, execution: Execution, emit: Callable[[RunEvent], None]) -> None:
    """Land the items a vanished device could not run as failed attempts, so that nothing
    planned is unaccounted for and `--resume` knows to retry them."""
    for item in list(todo):
        state = states[item.key]
        state.attempts += 1
        key = attempt_key(item, state.attempts)
        run_id = f"{campaign}/{key}"
        record = {"run": {"run_id": run_id, "campaign": campaign, "device": device.name,
                          "transport": device.transport, "model_name": item.model_name, "variant": item.variant,
                          "mode": item.mode, "threads": item.threads,
                          "delegate": {"xnnpack": "xnnpack", "builtin": "none"}[item.kernels],
                          "repeat": item.repeat, "status": "failed", "error_class": "TransportError",
                          "error_message": reason, "plan_key": item.key, "attempt": state.attempts,
                          "failure_class": "transport", "started_at": now_iso(), "finished_at": now_iso(),
                          "harness_version": __version__, "schema_version": schema.SCHEMA_VERSION},
                  "ops": [], "samples": [], "command": None}
        try:
            store.land_run(campaign, key, record)
        except StoreError:
            pass
        execution.failed.append((run_id, reason))
        emit(RunEvent("failed", item, run_id, reason))
        todo.remove(item)


def _run_one(
    item: PlanItem,
    run_id: str,
    campaign: str,
    device: Device,
    facts: Mapping[str, Any],
    variants: Mapping[str, ModelVariant],
    base_options: RunOptions,
    runner: Any,
    transport: Transport,
    read_thermal: Callable[[Transport], dict[str, Any]],
    exclude_throttled: bool = True,
) -> tuple[dict[str, Any], dict[str, bytes]]:
    model = variants[item.variant]
    options = options_for(item, base_options)
    run: dict[str, Any] = {
        "run_id": run_id,
        "campaign": campaign,
        "device": device.name,
        "transport": device.transport,
        "device_model": facts.get("device_model"),
        "cpu_model": facts.get("cpu_model"),
        "abi": facts.get("abi"),
        "os": facts.get("os"),
        "cores": facts.get("cores"),
        "facts_json": json.dumps(facts, sort_keys=True, default=str),
        "clocks_locked": facts.get("clocks_locked"),
        "runner": runner.name,
        "model_name": item.model_name,
        "model_sha256": model.sha256,
        "model_bytes": model.bytes,
        "variant": item.variant,
        "mode": item.mode,
        "threads": item.threads,
        "delegate": {"xnnpack": "xnnpack", "builtin": "none"}[item.kernels],
        "repeat": item.repeat,
        "harness_version": __version__,
        "schema_version": schema.SCHEMA_VERSION,
        "executor": f"{socket.gethostname()}:{os.getpid()}",
    }
    raw: dict[str, bytes] = {}
    ops: list[dict[str, Any]] = []
    samples: list[dict[str, Any]] = []
    command: dict[str, Any] | None = None
    t0 = time.perf_counter()
    run["started_at"] = now_iso()
    try:
        before = read_thermal(transport)
        run["temp_before_c"] = before["max_temp_c"]
        remote_model = runner.push_model(model.path, model.sha256)
        output: RunnerOutput = runner.run(remote_model, options)
        command = {"argv": list(output.command.argv), "exit_code": output.command.exit_code,
                   "duration_s": output.command.duration_s}
        raw["stdout.txt"] = output.command.stdout
        raw["stderr.txt"] = output.command.stderr
        raw.update(output.files)
        parsed = runner.parse(output)
        run.update({k: v for k, v in parsed.run.items() if k not in ("mode", "threads", "delegate")})
        ops = parsed.ops
        samples = parsed.samples
        run["notes"] = parsed.facts.get("runtime_note")
        after = read_thermal(transport)
        run["temp_after_c"] = after["max_temp_c"]
        why = throttling(before) or throttling(after)
        run["throttled"] = bool(why)
        if why:
            when = "before" if throttling(before) else "after"
            if run.get("status") == "ok" and exclude_throttled:  # measured, but not under conditions to trust
                run["status"] = "inconclusive"
                run["error_class"] = "Throttled"
                run["error_message"] = f"throttled {when} the run: {why}"
            else:
                run["notes"] = "; ".join(x for x in (run.get("notes"), f"throttled {when} the run: {why}") if x)
    except HarnessError as exc:
        run["status"] = "failed"
        run["error_class"] = exc.error_class
        run["error_message"] = str(exc)
        ran = getattr(exc, "command", None)
        if ran is not None and command is None:  # the runner ran but left no result: keep what it said
            command = {"argv": list(ran.argv), "exit_code": ran.exit_code, "duration_s": ran.duration_s}
            raw["stdout.txt"] = ran.stdout
            raw["stderr.txt"] = ran.stderr
    run["finished_at"] = now_iso()
    run["duration_s"] = time.perf_counter() - t0
    run.setdefault("status", "failed")
    record = {"run": run, "ops": [{**o, "run_id": run_id} for o in ops],
              "samples": [{**s, "run_id": run_id} for s in samples], "command": command}
    return record, raw
