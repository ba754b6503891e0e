"""Host side of the official ``benchmark_model`` tool: push it, learn its flags from ``--help``,
run it with the flags of one plan item, pull the op profile it wrote.

Two families of the tool exist and are told apart by their ``--help``:
- classic (TFLite interpreter): ``--use_xnnpack``, ``--enable_op_profiling``,
  ``--op_profiling_output_mode=csv`` + ``--op_profiling_output_file`` (older builds: only
  ``--profiling_output_csv_file``);
- compiled_model (LiteRT CompiledModel, ``litert/tools:benchmark_model``): ``--use_cpu``,
  ``--use_gpu``, ``--use_npu``, ``--use_profiler`` (tables on stdout).
A flag the build does not have is never passed: asking for it is an error naming the build.
The tool itself does not refuse a flag it does not know (nor a repeated one): it prints
``WARN: Unconsumed cmdline flags: ...`` and measures without it, exit 0. A run whose output says
so is failed here, since it did not measure what was asked.

harness's own test double of the tool (tests/doubles) says so in every output (``INFO: TEST
DOUBLE of benchmark_model: ...``); its runs land with ``runner_version = "test-double"``.
"""

from __future__ import annotations

import posixpath
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

from harness.config import Device, RunOptions
from harness.errors import ParseError, RunnerError, RuntimeMissing, TransportError, UserError
from harness.parsers.litert import ParsedRun
from harness.runners.base import RunnerBase, RunnerOutput
from harness.runners.diagnose import device_cause, failure_kind, next_step, one_line
from harness.spec import BenchmarkFlags
from harness.transport.base import Transport, in_fresh_folder, pull_bytes, push_cached

PROFILE_NAME = "ops.csv"
TEST_DOUBLE = "test-double"  # runner_version of the runs of harness's test double of the tool
_FLAG = re.compile(r"^\s*--([A-Za-z0-9_]+)=", re.MULTILINE)
_UNCONSUMED = re.compile(r"^(?:WARN(?:ING)?: )?Unconsumed cmdline flags: ?(?P<flags>.*)$", re.MULTILINE)
_DOUBLE = re.compile(r"^INFO: TEST DOUBLE of benchmark_model: (?P<what>.*)$", re.MULTILINE)


@dataclass(frozen=True)
class ToolInfo:
    """What ``--help`` says about one build."""

    family: str  # classic | compiled_model
    flags: frozenset[str]

    def has(self, flag: str) -> bool:
        return flag in self.flags


def parse_help(text: str) -> ToolInfo:
    flags = frozenset(_FLAG.findall(text))
    if not flags:
        raise RunnerError("benchmark_model --help listed no flags; is this really benchmark_model?")
    family = "compiled_model" if "use_profiler" in flags or "use_npu" in flags else "classic"
    return ToolInfo(family=family, flags=flags)


_CHMOD_FAILED = 99  # the exit code of the set-up command when chmod failed (the tool's --help exits 1)


def big_core_mask(facts: dict[str, object]) -> str | None:
    """taskset mask of the fastest cluster (facts['clusters'] from harness.facts)."""
    clusters = facts.get("clusters")
    if not isinstance(clusters, list) or not clusters:
        return None
    mask = 0
    for cpu in clusters[0].get("cpus", []):
        if isinstance(cpu, str) and cpu[3:].isdigit():
            mask |= 1 << int(cpu[3:])
    return f"{mask:x}" if mask else None


def build_argv(binary: str, model: str, options: RunOptions, flags: BenchmarkFlags, tool: ToolInfo,
               profile_file: str | None) -> list[str]:
    """The command line, in the flags this build speaks. Raises UserError for what it cannot do."""
    args: dict[str, str] = {
        "graph": model,
        "num_threads": str(options.threads),
        "warmup_runs": str(options.warmup_runs),
        "warmup_min_secs": f"{options.warmup_min_s:g}",
        "num_runs": str(options.min_runs),
        "min_secs": f"{options.min_s:g}",
        "max_secs": f"{options.max_s:g}",
    }
    delegate = flags.delegate if options.kernels == "xnnpack" else "none"
    if tool.family == "classic":
        if delegate == "xnnpack":
            args["use_xnnpack"] = "true"
        elif delegate == "none":
            args["use_xnnpack"] = "false"
        elif delegate == "gpu":
            args["use_gpu"] = "true"
        elif delegate == "nnapi":
            args["use_nnapi"] = "true"
            if flags.nnapi_accelerator:
                args["nnapi_accelerator_name"] = flags.nnapi_accelerator
        if options.mode == "profile":
            args["enable_op_profiling"] = "true"
            if profile_file and tool.has("op_profiling_output_mode"):
                args["op_profiling_output_mode"] = "csv"
                args["op_profiling_output_file"] = profile_file
            elif profile_file and tool.has("profiling_output_csv_file"):
                args["profiling_output_csv_file"] = profile_file
    else:
        if delegate == "none":
            raise UserError("this benchmark_model build (LiteRT CompiledModel) cannot turn XNNPACK off; "
                            "use --kernels xnnpack, or a classic TFLite benchmark_model build")
        if delegate == "nnapi":
            raise UserError("the LiteRT CompiledModel benchmark_model has no NNAPI; use a classic build")
        args["use_cpu"] = "true"
        if delegate == "gpu":
            args["use_gpu"] = "true"
        if options.mode == "profile":
            args["use_profiler"] = "true"
    if flags.input_ranges:
        args["input_layer_value_range"] = ":".join(f"{n},{lo},{hi}" for n, lo, hi in flags.input_ranges)
    if flags.peak_memory:
        args["report_peak_memory_footprint"] = "true"
    missing = [k for k in args if not tool.has(k)]
    if missing:
        raise UserError(f"this benchmark_model build ({tool.family}) has no --{', --'.join(missing)}; "
                        "choose options it supports or another build (`harness tools add`).")
    _check_extra(flags.extra, args, tool)
    argv = [binary, *(f"--{k}={v}" for k, v in args.items()), *flags.extra]
    if flags.cpu_mask:
        argv = ["taskset", flags.cpu_mask, *argv]
    return argv


def _check_extra(extra: tuple[str, ...], args: dict[str, str], tool: ToolInfo) -> None:
    """Extra flags the tool would ignore (it only warns, then measures without them): refused."""
    for flag in extra:
        name, eq, _ = flag.removeprefix("--").partition("=")
        if not flag.startswith("--") or not eq or not name:
            raise UserError(f"extra benchmark_model flag {flag!r}: write it as --name=value (the tool ignores "
                            "other forms)")
        if name in args:
            raise UserError(f"extra benchmark_model flag {flag!r}: harness sets --{name} itself (the tool "
                            "ignores a repeated flag); use harness's own option instead")
        if not tool.has(name):
            raise UserError(f"this benchmark_model build ({tool.family}) has no --{name} (extra flag {flag!r}); "
                            "the tool would ignore it and measure without it")


class BenchmarkModelRunner(RunnerBase):
    """Runs models through benchmark_model on one device. Constructing it does no I/O."""

    name = "benchmark_model"

    def __init__(self, device: Device, transport: Transport, binary: Path, flags: BenchmarkFlags | None = None,
                 version: str = "unknown") -> None:
        super().__init__(device, transport)
        self.binary = Path(binary)
        self.flags = flags or BenchmarkFlags()
        self.version = version
        self.tool: ToolInfo | None = None
        self._remote: str | None = None

    def prepare(self) -> None:
        remote, sent = push_cached(self.transport, self.binary)
        self.bytes_pushed += sent
        # made executable and asked its flags in one round trip (a pushed file has no mode bits)
        helped = self.transport.run(["sh", "-c", f'chmod 755 "$1" || exit {_CHMOD_FAILED}; exec "$1" --help', "sh",
                                     remote], timeout_s=60)
        if helped.exit_code == _CHMOD_FAILED and not helped.stdout:
            raise TransportError(f"{self.device.name}: cannot make {remote} executable: "
                                 f"{helped.text('stderr').strip()}")
        # the tool prints its usage on stderr and exits 1; both streams together
        self.tool = parse_help(helped.text() + "\n" + helped.text("stderr"))
        self._remote = remote
        for mode in ("latency", "profile"):  # options this build cannot honour fail here, before any run
            build_argv(remote, "model.tflite", RunOptions(mode=mode), self.flags, self.tool, "ops.csv")

    def run(self, model_remote: str, options: RunOptions) -> RunnerOutput:
        if self._remote is None or self.tool is None:
            self.prepare()
        assert self._remote is not None and self.tool is not None
        if options.mode != "profile":  # the tool writes no file: one command, no scratch folder
            argv = build_argv(self._remote, model_remote, options, self.flags, self.tool, None)
            return RunnerOutput(command=self.transport.run(argv, timeout_s=options.timeout_s), files={})
        scratch = posixpath.join(self.transport.workdir(), "runs", uuid.uuid4().hex)
        profile_file = posixpath.join(scratch, PROFILE_NAME)
        try:
            argv = build_argv(self._remote, model_remote, options, self.flags, self.tool, profile_file)
            command = self.transport.run(in_fresh_folder(scratch, argv), timeout_s=options.timeout_s)
            profile = self._pull_profile(profile_file, written=command.ok)
            return RunnerOutput(command=command, files={PROFILE_NAME: profile} if profile is not None else {})
        finally:
            try:
                self.transport.run(["rm", "-rf", scratch], timeout_s=30)
            except TransportError:
                pass

    def _pull_profile(self, remote: str, written: bool) -> bytes | None:
        """The profile file the tool wrote, or None. After a run that succeeded it is pulled at once
        (one round trip, no existence check first); if that fails, or the run failed, the device is
        asked whether the file is there: a build that printed its profile elsewhere wrote none."""
        if written:
            try:
                return pull_bytes(self.transport, remote, expected=True)
            except TransportError:
                pass  # not there (a build that ignored the flag), or the link: the probe tells which
        return pull_bytes(self.transport, remote)

    def parse(self, output: RunnerOutput) -> ParsedRun:
        """One run from the tool's output: stdout + stderr (its ERROR lines go to stderr), with the
        op rows of the CSV profile file where the build wrote one."""
        from harness.parsers import benchmark_model as bm

        command = output.command
        text = command.text() + "\n" + command.text("stderr")
        try:
            parsed = bm.parse_text(text)
        except ParseError:
            if command.exit_code == 0:
                raise
            raise self._failed_to_start(command.exit_code, command.text("stderr"), command.text()) from None
        if not parsed.runs:
            raise ParseError("benchmark output", text[-300:])
        one = parsed.runs[-1]
        run = dict(one.run)
        ops = list(one.ops)
        if PROFILE_NAME in output.files:
            profile = bm.parse_csv(output.files[PROFILE_NAME].decode("utf-8", errors="replace"))
            if profile.runs:
                ops = list(profile.runs[0].ops)
                # with the profile in a file, stdout has no invoke total; the file has it
                if run.get("profile_invoke_us") is None:
                    run["profile_invoke_us"] = profile.runs[0].run.get("profile_invoke_us")
        double = _DOUBLE.search(command.text())
        run["runner_version"] = TEST_DOUBLE if double else self.version
        if not run.get("runtime") and self.tool is not None:
            run["runtime"] = "tflite_interpreter" if self.tool.family == "classic" else "litert_compiled_model"
        run["runtime_version"] = run["runner_version"]
        if command.exit_code != 0 and run.get("status") == "ok":
            run["status"] = "failed"
            run["error_class"] = "BenchmarkFailed"
            run["error_message"] = f"benchmark_model exited with code {command.exit_code}"
        ignored = _UNCONSUMED.search(text)
        if ignored and run.get("status") == "ok":
            run["status"] = "failed"
            run["error_class"] = "UsageError"
            ignored_flags = ignored.group("flags").strip()
            run["error_message"] = (f"benchmark_model ignored flags it does not take ({ignored_flags}: "
                                    "'Unconsumed cmdline flags') and measured without them")
        if run.get("status") == "failed":
            run["error_message"] = self._explained(run.get("error_message") or "", command.exit_code,
                                                   command.text("stderr"))
        facts = {"runtime_note": f"test double of benchmark_model: {double.group('what').strip()}"} if double else {}
        return ParsedRun(run=run, ops=ops, samples=[], facts=facts)

    def _explained(self, message: str, exit_code: int, stderr: str) -> str:
        """A failure's message with the device-side cause (when the tool's output lacks it, e.g. a
        kill) and what to do next, in one line."""
        cause = device_cause(stderr, exit_code)
        if cause and cause not in message:
            message = f"{message}: {cause}" if message else cause
        step = next_step(message, self.device, self.name, exit_code)
        return one_line(f"{message}; {step}" if step else message)

    def _failed_to_start(self, exit_code: int, stderr: str, stdout: str) -> RunnerError:
        """The tool printed nothing a benchmark prints (it could not start, or died at once)."""
        lines = [line for line in (stderr or stdout).splitlines() if line.strip()]
        cause = device_cause(stderr, exit_code) or (one_line(lines[-1])[-300:] if lines else "no output")
        message = f"benchmark_model exited with code {exit_code} before benchmarking: {cause}"
        step = next_step(cause, self.device, self.name, exit_code)
        missing = failure_kind(cause, exit_code) in ("not_found", "missing_library", "wrong_abi")
        return (RuntimeMissing if missing else RunnerError)(one_line(f"{message}; {step}" if step else message))
