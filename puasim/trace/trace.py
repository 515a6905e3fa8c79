"""The trace: the one ordered record of what happened in a run.

:class:`Trace` is the ``full`` trace level: every record kept in memory.
The other levels (``stream``, ``metrics``; :mod:`puasim.trace.levels`) are
subclasses with the same ``add``/``digest``/``meta`` interface, so a driver
never knows where its records go.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from puasim.frozen import quick_init


@quick_init
@dataclass(frozen=True, slots=True)
class Record:
    """One trace entry: sequence number, time (µs), node name and the event."""

    seq: int
    time: int
    node: str
    event: Any


class Trace:
    """An append-only list of :class:`Record` values with a running sequence number.

    Iterate it, index it, or filter by event type with :meth:`of`.  The
    ``meta`` dictionary carries run metadata (seed, scenario name, epoch) and
    takes part in JSON export but not in the digest.

    ``records`` is a sequence: a list here, a view that reads the file back
    for a streamed trace.
    """

    __slots__ = ("records", "meta", "_list")

    #: the trace level this class implements (``full``, ``stream`` or ``metrics``)
    level = "full"
    #: whether the trace keeps the messages of its records for the rest of the run: then
    #: the simulator drops a message's parsed header values once it is done with it
    #: (:meth:`puasim.sip.message.Request.drop_caches`), so that the kept text is all it holds
    keeps_messages = True

    def __init__(self, meta: dict[str, Any] | None = None) -> None:
        self._list: list[Record] = []
        self.records: Sequence[Record] = self._list
        self.meta: dict[str, Any] = dict(meta or {})

    def add(self, time: int, node: str, event: Any) -> Record:
        rec = Record(len(self._list), time, node, event)
        self._list.append(rec)
        return rec

    def __iter__(self) -> Iterator[Record]:
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> Record:
        return self.records[index]

    def of(self, *types: type, node: str | None = None) -> list[Record]:
        """Records whose event is an instance of one of ``types`` (optionally of one node)."""
        return [
            r
            for r in self.records
            if isinstance(r.event, types) and (node is None or r.node == node)
        ]

    def iter_of(self, *types: type) -> Iterator[Record]:
        """Records whose event is an instance of one of ``types``, lazily, in order.

        Passes that need only some event types should use this rather than
        filtering ``records``: a trace read from a file then skips decoding
        every other line.
        """
        return (r for r in self.records if isinstance(r.event, types))

    def last_time(self) -> int:
        """Time (µs) of the last record, 0 when there is none."""
        return self._list[-1].time if self._list else 0

    def digest(self) -> str:
        """sha256 of the canonical encoding of every record (see :mod:`puasim.trace.codec`)."""
        from puasim.trace.codec import digest

        return digest(self)

    def flush(self) -> None:
        """Push buffered records to where they go (nothing to do in memory)."""

    def close(self) -> None:
        """No more records will come (nothing to do in memory)."""
