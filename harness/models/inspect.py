"""Read a .tflite flatbuffer without TensorFlow or the runtime: ops, I/O, weights, variant.

The reader is a small, bounds-checked flatbuffer walker written for the TFLite schema
(``schema.fbs``, file identifier ``TFL3``). Every offset is checked against the buffer and
the total amount of work is capped, so a malformed file raises
``InvalidModelError(path, reason)`` instead of crashing, hanging or reading garbage. Only
the enum *names* (BuiltinOperator, TensorType) come from ``ai_edge_litert.schema_py_generated``.

Variant detection, from the tensors (``ModelInfo.variant``):

- ``fp32``    float32 constant weights, float32 activations;
- ``fp16``    float16 constant weights (dequantized by DEQUANTIZE ops), float32 activations;
- ``dynamic`` int8 constant weights, float32 activations (hybrid kernels, dynamic range);
- ``int8``    int8/uint8 activations through every compute op (QUANTIZE/DEQUANTIZE at the
              edges allowed, or int8 inputs/outputs);
- ``mixed``   anything else (int16 activations, float compute ops left in an int8 model, ...);
              ``variant_reason`` says why.

"Activations" are the non-constant tensors read or written by compute ops, i.e. every op
except QUANTIZE and DEQUANTIZE; "weights" are tensors backed by a non-empty buffer.
"""

from __future__ import annotations

import functools
import hashlib
import os
import struct
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import InvalidModelError

FILE_IDENTIFIER = b"TFL3"
SCHEMA_VERSION = 3
VARIANTS = ("fp32", "fp16", "dynamic", "int8")
DETECTED_VARIANTS = (*VARIANTS, "mixed")

# Custom ops that only XNNPACK's TFLite delegate implements (MediaPipe's: tensorflow/lite/delegates/
# xnnpack/xnnpack_delegate.cc, case kTfLiteBuiltinCustom). LiteRT has no builtin kernel for them, so
# a run with XNNPACK off cannot run such a model (LiteRT invokes a stub and fails).
XNNPACK_ONLY_OPS = ("Convolution2DTransposeBias", "MaxPoolingWithArgmax2D", "MaxUnpooling2D")


def no_builtin_kernel(op: str) -> str:
    """Why builtin-kernel runs of a model with the XNNPACK-only custom op ``op`` cannot run."""
    return f"custom op {op} has no builtin kernel (XNNPACK only)"


# Ops that only move data between float and quantized domains; everything else computes.
_EDGE_OPS = frozenset({"QUANTIZE", "DEQUANTIZE"})
# Dtypes that decide the variant; int32/int64/bool tensors (shapes, indices) do not.
_NUMERIC = frozenset({"float32", "float16", "bfloat16", "int8", "uint8", "int16", "int4"})


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dtype: str
    shape: list[int]  # as stored (what the runtime allocates; batch usually 1)
    shape_signature: list[int]  # -1 marks a dynamic dimension (usually the batch)
    quantization: dict[str, Any] | None  # {"scale": [...], "zero_point": [...]} or None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ModelInfo:
    """What a .tflite file holds, as read from its flatbuffer."""

    path: str
    bytes: int
    sha256: str
    variant: str
    variant_reason: str
    ops: dict[str, int]
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    subgraphs: int
    weight_dtypes: dict[str, int]
    activation_dtypes: dict[str, int]
    description: str = ""
    tensors: int = 0
    operators: int = field(default=0)

    @property
    def xnnpack_only_ops(self) -> list[str]:
        """The model's custom ops that only XNNPACK implements (see ``XNNPACK_ONLY_OPS``)."""
        return [op for op in self.ops if op in XNNPACK_ONLY_OPS]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["inputs"] = [t.to_dict() for t in self.inputs]
        d["outputs"] = [t.to_dict() for t in self.outputs]
        return d


# ----------------------------------------------------------------------------- enums


@functools.cache
def _enum_names(class_name: str) -> dict[int, str]:
    from ai_edge_litert import schema_py_generated as schema

    cls = getattr(schema, class_name)
    return {v: k for k, v in vars(cls).items() if not k.startswith("_") and isinstance(v, int)}


def builtin_op_name(code: int) -> str | None:
    return _enum_names("BuiltinOperator").get(code)


def dtype_name(code: int) -> str | None:
    name = _enum_names("TensorType").get(code)
    return name.lower() if name is not None else None


# ----------------------------------------------------------------------------- reader


class _Malformed(Exception):
    """Internal: the flatbuffer is malformed; mapped to InvalidModelError at the boundary."""


class _Reader:
    """Bounds-checked access to flatbuffer tables, vectors and strings."""

    def __init__(self, buf: bytes, budget: int) -> None:
        self.buf = buf
        self.n = len(buf)
        self.budget = budget  # elements/tables we may still visit; guards shared-offset blow-ups

    def _spend(self, k: int = 1) -> None:
        self.budget -= k
        if self.budget < 0:
            raise _Malformed("structure references far more entries than the file can hold")

    def _get(self, fmt: str, pos: int, what: str) -> Any:
        size = struct.calcsize(fmt)
        if pos < 0 or pos + size > self.n:
            raise _Malformed(f"{what} at offset {pos} points outside the file ({self.n} bytes)")
        return struct.unpack_from(fmt, self.buf, pos)[0]

    def u32(self, pos: int, what: str) -> int:
        return self._get("<I", pos, what)

    def root(self) -> int:
        return self.table_at(self.u32(0, "root offset"), "root table")

    def table_at(self, pos: int, what: str) -> int:
        self._spend()
        soff = self._get("<i", pos, what)
        vt = pos - soff
        vt_size = self._get("<H", vt, f"{what} vtable")
        if vt_size < 4 or vt_size % 2:
            raise _Malformed(f"{what} vtable at offset {vt} has an impossible size {vt_size}")
        if vt + vt_size > self.n:
            raise _Malformed(f"{what} vtable at offset {vt} runs past the end of the file")
        tbl_size = self._get("<H", vt + 2, f"{what} vtable")
        if pos + tbl_size > self.n:
            raise _Malformed(f"{what} at offset {pos} runs past the end of the file")
        return pos

    def _field_pos(self, table: int, index: int) -> int | None:
        soff = struct.unpack_from("<i", self.buf, table)[0]
        vt = table - soff
        vt_size = struct.unpack_from("<H", self.buf, vt)[0]
        slot = 4 + 2 * index
        if slot + 2 > vt_size:
            return None
        off = struct.unpack_from("<H", self.buf, vt + slot)[0]
        if off == 0:
            return None
        tbl_size = struct.unpack_from("<H", self.buf, vt + 2)[0]
        if off >= tbl_size and tbl_size != 0:
            raise _Malformed(f"field {index} of the table at offset {table} lies outside the table")
        return table + off

    def scalar(self, table: int, index: int, fmt: str, default: int | float, what: str) -> Any:
        pos = self._field_pos(table, index)
        return default if pos is None else self._get(fmt, pos, what)

    def _deref(self, table: int, index: int, what: str) -> int | None:
        pos = self._field_pos(table, index)
        if pos is None:
            return None
        return pos + self.u32(pos, what)

    def table(self, table: int, index: int, what: str) -> int | None:
        target = self._deref(table, index, what)
        return None if target is None else self.table_at(target, what)

    def _vector(self, start: int, elem: int, what: str) -> tuple[int, int]:
        length = self.u32(start, f"{what} length")
        if length * elem > self.n - start - 4:
            raise _Malformed(
                f"{what} at offset {start} claims {length} entries, more than the file holds"
            )
        self._spend(length)
        return start + 4, length

    def vector(self, table: int, index: int, elem: int, what: str) -> tuple[int, int]:
        """(first element position, length); (0, 0) when the field is absent."""
        start = self._deref(table, index, what)
        if start is None:
            return 0, 0
        return self._vector(start, elem, what)

    def scalars(self, table: int, index: int, fmt: str, what: str) -> list[Any]:
        size = struct.calcsize(fmt)
        pos, length = self.vector(table, index, size, what)
        if not length:
            return []
        return list(struct.unpack_from(f"<{length}{fmt}", self.buf, pos))

    def tables(self, table: int, index: int, what: str) -> list[int]:
        pos, length = self.vector(table, index, 4, what)
        return [
            self.table_at(pos + 4 * i + self.u32(pos + 4 * i, what), what) for i in range(length)
        ]

    def string(self, table: int, index: int, what: str) -> str:
        start = self._deref(table, index, what)
        if start is None:
            return ""
        pos, length = self._vector(start, 1, what)
        return self.buf[pos : pos + length].decode("utf-8", errors="replace")


# ----------------------------------------------------------------------------- model


def inspect_model(path: str | os.PathLike[str]) -> ModelInfo:
    """Read ``path`` and describe it; any malformed input raises ``InvalidModelError``."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError as exc:
        raise InvalidModelError(str(p), "no such file") from exc
    except IsADirectoryError as exc:
        raise InvalidModelError(str(p), "is a folder, not a .tflite file") from exc
    except OSError as exc:
        raise InvalidModelError(str(p), f"cannot read: {exc.strerror or exc}") from exc
    return inspect_bytes(data, str(p))


def inspect_bytes(data: bytes, path: str = "<bytes>") -> ModelInfo:
    """Describe a .tflite flatbuffer held in memory; ``path`` is only used in messages."""
    if not data:
        raise InvalidModelError(path, "file is empty (0 bytes)")
    if len(data) < 8:
        raise InvalidModelError(
            path, f"file is too short to be a .tflite model ({len(data)} bytes)"
        )
    if data[4:8] != FILE_IDENTIFIER:
        raise InvalidModelError(
            path,
            f"not a TFLite flatbuffer: identifier is {data[4:8]!r}, expected {FILE_IDENTIFIER!r}",
        )
    try:
        return _describe(data, path)
    except _Malformed as exc:
        raise InvalidModelError(path, f"malformed or truncated flatbuffer: {exc}") from None
    except (struct.error, IndexError, ValueError, OverflowError) as exc:  # defence in depth
        raise InvalidModelError(path, f"malformed or truncated flatbuffer: {exc}") from None


def _describe(data: bytes, path: str) -> ModelInfo:
    r = _Reader(data, budget=len(data) + 10_000)
    model = r.root()
    version = r.scalar(model, 0, "<I", 0, "Model.version")
    if version != SCHEMA_VERSION:
        raise _Malformed(f"schema version is {version}, expected {SCHEMA_VERSION}")

    # Operator codes -> names.
    op_names: list[str] = []
    for oc in r.tables(model, 1, "Model.operator_codes"):
        deprecated = r.scalar(oc, 0, "<b", 0, "OperatorCode.deprecated_builtin_code")
        code = max(deprecated, r.scalar(oc, 3, "<i", 0, "OperatorCode.builtin_code"))
        name = builtin_op_name(code)
        if name is None:
            raise _Malformed(f"unknown builtin operator code {code}")
        if name == "CUSTOM":
            custom = r.string(oc, 1, "OperatorCode.custom_code")
            name = custom or "CUSTOM"
        op_names.append(name)

    # Buffers: which ones hold data (constant tensors).
    buffers = r.tables(model, 4, "Model.buffers")
    has_data: list[bool] = []
    for b in buffers:
        _, nbytes = r.vector(b, 0, 1, "Buffer.data")
        offset = r.scalar(b, 1, "<Q", 0, "Buffer.offset")
        size = r.scalar(b, 2, "<Q", 0, "Buffer.size")
        if offset > 1 and offset + size > len(data):
            raise _Malformed(
                f"buffer data at offset {offset} (+{size} bytes) lies outside the file"
            )
        has_data.append(nbytes > 0 or (offset > 1 and size > 0))

    subgraphs = r.tables(model, 2, "Model.subgraphs")
    if not subgraphs:
        raise _Malformed("the model has no subgraphs")

    ops: Counter[str] = Counter()
    weight_dtypes: Counter[str] = Counter()
    activation_dtypes: Counter[str] = Counter()
    float_compute_ops: Counter[str] = Counter()
    int16_ops: Counter[str] = Counter()
    inputs: list[TensorInfo] = []
    outputs: list[TensorInfo] = []
    n_tensors = n_ops = 0

    for sg_index, sg in enumerate(subgraphs):
        tensor_tables = r.tables(sg, 0, "SubGraph.tensors")
        n_tensors += len(tensor_tables)
        dtypes: list[str] = []
        constant: list[bool] = []
        for t in tensor_tables:
            code = r.scalar(t, 1, "<b", 0, "Tensor.type")
            name = dtype_name(code)
            if name is None:
                raise _Malformed(f"unknown tensor type code {code}")
            buf_index = r.scalar(t, 2, "<I", 0, "Tensor.buffer")
            if buf_index >= len(buffers):
                raise _Malformed(
                    f"tensor refers to buffer {buf_index}, the model has {len(buffers)}"
                )
            is_const = has_data[buf_index]
            dtypes.append(name)
            constant.append(is_const)
            if is_const:
                weight_dtypes[name] += 1

        check = functools.partial(_check_indices, count=len(tensor_tables), subgraph=sg_index)

        sg_inputs = check(r.scalars(sg, 1, "i", "SubGraph.inputs"), "a subgraph input")
        sg_outputs = check(r.scalars(sg, 2, "i", "SubGraph.outputs"), "a subgraph output")
        for op in r.tables(sg, 3, "SubGraph.operators"):
            n_ops += 1
            opcode = r.scalar(op, 0, "<I", 0, "Operator.opcode_index")
            if opcode >= len(op_names):
                raise _Malformed(
                    f"operator uses opcode {opcode}, the model declares {len(op_names)}"
                )
            op_name = op_names[opcode]
            ops[op_name] += 1
            op_in = check(r.scalars(op, 1, "i", "Operator.inputs"), f"a {op_name} input", True)
            op_out = check(r.scalars(op, 2, "i", "Operator.outputs"), f"a {op_name} output", True)
            if op_name in _EDGE_OPS:
                continue
            seen_float = seen_int16 = False
            for i in (*op_in, *op_out):
                if i < 0 or constant[i]:
                    continue
                dt = dtypes[i]
                activation_dtypes[dt] += 1
                seen_float |= dt in ("float32", "float16", "bfloat16")
                seen_int16 |= dt == "int16"
            if seen_float:
                float_compute_ops[op_name] += 1
            if seen_int16:
                int16_ops[op_name] += 1

        if sg_index == 0:  # the main subgraph's I/O is the model's I/O
            inputs = [_tensor_info(r, tensor_tables[i], dtypes[i]) for i in sg_inputs]
            outputs = [_tensor_info(r, tensor_tables[i], dtypes[i]) for i in sg_outputs]

    variant, reason = _detect_variant(
        weight_dtypes, activation_dtypes, float_compute_ops, int16_ops
    )
    return ModelInfo(
        path=path,
        bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        variant=variant,
        variant_reason=reason,
        ops=dict(sorted(ops.items(), key=lambda kv: (-kv[1], kv[0]))),
        inputs=inputs,
        outputs=outputs,
        subgraphs=len(subgraphs),
        weight_dtypes=dict(sorted(weight_dtypes.items())),
        activation_dtypes=dict(sorted(activation_dtypes.items())),
        description=r.string(model, 3, "Model.description"),
        tensors=n_tensors,
        operators=n_ops,
    )


def _check_indices(
    indices: list[int], what: str, optional: bool = False, *, count: int, subgraph: int
) -> list[int]:
    for i in indices:
        if not (0 <= i < count or (optional and i == -1)):
            raise _Malformed(f"{what} refers to tensor {i}, subgraph {subgraph} has {count}")
    return indices


def _tensor_info(r: _Reader, t: int, dtype: str) -> TensorInfo:
    shape = r.scalars(t, 0, "i", "Tensor.shape")
    signature = r.scalars(t, 7, "i", "Tensor.shape_signature")
    if not signature or len(signature) != len(shape):
        signature = shape
    quant = None
    q = r.table(t, 4, "Tensor.quantization")
    if q is not None:
        scale = [float(x) for x in r.scalars(q, 2, "f", "QuantizationParameters.scale")]
        zero_point = [int(x) for x in r.scalars(q, 3, "q", "QuantizationParameters.zero_point")]
        if scale:
            quant = {
                "scale": scale[0] if len(scale) == 1 else scale,
                "zero_point": (zero_point[0] if len(zero_point) == 1 else zero_point)
                if zero_point
                else 0,
            }
    return TensorInfo(
        name=r.string(t, 3, "Tensor.name"),
        dtype=dtype,
        shape=shape,
        shape_signature=signature,
        quantization=quant,
    )


def _detect_variant(
    weights: Counter[str],
    activations: Counter[str],
    float_ops: Counter[str],
    int16_ops: Counter[str],
) -> tuple[str, str]:
    def fmt(c: Counter[str]) -> str:
        return ", ".join(f"{k} x{v}" for k, v in sorted(c.items(), key=lambda kv: (-kv[1], kv[0])))

    quant_act = activations["int8"] + activations["uint8"]
    float_act = activations["float32"]
    if int16_ops:
        return "mixed", f"int16 activations (16x8 quantization) in {fmt(int16_ops)}"
    if activations["float16"] or activations["bfloat16"]:
        return "mixed", "compute ops run on float16/bfloat16 activations"
    if quant_act:
        if float_ops:
            return "mixed", (
                f"int8 activations, but these compute ops still run in float: {fmt(float_ops)}"
            )
        kind = "int8" if activations["int8"] else "uint8"
        return "int8", f"every compute op runs on {kind} activations"
    quant_w = weights["int8"] + weights["uint8"] + weights["int4"]
    if quant_w and weights["float16"]:
        return "mixed", "both int8 and float16 constant weights with float32 activations"
    if quant_w:
        return "dynamic", f"{quant_w} int8 constant weight tensors, float32 activations"
    if weights["float16"]:
        return "fp16", f"{weights['float16']} float16 constant weight tensors, float32 activations"
    if float_act or weights["float32"] or not activations:
        return "fp32", "float32 weights and activations"
    return "mixed", f"no float or int8 activations ({fmt(activations)})"
