"""`harness run`: plan, validate, run on the device, land every run, print the summary."""

from __future__ import annotations

from typing import Any

import typer

HELP = """Run a plan of variants x threads x repeats on a device and store the results.

Without flags: the `local` device, the built-in mobilenet_v2 example, all four variants
(fp32, fp16, dynamic, int8), 3 interleaved latency runs each, plus one per-op profile run
per variant in XNNPACK and in builtin kernel mode. Every run lands in --results as soon as
it finishes; naming an existing --campaign resumes it without redoing what landed.
"""


def run(
    device: str = typer.Option("local", "--device", "-d", help="Device name from the inventory."),
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
    repeats: int = typer.Option(3, "--repeats", "-r", help="Latency runs (processes) per variant x threads."),
    profile: bool = typer.Option(True, "--profile/--no-profile", help="Add per-op profile runs."),
    kernels: str = typer.Option(
        "xnnpack", "--kernels", help="Kernels of the latency runs: xnnpack, or builtin (XNNPACK off)."
    ),
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
) -> None:
    from harness.errors import UserError

    if min_runs < 1 or warmup_runs < 0 or profile_runs < 1:
        raise UserError("--min-runs and --profile-runs must be at least 1, --warmup-runs at least 0.")
    if min_seconds < 0 or max_seconds <= 0 or max_seconds < min_seconds:
        raise UserError("--min-seconds must be >= 0 and --max-seconds greater than it.")
    if timeout <= 0:
        raise UserError("--timeout must be positive.")
    if max_attempts < 1 or reconnect_timeout < 0:
        raise UserError("--max-attempts must be at least 1 and --reconnect-timeout at least 0.")
    _run(locals())


def _run(args: dict[str, Any]) -> None:
    import time

    from harness.cli import render
    from harness.config import RUNNERS, RunOptions, load_inventory, parse_variants
    from harness.errors import UserError
    from harness.execute import RetryPolicy
    from harness.plan import KERNELS, build_plan
    from harness.prepare import parse_int_list, resolve_models
    from harness.runners.benchmark_model import BenchmarkFlags
    from harness.store import Store

    inventory = load_inventory(args["inventory"])
    device = inventory.get(args["device"])
    runner = args["runner"] or device.default_runner
    if runner not in RUNNERS:
        raise UserError(f"--runner must be one of {', '.join(RUNNERS)} (got {runner!r}).")
    if args["delegate"] not in ("xnnpack", "none", "gpu", "nnapi"):
        raise UserError(f"--delegate must be xnnpack, none, gpu or nnapi (got {args['delegate']!r}).")
    if runner == "litert" and (args["delegate"] not in ("xnnpack",) or args["big_cores"]):
        raise UserError("--delegate and --big-cores apply to the benchmark_model runner; with litert use "
                        "--kernels xnnpack|builtin.")
    variants = parse_variants(args["variants"])
    threads = parse_int_list(args["threads"], "--threads")
    model_name, files = resolve_models(
        model=args["model"], example=args["example"], variants=variants,
        calibration=args["calibration"], warn=render.warn,
    )
    profile_kernels = [k.strip() for k in args["profile_kernels"].split(",") if k.strip()]
    if not profile_kernels or any(k not in KERNELS for k in profile_kernels):
        raise UserError(f"--profile-kernels takes {', '.join(KERNELS)} (comma-separated), got "
                        f"{args['profile_kernels']!r}.")
    plan = build_plan([device.name], model_name, list(files), threads, args["repeats"],
                      profile=args["profile"], kernels=args["kernels"], profile_kernels=profile_kernels)
    store = Store(args["results"])
    campaign = args["campaign"] or f"{time.strftime('%Y%m%d-%H%M%S')}-{device.name}-{model_name}"
    meta = _campaign_meta(campaign, device.name, model_name, files, args, plan)
    previous = store.read_campaign(campaign)
    if previous is not None:
        _check_resume(previous, meta)
        render.info(f"resuming campaign {campaign}")
    store.write_campaign(campaign, meta)
    options = RunOptions(
        warmup_runs=args["warmup_runs"], min_runs=args["min_runs"], min_s=args["min_seconds"],
        max_s=args["max_seconds"], profile_runs=args["profile_runs"], timeout_s=args["timeout"],
    )
    flags = BenchmarkFlags(delegate=args["delegate"], nnapi_accelerator=args["nnapi_accelerator"])
    policy = RetryPolicy(max_attempts=args["max_attempts"], reconnect_for_s=args["reconnect_timeout"])
    execution = _execute_with_progress(plan, campaign, store, device, files, options,
                                       dict(runner=runner, runner_flags=flags, big_cores=args["big_cores"],
                                            policy=policy))
    _render_summary(store, campaign, execution)
    if execution.failed:
        raise typer.Exit(1)


def _campaign_meta(campaign: str, device: str, model_name: str, files: dict[str, Any],
                   args: dict[str, Any], plan: list[Any]) -> dict[str, Any]:
    from harness import __version__
    from harness.execute import now_iso

    return {
        "campaign": campaign,
        "created_at": now_iso(),
        "harness_version": __version__,
        "devices": [device],
        "model_name": model_name,
        "variants": {v: {"path": str(m.path), "sha256": m.sha256, "bytes": m.bytes} for v, m in files.items()},
        "options": {k: args[k] for k in ("threads", "repeats", "profile", "kernels", "profile_kernels", "min_runs",
                                         "min_seconds",
                                         "max_seconds", "warmup_runs", "profile_runs")},
        "plan": [item.key for item in plan],
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


def _execute_with_progress(plan, campaign, store, device, files, options, runner_args):  # type: ignore[no-untyped-def]
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.text import Text

    from harness.cli import render
    from harness.execute import execute_plan

    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("{task.fields[current]}"), console=render.console(stderr=True), transient=False,
    ) as progress:
        task = progress.add_task(f"{device.name}", total=len(plan), current="preparing")

        def on_event(event):  # type: ignore[no-untyped-def]
            item = event.item
            label = f"{item.variant} t{item.threads} {item.mode}/{item.kernels} r{item.repeat}"
            if event.kind == "start":
                progress.update(task, current=label)
            elif event.kind in ("retry", "waiting"):
                progress.console.print(Text.assemble((event.kind, "yellow"), f" {label}: {event.message}"))
            else:
                progress.advance(task)
                if event.kind == "failed":
                    progress.console.print(Text.assemble(("failed", "red"), f" {label}: {event.message}"))
        return execute_plan(plan, campaign=campaign, store=store, device=device, variants=files,
                            options=options, on_event=on_event, **runner_args)


def _render_summary(store, campaign, execution) -> None:  # type: ignore[no-untyped-def]
    from harness.analysis.summary import summarize
    from harness.cli import render
    from harness.store import load_results

    results = load_results(store.campaign_dir(campaign))
    table = summarize(results, campaign)
    if not table.empty:
        table["vs_fp32"] = table["vs_fp32"].map(lambda r: "" if r != r or r is None else f"{r:.2f}x")
    render.table(table, title=f"campaign {campaign}")
    landed, failed, skipped = len(execution.landed), len(execution.failed), len(execution.skipped)
    render.info(
        f"{landed} runs landed, {failed} failed, {skipped} already there -> {store.campaign_dir(campaign)}"
    )
