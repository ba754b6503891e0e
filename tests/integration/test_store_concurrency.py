"""Several processes on one store, as several controllers (or a controller and `harness results
compact`) would be: a key lands once, and every reader sees every run once, whatever compacts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from harness import load_results
from harness.store import Store

REPO = Path(__file__).resolve().parents[2]

PRELUDE = """
import json, os, sys, time
from pathlib import Path
from harness.errors import StoreError
from harness.store import Store, compact, load_results

def record(run_id, n, base):
    return {"run": {"run_id": run_id, "campaign": run_id.split("/")[0], "device": run_id.split("/")[1].split(".")[0],
                    "status": "ok", "count": n, "p50_us": base, "mode": "latency"},
            "ops": [{"run_id": run_id, "phase": "invoke", "position": 0, "op_type": "ADD", "avg_ms": 0.1}],
            "samples": [{"run_id": run_id, "iteration": i, "latency_us": base + i} for i in range(n)]}

def wait_for(go):
    while not os.path.exists(go):
        time.sleep(0.001)
"""

RACE = PRELUDE + """
root, go, i = sys.argv[1], sys.argv[2], int(sys.argv[3])
store = Store(root)
wait_for(go)
try:
    store.land_run("c1", "d1.k", record("c1/d1.k", 100 + i, 1000.0 * i), {"who": str(i).encode()})
    print("landed")
except StoreError as exc:
    print("refused:", exc)
"""

WRITER = PRELUDE + """
root, go, device, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
store = Store(root)
wait_for(go)
for r in range(runs):
    store.land_run("c1", f"{device}.r{r}", record(f"c1/{device}.r{r}", 50, 10.0 * r))
    if r % 5 == 4:  # a session compacting what it landed, now and then
        store.compact("c1", keys=[f"{device}.r{k}" for k in range(r - 4, r + 1)])
"""

COMPACTOR = PRELUDE + """
root, go, stop = sys.argv[1], sys.argv[2], sys.argv[3]
wait_for(go)
while not os.path.exists(stop):
    compact(root)
"""

READER = PRELUDE + """
root, go, stop = sys.argv[1], sys.argv[2], sys.argv[3]
wait_for(go)
looks = []
while not os.path.exists(stop):
    res = load_results(root, samples=True)
    ids = res.runs["run_id"]
    per_run = res.samples.groupby("run_id", observed=True).size()
    looks.append({"runs": len(ids), "unique": bool(ids.is_unique), "samples_ok": bool((per_run == 50).all()),
                  "ops_ok": len(res.ops) == len(ids)})
print(json.dumps(looks))
"""


def spawn(script: str, *args: object) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-c", script, *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def finish(proc: subprocess.Popen[str], timeout: float = 300) -> str:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    return out


def test_processes_racing_to_land_one_key_land_one_whole_copy(tmp_path):
    root, go = tmp_path / "store", tmp_path / "go"
    procs = [spawn(RACE, root, go, i) for i in range(6)]
    time.sleep(1.0)  # every process imported harness and waits on the file
    go.touch()
    outs = [finish(p).strip() for p in procs]
    winners = [i for i, out in enumerate(outs) if out == "landed"]
    assert len(winners) == 1, outs
    assert all("landed already" in out for i, out in enumerate(outs) if i not in winners)
    (w,) = winners
    res = load_results(root, samples=True)
    assert len(res.runs) == 1 and len(res.samples) == 100 + w and res.samples["latency_us"].min() == 1000.0 * w
    assert (root / "c1/runs/d1.k/raw/who").read_bytes() == str(w).encode()


def test_writers_compactors_and_readers_at_once_every_run_counts_once(tmp_path):
    root, go, stop = tmp_path / "store", tmp_path / "go", tmp_path / "stop"
    Store(root).write_campaign("c1", {"campaign": "c1"})
    writers = [spawn(WRITER, root, go, f"d{i}", 20) for i in range(3)]
    compactors = [spawn(COMPACTOR, root, go, stop) for _ in range(2)]
    reader = spawn(READER, root, go, stop)
    time.sleep(1.0)
    go.touch()
    for w in writers:
        finish(w)
    stop.touch()
    for c in compactors:
        finish(c)
    looks = json.loads(finish(reader))
    assert looks and all(look["unique"] and look["samples_ok"] and look["ops_ok"] for look in looks)
    assert [look["runs"] for look in looks] == sorted(look["runs"] for look in looks)  # never fewer than before
    res = load_results(root, samples=True)
    assert len(res.runs) == 60 and res.runs["run_id"].is_unique and len(res.samples) == 60 * 50
    Store(root).compact("c1")
    final = load_results(root, samples=True)
    assert len(final.runs) == 60 and final.dropped == () and final.uncompacted == 0
    assert len(list((root / "c1/parts").glob("runs-*.parquet"))) == 1
