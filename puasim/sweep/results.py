"""The results of a sweep on disk: a journal of rows as runs finish, the merged table as Parquet.

``OUT/runs.jsonl`` gets one JSON line per finished run, flushed as it comes,
so an interrupted sweep loses at most the runs in flight; a resumed sweep
reads it and skips those runs.  ``OUT/results.parquet`` is the merged table:
one row per planned run, sorted by run number, the same columns and bytes
whichever executor ran the runs (wall times are not in it).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import IO, Any

from puasim.sweep.plan import Run, Sweep

JOURNAL = "runs.jsonl"
PARQUET = "results.parquet"
#: columns after the overrides and the seed, before the metrics
RUN_COLUMNS = ("verdict", "expectations_failed", "error", "digest", "trace_level", "virtual_time_s")


def columns(sweep: Sweep) -> list[str]:
    return ["run", "run_id", *sweep.names, "seed", *RUN_COLUMNS, *sweep.metrics]


def read_journal(out: Path) -> dict[str, dict[str, Any]]:
    """Rows already in ``out`` by run id (a line cut short by an interruption is skipped)."""
    rows: dict[str, dict[str, Any]] = {}
    path = out / JOURNAL
    if not path.exists():
        return rows
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict) and "run_id" in row:
                rows[row["run_id"]] = row
    return rows


class Journal:
    """Appends rows to ``OUT/runs.jsonl`` as runs finish."""

    def __init__(self, out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        self.path = out / JOURNAL
        self._fh: IO[str] = self.path.open("a", encoding="utf-8")

    def write(self, row: dict[str, Any]) -> dict[str, Any]:
        """Write ``row``; returns it as it reads back (what every path to the table sees)."""
        line = json.dumps(row, sort_keys=True, allow_nan=True)
        self._fh.write(line + "\n")
        self._fh.flush()
        return dict(json.loads(line))

    def close(self) -> None:
        self._fh.close()


def _column_values(values: list[Any]) -> list[Any]:
    """An override column of one type: numbers stay numbers (ints become floats beside floats), else text."""
    if all(isinstance(v, bool) for v in values):
        return values
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return values
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return [float(v) for v in values]
    return [v if isinstance(v, str) else json.dumps(v) for v in values]


def frame(sweep: Sweep, runs: list[Run], rows: dict[str, dict[str, Any]]) -> Any:
    """The tidy table: one row per planned run that has a row, in run order."""
    import pandas as pd

    cols = columns(sweep)
    have = [(run, rows[run.run_id]) for run in runs if run.run_id in rows]
    data: dict[str, list[Any]] = {c: [] for c in cols}
    for run, row in have:
        data["run"].append(run.index)
        data["run_id"].append(run.run_id)
        for name, value in zip(sweep.names, run.values, strict=True):
            data[name].append(value)
        data["seed"].append(run.seed)
        data["verdict"].append(str(row.get("verdict", "error")))
        data["expectations_failed"].append(int(row.get("expectations_failed", 0)))
        data["error"].append(str(row.get("error", "")))
        data["digest"].append(str(row.get("digest", "")))
        data["trace_level"].append(str(row.get("trace_level", "")))
        for c in ("virtual_time_s", *sweep.metrics):
            v = row.get(c)
            data[c].append(float(v) if isinstance(v, int | float) else math.nan)
    for name in sweep.names:
        data[name] = _column_values(data[name])
    df = pd.DataFrame(data, columns=cols)
    df["run"] = df["run"].astype("int64")
    df["seed"] = df["seed"].astype("int64")
    df["expectations_failed"] = df["expectations_failed"].astype("int64")
    for c in ("virtual_time_s", *sweep.metrics):
        df[c] = df[c].astype("float64")
    return df


def write_parquet(df: Any, path: Path) -> None:
    """The table as Parquet, written to a temporary name and renamed (never half a file)."""
    tmp = path.with_suffix(".parquet.tmp")
    df.to_parquet(tmp, index=False, engine="pyarrow")
    tmp.replace(path)


__all__ = ["JOURNAL", "Journal", "PARQUET", "RUN_COLUMNS", "columns", "frame", "read_journal", "write_parquet"]
