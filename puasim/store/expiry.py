"""Records by expiry time, for the sweep and the DB sync of db_mode 0 (pua-reference §5.2, §5.5).

Kamailio's timer walks every record of the hash table each ``clean_period``
and each ``update_period`` (§5.2, §5.5); the model does the same walk, in
the same order, with the same tests.  What it need not do is *read* every
record to find the few the walk acts on: with N records the walk costs
O(N) per period whatever the load, which at 100,000 presentities is most of
the sweep's cost.

:class:`ExpiryIndex` finds the records whose ``expires`` is below a bound
without reading the others.  It is a heap of ``(expires, mark, record)``
entries, one pushed each time a stored record's ``expires`` is set
(:class:`~puasim.store.record.PuaRecord` tells its table); an entry is
current while its mark is the record's latest and the record is still
stored.  Entries whose time has come (below the highest bound asked so
far) move to a pool, where they stay as long as they are current, because
a record stays due until its ``expires`` changes: a refresh sent in one
sweep leaves the record due in the next one until the reply arrives.  So
each query reads the pool (the records due or overdue) and the heap's
entries that came due since the last query, never the rest.
"""

from __future__ import annotations

from heapq import heappop, heappush
from typing import Any

from puasim.store.record import PuaRecord


class ExpiryIndex:
    """Stored records by ``expires``: which are below a bound (module docstring)."""

    __slots__ = ("_heap", "_pool", "_marks")

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, PuaRecord]] = []
        self._pool: list[tuple[int, int, PuaRecord]] = []
        self._marks = 0

    def push(self, rec: PuaRecord) -> None:
        """``rec`` was stored or its ``expires`` changed: its entry from now on."""
        mark = self._marks = self._marks + 1
        rec._mark = mark  # type: ignore[misc]  # (a slot of the base class: mypy looks in the dataclass's own)
        heappush(self._heap, (rec.expires, mark, rec))

    def below(self, bound: int, table: Any) -> list[PuaRecord]:
        """The records stored in ``table`` whose ``expires`` is below ``bound`` (in no particular order)."""
        heap = self._heap
        pool = self._pool
        while heap and heap[0][0] < bound:
            pool.append(heappop(heap))
        kept = []
        out = []
        for entry in pool:
            rec = entry[2]
            if rec._table is not table or rec._mark != entry[1]:  # deleted, or its expires changed since
                continue
            kept.append(entry)
            if entry[0] < bound:
                out.append(rec)
        self._pool = kept
        return out

    def clear(self) -> None:
        self._heap.clear()
        self._pool.clear()

    def __len__(self) -> int:
        """Entries held, current or not (the index's memory, for tests and benchmarks)."""
        return len(self._heap) + len(self._pool)
