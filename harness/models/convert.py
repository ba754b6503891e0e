"""Convert a Keras model or a SavedModel into .tflite variants, with a manifest.

    convert_model("model.keras", ["fp32", "int8"], "out/", calibration="calib.npz")

writes ``out/fp32.tflite``, ``out/int8.tflite`` and ``out/manifest.json``. TensorFlow is
imported only inside the functions that convert. Keras files go through
``keras.models.load_model`` + ``TFLiteConverter.from_keras_model``; SavedModel folders through
``from_saved_model``. (``from_concrete_functions`` on a Keras 3 model silently produces broken
models; it is never used.)

Variants:
    fp32     no optimization
    fp16     Optimize.DEFAULT + supported_types=[float16]  (float16 weights)
    dynamic  Optimize.DEFAULT, no representative dataset  (int8 weights, float activations)
    int8     Optimize.DEFAULT + representative dataset + TFLITE_BUILTINS_INT8  (full integer;
             float inputs/outputs unless int8_io=True)

The converter's own log (stderr of the C++ converter) is kept in ``out_dir/convert.log``.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.config import VARIANTS, parse_variants
from harness.errors import ConversionError, ModelError, UserError
from harness.fileio import atomic_write_bytes, atomic_write_json, sha256_file

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "harness-manifest"
MANIFEST_VERSION = 1
SYNTHETIC_SAMPLES = 64
SYNTHETIC_SEED = 0
KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")

Warn = Callable[[str], None]


# ----------------------------------------------------------------------------- data


@dataclass(frozen=True)
class VariantEntry:
    variant: str
    file: str  # relative to the manifest's folder
    sha256: str
    bytes: int
    ops: dict[str, int]
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    detected_variant: str
    variant_reason: str
    calibration: str | None  # "file:<path>" | "synthetic" | None
    int8_io: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Manifest:
    """What ``convert_model`` wrote; ``manifest.json`` is ``to_dict()``."""

    path: Path  # the manifest file
    source: dict[str, Any]
    converter: dict[str, str]
    created_at: str
    variants: list[VariantEntry]
    notes: list[str] = field(default_factory=list)

    @property
    def folder(self) -> Path:
        return self.path.parent

    def file(self, variant: str) -> Path:
        for v in self.variants:
            if v.variant == variant:
                return self.folder / v.file
        raise KeyError(variant)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": MANIFEST_FORMAT,
            "format_version": MANIFEST_VERSION,
            "source": self.source,
            "converter": self.converter,
            "created_at": self.created_at,
            "notes": self.notes,
            "variants": [v.to_dict() for v in self.variants],
        }


def read_manifest(path: str | os.PathLike[str]) -> Manifest:
    """Read a ``manifest.json`` (or the folder holding one)."""
    p = Path(path)
    if p.is_dir():
        p = p / MANIFEST_NAME
    try:
        d = json.loads(p.read_text())
    except FileNotFoundError as exc:
        raise ModelError(
            f"{p}: no manifest here; convert a model with `harness models convert`"
        ) from exc
    except (OSError, ValueError) as exc:
        raise ModelError(f"{p}: cannot read the manifest: {exc}") from exc
    if d.get("format") != MANIFEST_FORMAT or d.get("format_version") != MANIFEST_VERSION:
        raise ModelError(
            f"{p}: not a {MANIFEST_FORMAT} v{MANIFEST_VERSION} file "
            f"(format={d.get('format')!r}, version={d.get('format_version')!r})"
        )
    try:
        entries = [VariantEntry(**v) for v in d["variants"]]
        return Manifest(
            path=p,
            source=d["source"],
            converter=d["converter"],
            created_at=d["created_at"],
            variants=entries,
            notes=list(d.get("notes", [])),
        )
    except (KeyError, TypeError) as exc:
        raise ModelError(f"{p}: manifest is missing a field: {exc}") from exc


# ----------------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class InputSpec:
    name: str
    shape: tuple[int | None, ...]  # including the batch axis
    dtype: str  # numpy name


def _source_kind(source: Path) -> str:
    if not source.exists():
        raise ModelError(f"{source}: no such file or folder")
    if source.is_dir():
        if (source / "saved_model.pb").is_file():
            return "saved_model"
        raise ModelError(
            f"{source}: a folder without saved_model.pb; "
            "pass a SavedModel folder or a .keras/.h5 file"
        )
    if source.suffix.lower() in KERAS_SUFFIXES:
        return "keras"
    if source.suffix.lower() == ".tflite":
        raise UserError(
            f"{source}: already a .tflite model; there is nothing to convert. "
            "Convert from the .keras/.h5 file or SavedModel folder it came from."
        )
    raise ModelError(f"{source}: not a Keras file (.keras, .h5) or a SavedModel folder")


def _source_sha256(source: Path, kind: str) -> str:
    return sha256_file(source / "saved_model.pb" if kind == "saved_model" else source)


def _quiet_tf() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@contextlib.contextmanager
def _stderr_to(log: Path) -> Iterator[None]:
    """Send fds 1 and 2 (the converter's and Keras' chatter) to ``log`` for the duration."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(log, "ab") as f:
        os.dup2(f.fileno(), 1)
        os.dup2(f.fileno(), 2)
        try:
            with contextlib.redirect_stdout(sys.stderr):  # Python-level prints -> fd 2 -> log
                yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for ln in lines:  # MLIR diagnostics: "loc(...): error: 'tfl.x' op ..."
        if "error:" in ln:
            reason = ln[ln.index("error:") + len("error:") :].strip()
            break
    else:
        reason = lines[0] if lines else type(exc).__name__
    return reason if len(reason) <= 300 else reason[:297] + "..."


# ----------------------------------------------------------------------------- calibration


def load_calibration(path: str | os.PathLike[str], specs: list[InputSpec]) -> list[Any]:
    """Read a .npy/.npz calibration file: one array per model input, first axis = samples.

    Returns arrays in model-input order, cast to each input's dtype. Shape or dtype problems
    raise ``UserError`` saying what shape was expected.
    """
    import numpy as np

    p = Path(path)
    expected = "; ".join(f"{s.name}: {_fmt_shape(('N', *s.shape[1:]))} {s.dtype}" for s in specs)
    if not p.is_file():
        raise UserError(
            f"{p}: calibration file not found. Expected a .npy or .npz with {expected}."
        )
    try:
        loaded = np.load(p, allow_pickle=False)
    except Exception as exc:  # numpy raises ValueError/OSError/UnpicklingError variously
        raise UserError(
            f"{p}: cannot read as .npy/.npz ({_one_line(exc)}). Expected {expected}."
        ) from exc

    if isinstance(loaded, np.ndarray):
        if len(specs) != 1:
            raise UserError(
                f"{p}: the model has {len(specs)} inputs ({', '.join(s.name for s in specs)}); "
                "pass a .npz with one array per input (np.savez(path, **{name: array}))."
            )
        arrays = [loaded]
    else:
        with loaded:
            keys = list(loaded.files)
            names = [s.name for s in specs]
            if set(names) <= set(keys):
                arrays = [loaded[n] for n in names]
            elif len(keys) == len(specs):
                arrays = [loaded[k] for k in keys]  # in order (np.savez positional: arr_0, ...)
            else:
                raise UserError(
                    f"{p}: holds arrays {keys}, the model has inputs {names}; "
                    "name the arrays after the inputs or give exactly one per input, in order."
                )

    out = []
    count = None
    for spec, arr in zip(specs, arrays, strict=True):
        want = ("N", *spec.shape[1:])
        if arr.ndim != len(spec.shape) or any(
            d is not None and d != a for d, a in zip(spec.shape[1:], arr.shape[1:], strict=False)
        ):
            raise UserError(
                f"{p}: calibration array for input {spec.name!r} has shape {tuple(arr.shape)}, "
                f"expected {_fmt_shape(want)} (first axis = samples)."
            )
        if arr.dtype.kind not in "fiu":
            raise UserError(
                f"{p}: calibration array for input {spec.name!r} has dtype {arr.dtype}, "
                f"expected numbers ({spec.dtype})."
            )
        if arr.shape[0] == 0:
            raise UserError(f"{p}: calibration array for input {spec.name!r} has no samples.")
        if count is not None and arr.shape[0] != count:
            raise UserError(f"{p}: the calibration arrays hold different sample counts.")
        count = arr.shape[0]
        out.append(arr.astype(spec.dtype, copy=False))
    return out


def synthetic_calibration(specs: list[InputSpec], samples: int = SYNTHETIC_SAMPLES) -> list[Any]:
    """Seeded uniform [0, 1) samples shaped like the inputs (no real data: poor int8 accuracy)."""
    import numpy as np

    rng = np.random.default_rng(SYNTHETIC_SEED)
    out = []
    for s in specs:
        if any(d is None for d in s.shape[1:]):
            raise UserError(
                f"input {s.name!r} has unknown dimensions {_fmt_shape(s.shape)}, so synthetic "
                "calibration data cannot be made; pass real samples with --calibration FILE.npy."
            )
        out.append(rng.random((samples, *(int(d) for d in s.shape[1:] if d is not None))).astype(s.dtype))
    return out


def _fmt_shape(shape: Iterable[Any]) -> str:
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ")"


SYNTHETIC_WARNING = (
    "NO CALIBRATION DATA: the int8 variant is calibrated on synthetic uniform [0, 1) noise, "
    "so its quantization ranges are guesses and its ACCURACY WILL SUFFER (its speed is still "
    "representative). Pass real input samples with --calibration FILE.npy (one array, first "
    "axis = samples) or FILE.npz (one array per input, named after the inputs)."
)


# ----------------------------------------------------------------------------- conversion


def convert_model(
    source: str | os.PathLike[str],
    variants: str | Iterable[str],
    out_dir: str | os.PathLike[str],
    *,
    calibration: str | os.PathLike[str] | None = None,
    int8_io: bool = False,
    warn: Warn | None = None,
    calibration_label: str | None = None,
    notes: Iterable[str] = (),
) -> Manifest:
    """Convert ``source`` into each of ``variants`` under ``out_dir``; returns the manifest.

    ``warn`` receives human-readable warnings (synthetic calibration, a detected variant that
    differs from the asked one); by default they go to ``warnings.warn``.
    ``calibration_label`` overrides what the manifest records for synthetic calibration.
    """
    warn = warn or (lambda msg: warnings.warn(msg, UserWarning, stacklevel=3))
    chosen = parse_variants(variants)
    src = Path(source)
    kind = _source_kind(src)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: exists and is not a folder; choose another --out.")
    if calibration is not None and "int8" not in chosen:
        warn(
            f"--calibration {calibration} is only used by the int8 variant, "
            "which was not asked for."
        )
    if int8_io and "int8" not in chosen:
        warn("--int8-io only affects the int8 variant, which was not asked for.")

    _quiet_tf()
    out.mkdir(parents=True, exist_ok=True)
    log = out / "convert.log"
    try:
        with _stderr_to(log):  # TensorFlow greets stderr on import
            import tensorflow as tf
    except ImportError as exc:
        raise UserError(
            "Converting needs TensorFlow, which is not installed. "
            "Install it with: pip install 'harness[convert]' (tensorflow-cpu)."
        ) from exc

    source_sha = _source_sha256(src, kind)
    keras_model, specs = _load(src, kind, log)

    calib_arrays: list[Any] | None = None
    calib_label: str | None = None
    if "int8" in chosen:
        if calibration is not None:
            calib_arrays = load_calibration(calibration, specs)
            calib_label = f"file:{Path(calibration)}"
        else:
            calib_arrays = synthetic_calibration(specs)
            calib_label = calibration_label or "synthetic"
            warn(SYNTHETIC_WARNING)

    from harness.models.inspect import inspect_bytes

    entries: dict[str, VariantEntry] = {}
    for variant in chosen:
        data = _convert_one(tf, src, kind, keras_model, specs, variant, calib_arrays, int8_io, log)
        target = out / f"{variant}.tflite"
        try:
            info = inspect_bytes(data, str(target))
        except UserError as exc:
            raise ConversionError(
                f"the converter produced an unreadable {variant} model ({exc}); see {log}"
            ) from exc
        atomic_write_bytes(target, data)
        if info.variant != variant:
            warn(
                f"{target}: asked for {variant} but the file looks {info.variant} "
                f"({info.variant_reason})."
            )
        entries[variant] = VariantEntry(
            variant=variant,
            file=target.name,
            sha256=info.sha256,
            bytes=info.bytes,
            ops=info.ops,
            inputs=[{"name": t.name, "dtype": t.dtype, "shape": t.shape} for t in info.inputs],
            outputs=[{"name": t.name, "dtype": t.dtype, "shape": t.shape} for t in info.outputs],
            detected_variant=info.variant,
            variant_reason=info.variant_reason,
            calibration=calib_label if variant == "int8" else None,
            int8_io=bool(int8_io and variant == "int8"),
        )

    # Keep entries of earlier conversions of the same source whose files are still intact.
    with contextlib.suppress(UserError):
        old = read_manifest(out / MANIFEST_NAME)
        if old.source.get("sha256") == source_sha:
            for e in old.variants:
                f = out / e.file
                if e.variant not in entries and f.is_file() and sha256_file(f) == e.sha256:
                    entries[e.variant] = e

    manifest = Manifest(
        path=out / MANIFEST_NAME,
        source={"path": str(src), "kind": kind, "sha256": source_sha},
        converter=_versions(tf),
        created_at=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        variants=[entries[v] for v in VARIANTS if v in entries],
        notes=list(notes),
    )
    atomic_write_json(manifest.path, manifest.to_dict())
    return manifest


def _versions(tf: Any) -> dict[str, str]:
    from harness import __version__

    v = {"tensorflow": tf.__version__, "harness": __version__}
    with contextlib.suppress(Exception):
        import keras

        v["keras"] = keras.__version__
    return v


def _load(src: Path, kind: str, log: Path) -> tuple[Any, list[InputSpec]]:
    """Load the model once; returns (keras model or None, input specs in converter order)."""
    if kind == "keras":
        import keras

        try:
            with _stderr_to(log):
                model = keras.models.load_model(src, compile=False)
        except Exception as exc:
            raise ModelError(f"{src}: Keras cannot load this file: {_one_line(exc)}") from exc
        specs = [
            InputSpec(
                name=str(getattr(t, "name", f"input_{i}")),
                shape=tuple(None if d is None else int(d) for d in t.shape),
                dtype=str(getattr(t.dtype, "name", t.dtype)),
            )
            for i, t in enumerate(model.inputs)
        ]
        return model, specs

    import tensorflow as tf

    try:
        with _stderr_to(log):
            loaded = tf.saved_model.load(str(src))
    except Exception as exc:
        raise ModelError(
            f"{src}: TensorFlow cannot load this SavedModel: {_one_line(exc)}"
        ) from exc
    sig = loaded.signatures.get("serving_default")
    if sig is None:
        raise ModelError(
            f"{src}: the SavedModel has no 'serving_default' signature "
            f"(it has: {', '.join(loaded.signatures) or 'none'}); export one to convert it."
        )
    _, kwargs = sig.structured_input_signature
    specs = [
        InputSpec(name=name, shape=tuple(spec.shape.as_list()), dtype=spec.dtype.name)
        for name, spec in sorted(kwargs.items())
    ]
    return None, specs


def _convert_one(
    tf: Any,
    src: Path,
    kind: str,
    keras_model: Any,
    specs: list[InputSpec],
    variant: str,
    calib: list[Any] | None,
    int8_io: bool,
    log: Path,
) -> bytes:
    if kind == "keras":
        converter = tf.lite.TFLiteConverter.from_keras_model(keras_model)
    else:
        converter = tf.lite.TFLiteConverter.from_saved_model(str(src))

    if variant == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif variant == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif variant == "int8":
        assert calib is not None
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = _representative(
            calib, specs, keyed=kind == "saved_model"
        )
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if int8_io:
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8

    try:
        with open(log, "a") as f:
            f.write(f"\n===== {variant} =====\n")
        with _stderr_to(log):
            data = converter.convert()
    except Exception as exc:
        raise ConversionError(
            f"converting {src.name} to {variant} failed: {_one_line(exc)} (converter log: {log})"
        ) from exc
    if not isinstance(data, bytes | bytearray) or not data:
        raise ConversionError(f"converting {src.name} to {variant} produced no model (log: {log})")
    return bytes(data)


def _representative(
    calib: list[Any], specs: list[InputSpec], keyed: bool
) -> Callable[[], Iterator[Any]]:
    count = calib[0].shape[0]

    def gen() -> Iterator[Any]:
        for i in range(count):
            sample = [a[i : i + 1] for a in calib]
            yield {s.name: x for s, x in zip(specs, sample, strict=True)} if keyed else sample

    return gen
