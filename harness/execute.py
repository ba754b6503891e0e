"""Execute a plan on one device: push, run, pull, parse, land — one item at a time.

Every item lands as a run, ok or failed; a failure is recorded with its error class and
the rest of the plan continues. Nothing here prints: progress goes to ``on_event``.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness import __version__, schema
from harness.config import Device, RunOptions
from harness.errors import HarnessError, StoreError
from harness.plan import ModelVariant, PlanItem
from harness.runners.base import RunnerOutput
from harness.store import Store
from harness.transport.base import Transport


@dataclass(frozen=True)
class RunEvent:
    kind: str  # start | landed | failed | skipped
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
    on_event: Callable[[RunEvent], None] | None = None,
) -> Execution:
    emit = on_event or (lambda e: None)
    execution = Execution(campaign=campaign)
    landed = store.landed_keys(campaign)
    todo = []
    for item in plan:
        run_id = f"{campaign}/{item.key}"
        if item.key in landed:
            execution.skipped.append(run_id)
            emit(RunEvent("skipped", item, run_id, "landed already"))
        else:
            todo.append(item)
    if not todo:
        return execution

    transport = transport or open_transport(device)
    from harness.facts import collect_facts, read_temperature

    with transport:
        facts = collect_facts(transport)
        worker = make_runner(runner or device.default_runner, device, transport, facts, runner_flags, big_cores)
        worker.prepare()
        for item in todo:
            run_id = f"{campaign}/{item.key}"
            emit(RunEvent("start", item, run_id))
            record, raw = _run_one(item, run_id, campaign, device, facts, variants, options,
                                   worker, transport, read_temperature)
            try:
                store.land_run(campaign, item.key, record, raw)
            except StoreError as exc:
                execution.failed.append((run_id, str(exc)))
                emit(RunEvent("failed", item, run_id, str(exc)))
                continue
            if record["run"]["status"] == "ok":
                execution.landed.append(run_id)
                emit(RunEvent("landed", item, run_id))
            else:
                message = f"{record['run']['error_class']}: {record['run']['error_message']}"
                execution.failed.append((run_id, message))
                emit(RunEvent("failed", item, run_id, message))
        execution.bytes_pushed = worker.bytes_pushed
    return execution


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
    read_temperature: Callable[[Transport], float | None],
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
    }
    raw: dict[str, bytes] = {}
    ops: list[dict[str, Any]] = []
    samples: list[dict[str, Any]] = []
    command: dict[str, Any] | None = None
    t0 = time.perf_counter()
    run["started_at"] = now_iso()
    try:
        run["temp_before_c"] = read_temperature(transport)
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
        run["temp_after_c"] = read_temperature(transport)
    except HarnessError as exc:
        run["status"] = "failed"
        run["error_class"] = exc.error_class
        run["error_message"] = str(exc)
    run["finished_at"] = now_iso()
    run["duration_s"] = time.perf_counter() - t0
    run.setdefault("status", "failed")
    record = {"run": run, "ops": [{**o, "run_id": run_id} for o in ops],
              "samples": [{**s, "run_id": run_id} for s in samples], "command": command}
    return record, raw
