"""Running a list of scenario files, in this process or on worker processes.

``puasim run`` over a folder runs each file independently (a run reads
nothing but its own file and its seed), so the files can be spread over
worker processes.  :func:`run_one` does everything one file needs (load,
run, judge, write its trace and report) and hands back a picklable
:class:`FileOutcome`; :func:`run_files` yields the outcomes in the order of
the files whatever the number of workers, so the table, the summaries and
the traces written are those of a run in one process, and so are the
digests (nothing a run computes depends on another run or on the process
it ran in).

Workers are forked on Linux: the modules the parent imported (the scenario
stack) are shared instead of imported again by every worker.

Every file writes ``traces/<name>.jsonl`` (and ``<report>/<name>/``) under
the file-safe form of its scenario name (:func:`~puasim.trace.filenames.safe_name`),
so :func:`duplicate_names` is checked before a run: two files with one name
would write one trace file, at once on two workers.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from concurrent.futures import Future


@dataclass(frozen=True, slots=True)
class RunOptions:
    """What every file of one ``puasim run`` shares."""

    level: str = "full"
    #: folder the traces go to (``stream`` writes there as it runs); None: write no trace
    traces: Path | None = None
    #: write the ``full`` trace as JSON lines into ``traces`` after the run
    write_trace: bool = False
    #: folder for HTML reports (``OUT``); None: no report
    report_out: Path | None = None
    #: the reports also write their pictures as PNG files (``write_report(png=True)``)
    report_png: bool = False
    #: show the per-run progress bar (only in this process, see RunProgress)
    progress: bool = False


@dataclass(frozen=True, slots=True)
class FailureLine:
    """One failed expectation, as the table prints it."""

    line: int | None
    kind: str
    message: str
    context: str


@dataclass(frozen=True, slots=True)
class FileOutcome:
    """What one file's run left: its row of summary.json and what the table prints.

    ``invalid`` holds the ScenarioError text of a file that could not be
    loaded (``row`` is then the ``invalid`` row); ``notes`` are the lines
    about its report; ``write_error`` is an OSError met writing its trace or
    report (the command stops there).
    """

    file: Path
    row: dict[str, Any]
    invalid: str | None = None
    verdict: str = ""
    virtual_s: float = 0.0
    messages: int = 0
    wall_s: float = 0.0
    failures: tuple[FailureLine, ...] = ()
    notes: tuple[str, ...] = ()
    write_error: str | None = None

    @property
    def failed(self) -> bool:
        return self.invalid is not None or self.row.get("result") != "pass"


class WorkerDied(RuntimeError):
    """A worker process ended without handing back its outcome (killed, e.g. out of memory).

    ``running`` are the files that were on the workers then, in file order:
    one of them was on the worker that died, the others were lost with the pool.
    """

    def __init__(self, running: tuple[Path, ...]) -> None:
        super().__init__(", ".join(map(str, running)))
        self.running = running


def trace_name(name: str, f: Path) -> str:
    """The file name (without ``.jsonl``) of the trace of scenario ``name`` read from ``f``."""
    from puasim.trace.filenames import safe_name

    return safe_name(name, fallback=f.stem)


def duplicate_names(files: list[Path]) -> str | None:
    """A one-line complaint naming the first two files whose traces would have one name
    (same ``name:``, same stem, or names equal once made file-safe); None when all differ.

    Files that do not load are left out: they are reported as invalid by the run and
    write no trace.
    """
    from puasim.scenario.loader import ScenarioError
    from puasim.scenario.runner import load_scenario

    seen: dict[str, tuple[Path, str]] = {}
    for f in files:
        try:
            name = load_scenario(f).name
        except ScenarioError:
            continue
        key = trace_name(name, f)
        first = seen.get(key.lower())
        if first is None:
            seen[key.lower()] = (f, name)
            continue
        other, other_name = first
        names = f"the scenario name {name!r}" if name == other_name else f"the names {other_name!r} and {name!r}"
        return (
            f"{other} and {f} have {names}: both runs would write traces/{key}.jsonl "
            "(give each scenario its own name:)"
        )
    return None


def run_one(f: Path, opts: RunOptions) -> FileOutcome:
    """Load, run and judge one file; write its trace (and report) as ``opts`` says."""
    from puasim.progress import RunProgress
    from puasim.scenario.loader import ScenarioError
    from puasim.scenario.runner import load_scenario, run_scenario
    from puasim.trace.codec import write_jsonl

    level = opts.level
    try:
        scn = load_scenario(f)
        stem = trace_name(scn.name, f)
        trace_path = opts.traces / f"{stem}.jsonl" if level == "stream" and opts.traces is not None else None
        with RunProgress(scn.duration, scn.name, enabled=opts.progress) as bar:
            result = run_scenario(scn, trace_level=level, trace_path=trace_path, progress=bar)
    except ScenarioError as exc:
        invalid: dict[str, Any] = {"scenario": f.stem, "file": str(f), "result": "invalid", "error": str(exc)}
        return FileOutcome(f, invalid, invalid=str(exc))
    row: dict[str, Any] = {
        "scenario": result.name, "file": str(f), "result": "pass" if result.passed else "fail",
        "virtual_time_s": result.virtual_time / 1e6, "messages": result.messages,
        "wall_time_s": round(result.wall_time, 4), "digest": result.trace.digest(),
        "refs": result.refs, "failures": [f"{x.kind}: {x.message}" for x in result.failures],
        "trace_level": level,
    }
    observer = getattr(result.trace, "observer", None)
    if observer is not None:
        row["metrics"] = observer.summary()
    failures = tuple(FailureLine(x.line, x.kind, x.message, x.context) for x in result.failures)
    notes: list[str] = []
    write_error = None
    try:
        if opts.write_trace and opts.traces is not None and level == "full":
            write_jsonl(result.trace, opts.traces / f"{stem}.jsonl")
        if opts.report_out is not None and opts.traces is not None:
            if level == "metrics":
                notes.append("(no report: trace level 'metrics' keeps no records; the summary has the metrics)")
            else:
                try:
                    from puasim.report.html import write_report
                except ImportError as exc:
                    notes.append(f"(no report: reports need pip install 'puasim[report]': {exc})")
                else:
                    source = opts.traces / f"{stem}.jsonl"
                    report = write_report(
                        source, opts.report_out / stem, title=result.name, verdict=row,
                        png=opts.report_png,
                    )
                    notes.append(f"report: {report}")
    except OSError as exc:
        write_error = str(exc)
    return FileOutcome(
        f, row, verdict=result.verdict, virtual_s=result.virtual_time / 1e6, messages=result.messages,
        wall_s=result.wall_time, failures=failures, notes=tuple(notes), write_error=write_error,
    )


def default_jobs() -> int:
    """Worker processes ``puasim run`` uses by default: the cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _context() -> Any:
    """fork where the platform has it (workers share the parent's imports), else the default."""
    import multiprocessing

    if sys.platform.startswith("linux"):
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context()


def _ignore_sigint() -> None:
    """Workers leave Ctrl-C to the parent, which stops handing out files and ends them."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _end_workers(pool: Any) -> None:
    """Stop ``pool`` now: no new file starts and the workers still running one are terminated.

    A scenario run can take minutes, so the ones running are not waited for.
    ``ProcessPoolExecutor`` has no public way to end its workers before Python 3.14
    (``terminate_workers``); its ``_processes`` map is used where that is missing.
    """
    terminate = getattr(pool, "terminate_workers", None)
    if terminate is not None:  # Python 3.14+
        terminate()
        return
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in processes:
        if proc.is_alive():
            proc.terminate()
    for proc in processes:
        proc.join(timeout=5)


def run_files(files: list[Path], opts: RunOptions, jobs: int = 1) -> Generator[FileOutcome, None, None]:
    """The outcome of every file, in the order of ``files``.

    ``jobs`` > 1 runs the files on that many worker processes (never more
    than there are files), without the per-run progress bar.  The workers
    take the files in order and at most ``jobs`` files are handed out at a
    time (the next when one finishes), so nothing waits in the pool's queue;
    an outcome is yielded once it and every one before it are done.

    When the caller stops early -- Ctrl-C (``KeyboardInterrupt``, which the
    workers ignore and leave to this process) or closing the iterator --
    no further file is handed out and the workers are terminated: a file cut
    short leaves what its streamed trace had written.  A worker that dies
    raises :class:`WorkerDied` naming the files that were running.
    """
    workers = min(max(1, jobs), len(files))
    if workers == 1:
        for f in files:
            yield run_one(f, opts)
        return
    import dataclasses
    import itertools
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    quiet = dataclasses.replace(opts, progress=False)
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=_context(), initializer=_ignore_sigint)
    futures: dict[int, Future[FileOutcome]] = {}
    finished = False
    try:
        queued = iter(enumerate(files))

        def hand_out() -> None:  # keep ``workers`` files running while any are left
            busy = sum(not fut.done() for fut in futures.values())
            for k, f in itertools.islice(queued, max(0, workers - busy)):
                futures[k] = pool.submit(run_one, f, quiet)

        for i in range(len(files)):
            try:
                hand_out()
                while not futures[i].done():
                    wait([fut for fut in futures.values() if not fut.done()], return_when=FIRST_COMPLETED)
                    hand_out()
                outcome = futures.pop(i).result()
            except BrokenProcessPool:  # from submit() or result(): a worker is gone
                lost = [
                    k for k, fut in futures.items()
                    if not fut.done() or isinstance(fut.exception(), BrokenProcessPool)
                ]
                raise WorkerDied(tuple(files[k] for k in sorted({i, *lost}))) from None
            yield outcome
        finished = True
    finally:
        if finished:
            pool.shutdown(wait=True)
        else:
            _end_workers(pool)


__all__ = [
    "FailureLine", "FileOutcome", "RunOptions", "WorkerDied", "default_jobs", "duplicate_names", "run_files",
    "run_one", "trace_name",
]
