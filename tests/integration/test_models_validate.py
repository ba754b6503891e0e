"""`harness models validate` against the real LiteRT runtime, with corrupt copies of real models."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.errors import InvalidModelError
from harness.models.validate import validate_model

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "harness" / "models" / "examples_data"

_spec = importlib.util.spec_from_file_location(
    "make_corrupt", REPO / "tests" / "data" / "make_corrupt.py"
)
assert _spec and _spec.loader
make_corrupt_mod = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_corrupt_mod)


def _cli(*args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    env = dict(os.environ, COLUMNS="250")
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "harness", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    return proc, time.monotonic() - t0


def _error_lines(proc: subprocess.CompletedProcess[str]) -> list[str]:
    return [ln for ln in proc.stderr.splitlines() if ln.strip()]


@pytest.fixture(scope="module", params=["tiny_cnn/int8", "mobilenet_v2/fp32"])
def corrupt(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp(request.param.replace("/", "_"))
    return make_corrupt_mod.make_corrupt(DATA / f"{request.param}.tflite", out)


def test_committed_models_validate(tmp_path: Path) -> None:
    files = sorted(str(p) for p in DATA.glob("*/*.tflite"))
    proc, _ = _cli("models", "validate", *files)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == len(files) == 8
    for f, line in zip(files, lines, strict=True):
        assert line.startswith(f"ok  {f}")


def test_structural_damage_is_rejected_fast_with_one_line(corrupt) -> None:
    must = {k: p for k, (p, m) in corrupt.items() if m}
    assert len(must) >= 25
    for case, path in must.items():
        proc, seconds = _cli("models", "validate", "--timeout", "60", str(path))
        errors = _error_lines(proc)
        assert proc.returncode == 2, (case, proc.stdout, proc.stderr)
        assert len(errors) == 1 and str(path) in errors[0], (case, errors)
        assert errors[0].startswith("error: "), errors
        assert "Traceback" not in proc.stderr
        assert seconds < 30.0, (case, seconds)  # rejected before the runtime: never waits for its 60 s deadline


def test_weight_flips_load_or_are_rejected_cleanly(corrupt) -> None:
    maybe = {k: p for k, (p, m) in corrupt.items() if not m}
    assert len(maybe) >= 10
    outcomes = {}
    for case, path in maybe.items():
        proc, seconds = _cli("models", "validate", str(path))
        assert proc.returncode in (0, 2), (case, proc.returncode, proc.stderr)
        assert "Traceback" not in proc.stderr
        assert seconds < 2.0, (case, seconds)
        if proc.returncode == 2:
            errors = _error_lines(proc)
            assert len(errors) == 1 and str(path) in errors[0], (case, errors)
        else:
            assert proc.stdout.startswith(f"ok  {path}")
        outcomes[case] = proc.returncode
    # The flips inside the largest weight buffer only change numbers: the model still opens.
    assert all(rc == 0 for case, rc in outcomes.items() if case.startswith("flip_weights")), (
        outcomes
    )


def test_mixed_batch_reports_every_file(corrupt) -> None:
    good = DATA / "tiny_cnn" / "fp32.tflite"
    bad1, bad2 = corrupt["empty"][0], corrupt["flip_version"][0]
    proc, _ = _cli("models", "validate", str(bad1), str(good), str(bad2))
    assert proc.returncode == 2
    assert proc.stdout.splitlines() == [
        ln for ln in proc.stdout.splitlines() if ln.startswith("ok  ")
    ]
    assert str(good) in proc.stdout
    errors = _error_lines(proc)
    assert len(errors) == 2
    assert str(bad1) in errors[0] and "empty" in errors[0]
    assert str(bad2) in errors[1] and "schema version" in errors[1]


def test_runtime_time_limit_kills_the_child() -> None:
    t0 = time.monotonic()
    with pytest.raises(InvalidModelError, match=r"did not open the model within 0\.001 s"):
        validate_model(DATA / "tiny_cnn" / "fp32.tflite", timeout_s=0.001)
    assert time.monotonic() - t0 < 2.0


def test_runtime_memory_limit_is_enforced() -> None:
    """Under a 64 MB address-space limit the runtime cannot even start: a reason, not a crash."""
    with pytest.raises(InvalidModelError) as ei:
        validate_model(DATA / "mobilenet_v2" / "fp32.tflite", memory_mb=64)
    assert "fp32.tflite" in str(ei.value)
    assert "--memory-mb 64" in ei.value.reason
    assert "\n" not in str(ei.value)


def test_runtime_rejection_names_the_runtime_reason(tmp_path: Path) -> None:
    """A model whose structure parses but whose contents the runtime refuses."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as s

    t_in, t_out = s.TensorT(), s.TensorT()
    for t, n in ((t_in, "x"), (t_out, "y")):
        t.name, t.type, t.shape, t.buffer = n, s.TensorType.FLOAT32, [1, 4], 0
    op = s.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, [0, 0, 0, 0, 0], [1]  # SOFTMAX with 5 inputs
    code = s.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = s.BuiltinOperator.SOFTMAX
    code.version = 1
    sg = s.SubGraphT()
    sg.tensors, sg.operators, sg.inputs, sg.outputs = [t_in, t_out], [op], [0], [1]
    m = s.ModelT()
    m.version, m.subgraphs, m.operatorCodes, m.buffers = 3, [sg], [code], [s.BufferT()]
    b = flatbuffers.Builder(256)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    path = tmp_path / "bad_softmax.tflite"
    path.write_bytes(bytes(b.Output()))
    with pytest.raises(InvalidModelError) as ei:
        validate_model(path)
    assert ei.value.reason.startswith("the runtime cannot open it: ")
    assert "\n" not in str(ei.value)
