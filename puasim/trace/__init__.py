"""The trace: typed records of everything that happens in a run."""

from puasim.trace.codec import TraceFormatError, digest, read_jsonl, write_jsonl
from puasim.trace.events import *  # noqa: F403
from puasim.trace.events import EVENT_TYPES, MESSAGE_EVENTS
from puasim.trace.levels import (
    LEVELS,
    MetricsTrace,
    StreamTrace,
    TraceFile,
    TraceLevelError,
    make_trace,
)
from puasim.trace.trace import Record, Trace

__all__ = [
    "EVENT_TYPES",
    "LEVELS",
    "MetricsTrace",
    "StreamTrace",
    "TraceFile",
    "TraceLevelError",
    "make_trace",
    "MESSAGE_EVENTS",
    "Record",
    "Trace",
    "TraceFormatError",
    "digest",
    "read_jsonl",
    "write_jsonl",
    *EVENT_TYPES,
]
