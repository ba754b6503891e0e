"""`harness models convert` / `example` with real TensorFlow and the real LiteRT runtime."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "harness" / "models" / "examples_data"
VARIANTS = ["fp32", "fp16", "dynamic", "int8"]

pytestmark = [pytest.mark.tf, pytest.mark.slow]


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, COLUMNS="250", XDG_CACHE_HOME=str(cwd or Path(tempfile.gettempdir())))
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=600,
    )


@pytest.fixture(scope="module")
def keras_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small seeded Keras model: 8x8x3 'pixels' -> Conv2D -> Dense(4) softmax."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    keras.utils.set_random_seed(7)
    inp = keras.Input((8, 8, 3), name="pixels")
    x = keras.layers.Conv2D(8, 3, activation="relu")(inp)
    x = keras.layers.Flatten()(x)
    out = keras.layers.Dense(4, activation="softmax")(x)
    model = keras.Model(inp, out)
    path = tmp_path_factory.mktemp("src") / "small.keras"
    model.save(path)
    return path


def _manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


def _run_tflite(path: Path, x: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path))
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    return it.get_tensor(it.get_output_details()[0]["index"])


def test_convert_all_variants_with_synthetic_calibration(keras_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = _cli("models", "convert", str(keras_model), "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "NO CALIBRATION DATA" in proc.stderr and "--calibration" in proc.stderr
    assert "ACCURACY WILL SUFFER" in proc.stderr
    m = _manifest(out)
    assert m["format"] == "harness-manifest" and m["format_version"] == 1
    assert m["converter"]["tensorflow"].startswith("2.")
    assert m["source"]["path"] == str(keras_model)
    import hashlib

    assert m["source"]["sha256"] == hashlib.sha256(keras_model.read_bytes()).hexdigest()
    by = {v["variant"]: v for v in m["variants"]}
    assert list(by) == VARIANTS
    for v, e in by.items():
        f = out / e["file"]
        assert f.is_file() and f.stat().st_size == e["bytes"]
        assert hashlib.sha256(f.read_bytes()).hexdigest() == e["sha256"]
        assert e["detected_variant"] == v, e["variant_reason"]
        assert e["inputs"][0]["shape"] == [1, 8, 8, 3]
        assert v in proc.stdout  # the table lists each variant
    assert by["int8"]["calibration"] == "synthetic"
    assert by["fp32"]["calibration"] is None
    assert by["int8"]["ops"]["QUANTIZE"] == 1 and by["int8"]["inputs"][0]["dtype"] == "float32"

    # The converted fp32 model computes what Keras computes.
    import keras

    x = np.random.default_rng(1).random((1, 8, 8, 3), dtype=np.float32)
    want = keras.models.load_model(keras_model).predict(x, verbose=0)
    np.testing.assert_allclose(_run_tflite(out / "fp32.tflite", x), want, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(_run_tflite(out / "fp16.tflite", x), want, atol=1e-2)


def test_int8_io_with_npy_calibration(keras_model: Path, tmp_path: Path) -> None:
    calib = tmp_path / "calib.npy"
    np.save(calib, np.random.default_rng(0).random((16, 8, 8, 3), dtype=np.float32))
    out = tmp_path / "q"
    proc = _cli(
        "models", "convert", str(keras_model), "--variants", "int8", "--int8-io",
        "--calibration", str(calib), "--out", str(out), cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "NO CALIBRATION DATA" not in proc.stderr
    (entry,) = _manifest(out)["variants"]
    assert entry["calibration"] == f"file:{calib}"
    assert entry["int8_io"] is True and entry["detected_variant"] == "int8"
    assert entry["inputs"][0]["dtype"] == "int8" and entry["outputs"][0]["dtype"] == "int8"
    assert "QUANTIZE" not in entry["ops"] and "DEQUANTIZE" not in entry["ops"]
    info = json.loads(_cli("models", "inspect", str(out / "int8.tflite"), "-f", "json").stdout)
    assert info["variant"] == "int8"
    assert info["inputs"][0]["quantization"]["scale"] > 0


@pytest.mark.parametrize("key", ["pixels", "arr_0"])
def test_npz_calibration_by_name_or_order(keras_model: Path, tmp_path: Path, key: str) -> None:
    calib = tmp_path / "calib.npz"
    np.savez(calib, **{key: np.random.default_rng(0).random((8, 8, 8, 3)).astype(np.float64)})
    out = tmp_path / "z"
    proc = _cli(
        "models", "convert", str(keras_model), "--variants", "int8",
        "--calibration", str(calib), "--out", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert _manifest(out)["variants"][0]["calibration"] == f"file:{calib}"


def test_wrong_calibration_shape_says_what_is_expected(keras_model: Path, tmp_path: Path) -> None:
    calib = tmp_path / "bad.npy"
    np.save(calib, np.zeros((4, 9, 9, 3), np.float32))
    out = tmp_path / "bad"
    proc = _cli(
        "models", "convert", str(keras_model), "--variants", "int8",
        "--calibration", str(calib), "--out", str(out),
    )  # fmt: skip
    assert proc.returncode == 2
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1
    assert "(4, 9, 9, 3)" in errors[0] and "expected (N, 8, 8, 3)" in errors[0]
    assert not (out / "int8.tflite").exists()


def test_saved_model_source(keras_model: Path, tmp_path: Path) -> None:
    import keras

    sm = tmp_path / "sm"
    keras.models.load_model(keras_model).export(str(sm), verbose=False)
    out = tmp_path / "smout"
    proc = _cli("models", "convert", str(sm), "--variants", "fp32,int8", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    m = _manifest(out)
    assert m["source"]["kind"] == "saved_model"
    assert [(v["variant"], v["detected_variant"]) for v in m["variants"]] == [
        ("fp32", "fp32"),
        ("int8", "int8"),
    ]


def test_bad_variants_and_sources_fail_fast(keras_model: Path, tmp_path: Path) -> None:
    t0 = time.monotonic()
    proc = _cli("models", "convert", str(keras_model), "--variants", "fp32,int4")
    assert proc.returncode == 2
    assert "int4" in proc.stderr and "fp32, fp16, dynamic, int8" in proc.stderr
    assert time.monotonic() - t0 < 5  # before TensorFlow loads
    proc = _cli("models", "convert", str(DATA / "tiny_cnn" / "fp32.tflite"))
    assert proc.returncode == 2 and "already a .tflite" in proc.stderr
    proc = _cli("models", "convert", str(tmp_path / "missing.keras"))
    assert proc.returncode == 2 and "missing.keras" in proc.stderr


def test_example_rebuilds_the_committed_tiny_cnn_bit_for_bit(tmp_path: Path) -> None:
    out = tmp_path / "ex"
    proc = _cli("models", "example", "tiny_cnn", "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (out / "tiny_cnn.keras").is_file()
    assert "NO CALIBRATION DATA" not in proc.stderr  # expected for examples; noted in the manifest
    built = {v["variant"]: v for v in _manifest(out)["variants"]}
    committed = {v["variant"]: v for v in _manifest(DATA / "tiny_cnn")["variants"]}
    assert list(built) == VARIANTS
    for v in VARIANTS:  # conversion is deterministic on this machine: same seed, same bytes
        assert built[v]["sha256"] == committed[v]["sha256"], v
        assert built[v]["calibration"] == ("synthetic" if v == "int8" else None)


def test_example_list_and_unknown_name(tmp_path: Path) -> None:
    proc = _cli("models", "example", "--list", cwd=tmp_path)
    assert proc.returncode == 0
    assert "tiny_cnn" in proc.stdout and "mobilenet_v2" in proc.stdout
    proc = _cli("models", "example", "mobilenet", cwd=tmp_path)
    assert proc.returncode == 2
    assert "Did you mean 'mobilenet_v2'" in proc.stderr


def test_harness_run_converts_a_keras_model_and_measures_it(keras_model, harness_cli, tmp_path):
    """`harness run --model small.keras`: converted to the variants asked for, then run."""
    proc = harness_cli("run", "--model", str(keras_model), "--variants", "fp32,int8", "--repeats", "1",
                       "--no-profile", "--min-runs", "5", "--min-seconds", "0.05", "--results", "r")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "synthetic" in proc.stderr.lower()  # the loud calibration warning reaches the user
    from harness import load_results

    runs = load_results(tmp_path / "r").runs
    assert sorted(runs["variant"]) == ["fp32", "int8"]
    assert set(runs["model_name"]) == {"small"} and (runs["status"] == "ok").all()
    # a second run reuses the converted files (same sha256, no new conversion)
    again = harness_cli("run", "--model", str(keras_model), "--variants", "fp32,int8", "--repeats", "1",
                        "--no-profile", "--min-runs", "5", "--min-seconds", "0.05", "--results", "r2")
    assert again.returncode == 0, again.stderr
    assert "synthetic" not in again.stderr.lower()
    runs2 = load_results(tmp_path / "r2").runs
    assert set(runs2["model_sha256"]) == set(runs["model_sha256"])
