"""Turn what the user named (a model path or an example) into validated .tflite variants."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from harness.config import VARIANTS
from harness.errors import ModelError, UserError
from harness.plan import ModelVariant


def parse_int_list(text: str, option: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UserError(f"{option} takes comma-separated whole numbers, e.g. 1,2,4 (got {text!r}).") from None
    if not values or any(v < 1 for v in values):
        raise UserError(f"{option} takes positive whole numbers, e.g. 1,2,4 (got {text!r}).")
    return values


def converted_cache(source: Path) -> Path:
    from harness.paths import cache_dir

    h = hashlib.sha256()
    if source.is_dir():
        for p in sorted(source.rglob("*")):
            if p.is_file():
                h.update(str(p.relative_to(source)).encode())
                h.update(p.read_bytes())
    else:
        h.update(source.read_bytes())
    return cache_dir("converted", f"{source.stem}-{h.hexdigest()[:16]}")


def resolve_models(
    *,
    model: str | None,
    example: str | None,
    variants: Sequence[str],
    calibration: str | None = None,
    int8_io: bool = False,
    warn: Callable[[str], None] = lambda m: None,
) -> tuple[str, dict[str, ModelVariant]]:
    """(model name, {variant: validated file}) for a run. Every file is validated first."""
    from harness.models.validate import validate_model

    if model and example:
        raise UserError("Give either --model or --example, not both.")
    files: dict[str, Path] = {}
    infos: dict[Path, Any] = {}
    if model:
        path = Path(model)
        if not path.exists():
            raise ModelError(f"Model {path} does not exist. Pass a .tflite, .keras, .h5 or SavedModel folder.")
        name = path.stem if path.is_file() else path.name
        if path.is_file() and path.suffix == ".tflite":
            info = validate_model(path)
            infos[path] = info
            variant = info.variant
            if set(variants) != set(VARIANTS) and variant not in variants:
                warn(f"{path} is a {variant} model; --variants does not apply to a single .tflite file.")
            files[variant] = path
        elif path.is_dir() or path.suffix in (".keras", ".h5"):
            from harness.models.convert import convert_model

            out = converted_cache(path)
            missing = [v for v in variants if not (out / f"{v}.tflite").is_file()]
            if missing:
                convert_model(path, missing, out, calibration=calibration, int8_io=int8_io, warn=warn)
            files = {v: out / f"{v}.tflite" for v in variants}
        else:
            raise ModelError(
                f"{path}: not a model harness can use. Pass a .tflite file, a Keras file (.keras, .h5) "
                "or a SavedModel folder."
            )
    else:
        from harness.models.examples import DEFAULT_EXAMPLE, example_variants

        name = example or DEFAULT_EXAMPLE
        available = example_variants(name)
        files = {v: Path(available[v]) for v in variants if v in available}
        lacking = [v for v in variants if v not in available]
        if lacking:
            raise ModelError(f"Example {name!r} has no {', '.join(lacking)} variant.")
    validated: dict[str, ModelVariant] = {}
    for variant, path in files.items():
        info = infos.get(path) or validate_model(path)
        validated[variant] = ModelVariant(variant, path.resolve(), info.sha256, info.bytes)
    return name, validated



def builtin_kernel_gaps(files: dict[str, ModelVariant]) -> dict[str, str]:
    """{variant: why builtin kernels cannot run it} for the variants with a custom op that only
    XNNPACK implements (e.g. MediaPipe's Convolution2DTransposeBias); read from each flatbuffer."""
    from harness.models.inspect import inspect_model, no_builtin_kernel

    gaps: dict[str, str] = {}
    for variant, model in files.items():
        ops = inspect_model(model.path).xnnpack_only_ops
        if ops:
            gaps[variant] = "; ".join(no_builtin_kernel(op) for op in ops)
    return gaps


def pinned_models(pinned: dict[str, dict[str, Any]]) -> dict[str, ModelVariant]:
    """The exact model files a campaign measured (for --resume): each must still be there with
    the same sha256, or resuming would mix two models in one campaign."""
    from harness.fileio import sha256_file

    out: dict[str, ModelVariant] = {}
    for variant, entry in pinned.items():
        path = Path(entry["path"])
        if not path.is_file() or sha256_file(path) != entry["sha256"]:
            raise ModelError(f"{path} ({variant}) is gone or changed since the campaign started; the campaign "
                             "cannot be resumed with other model files. Start a new campaign instead.")
        out[variant] = ModelVariant(variant, path, entry["sha256"], int(entry["bytes"]))
    return out
