"""SSH boards: orchestration overhead per run, bytes uploaded by a repeated plan, and upload
throughput against scp — on a real OpenSSH sshd on loopback (tests/emulated/sshd.py).

Targets: overhead per run under 0.5 s; the second run of an unchanged plan uploads 0 bytes;
a verified 100 MB upload at least 0.8x the throughput of `scp` of the same file, measured side
by side (interleaved). Needs root (the board's namespaces). Writes benchmarks/out/ssh.json.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from bench_adb import measure  # noqa: E402

from harness.config import parse_device  # noqa: E402
from harness.fileio import sha256_file  # noqa: E402
from harness.runners.runtime import provision  # noqa: E402
from harness.transport.ssh import SshTransport  # noqa: E402


def upload_vs_scp(board, rounds: int = 5, size: int = 100 << 20) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        blob = Path(tmp) / "blob.bin"
        blob.write_bytes(os.urandom(size))
        digest = sha256_file(blob)
        ours, scp = [], []
        t = SshTransport("board", board.host, port=board.port, user=board.user, key=str(board.key_path),
                         known_hosts=str(board.known_hosts_path))
        with t:
            for _ in range(rounds):
                t0 = time.perf_counter()
                t.push(blob, f"{board.home}/ours.bin", sha256=digest)
                ours.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                board.scp(str(blob), f"board:{board.home}/scp.bin")
                scp.append(time.perf_counter() - t0)
    mb = size / 1e6
    return {
        "size_mb": mb,
        "harness_push_s": statistics.median(ours),
        "scp_s": statistics.median(scp),
        "harness_mb_s": mb / statistics.median(ours),
        "scp_mb_s": mb / statistics.median(scp),
        "ratio": statistics.median(scp) / statistics.median(ours),
        "rounds": rounds,
    }


def main() -> dict:
    from tests.emulated.adb_device import check_host
    from tests.emulated.sshd import SshServer

    reason = check_host()
    if reason:
        print(f"skipped: {reason}")
        return {}
    results: dict = {}
    with SshServer() as board, tempfile.TemporaryDirectory() as tmp:
        entry = {"transport": "ssh", "host": board.host, "port": board.port, "user": board.user,
                 "key": str(board.key_path), "known_hosts": str(board.known_hosts_path), "runner": "litert"}
        device = parse_device("board", entry)
        with SshTransport("board", board.host, port=board.port, user=board.user, key=str(board.key_path),
                          known_hosts=str(board.known_hosts_path)) as t:
            provision(t, mode="offline")
        results["runs"] = measure(device, Path(tmp) / "store", repeats=5)
        results["upload"] = upload_vs_scp(board)
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    (out / "ssh.json").write_text(json.dumps(results, indent=1))
    r, u = results["runs"], results["upload"]
    print("| runs | overhead median (s) | overhead max (s) | bytes uploaded, 1st plan | 2nd plan |")
    print("|---|---|---|---|---|")
    print(f"| {r['runs']} | {r['overhead_median_s']:.3f} | {r['overhead_max_s']:.3f} | {r['bytes_pushed_first']} | "
          f"{r['bytes_pushed_second']} |")
    print("\n| 100 MB upload | median (s) | MB/s |\n|---|---|---|")
    print(f"| harness (streamed, board-side sha256 + size check) | {u['harness_push_s']:.2f} | "
          f"{u['harness_mb_s']:.0f} |")
    print(f"| scp | {u['scp_s']:.2f} | {u['scp_mb_s']:.0f} |")
    print(f"\nharness / scp throughput: {u['ratio']:.2f}x")
    return results


if __name__ == "__main__":
    main()
