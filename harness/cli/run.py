"""`harness run`: plan, validate, run on the device, land every run, print the summary."""

from __future__ import annotations

from typing import Any

import typer

HELP = """Run a plan of variants x threads x repeats on a device and store the results.

Without flags: the `local` device, the built-in mobilenet_v2 example, all four variants
(fp32, fp16, dynamic, int8), 5 interleaved latency runs each, plus one per-op profile run
per variant in XNNPACK and in builtin kernel mode. Every run lands in --results as soon as
it finishes; naming an existing --campaign resumes it without redoing what landed.
"""


def run(
    device: str = typer.Option(
        "local", "--device", "-d", help="Device(s): an inventory name, an attached phone's serial or model (pixel), "
        "ssh://user@host[:port], or tag:TAG; comma-separated for several."
    ),
    all_devices: bool = typer.Option(False, "--all", help="Every device in the inventory."),
    busy: str = typer.Option("wait", "--busy", help="A device another controller holds: wait or skip."),
    lease_ttl: float = typer.Option(
        60.0, "--lease-ttl", help="Seconds a device lease outlives its holder (renewed while running)."
    ),
    resume: str | None = typer.Option(
        None, "--resume", help="Finish CAMPAIGN as it was started (its model files, plan and options)."
    ),
    runner: str | None = typer.Option(
        None, "--runner", help="litert or benchmark_model (default: the device's; benchmark_model on adb devices)."
    ),
    delegate: str = typer.Option(
        "xnnpack", "--delegate", help="benchmark_model only: xnnpack, none, gpu or nnapi."
    ),
    nnapi_accelerator: str | None = typer.Option(
        None, "--nnapi-accelerator", help="benchmark_model with --delegate nnapi: the accelerator name."
    ),
    big_cores: bool = typer.Option(
        False, "--big-cores", help="benchmark_model: pin to the device's fastest CPU cluster (taskset)."
    ),
    model: str | None = typer.Option(
        None, "--model", "-m", help="A .tflite file, or a Keras file / SavedModel folder to convert."
    ),
    example: str | None = typer.Option(
        None, "--example", "-e", help="A built-in example model (see `harness models example --list`)."
    ),
    variants: str = typer.Option("fp32,fp16,dynamic,int8", "--variants", help="Comma-separated variants."),
    threads: str = typer.Option("1", "--threads", "-t", help="Comma-separated thread counts, e.g. 1,2,4."),
    repeats: int = typer.Option(5, "--repeats", "-r", help="Latency runs (processes) per variant x threads."),
    profile: bool = typer.Option(True, "--profile/--no-profile", help="Add per-op profile runs."),
    kernels: str = typer.Option(
        "xnnpack", "--kernels", help="Kernels of the latency runs: xnnpack, or builtin (XNNPACK off)."
    ),
    accuracy: bool = typer.Option(
        False, "--accuracy/--no-accuracy",
        help="Add one accuracy run per variant: its outputs vs fp32's on the same inputs."
    ),
    inputs: str | None = typer.Option(
        None, "--inputs", help="Accuracy inputs (.npz, one array per model input, samples first); default: "
        "--samples deterministic synthetic inputs."
    ),
    samples: int = typer.Option(32, "--samples", help="Synthetic inputs per accuracy run."),
    profile_kernels: str = typer.Option(
        "xnnpack,builtin", "--profile-kernels", help="Kernel modes of the profile runs (comma-separated)."
    ),
    min_runs: int = typer.Option(50, "--min-runs", help="Timed invokes per run, at least."),
    min_seconds: float = typer.Option(1.0, "--min-seconds", help="Seconds of timed invokes per run, at least."),
    max_seconds: float = typer.Option(150.0, "--max-seconds", help="Stop timing a run after this long."),
    warmup_runs: int = typer.Option(1, "--warmup-runs", help="Warm-up invokes per run, at least."),
    profile_runs: int = typer.Option(20, "--profile-runs", help="Profiled invokes per profile run."),
    results: str = typer.Option("results", "--results", help="The results store (a folder)."),
    campaign: str | None = typer.Option(
        None, "--campaign", help="Campaign name (default: time-device-model); an existing one is resumed."
    ),
    calibration: str | None = typer.Option(
        None, "--calibration", help="Calibration data (.npy / .npz) when converting to int8."
    ),
    inventory: str | None = typer.Option(None, "--inventory", help="The inventory file (devices.toml)."),
    timeout: float = typer.Option(600.0, "--timeout", help="Deadline of one run on the device, seconds."),
    max_attempts: int = typer.Option(
        3, "--max-attempts", help="Attempts per run when the device or link fails (invalid models are not retried)."
    ),
    reconnect_timeout: float = typer.Option(
        120.0, "--reconnect-timeout", help="How long a device that vanished may take to come back, seconds."
    ),
    precision: str | None = typer.Option(
        None, "--precision", help="Adaptive repeats: add interleaved repeats until every variant's median is known "
        "within ±PRECISION (e.g. 2%) at 95 % confidence, bounded by --max-time."
    ),
    max_time: float = typer.Option(600.0, "--max-time", help="With --precision: stop adding repeats after this "
                                   "many seconds."),
    cooldown: str | None = typer.Option(
        None, "--cooldown", help="Before each run: wait SECONDS, or 'auto' = until the device is back within 2 °C "
        "of its idle temperature (at most 300 s)."
    ),
    exclude_throttled: bool = typer.Option(
        True, "--exclude-throttled/--keep-throttled",
        help="Runs that start or end throttled: inconclusive and retried after --retry-cooldown (default), or kept "
        "and flagged.",
    ),
    retry_cooldown: float = typer.Option(
        30.0, "--retry-cooldown", help="Wait before retrying a run measured while the device throttled, seconds."
    ),
    cluster: str | None = typer.Option(
        None, "--cluster", help="Run on the Dask cluster at ADDRESS, whose `harness farm worker`s own the devices."
    ),
) -> None:
    import os

    from harness.errors import UserError

    if min_runs < 1 or warmup_runs < 0 or profile_runs < 1:
        raise UserError("--min-runs and --profile-runs must be at least 1, --warmup-runs at least 0.")
    if min_seconds < 0 or max_seconds <= 0 or max_seconds < min_seconds:
        raise UserError("--min-seconds must be >= 0 and --max-seconds greater than it.")
    if timeout <= 0:
        raise UserError("--timeout must be positive.")
    if max_attempts < 1 or reconnect_timeout < 0 or retry_cooldown < 0:
        raise UserError("--max-attempts must be at least 1; --reconnect-timeout and --retry-cooldown at least 0.")
    if inputs is not None and not os.path.isfile(inputs):
        raise UserError(f"--inputs {inputs} does not exist; pass a .npz with one array per model input.")
    if samples < 1:
        raise UserError("--samples must be at least 1.")
    if precision is not None:
        from harness.precision import parse_precision

        parse_precision(precision)
        if max_time <= 0:
            raise UserError("--max-time must be positive.")
    if cooldown is not None and cooldown != "auto":
        try:
            if float(cooldown) < 0:
                raise ValueError
        except ValueError:
            raise UserError(f"--cooldown takes seconds or 'auto' (got {cooldown!r}).") from None
    if lease_ttl < 2:
        raise UserError("--lease-ttl must be at least 2 seconds.")
    if busy not in ("wait", "skip"):
        raise UserError(f"--busy must be wait or skip (got {busy!r}).")
    args = locals()
    if resume:
        args = _resumed_args(args)
    _run(args)


# what a campaign remembers of the command that started it (everything but where the store is)
RESUMABLE = ("device", "all_devices", "runner", "delegate", "nnapi_accelerator", "big_cores", "model", "example",
             "variants", "threads", "repeats", "profile", "kernels", "profile_kernels", "min_runs", "min_seconds",
             "max_seconds", "warmup_runs", "profile_runs", "calibration", "inventory", "timeout", "max_attempts",
             "reconnect_timeout", "retry_cooldown", "busy", "lease_ttl", "accuracy", "inputs", "samples",
             "cooldown", "exclude_throttled", "precision", "max_time")


def _resumed_args(args: dict[str, Any]) -> dict[str, Any]:
    from harness.errors import UserError
    from harness.store import Store

    store = Store(args["results"])
    meta = store.read_campaign(args["resume"])
    if meta is None:
        known = store.campaigns()
        raise UserError(f"No campaign {args['resume']!r} in {store.root}" +
                        (f"; it has {', '.join(known[-5:])}." if known else "."))
    if "args" not in meta:
        raise UserError(f"campaign {args['resume']} was made by an older harness that did not record its "
                        "command; run it again with --campaign and the same options instead.")
    resumed = {**args, **{k: meta["args"][k] for k in RESUMABLE if k in meta["args"]}}
    resumed["campaign"] = args["resume"]
    resumed["pinned_variants"] = meta["variants"]
    resumed["pinned_model_name"] = meta["model_name"]
    return resumed


def _run(args: dict[str, Any]) -> None:
    import os
    import time

    from harness.cli import render
    from harness.config import RUNNERS, RunOptions, load_inventory, parse_variants
    from harness.errors import UserError
    from harness.execute import Control, RetryPolicy
    from harness.plan import KERNELS, build_plan, builtin_skips
    from harness.prepare import builtin_kernel_gaps, parse_int_list, pinned_models, resolve_models
    from harness.resolve import select_devices
    from harness.runners.benchmark_model import BenchmarkFlags
    from harness.store import Store

    inventory = load_inventory(args["inventory"])
    devices = select_devices(inventory, args["device"], args["all_devices"])
    if args.get("cluster"):
        from harness.cluster import check_cluster

        unnamed = [d.name for d in devices if d.name not in inventory.devices]
        if unnamed:
            raise UserError(f"--cluster runs devices by their inventory names (each worker owns its own); "
                            f"{', '.join(unnamed)} has no entry: add it with `harness devices add` on the controller "
                            "and on the worker that owns it.")

        check_cluster(args["cluster"], [d.name for d in devices])  # before anything is written
    runner = args["runner"]
    if runner is not None and runner not in RUNNERS:
        raise UserError(f"--runner must be one of {', '.join(RUNNERS)} (got {runner!r}).")
    if args["delegate"] not in ("xnnpack", "none", "gpu", "nnapi"):
        raise UserError(f"--delegate must be xnnpack, none, gpu or nnapi (got {args['delegate']!r}).")
    uses_litert = [d.name for d in devices if (runner or d.default_runner) == "litert"]
    if uses_litert and (args["delegate"] != "xnnpack" or args["big_cores"]):
        raise UserError(f"--delegate and --big-cores apply to the benchmark_model runner; {', '.join(uses_litert)} "
                        "use litert: there, use --kernels xnnpack|builtin.")
    variants = parse_variants(args["variants"])
    threads = parse_int_list(args["threads"], "--threads")
    if args.get("pinned_variants"):
        model_name, files = args["pinned_model_name"], pinned_models(args["pinned_variants"])
    else:
        model_name, files = resolve_models(
            model=args["model"], example=args["example"], variants=variants,
            calibration=args["calibration"], warn=render.warn,
        )
    profile_kernels = [k.strip() for k in args["profile_kernels"].split(",") if k.strip()]
    if not profile_kernels or any(k not in KERNELS for k in profile_kernels):
        raise UserError(f"--profile-kernels takes {', '.join(KERNELS)} (comma-separated), got "
                        f"{args['profile_kernels']!r}.")
    names = [d.name for d in devices]
    no_builtin = builtin_kernel_gaps(files)  # ops only XNNPACK implements
    plan = build_plan(names, model_name, list(files), threads, args["repeats"],
                      profile=args["profile"], kernels=args["kernels"], profile_kernels=profile_kernels,
                      accuracy=args["accuracy"] or bool(args["inputs"]), no_builtin=no_builtin)
    skips = builtin_skips(list(files), profile=args["profile"], profile_kernels=profile_kernels,
                          no_builtin=no_builtin)
    for skip in skips:
        render.warn(f"{model_name} {skip.variant}: no {skip.kernels}-kernel {skip.mode} runs: {skip.reason}.")
    store = Store(args["results"])
    where = names[0] if len(names) == 1 else f"{len(names)}devices"
    campaign = args["campaign"] or f"{time.strftime('%Y%m%d-%H%M%S')}-{where}-{model_name}"
    meta = _campaign_meta(campaign, names, model_name, files, args, plan, skips)
    previous = store.read_campaign(campaign)
    if previous is not None:
        _check_resume(previous, meta)
        render.info(f"resuming campaign {campaign}")
    store.write_campaign(campaign, meta)
    options = RunOptions(
        warmup_runs=args["warmup_runs"], min_runs=args["min_runs"], min_s=args["min_seconds"],
        max_s=args["max_seconds"], profile_runs=args["profile_runs"], timeout_s=args["timeout"],
        samples=args["samples"], inputs_file=os.path.abspath(args["inputs"]) if args["inputs"] else None,
    )
    flags = BenchmarkFlags(delegate=args["delegate"], nnapi_accelerator=args["nnapi_accelerator"])
    control = Control(cooldown_s=float(args["cooldown"]) if args["cooldown"] not in (None, "auto") else None,
                      cooldown_auto=args["cooldown"] == "auto", exclude_throttled=args["exclude_throttled"])
    policy = RetryPolicy(max_attempts=args["max_attempts"], reconnect_for_s=args["reconnect_timeout"],
                         cooldown_s=args["retry_cooldown"])
    runner_args = dict(runner=runner, runner_flags=flags, big_cores=args["big_cores"], policy=policy,
                       lease=_lease_factory(args["busy"], args["lease_ttl"]), control=control)
    started = time.monotonic()
    result = _execute_with_progress(plan, campaign, store, devices, files, options, runner_args,
                                    cluster=args.get("cluster"))
    if args.get("precision"):
        from harness.precision import half_widths, parse_precision, precise_enough
        from harness.store import load_results

        target, repeats = parse_precision(args["precision"]), args["repeats"]
        while True:
            widths = half_widths(load_results(store.campaign_dir(campaign)).runs)
            widest = max((w for w in widths.values() if w is not None), default=None)
            if precise_enough(widths, target):
                render.info(f"precision reached with {repeats} repeats: every median within ±{100 * widest:.1f} %")
                break
            if time.monotonic() - started > args["max_time"] or not result.ok:
                shown = "not yet computable" if widest is None else f"±{100 * widest:.1f} % at worst"
                render.warn(f"--precision {args['precision']} not reached after {repeats} repeats ({shown}); "
                            + ("a run failed." if not result.ok else "--max-time is up."))
                break
            repeats += max(2, repeats // 2)
            plan = build_plan(names, model_name, list(files), threads, repeats, profile=args["profile"],
                              kernels=args["kernels"], profile_kernels=profile_kernels,
                              accuracy=args["accuracy"] or bool(args["inputs"]), no_builtin=no_builtin)
            store.write_campaign(campaign, {**meta, "plan": [item.key for item in plan]})
            render.info(f"precision: widest interval ±{'?' if widest is None else f'{100 * widest:.1f}'} %, "
                        f"target ±{100 * target:g} %: going to {repeats} repeats")
            result = _execute_with_progress(plan, campaign, store, devices, files, options, runner_args,
                                            cluster=args.get("cluster"))
    _render_summary(store, campaign, result)
    if result.user_errors:  # options or set-up the user must fix: one line each, exit 2
        for name, message in result.user_errors.items():
            render.error(f"{name}: {message}")
        raise typer.Exit(2)
    if not result.ok:
        raise typer.Exit(1)


def _lease_factory(busy: str, ttl_s: float):  # type: ignore[no-untyped-def]
    """An acquired lease on a device (waited for, or DeviceBusy with --busy skip); execute_plan
    keeps it across reconnects, confirms it after every run and releases it at the end."""

    def lease(transport):  # type: ignore[no-untyped-def]
        from harness.lease import DeviceLease

        held = DeviceLease(transport, ttl_s=ttl_s)
        held.acquire(wait=busy == "wait")
        return held

    return lease


def _campaign_meta(campaign: str, devices: list[str], model_name: str, files: dict[str, Any],
                   args: dict[str, Any], plan: list[Any], skips: list[Any] | None = None) -> dict[str, Any]:
    from harness import __version__
    from harness.execute import now_iso

    return {
        "campaign": campaign,
        "created_at": now_iso(),
        "harness_version": __version__,
        "devices": devices,
        "model_name": model_name,
        "variants": {v: {"path": str(m.path), "sha256": m.sha256, "bytes": m.bytes} for v, m in files.items()},
        "options": {k: args[k] for k in ("threads", "repeats", "profile", "kernels", "profile_kernels", "min_runs",
                                         "min_seconds",
                                         "max_seconds", "warmup_runs", "profile_runs")},
        "plan": [item.key for item in plan],
        "skipped": [skip.to_dict() for skip in skips or []],  # runs left out on purpose, with the reason
        "args": {k: args[k] for k in RESUMABLE},
    }


def _check_resume(previous: dict[str, Any], meta: dict[str, Any]) -> None:
    from harness.errors import UserError

    old = {v: d["sha256"] for v, d in previous.get("variants", {}).items()}
    new = {v: d["sha256"] for v, d in meta["variants"].items()}
    changed = sorted(v for v in old.keys() & new.keys() if old[v] != new[v])
    if changed:
        raise UserError(
            f"campaign {meta['campaign']} measured other model files for {', '.join(changed)}; "
            "resume it with the same model, or pass a new --campaign name."
        )
    meta["created_at"] = previous.get("created_at", meta["created_at"])


def _execute_with_progress(plan, campaign, store, devices, files, options, runner_args,  # type: ignore[no-untyped-def]
                           cluster=None):
    """The farm with a live view: one row per device (state, current run, done / failed / left);
    in-process, or on the Dask cluster at ``cluster``."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.text import Text

    from harness.cli import render
    from harness.farm import run_farm

    totals = {d.name: sum(1 for i in plan if i.device == d.name) for d in devices}
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(bar_width=24), MofNCompleteColumn(),
        TextColumn("{task.fields[failed]} failed"), TimeElapsedColumn(), TextColumn("{task.fields[current]}"),
        console=render.console(stderr=True), transient=False,
    ) as progress:
        tasks = {name: progress.add_task(name, total=total, current="connecting", failed=0)
                 for name, total in totals.items()}
        failed = dict.fromkeys(totals, 0)

        def on_event(event):  # type: ignore[no-untyped-def]
            item = event.item
            task = tasks[item.device]
            label = f"{item.variant} t{item.threads} {item.mode}/{item.kernels} r{item.repeat}"
            if event.kind == "start":
                progress.update(task, current=label)
            elif event.kind in ("retry", "waiting"):
                progress.update(task, current=f"{event.kind}: {label}")
                progress.console.print(
                    Text.assemble((event.kind, "yellow"), f" {item.device} {label}: {event.message}"))
            else:
                progress.advance(task)
                if event.kind == "failed":
                    failed[item.device] += 1
                    progress.update(task, failed=failed[item.device])
                    progress.console.print(Text.assemble(("failed", "red"), f" {item.device} {label}: {event.message}"))

        def on_device(name, state, detail):  # type: ignore[no-untyped-def]
            progress.update(tasks[name], current=state if not detail else f"{state}: {detail}"[:60])

        if cluster:
            from harness.cluster import run_on_cluster

            return run_on_cluster(cluster, devices, plan, campaign=campaign, store=store, variants=files,
                                  options=options, on_event=on_event, on_device=on_device, **runner_args)
        return run_farm(devices, plan, campaign=campaign, store=store, variants=files, options=options,
                        on_event=on_event, on_device=on_device, **runner_args)


def _pct(value) -> str:  # type: ignore[no-untyped-def]
    return "" if value is None or value != value else f"{100 * value:.1f} %"


def _db(value, variant: str) -> str:  # type: ignore[no-untyped-def]
    if variant == "fp32":
        return "ref"
    return "identical" if value is None else "" if value != value else f"{value:.1f}"


def _render_warnings(runs) -> None:  # type: ignore[no-untyped-def]
    """Stability warnings on every result (spread, outliers, few runs, throttling, emulator)."""
    from harness.analysis.stats import stability_warnings
    from harness.cli import render

    latency = runs[runs["mode"] == "latency"]
    for (device, threads, variant), group in latency.groupby(["device", "threads", "variant"], observed=True):
        for message in stability_warnings(group, f"{device} {variant} t{threads}"):
            render.warn(str(message))


def _render_summary(store, campaign, result) -> None:  # type: ignore[no-untyped-def]
    import pandas as pd

    from harness.analysis.accuracy import accuracy_table
    from harness.analysis.summary import summarize
    from harness.cli import render
    from harness.store import load_results

    results = load_results(store.campaign_dir(campaign))
    table = summarize(results, campaign)
    if not table.empty:
        table["vs_fp32"] = table["vs_fp32"].map(lambda r: "" if r != r or r is None else f"{r:.2f}x")
    acc = accuracy_table(store.root, results.runs)
    if not acc.empty:  # the first output's accuracy against fp32, beside the speed
        first = acc[acc["output"] == "output_0"].set_index(["device", "variant"])
        table["top1_vs_fp32"] = [_pct(first["top1_agreement"].get((r.device, r.variant))) for r in table.itertuples()]
        table["sqnr_db"] = [_db(first["sqnr_db"].get((r.device, r.variant), float("nan")), r.variant)
                            for r in table.itertuples()]
    render.table(table, title=f"campaign {campaign}")
    _render_warnings(results.runs)
    problems = [{"run / device": r.split("/", 1)[-1], "why": why} for r, why in result.failed]
    problems += [{"run / device": name, "why": why} for name, why in {**result.errors, **result.busy}.items()]
    problems += [{"run / device": name, "why": "see below"} for name in result.user_errors]
    if problems:
        render.table(pd.DataFrame(problems), title="what did not land")
    render.info(
        f"{len(result.landed)} runs landed, {len(result.failed)} failed, {len(result.skipped)} already there"
        + (f", {len(result.errors)} device(s) could not run" if result.errors else "")
        + (f", {len(result.busy)} device(s) busy (skipped)" if result.busy else "")
        + f" -> {store.campaign_dir(campaign)}"
    )
