"""One run of a sweep, as a worker process executes it: plain data in, one plain row out.

:func:`execute` never raises for a run that goes wrong: a model error, a bad
value or a crash of the code becomes the row's ``error`` (the digest is that of
the trace up to the fault when the run got that far).  The row holds no wall
time, so rows are the same whichever process or machine ran them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from puasim.sweep.plan import Sweep


@dataclass(frozen=True, slots=True)
class Task:
    """Everything a worker needs for one run (picklable, no file access needed but ``body_file``s)."""

    sweep: Sweep
    index: int
    run_id: str
    values: tuple[Any, ...]
    seed: int


_DOCS: dict[tuple[str, str], Any] = {}


def _doc(sweep: Sweep) -> Any:
    """The base scenario parsed once per worker process."""
    key = (sweep.base_file, sweep.base_text)
    doc = _DOCS.get(key)
    if doc is None:
        _DOCS.clear()
        doc = _DOCS[key] = sweep.base_doc()
    return doc


def base_row(task: Task) -> dict[str, Any]:
    row: dict[str, Any] = {"run": task.index, "run_id": task.run_id}
    row.update(dict(zip(task.sweep.names, task.values, strict=True)))
    row["seed"] = task.seed
    return row


def error_row(task: Task, error: str) -> dict[str, Any]:
    """The row of a run that produced nothing: its error, no digest, no metrics."""
    row = base_row(task)
    row.update({"verdict": "error", "expectations_failed": 0, "error": error, "digest": "", "trace_level": "",
                "virtual_time_s": math.nan})
    row.update({m: math.nan for m in task.sweep.metrics})
    return row


def execute(task: Task) -> dict[str, Any]:
    """Run ``task``; the row: overrides, seed, verdict, error, digest and the sweep's metrics."""
    from puasim.report.running import RunningMetrics
    from puasim.scenario.runner import ScenarioRun, check_trace_level
    from puasim.sweep.overrides import apply

    try:
        scn = apply(_doc(task.sweep), task.sweep.overrides, task.values, task.seed)
        try:
            check_trace_level(scn, "metrics")
            level = "metrics"
        except ValueError:  # an expectation reads the records: keep them, measure afterwards
            level = "full"
        result = ScenarioRun(scn, trace_level=level).run()
        trace = result.trace
        observer = getattr(trace, "observer", None)
        if observer is None:
            observer = RunningMetrics(scn.epoch)
            observer.observe_batch(trace.records)  # type: ignore[attr-defined]
        metrics = observer.summary()
    except Exception as exc:  # any fault of one run is that run's row, never the sweep's end
        return error_row(task, f"{type(exc).__name__}: {exc}")
    row = base_row(task)
    errors = result.error or ""
    row.update({
        "verdict": "error" if errors else ("pass" if result.passed else "fail"),
        "expectations_failed": len(result.failures),
        "error": errors,
        "digest": trace.digest(),
        "trace_level": level,
        "virtual_time_s": result.virtual_time / 1e6,
    })
    row.update({m: float(metrics[m]) for m in task.sweep.metrics})
    return row


__all__ = ["Task", "base_row", "error_row", "execute"]
