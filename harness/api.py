"""The application, as Python: run a campaign, compare its variants, report it.

``harness.run``, ``harness.compare`` and ``harness.report`` are what the `harness` commands call;
a notebook, a pytest fixture or a CI script calls them the same way. They raise the errors of
``harness.errors`` (bad input is a ``UserError``), never exit, and never print: what a command
shows comes back as data (``Campaign``, frames) or through the ``on_*`` callbacks.

    import harness
    c = harness.run(device="pixel", example="mobilenet_v2", variants=["dynamic", "int8"], repeats=5)
    c.summary()                                   # the table `harness run` prints
    harness.compare(c, baseline="dynamic", candidate="int8")   # the rows of `harness compare --format json`
    harness.report(c, out="report.html")
"""

from __future__ import annotations

import inspect
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import UserError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from harness.farm import FarmResult, RunEvent
    from harness.store import Results, Store

Warn = Callable[[str], None]


@dataclass
class Campaign:
    """A campaign in a results store: its name, where it is, its runs as frames. ``outcome`` is
    what the ``harness.run`` call that returned it did (None for a campaign opened from disk);
    ``notes`` what it said along the way (skipped runs, precision reached or not)."""

    name: str
    store: Store
    outcome: FarmResult | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def path(self) -> Path:
        return self.store.campaign_dir(self.name)

    @property
    def ok(self) -> bool:
        """Every planned run landed ok and every device ran (False for one opened from disk)."""
        return self.outcome is not None and self.outcome.ok

    def meta(self) -> dict[str, Any]:
        """campaign.json: devices, model files (with sha256), options, the plan, the call's arguments."""
        return self.store.read_campaign(self.name) or {}

    def results(self, samples: bool = False) -> Results:
        """The campaign's frames: runs and ops, and samples when first used (or now, with
        ``samples=True``): see ``harness.store.load_results``."""
        from harness.store import load_results

        return load_results(self.path, samples=samples)

    def summary(self, top: int = 3) -> pd.DataFrame:
        """The table `harness run` prints: per device, variant and thread count, runs, invokes,
        p50 / p90, the ratio to fp32, top op types, and accuracy against fp32 where measured."""
        return summary(self, top=top)

    def compare(self, baseline: str, candidate: str, **kwargs: Any) -> pd.DataFrame:
        return compare(self, baseline=baseline, candidate=candidate, **kwargs)

    def report(self, out: str | os.PathLike[str] = "report.html", **kwargs: Any) -> ReportFile:
        return report(self, out=out, **kwargs)

    def __repr__(self) -> str:
        return f"Campaign({self.name!r}, path={str(self.path)!r})"


def open_campaign(campaign: Campaign | str | os.PathLike[str] | None = None,
                  results: str | os.PathLike[str] | None = None) -> Campaign:
    """A campaign by ``Campaign``, by name in ``results`` (default ./results), by the path of its
    folder, or the newest in ``results`` when None."""
    from harness.store import CAMPAIGN_FILE, Store, store_path

    if isinstance(campaign, Campaign):
        return campaign
    if campaign is not None and results is None:
        folder = store_path(campaign)
        if (folder / CAMPAIGN_FILE).exists():
            return Campaign(folder.name, Store(folder.parent))
    store = Store(results or "results")
    return Campaign(store.resolve_campaign(None if campaign is None else str(campaign)), store)


# --- run -----------------------------------------------------------------------------------------

def _csv(value: str | Iterable[Any] | None) -> list[str]:
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else [str(v) for v in value]
    return [s.strip() for s in items if s.strip()]


def _ints(value: int | str | Iterable[Any], what: str) -> list[int]:
    items = [str(value)] if isinstance(value, int) else _csv(value)
    try:
        out = [int(v) for v in items]
    except ValueError:
        raise UserError(f"{what} takes whole numbers, e.g. 1,2,4 (got {value!r}).") from None
    if not out or any(v < 1 for v in out):
        raise UserError(f"{what} must be positive whole numbers (got {value!r}).")
    return out




def run(
    device: str | Sequence[str] = "local",
    *,
    model: str | os.PathLike[str] | None = None,
    example: str | None = None,
    variants: str | Sequence[str] | None = None,
    threads: int | str | Sequence[int] = 1,
    repeats: int = 5,
    results: str | os.PathLike[str] = "results",
    campaign: str | None = None,
    resume: str | None = None,
    inventory: str | os.PathLike[str] | None = None,
    all_devices: bool = False,
    profile: bool = True,
    kernels: str = "xnnpack",
    profile_kernels: str | Sequence[str] = ("xnnpack", "builtin"),
    accuracy: bool = False,
    inputs: str | os.PathLike[str] | None = None,
    labels: str | os.PathLike[str] | None = None,
    samples: int = 32,
    runner: str | None = None,
    delegate: str = "xnnpack",
    nnapi_accelerator: str | None = None,
    big_cores: bool = False,
    calibration: str | os.PathLike[str] | None = None,
    min_runs: int = 50,
    min_seconds: float = 1.0,
    max_seconds: float = 150.0,
    warmup_runs: int = 1,
    profile_runs: int = 20,
    timeout: float = 600.0,
    max_attempts: int = 3,
    reconnect_timeout: float = 120.0,
    retry_cooldown: float = 30.0,
    cooldown: str | float | None = None,
    exclude_throttled: bool = True,
    precision: str | float | None = None,
    max_time: float = 600.0,
    busy: str = "wait",
    lease_ttl: float = 60.0,
    cluster: str | None = None,
    tls: str | os.PathLike[str] | None = None,
    insecure: bool = False,
    on_event: Callable[[RunEvent], None] | None = None,
    on_device: Callable[[str, str, str], None] | None = None,
    on_start: Callable[[str, Mapping[str, int]], None] | None = None,
    warn: Warn | None = None,
) -> Campaign:
    """Run a campaign: the variants of a model x thread counts x repeats on one or more devices,
    interleaved, every run landing in ``results`` as it finishes. Returns the ``Campaign``.

    Arguments are those of `harness run` (``--min-runs`` is ``min_runs``); lists may be given as
    lists or comma-separated strings. ``resume`` finishes a campaign as it was started. Callbacks:
    ``on_event(RunEvent)`` per run (start, landed, failed, retry, waiting, skipped),
    ``on_device(name, state, detail)``, ``on_start(campaign, {device: planned runs})`` before
    each round, ``warn(message)`` for what the user should know (int8 calibrated on synthetic data,
    skipped runs). Bad input raises ``UserError`` before anything runs; a device whose set-up the
    user must fix (a missing benchmark_model binary, an unprovisioned board) raises its
    ``UserError`` after the other devices finish, with ``.campaign`` set to this campaign.
    """
    args = {k: v for k, v in locals().items() if k in RESUMABLE}
    say: Warn = warn or (lambda message: None)
    from harness.farm.session import Job
    from harness.store import Store

    store = Store(results)
    pinned: dict[str, Any] | None = None
    if resume:
        args, campaign, pinned = _resumed(store, resume, args)
    security = _cluster_security(cluster, tls, insecure)
    prepared = _prepare(args, store, campaign, pinned, say, cluster, security)
    job = Job(campaign=prepared.campaign, store_root=str(store.root), variants=prepared.files,
              plan=tuple(prepared.plan), spec=prepared.spec)
    result = Campaign(prepared.campaign, store, notes=list(prepared.notes))
    started = time.monotonic()
    cluster_at = None if cluster is None else (cluster, security)
    result.outcome = _execute(job, prepared.devices, cluster_at, on_event, on_device, on_start)
    if args.get("precision") is not None:
        _adaptive_repeats(result, job, prepared, args, started, cluster_at, on_event, on_device, on_start, say)
    _compact(result)
    for error in result.outcome.user_errors.values():
        error.campaign = result  # type: ignore[attr-defined]
        raise error
    return result


def _compact(result: Campaign) -> None:
    """The campaign's runs into one Parquet part, so that it loads fast. A failure costs speed,
    not data (the runs load from their own records): noted, not raised."""
    from harness.errors import StoreError

    try:
        result.store.compact(result.name)
    except (StoreError, OSError) as exc:
        result.notes.append(f"the campaign was not compacted ({exc}); it loads as it is, and "
                            "`harness results compact` compacts it")


# what a campaign remembers of the call that started it, for resume: every option of ``run`` but where
# the store is, the campaign's name, the cluster and the callbacks (derived, so a new option is never left out)
_NOT_RECORDED = ("results", "campaign", "resume", "cluster", "tls", "insecure", "on_event", "on_device", "on_start",
                 "warn")
RESUMABLE = tuple(p for p in inspect.signature(run).parameters if p not in _NOT_RECORDED)


@dataclass
class _Prepared:
    """What ``run`` decided before the first run."""

    campaign: str
    devices: list[Any]
    files: dict[str, Any]
    model_name: str
    plan: list[Any]
    plan_args: dict[str, Any]
    spec: Any
    meta: dict[str, Any]
    notes: list[str]


def _cluster_security(cluster: str | None, tls: str | os.PathLike[str] | None, insecure: bool) -> Any:
    """Dask's client Security for ``cluster`` (tls://), None for plain TCP on loopback (or with
    ``insecure``); UserError for plain TCP off loopback."""
    if cluster is None:
        return None
    from harness.farm.security import check_address, security

    folder = check_address(cluster, tls_dir=tls, insecure=insecure, what="--cluster")
    return None if folder is None else security("client", folder)


def _prepare(args: dict[str, Any], store: Store, campaign: str | None, pinned: dict[str, Any] | None,
             say: Warn, cluster: str | None, security: Any = None) -> _Prepared:
    """Everything checked and decided before the first run: devices, models, plan, spec, campaign.json."""
    from harness.config import RUNNERS, RunOptions, load_inventory, parse_variants
    from harness.plan import KERNELS, build_plan, builtin_skips
    from harness.prepare import builtin_kernel_gaps, pinned_models, resolve_models
    from harness.resolve import select_devices
    from harness.spec import BenchmarkFlags, Control, LeasePolicy, RetryPolicy, RunSpec

    _check_numbers(args)
    if args["inputs"] is not None and not os.path.isfile(args["inputs"]):
        raise UserError(f"--inputs {args['inputs']} does not exist; pass a .npz with one array per model input.")
    labels = _labels(args["labels"], args["inputs"])
    options = RunOptions(
        warmup_runs=args["warmup_runs"], min_runs=args["min_runs"], min_s=args["min_seconds"],
        max_s=args["max_seconds"], profile_runs=args["profile_runs"], timeout_s=args["timeout"],
        samples=args["samples"], inputs_file=os.path.abspath(args["inputs"]) if args["inputs"] else None,
    )
    if args["precision"] is not None:
        from harness.precision import parse_precision

        parse_precision(str(args["precision"]))
        if args["max_time"] <= 0:
            raise UserError("--max-time must be positive.")
    runner = args["runner"]
    if runner is not None and runner not in RUNNERS:
        raise UserError(f"--runner must be one of {', '.join(RUNNERS)} (got {runner!r}).")
    spec = RunSpec(
        options=options, runner=runner,
        flags=BenchmarkFlags(delegate=args["delegate"], nnapi_accelerator=args["nnapi_accelerator"]),
        big_cores=args["big_cores"],
        retry=RetryPolicy(max_attempts=args["max_attempts"], reconnect_for_s=args["reconnect_timeout"],
                          cooldown_s=args["retry_cooldown"]),
        control=Control.parse(args["cooldown"], args["exclude_throttled"]),
        lease=LeasePolicy(busy=args["busy"], ttl_s=args["lease_ttl"]),
    )
    inventory = load_inventory(args["inventory"])
    device_spec = args["device"] if isinstance(args["device"], str) else ",".join(args["device"])
    devices = select_devices(inventory, device_spec, args["all_devices"])
    if cluster:
        from harness.farm.cluster import check_cluster

        unnamed = [d.name for d in devices if d.name not in inventory.devices]
        if unnamed:
            raise UserError(f"--cluster runs devices by their inventory names (each worker owns its own); "
                            f"{', '.join(unnamed)} has no entry: add it with `harness devices add` on the controller "
                            "and on the worker that owns it.")
        check_cluster(cluster, [d.name for d in devices], security)  # before anything is written
    uses_litert = [d.name for d in devices if (runner or d.default_runner) == "litert"]
    if uses_litert and (args["delegate"] != "xnnpack" or args["big_cores"]):
        raise UserError(f"--delegate and --big-cores apply to the benchmark_model runner; {', '.join(uses_litert)} "
                        "use litert: there, use --kernels xnnpack|builtin.")
    variants = parse_variants(args["variants"])
    threads = _ints(args["threads"], "--threads")
    if pinned is not None:
        model_name, files = pinned["model_name"], pinned_models(pinned["variants"])
    else:
        model_name, files = resolve_models(
            model=None if args["model"] is None else os.fspath(args["model"]), example=args["example"],
            variants=variants, calibration=None if args["calibration"] is None else os.fspath(args["calibration"]),
            warn=say,
        )
    profile_kernels = _csv(args["profile_kernels"])
    if not profile_kernels or any(k not in KERNELS for k in profile_kernels):
        raise UserError(f"--profile-kernels takes {', '.join(KERNELS)} (comma-separated), got "
                        f"{args['profile_kernels']!r}.")
    no_builtin = builtin_kernel_gaps(files)  # ops only XNNPACK implements
    names = [d.name for d in devices]
    plan_args = dict(profile=args["profile"], kernels=args["kernels"], profile_kernels=profile_kernels,
                     accuracy=args["accuracy"] or bool(args["inputs"]) or labels is not None, no_builtin=no_builtin)
    plan = build_plan(names, model_name, list(files), threads, args["repeats"], **plan_args)
    skips = builtin_skips(list(files), profile=args["profile"], profile_kernels=profile_kernels,
                          no_builtin=no_builtin)
    notes = [f"{model_name} {skip.variant}: no {skip.kernels}-kernel {skip.mode} runs: {skip.reason}."
             for skip in skips]
    for note in notes:
        say(note)
    where = names[0] if len(names) == 1 else f"{len(names)}devices"
    campaign = campaign or f"{time.strftime('%Y%m%d-%H%M%S')}-{where}-{model_name}"
    meta = _campaign_meta(campaign, names, model_name, files, args, plan, skips)
    if labels is not None:
        meta["labels"] = labels  # the accuracy runs' labels, kept with the campaign
    previous = store.read_campaign(campaign)
    if previous is not None:
        _check_resume(previous, meta)
        notes.append(f"resuming campaign {campaign}")
    store.write_campaign(campaign, meta)
    return _Prepared(campaign, devices, files, model_name, plan, {**plan_args, "threads": threads}, spec, meta,
                     notes)


def _labels(labels: str | os.PathLike[str] | None, inputs: str | os.PathLike[str] | None) -> dict[str, Any] | None:
    """--labels FILE.npy: one integer class per sample of --inputs (what real top-1 accuracy needs)."""
    if labels is None:
        return None
    import numpy as np

    from harness.fileio import sha256_file

    if inputs is None:
        raise UserError("--labels needs --inputs FILE.npz: labels describe real inputs, not the synthetic ones.")
    path = Path(labels)
    try:
        values = np.load(path, allow_pickle=False)
        with np.load(inputs, allow_pickle=False) as data:
            n = int(data[data.files[0]].shape[0]) if data.files else 0
    except (OSError, ValueError) as exc:
        raise UserError(f"--labels {path}: cannot read it as a .npy array ({exc}).") from None
    if values.ndim != 1 or not np.issubdtype(values.dtype, np.integer):
        raise UserError(f"--labels {path}: want one integer class per sample (a 1-D int array), got "
                        f"{values.dtype} of shape {values.shape}.")
    if len(values) != n:
        raise UserError(f"--labels {path} has {len(values)} labels but --inputs has {n} samples; give one per sample.")
    return {"path": str(path.resolve()), "sha256": sha256_file(path), "values": [int(v) for v in values]}


def _check_numbers(args: dict[str, Any]) -> None:
    if args["min_runs"] < 1 or args["warmup_runs"] < 0 or args["profile_runs"] < 1:
        raise UserError("--min-runs and --profile-runs must be at least 1, --warmup-runs at least 0.")
    if args["min_seconds"] < 0 or args["max_seconds"] <= 0 or args["max_seconds"] < args["min_seconds"]:
        raise UserError("--min-seconds must be >= 0 and --max-seconds greater than it.")
    if args["timeout"] <= 0:
        raise UserError("--timeout must be positive.")
    if args["samples"] < 1:
        raise UserError("--samples must be at least 1.")
    if args["repeats"] < 1:
        raise UserError(f"--repeats must be at least 1 (got {args['repeats']}).")


def _resumed(store: Store, resume: str, args: dict[str, Any]) -> tuple[dict[str, Any], str, dict[str, Any]]:
    meta = store.read_campaign(resume)
    if meta is None:
        known = store.campaigns()
        raise UserError(f"No campaign {resume!r} in {store.root}" +
                        (f"; it has {', '.join(known[-5:])}." if known else "."))
    if "args" not in meta:
        raise UserError(f"campaign {resume} was made by an older harness that did not record its "
                        "command; run it again with --campaign and the same options instead.")
    resumed = {**args, **{k: meta["args"][k] for k in RESUMABLE if k in meta["args"]}}
    return resumed, resume, {"variants": meta["variants"], "model_name": meta["model_name"]}


def _campaign_meta(campaign: str, devices: list[str], model_name: str, files: Mapping[str, Any],
                   args: dict[str, Any], plan: list[Any], skips: list[Any]) -> dict[str, Any]:
    from harness import __version__
    from harness.records import now_iso

    def plain(value: Any) -> Any:  # what JSON keeps: lists as the CLI writes them
        if isinstance(value, os.PathLike):
            return os.fspath(value)
        if isinstance(value, list | tuple):
            return ",".join(str(v) for v in value)
        return value

    return {
        "campaign": campaign,
        "created_at": now_iso(),
        "harness_version": __version__,
        "devices": devices,
        "model_name": model_name,
        "variants": {v: {"path": str(m.path), "sha256": m.sha256, "bytes": m.bytes} for v, m in files.items()},
        "options": {k: plain(args[k]) for k in ("threads", "repeats", "profile", "kernels", "profile_kernels",
                                                "min_runs", "min_seconds", "max_seconds", "warmup_runs",
                                                "profile_runs")},
        "plan": [item.key for item in plan],
        "skipped": [skip.to_dict() for skip in skips],  # runs left out on purpose, with the reason
        "args": {k: plain(args[k]) for k in RESUMABLE},
    }


def _check_resume(previous: dict[str, Any], meta: dict[str, Any]) -> None:
    old = {v: d["sha256"] for v, d in previous.get("variants", {}).items()}
    new = {v: d["sha256"] for v, d in meta["variants"].items()}
    changed = sorted(v for v in old.keys() & new.keys() if old[v] != new[v])
    if changed:
        raise UserError(
            f"campaign {meta['campaign']} measured other model files for {', '.join(changed)}; "
            "resume it with the same model, or pass a new --campaign name."
        )
    meta["created_at"] = previous.get("created_at", meta["created_at"])


def _execute(job: Any, devices: list[Any], cluster: tuple[str, Any] | None, on_event: Any, on_device: Any,
             on_start: Any) -> FarmResult:
    if on_start is not None:
        on_start(job.campaign, {d.name: len(job.items_for(d.name)) for d in devices})
    if cluster:
        from harness.farm.cluster import run_on_cluster

        address, security = cluster
        return run_on_cluster(address, devices, job, on_event=on_event, on_device=on_device, security=security)
    from harness.farm import run_farm

    return run_farm(devices, job, on_event=on_event, on_device=on_device)


def _adaptive_repeats(result: Campaign, job: Any, prepared: _Prepared, args: dict[str, Any], started: float,
                      cluster: tuple[str, Any] | None, on_event: Any, on_device: Any, on_start: Any,
                      say: Warn) -> None:
    """--precision: add interleaved repeats until every variant's median is known within the target
    (95 % interval), bounded by --max-time; each round runs only what is new."""
    import dataclasses

    from harness.plan import build_plan
    from harness.precision import half_widths, parse_precision, precise_enough
    from harness.store import load_runs

    assert result.outcome is not None
    target, repeats = parse_precision(str(args["precision"])), args["repeats"]
    names = [d.name for d in prepared.devices]
    while True:
        widths = half_widths(load_runs(result.path))
        widest = max((w for w in widths.values() if w is not None), default=None)
        if precise_enough(widths, target):
            result.notes.append(f"precision reached with {repeats} repeats: every median within "
                                f"±{100 * (widest or 0):.1f} %")
            return
        if time.monotonic() - started > args["max_time"] or not result.outcome.ok:
            shown = "not yet computable" if widest is None else f"±{100 * widest:.1f} % at worst"
            say(f"--precision {args['precision']} not reached after {repeats} repeats ({shown}); "
                + ("a run failed." if not result.outcome.ok else "--max-time is up."))
            return
        repeats += max(2, repeats // 2)
        plan_args = {k: v for k, v in prepared.plan_args.items() if k != "threads"}
        plan = build_plan(names, prepared.model_name, list(prepared.files), prepared.plan_args["threads"], repeats,
                          **plan_args)
        job.store.write_campaign(job.campaign, {**prepared.meta, "plan": [item.key for item in plan]})
        result.notes.append(f"precision: widest interval ±{'?' if widest is None else f'{100 * widest:.1f}'} %, "
                            f"target ±{100 * target:g} %: going to {repeats} repeats")
        say(result.notes[-1])
        round_job = dataclasses.replace(job, plan=tuple(plan))
        result.outcome.merge(_execute(round_job, prepared.devices, cluster, on_event, on_device, on_start))


# --- analysis --------------------------------------------------------------------------------------

def summary(campaign: Campaign | str | os.PathLike[str] | None = None, *, results: str | None = None,
            top: int = 3) -> pd.DataFrame:
    """The table `harness run` prints for a campaign (see ``Campaign.summary``)."""
    from harness.analysis.accuracy import accuracy_table
    from harness.analysis.summary import summarize

    c = open_campaign(campaign, results)
    res = c.results()
    table = summarize(res, c.name, top=top)
    acc = accuracy_table(c.store.root, res.runs)
    if not acc.empty and not table.empty:  # the first output's accuracy against fp32, beside the speed
        first = acc[acc["output"] == "output_0"].set_index(["device", "variant"])
        table["top1_vs_fp32"] = [first["top1_agreement"].get((r.device, r.variant)) for r in table.itertuples()]
        table["sqnr_db"] = [first["sqnr_db"].get((r.device, r.variant), float("nan")) for r in table.itertuples()]
        if first["accuracy"].notna().any():  # labelled inputs: real top-1 accuracy too
            table["top1_accuracy"] = [first["accuracy"].get((r.device, r.variant)) for r in table.itertuples()]
    return table


def compare(campaign: Campaign | str | os.PathLike[str] | None = None, *, baseline: str, candidate: str,
            by: str = "variant", devices: str | Sequence[str] | None = None,
            threads: int | str | Sequence[int] | None = None, alpha: float = 0.05, top: int = 5,
            scale_ops: bool = False, results: str | None = None) -> pd.DataFrame:
    """``candidate`` against ``baseline`` per device and thread count: one row per comparison with the
    columns of `harness compare --format json` (device, threads, baseline, candidate, n_baseline,
    n_candidate, ratio, ci_low, ci_high, p_value, verdict, top_ops, ...). The ``Comparison``
    objects (with notes and op-level attribution) are in ``frame.attrs["comparisons"]``."""
    import pandas as pd

    comps = comparisons(campaign, baseline=baseline, candidate=candidate, by=by, devices=devices, threads=threads,
                        alpha=alpha, top=top, scale_ops=scale_ops, results=results)
    frame = pd.DataFrame([c.row() for c in comps])
    frame.attrs["comparisons"] = comps
    return frame


def comparisons(campaign: Campaign | str | os.PathLike[str] | None = None, *, baseline: str, candidate: str,
                by: str = "variant", devices: str | Sequence[str] | None = None,
                threads: int | str | Sequence[int] | None = None, alpha: float = 0.05, top: int = 5,
                scale_ops: bool = False, results: str | None = None) -> list[Any]:
    """``compare`` as ``harness.analysis.compare.Comparison`` objects (what `harness compare` renders)."""
    from harness.analysis.compare import compare as compare_results

    c = open_campaign(campaign, results)
    thread_list = None if threads is None else _ints(threads, "--threads")
    device_list = _csv(devices) or None
    return compare_results(c.results(), baseline=baseline, candidate=candidate, campaign=c.name, devices=device_list,
                           threads=thread_list, alpha=alpha, by=by, top=top, scale_ops=scale_ops)


def recommend(campaign: Campaign | str | os.PathLike[str] | None = None, *, results: str | None = None,
              metric: str = "p50", min_agreement: str | float | None = None, min_sqnr: str | float | None = None,
              max_accuracy_drop: str | float | None = None, max_memory: str | float | None = None,
              threads: int | str | Sequence[int] | None = None) -> pd.DataFrame:
    """Which variant to ship on each device and thread count, and why: one row per device x threads
    (the columns of `harness recommend --format json`); the whole answer (farm groups, what sets
    the minority apart, the hint when there are no accuracy runs) in ``frame.attrs["answer"]``.

    Bounds: ``min_agreement`` (top-1 agreement with fp32: 0.99 or "99%"; "int8=98%,dynamic=99%"
    per variant), ``min_sqnr`` (dB), ``max_accuracy_drop`` (points of real top-1 accuracy below
    fp32's, with labelled inputs), ``max_memory`` (MB)."""
    from harness.analysis.recommend import Bounds, parse_bound
    from harness.analysis.recommend import recommend as decide

    c = open_campaign(campaign, results)
    res = c.results()
    known = sorted({str(v) for v in res.runs["variant"].dropna().unique()})

    def bound(value: str | float | None, what: str, percent: bool) -> Any:
        return parse_bound(None if value is None else str(value), what, percent=percent, variants=known)

    bounds = Bounds(min_agreement=bound(min_agreement, "--min-agreement", True),
                    min_sqnr_db=bound(min_sqnr, "--min-sqnr", False),
                    max_accuracy_drop=bound(max_accuracy_drop, "--max-accuracy-drop", True),
                    max_memory_mb=bound(max_memory, "--max-memory", False))
    thread_list = None if threads is None else _ints(threads, "--threads")
    answer = decide(res, root=c.store.root, campaign=c.name, metric=metric, bounds=bounds, threads=thread_list,
                    meta=c.meta())
    frame = answer.frame()
    frame.attrs["answer"] = answer
    return frame


@dataclass(frozen=True)
class ReportFile:
    """A report written: where, of which campaign, the answer in sentences, what to note."""

    path: Path
    campaign: str
    answer: list[str]
    notes: list[str]
    plots: int
    bytes: int


def report(campaign: Campaign | str | os.PathLike[str] | None = None, *, out: str | os.PathLike[str] = "report.html",
           baseline: str | None = None, candidate: str | None = None, detail: int | None = None,
           results: str | None = None) -> ReportFile:
    """Write the campaign's self-contained HTML report to ``out`` (atomically). A campaign of more
    than 4 devices gets the farm's page, where ``detail`` (default 3, at most 6) of the devices
    that differ most from the rest get a section of their own."""
    from harness.analysis.report import build_report
    from harness.fileio import atomic_write_bytes

    c = open_campaign(campaign, results)
    page = build_report(c.store.root, c.name, baseline=baseline, candidate=candidate, detail=detail)
    target = Path(out)
    data = page.html.encode("utf-8")
    atomic_write_bytes(target, data)
    return ReportFile(target, page.campaign, list(page.answer), list(page.notes), page.plots, len(data))
