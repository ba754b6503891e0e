"""Built-in example models, made offline from seeded weights (no downloads).

    example_variants("tiny_cnn") -> {"fp32": Path, "fp16": Path, "dynamic": Path, "int8": Path}

Where the files come from, in order:
1. prebuilt and committed: ``harness/models/examples_data/<name>/`` (checked against its
   manifest: sha256 of every file and the recipe hash);
2. the user cache ``$XDG_CACHE_HOME/harness/examples/<name>-<recipe hash>/`` (default
   ``~/.cache``), converted there with TensorFlow on first use;
3. otherwise a ``UserError`` saying how to get TensorFlow.

The weights are random (seeded), so the models classify nothing; they exist to be timed.
Their int8 variants are calibrated on seeded synthetic data, as each manifest says.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import UserError

DEFAULT_EXAMPLE = "mobilenet_v2"
DATA_DIR = Path(__file__).parent / "examples_data"
RECIPE_VERSION = 1  # bump when a builder or the conversion settings change


@dataclass(frozen=True)
class _Recipe:
    description: str
    builder: str  # name of a function in this module: (params) -> keras.Model
    params: dict[str, Any]
    seed: int = 42

    def key(self) -> dict[str, Any]:
        return {
            "recipe_version": RECIPE_VERSION,
            "builder": self.builder,
            "params": self.params,
            "seed": self.seed,
            "calibration": "synthetic uniform [0,1), seed 0, 64 samples",
        }


_RECIPES: dict[str, _Recipe] = {
    "tiny_cnn": _Recipe(
        description="tiny conv classifier: 32x32x3 input, Conv2D/DepthwiseConv2D, pooling, "
        "Dense softmax over 10 classes (a few KB)",
        builder="_build_tiny_cnn",
        params={"input_shape": [32, 32, 3], "classes": 10},
    ),
    "mobilenet_v2": _Recipe(
        description="MobileNetV2 (alpha 0.35, 96x96x3 input, 10 classes, random weights with data-initialised "
        "batch norm), "
        "a realistic mobile CNN (~1.6 MB fp32)",
        builder="_build_mobilenet_v2",
        params={"alpha": 0.35, "input_shape": [96, 96, 3], "classes": 10,
                "batchnorm_init": "data: statistics of 16 seeded uniform [0,1) inputs"},
    ),
}

EXAMPLES: dict[str, str] = {name: r.description for name, r in _RECIPES.items()}


def recipe_hash(name: str) -> str:
    r = _recipe(name)
    blob = json.dumps({"name": name, **r.key()}, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def _recipe(name: str) -> _Recipe:
    try:
        return _RECIPES[name]
    except KeyError:
        close = difflib.get_close_matches(name, _RECIPES, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise UserError(
            f"Unknown example {name!r}.{hint} Known examples: {', '.join(sorted(_RECIPES))} "
            "(see `harness models example --list`)."
        ) from None


# ----------------------------------------------------------------------------- builders


def _build_tiny_cnn(params: dict[str, Any]) -> Any:
    import keras

    inp = keras.Input(shape=tuple(params["input_shape"]), name="image")
    x = keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="relu", name="conv1")(inp)
    x = keras.layers.DepthwiseConv2D(3, padding="same", activation="relu", name="dw1")(x)
    x = keras.layers.Conv2D(16, 1, activation="relu", name="pw1")(x)
    x = keras.layers.MaxPooling2D(2, name="pool1")(x)
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    x = keras.layers.Dense(params["classes"], activation="softmax", name="logits")(x)
    return keras.Model(inp, x, name="tiny_cnn")


def _build_mobilenet_v2(params: dict[str, Any]) -> Any:
    import keras

    model = keras.applications.MobileNetV2(
        weights=None,
        alpha=params["alpha"],
        input_shape=tuple(params["input_shape"]),
        classes=params["classes"],
    )
    _init_batchnorm_from_data(model, params["input_shape"])
    return model


def _init_batchnorm_from_data(model: Any, input_shape: list[int], samples: int = 16) -> None:
    """Set each batch-norm layer's moving statistics to those of its inputs on seeded data.

    With random weights and the default statistics (mean 0, variance 1), MobileNetV2's
    activations die out through its 52 layers and every input gives the same output (0.1 for
    each class): useless for comparing the variants' accuracy. Data-initialised statistics keep
    the activations alive, so outputs depend on inputs, as a trained network's do.
    """
    import keras
    import numpy as np

    x = np.random.default_rng(0).random((samples, *input_shape), dtype=np.float32)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            seen = keras.Model(model.inputs, layer.input).predict(x, verbose=0)
            axes = tuple(range(seen.ndim - 1))
            gamma, beta, _, _ = layer.get_weights()
            layer.set_weights([gamma, beta, seen.mean(axis=axes), seen.var(axis=axes) + 1e-3])


_BUILDERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "_build_tiny_cnn": _build_tiny_cnn,
    "_build_mobilenet_v2": _build_mobilenet_v2,
}


# ----------------------------------------------------------------------------- API


def build_example(name: str, out_dir: str | os.PathLike[str]) -> Path:
    """Build the seeded Keras model ``name`` and save it as ``out_dir/<name>.keras``."""
    r = _recipe(name)
    from harness.models.convert import _quiet_tf, _stderr_to

    _quiet_tf()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{name}.keras"
    tmp = out / f".{name}.tmp.keras"  # Keras insists on the .keras suffix
    with _stderr_to(out / "convert.log"):  # TensorFlow's start-up chatter goes to the log
        try:
            import keras
        except ImportError as exc:
            raise UserError(
                f"Building example {name!r} needs TensorFlow/Keras, which is not installed. "
                "Install it with: pip install 'harness[convert]'."
            ) from exc
        keras.utils.set_random_seed(r.seed)
        model = _BUILDERS[r.builder](r.params)
        model.save(tmp)
    os.replace(tmp, target)
    return target


def convert_example(
    name: str, out_dir: str | os.PathLike[str], warn: Callable[[str], None] | None = None
) -> Any:
    """Build ``name``, convert it into the four variants under ``out_dir``; returns the manifest."""
    from harness.models.convert import VARIANTS, convert_model

    r = _recipe(name)
    out = Path(out_dir)
    keras_file = build_example(name, out)
    synthetic_notes: list[str] = []

    def _warn(msg: str) -> None:
        if msg.startswith("NO CALIBRATION DATA"):
            synthetic_notes.append(msg)  # expected for examples; recorded in the manifest
        elif warn is not None:
            warn(msg)

    return convert_model(
        keras_file,
        VARIANTS,
        out,
        warn=_warn,
        calibration_label="synthetic",
        notes=[
            f"built-in example {name!r}: {r.description}",
            f"recipe {recipe_hash(name)}: {json.dumps(r.key(), sort_keys=True)}",
            "weights are random (seeded); int8 is calibrated on seeded synthetic uniform [0,1) "
            "data, fine for timing, meaningless for accuracy",
        ],
    )


def _complete(folder: Path, name: str) -> dict[str, Path] | None:
    """The variant files in ``folder`` if its manifest matches the recipe and every file."""
    from harness.config import VARIANTS
    from harness.errors import HarnessError
    from harness.fileio import sha256_file
    from harness.models.convert import read_manifest

    try:
        m = read_manifest(folder)
    except HarnessError:
        return None
    notes = " ".join(m.notes)
    if f"recipe {recipe_hash(name)}" not in notes:
        return None
    files: dict[str, Path] = {}
    for e in m.variants:
        f = folder / e.file
        if not f.is_file() or f.stat().st_size != e.bytes or sha256_file(f) != e.sha256:
            return None
        files[e.variant] = f
    if set(files) != set(VARIANTS):
        return None
    return {v: files[v] for v in VARIANTS}


def cache_dir(name: str) -> Path:
    from harness.paths import cache_dir as harness_cache

    return harness_cache("examples", f"{name}-{recipe_hash(name)}")


def example_variants(name: str) -> dict[str, Path]:
    """Ready .tflite files of example ``name``: {variant: path} for fp32, fp16, dynamic, int8."""
    _recipe(name)
    found = _complete(DATA_DIR / name, name)
    if found:
        return found
    cached = cache_dir(name)
    found = _complete(cached, name)
    if found:
        return found
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        raise UserError(
            f"Example {name!r} is not prebuilt in this installation and converting it needs "
            "TensorFlow, which is not installed. Install it with: pip install 'harness[convert]'."
        ) from None
    convert_example(name, cached)
    found = _complete(cached, name)
    if not found:  # pragma: no cover - convert_example raises on any failure
        raise UserError(f"Example {name!r} was converted into {cached} but is incomplete there.")
    return found


def copy_prebuilt(name: str, out_dir: str | os.PathLike[str]) -> list[Path]:
    """Copy the ready variants and manifest of ``name`` into ``out_dir`` (no TensorFlow needed)."""
    files = example_variants(name)
    src = next(iter(files.values())).parent
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for f in [*files.values(), src / "manifest.json"]:
        shutil.copy2(f, out / f.name)
        written.append(out / f.name)
    return written


def regenerate_prebuilt(names: list[str] | None = None) -> dict[str, list[Path]]:
    """Rebuild the committed ``examples_data/<name>/`` files (maintainers; needs TensorFlow)."""
    import tempfile

    from harness.fileio import atomic_write_json
    from harness.models.convert import MANIFEST_NAME

    written: dict[str, list[Path]] = {}
    for name in names or list(_RECIPES):
        with tempfile.TemporaryDirectory(prefix=f"harness-example-{name}-") as tmp:
            manifest = convert_example(name, tmp)
            dest = DATA_DIR / name
            dest.mkdir(parents=True, exist_ok=True)
            files = []
            for v in manifest.variants:
                shutil.copyfile(Path(tmp) / v.file, dest / v.file)
                files.append(dest / v.file)
            d = manifest.to_dict()
            d["source"]["path"] = (
                f"harness.models.examples:{name} (built by the recipe, then deleted)"
            )
            atomic_write_json(dest / MANIFEST_NAME, d)
            written[name] = [*files, dest / MANIFEST_NAME]
    return written


if __name__ == "__main__":  # python -m harness.models.examples [NAME...]
    import sys

    for _name, _files in regenerate_prebuilt(sys.argv[1:] or None).items():
        print(_name, *(f"{f.name}={f.stat().st_size}" for f in _files))
