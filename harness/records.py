"""Run records as the store keeps them: one builder, so every record (measured, given up, imported)
carries the same stamps."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from harness import __version__, schema


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def run_record(run_id: str, campaign: str, device: str, **fields: Any) -> dict[str, Any]:
    """A ``runs`` record: identity, the harness and schema versions, then ``fields``."""
    return {"run_id": run_id, "campaign": campaign, "device": device, **fields,
            "harness_version": __version__, "schema_version": schema.SCHEMA_VERSION}


def stored(run: dict[str, Any], ops: Sequence[Mapping[str, Any]] = (), samples: Sequence[Mapping[str, Any]] = (),
           command: dict[str, Any] | None = None) -> dict[str, Any]:
    """What ``Store.land_run`` takes: the run, its ops and samples (stamped with its run_id), the command."""
    run_id = run["run_id"]
    return {"run": run, "ops": [{**o, "run_id": run_id} for o in ops],
            "samples": [{**s, "run_id": run_id} for s in samples], "command": command}
