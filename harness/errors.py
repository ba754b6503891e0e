"""The error tree. Library code raises these; only the CLI catches ``HarnessError``.

    HarnessError
     ├── UserError                 bad input the user can fix; the CLI exits with code 2
     │    ├── ConfigError          inventory file or option values
     │    ├── UnknownDeviceError   a device name not in the inventory (knows close names)
     │    └── ModelError           a model path that is missing or not a model
     │         └── InvalidModelError   rejected by validation (names the file and the reason)
     ├── TransportError            the device or the link to it failed (retryable)
     │    └── DeadlineExceeded     a command ran past its deadline and was killed
     ├── RunnerError               the runner ran and reported a failure
     ├── ParseError                runner output lacks a field we need (field + excerpt)
     ├── ConversionError           the TensorFlow converter failed
     └── StoreError                the results store cannot be read or written

Low-level errors are mapped at the boundary with ``raise X(...) from exc``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


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
    def __init__(self, name: str, known: Iterable[str]) -> None:
        known = sorted(known)
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        super().__init__(
            f"Unknown device {name!r}.{hint} Known devices: {', '.join(known)}. "
            "Add it to devices.toml or name another inventory with --inventory."
        )
        self.name = name
        self.known = known


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
    pass


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
