"""Make a tiny .tflite whose only compute op is MediaPipe's ``Convolution2DTransposeBias``
custom op: a kernel that exists in XNNPACK's TFLite delegate and nowhere else in LiteRT.

    python tests/data/make_xnnpack_custom_op.py [OUT.tflite]

Default output: tests/data/xnnpack_custom_op.tflite (committed; about 1 KB).

How it is made:
1. A Keras model, Input(1, 8, 8, 4) -> Conv2DTranspose(3 filters, 3x3, strides 2, padding
   "same", bias), with seeded weights, converted with ``tf.lite.TFLiteConverter.from_keras_model``
   (``from_concrete_functions`` is broken with Keras 3). The converter emits one builtin
   TRANSPOSE_CONV with inputs [output_shape, weights, input, bias].
2. That operator is rewritten into the custom op the way MediaPipe's models carry it: operator
   code CUSTOM with custom_code "Convolution2DTransposeBias"; inputs [input, weights, bias]
   (weights [out_ch, kh, kw, in_ch], the same layout TRANSPOSE_CONV uses); no builtin options;
   custom options = the raw bytes of ``TfLiteTransposeConvParams`` {TfLitePadding padding;
   int stride_width; int stride_height} (12 bytes, little endian; TfLitePadding: 1 SAME,
   2 VALID).

Provenance of that layout: tensorflow/tensorflow, tensorflow/lite/delegates/xnnpack/
xnnpack_delegate.cc: for kTfLiteBuiltinCustom with custom_name "Convolution2DTransposeBias" it
copies min(custom_initial_data_size, sizeof(TfLiteTransposeConvParams)) bytes of the custom
options into a TfLiteTransposeConvParams, and VisitMediaPipeDeconvolutionNode requires 3 float32
inputs (input rank 4, filter rank 4 static, bias rank 1 static), reads output_channels,
kernel_height, kernel_width, input_channels from the filter's dims 0..3, requires stride_width
and stride_height > 0, and maps the padding (SAME -> XNNPACK's TensorFlow SAME padding). The same
file also implements MediaPipe's "MaxPoolingWithArgmax2D" and "MaxUnpooling2D". TensorFlow's MLIR
round-trip tests carry the same bytes for this op: custom_option 0x010000000200000002000000
(SAME, stride 2, stride 2).

The script checks its output before writing it: the rewritten model run through ai-edge-litert's
Interpreter (XNNPACK applied by default) must reproduce the Keras model's output.
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import numpy as np

CUSTOM_CODE = "Convolution2DTransposeBias"
DEFAULT_OUT = Path(__file__).resolve().parent / "xnnpack_custom_op.tflite"
SEED = 7


def keras_model():  # type: ignore[no-untyped-def]
    import keras

    keras.utils.set_random_seed(SEED)
    inputs = keras.Input((8, 8, 4), batch_size=1, name="image")
    outputs = keras.layers.Conv2DTranspose(3, 3, strides=2, padding="same", use_bias=True,
                                           bias_initializer="random_normal", name="upsample")(inputs)
    return keras.Model(inputs, outputs, name="xnnpack_custom_op")


def convert(model) -> bytes:  # type: ignore[no-untyped-def]
    import tensorflow as tf

    return bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())


def to_custom_op(tflite: bytes) -> bytes:
    """The one TRANSPOSE_CONV of ``tflite`` rewritten into MediaPipe's custom op."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(tflite))
    codes = model.operatorCodes
    found = [(g, op) for g in model.subgraphs for op in g.operators
             if max(codes[op.opcodeIndex].builtinCode, codes[op.opcodeIndex].deprecatedBuiltinCode)
             == schema.BuiltinOperator.TRANSPOSE_CONV]
    if len(found) != 1:
        raise SystemExit(f"expected one TRANSPOSE_CONV in the converted model, found {len(found)}")
    graph, op = found[0]
    users = [o for g in model.subgraphs for o in g.operators if o.opcodeIndex == op.opcodeIndex]
    if len(users) != 1 or len(op.inputs) != 4:
        raise SystemExit(f"TRANSPOSE_CONV has {len(op.inputs)} inputs (want output_shape, weights, input, "
                         "bias: did the converter stop fusing the bias?)")
    options = op.builtinOptions  # TransposeConvOptionsT
    if options.fusedActivationFunction not in (0, None):
        raise SystemExit("the custom op has no fused activation; the Keras layer must not have one")
    padding = {schema.Padding.SAME: 1, schema.Padding.VALID: 2}[options.padding]  # -> TfLitePadding
    _output_shape, weights, image, bias = op.inputs
    code = codes[op.opcodeIndex]
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.CUSTOM
    code.customCode = CUSTOM_CODE
    code.version = 1
    op.inputs = [image, weights, bias]
    op.builtinOptionsType = schema.BuiltinOptions.NONE
    op.builtinOptions = None
    op.customOptions = list(struct.pack("<iii", padding, options.strideW, options.strideH))
    model.description = (f"harness test model: one {CUSTOM_CODE} custom op (XNNPACK only), "
                         "made by tests/data/make_xnnpack_custom_op.py").encode()
    del graph
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def check(keras, tflite: bytes) -> float:
    """Largest difference between the custom-op model under XNNPACK and Keras on one input."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=tflite)
    interpreter.allocate_tensors()
    x = np.random.default_rng(SEED).random((1, 8, 8, 4), dtype=np.float32)
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    got = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    want = np.asarray(keras(x))
    if got.shape != want.shape:
        raise SystemExit(f"output shape {got.shape}, Keras says {want.shape}")
    return float(np.max(np.abs(got - want)))


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else DEFAULT_OUT
    keras = keras_model()
    tflite = to_custom_op(convert(keras))
    error = check(keras, tflite)
    if error > 1e-4:
        raise SystemExit(f"the custom-op model differs from Keras by {error:g}; not written")
    out.write_bytes(tflite)
    print(f"wrote {out} ({len(tflite)} bytes); max |XNNPACK - Keras| = {error:.2g}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
