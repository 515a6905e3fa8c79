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
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
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


def run_one(f: Path, opts: RunOptions) -> FileOutcome:
    """Load, run and judge one file; write its trace (and report) as ``opts`` says."""
    from puasim.progress import RunProgress
    from puasim.scenario.loader import ScenarioError
    from puasim.scenario.runner import load_scenario, run_scenario
    from puasim.trace.codec import write_jsonl

    level = opts.level
    try:
        scn = load_scenario(f)
        trace_path = opts.traces / f"{scn.name}.jsonl" if level == "stream" and opts.traces is not None else None
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
            write_jsonl(result.trace, opts.traces / f"{result.name}.jsonl")
        if opts.report_out is not None and opts.traces is not None:
            if level == "metrics":
                notes.append("(no report: trace level 'metrics' keeps no records; the summary has the metrics)")
            else:
                try:
                    from puasim.report.html import write_report
                except ImportError as exc:
                    notes.append(f"(no report: reports need pip install 'puasim[report]': {exc})")
                else:
                    source = opts.traces / f"{result.name}.jsonl"
                    report = write_report(
                        source, opts.report_out / result.name, title=result.name, verdict=row,
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
    """Workers leave Ctrl-C to the parent, which stops handing out files and waits for them."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def run_files(files: list[Path], opts: RunOptions, jobs: int = 1) -> Iterator[FileOutcome]:
    """The outcome of every file, in the order of ``files``.

    ``jobs`` > 1 runs the files on that many worker processes (never more
    than there are files), without the per-run progress bar: the workers
    take the files in order, and an outcome is yielded once it and every
    one before it are done.
    """
    workers = min(max(1, jobs), len(files))
    if workers == 1:
        for f in files:
            yield run_one(f, opts)
        return
    import dataclasses
    from concurrent.futures import ProcessPoolExecutor

    quiet = dataclasses.replace(opts, progress=False)
    with ProcessPoolExecutor(max_workers=workers, mp_context=_context(), initializer=_ignore_sigint) as pool:
        futures: list[Future[FileOutcome]] = [pool.submit(run_one, f, quiet) for f in files]
        try:
            for fut in futures:
                yield fut.result()
        finally:
            for fut in futures:
                fut.cancel()


__all__ = ["FailureLine", "FileOutcome", "RunOptions", "default_jobs", "run_files", "run_one"]
