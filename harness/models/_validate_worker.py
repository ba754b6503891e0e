"""Child process of ``validate_model``: open a model with the real runtime, allocate tensors.

    python -m harness.models._validate_worker MODEL.tflite RESULT.json

Writes ``{"ok": true, "inputs": [...], "outputs": [...], "runtime": "..."}`` or
``{"ok": false, "error": "...", "error_class": "..."}`` to RESULT.json (the result channel;
stdout and stderr belong to the runtime's own logging). A crash, hang or out-of-memory kill
leaves no result file; the parent turns the exit status into the reason.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any


def _details(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for d in items:
        dtype = d.get("dtype")
        out.append(
            {
                "name": str(d.get("name", "")),
                "dtype": getattr(dtype, "__name__", str(dtype)),
                "shape": [int(x) for x in d.get("shape", [])],
            }
        )
    return out


def open_model(path: str) -> dict[str, Any]:
    try:
        import ai_edge_litert
        from ai_edge_litert.interpreter import Interpreter
    except BaseException as exc:  # ImportError, or MemoryError under a tight RLIMIT_AS
        first = next((ln for ln in str(exc).splitlines() if ln.strip()), "")
        return {"ok": False, "phase": "import", "error_class": type(exc).__name__, "error": first}

    interpreter = Interpreter(model_path=path, num_threads=1)
    interpreter.allocate_tensors()
    return {
        "ok": True,
        "runtime": f"ai_edge_litert {ai_edge_litert.__version__}",
        "inputs": _details(interpreter.get_input_details()),
        "outputs": _details(interpreter.get_output_details()),
    }


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(
            "usage: python -m harness.models._validate_worker MODEL.tflite RESULT.json",
            file=sys.stderr,
        )
        return 64
    model, result = argv
    try:
        payload = open_model(model)
    except MemoryError:
        payload = {"ok": False, "error_class": "MemoryError", "error": "ran out of memory"}
    except Exception as exc:  # the runtime raises ValueError/RuntimeError with its own text
        payload = {"ok": False, "error_class": type(exc).__name__, "error": str(exc)}
    tmp = result + ".tmp"
    with open(tmp, "w") as f:
        json.dump(payload, f)
    os.replace(tmp, result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
