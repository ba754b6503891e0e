"""Stands in for the validation worker (``python -m tests.doubles.child_probe MODEL RESULT``): records
what the child was given — its environment, /proc/self/limits and network interfaces — beside the
model, then reports a failure so that validation stops there."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def main() -> int:
    model, result = sys.argv[1], sys.argv[2]
    seen = {
        "env": dict(os.environ),
        "limits": Path("/proc/self/limits").read_text(),
        "interfaces": [line.split(":")[0].strip() for line in Path("/proc/net/dev").read_text().splitlines()[2:]],
    }
    Path(model + ".probe.json").write_text(json.dumps(seen))
    Path(result).write_text(json.dumps({"ok": False, "phase": "open", "error_class": "Probe", "error": "probed"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
