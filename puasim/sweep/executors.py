"""Where a sweep's runs execute: in this process, a local process pool, or Dask.

Each executor takes the tasks and calls ``done(row)`` as each run finishes
(in whatever order they finish); rows are sorted afterwards, so the merged
results do not depend on the executor.  A run whose worker dies becomes an
error row; the sweep goes on.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from typing import Any

from puasim.sweep.worker import Task, error_row, execute

Done = Callable[[dict[str, Any]], None]
#: what a worker calls for each task (tests pass one that misbehaves)
Work = Callable[[Task], dict[str, Any]]


def default_workers() -> int:
    """The cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def run_serial(tasks: Iterable[Task], done: Done, work: Work | None = None) -> None:
    """Every run in this process, one after the other (the benchmark's baseline)."""
    work = work or execute
    for task in tasks:
        done(work(task))


def _ignore_sigint() -> None:
    """Pool workers leave Ctrl-C to the parent, which stops them (see :func:`run_pool`)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _stop(pool: ProcessPoolExecutor) -> None:
    """End the pool's workers now (Ctrl-C): their runs in flight are dropped, to be run on resume."""
    for proc in list((getattr(pool, "_processes", None) or {}).values()):
        proc.terminate()
    pool.shutdown(wait=False, cancel_futures=True)


def run_pool(tasks: Iterable[Task], done: Done, workers: int | None = None, work: Work | None = None) -> None:
    """A local process pool of ``workers`` processes (default: every core).

    At most ``workers`` runs are in flight, so a worker that dies (the pool
    breaks) costs at most that many error rows; a new pool takes the rest.
    Workers are started with ``spawn``: nothing of this process's state (open
    files, threads) leaks into them.  They ignore SIGINT; on Ctrl-C this
    process terminates them (their runs in flight are not in the journal, so
    a resumed sweep runs them) and lets the KeyboardInterrupt go on.
    """
    workers = workers or default_workers()
    work = work or execute
    pending = list(tasks)[::-1]
    while pending:
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"), initializer=_ignore_sigint)
        inflight: dict[Future, Task] = {}
        broken = False
        try:
            while pending or inflight:
                while pending and len(inflight) < workers and not broken:
                    task = pending.pop()
                    try:
                        inflight[pool.submit(work, task)] = task
                    except BrokenProcessPool:
                        pending.append(task)
                        broken = True
                if not inflight:
                    break
                finished, _ = wait(inflight, return_when=FIRST_COMPLETED)
                for fut in finished:
                    task = inflight.pop(fut)
                    try:
                        row = fut.result()
                    except BrokenProcessPool as exc:
                        broken = True
                        row = error_row(task, f"worker process died ({exc or 'BrokenProcessPool'})")
                    except Exception as exc:  # e.g. a row that could not be pickled back
                        row = error_row(task, f"{type(exc).__name__}: {exc}")
                    done(row)
                if broken and not inflight:
                    break
        except KeyboardInterrupt:
            _stop(pool)
            raise
        pool.shutdown(wait=True, cancel_futures=True)


def run_dask(
    tasks: Iterable[Task], done: Done, workers: int | None = None, scheduler: str | None = None,
    work: Work | None = None,
) -> None:
    """Dask distributed: a LocalCluster of ``workers`` single-threaded processes on loopback,
    or the cluster whose scheduler is at ``scheduler`` (``tcp://HOST:PORT``).

    Every worker needs the same puasim installed (and the base scenario's
    ``body_file``s where the scenario reads them).  A run whose worker dies is
    retried by Dask on another worker up to its ``allowed-failures``; after
    that it is an error row.
    """
    from distributed import Client, LocalCluster, as_completed

    work = work or execute
    task_list = list(tasks)
    cluster = None
    if scheduler is None:
        cluster = LocalCluster(
            n_workers=workers or default_workers(), threads_per_worker=1, processes=True,
            host="127.0.0.1", dashboard_address=None,
        )
        client = Client(cluster)
    else:
        client = Client(scheduler, timeout="10s")
    try:
        futures = {
            client.submit(work, t, key=f"puasim-run-{t.run_id}", pure=False): t for t in task_list
        }
        for fut in as_completed(futures):
            task = futures[fut]
            try:
                row = fut.result()
            except Exception as exc:  # KilledWorker, a lost connection, ...
                row = error_row(task, f"{type(exc).__name__}: {exc}")
            done(row)
            fut.release()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


__all__ = ["default_workers", "run_dask", "run_pool", "run_serial"]
