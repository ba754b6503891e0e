"""What every runner shares: the device, its transport, and models pushed once per sha256."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.config import Device
from harness.transport.base import CommandResult, Transport, push_cached


@dataclass(frozen=True)
class RunnerOutput:
    """What came back from the device for one run, raw: the command's result and the files the
    runner wrote (by name). Kept whole in the store so parsing can be redone."""

    command: CommandResult
    files: dict[str, bytes] = field(default_factory=dict)


class RunnerBase:
    name = "runner"

    def __init__(self, device: Device, transport: Transport) -> None:
        self.device = device
        self.transport = transport
        self._models: dict[str, str] = {}
        self.bytes_pushed = 0

    def push_model(self, path: Path, sha256: str) -> str:
        """The model's path on the device, pushed into its content-addressed cache if needed."""
        if sha256 not in self._models:
            remote, sent = push_cached(self.transport, path, sha256=sha256)
            self._models[sha256] = remote
            self.bytes_pushed += sent
        return self._models[sha256]
