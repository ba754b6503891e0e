"""Farm scaling, as users run it: ``harness.run(device="phone0,phone1,...", inventory=FILE)`` with
device leases on (the defaults: ``busy="wait"``, 60 s TTL, renewed every TTL/3 and confirmed after
every run) on 1, 2, 4, 8, 16 and 64 emulated phones, against the single-phone time.

Devices: the real adbd in network namespaces behind Debian's adb server (tests/emulated), each
phone's inventory entry naming the TEST DOUBLE of benchmark_model (tests/doubles) as its tool. The
double sleeps ``--warmup_min_secs`` + ``--min_secs`` (harness's defaults, 0.5 + 1 s) as long as
the real tool at least takes (1.5 s on tiny_cnn, measured), without using the CPU, so the phones,
not the host, set the pace. Each phone runs the same plan: tiny_cnn fp32 + int8,
4 repeats, and the default profile runs (xnnpack and builtin kernels): 12 runs.

The controller is measured apart from the farm (pyperf's runner/worker split): the phones, their
relays and the adb server live in this process and its children, and each ``harness.run`` runs in a
fresh child process (``--worker``) that reports its own wall and CPU time around the call, its peak
memory and the host's CPU over the same interval, through a JSON file. This process adds the CPU
of the relays, the adb server and the phones (adbd and everything it ran) over the child's life.
After each campaign it reads the phones' leases: one still live is a phone the next campaign
would wait for (up to the TTL); the next campaign starts once none is left. Sizes (and trees)
are interleaved over ``--rounds`` rounds; each size's median is kept. Host CPU not spent by the
farm (controller, adb server, relays, phones) is the machine's other tenants'.

Parallel efficiency at N phones: the farm's throughput over N times one phone's throughput,
``(runs_N / T_N) / (N * runs_1 / T_1)``; with the same plan on every phone (runs_N = N * runs_1)
this is ``T_1 / T_N``. Target: at least 85 % at 64 phones, with the controller's CPU stated.

``--trees before=DIR,after=DIR`` measures other source trees of harness side by side (each a
checkout or an unpacked ``git archive``), interleaved on the same phones. Needs root. Writes
benchmarks/out/farm.json; prints markdown tables.

    python benchmarks/bench_farm.py [--sizes 1,2,4,8,16,64] [--rounds 3] [--trees a=DIR,b=DIR] [--py-spy N]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

SIZES = (1, 2, 4, 8, 16, 64)
ROUNDS = 3
MIN_SECS = 1.0
REPEATS = 4  # x 2 variants, + 4 profile runs = 12 runs of >= 1 s per phone


def cpu_s(who: int = resource.RUSAGE_SELF) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def host_jiffies() -> tuple[int, int]:
    """(busy, total) clock ticks of all cores since boot (/proc/stat's first line)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])  # guest time is already in user
    return total - idle, total


def proc_cpu_s(pid: int, children: bool = False) -> float:
    """user + sys of a live process; ``children``: with its children that ended and were waited for."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2:].split()
    ticks = sum(int(f) for f in fields[11:15 if children else 13])
    return ticks / os.sysconf("SC_CLK_TCK")


def netns_pids(farm: Any) -> list[int]:
    """Every process in the phones' network namespaces: the wrappers that started adbd, adbd, its shells."""
    pids: list[int] = []
    for d in farm.devices:
        out = subprocess.run(["ip", "netns", "pids", d.device.netns], capture_output=True, text=True, timeout=10)
        pids += [int(p) for p in out.stdout.split()]
    return pids


def phones_cpu_s(pids: list[int]) -> float:
    """CPU of the phones: their long-lived processes (adbd and the wrappers above it) with every
    command they ran and waited for (the shells adbd starts, the scripts and the double)."""
    return sum(proc_cpu_s(p, children=True) for p in pids)


def pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def in_mib(values: dict[str, int]) -> dict[str, float]:
    return {(k[:-4] + "_mib" if k.endswith("_kib") else k): (v / 1024 if k.endswith("_kib") else v)
            for k, v in values.items()}


def mem_available_kib() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1])
    raise RuntimeError("no MemAvailable in /proc/meminfo")


# --- the controller: one harness.run in its own process ---------------------------------------------

def worker(spec_file: str) -> None:
    """One ``harness.run`` as a user calls it; what it cost goes to ``spec["out"]`` as JSON."""
    spec = json.loads(Path(spec_file).read_text())
    sys.path.insert(0, spec["tree"])
    import harness

    warnings: list[str] = []
    first_start: dict[str, float] = {}
    last_landed = 0.0

    def on_event(event: Any) -> None:  # when each phone began its first run, and when the last run landed
        nonlocal last_landed
        now = time.perf_counter() - t0
        if event.kind == "start":
            first_start.setdefault(event.item.device, now)
        elif event.kind in ("landed", "failed"):
            last_landed = now

    c0, busy0, t0 = cpu_s(), host_jiffies(), time.perf_counter()
    campaign = harness.run(
        device=",".join(spec["devices"]), inventory=spec["inventory"], results=spec["results"],
        campaign=spec["campaign"], example="tiny_cnn", variants="fp32,int8", repeats=REPEATS,
        min_seconds=MIN_SECS, warn=warnings.append, on_event=on_event,
    )
    wall, cpu, busy1 = time.perf_counter() - t0, cpu_s() - c0, host_jiffies()
    outcome = campaign.outcome
    assert outcome is not None
    result = {
        "wall_s": wall, "controller_cpu_s": cpu,
        # the campaign's phases: set-up until the median phone starts its first run, the runs until
        # the last one lands, then what harness.run does after the last run (releases, compaction)
        "setup_s": statistics.median(first_start.values()), "last_setup_s": max(first_start.values()),
        "runs_s": last_landed - statistics.median(first_start.values()), "after_runs_s": wall - last_landed,
        "host_busy_cores": (busy1[0] - busy0[0]) / max(1, busy1[1] - busy0[1]) * (os.cpu_count() or 1),
        "controller_peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "harness": str(Path(harness.__file__).parent), "landed": len(outcome.landed),
        "failed": [list(f) for f in outcome.failed], "errors": {k: str(v) for k, v in outcome.errors.items()},
    }
    Path(spec["out"]).write_text(json.dumps(result))


# --- the farm and the measurements ----------------------------------------------------------------

def inventory_toml(serials: list[str], server_port: int, double: Path) -> str:
    entries = []
    for i, serial in enumerate(serials):
        entries.append(f'[devices.phone{i}]\ntransport = "adb"\nserial = "{serial}"\n'
                       f'adb_server = "127.0.0.1:{server_port}"\nrunner = "benchmark_model"\n'
                       f'benchmark_model = "{double}"\n')
    return "\n".join(entries)


def farm_memory_kib(farm: Any) -> dict[str, int]:
    """PSS of the farm's processes: every process in the phones' network namespaces and the adb server."""
    device_pids = netns_pids(farm)
    server = farm._server.pid if farm._server is not None else None
    return {"devices_pss_kib": sum(pss_kib(p) for p in device_pids), "device_processes": len(device_pids),
            "adb_server_pss_kib": pss_kib(server) if server else 0}


def leases_left(inventory: Path, names: list[str]) -> list[int]:
    """Seconds each live lease on ``names`` still has to run, by the phone's clock (one per leased phone)."""
    from concurrent.futures import ThreadPoolExecutor

    from harness.config import load_inventory
    from harness.farm.lease import read_lease
    from harness.transport import open_transport

    devices = load_inventory(inventory)

    def left(name: str) -> int | None:
        with open_transport(devices.get(name)) as link:
            info = read_lease(link)
        return None if info is None else info.seconds_left

    with ThreadPoolExecutor(16) as pool:
        return [s for s in pool.map(left, names) if s is not None]


class Farm:
    """The emulated phones of one benchmark, and what a campaign on them cost the host."""

    def __init__(self, farm: Any, tmp: Path, inventory: Path, py_spy: int | None) -> None:
        self.farm, self.tmp, self.inventory, self.py_spy = farm, tmp, inventory, py_spy
        self.phone_pids = netns_pids(farm)

    def campaign(self, tree: str, path: str, n: int, round_no: int) -> dict[str, Any]:
        names = [f"phone{i}" for i in range(n)]
        while leases_left(self.inventory, names):  # left by an earlier campaign (a tree that does not free them)
            time.sleep(1.0)
        key = f"{tree}-n{n}-r{round_no}"
        spec_file, out = self.tmp / f"spec-{key}.json", self.tmp / f"out-{key}.json"
        spec = {"tree": path, "devices": names, "inventory": str(self.inventory),
                "results": str(self.tmp / f"store-{key}"), "campaign": key, "out": str(out)}
        spec_file.write_text(json.dumps(spec))
        argv = [sys.executable, str(Path(__file__).resolve()), "--worker", str(spec_file)]
        if self.py_spy == n:  # where the controller's Python spends CPU: samples of the thread holding the GIL
            profile = HERE / "out" / f"farm-{key}.py-spy.txt"  # collapsed stacks (flamegraph.pl, speedscope)
            argv = ["py-spy", "record", "--format", "raw", "--gil", "-r", "100", "-o", str(profile), "--", *argv]
        server = self.farm._server.pid
        relay0, server0, phones0 = cpu_s(), proc_cpu_s(server), phones_cpu_s(self.phone_pids)
        proc = subprocess.run(argv, cwd=self.tmp, capture_output=True, text=True, timeout=3600)
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(f"worker {key} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        row = json.loads(out.read_text())
        if row["failed"] or row["errors"]:
            raise RuntimeError(f"{key}: failed runs {row['failed'][:3]}, errors {row['errors']}")
        # the farm's side, over the worker's whole life (its start-up included, when the phones are idle)
        row["relay_cpu_s"], row["adb_server_cpu_s"] = cpu_s() - relay0, proc_cpu_s(server) - server0
        row["phones_cpu_s"] = phones_cpu_s(self.phone_pids) - phones0
        left = leases_left(self.inventory, names)  # what the next campaign on these phones would wait for
        row.update(tree=tree, devices=n, round=round_no, runs=row["landed"], leased_after=len(left),
                   lease_left_s=max(left, default=0))
        return row


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--trees", default=f"this={REPO}", help="LABEL=DIR,...: harness source trees to compare")
    parser.add_argument("--out", default=str(HERE / "out" / "farm.json"))
    parser.add_argument("--py-spy", type=int, default=None, metavar="N",
                        help="profile the controller of the N-phone campaigns with py-spy (out/farm-*.py-spy.txt; "
                             "py-spy is not installed by make setup: pip install py-spy)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker)
        return {}
    from tests.doubles.benchmark_model_double import write_double
    from tests.emulated.adb_device import check_host
    from tests.emulated.adb_farm import AdbFarm

    reason = check_host()
    if reason:
        print(f"skipped: {reason}")
        return {}
    sizes = [int(s) for s in args.sizes.split(",")]
    trees = dict(item.split("=", 1) for item in args.trees.split(","))
    rows: list[dict[str, Any]] = []
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-farm-") as tmp_name:
        tmp = Path(tmp_name)
        double = write_double(tmp / "benchmark_model")
        avail0, mine0, t0 = mem_available_kib(), pss_kib(os.getpid()), time.perf_counter()
        with AdbFarm(max(sizes)) as adb_farm:
            farm_info: dict[str, Any] = {
                "devices": max(sizes), "start_s": time.perf_counter() - t0,
                "mem_available_drop_mib": (avail0 - mem_available_kib()) / 1024,
                "relay_process_pss_growth_mib": (pss_kib(os.getpid()) - mine0) / 1024}
            farm_info.update(in_mib(farm_memory_kib(adb_farm)))
            print(f"farm of {farm_info['devices']} phones up in {farm_info['start_s']:.1f} s", flush=True)
            inventory = tmp / "devices.toml"
            inventory.write_text(inventory_toml(adb_farm.serials, adb_farm.server_port, double))
            farm = Farm(adb_farm, tmp, inventory, args.py_spy)
            for round_no in range(args.rounds):
                order = list(trees.items())
                order = order[round_no % len(order):] + order[:round_no % len(order)]  # rotate the trees
                for n in sizes:
                    for tree, path in order:
                        row = farm.campaign(tree, path, n, round_no)
                        rows.append(row)
                        print(f"round {round_no} {tree}: {n} phones, {row['runs']} runs in {row['wall_s']:.1f} s "
                              f"({row['leased_after']} still leased after it, for {row['lease_left_s']} s), "
                              "controller CPU "
                              f"{row['controller_cpu_s']:.1f} s, phones {row['phones_cpu_s']:.1f} s, host busy "
                              f"{row['host_busy_cores']:.2f} cores", flush=True)
            farm_info["after_runs"] = in_mib(farm_memory_kib(adb_farm))
    from run_all import machine  # benchmarks/ is on sys.path when run as a script or by run_all

    report = {"machine": machine(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "load_before": load, "farm": farm_info, "trees": trees, "rounds": rows,
              "tables": {tree: summarise([r for r in rows if r["tree"] == tree], sizes) for tree in trees}}
    Path(args.out).parent.mkdir(exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    print_tables(report)
    return report


def summarise(rows: list[dict[str, Any]], sizes: list[int]) -> list[dict[str, Any]]:
    """Each size's median over the rounds; efficiency against the first size's median."""
    def med(n: int, key: str) -> float:
        return statistics.median(r[key] for r in rows if r["devices"] == n)

    base = sizes[0]
    t1, runs1 = med(base, "wall_s"), med(base, "runs") / base
    table = []
    for n in sizes:
        wall, runs, cpu = med(n, "wall_s"), med(n, "runs"), med(n, "controller_cpu_s")
        walls = [r["wall_s"] for r in rows if r["devices"] == n]
        table.append({
            "devices": n, "runs": runs, "wall_s": wall, "wall_min_s": min(walls), "wall_max_s": max(walls),
            "efficiency": (runs / wall) / (n * runs1 / t1), "controller_cpu_s": cpu,
            "controller_cpu_pct_core": 100 * cpu / wall, "controller_peak_rss_mib": med(n, "controller_peak_rss_mib"),
            "host_busy_cores": med(n, "host_busy_cores"), "leased_after": med(n, "leased_after"),
            **{k: med(n, k) for k in ("setup_s", "last_setup_s", "runs_s", "after_runs_s")},
            "lease_left_s": med(n, "lease_left_s"),
            **{f"{k}_ms_per_run": 1000 * med(n, f"{k}_s") / runs
               for k in ("controller_cpu", "adb_server_cpu", "relay_cpu", "phones_cpu")},
        })
        row = table[-1]
        ours = sum(row[f"{k}_ms_per_run"] for k in ("controller_cpu", "adb_server_cpu", "relay_cpu", "phones_cpu"))
        row["farm_cores"] = ours * runs / 1000 / wall  # controller + adb server + relays + phones
        row["other_cores"] = row["host_busy_cores"] - row["farm_cores"]  # other tenants of the machine
    return table


def print_tables(report: dict[str, Any]) -> None:
    print(f"\n{report['machine']}; {report['date']}; load average before {report['load_before'][0]:.1f}")
    for tree, table in report["tables"].items():
        print(f"\n{tree} ({report['trees'][tree]})")
        print("\n| phones | runs | wall (s), median [min-max] | efficiency | controller CPU (s) | % of one core "
              "| controller peak RSS (MiB) | host busy: farm + others (cores) | still leased after (phones, s) |")
        print("|---:|---:|---|---:|---:|---:|---:|---|---|")
        for r in table:
            print(f"| {r['devices']} | {r['runs']:.0f} | {r['wall_s']:.1f} [{r['wall_min_s']:.1f}-"
                  f"{r['wall_max_s']:.1f}] | {100 * r['efficiency']:.0f} % | {r['controller_cpu_s']:.1f} "
                  f"| {r['controller_cpu_pct_core']:.0f} % | {r['controller_peak_rss_mib']:.0f} "
                  f"| {r['farm_cores']:.2f} + {r['other_cores']:.2f} "
                  f"| {r['leased_after']:.0f}, {r['lease_left_s']:.0f} |")
        print("\nPhases (s): set-up until the median phone's first run [the last phone's], the runs, after the "
              "last run\n\n| phones | set-up | runs | after the last run |\n|---:|---|---:|---:|")
        for r in table:
            print(f"| {r['devices']} | {r['setup_s']:.1f} [{r['last_setup_s']:.1f}] | {r['runs_s']:.1f} "
                  f"| {r['after_runs_s']:.1f} |")
        print("\nHost CPU per run (ms):\n")
        print("| phones | controller | adb server | relays | phones (adbd and what it ran) |")
        print("|---:|---:|---:|---:|---:|")
        for r in table:
            print(f"| {r['devices']} | {r['controller_cpu_ms_per_run']:.1f} | {r['adb_server_cpu_ms_per_run']:.1f} "
                  f"| {r['relay_cpu_ms_per_run']:.1f} | {r['phones_cpu_ms_per_run']:.1f} |")
    f, after = report["farm"], report["farm"]["after_runs"]
    print(f"\nfarm: {f['devices']} phones up in {f['start_s']:.1f} s; MemAvailable "
          f"{-f['mem_available_drop_mib']:+.0f} MiB; PSS: phones {f['devices_pss_mib']:.0f} MiB "
          f"({f['device_processes']} processes), adb server {f['adb_server_pss_mib']:.0f} MiB, relays "
          f"+{f['relay_process_pss_growth_mib']:.0f} MiB; after the runs: phones {after['devices_pss_mib']:.0f} MiB, "
          f"adb server {after['adb_server_pss_mib']:.0f} MiB")


if __name__ == "__main__":
    main()
