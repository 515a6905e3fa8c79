"""Where a run's records go: the three trace levels.

``full``
    :class:`~puasim.trace.trace.Trace`: every record kept in memory.
``stream``
    :class:`StreamTrace`: each record is encoded with the canonical JSON-lines
    codec and written (buffered) to a file, a batch of a few hundred at a
    time; nothing else is kept in memory.  A running sha256 over the same canonical lines makes
    :meth:`~StreamTrace.digest` equal to the ``full`` digest of the same run.
    Reading it back (``records``, iteration, :meth:`~Trace.of`) flushes and
    walks the file in chunks.
``metrics``
    :class:`MetricsTrace`: keeps only the running digest, the record count,
    the last time and whatever an *observer* aggregates (the report's metrics:
    :class:`puasim.report.running.RunningMetrics`).  It has no records to read.

All three share ``add(time, node, event)``, ``digest()``, ``meta``,
``flush()`` and ``close()``; pick one with :func:`make_trace`.

JSON lines, not Parquet, is the streamed format: it is the format every
reader of the project already takes (``puasim show``, ``pcap``, ``report``),
its lines are the very bytes the digest hashes, and it can be appended one
record at a time and read back up to the last complete line after a crash.
A Parquet file needs whole row groups and a footer written at the end, so a
run killed half-way would leave an unreadable file.
"""

from __future__ import annotations

import hashlib
import json
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from itertools import islice
from pathlib import Path
from typing import Any, Protocol, overload

from puasim.trace.codec import (
    TraceFormatError,
    canonical_line,
    digest,
    header_line,
    iter_jsonl,
    read_meta,
)
from puasim.trace.trace import Record, Trace

LEVELS = ("full", "stream", "metrics")

#: bytes buffered before a streamed trace writes to its file
STREAM_BUFFER = 1 << 20

#: records a ``metrics`` trace gathers before it hashes and observes them (:class:`MetricsTrace`)
METRICS_BATCH = 512


def _encode_batch(batch: list[Record], *sinks: Callable[[bytes], object]) -> bytes:
    """The canonical lines of ``batch`` as one block of bytes.

    When a record cannot be encoded, the lines of the records before it are
    handed to every sink (the hash, the file) one by one, so the trace keeps
    everything up to the fault, and :class:`TraceFormatError` names the
    record and says how many later records of the batch were not kept.
    """
    line = canonical_line
    try:
        return "".join([line(rec) + "\n" for rec in batch]).encode("ascii")
    except Exception as exc:
        for i, rec in enumerate(batch):
            try:
                data = (line(rec) + "\n").encode("ascii")
            except Exception as inner:
                later = len(batch) - i - 1
                raise TraceFormatError(
                    f"trace record {rec.seq} ({type(rec.event).__name__} of {rec.node} at {rec.time} us) "
                    f"cannot be encoded: {type(inner).__name__}: {inner}; the trace keeps the records "
                    f"before it ({later} later record(s) were not kept)"
                ) from inner
            for sink in sinks:
                sink(data)
        del exc  # every record encoded alone and went to the sinks: nothing is left to hand over
        return b""


class TraceLevelError(RuntimeError):
    """The trace level in use does not keep what was asked for (e.g. records at ``metrics``)."""


class Observer(Protocol):
    """Something fed every record, in order (the ``metrics`` level's aggregates).

    A :class:`MetricsTrace` hands it the records a batch at a time: through
    ``observe_batch(records)`` when the observer has one (one call per batch,
    :class:`puasim.report.running.RunningMetrics` does), else through
    ``observe(record)`` for each.
    """

    def observe(self, rec: Record) -> None: ...


class RecordFile(Sequence[Record]):
    """The records of a JSON-lines trace file as a sequence read lazily, chunk by chunk.

    Iterating reads the file again each time; indexing walks up to the index
    (``[-1]`` and ``len`` need one pass unless the count is known).
    """

    __slots__ = ("path", "_before", "_count")

    def __init__(
        self,
        path: str | Path,
        before_read: Callable[[], None] | None = None,
        count: Callable[[], int] | None = None,
    ) -> None:
        self.path = Path(path)
        self._before = before_read
        self._count = count

    def __iter__(self) -> Iterator[Record]:
        if self._before is not None:
            self._before()
        return iter_jsonl(self.path)

    def iter_of(self, *types: type) -> Iterator[Record]:
        """Records of the given event types; lines of other types are not decoded."""
        if self._before is not None:
            self._before()
        return iter_jsonl(self.path, types=[t.__name__ for t in types])

    def __len__(self) -> int:
        if self._count is not None:
            return self._count()
        return sum(1 for _ in self._lines())

    def last_time(self) -> int:
        """Time of the last record, from the raw last line (no SIP decoding)."""
        tail = deque(self._lines(), maxlen=1)
        if not tail:
            return 0
        try:
            return int(json.loads(tail[0])["time"])
        except (ValueError, KeyError, TypeError) as exc:
            raise TraceFormatError(f"{self.path}: last record has no time ({exc})") from None

    def _lines(self) -> Iterator[str]:
        if self._before is not None:
            self._before()
        with open(self.path, encoding="utf-8") as fh:
            for line in fh:
                if line.strip() and not line.startswith('{"puasim-trace"'):
                    yield line

    @overload
    def __getitem__(self, index: int) -> Record: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Record]: ...

    def __getitem__(self, index: int | slice) -> Record | Sequence[Record]:
        if isinstance(index, slice):
            wanted = range(len(self))[index]
            if wanted.step == 1 or len(wanted) <= 1:
                return list(islice(iter(self), wanted.start, wanted.stop)) if len(wanted) else []
            picked = set(wanted)
            rows = [r for r in self if r.seq in picked]
            return rows if wanted.step > 0 else rows[::-1]
        n = len(self)
        i = index + n if index < 0 else index
        if not 0 <= i < n:
            raise IndexError(f"trace record {index} out of range ({n} records)")
        return next(islice(iter(self), i, None))

    def __bool__(self) -> bool:
        return len(self) > 0

    def __repr__(self) -> str:
        return f"<RecordFile {self.path}>"


class TraceFile(Trace):
    """A JSON-lines trace file opened without loading it: records are read back on demand.

    Everything that takes a :class:`Trace` and only iterates it (the report
    frames, ``digest``, ``of``) works on it in bounded memory.
    """

    __slots__ = ("path",)

    def __init__(self, path: str | Path) -> None:
        super().__init__(read_meta(path))
        self.path = Path(path)
        self.records = RecordFile(self.path)

    def add(self, time: int, node: str, event: Any) -> Record:
        raise TraceLevelError(f"{self.path}: a trace file opened for reading takes no records")

    def iter_of(self, *types: type) -> Iterator[Record]:
        assert isinstance(self.records, RecordFile)
        return self.records.iter_of(*types)

    def last_time(self) -> int:
        assert isinstance(self.records, RecordFile)
        return self.records.last_time()

    def digest(self) -> str:
        return digest(self.records)


class StreamTrace(Trace):
    """The ``stream`` level: every record written to ``path`` as JSON lines as the run goes.

    The header line (format and ``meta``) is written with the first record
    or at the first flush, so metadata set right after construction (as the
    scenario runner does) is in the file.  Records are encoded, hashed and
    written ``batch`` (:data:`METRICS_BATCH`) at a time, which costs about
    half of one at a time (see :class:`MetricsTrace`).  :meth:`flush` writes
    the pending batch and pushes the buffer to the file (the simulation does
    so when a run stops, fault or not); :meth:`close` ends the file.
    Reading ``records`` and :meth:`digest` flush first.
    """

    __slots__ = ("path", "_fh", "_header", "_hash", "_count", "_last", "_batch", "_batch_size")

    level = "stream"
    keeps_messages = False

    def __init__(
        self,
        path: str | Path,
        meta: dict[str, Any] | None = None,
        buffer: int = STREAM_BUFFER,
        batch: int | None = None,
    ) -> None:
        super().__init__(meta)
        self.path = Path(path)
        # bytes, not text: each batch of lines is encoded once, for the hash and the file alike
        self._fh = open(self.path, "wb", buffering=buffer)
        self._header = False
        self._hash = hashlib.sha256()
        self._count = 0
        self._last = 0
        # records are encoded in batches, as at the metrics level (see MetricsTrace)
        self._batch: list[Record] = []
        self._batch_size = METRICS_BATCH if batch is None else max(1, batch)
        self.records = RecordFile(self.path, before_read=self.flush, count=lambda: self._count)

    def _write_header(self) -> None:
        self._header = True
        self._fh.write((header_line(self.meta) + "\n").encode("utf-8"))

    def add(self, time: int, node: str, event: Any) -> Record:
        rec = Record(self._count, time, node, event)
        if not self._header:  # the meta as it is when the first record comes
            self._write_header()
        self._count += 1
        self._last = time
        batch = self._batch
        batch.append(rec)
        if len(batch) >= self._batch_size:
            self._drain()
        return rec

    def _drain(self) -> None:
        """Encode, hash and write the pending records, in order."""
        batch = self._batch
        if not batch:
            return
        self._batch = []
        data = _encode_batch(batch, self._hash.update, self._fh.write)
        self._hash.update(data)
        self._fh.write(data)

    def __len__(self) -> int:
        return self._count

    def iter_of(self, *types: type) -> Iterator[Record]:
        assert isinstance(self.records, RecordFile)
        return self.records.iter_of(*types)

    def count_of(self, *types: type) -> int:
        """How many records of these event types the file holds, without decoding any.

        The file's lines are canonical, and a JSON string escapes its quotes,
        so ``"type":"Name"`` appears only as a record's own type.
        """
        self.flush()
        needles = tuple(f'"type":"{t.__name__}"' for t in types)
        with open(self.path, encoding="utf-8") as fh:
            return sum(1 for line in fh if any(n in line for n in needles))

    def last_time(self) -> int:
        return self._last

    def digest(self) -> str:
        if not self._fh.closed:
            self._drain()
        return self._hash.hexdigest()

    def flush(self) -> None:
        if self._fh.closed:
            return
        if not self._header:
            self._write_header()
        self._drain()
        self._fh.flush()

    def close(self) -> None:
        if not self._fh.closed:
            try:
                self.flush()
            finally:
                self._fh.close()

    def __enter__(self) -> StreamTrace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _ignore(records: list[Record]) -> None:
    """The observer of a ``metrics`` trace made without one."""


class _NoRecords(Sequence[Record]):
    """What ``records`` is at the ``metrics`` level: any read names the level to use instead."""

    __slots__ = ()

    def _refuse(self) -> TraceLevelError:
        return TraceLevelError(
            "the 'metrics' trace level keeps no records: run with trace level 'full' or 'stream' to read them"
        )

    def __iter__(self) -> Iterator[Record]:
        raise self._refuse()

    def __len__(self) -> int:
        raise self._refuse()

    def __getitem__(self, index: Any) -> Any:
        raise self._refuse()


class MetricsTrace(Trace):
    """The ``metrics`` level: the running digest plus what ``observer`` aggregates.

    ``len()``, :meth:`digest` and :meth:`last_time` work; ``records`` refuses
    with :class:`TraceLevelError`.

    Records are gathered ``batch`` (:data:`METRICS_BATCH`) at a time; the
    canonical lines of each full batch are encoded and hashed in one update,
    then the batch is fed to the observer (also when encoding fails, as a
    per-record observer would have seen those records).  Both cost about half of what they cost one
    record at a time between the models' work (the interpreter's caches stay
    warm in one loop).  A batch holds immutable records of the last
    instants only, so memory stays flat.  The observer reads the messages
    of a batch after they were delivered: this trace keeps no message past
    its batch (the encoder's cache of recent lines holds at most a few
    thousand), so the simulator leaves their parsed header values with them
    (:attr:`keeps_messages` is False) instead of dropping them at delivery;
    that costs a bounded 5 to 6 MiB at 1,000 presentities.
    :meth:`flush`, :meth:`digest`, :meth:`close` and reading
    :attr:`observer` feed the pending records first, so the observer is
    complete whenever it is read.
    """

    __slots__ = ("_observer", "_hash", "_count", "_last", "_feed", "_batch", "_batch_size")

    level = "metrics"
    keeps_messages = False

    def __init__(
        self, meta: dict[str, Any] | None = None, observer: Observer | None = None, batch: int | None = None
    ) -> None:
        super().__init__(meta)
        self._hash = hashlib.sha256()
        self._count = 0
        self._last = 0
        self._batch: list[Record] = []
        self._batch_size = METRICS_BATCH if batch is None else max(1, batch)
        self.observer = observer
        self.records = _NoRecords()

    @property
    def observer(self) -> Observer | None:
        """What is fed every record; reading it feeds it the pending records first."""
        self._drain()
        return self._observer

    @observer.setter
    def observer(self, observer: Observer | None) -> None:
        self._drain()  # the records so far went to the observer before this one
        self._observer = observer
        self._feed: Callable[[list[Record]], None] = _feeder(observer)

    def add(self, time: int, node: str, event: Any) -> Record:
        rec = Record(self._count, time, node, event)
        self._count += 1
        self._last = time
        batch = self._batch
        batch.append(rec)
        if len(batch) >= self._batch_size:
            self._drain()
        return rec

    def _drain(self) -> None:
        """Hash the pending records' lines, then feed them to the observer, in order."""
        batch = self._batch
        if batch:
            self._batch = []
            try:
                self._hash.update(_encode_batch(batch, self._hash.update))
            finally:
                # hashed first: an observer that raises does not take the batch out of the digest
                self._feed(batch)

    def __len__(self) -> int:
        return self._count

    def last_time(self) -> int:
        return self._last

    def digest(self) -> str:
        self._drain()
        return self._hash.hexdigest()

    def flush(self) -> None:
        self._drain()

    def close(self) -> None:
        self._drain()


def _feeder(observer: Observer | None) -> Callable[[list[Record]], None]:
    """How a batch reaches ``observer``: its ``observe_batch``, else ``observe`` per record."""
    if observer is None:
        return _ignore
    batch = getattr(observer, "observe_batch", None)
    if batch is not None:
        return batch  # type: ignore[no-any-return]
    observe = observer.observe

    def each(records: list[Record]) -> None:
        for rec in records:
            observe(rec)

    return each


def make_trace(
    level: str = "full",
    meta: dict[str, Any] | None = None,
    path: str | Path | None = None,
    observer: Observer | None = None,
) -> Trace:
    """A trace of ``level`` (``full``, ``stream`` or ``metrics``).

    ``stream`` needs ``path`` (the JSON-lines file to write); ``observer``
    is fed every record at the ``metrics`` level.
    """
    if level == "full":
        return Trace(meta)
    if level == "stream":
        if path is None:
            raise ValueError("trace level 'stream' needs a file path to write the records to")
        return StreamTrace(path, meta)
    if level == "metrics":
        return MetricsTrace(meta, observer)
    raise ValueError(f"unknown trace level {level!r} (known: {', '.join(LEVELS)})")


__all__ = [
    "LEVELS",
    "MetricsTrace",
    "Observer",
    "RecordFile",
    "StreamTrace",
    "TraceFile",
    "TraceLevelError",
    "make_trace",
]
