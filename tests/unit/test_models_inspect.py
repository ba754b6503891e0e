"""inspect_model on the committed example models, on hand-built flatbuffers and on broken bytes."""

from __future__ import annotations

import json
import struct
import time
from pathlib import Path

import flatbuffers
import pytest
from ai_edge_litert import schema_py_generated as s

from harness.errors import InvalidModelError
from harness.models.inspect import inspect_bytes, inspect_model

DATA = Path(__file__).resolve().parents[2] / "harness" / "models" / "examples_data"
VARIANTS = ("fp32", "fp16", "dynamic", "int8")


# ----------------------------------------------------------------------------- committed examples


@pytest.mark.parametrize("example", ["tiny_cnn", "mobilenet_v2"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_committed_variants_are_detected(example: str, variant: str) -> None:
    info = inspect_model(DATA / example / f"{variant}.tflite")
    assert info.variant == variant, info.variant_reason
    manifest = json.loads((DATA / example / "manifest.json").read_text())
    entry = next(v for v in manifest["variants"] if v["variant"] == variant)
    assert info.sha256 == entry["sha256"]
    assert info.bytes == entry["bytes"] == (DATA / example / f"{variant}.tflite").stat().st_size
    assert info.ops == entry["ops"]
    assert info.subgraphs == 1


def test_tiny_cnn_ops_and_io() -> None:
    fp32 = inspect_model(DATA / "tiny_cnn" / "fp32.tflite")
    assert fp32.ops == {
        "CONV_2D": 3,
        "DEPTHWISE_CONV_2D": 1,
        "FULLY_CONNECTED": 1,
        "MAX_POOL_2D": 1,
        "MEAN": 1,
        "SOFTMAX": 1,
    }
    assert [(t.dtype, t.shape) for t in fp32.inputs] == [("float32", [1, 32, 32, 3])]
    assert [(t.dtype, t.shape) for t in fp32.outputs] == [("float32", [1, 10])]
    assert fp32.inputs[0].shape_signature == [-1, 32, 32, 3]
    assert set(fp32.weight_dtypes) <= {"float32", "int32"}
    assert fp32.activation_dtypes == {"float32": fp32.activation_dtypes["float32"]}


def test_fp16_dequantizes_every_float16_weight() -> None:
    info = inspect_model(DATA / "tiny_cnn" / "fp16.tflite")
    assert info.weight_dtypes["float16"] == info.ops["DEQUANTIZE"] > 0
    assert "int8" not in info.activation_dtypes


def test_dynamic_has_int8_weights_and_float_activations() -> None:
    info = inspect_model(DATA / "mobilenet_v2" / "dynamic.tflite")
    assert info.weight_dtypes["int8"] > 0
    assert set(info.activation_dtypes) == {"float32"}
    assert "QUANTIZE" not in info.ops


def test_int8_with_float_io_quantizes_at_the_edges() -> None:
    info = inspect_model(DATA / "mobilenet_v2" / "int8.tflite")
    assert info.ops["QUANTIZE"] == 1 and info.ops["DEQUANTIZE"] == 1
    assert [t.dtype for t in info.inputs] == ["float32"]
    assert [t.dtype for t in info.outputs] == ["float32"]
    assert info.inputs[0].quantization is None
    assert set(info.activation_dtypes) == {"int8"}
    assert (
        info.ops["CONV_2D"] == 35 and info.ops["DEPTHWISE_CONV_2D"] == 17 and info.ops["ADD"] == 10
    )


def test_to_dict_is_json_ready() -> None:
    d = json.loads(json.dumps(inspect_model(DATA / "tiny_cnn" / "int8.tflite").to_dict()))
    assert {"variant", "sha256", "bytes", "ops", "inputs", "outputs"} <= set(d)
    assert set(d["inputs"][0]) >= {"name", "dtype", "shape", "quantization"}


# ----------------------------------------------------------------------------- hand-built models


def _tensor(
    name: str, dtype: int, buffer: int = 0, q: tuple[float, int] | None = None
) -> s.TensorT:
    t = s.TensorT()
    t.name, t.type, t.shape, t.buffer = name, dtype, [1, 4], buffer
    if q is not None:
        t.quantization = s.QuantizationParametersT()
        t.quantization.scale, t.quantization.zeroPoint = [q[0]], [q[1]]
    return t


def _op(opcode: int, inputs: list[int], outputs: list[int]) -> s.OperatorT:
    o = s.OperatorT()
    o.opcodeIndex, o.inputs, o.outputs = opcode, inputs, outputs
    return o


def _code(
    builtin: int, custom: str | None = None, deprecated: int | None = None
) -> s.OperatorCodeT:
    c = s.OperatorCodeT()
    c.builtinCode = builtin
    c.deprecatedBuiltinCode = min(builtin, 127) if deprecated is None else deprecated
    c.customCode = custom
    c.version = 1
    return c


def _model(
    tensors: list[s.TensorT],
    ops: list[s.OperatorT],
    codes: list[s.OperatorCodeT],
    inputs: list[int],
    outputs: list[int],
    n_buffers: int = 1,
) -> bytes:
    sg = s.SubGraphT()
    sg.tensors, sg.operators, sg.inputs, sg.outputs = tensors, ops, inputs, outputs
    m = s.ModelT()
    m.version, m.subgraphs, m.operatorCodes = 3, [sg], codes
    m.buffers = [s.BufferT()]
    for _ in range(n_buffers - 1):
        b = s.BufferT()
        b.data = [1, 2, 3, 4] * 4
        m.buffers.append(b)
    m.description = "hand-built"
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


F32, I8, I16, F16 = (
    s.TensorType.FLOAT32,
    s.TensorType.INT8,
    s.TensorType.INT16,
    s.TensorType.FLOAT16,
)
BO = s.BuiltinOperator


def test_int16_activations_are_mixed() -> None:
    data = _model(
        [
            _tensor("x", I16, q=(0.1, 0)),
            _tensor("w", I8, 1, q=(0.2, 0)),
            _tensor("y", I16, q=(0.1, 0)),
        ],
        [_op(0, [0, 1], [2])],
        [_code(BO.FULLY_CONNECTED)],
        [0],
        [2],
        n_buffers=2,
    )
    info = inspect_bytes(data)
    assert info.variant == "mixed"
    assert "int16" in info.variant_reason
    assert info.inputs[0].quantization == {"scale": pytest.approx(0.1), "zero_point": 0}


def test_float_op_left_in_int8_model_is_mixed() -> None:
    data = _model(
        [
            _tensor("x", I8, q=(0.1, 0)),
            _tensor("y", I8, q=(0.1, 0)),
            _tensor("z", F32),
            _tensor("o", F32),
        ],
        [_op(0, [0], [1]), _op(1, [1], [2]), _op(2, [2], [3])],
        [_code(BO.RELU), _code(BO.DEQUANTIZE), _code(BO.TANH)],
        [0],
        [3],
    )
    info = inspect_bytes(data)
    assert info.variant == "mixed"
    assert "TANH" in info.variant_reason


def test_builtin_code_beyond_127_and_custom_ops_are_named() -> None:
    # New ops keep deprecated_builtin_code at 127 (PLACEHOLDER_FOR_GREATER_OP_CODES).
    big = BO.STABLEHLO_ADD if hasattr(BO, "STABLEHLO_ADD") else 200
    data = _model(
        [_tensor("a", F32), _tensor("b", F32), _tensor("c", F32)],
        [_op(0, [0], [1]), _op(1, [1], [2]), _op(1, [2], [2])],
        [_code(big, deprecated=127), _code(BO.CUSTOM, custom="MyFancyOp")],
        [0],
        [2],
    )
    info = inspect_bytes(data)
    assert info.ops == {"MyFancyOp": 2, "STABLEHLO_ADD": 1}
    assert info.variant == "fp32"


def test_int8_weights_float_activations_is_dynamic() -> None:
    data = _model(
        [_tensor("x", F32), _tensor("w", I8, 1, q=(0.5, 0)), _tensor("y", F32)],
        [_op(0, [0, 1, -1], [2])],  # -1: an omitted optional input
        [_code(BO.FULLY_CONNECTED)],
        [0],
        [2],
        n_buffers=2,
    )
    assert inspect_bytes(data).variant == "dynamic"


# ----------------------------------------------------------------------------- broken bytes

TINY = (DATA / "tiny_cnn" / "fp32.tflite").read_bytes()


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b"", "empty"),
        (b"TFL3", "too short"),
        (b"\x00" * 4 + b"ABCD" + b"\x00" * 64, "identifier"),
        (TINY[:8], "malformed"),
        (TINY[:64], "malformed"),
        (TINY[: len(TINY) // 2], "malformed"),
        (TINY[:-1000], "malformed"),
        (struct.pack("<I", 0xFFFFFF00) + TINY[4:], "outside the file"),
        (struct.pack("<I", 4) + TINY[4:], "malformed"),  # root points at the identifier
    ],
    ids=[
        "empty",
        "short",
        "wrong-id",
        "cut8",
        "cut64",
        "cut-half",
        "cut-tail",
        "root-far",
        "root-4",
    ],
)
def test_broken_bytes_are_rejected(data: bytes, needle: str) -> None:
    with pytest.raises(InvalidModelError) as ei:
        inspect_bytes(data, "broken.tflite")
    assert needle in ei.value.reason
    assert str(ei.value).startswith("broken.tflite: ")
    assert "\n" not in str(ei.value)


def test_shared_offsets_cannot_blow_up_the_walk() -> None:
    """5000 subgraph slots all pointing at one 5000-tensor subgraph: legal offsets, 25M visits."""
    b = flatbuffers.Builder(0)
    name = b.CreateString("t")
    s.TensorStart(b)
    s.TensorAddName(b, name)
    s.TensorAddType(b, F32)
    tensor = s.TensorEnd(b)
    s.SubGraphStartTensorsVector(b, 5000)
    for _ in range(5000):
        b.PrependUOffsetTRelative(tensor)
    tensors = b.EndVector()
    s.SubGraphStart(b)
    s.SubGraphAddTensors(b, tensors)
    sg = s.SubGraphEnd(b)
    s.ModelStartSubgraphsVector(b, 5000)
    for _ in range(5000):
        b.PrependUOffsetTRelative(sg)
    subgraphs = b.EndVector()
    s.BufferStart(b)
    empty = s.BufferEnd(b)
    s.ModelStartBuffersVector(b, 1)
    b.PrependUOffsetTRelative(empty)
    buffers = b.EndVector()
    s.ModelStart(b)
    s.ModelAddVersion(b, 3)
    s.ModelAddSubgraphs(b, subgraphs)
    s.ModelAddBuffers(b, buffers)
    b.Finish(s.ModelEnd(b), file_identifier=b"TFL3")
    t0 = time.monotonic()
    with pytest.raises(InvalidModelError, match="far more entries"):
        inspect_bytes(bytes(b.Output()), "loop.tflite")
    assert time.monotonic() - t0 < 2.0


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(InvalidModelError, match="no such file"):
        inspect_model(tmp_path / "nope.tflite")
    with pytest.raises(InvalidModelError, match="folder"):
        inspect_model(tmp_path)
