"""The error tree. Library code raises these; only the CLI catches ``HarnessError``.

    HarnessError
     ├── UserError                 bad input the user can fix; the CLI exits with code 2
     │    ├── ConfigError          inventory file or option values
     │    ├── UnknownDeviceError   a device name that is neither in the inventory nor attached
     │    ├── AmbiguousDeviceError a device name that matches several attached devices
     │    └── ModelError           a model path that is missing or not a model
     │         └── InvalidModelError   rejected by validation (names the file and the reason)
     ├── TransportError            the device or the link to it failed (retried: failure class "transport")
     │    └── DeadlineExceeded     a command ran past its deadline and was killed
     ├── DeviceBusy                another controller holds the device's lease (with --busy skip)
     ├── RunnerError               the runner ran and reported a failure
     │    └── RuntimeMissing       the device lacks what the runner needs (Python, numpy, the binary)
     ├── ParseError                runner output lacks a field we need (field + excerpt)
     ├── ConversionError           the TensorFlow converter failed
     └── StoreError                the results store cannot be read or written

Low-level errors are mapped at the boundary with ``raise X(...) from exc``. Every error pickles
with its message and attributes (a farm worker's error reaches the controller as itself), and a
run's failure class is decided by the error's type (``failure_class``), so a new subclass of
``TransportError`` is retried like its parent.
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

    def __reduce__(self) -> tuple[Any, ...]:
        # subclasses take other constructor arguments than their message: rebuild from both
        return (_rebuild, (type(self), str(self), dict(self.__dict__)))


def _rebuild(cls: type[HarnessError], message: str, state: dict[str, Any]) -> HarnessError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


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


class DeviceBusy(HarnessError):
    """Another controller holds the device's lease (and we did not, or could no longer, wait).
    ``info`` is the lease as the device sees it (``harness.farm.lease.LeaseInfo``) or None."""

    def __init__(self, device: str, info: Any = None, waited_s: float = 0.0) -> None:
        self.device = device
        self.info = info
        self.holder = info.holder if info else None
        self.seconds_left = info.seconds_left if info else None
        self.expires_at = info.expires_at if info else None
        self.waited_s = waited_s
        who = f"held by {info.holder}, free in {info.seconds_left} s (device clock)" if info else "being taken"
        waited = f" after waiting {waited_s:.0f} s" if waited_s else ""
        super().__init__(f"{device} is busy{waited}: {who}. Wait for it (acquire with wait) or skip it.")


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


def error_type(name: str | None) -> type[HarnessError] | None:
    """The class of this tree called ``name`` (as runs record it in ``error_class``), or None for a
    class the tree does not have (e.g. one the device-side runner reports, like ``InvokeError``)."""
    if not name:
        return None
    todo: list[type[HarnessError]] = [HarnessError]
    while todo:
        cls = todo.pop()
        if cls.__name__ == name:
            return cls
        todo.extend(cls.__subclasses__())
    return None


def failure_class(error: type[BaseException] | str | None, status: str) -> str | None:
    """How a run that did not succeed is treated, by the type of its error: ``transport`` (the
    device or the link failed: reconnect and retry), ``inconclusive`` (measured under bad
    conditions: retry after a cool-down), ``invalid`` (the model or options: retrying cannot help),
    or None for a good run. ``error`` is the exception type, or its name as a run records it."""
    if status == "ok":
        return None
    if status == "inconclusive":
        return "inconclusive"
    cls = error_type(error) if isinstance(error, str) or error is None else error
    return "transport" if cls is not None and issubclass(cls, TransportError) else "invalid"
