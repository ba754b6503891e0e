"""`harness run`: parse the options, call ``harness.run`` with a live view, render the outcome."""

from __future__ import annotations

from collections.abc import Mapping
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
    labels: str | None = typer.Option(
        None, "--labels", help="With --inputs: FILE.npy, one integer class per sample, for real top-1 accuracy per "
        "variant beside agreement with fp32."
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
        None, "--cluster", help="Run on the Dask cluster at ADDRESS (tls://HOST:PORT), whose `harness farm worker`s "
        "own the devices."
    ),
    tls: str | None = typer.Option(
        None, "--tls", metavar="DIR", help="With --cluster tls://: the farm's certificates (`harness farm certs DIR`; "
        "default ~/.config/harness/tls)."
    ),
    insecure: bool = typer.Option(False, "--insecure", help="Allow --cluster tcp:// to a scheduler on another host."),
) -> None:
    from harness import api
    from harness.cli import render
    from harness.errors import UserError

    args = {k: v for k, v in locals().items() if k not in ("api", "render", "UserError")}
    with _Progress() as progress:
        try:
            ran = api.run(**args, on_event=progress.on_event, on_device=progress.on_device,
                          on_start=progress.on_start, warn=render.warn)
        except UserError as exc:
            partly = getattr(exc, "campaign", None)
            if partly is None:
                raise
            progress.close()
            _render_outcome(partly)  # the other devices' runs landed: show them, then what to fix (exit 2)
            for name, error in partly.outcome.user_errors.items():
                if error is not exc:
                    render.error(f"{name}: {error}")
            raise
    for note in ran.notes:
        render.info(note)
    _render_outcome(ran)
    if not ran.ok:
        raise typer.Exit(1)


class _Progress:
    """The live view: one row per device (done / total, failed, elapsed, current run or state)."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from harness.cli import render

        self.progress = Progress(
            TextColumn("{task.description}", markup=False, style="bold"), BarColumn(bar_width=24),
            MofNCompleteColumn(), TextColumn("{task.fields[failed]} failed"), TimeElapsedColumn(),
            TextColumn("{task.fields[current]}", markup=False),
            console=render.console(stderr=True), transient=False,
        )
        self.tasks: dict[str, Any] = {}
        self.failed: dict[str, int] = {}
        self._open = False

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._open:
            self.progress.stop()
            self._open = False

    def on_start(self, campaign: str, totals: Mapping[str, int]) -> None:
        from harness.cli.render import clean

        if not self._open:
            self.progress.start()
            self._open = True
        for name, total in totals.items():
            if name in self.tasks:  # another round (adaptive repeats): its plan again, landed runs skipped
                self.progress.reset(self.tasks[name], total=total, current="", failed=0)
                self.failed[name] = 0
                continue
            self.tasks[name] = self.progress.add_task(clean(name), total=total, current="connecting", failed=0)
            self.failed[name] = 0

    def on_event(self, event: Any) -> None:
        from harness.cli.render import clean, text

        item = event.item
        task = self.tasks[item.device]
        label = f"{item.variant} t{item.threads} {item.mode}/{item.kernels} r{item.repeat}"
        if event.kind == "start":
            self.progress.update(task, current=clean(label))
        elif event.kind in ("retry", "waiting"):
            self.progress.update(task, current=clean(f"{event.kind}: {label}"))
            self.progress.console.print(text((event.kind, "yellow"), f" {item.device} {label}: {event.message}"))
        else:
            self.progress.advance(task)
            if event.kind == "failed":
                self.failed[item.device] += 1
                self.progress.update(task, failed=self.failed[item.device])
                self.progress.console.print(text(("failed", "red"), f" {item.device} {label}: {event.message}"))

    def on_device(self, name: str, state: str, detail: str) -> None:
        from harness.cli.render import clean

        self.progress.update(self.tasks[name], current=clean(state if not detail else f"{state}: {detail}"[:60]))


def _pct(value: Any) -> str:
    return "" if value is None or value != value else f"{100 * value:.1f} %"


def _db(value: Any, variant: str) -> str:
    if variant == "fp32":
        return "ref"
    return "identical" if value is None else "" if value != value else f"{value:.1f}"


def _render_warnings(runs: Any) -> None:
    """Stability warnings on every result (spread, outliers, few runs, throttling, emulator)."""
    from harness.analysis.stats import stability_warnings
    from harness.cli import render

    latency = runs[runs["mode"] == "latency"]
    for (device, threads, variant), group in latency.groupby(["device", "threads", "variant"], observed=True):
        for message in stability_warnings(group, f"{device} {variant} t{threads}"):
            render.warn(str(message))


def _render_outcome(campaign: Any) -> None:
    """The summary table, the stability warnings, what did not land and why, the counts."""
    import pandas as pd

    from harness.cli import render

    table = campaign.summary()
    if not table.empty:
        table["vs_fp32"] = table["vs_fp32"].map(lambda r: "" if r != r or r is None else f"{r:.2f}x")
        if "top1_vs_fp32" in table:
            table["top1_vs_fp32"] = table["top1_vs_fp32"].map(_pct)
            table["sqnr_db"] = [_db(v, variant) for v, variant in zip(table["sqnr_db"], table["variant"], strict=True)]
        if "top1_accuracy" in table:
            table["top1_accuracy"] = table["top1_accuracy"].map(_pct)
    render.table(table, title=f"campaign {campaign.name}")
    _render_warnings(campaign.results().runs)
    outcome = campaign.outcome
    problems = [{"run / device": r.split("/", 1)[-1], "why": why} for r, why in outcome.failed]
    problems += [{"run / device": name, "why": str(error)} for name, error in outcome.errors.items()
                 if name not in outcome.user_errors]
    problems += [{"run / device": name, "why": "see below"} for name in outcome.user_errors]
    if problems:
        render.table(pd.DataFrame(problems), title="what did not land")
    render.info(
        f"{len(outcome.landed)} runs landed, {len(outcome.failed)} failed, {len(outcome.skipped)} already there"
        + (f", {len(outcome.device_errors)} device(s) could not run" if outcome.device_errors else "")
        + (f", {len(outcome.busy)} device(s) busy (skipped)" if outcome.busy else "")
        + f" -> {campaign.path}"
    )
    _render_answer(campaign)


def _render_answer(campaign: Any) -> None:
    """The one-line answer per device (harness recommend's, with no bounds), when there is a choice."""
    from harness import api
    from harness.cli import render
    from harness.errors import HarnessError

    latency = campaign.results().runs
    latency = latency[(latency["mode"] == "latency") & (latency["status"] == "ok")]
    if latency["variant"].nunique() < 2:
        return
    try:
        answer = api.recommend(campaign).attrs["answer"]
    except HarnessError as exc:  # e.g. a device with too few runs: the table above says enough
        render.warn(f"no recommendation: {exc}")
        return
    for rec in answer.rows:
        render.info(f"answer: {rec.sentence()}")
    if len(answer.rows) > 1:
        render.info("answer across the devices: " + "; ".join(answer.groups) + " (`harness recommend` says why)")
