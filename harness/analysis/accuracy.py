"""Accuracy next to speed: each variant's outputs on the same inputs against fp32's.

The accuracy runs (``harness run --accuracy``) keep every output the runner produced in
``raw/outputs.npz`` (real values: quantized outputs are dequantized on the device). This module
compares them with the fp32 variant's from the same device: max absolute error, SQNR in dB, and
top-1 agreement where the output looks like class scores ([samples, ..., classes]).
"""

from __future__ import annotations

import io
import math
from typing import Any

from harness.errors import StoreError

REFERENCE = "fp32"
COLUMNS = ["campaign", "device", "variant", "reference", "output", "samples", "max_abs_err", "sqnr_db",
           "top1_agreement", "accuracy", "computed_on"]


def metrics(candidate: Any, reference: Any) -> dict[str, float | None]:
    """max |c - r|, SQNR = 10 log10(sum r^2 / sum (c - r)^2) (None when identical: infinite),
    and top-1 agreement over the samples (first axis) when the last axis has several classes."""
    import numpy as np

    c = np.asarray(candidate, dtype=np.float64)
    r = np.asarray(reference, dtype=np.float64)
    if c.shape != r.shape:
        raise StoreError(f"outputs of shape {c.shape} and {r.shape} cannot be compared")
    err = c - r
    noise = float(np.sum(err * err))
    signal = float(np.sum(r * r))
    sqnr = None if noise == 0 else (10.0 * math.log10(signal / noise) if signal > 0 else -math.inf)
    top1 = None
    if r.ndim >= 2 and r.shape[-1] > 1:
        flat_c = c.reshape(c.shape[0], -1, c.shape[-1])
        flat_r = r.reshape(r.shape[0], -1, r.shape[-1])
        top1 = float(np.mean(np.argmax(flat_c, axis=-1) == np.argmax(flat_r, axis=-1)))
    return {"max_abs_err": float(np.max(np.abs(err))) if err.size else 0.0, "sqnr_db": sqnr,
            "top1_agreement": top1}


def top1_accuracy(outputs: Any, labels: Any) -> float | None:
    """Real top-1 accuracy: the share of samples whose highest score is their label (None without
    labels, or for an output that is not [samples, classes])."""
    import numpy as np

    if labels is None:
        return None
    scores = np.asarray(outputs)
    truth = np.asarray(labels)
    if scores.ndim > 2 and int(np.prod(scores.shape[1:-1])) == 1:  # [samples, 1, classes]: one row per sample
        scores = scores.reshape(scores.shape[0], scores.shape[-1])
    if scores.ndim != 2 or scores.shape[0] != truth.shape[0] or scores.shape[1] < 2:
        return None
    return float(np.mean(np.argmax(scores, axis=-1) == truth))


def _outputs(root: Any, run_id: str) -> dict[str, Any]:
    import numpy as np

    from harness.store import Store

    campaign, key = run_id.split("/", 1)
    path = Store(root).raw_path(campaign, key, "outputs.npz")
    try:
        with np.load(io.BytesIO(path.read_bytes())) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError) as exc:
        raise StoreError(f"cannot read the outputs of {run_id} ({path}): {exc}") from exc


def accuracy_table(root: Any, runs: Any) -> Any:
    """One row per campaign x device x variant x output, against the same device's fp32 run.

    ``root``: the store's root (a Path or UPath); ``runs``: its runs frame."""
    import pandas as pd

    from harness.store import Store

    acc = runs[(runs["mode"] == "accuracy") & (runs["status"] == "ok")]
    rows: list[dict[str, Any]] = []
    labels: dict[str, Any] = {}
    for (campaign, device), group in acc.groupby(["campaign", "device"], observed=True):
        if campaign not in labels:
            labels[campaign] = ((Store(root).read_campaign(str(campaign)) or {}).get("labels") or {}).get("values")
        ref_runs = group[group["variant"] == REFERENCE]
        if ref_runs.empty:
            continue
        reference = _outputs(root, ref_runs["run_id"].iloc[-1])
        for run in group.itertuples():
            outputs = _outputs(root, run.run_id)
            # runs from before the accuracy_on column said so in their notes
            on_host = run.accuracy_on == "host" or (isinstance(run.notes, str) and "on this host" in run.notes)
            for name in sorted(reference):
                if name not in outputs:
                    continue
                m = metrics(outputs[name], reference[name])
                m["accuracy"] = top1_accuracy(outputs[name], labels[campaign])
                rows.append({"campaign": campaign, "device": device, "variant": run.variant, "reference": REFERENCE,
                             "output": name, "samples": int(reference[name].shape[0]), **m,
                             "computed_on": "host" if on_host else f"device ({run.runtime})"})
    return pd.DataFrame(rows, columns=COLUMNS)
