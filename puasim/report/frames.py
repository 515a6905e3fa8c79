"""A trace as tidy pandas DataFrames: :func:`load` and :class:`ReportData`.

>>> data = load("reports/traces/refresh_indefinite.jsonl")   # or a Trace
>>> data.messages[["time", "direction", "method", "status", "expires"]]
>>> data.gaps()

Every frame is built once, eagerly, from the trace alone (nothing reads a
model's private state).  Column meanings: the ``*_COLUMNS`` tables of the
modules that build them, collected in :data:`COLUMNS`, and
``docs/metrics.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from puasim.effects import SECOND
from puasim.report.coverage import COVERAGE_COLUMNS, coverage_frame, gaps_frame
from puasim.report.messages import (
    MESSAGE_COLUMNS,
    TRANSACTION_COLUMNS,
    messages_frame,
    node_names,
    transactions_frame,
)
from puasim.report.records import (
    RECORD_COLUMNS,
    RECORD_EVENT_COLUMNS,
    SERVER_EVENT_COLUMNS,
    SERVER_STATE_COLUMNS,
    record_events_frame,
    records_frame,
    server_frames,
)
from puasim.report.source import Reader, TraceSource, open_trace
from puasim.trace.events import (
    FaultInjected,
    MessageRejected,
    NodeCrashed,
    NodeRestarted,
    NodeStartFailed,
    Note,
    RunError,
)
from puasim.trace.trace import Trace

#: frame name -> {column: meaning}
COLUMNS: dict[str, dict[str, str]] = {
    "messages": MESSAGE_COLUMNS,
    "transactions": TRANSACTION_COLUMNS,
    "record_events": RECORD_EVENT_COLUMNS,
    "records": RECORD_COLUMNS,
    "server_events": SERVER_EVENT_COLUMNS,
    "server_state": SERVER_STATE_COLUMNS,
    "coverage": COVERAGE_COLUMNS,
    "incidents": {
        "seq": "trace sequence number",
        "time": "seconds of virtual time",
        "node": "node concerned",
        "type": "FaultInjected, NodeCrashed, NodeRestarted, NodeStartFailed, MessageRejected, RunError or a step Note",
        "text": "kind and detail",
    },
}


@dataclass(slots=True)
class ReportData:
    """The frames of one trace.  Build it with :func:`load` or :func:`from_trace`."""

    trace: Trace
    names: dict[str, str]
    messages: pd.DataFrame
    transactions: pd.DataFrame
    record_events: pd.DataFrame
    records: pd.DataFrame
    server_events: pd.DataFrame
    server_state: pd.DataFrame
    coverage: pd.DataFrame
    incidents: pd.DataFrame
    end_time: float
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return str(self.meta.get("scenario") or Path(str(self.meta.get("source", "trace"))).stem)

    @property
    def epoch(self) -> int:
        return int(self.meta.get("epoch", 0) or 0)

    def gaps(self, min_duration: float = 0.0) -> pd.DataFrame:
        """Presence gaps (coverage intervals in state none or stale), see :func:`gaps_frame`."""
        return gaps_frame(self.coverage, min_duration)

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every frame by name (the order of :data:`COLUMNS`)."""
        return {name: getattr(self, name) for name in COLUMNS}

    def nodes(self) -> list[str]:
        """Node names in ladder order: ``pua`` first, ``server`` next, then the rest as met."""
        seen: list[str] = []
        for col in ("src_node", "dst_node"):
            for n in self.messages[col]:
                if n not in seen:
                    seen.append(n)
        rank = {"pua": 0, "server": 1}
        return sorted(seen, key=lambda n: (rank.get(n, 2), seen.index(n)))

    def write_tables(self, out_dir: str | Path, parquet: bool | None = None) -> list[Path]:
        """Write every frame as CSV (and Parquet when pyarrow is importable); return the paths."""
        return write_frames(self.tables(), out_dir, parquet)


def write_frames(tables: dict[str, pd.DataFrame], out_dir: str | Path, parquet: bool | None = None) -> list[Path]:
    """Write each frame as ``NAME.csv`` (and ``NAME.parquet`` when pyarrow is importable); return the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if parquet is None:
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            parquet = False
        else:
            parquet = True
    written = []
    for name, frame in tables.items():
        path = out / f"{name}.csv"
        frame.to_csv(path, index=False)
        written.append(path)
        if parquet:
            path = out / f"{name}.parquet"
            frame.to_parquet(path, index=False)
            written.append(path)
    return written


def _incidents(trace: Trace) -> pd.DataFrame:
    rows = []
    for rec in trace.iter_of(FaultInjected, NodeCrashed, NodeRestarted, RunError, Note):
        ev = rec.event
        if isinstance(ev, FaultInjected):
            text = f"{ev.kind}: {ev.detail}"
        elif isinstance(ev, NodeCrashed):
            text = f"crashed ({ev.reason})"
        elif isinstance(ev, NodeRestarted):
            text = f"restarted {ev.detail}".strip()
        elif isinstance(ev, NodeStartFailed):
            text = f"did not start: {ev.reason}"
        elif isinstance(ev, MessageRejected):
            text = f"{'answered ' + str(ev.status) if ev.status else 'dropped'}: {ev.reason}"
        elif isinstance(ev, RunError):
            text = f"{ev.where}: {ev.error}"
        elif isinstance(ev, Note) and ev.level in ("step", "mark"):
            text = ev.text
        else:
            continue
        rows.append(
            {
                "seq": rec.seq,
                "time": rec.time / SECOND,
                "node": rec.node,
                "type": type(ev).__name__,
                "text": text,
            }
        )
    return pd.DataFrame(rows, columns=list(COLUMNS["incidents"]))


def from_trace(trace: Trace, end_time: float | None = None) -> ReportData:
    """Build every frame of ``trace``; ``end_time`` (s) defaults to the last record's time."""
    last = trace.last_time() / SECOND
    end = last if end_time is None else max(end_time, 0.0)
    names = node_names(trace)
    messages = messages_frame(trace, names)
    transactions = transactions_frame(trace, messages)
    record_events = record_events_frame(trace)
    records = records_frame(trace, record_events)
    server_events, server_state = server_frames(trace)
    coverage = coverage_frame(trace, messages, record_events, server_events, end)
    return ReportData(
        trace=trace,
        names=names,
        messages=messages,
        transactions=transactions,
        record_events=record_events,
        records=records,
        server_events=server_events,
        server_state=server_state,
        coverage=coverage,
        incidents=_incidents(trace),
        end_time=end,
        meta=dict(trace.meta),
    )


def load(
    source: TraceSource | ReportData, reader: Reader | None = None, end_time: float | None = None
) -> ReportData:
    """The frames of a trace given as a :class:`Trace`, a trace file path or a ``ReportData``.

    Trace files are read by suffix (``.jsonl``; ``.pcap`` is the hook for
    issue 7, see :mod:`puasim.report.source`); ``reader`` overrides that.
    """
    if isinstance(source, ReportData):
        return source
    return from_trace(open_trace(source, reader), end_time)
