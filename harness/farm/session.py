"""One device's stay in a campaign: connect, hold its lease, read its facts, make its runner, then
run its plan items in order — measure, land, classify, retry — one at a time.

Every attempt lands as a run, ok or not; a failure is recorded with its error class and the rest
of the plan continues. A transport failure (device gone, link dropped, deadline) lands that run
as failed, then the device is reconnected (with backoff, for up to ``RetryPolicy.reconnect_for_s``)
and the item retried on it; a device that does not come back fails its remaining items with the
reason. Nothing here prints: progress goes to ``on_event``.

The steps, in the order a reader meets them in ``DeviceSession.run``::

    pending items (what landed already is skipped)
    └── while items remain: connect ─ hold lease ─ read facts ─ make runner
         ├── per item: cool down ─ measure ─ confirm lease ─ land ─ settle (done | retry | trouble)
         └── release the lease (over the same connection)
    on trouble: keep the lease, wait for the device (backoff) or give up its remaining items
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.config import Device, RunOptions
from harness.errors import HarnessError, StoreError, TransportError, failure_class
from harness.facts import throttling
from harness.plan import ModelVariant, PlanItem
from harness.records import now_iso, run_record, stored
from harness.spec import BenchmarkFlags, Control, RunSpec
from harness.store import Store
from harness.transport.base import Transport

if TYPE_CHECKING:  # pragma: no cover
    from harness.farm.lease import Lease
    from harness.runners import Runner

__all__ = ["Execution", "Job", "RunEvent", "DeviceSession", "attempt_key", "item_states", "now_iso"]


@dataclass(frozen=True)
class RunEvent:
    kind: str  # start | landed | failed | retry | waiting | skipped
    item: PlanItem
    run_id: str
    message: str = ""


@dataclass
class Execution:
    """What one device's session did."""

    campaign: str
    landed: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    bytes_pushed: int = 0


@dataclass(frozen=True)
class Job:
    """One campaign's work, the same for every device: what to run (the plan and its model files),
    how (the run spec), and where the runs land (a folder or fsspec URL). Plain data: it travels
    to farm workers as it is."""

    campaign: str
    store_root: str
    variants: Mapping[str, ModelVariant]
    plan: tuple[PlanItem, ...]
    spec: RunSpec = field(default_factory=RunSpec)

    @property
    def store(self) -> Store:
        return Store(self.store_root)

    def items_for(self, device: str) -> list[PlanItem]:
        return [item for item in self.plan if item.device == device]


def attempt_key(item: PlanItem, attempt: int) -> str:
    """Run key of one attempt: the plan key for the first, ``key~N`` for retries."""
    return item.key if attempt == 1 else f"{item.key}~{attempt}"


def options_for(item: PlanItem, base: RunOptions) -> RunOptions:
    import dataclasses

    return dataclasses.replace(base, threads=item.threads, mode=item.mode, kernels=item.kernels)


@dataclass
class ItemState:
    attempts: int = 0  # landed attempts
    done: bool = False
    ok: bool = False
    last_error: str = ""


def item_states(store: Store, campaign: str, plan: Sequence[PlanItem], max_attempts: int) -> dict[str, ItemState]:
    """What the store says about each plan item: attempts made, and whether it is finished."""
    from harness.store import read_run

    states = {item.key: ItemState() for item in plan}
    for key in store.landed_keys(campaign):
        base, _, n = key.partition("~")
        state = states.get(base)
        if state is None:
            continue
        attempt = int(n) if n.isdigit() else 1
        run = read_run(store.run_file(campaign, key))["run"]
        state.attempts = max(state.attempts, attempt)
        if run["status"] == "ok":
            state.ok = state.done = True
            continue
        state.last_error = f"{run.get('error_class')}: {run.get('error_message')}"
        if failure_class(run.get("error_class"), run["status"]) == "invalid":
            state.done = True
    for state in states.values():
        if not state.done and state.attempts >= max_attempts:
            state.done = True
    return states


THERMAL_REUSE_S = 2.0


@dataclass
class LastThermal:
    """A device's last thermal reading, taken after a run, and when (monotonic). It is the next
    run's "before" reading when that run follows at once: no cool-down between them, nothing run
    on the device meanwhile and at most ``THERMAL_REUSE_S`` old (landing a run takes
    milliseconds). One device command per run less; otherwise the device is read again."""

    reading: Mapping[str, Any] | None = None
    at: float = 0.0

    def keep(self, reading: Mapping[str, Any]) -> None:
        self.reading, self.at = reading, time.monotonic()

    def peek(self) -> Mapping[str, Any] | None:
        """The reading if it is fresh enough, kept for ``take``."""
        fresh = self.reading is not None and time.monotonic() - self.at <= THERMAL_REUSE_S
        return self.reading if fresh else None

    def take(self) -> Mapping[str, Any] | None:
        """The reading if it is fresh enough; used once."""
        reading = self.peek()
        self.reading = None
        return reading

    def clear(self) -> None:
        self.reading = None


class _DeviceTrouble(Exception):
    """The device or its link failed during a run: reconnect before going on."""


_DELEGATE_OF_KERNELS = {"xnnpack": "xnnpack", "builtin": "none"}


class DeviceSession:
    """One device's part of a job. ``transport`` (optional) is a link handed in by the caller,
    used once and never reopened. Constructing it does no I/O; ``run()`` does the work."""

    def __init__(self, device: Device, job: Job, *, on_event: Callable[[RunEvent], None] | None = None,
                 transport: Transport | None = None) -> None:
        self.device = device
        self.job = job
        self.spec = job.spec
        self.store = job.store
        self.emit = on_event or (lambda e: None)
        self.handed_in = transport
        self.execution = Execution(campaign=job.campaign)
        self.states: dict[str, ItemState] = {}
        self.todo: list[PlanItem] = []
        self.lease: Lease | None = None  # the device's lease, kept across reconnects
        self.host_runner: Runner | None = None  # accuracy runs of runners that cannot return outputs
        self._link: Transport | None = None  # the connection in use
        self._thermal = LastThermal()  # the last run's "after" reading, for the next run's "before"
        self._trouble_since: float | None = None
        self._backoff = self.spec.retry.backoff_s

    # the whole stay ----------------------------------------------------------------------------
    def run(self) -> Execution:
        self.todo = self._pending()
        try:
            while self.todo:
                try:
                    with self.handed_in or _open(self.device) as link:
                        self._stay_then_release(link)
                except (_DeviceTrouble, TransportError) as exc:
                    if not self._wait_for_device(exc):
                        break
        finally:
            self._release_lease()  # the device is gone: tried, else it expires within its TTL
            self._compact()
        return self.execution

    def _compact(self) -> None:
        """The runs this session landed, into one Parquet part of the campaign (readers load
        parts, not thousands of run.json). A failure costs speed, not data: the runs stay
        readable where they landed, and harness.run's own compaction takes them at its end."""
        keys = [run_id.partition("/")[2] for run_id in [*self.execution.landed, *(r for r, _ in self.execution.failed)]]
        if keys:
            try:
                self.store.compact(self.job.campaign, keys=keys)
            except (StoreError, OSError):
                pass

    def _pending(self) -> list[PlanItem]:
        """This device's items that have not finished; the finished ones are reported skipped."""
        campaign = self.job.campaign
        mine = self.job.items_for(self.device.name)
        self.states = item_states(self.store, campaign, mine, self.spec.retry.max_attempts)
        todo = []
        for item in mine:
            state = self.states[item.key]
            if not state.done:
                todo.append(item)
                continue
            run_id = f"{campaign}/{attempt_key(item, max(state.attempts, 1))}"
            self.execution.skipped.append(run_id)
            self.emit(RunEvent("skipped", item, run_id, "landed already" if state.ok else state.last_error))
        return todo

    def _stay_then_release(self, link: Transport) -> None:
        """The stay on one connection, then the lease freed over it (a closed link cannot free it:
        the device would stay taken for a whole TTL). A failing device keeps the lease, to be
        rebound after reconnecting."""
        try:
            self._stay(link)
        except (_DeviceTrouble, TransportError):
            raise
        except BaseException:
            self._release_lease()
            raise
        self._release_lease()

    def _stay(self, link: Transport) -> None:
        """One connection: set up, then run items until none are left (or the device fails)."""
        from harness.facts import collect_facts, read_thermal

        self._link = link
        self._hold_lease(link)
        facts = collect_facts(link)
        runner = self._make_runner(link, facts)
        self._trouble_since, self._backoff = None, self.spec.retry.backoff_s
        idle_c = read_thermal(link)["max_temp_c"] if self.spec.control.cooldown_auto else None
        self._thermal.clear()
        first = True
        while self.todo:
            item = self.todo[0]
            waited = 0.0 if first else self._cool_down(link, idle_c, item)
            first = False
            if waited > 0:  # the device has cooled since its last reading
                self._thermal.clear()
            self._attempt(item, link, facts, runner, waited)

    # set-up steps ------------------------------------------------------------------------------
    def _hold_lease(self, link: Transport) -> None:
        """The device's lease on this connection: the one held, rebound, if it is still ours; else a
        newly acquired one (waited for, or DeviceBusy with busy = skip)."""
        policy = self.spec.lease
        if policy is None:
            return
        if self.lease is not None:
            self.lease.rebind(link)
            if self.lease.confirm():
                return
        from harness.farm.lease import DeviceLease

        lease = DeviceLease(link, ttl_s=policy.ttl_s)
        lease.acquire(wait=policy.busy == "wait")
        self.lease = lease

    def _release_lease(self) -> None:
        if self.lease is None:
            return
        lease, self.lease = self.lease, None
        try:
            lease.release()
        except HarnessError:
            pass  # the device is gone: the lease expires by itself within its TTL

    def _make_runner(self, link: Transport, facts: Mapping[str, Any]) -> Runner:
        from harness.runners import make_runner

        name = self.spec.runner or self.device.default_runner
        runner = make_runner(name, self.device, link, facts, self.spec.flags, self.spec.big_cores)
        runner.prepare()
        return runner

    def _cool_down(self, link: Transport, idle_c: float | None, item: PlanItem) -> float:
        from harness.facts import read_thermal

        return cool_down(link, self.spec.control, idle_c, item, self.emit, read_thermal, last=self._thermal.peek())

    # one attempt -------------------------------------------------------------------------------
    def _attempt(self, item: PlanItem, link: Transport, facts: Mapping[str, Any], runner: Runner,
                 waited: float) -> None:
        state = self.states[item.key]
        state.attempts += 1
        key = attempt_key(item, state.attempts)
        run_id = f"{self.job.campaign}/{key}"
        self.emit(RunEvent("start", item, run_id))
        record, raw = self._measure(item, run_id, link, facts, runner)
        run = record["run"]
        run["cooldown_s"] = waited
        self._confirm_lease(run)
        run.update(plan_key=item.key, attempt=state.attempts)
        run["failure_class"] = failure_class(run.get("error_class"), run["status"])
        if not self._land(item, key, run_id, record, raw):
            return
        self.execution.bytes_pushed = runner.bytes_pushed
        self._settle(item, run_id, run)

    def _measure(self, item: PlanItem, run_id: str, link: Transport, facts: Mapping[str, Any],
                 runner: Runner) -> tuple[dict[str, Any], dict[str, bytes]]:
        """One run on the device (accuracy runs of runners that cannot return outputs: on this host)."""
        on_host = item.mode == "accuracy" and runner.name != "litert"
        if on_host and self.host_runner is None:
            from harness.runners import host_litert_runner

            self.host_runner = host_litert_runner()
        record, raw = measure(item, run_id, self.job.campaign, self.device, facts, self.job.variants,
                              self.spec.options, self.host_runner if on_host else runner, link,
                              self.spec.control.exclude_throttled, self.spec.flags, self._thermal)
        if item.mode == "accuracy":
            record["run"]["accuracy_on"] = "host" if on_host else "device"
        return record, raw

    def _confirm_lease(self, run: dict[str, Any]) -> None:
        """A run during which the lease was lost is inconclusive: another controller may have used the device.
        A lease renewed recently enough that it cannot have expired is confirmed without asking the device
        (one round trip per run saved; the renewals every TTL/3 still ask it)."""
        if self.lease is not None and not self.lease.confirm(trust_renewal=True) and run["status"] == "ok":
            run.update(status="inconclusive", error_class="LeaseLost",
                       error_message="the device's lease was lost during the run: another controller "
                       f"({self.lease.lost_to}) may have used the device")

    def _land(self, item: PlanItem, key: str, run_id: str, record: dict[str, Any], raw: dict[str, bytes]) -> bool:
        try:
            self.store.land_run(self.job.campaign, key, record, raw)
        except StoreError as exc:
            self._finish(item, run_id, str(exc), failed=True)
            return False
        return True

    def _settle(self, item: PlanItem, run_id: str, run: dict[str, Any]) -> None:
        """Done (landed ok, or failed for good), retried after a cool-down (inconclusive), or
        device trouble (transport: reconnect, then retry)."""
        cls = run["failure_class"]
        if cls is None:
            self._finish(item, run_id, "", failed=False)
            return
        state = self.states[item.key]
        message = f"{run['error_class']}: {run['error_message']}"
        state.last_error = message
        if cls == "invalid" or state.attempts >= self.spec.retry.max_attempts:
            self._finish(item, run_id, message, failed=True)
            return
        self.emit(RunEvent("retry", item, run_id, message))
        if cls == "inconclusive":
            if self.lease is not None and self.lease.lost and self._link is not None:
                self.lease = None
                self._hold_lease(self._link)  # take the device back before retrying
            self._thermal.clear()  # cooled down: read the device again before the retry
            time.sleep(self.spec.retry.cooldown_s)
            return
        raise _DeviceTrouble(message)

    def _finish(self, item: PlanItem, run_id: str, message: str, *, failed: bool) -> None:
        self.todo.remove(item)
        if failed:
            self.execution.failed.append((run_id, message))
            self.emit(RunEvent("failed", item, run_id, message))
        else:
            self.execution.landed.append(run_id)
            self.emit(RunEvent("landed", item, run_id))

    # trouble -----------------------------------------------------------------------------------
    def _wait_for_device(self, exc: BaseException) -> bool:
        """After a transport failure: wait (backoff) and go on, or give up the remaining items."""
        now = time.monotonic()
        self._trouble_since = self._trouble_since or now
        retry = self.spec.retry
        if now - self._trouble_since > retry.reconnect_for_s or self.handed_in is not None:
            self._give_up(f"{self.device.name} did not come back within {retry.reconnect_for_s:g} s ({exc})")
            return False
        item = self.todo[0]
        self.emit(RunEvent("waiting", item, f"{self.job.campaign}/{item.key}",
                           f"{self.device.name}: {exc}; retrying in {self._backoff:g} s"))
        time.sleep(self._backoff)
        self._backoff = min(self._backoff * 2, retry.max_backoff_s)
        return True

    def _give_up(self, reason: str) -> None:
        """Land the items a vanished device could not run as failed attempts, so that nothing
        planned is unaccounted for and `--resume` knows to retry them."""
        campaign = self.job.campaign
        for item in list(self.todo):
            state = self.states[item.key]
            state.attempts += 1
            key = attempt_key(item, state.attempts)
            run_id = f"{campaign}/{key}"
            run = run_record(run_id, campaign, self.device.name, **_item_fields(item, self.device),
                             status="failed", error_class="TransportError", error_message=reason,
                             plan_key=item.key, attempt=state.attempts, failure_class="transport",
                             started_at=now_iso(), finished_at=now_iso())
            try:
                self.store.land_run(campaign, key, stored(run))
            except StoreError:
                pass
            self._finish(item, run_id, reason, failed=True)


def cool_down(link: Transport | None, control: Control, idle_c: float | None, item: PlanItem,
              emit: Callable[[RunEvent], None], read_thermal: Callable[[Any], Mapping[str, Any]],
              last: Mapping[str, Any] | None = None) -> float:
    """Wait before a run: a fixed time, or (auto) until the device is within the tolerance of its
    idle temperature, bounded. Returns the seconds waited: 0.0 when it did not wait (no cool-down
    asked, or the device was cool at the first look), so that the last reading stays the next
    run's "before". ``last``: a reading of the device taken just before (the previous run's
    "after"), the first look of the auto cool-down without asking the device again."""
    auto = control.cooldown_auto and idle_c is not None
    if not control.cooldown_s and not auto:
        return 0.0
    t0 = time.monotonic()
    if control.cooldown_s:
        time.sleep(control.cooldown_s)
        last = None  # taken before the sleep: look again
    slept = bool(control.cooldown_s)
    while auto and idle_c is not None:
        reading, last = (last if last is not None else read_thermal(link)), None
        now_c = reading["max_temp_c"]
        waited = time.monotonic() - t0
        if now_c is None or now_c <= idle_c + control.auto_tolerance_c or waited >= control.auto_max_s:
            break
        emit(RunEvent("waiting", item, "", f"cooling down: {now_c:.1f} °C, idle was {idle_c:.1f} °C "
                      f"(+{control.auto_tolerance_c:g} allowed), waited {waited:.0f} s"))
        time.sleep(control.auto_poll_s)
        slept = True
    return time.monotonic() - t0 if slept else 0.0


def _open(device: Device) -> Transport:
    from harness.transport import open_transport

    return open_transport(device)


def _item_fields(item: PlanItem, device: Device) -> dict[str, Any]:
    """What the plan says of a run, as asked: model, variant, mode, threads, kernels."""
    return {"transport": device.transport, "model_name": item.model_name, "variant": item.variant,
            "mode": item.mode, "threads": item.threads, "delegate": _DELEGATE_OF_KERNELS[item.kernels],
            "repeat": item.repeat}


def measure(item: PlanItem, run_id: str, campaign: str, device: Device, facts: Mapping[str, Any],
            variants: Mapping[str, ModelVariant], base_options: RunOptions, runner: Any, transport: Transport,
            exclude_throttled: bool = True,
            flags: BenchmarkFlags | None = None,
            thermal: LastThermal | None = None) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Push the model, run it, parse what came back, read the thermal state around it: one record
    (run, ops, samples, command) and the raw files. A HarnessError becomes a failed run.
    ``thermal``: the previous run's "after" reading, taken as this run's "before" while fresh
    (``LastThermal``); this run's "after" is kept in it for the next."""
    from harness.facts import read_thermal

    model = variants[item.variant]
    options = options_for(item, base_options)
    run = run_record(
        run_id, campaign, device.name, **_item_fields(item, device),
        device_model=facts.get("device_model"), cpu_model=facts.get("cpu_model"), abi=facts.get("abi"),
        os=facts.get("os"), cores=facts.get("cores"), facts_json=json.dumps(facts, sort_keys=True, default=str),
        clocks_locked=facts.get("clocks_locked"), runner=runner.name, model_sha256=model.sha256,
        model_bytes=model.bytes, executor=f"{socket.gethostname()}:{os.getpid()}",
    )
    if runner.name == "benchmark_model" and flags is not None and item.kernels == "xnnpack":
        run["delegate"] = flags.delegate  # the delegate asked of the tool (gpu, nnapi, ...)
    raw: dict[str, bytes] = {}
    ops: list[dict[str, Any]] = []
    samples: list[dict[str, Any]] = []
    command: dict[str, Any] | None = None
    t0 = time.perf_counter()
    run["started_at"] = now_iso()
    try:
        before = thermal.take() if thermal is not None else None
        if before is None:
            before = read_thermal(transport)
        run["temp_before_c"] = before["max_temp_c"]
        output = runner.run(runner.push_model(model.path, model.sha256), options)
        command = {"argv": list(output.command.argv), "exit_code": output.command.exit_code,
                   "duration_s": output.command.duration_s}
        raw["stdout.txt"] = output.command.stdout
        raw["stderr.txt"] = output.command.stderr
        raw.update(output.files)
        parsed = runner.parse(output)
        _keep_reported(run, parsed.run)
        ops, samples = parsed.ops, parsed.samples
        # the runner's own notes (the graph it ran, a test double's recording) and the runtime's note, both kept
        run["notes"] = "; ".join(n for n in (run.get("notes"), parsed.facts.get("runtime_note")) if n) or None
        after = read_thermal(transport)
        if thermal is not None:
            thermal.keep(after)
        run["temp_after_c"] = after["max_temp_c"]
        _judge_throttling(run, before, after, exclude_throttled)
    except HarnessError as exc:
        run.update(status="failed", error_class=exc.error_class, error_message=str(exc))
        ran = getattr(exc, "command", None)
        if ran is not None and command is None:  # the runner ran but left no result: keep what it said
            command = {"argv": list(ran.argv), "exit_code": ran.exit_code, "duration_s": ran.duration_s}
            raw["stdout.txt"] = ran.stdout
            raw["stderr.txt"] = ran.stderr
    run["finished_at"] = now_iso()
    run["duration_s"] = time.perf_counter() - t0
    run.setdefault("status", "failed")
    return stored(run, ops, samples, command), raw


def _keep_reported(run: dict[str, Any], reported: Mapping[str, Any]) -> None:
    """The runner's own record, beside what was asked: mode, threads and delegate stay as planned
    and what the runner says it did goes to ``runner_mode`` / ``runner_threads`` /
    ``runner_delegate`` (a mismatch is a stability warning, not a silent rewrite)."""
    for key, value in reported.items():
        if key in ("mode", "threads", "delegate"):
            run[f"runner_{key}"] = value
        else:
            run[key] = value


def _judge_throttling(run: dict[str, Any], before: Mapping[str, Any], after: Mapping[str, Any],
                      exclude_throttled: bool) -> None:
    why = throttling(dict(before)) or throttling(dict(after))
    run["throttled"] = bool(why)
    if not why:
        return
    when = "before" if throttling(dict(before)) else "after"
    if run.get("status") == "ok" and exclude_throttled:  # measured, but not under conditions to trust
        run.update(status="inconclusive", error_class="Throttled", error_message=f"throttled {when} the run: {why}")
    else:
        run["notes"] = "; ".join(x for x in (run.get("notes"), f"throttled {when} the run: {why}") if x)
