"""Models: convert (TensorFlow, imported lazily), validate, inspect, built-in examples.

    inspect_model(path) -> ModelInfo         read a .tflite flatbuffer (no TF, no runtime)
    validate_model(path) -> ModelInfo        + open it with the real runtime in a child process
    convert_model(source, variants, out_dir) -> Manifest   Keras/SavedModel -> .tflite variants
    example_variants(name) -> {variant: Path}              ready-made example models

Importing this package is cheap: each function imports its module when called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

VARIANTS = ("fp32", "fp16", "dynamic", "int8")

if TYPE_CHECKING:  # pragma: no cover
    from harness.models.convert import Manifest
    from harness.models.inspect import ModelInfo


def inspect_model(path: Any) -> ModelInfo:
    from harness.models.inspect import inspect_model as _f

    return _f(path)


def validate_model(path: Any, **kwargs: Any) -> ModelInfo:
    from harness.models.validate import validate_model as _f

    return _f(path, **kwargs)


def convert_model(source: Any, variants: Any, out_dir: Any, **kwargs: Any) -> Manifest:
    from harness.models.convert import convert_model as _f

    return _f(source, variants, out_dir, **kwargs)


def example_variants(name: str) -> dict[str, Any]:
    from harness.models.examples import example_variants as _f

    return _f(name)


__all__ = ["VARIANTS", "convert_model", "example_variants", "inspect_model", "validate_model"]
