"""A plan: devices x variants x threads x repeats (+ profile runs), interleaved.

Interleaving (A B C D, B C D A, ...) rather than A A A B B B spreads drift (heat, background
load) over every variant instead of charging it to one. Each item has a stable key, which
becomes its run id in the store: a re-run or a resume never duplicates a landed run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.errors import UserError

MODES = ("latency", "profile", "accuracy")
KERNELS = ("xnnpack", "builtin")


@dataclass(frozen=True)
class ModelVariant:
    """One .tflite file on the host, as validated."""

    variant: str
    path: Path
    sha256: str
    bytes: int


@dataclass(frozen=True)
class PlanItem:
    device: str
    model_name: str
    variant: str
    threads: int
    mode: str  # latency | profile
    kernels: str  # xnnpack | builtin
    repeat: int

    @property
    def key(self) -> str:
        return f"{self.device}.{self.variant}.t{self.threads}.{self.mode}.{self.kernels}.r{self.repeat}"


def build_plan(
    devices: Sequence[str],
    model_name: str,
    variants: Sequence[str],
    threads: Sequence[int],
    repeats: int,
    *,
    profile: bool = True,
    kernels: str = "xnnpack",
    profile_kernels: Sequence[str] = KERNELS,
    accuracy: bool = False,
) -> list[PlanItem]:
    """Latency runs first (interleaved, rotated each repeat), then one profile run per
    variant x threads x kernel mode, also interleaved, then (``accuracy``) one accuracy run per
    variant: its outputs on the same inputs, for comparison with fp32."""
    if not variants:
        raise UserError("The plan has no variants. Name some with --variants fp32,fp16,dynamic,int8.")
    if repeats < 1:
        raise UserError(f"--repeats must be at least 1 (got {repeats}).")
    if not threads or any(t < 1 for t in threads):
        raise UserError(f"--threads must be positive whole numbers (got {list(threads)}).")
    if kernels not in KERNELS:
        raise UserError(f"--kernels must be one of {', '.join(KERNELS)} (got {kernels!r}).")
    items: list[PlanItem] = []
    n = len(variants)
    for r in range(repeats):
        order = [variants[(i + r) % n] for i in range(n)]
        for t in threads:
            for device in devices:
                for v in order:
                    items.append(PlanItem(device, model_name, v, t, "latency", kernels, r))
    if profile:
        for k in profile_kernels:
            for t in threads:
                for device in devices:
                    for v in variants:
                        items.append(PlanItem(device, model_name, v, t, "profile", k, 0))
    if accuracy:  # each variant's outputs on the same inputs, once per device
        for device in devices:
            for v in variants:
                items.append(PlanItem(device, model_name, v, threads[0], "accuracy", kernels, 0))
    return items
