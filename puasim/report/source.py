"""Where a report's trace comes from: a live :class:`Trace`, a JSON-lines file, (later) a pcap.

:func:`open_trace` turns any accepted *source* into a :class:`Trace`;
:func:`trace_files` lists the trace files of a run folder.  Readers are
chosen by file suffix from :data:`READERS`, an immutable table: the pcap
entry is the hook issue 7 fills in (it will point at a reader in
``puasim.capture`` that returns a :class:`Trace` holding ``MessageSent``
records, one per captured packet, at the capturing node).  Every frame
builder in this package copes with such a message-only trace.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType

from puasim.trace.levels import TraceFile
from puasim.trace.trace import Trace

Reader = Callable[[Path], Trace]


def _read_jsonl(path: Path) -> Trace:
    """A JSON-lines trace opened lazily: every pass over it reads the file in chunks,
    so a streamed trace larger than memory can be reported on."""
    return TraceFile(path)


def _read_pcap(path: Path) -> Trace:
    """A capture: SIP over UDP via :func:`puasim.capture.reader.read_pcap` (scapy).

    Nodes are named by address (``host:port``), except the simulator's and
    the lab's defaults: 127.0.0.1:5060 is ``server``, 127.0.0.1:5070 ``pua``.
    """
    from puasim.capture.reader import read_pcap

    return read_pcap(path, names=DEFAULT_NAMES)


#: address -> node name used for captures (the simulator's and the lab's defaults)
DEFAULT_NAMES: Mapping[str, str] = MappingProxyType({"127.0.0.1:5060": "server", "127.0.0.1:5070": "pua"})


#: file suffix -> reader (``.jsonl`` written by ``puasim run``; pcap captures)
READERS: Mapping[str, Reader] = MappingProxyType(
    {
        ".jsonl": _read_jsonl,
        ".pcap": _read_pcap,
        ".pcapng": _read_pcap,
    }
)

TraceSource = Trace | str | Path


def open_trace(source: TraceSource, reader: Reader | None = None) -> Trace:
    """Return ``source`` as a :class:`Trace`.

    ``source`` is a :class:`Trace` (returned as is) or the path of one trace
    file; ``reader`` overrides the choice by suffix (e.g. a pcap reader
    before issue 7 registers one).  Raises ``ValueError`` for a folder or an
    unknown suffix, ``OSError`` / ``TraceFormatError`` from reading.
    """
    if isinstance(source, Trace):
        return source
    path = Path(source)
    if path.is_dir():
        raise ValueError(f"{path} is a folder: use trace_files() and load each file")
    if reader is None:
        reader = READERS.get(path.suffix.lower())
        if reader is None:
            known = ", ".join(sorted(READERS))
            raise ValueError(f"{path}: unknown trace file type {path.suffix!r} (known: {known})")
    trace = reader(path)
    trace.meta.setdefault("source", str(path))
    return trace


def trace_files(path: str | Path) -> list[Path]:
    """The trace files named by ``path``: the file itself, or a folder's files (sorted).

    A folder written by ``puasim run --out DIR`` keeps its traces in
    ``DIR/traces``; that sub-folder is searched when ``DIR`` holds none.
    """
    p = Path(path)
    if not p.is_dir():
        return [p]
    found = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in READERS)
    if not found and (p / "traces").is_dir():
        return trace_files(p / "traces")
    return found


def find_summary(path: str | Path) -> Path | None:
    """The ``summary.json`` written by ``puasim run`` beside (or one level above) the traces."""
    p = Path(path)
    folder = p if p.is_dir() else p.parent
    for candidate in (folder / "summary.json", folder.parent / "summary.json"):
        if candidate.is_file():
            return candidate
    return None
