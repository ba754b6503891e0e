"""The error tree. Library code raises these; only the CLI catches ``HarnessError``.

    HarnessError
     ├── UserError                 bad input the user can fix; the CLI exits with code 2
     │    ├── ConfigError          inventory file or option values
     │    ├── UnknownDeviceError   a device name that is neither in the inventory nor attached
     │    ├── AmbiguousDeviceError a device name that matches several attached devices
     │    └── ModelError           a model path that is missing or not a model
     │         └── InvalidModelError   rejected by validation (names the file and the reason)
     ├── TransportError            the device or the link to it failed (retryable)
     │    └── DeadlineExceeded     a command ran past its deadline and was killed
     ├── RunnerError               the runner ran and reported a failure
     │    └── RuntimeMissing       the device lacks what the runner needs (Python, numpy, the binary)
     ├── ParseError                runner output lacks a field we need (field + excerpt)
     ├── ConversionError           the TensorFlow converter failed
     └── StoreError                the results store cannot be read or written

Low-level errors are mapped at the boundary with ``raise X(...) from exc``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any


class HarnessError(Exception):
    """Base of every error the harness raises on purpose."""

    exit_code = 1

    @property
    def error_class(self) -> str:
        return type(self).__name__


class UserError(HarnessError):
    exit_code = 2


class ConfigError(UserError):
    pass


class UnknownDeviceError(UserError):
    """A name that is neither an inventory entry nor an attached device. ``attached`` says what
    is attached (or why nothing could be listed)."""

    def __init__(self, name: str, known: Iterable[str], attached: str | None = None) -> None:
        known = sorted(known)
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        seen = f" Attached: {attached}." if attached else ""
        super().__init__(
            f"Unknown device {name!r}.{hint} Known devices: {', '.join(known)}.{seen} "
            "Name an attached phone by serial or model, a board as ssh://user@host, or add it with "
            "`harness devices add NAME --serial S | --host user@host`."
        )
        self.name = name
        self.known = known
        self.attached = attached


class AmbiguousDeviceError(UserError):
    """A name that matches several attached devices (by model, product or device name)."""

    def __init__(self, name: str, matches: Iterable[str]) -> None:
        self.name = name
        self.matches = list(matches)
        super().__init__(
            f"{name!r} matches {len(self.matches)} attached devices: {'; '.join(self.matches)}. "
            "Name one by its serial (--device SERIAL) or give it a name with `harness devices add NAME --serial S`."
        )


class ModelError(UserError):
    pass


class InvalidModelError(ModelError):
    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class TransportError(HarnessError):
    pass


class DeadlineExceeded(TransportError):
    def __init__(self, argv: list[str], timeout_s: float) -> None:
        super().__init__(f"command ran past its deadline of {timeout_s:g} s and was killed: {argv[0]}")
        self.argv = argv
        self.timeout_s = timeout_s


class RunnerError(HarnessError):
    """``command`` is the device command's result (argv, exit code, stdout, stderr) when the
    runner ran but left no result to parse, so its raw output is still kept with the run."""

    command: Any = None


class RuntimeMissing(RunnerError):
    """The device cannot start the runner: no Python, numpy or ai_edge_litert, or a binary that
    cannot run there. The same class name the litert runner reports for a missing runtime."""


class ParseError(HarnessError):
    def __init__(self, field: str, excerpt: str = "") -> None:
        excerpt = excerpt.strip()
        if len(excerpt) > 200:
            excerpt = excerpt[:200] + "..."
        super().__init__(f"cannot read {field!r} from runner output" + (f": {excerpt!r}" if excerpt else ""))
        self.field = field
        self.excerpt = excerpt


class ConversionError(HarnessError):
    pass


class StoreError(HarnessError):
    pass
