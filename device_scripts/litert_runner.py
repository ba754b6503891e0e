#!/usr/bin/env python3
# This file runs on Python 3.9 boards: zip(strict=) (3.10) and datetime.UTC (3.11) are not there.
# ruff: noqa: B905, UP017
"""harness litert runner: times (and, op by op, profiles) one .tflite model on this device.

Runs ON the device (the host, a Raspberry Pi, an emulated board). It is pushed as this single file:
stdlib + numpy + ai_edge_litert only, Python 3.9+, never imports `harness`.

Primary path: the LiteRT C API in ai_edge_litert/libLiteRt.so through ctypes, for latency AND
profile mode, so both measure the same runtime path (CompiledModel, CPU, XNNPACK or TFLite builtin
kernels). Per-op timings come from the CompiledModel's profiler (LiteRtCompiledModelGetProfiler).
Fallback (latency only): tflite_runtime or tensorflow's tf.lite.Interpreter.

    python3 litert_runner.py --model M.tflite --out result.json [--mode latency|profile] ...

stdout/stderr are for humans. The result is one JSON file (format "harness-litert-runner",
format_version 1), written atomically. Exit codes: 0 ok, 2 bad arguments, 3 run failed (the JSON
is still written, with "status": "failed" and an error class + message).
"""

from __future__ import annotations

import argparse
import collections
import ctypes
import datetime
import hashlib
import importlib.util
import json
import os
import platform
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

# numpy is imported by the measuring process only (measure()): the supervising process never
# needs it, and importing it there would add ~0.13 s to every run.
np = None  # type: ignore[assignment]


def _import_numpy() -> None:
    global np
    if np is None:
        import numpy

        np = numpy

FORMAT = "harness-litert-runner"
FORMAT_VERSION = 1
RUNNER_VERSION = "1.0"

# ai-edge-litert versions whose libLiteRt.so C API and struct layouts this runner was checked
# against (2.1.0 has a different API). Others are tried, with a note in the result.
TESTED_LITERT_PREFIXES = ("2.1.6", "2.2.", "2.3.")


# --------------------------------------------------------------------------------------------
# Errors: each has a short class name that lands in the result's "error.class".
# --------------------------------------------------------------------------------------------
class RunnerError(Exception):
    """Base of every failure the runner reports in its result JSON ("error.class" is the
    subclass's name)."""

    @property
    def error_class(self) -> str:
        return type(self).__name__


class ArgumentError(RunnerError):
    pass


class RuntimeMissing(RunnerError):
    pass


class ModelLoadError(RunnerError):
    pass


class CompileError(RunnerError):
    pass


class InvokeError(RunnerError):
    pass


class ProfilerError(RunnerError):
    pass


class OutputError(RunnerError):
    pass


# --------------------------------------------------------------------------------------------
# LiteRT C API through ctypes
# --------------------------------------------------------------------------------------------
_STATUS_NAMES = {
    0: "Ok", 1: "ErrorInvalidArgument", 2: "ErrorMemoryAllocationFailure",
    3: "ErrorRuntimeFailure", 4: "ErrorMissingInputTensor", 5: "ErrorUnsupported",
    6: "ErrorNotFound", 7: "ErrorTimeoutExpired", 8: "ErrorWrongVersion", 9: "ErrorUnknown",
    10: "ErrorAlreadyExists", 100: "Cancelled", 500: "ErrorFileIO",
    501: "ErrorInvalidFlatbuffer", 502: "ErrorDynamicLoading", 503: "ErrorSerialization",
    504: "ErrorCompilation", 1000: "ErrorIndexOOB", 1001: "ErrorInvalidIrType",
    1002: "ErrorInvalidGraphInvariant", 1003: "ErrorGraphModification",
    1500: "ErrorInvalidToolConfig", 4000: "ErrorUnsupportedRuntimeVersion",
}

_HW_ACCELERATOR_CPU = 1
_LOCK_READ = 0
_LOCK_WRITE = 1

# LiteRtElementType -> numpy dtype name (values match TfLiteType).
_ELEMENT_TYPES = {
    1: "float32", 2: "int32", 3: "uint8", 4: "int64", 6: "bool", 7: "int16", 9: "int8",
    10: "float16", 11: "float64", 13: "uint64", 16: "uint32", 17: "uint16",
}

# Profiler event types (tflite::Profiler::EventType).
EV_DEFAULT = 1
EV_OPERATOR_INVOKE = 2
EV_DELEGATE_OPERATOR_INVOKE = 4
EV_DELEGATE_PROFILED_OPERATOR_INVOKE = 8
EV_GENERAL_RUNTIME_INSTRUMENTATION = 16
_KNOWN_EVENT_TYPES = {1, 2, 4, 8, 16, 32, 64, 128, 256}
SOURCE_TFLITE_DELEGATE = 2

_VP = ctypes.c_void_p
_SZ = ctypes.c_size_t
_INT = ctypes.c_int


class _Layout(ctypes.Structure):
    # LiteRtLayout: unsigned rank:7; unsigned has_strides:1; int32 dimensions[8]; uint32 strides[8]
    _fields_ = [
        ("rank", ctypes.c_uint32, 7),
        ("has_strides", ctypes.c_uint32, 1),
        ("dimensions", ctypes.c_int32 * 8),
        ("strides", ctypes.c_uint32 * 8),
    ]


class _RankedTensorType(ctypes.Structure):
    _fields_ = [("element_type", ctypes.c_int), ("layout", _Layout)]


class _QuantPerTensor(ctypes.Structure):
    _fields_ = [("scale", ctypes.c_float), ("zero_point", ctypes.c_int64)]


class _MemUsage(ctypes.Structure):
    _fields_ = [("v0", ctypes.c_size_t), ("v1", ctypes.c_size_t), ("v2", ctypes.c_size_t)]


class _ProfiledEventData(ctypes.Structure):
    _fields_ = [
        ("tag", ctypes.c_char_p),
        ("event_type", ctypes.c_int),
        ("start_timestamp_us", ctypes.c_uint64),
        ("elapsed_time_us", ctypes.c_uint64),
        ("begin_mem_usage", _MemUsage),
        ("end_mem_usage", _MemUsage),
        ("event_metadata1", ctypes.c_uint64),
        ("event_metadata2", ctypes.c_uint64),
        ("event_source", ctypes.c_int),
    ]


# name -> (restype, argtypes); restype _INT means LiteRtStatus, None means void.
_PROTOTYPES = {
    "LiteRtCreateEnvironment": (_INT, [_INT, _VP, ctypes.POINTER(_VP)]),
    "LiteRtDestroyEnvironment": (None, [_VP]),
    "LiteRtCreateModelFromFile": (_INT, [_VP, ctypes.c_char_p, ctypes.POINTER(_VP)]),
    "LiteRtDestroyModel": (None, [_VP]),
    "LiteRtGetNumModelSignatures": (_INT, [_VP, ctypes.POINTER(_SZ)]),
    "LiteRtGetModelSignature": (_INT, [_VP, _SZ, ctypes.POINTER(_VP)]),
    "LiteRtGetNumSignatureInputs": (_INT, [_VP, ctypes.POINTER(_SZ)]),
    "LiteRtGetNumSignatureOutputs": (_INT, [_VP, ctypes.POINTER(_SZ)]),
    "LiteRtGetSignatureInputName": (_INT, [_VP, _SZ, ctypes.POINTER(ctypes.c_char_p)]),
    "LiteRtGetSignatureOutputName": (_INT, [_VP, _SZ, ctypes.POINTER(ctypes.c_char_p)]),
    "LiteRtGetSignatureInputTensorByIndex": (_INT, [_VP, _SZ, ctypes.POINTER(_VP)]),
    "LiteRtGetSignatureOutputTensorByIndex": (_INT, [_VP, _SZ, ctypes.POINTER(_VP)]),
    "LiteRtGetRankedTensorType": (_INT, [_VP, ctypes.POINTER(_RankedTensorType)]),
    "LiteRtGetQuantizationTypeId": (_INT, [_VP, ctypes.POINTER(_INT)]),
    "LiteRtGetPerTensorQuantization": (_INT, [_VP, ctypes.POINTER(_QuantPerTensor)]),
    "LiteRtCreateOptions": (_INT, [ctypes.POINTER(_VP)]),
    "LiteRtDestroyOptions": (None, [_VP]),
    "LiteRtSetOptionsHardwareAccelerators": (_INT, [_VP, _INT]),
    "LiteRtCreateOpaqueOptions": (_INT, [ctypes.c_char_p, _VP, _VP, ctypes.POINTER(_VP)]),
    "LiteRtDestroyOpaqueOptions": (None, [_VP]),
    "LiteRtAddOpaqueOptions": (_INT, [_VP, _VP]),
    "LiteRtCreateCompiledModel": (_INT, [_VP, _VP, _VP, ctypes.POINTER(_VP)]),
    "LiteRtDestroyCompiledModel": (None, [_VP]),
    "LiteRtGetCompiledModelInputBufferRequirements": (_INT, [_VP, _SZ, _SZ, ctypes.POINTER(_VP)]),
    "LiteRtGetCompiledModelOutputBufferRequirements": (_INT, [_VP, _SZ, _SZ, ctypes.POINTER(_VP)]),
    "LiteRtCreateManagedTensorBufferFromRequirements": (
        _INT, [_VP, ctypes.POINTER(_RankedTensorType), _VP, ctypes.POINTER(_VP)]),
    "LiteRtGetTensorBufferPackedSize": (_INT, [_VP, ctypes.POINTER(_SZ)]),
    "LiteRtLockTensorBuffer": (_INT, [_VP, ctypes.POINTER(_VP), _INT]),
    "LiteRtUnlockTensorBuffer": (_INT, [_VP]),
    "LiteRtDestroyTensorBuffer": (None, [_VP]),
    "LiteRtRunCompiledModel": (_INT, [_VP, _SZ, _SZ, _VP, _SZ, _VP]),
    "LiteRtCompiledModelGetProfiler": (_INT, [_VP, ctypes.POINTER(_VP)]),
    "LiteRtStartProfiler": (_INT, [_VP]),
    "LiteRtStopProfiler": (_INT, [_VP]),
    "LiteRtGetNumProfilerEvents": (_INT, [_VP, ctypes.POINTER(_INT)]),
    "LiteRtGetProfilerEvents": (_INT, [_VP, _INT, ctypes.POINTER(_ProfiledEventData)]),
    "LiteRtGetProfileSummary": (_INT, [_VP, _VP, ctypes.POINTER(_VP)]),
}


def _find_litert_library(explicit: str | None) -> str:
    if explicit:
        if not os.path.isfile(explicit):
            raise RuntimeMissing(f"--litert-lib {explicit!r} does not exist")
        return explicit
    spec = importlib.util.find_spec("ai_edge_litert")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeMissing(
            "Python package ai_edge_litert is not installed "
            "(install it with: pip install ai-edge-litert==2.3.0)")
    for location in spec.submodule_search_locations:
        candidate = os.path.join(location, "libLiteRt.so")
        if os.path.isfile(candidate):
            return candidate
    raise RuntimeMissing(
        "ai_edge_litert is installed but has no libLiteRt.so "
        f"(looked in {list(spec.submodule_search_locations)}); reinstall ai-edge-litert==2.3.0")


def _distribution_version(name: str) -> str | None:
    try:
        from importlib import metadata
    except ImportError:  # pragma: no cover - Python < 3.8
        return None
    try:
        return metadata.version(name)
    except Exception:
        return None


class LiteRtApi:
    """The few libLiteRt.so functions the runner needs, with checked signatures."""

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            self._lib = ctypes.CDLL(path)
        except OSError as exc:
            raise RuntimeMissing(f"cannot load {path}: {exc}") from exc
        missing = []
        for name, (restype, argtypes) in _PROTOTYPES.items():
            try:
                fn = getattr(self._lib, name)
            except AttributeError:
                missing.append(name)
                continue
            fn.restype = restype
            fn.argtypes = argtypes
            setattr(self, name, fn)
        if missing:
            raise RuntimeMissing(
                f"{path} lacks {', '.join(missing)}: this LiteRT build has a different C API; "
                "use ai-edge-litert==2.3.0")
        libc = ctypes.CDLL(None)
        self._strdup = libc.strdup
        self._strdup.restype = _VP
        self._strdup.argtypes = [ctypes.c_char_p]
        self._free = libc.free
        self._free.restype = None
        self._free.argtypes = [_VP]
        self.free_address = ctypes.cast(libc.free, _VP).value

    def check(self, error_cls: type, name: str, *args) -> None:
        status = getattr(self, name)(*args)
        if status != 0:
            raise error_cls(
                f"{name} failed with LiteRtStatus {status} "
                f"({_STATUS_NAMES.get(status, 'unknown')})")

    def strdup(self, text: str) -> int:
        pointer = self._strdup(text.encode("utf-8"))
        if not pointer:
            raise CompileError("strdup failed: out of memory")
        return pointer

    def free(self, pointer: int) -> None:
        self._free(pointer)


class TensorSpec:
    """One signature input or output: name, dtype, shape, and per-tensor quantization."""

    def __init__(self, name: str, dtype: str, shape: list, scale: float | None = None,
                 zero_point: int | None = None) -> None:
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.scale = scale
        self.zero_point = zero_point

    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * np.dtype(self.dtype).itemsize


class LiteRtBackend:
    """CompiledModel on the CPU through the LiteRT C API; latency and per-op profiling."""

    api_name = "litert-c-api"

    def __init__(self, api: LiteRtApi, version: str | None, model_path: str, threads: int,
                 kernels: str, profiling: bool) -> None:
        self.api = api
        self.name = "ai_edge_litert"
        self.version = version
        self.model_path = model_path
        self.threads = threads
        self.kernels = kernels
        self.profiling = profiling
        self._env = _VP()
        self._model = _VP()
        self._options = _VP()
        self._compiled = _VP()
        self._profiler = _VP()
        self._in_buffers: list = []
        self._out_buffers: list = []
        self.inputs: list = []
        self.outputs: list = []

    # -- setup -----------------------------------------------------------------------------
    def open(self) -> None:
        api = self.api
        api.check(CompileError, "LiteRtCreateEnvironment", 0, None, ctypes.byref(self._env))
        _stage("load")
        try:
            api.check(ModelLoadError, "LiteRtCreateModelFromFile", self._env,
                      self.model_path.encode("utf-8"), ctypes.byref(self._model))
        except ModelLoadError as exc:
            raise ModelLoadError(
                f"cannot load {self.model_path!r} as a TFLite model ({exc}); "
                "check that the file is a complete .tflite flatbuffer") from exc
        api.check(CompileError, "LiteRtCreateOptions", ctypes.byref(self._options))
        api.check(CompileError, "LiteRtSetOptionsHardwareAccelerators", self._options,
                  _HW_ACCELERATOR_CPU)
        xnnpack = f"num_threads = {int(self.threads)}\n"
        if self.kernels == "builtin":
            xnnpack += 'kernel_mode = "builtin"\n'
        self._add_opaque_option("xnnpack", xnnpack)
        if self.profiling:
            self._add_opaque_option("runtime_options_string", "enable_profiling = true\n")
        _stage("compile")
        api.check(CompileError, "LiteRtCreateCompiledModel", self._env, self._model,
                  self._options, ctypes.byref(self._compiled))
        _stage("buffers")
        self._make_buffers()

    def _add_opaque_option(self, identifier: str, payload: str) -> None:
        api = self.api
        data = api.strdup(payload)
        opaque = _VP()
        status = api.LiteRtCreateOpaqueOptions(identifier.encode(), data, api.free_address,
                                               ctypes.byref(opaque))
        if status != 0:
            api.free(data)
            raise CompileError(f"LiteRtCreateOpaqueOptions({identifier!r}) failed with "
                               f"LiteRtStatus {status} ({_STATUS_NAMES.get(status, 'unknown')})")
        status = api.LiteRtAddOpaqueOptions(self._options, opaque)
        if status != 0:
            api.LiteRtDestroyOpaqueOptions(opaque)
            raise CompileError(f"LiteRtAddOpaqueOptions({identifier!r}) failed with "
                               f"LiteRtStatus {status} ({_STATUS_NAMES.get(status, 'unknown')})")

    def _tensor_spec(self, tensor: _VP, name: str) -> tuple:
        api = self.api
        ranked = _RankedTensorType()
        api.check(ModelLoadError, "LiteRtGetRankedTensorType", tensor, ctypes.byref(ranked))
        rank = ranked.layout.rank
        shape = []
        for axis in range(rank):
            dim = ranked.layout.dimensions[axis]
            if dim < 0:  # dynamic (e.g. a Keras batch of None): run with 1
                dim = 1
                ranked.layout.dimensions[axis] = 1
            shape.append(int(dim))
        dtype = _ELEMENT_TYPES.get(ranked.element_type)
        if dtype is None:
            raise ModelLoadError(f"tensor {name!r} has element type {ranked.element_type}, "
                                 "which this runner cannot fill or read")
        qtype = _INT()
        api.check(ModelLoadError, "LiteRtGetQuantizationTypeId", tensor, ctypes.byref(qtype))
        scale = zero_point = None
        if qtype.value == 1:  # per-tensor
            quant = _QuantPerTensor()
            api.check(ModelLoadError, "LiteRtGetPerTensorQuantization", tensor,
                      ctypes.byref(quant))
            scale, zero_point = float(quant.scale), int(quant.zero_point)
        return TensorSpec(name, dtype, shape, scale, zero_point), ranked

    def _make_buffers(self) -> None:
        api = self.api
        count = _SZ()
        api.check(ModelLoadError, "LiteRtGetNumModelSignatures", self._model, ctypes.byref(count))
        if count.value < 1:
            raise ModelLoadError(f"{self.model_path!r} has no signature to run")
        signature = _VP()
        api.check(ModelLoadError, "LiteRtGetModelSignature", self._model, 0,
                  ctypes.byref(signature))
        for kind in ("Input", "Output"):
            n = _SZ()
            api.check(ModelLoadError, f"LiteRtGetNumSignature{kind}s", signature, ctypes.byref(n))
            for i in range(n.value):
                c_name = ctypes.c_char_p()
                api.check(ModelLoadError, f"LiteRtGetSignature{kind}Name", signature, i,
                          ctypes.byref(c_name))
                tensor = _VP()
                api.check(ModelLoadError, f"LiteRtGetSignature{kind}TensorByIndex", signature, i,
                          ctypes.byref(tensor))
                name = (c_name.value or b"").decode("utf-8", "replace")
                spec, ranked = self._tensor_spec(tensor, name)
                requirements = _VP()
                api.check(CompileError, f"LiteRtGetCompiledModel{kind}BufferRequirements",
                          self._compiled, 0, i, ctypes.byref(requirements))
                buffer = _VP()
                api.check(CompileError, "LiteRtCreateManagedTensorBufferFromRequirements",
                          self._env, ctypes.byref(ranked), requirements, ctypes.byref(buffer))
                (self._in_buffers if kind == "Input" else self._out_buffers).append(buffer)
                size = _SZ()
                api.check(CompileError, "LiteRtGetTensorBufferPackedSize", buffer,
                          ctypes.byref(size))
                if size.value < spec.nbytes():
                    raise CompileError(f"{kind.lower()} buffer for {name!r} holds {size.value} "
                                       f"bytes, the tensor needs {spec.nbytes()}")
                (self.inputs if kind == "Input" else self.outputs).append(spec)
        self._in_array = (_VP * max(1, len(self._in_buffers)))(
            *[b.value for b in self._in_buffers])
        self._out_array = (_VP * max(1, len(self._out_buffers)))(
            *[b.value for b in self._out_buffers])

    # -- data ------------------------------------------------------------------------------
    def set_inputs(self, arrays: list) -> None:
        for buffer, spec, array in zip(self._in_buffers, self.inputs, arrays):
            data = np.ascontiguousarray(array, dtype=spec.dtype)
            pointer = _VP()
            self.api.check(InvokeError, "LiteRtLockTensorBuffer", buffer, ctypes.byref(pointer),
                           _LOCK_WRITE)
            try:
                ctypes.memmove(pointer.value, data.ctypes.data, data.nbytes)
            finally:
                self.api.check(InvokeError, "LiteRtUnlockTensorBuffer", buffer)

    def get_outputs(self) -> list:
        result = []
        for buffer, spec in zip(self._out_buffers, self.outputs):
            pointer = _VP()
            self.api.check(OutputError, "LiteRtLockTensorBuffer", buffer, ctypes.byref(pointer),
                           _LOCK_READ)
            try:
                raw = (ctypes.c_char * spec.nbytes()).from_address(pointer.value)
                array = np.frombuffer(raw, dtype=spec.dtype).copy().reshape(spec.shape)
            finally:
                self.api.check(OutputError, "LiteRtUnlockTensorBuffer", buffer)
            result.append(array)
        return result

    def make_invoke(self):
        """A zero-argument callable that runs the model once (raises InvokeError)."""
        run = self.api.LiteRtRunCompiledModel
        args = (self._compiled, 0, len(self._in_buffers), self._in_array,
                len(self._out_buffers), self._out_array)

        def invoke() -> None:
            status = run(*args)
            if status != 0:
                raise InvokeError(f"LiteRtRunCompiledModel failed with LiteRtStatus {status} "
                                  f"({_STATUS_NAMES.get(status, 'unknown')})")

        return invoke

    # -- profiler --------------------------------------------------------------------------
    def profiler_start(self) -> None:
        if not self._profiler:
            self.api.check(ProfilerError, "LiteRtCompiledModelGetProfiler", self._compiled,
                           ctypes.byref(self._profiler))
            if not self._profiler:
                raise ProfilerError("LiteRtCompiledModelGetProfiler returned no profiler: the "
                                    "compiled model was built without enable_profiling")
        self.api.check(ProfilerError, "LiteRtStartProfiler", self._profiler)

    def profiler_stop(self) -> None:
        self.api.check(ProfilerError, "LiteRtStopProfiler", self._profiler)

    def profiler_count(self) -> int:
        count = _INT()
        self.api.check(ProfilerError, "LiteRtGetNumProfilerEvents", self._profiler,
                       ctypes.byref(count))
        return int(count.value)

    def profiler_events(self) -> list:
        """Every recorded event as a dict (tags copied out of the profiler's memory)."""
        count = self.profiler_count()
        if count <= 0:
            return []
        events = (_ProfiledEventData * count)()
        self.api.check(ProfilerError, "LiteRtGetProfilerEvents", self._profiler, count, events)
        result = []
        for event in events:
            if event.event_type not in _KNOWN_EVENT_TYPES or event.event_source not in (0, 1, 2):
                raise ProfilerError(
                    f"profiler event with type {event.event_type} / source {event.event_source}: "
                    "the ProfiledEventData layout of this libLiteRt.so differs from the one this "
                    "runner knows (ai-edge-litert 2.1.6-2.3.x)")
            result.append({
                "tag": (event.tag or b"").decode("utf-8", "replace"),
                "event_type": int(event.event_type),
                "start_us": int(event.start_timestamp_us),
                "elapsed_us": int(event.elapsed_time_us),
                "metadata1": int(event.event_metadata1),
                "metadata2": int(event.event_metadata2),
                "source": int(event.event_source),
            })
        return result

    def profiler_summary(self) -> str | None:
        text = _VP()
        self.api.check(ProfilerError, "LiteRtGetProfileSummary", self._profiler, self._compiled,
                       ctypes.byref(text))
        if not text.value:
            return None
        try:
            return ctypes.string_at(text.value).decode("utf-8", "replace")
        finally:
            self.api.free(text.value)

    # -- teardown --------------------------------------------------------------------------
    def close(self) -> None:
        api = self.api
        for buffer in self._out_buffers + self._in_buffers:
            if buffer:
                api.LiteRtDestroyTensorBuffer(buffer)
        self._in_buffers, self._out_buffers = [], []
        # The profiler belongs to the compiled model.
        self._profiler = _VP()
        if self._compiled:
            api.LiteRtDestroyCompiledModel(self._compiled)
            self._compiled = _VP()
        if self._options:
            api.LiteRtDestroyOptions(self._options)
            self._options = _VP()
        if self._model:
            api.LiteRtDestroyModel(self._model)
            self._model = _VP()
        if self._env:
            api.LiteRtDestroyEnvironment(self._env)
            self._env = _VP()


# --------------------------------------------------------------------------------------------
# Fallback: the classic Interpreter (tflite_runtime or tensorflow), latency only
# --------------------------------------------------------------------------------------------
class InterpreterBackend:
    api_name = "interpreter"
    profiling = False

    def __init__(self, name: str, model_path: str, threads: int, kernels: str) -> None:
        self.name = name
        self.model_path = model_path
        self.threads = threads
        self.kernels = kernels
        self.version = None
        self.inputs: list = []
        self.outputs: list = []
        self._interpreter = None

    def _load_module(self):
        if self.name == "tflite_runtime":
            from tflite_runtime import interpreter as module  # type: ignore

            self.version = _distribution_version("tflite-runtime") or getattr(
                module, "__version__", None)
            return module.Interpreter, getattr(module, "OpResolverType", None)
        import tensorflow as tf  # type: ignore

        self.version = tf.__version__
        return tf.lite.Interpreter, tf.lite.experimental.OpResolverType

    def open(self) -> None:
        try:
            interpreter_cls, resolver_types = self._load_module()
        except ImportError as exc:
            raise RuntimeMissing(f"{self.name} is not installed: {exc}") from exc
        kwargs = {"model_path": self.model_path, "num_threads": int(self.threads)}
        if self.kernels == "builtin":
            if resolver_types is None:
                raise RuntimeMissing(f"{self.name} has no OpResolverType: cannot switch XNNPACK "
                                     "off; use --kernels xnnpack")
            kwargs["experimental_op_resolver_type"] = (
                resolver_types.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        try:
            self._interpreter = interpreter_cls(**kwargs)
        except Exception as exc:
            raise ModelLoadError(f"cannot load {self.model_path!r} with {self.name}: {exc}; "
                                 "check that the file is a complete .tflite flatbuffer") from exc
        interp = self._interpreter
        try:
            for detail in interp.get_input_details():
                shape = [int(d) for d in detail.get("shape_signature", detail["shape"])]
                if any(d < 0 for d in shape):
                    shape = [1 if d < 0 else d for d in shape]
                    interp.resize_tensor_input(detail["index"], shape)
            interp.allocate_tensors()
        except Exception as exc:
            raise CompileError(f"{self.name} could not allocate tensors: {exc}") from exc
        self._input_index = []
        for detail in interp.get_input_details():
            self.inputs.append(self._spec(detail))
            self._input_index.append(detail["index"])
        self._output_index = []
        for detail in interp.get_output_details():
            self.outputs.append(self._spec(detail))
            self._output_index.append(detail["index"])

    @staticmethod
    def _spec(detail: dict) -> TensorSpec:
        scale, zero_point = detail.get("quantization", (0.0, 0))
        quantized = bool(scale)
        return TensorSpec(detail["name"], np.dtype(detail["dtype"]).name,
                          [int(d) for d in detail["shape"]],
                          float(scale) if quantized else None,
                          int(zero_point) if quantized else None)

    def set_inputs(self, arrays: list) -> None:
        for index, spec, array in zip(self._input_index, self.inputs, arrays):
            self._interpreter.set_tensor(index, np.ascontiguousarray(array, dtype=spec.dtype))

    def get_outputs(self) -> list:
        return [np.array(self._interpreter.get_tensor(i)) for i in self._output_index]

    def make_invoke(self):
        interp_invoke = self._interpreter.invoke

        def invoke() -> None:
            try:
                interp_invoke()
            except Exception as exc:
                raise InvokeError(f"Interpreter.invoke failed: {exc}") from exc

        return invoke

    def close(self) -> None:
        self._interpreter = None


def select_backend(args: argparse.Namespace):
    """Returns (backend, note). Raises RuntimeMissing with what to install when nothing fits."""
    profiling = args.mode == "profile"
    if args.runtime in ("auto", "litert"):
        try:
            path = _find_litert_library(args.litert_lib)
            api = LiteRtApi(path)
            version = (_distribution_version("ai-edge-litert")
                       or _distribution_version("ai-edge-litert-nightly"))
            note = None
            if version and not version.startswith(TESTED_LITERT_PREFIXES):
                note = (f"ai-edge-litert {version} is not one this runner was checked against "
                        "(2.1.6-2.3.x); the C API or struct layouts may differ")
            return LiteRtBackend(api, version, args.model, args.threads, args.kernels,
                                 profiling), note
        except RuntimeMissing as exc:
            if args.runtime == "litert":
                raise
            litert_problem = str(exc)
        if profiling:
            raise RuntimeMissing(f"per-op profiling needs ai-edge-litert (libLiteRt.so C API): "
                                 f"{litert_problem}")
        for name in ("tflite_runtime", "tensorflow"):
            if importlib.util.find_spec(name.split(".")[0]) is not None:
                return (InterpreterBackend(name, args.model, args.threads, args.kernels),
                        f"fallback to {name} Interpreter: {litert_problem}")
        raise RuntimeMissing(f"no TFLite runtime found: {litert_problem}; tflite_runtime and "
                             "tensorflow are not installed either")
    if profiling:
        raise RuntimeMissing(f"per-op profiling needs ai-edge-litert (libLiteRt.so C API); "
                             f"--runtime {args.runtime} can only measure latency "
                             "(use --mode latency, or --runtime litert)")
    return (InterpreterBackend(args.runtime, args.model, args.threads, args.kernels),
            f"--runtime {args.runtime} requested: classic Interpreter, latency only, "
            "not the LiteRT CompiledModel path")


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------
_FLOAT_DTYPES = ("float16", "float32", "float64")


def make_inputs(specs: list, seed: int, input_range: tuple | None) -> tuple:
    """Deterministic inputs from `seed`. Returns (arrays, descriptions for the result).

    Float and quantized (scale/zero point) inputs get the same real values, uniform in
    [0, 1) or --input-range, so every variant of a model sees the same real inputs.
    """
    rng = np.random.default_rng(seed)
    arrays, described = [], []
    for spec in specs:
        shape = tuple(spec.shape)
        entry = {"name": spec.name, "dtype": spec.dtype, "shape": list(spec.shape)}
        if spec.dtype in _FLOAT_DTYPES or spec.scale:
            lo, hi = input_range if input_range else (0.0, 1.0)
            real = lo + (hi - lo) * rng.random(shape)
            if spec.dtype in _FLOAT_DTYPES:
                array = real.astype(spec.dtype)
            else:
                info = np.iinfo(spec.dtype)
                quantized = np.round(real / spec.scale) + spec.zero_point
                array = np.clip(quantized, info.min, info.max).astype(spec.dtype)
                entry["quantization"] = {"scale": spec.scale, "zero_point": spec.zero_point}
            entry["range"] = [float(lo), float(hi)]
        elif spec.dtype == "bool":
            array = rng.integers(0, 2, size=shape).astype(bool)
            entry["range"] = [0, 1]
        elif np.issubdtype(np.dtype(spec.dtype), np.integer):
            lo, hi = (int(input_range[0]), int(input_range[1])) if input_range else (0, 10)
            if hi <= lo:
                raise ArgumentError(f"--input-range {lo},{hi} holds no integer for input "
                                    f"{spec.name!r} ({spec.dtype})")
            array = rng.integers(lo, hi, size=shape).astype(spec.dtype)
            entry["range"] = [lo, hi]
        else:
            raise ArgumentError(f"input {spec.name!r} has dtype {spec.dtype}, which this runner "
                                "cannot generate")
        arrays.append(array)
        described.append(entry)
    return arrays, described


# --------------------------------------------------------------------------------------------
# Profile events -> ops
# --------------------------------------------------------------------------------------------
_DELEGATE_KERNEL_TAGS = ("TfLiteXNNPackDelegate", "TfLiteGpuDelegate", "DispatchDelegate")


def _dropped_kind(event: dict) -> str | None:
    """Why an event is not an op row, or None when it is one."""
    kind = event["event_type"]
    if kind == EV_DEFAULT:
        return "invoke" if event["tag"] == "Invoke" else "other_default"
    if kind == EV_GENERAL_RUNTIME_INSTRUMENTATION:
        return "runtime_instrumentation"
    if kind >= 32:
        return "telemetry"
    return None


def aggregate_profile(run_events: list, kernels: str, summary_text: str | None) -> dict:
    """Per-run event lists -> the result's "profile" object (ops keyed by position in a run)."""
    ops: dict = {}
    order: list = []
    invoke_event_us = []
    dropped = {"invoke": 0, "other_default": 0, "runtime_instrumentation": 0, "telemetry": 0}
    dropped_tags: dict = {}
    for run_index, events in enumerate(run_events):
        seen_in_run: dict = {}
        invoke_elapsed = None
        for event in events:
            reason = _dropped_kind(event)
            if reason is not None:
                dropped[reason] += 1
                label = f"{event['tag']} (type {event['event_type']})"
                dropped_tags[label] = dropped_tags.get(label, 0) + 1
                if reason == "invoke":
                    # Nested subgraph invokes are shorter; the run's own is the longest.
                    invoke_elapsed = max(invoke_elapsed or 0, event["elapsed_us"])
                continue
            kind = event["event_type"]
            node_index = event["metadata1"]
            subgraph = event["metadata2"]
            identity = (kind, event["tag"], node_index, subgraph)
            occurrence = seen_in_run.get(identity, 0)
            seen_in_run[identity] = occurrence + 1
            key = identity + (occurrence,)
            row = ops.get(key)
            if row is None:
                delegated = (kind in (EV_DELEGATE_OPERATOR_INVOKE,
                                      EV_DELEGATE_PROFILED_OPERATOR_INVOKE)
                             or event["source"] == SOURCE_TFLITE_DELEGATE
                             or event["tag"] in _DELEGATE_KERNEL_TAGS)
                position = len(order)
                if delegated:
                    op_name = f"Delegate/{event['tag']}:{position}"
                elif subgraph:
                    op_name = f"{event['tag']}:{subgraph}/{node_index}"
                else:
                    op_name = f"{event['tag']}:{node_index}"
                row = {
                    "position": position, "node_index": int(node_index),
                    "subgraph": int(subgraph), "op_type": event["tag"], "op_name": op_name,
                    "event_type": kind, "event_source": event["source"], "delegated": delegated,
                    "calls": 0, "first_us": float(event["elapsed_us"]), "total_us": 0.0,
                    "first_run": run_index,
                }
                ops[key] = row
                order.append(key)
            row["calls"] += 1
            row["total_us"] += float(event["elapsed_us"])
        if invoke_elapsed is not None:
            invoke_event_us.append(float(invoke_elapsed))
    rows = []
    for key in order:
        row = ops[key]
        row.pop("first_run")
        rows.append(row)
    return {
        "kernels": kernels,
        "runs": len(run_events),
        "invoke_event_us": invoke_event_us,
        "ops": rows,
        "dropped_events": dropped,
        "dropped_tags": dropped_tags,
        "summary_text": summary_text,
    }


# --------------------------------------------------------------------------------------------
# Facts
# --------------------------------------------------------------------------------------------
def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return None
    fields: dict = {}
    for line in text.splitlines():
        if ":" in line:
            key, _, value = line.partition(":")
            key, value = key.strip().lower(), value.strip()
            if value and key not in fields:
                fields[key] = value
    for key in ("model name", "hardware", "processor"):
        value = fields.get(key)
        if value and not value.isdigit():
            return value
    if "cpu part" in fields:
        return f"CPU implementer {fields.get('cpu implementer', '?')} part {fields['cpu part']}"
    return None


def machine_facts() -> dict:
    libc_name, libc_version = platform.libc_ver()
    return {
        "system": platform.system(),
        "machine": platform.machine(),
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "glibc": libc_version if libc_name == "glibc" and libc_version else None,
        "hostname": socket.gethostname(),
        "kernel": platform.release(),
    }


def model_facts(path: str) -> dict:
    try:
        digest = hashlib.sha256()
        size = 0
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
                size += len(chunk)
    except OSError as exc:
        raise ModelLoadError(f"cannot read model file {path!r}: {exc.strerror or exc}") from exc
    return {"path": path, "bytes": size, "sha256": digest.hexdigest()}


# Custom ops that only XNNPACK's TFLite delegate implements (MediaPipe's; tensorflow/lite/delegates/
# xnnpack/xnnpack_delegate.cc, case kTfLiteBuiltinCustom). With builtin kernels they have no kernel:
# LiteRT resolves them to a stub and the first invoke fails with LiteRtStatus 3.
XNNPACK_ONLY_CUSTOM_OPS = ("Convolution2DTransposeBias", "MaxPoolingWithArgmax2D", "MaxUnpooling2D")
_BUILTIN_CUSTOM = 32  # BuiltinOperator.CUSTOM


def custom_op_names(path: str) -> list:
    """The custom_code of every CUSTOM operator code of a .tflite file, read from its flatbuffer
    (Model.operator_codes: deprecated_builtin_code, custom_code, version, builtin_code); [] when
    the file cannot be read that way."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()

        def u32(pos: int) -> int:
            return struct.unpack_from("<I", data, pos)[0]

        def field(table: int, index: int):
            vtable = table - struct.unpack_from("<i", data, table)[0]
            if 4 + 2 * index + 2 > struct.unpack_from("<H", data, vtable)[0]:
                return None
            offset = struct.unpack_from("<H", data, vtable + 4 + 2 * index)[0]
            return table + offset if offset else None

        root = u32(0)
        codes = field(root, 1)
        if codes is None:
            return []
        vector = codes + u32(codes)
        names = []
        for i in range(min(u32(vector), len(data) // 4)):
            code = vector + 4 + 4 * i + u32(vector + 4 + 4 * i)
            deprecated = field(code, 0)
            builtin = field(code, 3)
            number = max(struct.unpack_from("<b", data, deprecated)[0] if deprecated else 0,
                         struct.unpack_from("<i", data, builtin)[0] if builtin else 0)
            custom = field(code, 1)
            if number == _BUILTIN_CUSTOM and custom is not None:
                start = custom + u32(custom)
                names.append(data[start + 4:start + 4 + u32(start)].decode("utf-8", "replace"))
        return names
    except (OSError, struct.error, IndexError, ValueError):
        return []


def no_builtin_kernel(path: str) -> str | None:
    """Why builtin kernels cannot run this model (an XNNPACK-only custom op), or None."""
    for name in custom_op_names(path):
        if name in XNNPACK_ONLY_CUSTOM_OPS:
            return f"custom op {name} has no builtin kernel (XNNPACK only)"
    return None


def _utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")


def _peak_rss_kb() -> int | None:
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Linux
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak // 1024) if sys.platform == "darwin" else int(peak)


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------
def _say(message: str) -> None:
    print(f"[litert_runner] {message}", file=sys.stderr, flush=True)


# Where a worker reports how far it got, so its supervisor can name a native crash.
_STAGE_FILE: list = [None]


def _stage(name: str) -> None:
    path = _STAGE_FILE[0]
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(name + "\n")


def _warm_up(invoke, args: argparse.Namespace) -> list:
    timings = []
    clock = time.perf_counter_ns
    start = clock()
    while True:
        t0 = clock()
        invoke()
        t1 = clock()
        timings.append((t1 - t0) / 1000.0)
        elapsed_s = (t1 - start) / 1e9
        if elapsed_s >= args.max_s:
            break
        if len(timings) >= args.warmup_runs and elapsed_s >= args.warmup_min_s:
            break
    return timings


def _timed(invoke, args: argparse.Namespace) -> tuple:
    """Timed invokes until min-runs AND min-s of timed time; stops at max-s wall time."""
    timings = []
    clock = time.perf_counter_ns
    start = clock()
    timed_ns = 0
    while True:
        t0 = clock()
        invoke()
        t1 = clock()
        timings.append((t1 - t0) / 1000.0)
        timed_ns += t1 - t0
        if len(timings) >= args.min_runs and timed_ns / 1e9 >= args.min_s:
            return timings, "min_runs_and_min_s"
        if (t1 - start) / 1e9 >= args.max_s:
            return timings, "max_s"


def _profiled(backend, invoke, args: argparse.Namespace) -> tuple:
    """Profiled invokes in one profiler window; the event count after each run marks its end."""
    timings, boundaries = [], []
    clock = time.perf_counter_ns
    start = clock()
    stop_reason = "profile_runs"
    backend.profiler_start()
    try:
        if backend.profiler_count() != 0:
            raise ProfilerError("LiteRtStartProfiler left old events in the buffer")
        for _ in range(args.profile_runs):
            t0 = clock()
            invoke()
            t1 = clock()
            timings.append((t1 - t0) / 1000.0)
            boundaries.append(backend.profiler_count())
            if (t1 - start) / 1e9 >= args.max_s and len(timings) < args.profile_runs:
                stop_reason = "max_s"
                break
    finally:
        backend.profiler_stop()
    events = backend.profiler_events()
    if len(events) != boundaries[-1] or any(b <= a for a, b in zip([0] + boundaries, boundaries)):
        raise ProfilerError(
            f"profiler event counts per run {boundaries} do not match the {len(events)} events "
            "read back: the profiler buffer overflowed or dropped events; use fewer "
            "--profile-runs")
    run_events = [events[a:b] for a, b in zip([0] + boundaries[:-1], boundaries)]
    summary = backend.profiler_summary()
    return timings, run_events, summary, stop_reason


def run(args: argparse.Namespace, result: dict) -> None:
    result["model"] = model_facts(args.model)
    backend, note = select_backend(args)
    result["runtime"] = {"name": backend.name, "version": backend.version,
                         "api": backend.api_name, "profiling": bool(backend.profiling),
                         "note": note}
    _say(f"{backend.name} {backend.version or '?'} ({backend.api_name}), mode {args.mode}, "
         f"{args.kernels} kernels, {args.threads} thread(s)")
    try:
        _stage("load")
        t0 = time.perf_counter_ns()
        backend.open()
        result["init_us"] = (time.perf_counter_ns() - t0) / 1000.0
        result["runtime"]["version"] = backend.version
        arrays, described = make_inputs(backend.inputs, args.seed, args.input_range)
        result["inputs"] = described
        result["outputs"] = [{"name": s.name, "dtype": s.dtype, "shape": list(s.shape)}
                             for s in backend.outputs]
        backend.set_inputs(arrays)
        invoke = backend.make_invoke()
        _stage("warmup")
        result["warmup_us"] = _warm_up(invoke, args)
        _say(f"init {result['init_us'] / 1000:.1f} ms, {len(result['warmup_us'])} warm-up "
             f"invoke(s), first {result['warmup_us'][0] / 1000:.3f} ms")
        _stage({"latency": "timed", "profile": "profile", "accuracy": "outputs"}[args.mode])
        if args.mode == "accuracy":
            result["latencies_us"], outputs, result["samples"] = _accuracy(backend, invoke, args)
            result["stop_reason"] = "samples"
            if not args.dump_outputs:
                raise ArgumentError("accuracy mode needs --dump-outputs FILE.npz")
            _save_npz(args.dump_outputs, outputs)
        elif args.mode == "latency":
            result["latencies_us"], result["stop_reason"] = _timed(invoke, args)
        else:
            timings, run_events, summary, stop_reason = _profiled(backend, invoke, args)
            result["latencies_us"] = timings
            result["stop_reason"] = stop_reason
            result["profile"] = aggregate_profile(run_events, args.kernels, summary)
        latencies = result["latencies_us"]
        _say(f"{len(latencies)} {'profiled' if args.mode == 'profile' else 'timed'} invoke(s), "
             f"median {float(np.median(latencies)) / 1000:.3f} ms")
        if args.dump_outputs and args.mode != "accuracy":
            _stage("outputs")
            outputs = backend.get_outputs()
            _save_npz(args.dump_outputs,
                      {f"output_{i}": array for i, array in enumerate(outputs)})
    finally:
        _stage("close")
        backend.close()


def _real(array, spec):
    """Quantized outputs back to real values (scale * (q - zero point)); others as float64."""
    if spec.scale:
        return (array.astype(np.float64) - spec.zero_point) * spec.scale
    return array.astype(np.float64) if array.dtype.kind == "f" else array


def _sample_inputs(backend, args, i: int) -> list:
    """Inputs of sample i: from --inputs (quantized like make_inputs does), else seeded."""
    if args.inputs is None:
        arrays, _ = make_inputs(backend.inputs, args.seed + i, args.input_range)
        return arrays
    arrays = []
    for k, spec in enumerate(backend.inputs):
        source = _USER_INPUTS[0]
        key = spec.name if spec.name in source else f"input_{k}" if f"input_{k}" in source else None
        if key is None:
            raise ArgumentError(f"--inputs has no array for input {spec.name!r} (nor input_{k}); it has "
                                f"{', '.join(sorted(source))}")
        real = np.asarray(source[key][i], dtype=np.float64).reshape(tuple(spec.shape))
        if spec.scale:
            info = np.iinfo(spec.dtype)
            arrays.append(np.clip(np.round(real / spec.scale) + spec.zero_point, info.min, info.max)
                          .astype(spec.dtype))
        else:
            arrays.append(real.astype(spec.dtype))
    return arrays


_USER_INPUTS: list = [None]


def _accuracy(backend, invoke, args) -> tuple:
    """Each sample once: (latencies, {output_k: stacked real outputs}, number of samples)."""
    samples = args.samples
    if args.inputs is not None:
        try:
            with np.load(args.inputs) as data:
                _USER_INPUTS[0] = {k: data[k] for k in data.files}
        except (OSError, ValueError) as exc:
            raise ArgumentError(f"cannot read --inputs {args.inputs!r}: {exc}") from exc
        samples = min(len(v) for v in _USER_INPUTS[0].values())
    latencies, collected = [], [[] for _ in backend.outputs]
    for i in range(samples):
        backend.set_inputs(_sample_inputs(backend, args, i))
        t0 = time.perf_counter_ns()
        invoke()
        latencies.append((time.perf_counter_ns() - t0) / 1000.0)
        for k, (array, spec) in enumerate(zip(backend.get_outputs(), backend.outputs)):
            collected[k].append(_real(np.array(array, copy=True), spec))
    return latencies, {f"output_{k}": np.stack(v) for k, v in enumerate(collected)}, samples


def _save_npz(path: str, arrays: dict) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, temp = tempfile.mkstemp(prefix=".outputs-", suffix=".npz", dir=directory)
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, **arrays)
        os.replace(temp, path)
    except OSError as exc:
        raise OutputError(f"cannot write --dump-outputs {path!r}: {exc}") from exc


def write_json_atomic(path: str, document: dict) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    fd, temp = tempfile.mkstemp(prefix=".result-", suffix=".json", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=1, allow_nan=False)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise


def new_result(args: argparse.Namespace) -> dict:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "runner_version": RUNNER_VERSION,
        "status": "failed",
        "error": None,
        "runtime": None,
        "machine": machine_facts(),
        "model": {"path": args.model, "bytes": None, "sha256": None},
        "config": {
            "mode": args.mode, "threads": args.threads, "kernels": args.kernels,
            "warmup_runs": args.warmup_runs, "warmup_min_s": args.warmup_min_s,
            "min_runs": args.min_runs, "min_s": args.min_s, "max_s": args.max_s,
            "profile_runs": args.profile_runs, "seed": args.seed,
            "input_range": list(args.input_range) if args.input_range else None,
            "runtime": args.runtime,
        },
        "inputs": [],
        "outputs": [],
        "started_at": _utc_now(),
        "finished_at": None,
        "init_us": None,
        "warmup_us": [],
        "latencies_us": [],
        "stop_reason": None,
        "peak_rss_kb": None,
        "profile": None,
    }


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------
def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} must be 0 or more")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number >= 0")
    return value


def _input_range(text: str) -> tuple:
    parts = text.split(",")
    try:
        lo, hi = (float(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not LO,HI (two numbers)") from None
    if not lo < hi:
        raise argparse.ArgumentTypeError(f"{text!r}: LO must be below HI")
    return lo, hi


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="litert_runner.py",
        description="Time (and optionally profile op by op) one .tflite model on this device; "
                    "the result goes to --out as JSON.")
    parser.add_argument("--model", required=True, help=".tflite file")
    parser.add_argument("--out", required=True, help="result JSON (written atomically)")
    parser.add_argument("--mode", choices=("latency", "profile", "accuracy"), default="latency",
                        help="accuracy: run --samples inputs once each and save every output "
                             "(dequantized to real values) to --dump-outputs")
    parser.add_argument("--threads", type=_positive_int, default=1)
    parser.add_argument("--kernels", choices=("xnnpack", "builtin"), default="xnnpack",
                        help="builtin = TFLite builtin kernels, XNNPACK off (node-exact ops)")
    parser.add_argument("--warmup-runs", type=_positive_int, default=1)
    parser.add_argument("--warmup-min-s", type=_seconds, default=0.5)
    parser.add_argument("--min-runs", type=_positive_int, default=50)
    parser.add_argument("--min-s", type=_seconds, default=1.0)
    parser.add_argument("--max-s", type=_seconds, default=150.0)
    parser.add_argument("--profile-runs", type=_positive_int, default=20)
    parser.add_argument("--input-range", type=_input_range, default=None, metavar="LO,HI")
    parser.add_argument("--seed", type=_non_negative_int, default=0)
    parser.add_argument("--runtime", choices=("auto", "litert", "tflite_runtime", "tensorflow"),
                        default="auto")
    parser.add_argument("--litert-lib", default=None, metavar="PATH",
                        help="libLiteRt.so to use instead of the one in ai_edge_litert")
    parser.add_argument("--dump-outputs", default=None, metavar="FILE.npz",
                        help="save the outputs of the last invoke (output_0, output_1, ...); in accuracy "
                             "mode every sample's, stacked on a first axis")
    parser.add_argument("--samples", type=_positive_int, default=32,
                        help="accuracy mode: inputs to run (seeds seed, seed+1, ...), unless --inputs")
    parser.add_argument("--inputs", default=None, metavar="FILE.npz",
                        help="accuracy mode: real-valued inputs, one array per model input (by name, or "
                             "input_0, input_1, ... in order), samples on the first axis")
    parser.add_argument("--in-process", action="store_true",
                        help="measure in this process, without the worker process that turns a "
                             "native crash (e.g. a corrupt model) into a failed result")
    parser.add_argument("--_worker-stage-file", dest="worker_stage_file", default=None,
                        help=argparse.SUPPRESS)
    return parser


def _finish(args: argparse.Namespace, result: dict, code: int) -> int:
    result["finished_at"] = _utc_now()
    if result["peak_rss_kb"] is None:
        result["peak_rss_kb"] = _peak_rss_kb()
    try:
        write_json_atomic(args.out, result)
    except OSError as exc:
        _say(f"cannot write result {args.out!r}: {exc}")
        return 3
    if code:
        _say(f"FAILED {result['error']['class']}: {result['error']['message']}")
    else:
        _say(f"ok -> {args.out}")
    return code


def measure(args: argparse.Namespace) -> int:
    """Runs the measurement in this process and writes the result."""
    _import_numpy()
    result = new_result(args)
    code = 0
    try:
        run(args, result)
        result["status"] = "ok"
    except RunnerError as exc:
        message = str(exc)
        if args.kernels == "builtin" and isinstance(exc, (CompileError, InvokeError, ProfilerError)):
            why = no_builtin_kernel(args.model)
            if why:
                message = f"{why}; use --kernels xnnpack (the runtime said: {message})"
        result["error"] = {"class": exc.error_class, "message": message}
        code = 3
    except KeyboardInterrupt:
        result["error"] = {"class": "Interrupted", "message": "interrupted (SIGINT)"}
        code = 3
    except Exception as exc:  # an unexpected bug: still leave a valid result behind
        result["error"] = {"class": type(exc).__name__, "message": f"unexpected: {exc}"}
        code = 3
    code = _finish(args, result, code)
    _stage("done")
    return code


# A native crash in a stage -> the error class a user would expect, and what it means.
_CRASH_STAGES = {
    "start": ("RuntimeMissing", "starting Python / loading the runtime"),
    "load": ("ModelLoadError", "loading the model (a truncated or corrupt .tflite file is the "
                               "usual cause; libLiteRt.so does not verify the flatbuffer)"),
    "compile": ("CompileError", "compiling the model for the CPU"),
    "buffers": ("CompileError", "allocating the input/output buffers"),
    "warmup": ("InvokeError", "the warm-up invokes"),
    "timed": ("InvokeError", "the timed invokes"),
    "profile": ("ProfilerError", "the profiled invokes"),
    "outputs": ("OutputError", "reading the outputs"),
    "close": ("RunnerError", "releasing the runtime (after measuring)"),
}


# What the supervisor keeps of the worker's stderr (it echoes all of it).
_TAIL_LINES = 60
_TAIL_LINE_CHARS = 500

# Lines that never say why a run failed: this runner's own notes, runtime logs below ERROR.
_NOISE = re.compile(r"^(?:\[litert_runner\] |(?:INFO|WARNING|VERBOSE|DEBUG): |[IWDV]\d{4} \d\d:\d\d:\d\d)")
_CAUSES = (
    # a Python exception (a traceback's last line)
    re.compile(r"^(?:[A-Za-z_]\w*\.)*[A-Z]\w*(?:Error|Exception|Interrupt|Exit)(?::.*)?$"),
    re.compile(r"^Fatal Python error: "),
    # a shell that cannot run something: dash, bash, busybox ash, mksh (Android's sh)
    re.compile(r": (?:command not found|inaccessible or not found|not found|Permission denied|"
               r"Exec format error|not executable: .*|cannot open shared object file: .*)$"),
    # a shell reporting a child killed by a signal; this runner's own "killed by SIGKILL"
    re.compile(r"(?:^|: \d+ )(?:Killed|Segmentation fault|Aborted|Bus error|Illegal instruction|Terminated)"
               r"(?: \(core dumped\))?(?:$| )"),
    re.compile(r"\bkilled by SIG[A-Z0-9]+"),
)
_RUNTIME_ERROR = re.compile(r"^(?:ERROR|FATAL|[EF]\d{4} \d\d:\d\d:\d\d)")


def stderr_cause(text: str):
    """The line of a failed process's stderr that says why, or None. Mirrors
    harness.runners.diagnose.device_cause on the host (a test keeps the two in step)."""
    lines = [" ".join(line.split()) for line in text.splitlines()]
    lines = [line for line in lines if line and not _NOISE.match(line)]
    for line in reversed(lines):
        if any(pattern.search(line) for pattern in _CAUSES):
            return line
    errors = [line for line in lines[-8:] if _RUNTIME_ERROR.match(line)]
    return errors[0] if errors else None


def _relay(stream) -> list:
    """Echo a worker's stderr to ours as it comes (so it is kept whole); return its last lines."""
    tail = collections.deque(maxlen=_TAIL_LINES)
    out = getattr(sys.stderr, "buffer", None)
    while True:
        try:
            line = stream.readline(65536)
        except KeyboardInterrupt:  # the worker got the SIGINT too and writes its result
            continue
        if not line:
            return list(tail)
        if out is not None:
            out.write(line)
            out.flush()
        else:  # pragma: no cover - a replaced sys.stderr
            sys.stderr.write(line.decode("utf-8", "replace"))
        tail.append(line.decode("utf-8", "replace").rstrip("\r\n")[:_TAIL_LINE_CHARS])


def supervise(args: argparse.Namespace, argv: list) -> int:
    """Runs the measurement in a worker process; a worker killed by a signal (a crash inside
    libLiteRt.so or XNNPACK) still yields a failed result naming the stage it died in."""
    directory = os.path.dirname(os.path.abspath(args.out))
    fd, stage_file = tempfile.mkstemp(prefix=".stage-", suffix=".txt", dir=directory)
    os.close(fd)
    command = [sys.executable, os.path.abspath(__file__), *argv,
               "--_worker-stage-file", stage_file]
    previous = signal.getsignal(signal.SIGTERM)
    try:
        worker = subprocess.Popen(command, stderr=subprocess.PIPE)

        def forward(signum, _frame):
            worker.send_signal(signum)

        signal.signal(signal.SIGTERM, forward)
        tail = _relay(worker.stderr)
        worker.stderr.close()
        while True:
            try:
                returncode = worker.wait()
                break
            except KeyboardInterrupt:  # the worker got the SIGINT too and writes its result
                continue
        with open(stage_file, encoding="utf-8") as handle:
            stages = handle.read().split()
    finally:
        signal.signal(signal.SIGTERM, previous)
        try:
            os.unlink(stage_file)
        except OSError:
            pass
    if stages and stages[-1] == "done" and returncode in (0, 3):
        return returncode
    stage = stages[-1] if stages else "start"
    error_class, doing = _CRASH_STAGES.get(stage, ("RunnerError", stage))
    if returncode < 0:
        try:
            how = f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            how = f"was killed by signal {-returncode}"
    else:
        how = f"exited with code {returncode} without writing a result"
    result = new_result(args)
    try:
        result["model"] = model_facts(args.model)
    except RunnerError:
        pass
    message = f"the measuring process {how} during {doing}"
    cause = stderr_cause("\n".join(tail))
    if cause and cause not in message:
        message += f": {cause}"
    result["error"] = {"class": error_class, "message": message}
    try:
        import resource

        result["peak_rss_kb"] = int(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    except ImportError:  # pragma: no cover
        pass
    return _finish(args, result, 3)


def main(argv: list | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if args.worker_stage_file:
        _STAGE_FILE[0] = args.worker_stage_file
        return measure(args)
    if args.in_process:
        return measure(args)
    return supervise(args, argv)


if __name__ == "__main__":
    sys.exit(main())
