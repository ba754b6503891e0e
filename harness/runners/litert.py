"""Host side of the litert runner: push ``device_scripts/litert_runner.py`` and the model,
run it with the options of one plan item, pull its result file back.

The measured code runs in its own process on the device and reports through a result
file, never through stdout (pyperf's runner/worker split).
"""

from __future__ import annotations

import posixpath
import sys
import uuid
from pathlib import Path

from harness.config import Device, RunOptions
from harness.errors import RunnerError, RuntimeMissing, TransportError, UserError
from harness.parsers.litert import ParsedRun, parse_result
from harness.resources import device_script
from harness.runners.base import RunnerBase, RunnerOutput
from harness.runners.diagnose import device_cause, failure_kind, next_step, one_line
from harness.transport.base import Transport, in_fresh_folder, pull_bytes, push_cached

RESULT_NAME = "result.json"
OUTPUTS_NAME = "outputs.npz"


def runner_argv(python: str, script: str, model: str, out: str, options: RunOptions) -> list[str]:
    argv = [
        python, script,
        "--model", model,
        "--out", out,
        "--mode", options.mode,
        "--threads", str(options.threads),
        "--kernels", options.kernels,
        "--warmup-runs", str(options.warmup_runs),
        "--warmup-min-s", f"{options.warmup_min_s:g}",
        "--min-runs", str(options.min_runs),
        "--min-s", f"{options.min_s:g}",
        "--max-s", f"{options.max_s:g}",
        "--profile-runs", str(options.profile_runs),
        "--seed", str(options.seed),
    ]
    for flag, value in options.extra:
        argv += [flag, value]
    return argv


class LitertRunner(RunnerBase):
    """Runs models through the litert runner on one device. Constructing it does no I/O."""

    name = "litert"

    def __init__(self, device: Device, transport: Transport) -> None:
        super().__init__(device, transport)
        self._script: str | None = None
        self._python: str | None = None

    def python(self) -> str:
        """The device's Python: the inventory's, this host's own for `local`, the provisioned
        venv's on an SSH board, else the device's python3."""
        if self.device.python:
            return self.device.python
        if self.device.transport == "local":
            return sys.executable
        return self._python or "python3"

    def prepare(self) -> None:
        if self.device.transport == "ssh" and not self.device.python:
            from harness.runners.runtime import read_runtime

            record = read_runtime(self.transport)
            if record is None:
                raise UserError(f"board {self.device.name} is not provisioned for the litert runner: run "
                                f"`harness devices provision {self.device.ref}` first (or set python = \"PATH\" "
                                "in its inventory entry)")
            self._python = str(record["python"])
        self._script, sent = push_cached(self.transport, device_script("litert_runner.py"))
        self.bytes_pushed += sent

    def run(self, model_remote: str, options: RunOptions) -> RunnerOutput:
        if self._script is None:
            self.prepare()
        assert self._script is not None
        scratch = posixpath.join(self.transport.workdir(), "runs", uuid.uuid4().hex)
        out = posixpath.join(scratch, RESULT_NAME)
        outputs = posixpath.join(scratch, OUTPUTS_NAME)
        try:
            argv = runner_argv(self.python(), self._script, model_remote, out, options)
            if options.mode == "accuracy":
                argv += ["--dump-outputs", outputs, "--samples", str(options.samples)]
                if options.inputs_file:
                    remote_inputs, sent = push_cached(self.transport, Path(options.inputs_file))
                    self.bytes_pushed += sent
                    argv += ["--inputs", remote_inputs]
            argv = in_fresh_folder(scratch, argv)
            command = self.transport.run(argv, timeout_s=options.timeout_s)
            # exit 0 (ok) and 3 (failed, result written) both leave a result file
            result = pull_bytes(self.transport, out, expected=command.exit_code in (0, 3))
            if result is None and command.exit_code != 0:
                error = self._no_result(command.exit_code, command.text("stderr"), command.text())
                error.command = command  # the device's words are kept in raw/ with the failed run
                raise error
            if result is None:
                raise RunnerError("the litert runner exited 0 but wrote no result file")
            files = {RESULT_NAME: result}
            if options.mode == "accuracy" and command.exit_code == 0:
                files[OUTPUTS_NAME] = pull_bytes(self.transport, outputs, expected=True) or b""
            return RunnerOutput(command=command, files=files)
        finally:
            try:
                self.transport.run(["rm", "-rf", scratch], timeout_s=30)
            except TransportError:
                pass  # the scratch folder is only litter; the result is already home

    def _no_result(self, exit_code: int, stderr: str, stdout: str) -> RunnerError:
        """The runner did not even start measuring (no Python, a crash of the runner itself): the
        device's own words and what to do next, in one line."""
        lines = [line for line in (stderr or stdout).splitlines() if line.strip()]
        cause = device_cause(stderr, exit_code) or (one_line(lines[-1])[-300:] if lines else "no output")
        message = f"the litert runner exited with code {exit_code} and wrote no result: {cause}"
        step = next_step(cause, self.device, self.name, exit_code)
        if step:
            message += f"; {step}"
        missing = failure_kind(cause, exit_code) in ("missing_module", "not_found", "old_python")
        return (RuntimeMissing if missing else RunnerError)(one_line(message))

    def parse(self, output: RunnerOutput) -> ParsedRun:
        """The runner's result; a failure's message gains what to do next where harness knows."""
        parsed = parse_result(output.files[RESULT_NAME])
        message = parsed.run.get("error_message")
        if parsed.run.get("status") == "failed" and message:
            step = next_step(message, self.device, self.name)
            if step:
                parsed.run["error_message"] = one_line(f"{message}; {step}")
        return parsed
