"""A sweep serially, on the local process pool and on a Dask LocalCluster, timed in the same run.

Usage::

    python benchmarks/bench_sweep.py [--users 40] [--duration 600] [--cases 4] [--seeds 4] [--workers N] [--json FILE]

The base scenario is a population of ``--users`` publishers (status changes
every ~30 s) run for ``--duration`` virtual seconds; the sweep is
``update_period`` over ``--cases`` values times ``--seeds`` seeds (16 runs by
default).  Printed: the wall time of each executor, the pool's speed-up over
serial (target >= 1.8x on 2 cores), the Dask LocalCluster's start-up time and
its overhead per run against the pool, the sizes of one task and one result
row as they are pickled (what a scheduler ships), and whether the three
tables are byte-identical.  Wall times on a shared machine are noisy: the
load average and the CPU time used (this process and the pool's workers)
are printed beside them; CPU time shows what the pool costs per run apart
from what other programs take from the cores.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def base_text(users: int, duration: int) -> str:
    return "\n".join([
        "name: bench_sweep",
        'refs: ["docs/sweeps.md"]',
        f"duration: {duration}",
        "population:",
        f"  users: {users}",
        "  arrival: {uniform: [0, 30]}",
        "  publish: {expires: 600, modify: {exponential: 30}}",
        "expect:",
        "  - stat: {metric: publish_requests, min: 1}",
    ]) + "\n"


def _cpu() -> float:
    """CPU seconds of the calling process (run on each Dask worker)."""
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


def main() -> int:
    from puasim.sweep.executors import default_workers
    from puasim.sweep.plan import plan_runs, sweep_from_args
    from puasim.sweep.run import run_sweep
    from puasim.sweep.worker import Task, execute

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=40)
    ap.add_argument("--duration", type=int, default=600)
    ap.add_argument("--cases", type=int, default=4)
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--workers", type=int, default=default_workers())
    ap.add_argument("--no-dask", action="store_true")
    ap.add_argument("--json", help="also write the numbers to this file")
    args = ap.parse_args()
    periods = [30 + 30 * i for i in range(args.cases)]
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        base = Path(tmp) / "base.yaml"
        base.write_text(base_text(args.users, args.duration))
        sweep = sweep_from_args(base, [("update_period", periods)], tuple(range(1, args.seeds + 1)))
        runs = plan_runs(sweep)
        n = len(runs)
        task = Task(sweep, runs[0].index, runs[0].run_id, runs[0].values, runs[0].seed)
        row = execute(task)  # also warms this process's imports, as a pool worker's first run does
        out: dict = {
            "runs": n, "workers": args.workers, "users": args.users, "duration_s": args.duration,
            "cpus": os.cpu_count(), "task_bytes": len(pickle.dumps(task)), "row_bytes": len(pickle.dumps(row)),
        }

        def cpu() -> float:
            own, kids = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
            return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime

        def timed(name: str, **kw) -> tuple[float, bytes]:
            load = os.getloadavg()[0]
            started, cpu0 = time.perf_counter(), cpu()
            result = run_sweep(sweep, Path(tmp) / name, html=False, **kw)
            wall = time.perf_counter() - started
            used = cpu() - cpu0  # this process and its waited-for children (pool workers; not Dask's)
            assert result.ran == n and result.failed == 0, (name, result.failed)
            out[f"{name}_s"] = round(wall, 2)
            out[f"{name}_load"] = round(load, 2)
            out[f"{name}_cpu_s"] = round(used, 2)
            print(f"{name:>8}: {wall:7.2f} s for {n} runs ({wall / n:.3f} s/run; CPU {used:.1f} s; "
                  f"load average {load:.1f})", flush=True)
            return wall, result.parquet.read_bytes()  # type: ignore[union-attr]

        serial, a = timed("serial", executor="serial")
        pool, b = timed("pool", executor="pool", workers=args.workers)
        out["speedup"] = round(serial / pool, 2)
        out["pool_cpu_overhead_per_run_s"] = round((out["pool_cpu_s"] - out["serial_cpu_s"]) / n, 3)
        print(f"pool speed-up over serial: {serial / pool:.2f}x on {args.workers} workers (target >= 1.8x on 2 cores)")
        same = a == b
        if not args.no_dask:
            from distributed import Client, LocalCluster

            started = time.perf_counter()
            with LocalCluster(n_workers=args.workers, threads_per_worker=1, host="127.0.0.1",
                              dashboard_address=None) as cluster, Client(cluster) as client:
                client.wait_for_workers(args.workers)
                startup = time.perf_counter() - started
                print(f"dask LocalCluster start-up: {startup:.2f} s")
                out["dask_startup_s"] = round(startup, 2)
                started = time.perf_counter()
                client.run(lambda: None)
                out["dask_roundtrip_ms"] = round((time.perf_counter() - started) * 1000, 1)
                before = sum(client.run(_cpu).values())
                dask, c = timed("dask", executor="dask", scheduler=cluster.scheduler_address)
                workers_cpu = sum(client.run(_cpu).values()) - before
            out["dask_cpu_s"] = round(out["dask_cpu_s"] + workers_cpu, 2)
            out["dask_overhead_per_run_s"] = round((dask - pool) / n, 3)
            out["dask_cpu_overhead_per_run_s"] = round((out["dask_cpu_s"] - out["pool_cpu_s"]) / n, 3)
            print(f"   dask CPU with its workers: {out['dask_cpu_s']:.1f} s")
            print(f"dask overhead per run against the pool: wall {(dask - pool) / n * 1000:.0f} ms, "
                  f"CPU {out['dask_cpu_overhead_per_run_s'] * 1000:.0f} ms "
                  f"(cluster start-up not included; one scheduler round trip {out['dask_roundtrip_ms']} ms)")
            same = same and a == c
        out["identical"] = same
        print(f"task {out['task_bytes']} bytes, result row {out['row_bytes']} bytes pickled; tables byte-identical: {same}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
