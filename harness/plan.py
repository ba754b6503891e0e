"""A plan: devices x variants x threads x repeats (+ profile runs), interleaved.

Interleaving (A B C D, B C D A, ...) rather than A A A B B B spreads drift (heat, background
load) over every variant instead of charging it to one. Each item has a stable key, which
becomes its run id in the store: a re-run or a resume never duplicates a landed run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

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


@dataclass(frozen=True)
class Skip:
    """Runs a plan leaves out on purpose, and why (shown to the user, kept in campaign.json)."""

    variant: str
    mode: str
    kernels: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def builtin_skips(
    variants: Sequence[str],
    *,
    profile: bool = True,
    profile_kernels: Sequence[str] = KERNELS,
    no_builtin: Mapping[str, str] | None = None,
) -> list[Skip]:
    """The builtin-kernel profile runs that cannot run: variants in ``no_builtin`` ({variant: why},
    e.g. a custom op only XNNPACK implements) are profiled with XNNPACK only."""
    if not profile or "builtin" not in profile_kernels or not no_builtin:
        return []
    return [Skip(v, "profile", "builtin", no_builtin[v]) for v in variants if v in no_builtin]


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
    no_builtin: Mapping[str, str] | None = None,
) -> list[PlanItem]:
    """Latency runs first (interleaved, rotated each repeat), then one profile run per
    variant x threads x kernel mode, also interleaved, then (``accuracy``) one accuracy run per
    variant: its outputs on the same inputs, for comparison with fp32.

    ``no_builtin`` ({variant: why}) names variants builtin kernels cannot run: their builtin
    profile runs are left out (``builtin_skips``), and ``kernels="builtin"`` is a UserError."""
    if not variants:
        raise UserError("The plan has no variants. Name some with --variants fp32,fp16,dynamic,int8.")
    if repeats < 1:
        raise UserError(f"--repeats must be at least 1 (got {repeats}).")
    if not threads or any(t < 1 for t in threads):
        raise UserError(f"--threads must be positive whole numbers (got {list(threads)}).")
    if kernels not in KERNELS:
        raise UserError(f"--kernels must be one of {', '.join(KERNELS)} (got {kernels!r}).")
    no_builtin = no_builtin or {}
    if kernels == "builtin":
        for v in variants:
            if v in no_builtin:
                raise UserError(f"--kernels builtin cannot run {model_name} ({v}): {no_builtin[v]}; "
                                "use --kernels xnnpack.")
    skipped = {(s.variant, s.mode, s.kernels) for s in builtin_skips(
        variants, profile=profile, profile_kernels=profile_kernels, no_builtin=no_builtin)}
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
                        if (v, "profile", k) not in skipped:
                            items.append(PlanItem(device, model_name, v, t, "profile", k, 0))
    if accuracy:  # each variant's outputs on the same inputs, once per device
        for device in devices:
            for v in variants:
                items.append(PlanItem(device, model_name, v, threads[0], "accuracy", kernels, 0))
    return items
