"""Reports for a run: one trace file or a folder of them (what ``puasim report RUN`` does)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from puasim.report.frames import load
from puasim.report.html import write_index, write_report
from puasim.report.metrics import summary
from puasim.report.source import find_summary, open_trace, trace_files


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


def write_reports(
    run: str | Path,
    out_dir: str | Path = "reports",
    *,
    ladder_page_limit: int = 3,
    write_data: bool = True,
    progress: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Write ``out_dir/<trace name>/report.html`` (+ data) for every trace of ``run``.

    When ``run`` is a folder, ``out_dir/index.html`` links them all.  Returns
    one entry per trace: ``name``, ``report`` (path), ``result`` (from
    summary.json, or ``""``) and the :func:`~puasim.report.metrics.summary`
    numbers.  A trace that cannot be read gets ``error`` instead.
    """
    files = trace_files(run)
    if not files:
        raise FileNotFoundError(f"{run}: no trace files (*.jsonl) found")
    verdicts = read_verdicts(run)
    out = Path(out_dir)
    entries: list[dict[str, Any]] = []
    for f in files:
        name = f.stem
        try:
            trace = open_trace(f)
            name = str(trace.meta.get("scenario") or f.stem)
            data = load(trace)
            verdict = verdicts.get(name) or verdicts.get(f.stem)
            path = write_report(
                data,
                out / name,
                title=name,
                verdict=verdict,
                ladder_page_limit=ladder_page_limit,
                write_data=write_data,
            )
        except (OSError, ValueError, NotImplementedError) as exc:
            entries.append({"name": name, "report": "", "result": "error", "error": str(exc)})
            if progress:
                progress(f"{name}: {exc}")
            continue
        entry = {"name": name, "report": str(path), "result": (verdict or {}).get("result", "")}
        entry.update(summary(data))
        entries.append(entry)
        if progress:
            progress(str(path))
    if Path(run).is_dir():
        index = write_index([e for e in entries if e["report"]], out)
        if progress:
            progress(str(index))
    return entries
