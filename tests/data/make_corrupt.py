"""Make corrupt copies of a .tflite model for the validation tests.

    python tests/data/make_corrupt.py MODEL.tflite OUT_DIR

Each case is ``(file, must_reject)``. ``must_reject`` is True where the damage is in the
header or the flatbuffer structure (identifier, root offset, schema version, vector lengths,
truncation) or the file is not a model at all; a bit flip inside weight data may
legitimately leave a loadable model, so those cases are False ("loads fine OR is rejected
cleanly"). Positions are found with plain ``struct`` here, independently of the reader
under test.
"""

from __future__ import annotations

import random
import struct
import sys
from pathlib import Path


def _flip(data: bytes, pos: int, bit: int) -> bytes:
    b = bytearray(data)
    b[pos] ^= 1 << bit
    return bytes(b)


def _field_pos(data: bytes, table: int, index: int) -> int:
    vt = table - struct.unpack_from("<i", data, table)[0]
    off = struct.unpack_from("<H", data, vt + 4 + 2 * index)[0]
    assert off, f"field {index} absent"
    return table + off


def _structure_positions(data: bytes) -> dict[str, int]:
    """Byte positions of a few structural fields of the Model table."""
    root = struct.unpack_from("<I", data, 0)[0]
    version = _field_pos(data, root, 0)
    codes_ref = _field_pos(data, root, 1)
    codes_vec = codes_ref + struct.unpack_from("<I", data, codes_ref)[0]
    subgraphs_ref = _field_pos(data, root, 2)
    buffers_ref = _field_pos(data, root, 4)
    return {
        "version": version,
        "operator_codes_length_hi": codes_vec + 3,
        "subgraphs_offset_hi": subgraphs_ref + 3,
        "buffers_offset_hi": buffers_ref + 3,
        "root_vtable_offset_hi": root + 3,
    }


def _largest_buffer_data(data: bytes) -> tuple[int, int]:
    """(start, length) of the largest Buffer.data vector: weights, safe to flip 'may load'."""
    root = struct.unpack_from("<I", data, 0)[0]
    ref = _field_pos(data, root, 4)
    vec = ref + struct.unpack_from("<I", data, ref)[0]
    n = struct.unpack_from("<I", data, vec)[0]
    best = (0, 0)
    for i in range(n):
        slot = vec + 4 + 4 * i
        table = slot + struct.unpack_from("<I", data, slot)[0]
        vt = table - struct.unpack_from("<i", data, table)[0]
        if struct.unpack_from("<H", data, vt)[0] < 6:
            continue
        off = struct.unpack_from("<H", data, vt + 4)[0]
        if not off:
            continue
        dref = table + off
        dvec = dref + struct.unpack_from("<I", data, dref)[0]
        length = struct.unpack_from("<I", data, dvec)[0]
        if length > best[1]:
            best = (dvec + 4, length)
    return best


def make_corrupt(model: Path, out_dir: Path) -> dict[str, tuple[Path, bool]]:
    data = model.read_bytes()
    out_dir.mkdir(parents=True, exist_ok=True)
    cases: dict[str, tuple[bytes, bool]] = {"empty": (b"", True)}

    n = len(data)
    for cut in (4, 7, 8, 16, 100, n // 4, n // 2, 3 * n // 4, n - 64):
        cases[f"truncated_{cut}"] = (data[:cut], True)

    cases["wrong_identifier"] = (data[:4] + b"TFL2" + data[8:], True)
    for bit in range(8):
        cases[f"flip_identifier_bit{bit}"] = (_flip(data, 4 + bit % 4, bit), True)
    cases["flip_root_offset_hi"] = (_flip(data, 3, 7), True)
    cases["flip_root_offset_b2"] = (_flip(data, 2, 5), True)

    for name, pos in _structure_positions(data).items():
        bit = 1 if name == "version" else 6
        cases[f"flip_{name}"] = (_flip(data, pos, bit), True)

    rnd = random.Random(1234)
    cases["random_1k"] = (rnd.randbytes(1024), True)
    cases["random_with_identifier"] = (rnd.randbytes(4) + b"TFL3" + rnd.randbytes(4096), True)
    cases["text_file"] = (b"this is not a model\n" * 20, True)

    start, length = _largest_buffer_data(data)
    for seed in range(4):
        r = random.Random(seed)
        cases[f"flip_weights_seed{seed}"] = (
            _flip(data, start + r.randrange(length), r.randrange(8)),
            False,
        )
    for seed in range(6):
        r = random.Random(100 + seed)
        cases[f"flip_anywhere_seed{seed}"] = (_flip(data, r.randrange(n), r.randrange(8)), False)

    written: dict[str, tuple[Path, bool]] = {}
    for name, (blob, must_reject) in cases.items():
        path = out_dir / f"{name}.tflite"
        path.write_bytes(blob)
        written[name] = (path, must_reject)
    return written


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python tests/data/make_corrupt.py MODEL.tflite OUT_DIR")
    for case, (p, must) in make_corrupt(Path(sys.argv[1]), Path(sys.argv[2])).items():
        print(f"{'must-reject' if must else 'may-load   '}  {case:32s} {p}")
