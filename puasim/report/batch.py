"""Reports for a run: one trace file or a folder of them (what ``puasim report RUN`` does)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from functools import partial
from pathlib import Path
from typing import Any

from puasim.report.frames import load
from puasim.report.html import write_index, write_report
from puasim.report.metrics import refresh_lead_times, rounds_412, summary
from puasim.report.pngfiles import PICTURES_DIR
from puasim.report.source import find_summary, open_trace, trace_files
from puasim.trace.codec import read_jsonl, read_meta
from puasim.trace.filenames import inside, safe_name, unique_names

#: trace files up to this size are read into memory for their report; larger ones are read
#: lazily, a chunk at a time, once per pass (so a trace larger than memory can be reported on)
IN_MEMORY_BYTES = 64 * 2**20


def read_verdicts(run: str | Path) -> dict[str, dict[str, Any]]:
    """The ``summary.json`` rows beside the traces of ``run``, by scenario name ({} when none)."""
    path = find_summary(run)
    if path is None:
        return {}
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(rows, list):
        return {}
    return {str(r.get("scenario")): r for r in rows if isinstance(r, dict) and r.get("scenario")}


def default_jobs() -> int:
    """Worker processes :func:`write_reports` uses by default: the cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def largest_first(files: list[Path]) -> list[Path]:
    """``files`` by size, largest first (a report's work grows with its trace), ties in file order."""
    return sorted(files, key=lambda f: -f.stat().st_size)


#: what write_reports remembers in ``OUT`` about the reports it wrote
CACHE_FILE = ".report-cache.json"


def code_fingerprint() -> str:
    """sha256 of the puasim sources and the versions of the libraries that draw and write the report."""
    import matplotlib
    import pandas

    h = hashlib.sha256()
    root = Path(__file__).resolve().parent.parent
    for path in sorted(root.rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode())
        h.update(path.read_bytes())
    try:
        import pyarrow

        arrow = pyarrow.__version__
    except ImportError:
        arrow = ""
    h.update(f"{matplotlib.__version__} {pandas.__version__} {arrow}".encode())
    return h.hexdigest()


def _cache_key(f: Path, fingerprint: str, verdicts: dict[str, dict[str, Any]], options: str) -> str:
    h = hashlib.sha256(fingerprint.encode())
    h.update(options.encode())
    h.update(json.dumps(verdicts, sort_keys=True, default=str).encode())
    h.update(f.read_bytes())
    return h.hexdigest()


def _read_cache(out: Path) -> dict[str, Any]:
    try:
        cache = json.loads((out / CACHE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return cache if isinstance(cache, dict) else {}


def _still_there(entry: dict[str, Any], write_data: bool, png: bool = False) -> bool:
    report = Path(entry.get("report", ""))
    return (
        report.is_file()
        and (not write_data or (report.parent / "data").is_dir())
        and (not png or any((report.parent / PICTURES_DIR).glob("*.png")))
    )


def report_folders(files: list[Path]) -> dict[Path, str]:
    """The folder under ``OUT`` of each trace's report: its scenario name (``meta["scenario"]``,
    text from the file, not trusted as a path) made file-safe, else the file's stem; the second
    and later of equal ones get ``-2``, ``-3``, ... in file order."""
    names: list[str] = []
    for f in files:
        scenario: object = None
        if f.suffix == ".jsonl":
            try:
                scenario = read_meta(f).get("scenario")
            except (OSError, ValueError):
                pass  # the report itself says what is wrong with the file
        names.append(safe_name(str(scenario or ""), fallback=f.stem))
    return dict(zip(files, unique_names(names), strict=True))


def _one_report(
    f: Path,
    out: Path,
    verdicts: dict[str, dict[str, Any]],
    ladder_page_limit: int,
    write_data: bool,
    png: bool = False,
    folders: dict[Path, str] | None = None,
) -> dict[str, Any]:
    """Load one trace file and write its report into ``out/folders[f]`` (see
    :func:`report_folders`); the index entry (``error`` when it failed)."""
    name = f.stem
    try:
        folder = inside(out, (folders or {}).get(f) or report_folders([f])[f])
        if f.suffix == ".jsonl" and f.stat().st_size <= IN_MEMORY_BYTES:
            # the frames, lamps, ladder notes and digest each walk the trace: a small file is
            # decoded once into memory rather than once per walk
            trace = open_trace(f, reader=read_jsonl)
        else:
            trace = open_trace(f)
        name = str(trace.meta.get("scenario") or f.stem)
        data = load(trace)
        verdict = verdicts.get(name) or verdicts.get(f.stem)
        stats = summary(data, lead=refresh_lead_times(data), rounds=rounds_412(data))
        path = write_report(
            data,
            folder,
            title=name,
            verdict=verdict,
            ladder_page_limit=ladder_page_limit,
            write_data=write_data,
            metrics=stats,
            png=png,
        )
    except (OSError, ValueError, NotImplementedError) as exc:
        return {"name": name, "report": "", "result": "error", "error": str(exc)}
    entry: dict[str, Any] = {
        "name": name,
        "report": str(path),
        "result": (verdict or {}).get("result", ""),
    }
    entry.update(stats)
    return entry


def write_reports(
    run: str | Path,
    out_dir: str | Path = "reports",
    *,
    ladder_page_limit: int = 3,
    write_data: bool = True,
    progress: Callable[[str], None] | None = None,
    jobs: int | None = None,
    cache: bool = True,
    png: bool = False,
) -> list[dict[str, Any]]:
    """Write ``out_dir/<trace name>/report.html`` (+ data) for every trace of ``run``.

    The folder is the trace's scenario name made file-safe (see :func:`report_folders`):
    a name such as ``../x`` from a trace file never writes outside ``out_dir``.

    When ``run`` is a folder, ``out_dir/index.html`` links them all.  Returns
    one entry per trace, in file order: ``name``, ``report`` (path),
    ``result`` (from summary.json, or ``""``) and the
    :func:`~puasim.report.metrics.summary` numbers.  A trace that cannot be
    read gets ``error`` instead.

    The reports are independent, so with several traces they are written by
    ``jobs`` worker processes (default :func:`default_jobs`, every core),
    which take the largest traces first; ``jobs=1`` writes them one after
    the other in this process.

    With ``png`` each report's pictures are also written as PNG files
    (``out_dir/<name>/pictures/*.png``, drawn with matplotlib) and linked
    from its page; see :func:`~puasim.report.html.write_report`.

    With ``cache`` (the default) a report is not written again when
    ``out_dir/.report-cache.json`` says it was written from the same trace
    file, verdicts, options, puasim sources and library versions and it is
    still there; its entry is reused.
    """
    files = trace_files(run)
    if not files:
        raise FileNotFoundError(f"{run}: no trace files (*.jsonl) found")
    verdicts = read_verdicts(run)
    out = Path(out_dir)
    workers = min(default_jobs() if jobs is None else max(1, jobs), len(files))
    folders = report_folders(files)
    task = partial(
        _one_report,
        out=out,
        verdicts=verdicts,
        ladder_page_limit=ladder_page_limit,
        write_data=write_data,
        png=png,
        folders=folders,
    )
    # a report whose trace, verdicts, options and code are those it was written from is kept
    fingerprint = code_fingerprint() if cache else ""
    old_cache = _read_cache(out) if cache else {}
    # a report written without PNG files is not one written with them, and the other way round
    options = f"{ladder_page_limit} {write_data} png={png}"
    keys = {f: _cache_key(f, fingerprint, verdicts, f"{options} {folders[f]}") for f in files} if cache else {}
    kept: dict[Path, dict[str, Any]] = {}
    for f in files:
        hit = old_cache.get(str(f))
        if (
            cache
            and isinstance(hit, dict)
            and hit.get("key") == keys[f]
            and _still_there(hit["entry"], write_data, png)
        ):
            kept[f] = hit["entry"]
    todo = [f for f in files if f not in kept]
    workers = min(workers, max(len(todo), 1))
    entries: list[dict[str, Any]] = []
    with ExitStack() as stack:
        if workers > 1:
            pool = stack.enter_context(ProcessPoolExecutor(max_workers=workers))
            # largest traces first: a big report started last would keep one worker busy alone
            # at the end; the entries are still taken in file order
            futures = {f: pool.submit(task, f) for f in largest_first(todo)}
            fresh: Iterator[dict[str, Any]] = (futures[f].result() for f in todo)
        else:
            fresh = map(task, todo)
        for f in files:
            entry = kept[f] if f in kept else next(fresh)
            entries.append(entry)
            if progress:
                note = " (unchanged)" if f in kept else ""
                progress(
                    f"{entry['name']}: {entry['error']}"
                    if entry.get("error")
                    else entry["report"] + note
                )
    if cache:
        new_cache = {
            str(f): {"key": keys[f], "entry": e}
            for f, e in zip(files, entries, strict=True)
            if not e.get("error")
        }
        out.mkdir(parents=True, exist_ok=True)
        (out / CACHE_FILE).write_text(
            json.dumps({**old_cache, **new_cache}, default=str), encoding="utf-8"
        )
    if Path(run).is_dir():
        index = write_index([e for e in entries if e["report"]], out)
        if progress:
            progress(str(index))
    return entries
