"""How the runs of a campaign are made: one frozen ``RunSpec``, the same on every device.

``RunSpec`` travels whole from the API (``harness.run``) through the farm (threads or a Dask
cluster) to each device's session, so the options are written down once, here:

    RunSpec
     ├── options: RunOptions       what each runner process is asked to do (config.py)
     ├── runner, flags, big_cores  which runner, and benchmark_model's own flags
     ├── retry: RetryPolicy        attempts, reconnection, the cool-down before a retry
     ├── control: Control          cool-down between runs, what to do with throttled runs
     └── lease: LeasePolicy | None hold a lease on each device (wait or skip a busy one)

Everything here is plain data (picklable, comparable), never a callable.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.config import RunOptions
from harness.errors import UserError

BUSY = ("wait", "skip")
DELEGATES = ("xnnpack", "none", "gpu", "nnapi")


@dataclass(frozen=True)
class BenchmarkFlags:
    """benchmark_model's own choices, beyond RunOptions (the litert runner takes
    ``RunOptions.kernels`` instead)."""

    delegate: str = "xnnpack"  # xnnpack | none | gpu | nnapi
    nnapi_accelerator: str | None = None
    input_ranges: tuple[tuple[str, int, int], ...] = ()
    peak_memory: bool = True
    cpu_mask: str | None = None  # taskset mask (hex), e.g. from the big cluster
    extra: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.delegate not in DELEGATES:
            raise UserError(f"--delegate must be one of {', '.join(DELEGATES)} (got {self.delegate!r}).")


@dataclass(frozen=True)
class RetryPolicy:
    """How failures are retried (failure classes as trusted device farms use them)."""

    max_attempts: int = 3  # per plan item, all classes together
    backoff_s: float = 2.0  # first wait before reconnecting to a device that failed; doubles
    max_backoff_s: float = 30.0
    reconnect_for_s: float = 120.0  # how long a vanished device may take to come back
    cooldown_s: float = 30.0  # wait after an inconclusive (throttled) run before retrying

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.reconnect_for_s < 0 or self.cooldown_s < 0:
            raise UserError("--max-attempts must be at least 1; --reconnect-timeout and --retry-cooldown at least 0.")


@dataclass(frozen=True)
class Control:
    """Measurement control between runs on one device."""

    cooldown_s: float | None = None  # fixed wait before each run
    cooldown_auto: bool = False  # wait until the device is back near its idle temperature
    auto_tolerance_c: float = 2.0
    auto_max_s: float = 300.0
    auto_poll_s: float = 2.0
    exclude_throttled: bool = True  # throttled runs land inconclusive and are retried

    @classmethod
    def parse(cls, cooldown: str | float | None, exclude_throttled: bool = True) -> Control:
        """``--cooldown SECONDS|auto``."""
        if cooldown is None:
            return cls(exclude_throttled=exclude_throttled)
        if cooldown == "auto":
            return cls(cooldown_auto=True, exclude_throttled=exclude_throttled)
        try:
            seconds = float(cooldown)
            if seconds < 0:
                raise ValueError
        except ValueError:
            raise UserError(f"--cooldown takes seconds or 'auto' (got {cooldown!r}).") from None
        return cls(cooldown_s=seconds, exclude_throttled=exclude_throttled)


@dataclass(frozen=True)
class LeasePolicy:
    """A lease on each device while it is used: ``busy`` wait (for it) or skip (the device)."""

    busy: str = "wait"
    ttl_s: float = 60.0

    def __post_init__(self) -> None:
        if self.busy not in BUSY:
            raise UserError(f"--busy must be wait or skip (got {self.busy!r}).")
        if self.ttl_s < 2:
            raise UserError("--lease-ttl must be at least 2 seconds.")


@dataclass(frozen=True)
class RunSpec:
    """Everything about how each run is made; see the module's docstring."""

    options: RunOptions = field(default_factory=RunOptions)
    runner: str | None = None  # None: each device's own (benchmark_model on phones, litert elsewhere)
    flags: BenchmarkFlags = field(default_factory=BenchmarkFlags)
    big_cores: bool = False
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    control: Control = field(default_factory=Control)
    lease: LeasePolicy | None = field(default_factory=LeasePolicy)
