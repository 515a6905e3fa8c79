"""Running a sweep into an output folder: plan, skip what is done, execute, merge, summarise."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from puasim.sweep.plan import Sweep, plan_runs
from puasim.sweep.results import PARQUET, Journal, frame, read_journal, write_parquet
from puasim.sweep.worker import Task

EXECUTORS = ("serial", "pool", "dask")


@contextlib.contextmanager
def _ctrl_c_deferred() -> Iterator[None]:
    """Hold SIGINT back while the block runs (in the main thread, where Python handles it), so
    that Ctrl-C cannot land between writing a run's row and counting it."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


@dataclass(slots=True)
class SweepOutcome:
    """What a sweep did: the merged table, the runs finished now, those skipped (already done), those not passing."""

    table: Any
    ran: int
    skipped: int
    failed: int
    parquet: Path | None = None
    html: Path | None = None
    interrupted: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def run_sweep(
    sweep: Sweep,
    out: str | Path,
    executor: str = "pool",
    workers: int | None = None,
    scheduler: str | None = None,
    retry_failed: bool = False,
    progress: bool = False,
    html: bool = True,
) -> SweepOutcome:
    """Run every planned run not already in ``out`` and write ``out/results.parquet`` (+ ``summary.html``).

    ``executor``: ``pool`` (local processes, default), ``dask`` (a LocalCluster,
    or the cluster at ``scheduler``) or ``serial`` (this process).  Rows already
    in the journal are kept and their runs skipped; with ``retry_failed`` the
    runs whose row has an error are run again.  On Ctrl-C the table of the runs
    done so far is written and ``interrupted`` is set.
    """
    from puasim.sweep import executors
    from puasim.sweep.progress import SweepProgress

    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r} (known: {', '.join(EXECUTORS)})")
    out = Path(out)
    runs = plan_runs(sweep)
    rows = read_journal(out)
    if retry_failed:
        rows = {k: r for k, r in rows.items() if r.get("verdict") != "error"}
    todo = [r for r in runs if r.run_id not in rows]
    skipped = len(runs) - len(todo)
    tasks = [Task(sweep, r.index, r.run_id, r.values, r.seed) for r in todo]
    journal = Journal(out)
    bar = SweepProgress(len(runs), skipped, enabled=progress)

    finished = 0

    def done(row: dict[str, Any]) -> None:
        nonlocal finished
        with _ctrl_c_deferred():  # a finished run is in the journal, the table and the count, or in none
            row = journal.write(row)
            rows[row["run_id"]] = row
            finished += 1
        bar.update(row)

    interrupted = False
    try:
        if executor == "serial":
            executors.run_serial(tasks, done)
        elif executor == "pool":
            executors.run_pool(tasks, done, workers)
        else:
            executors.run_dask(tasks, done, workers, scheduler)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar.close()
        journal.close()
    table = frame(sweep, runs, rows)
    parquet = out / PARQUET
    write_parquet(table, parquet)
    page = None
    if html:
        from puasim.sweep.summary import write_summary

        page = write_summary(table, sweep, out)
    failed = int((table["verdict"] != "pass").sum())
    return SweepOutcome(table, finished, skipped, failed, parquet, page, interrupted)


__all__ = ["EXECUTORS", "SweepOutcome", "run_sweep"]
