"""The in-memory record table of db_mode 0 (pua-reference §2.3, §2.5).

Buckets are newest-first lists, so every search returns the most recently
inserted match ("first match wins").  The bucket index is Kamailio's
``core_hash`` (§2.3); it matters for the one look-up that searches a bucket
chosen from a reply rather than from the record (temporary → established
conversion, §4.7, §4.6 row 11).
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Iterator
from itertools import chain
from operator import attrgetter
from typing import Any

from puasim.store.expiry import ExpiryIndex
from puasim.store.record import NO_UPDATEDB, PuaRecord

_MASK = 0xFFFFFFFF
#: a stored record's place in sweep order: bucket index above, newest (highest sequence) first below
_SEQ_BITS = 48
_SEQ_TOP = (1 << _SEQ_BITS) - 1
_place = attrgetter("_pos")
_WORDS = struct.Struct(">I")


def _fold(h: int, data: bytes) -> int:
    """Add ``data``'s big-endian 32-bit words, each as ``v ^ (v >> 3)``, then its tail the same way."""
    n = len(data)
    full = n - n % 4
    if full:
        # the sum of all words first, masked once: (a + b) mod 2**32 does not care when it is reduced
        h += sum(v ^ (v >> 3) for (v,) in _WORDS.iter_unpack(data[:full]))
    v = int.from_bytes(data[full:], "big") if full < n else 0
    return (h + (v ^ (v >> 3))) & _MASK


@functools.lru_cache(maxsize=1 << 14)
def core_hash(first: str, second: str | None, size: int) -> int:
    """Bucket index of ``(first[, second])`` in a table of ``size`` (a power of two) buckets.

    A pure function of its arguments, kept for the keys seen most recently:
    every reply and refresh of a record looks its bucket up again.
    """
    h = _fold(0, first.encode())
    if second is not None:
        h = _fold(h, second.encode())
    h = ((h + (h >> 11)) + ((h >> 13) + (h >> 23))) & _MASK
    return h & (size - 1)


def bucket_of(rec: PuaRecord, size: int) -> int:
    """Publications hash on pres_uri only, dialogs on pres_uri + watcher_uri (§2.3)."""
    return core_hash(rec.pres_uri, rec.watcher_uri or None, size)


class HashTable:
    """``N`` newest-first buckets of :class:`PuaRecord`.

    Each bucket also keeps three views of its records, each in bucket order
    (newest first), so that a look-up reads only the records it could match
    rather than the whole chain, whose length grows with the population
    (N records over 512 buckets by default):

    * by ``pres_uri`` (:meth:`search` compares it first, §2.5.1);
    * by ``(call_id, from_tag)`` (:meth:`get_temporary_dialog`, exact, §2.5.4);
    * the records with a ``to_tag`` (:meth:`get_dialog` skips the others, §2.5.3).

    A look-up through a view returns the record the walk of the whole chain
    returns: the view holds every record of the bucket the walk could stop
    at, in the walk's order.  The keys (URIs, dialog ids) of a stored record
    never change in place; a record whose keys change is a new record
    (§4.7), exactly as the bucket index already assumes.

    For the timer's walks over every record (sweep §5.2, DB sync §5.5) the
    table knows each stored record's place in sweep order, the records by
    ``expires`` (:class:`~puasim.store.expiry.ExpiryIndex`) and the records
    whose ``db_flag`` asks for a write; the record tells the table when
    either field changes.  :meth:`sweep_candidates`, :meth:`count_expired`
    and :meth:`unsynced` answer from those in O(records concerned), and
    answer as the walk would.  Should one record object be stored twice (in
    this table or another one), its places cannot be told apart: the table
    then answers them by walking, as before.
    """

    __slots__ = (
        "size", "buckets", "_by_pres", "_by_ids", "_dialogs",
        "_seq", "_expiry", "_unsynced", "_exact", "_journal", "_writes", "_start_seq", "_start", "_cursor",
    )

    def __init__(self, size: int = 512) -> None:
        if size <= 0 or size & (size - 1):
            raise ValueError(f"hash table size must be a power of two, got {size}")
        self.size = size
        self.buckets: list[list[PuaRecord]] = [[] for _ in range(size)]
        self._by_pres: list[dict[str, list[PuaRecord]]] = [{} for _ in range(size)]
        self._by_ids: list[dict[tuple[str, str], list[PuaRecord]]] = [{} for _ in range(size)]
        self._dialogs: list[list[PuaRecord]] = [[] for _ in range(size)]
        self._seq = 0
        self._expiry = ExpiryIndex()
        #: stored records whose db_flag is not NO_UPDATEDB (what the DB sync writes, §5.5)
        self._unsynced: set[PuaRecord] = set()
        #: False once one record object was stored twice: answer by walking
        self._exact = True
        #: while a sweep runs: (place, record) of each record unlinked, to rebuild its snapshot
        self._journal: list[tuple[int, PuaRecord]] | None = None
        #: changes of a stored record's expires so far, and (while a sweep runs) of the table
        self._writes = 0
        #: while a sweep runs: the table's sequence when it started, and its snapshot, once
        #: something the places cannot follow happened (a record stored twice, a clear)
        self._start_seq = 0
        self._start: list[tuple[int, PuaRecord]] | None = None
        #: while a sweep runs: the place of the record it handles (the walk will not come back)
        self._cursor = -1

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        """Pickled and copied as its size and records: the copy stores the records' copies again,
        oldest first, so that its buckets, places and indexes are its own (a record's copy
        carries no link to a table)."""
        return (_rebuilt, (self.size, [rec for bucket in self.buckets for rec in reversed(bucket)]))

    def bucket(self, pres_uri: str, watcher_uri: str | None = None) -> list[PuaRecord]:
        return self.buckets[core_hash(pres_uri, watcher_uri or None, self.size)]

    def insert(self, rec: PuaRecord) -> None:
        """Link at the bucket head (§2.5.5)."""
        if self._journal is not None and rec._table is not None:
            # stored twice while a sweep runs: the places will not tell the copies apart
            self._keep_start()
            self._writes += 1
        b = bucket_of(rec, self.size)
        self.buckets[b].insert(0, rec)
        by_pres = self._by_pres[b]
        same = by_pres.get(rec.pres_uri)
        if same is None:
            by_pres[rec.pres_uri] = [rec]
        else:
            same.insert(0, rec)
        by_ids = self._by_ids[b]
        ids = (rec.call_id, rec.from_tag)
        same = by_ids.get(ids)
        if same is None:
            by_ids[ids] = [rec]
        else:
            same.insert(0, rec)
        if rec.to_tag:
            self._dialogs[b].insert(0, rec)
        if rec._table is not None:  # this object is stored already (here or elsewhere)
            self._exact = False
        elif self._exact:
            seq = self._seq = self._seq + 1
            rec._table = self
            rec._pos = (b << _SEQ_BITS) | (_SEQ_TOP - seq)  # type: ignore[misc]  # (a slot of the base class)
            self._expiry.push(rec)
            if rec.db_flag != NO_UPDATEDB:
                self._unsynced.add(rec)

    def delete(self, rec: PuaRecord) -> bool:
        """Unlink ``rec`` (the first link to this very object, as the walk finds it)."""
        b = bucket_of(rec, self.size)
        if not _unlink(self.buckets[b], rec):
            return False
        if self._journal is not None and (rec._table is not self or rec._pos > self._cursor):
            # a sweep is running and has not passed rec: the walk would still come to it,
            # whatever happens to it now
            self._writes += 1
        by_pres = self._by_pres[b]
        _unlink(by_pres[rec.pres_uri], rec)
        if not by_pres[rec.pres_uri]:
            del by_pres[rec.pres_uri]
        by_ids = self._by_ids[b]
        ids = (rec.call_id, rec.from_tag)
        _unlink(by_ids[ids], rec)
        if not by_ids[ids]:
            del by_ids[ids]
        if rec.to_tag:
            _unlink(self._dialogs[b], rec)
        if rec._table is self:
            rec._table = None
            self._unsynced.discard(rec)
            if self._journal is not None:
                self._journal.append((rec._pos, rec))
        return True

    # -- told by the records (puasim.store.record) --------------------------------------
    def expires_changed(self, rec: PuaRecord) -> None:
        if self._journal is None or not self._exact or rec._pos > self._cursor:
            self._writes += 1  # (a record the running sweep has passed cannot change its rest)
        if self._exact:
            self._expiry.push(rec)

    def db_flag_changed(self, rec: PuaRecord) -> None:
        if rec.db_flag != NO_UPDATEDB:
            self._unsynced.add(rec)
        else:
            self._unsynced.discard(rec)

    # -- the timer's walks (§5.2, §5.5) ---------------------------------------------------
    def sweep_candidates(self, high: int) -> Iterator[PuaRecord]:
        """The records a sweep must test, in sweep order: every record the walk over
        :meth:`snapshot` (taken now) finds with ``expires < high`` when it comes to it.

        Others may come too: the caller tests each record as it comes, as the
        walk does.  From the index, those with ``expires < high`` now; should
        a stored record's ``expires`` change while the caller handles one (a
        record not yet reached might become due), the rest is the walk's
        rest: the snapshot of the start, rebuilt, after the record handled.
        """
        if not self._exact or self._journal is not None:  # (a sweep inside a sweep: walk)
            yield from self.snapshot()
            return
        due = sorted([(r._pos, r) for r in self._expiry.below(high, self)], key=_first)
        self._start_seq = self._seq
        writes = self._writes
        self._journal = []
        try:
            for place, rec in due:
                self._cursor = place
                yield rec
                if self._writes != writes:
                    start = self._start if self._start is not None else self._snapshot_of_start()
                    self._start = start
                    for pos, r in start:
                        if pos > place:
                            yield r
                    return
        finally:
            self._journal = None
            self._start = None
            self._cursor = -1

    def _snapshot_of_start(self) -> list[tuple[int, PuaRecord]]:
        """(place, record) of the snapshot taken when the running sweep started, in sweep order:
        the records stored then and still linked, and those unlinked since (the journal)."""
        assert self._journal is not None
        low = _SEQ_TOP - self._start_seq  # places of records stored since have a lower sequence part
        then = [(r._pos, r) for r in chain.from_iterable(self.buckets)
                if r._table is self and r._pos & _SEQ_TOP >= low]
        then += [(pos, r) for pos, r in self._journal if pos & _SEQ_TOP >= low]
        then.sort(key=_first)
        return then

    def _keep_start(self) -> None:
        """Keep the running sweep's start snapshot now, before a change its places cannot follow."""
        if self._journal is not None and self._start is None and self._exact:
            self._start = self._snapshot_of_start()

    def count_expired(self, now: int) -> int | None:
        """How many stored records have ``expires < now``; None when the table must be walked."""
        if not self._exact:
            return None
        return len(self._expiry.below(now, self))

    def unsynced(self) -> list[PuaRecord] | None:
        """The records whose db_flag is not NO_UPDATEDB, in sweep order; None when the table must be walked."""
        if not self._exact:
            return None
        return sorted(self._unsynced, key=_place)

    def __iter__(self) -> Iterator[PuaRecord]:
        """Every record in sweep order: bucket 0 … N−1, each newest first."""
        for bucket in self.buckets:
            yield from list(bucket)

    def snapshot(self) -> list[PuaRecord]:
        """Every record in sweep order, as a list taken now (what ``list(table)`` gives)."""
        return list(chain.from_iterable(self.buckets))

    def __len__(self) -> int:
        return sum(len(b) for b in self.buckets)

    def clear(self) -> None:
        if self._journal is not None:  # a sweep is running: the walk goes on over its snapshot
            self._keep_start()
            self._writes += 1
        for rec in chain.from_iterable(self.buckets):
            if rec._table is self:
                rec._table = None
        self._expiry.clear()
        self._unsynced.clear()
        self._exact = True
        for views in (self.buckets, self._by_pres, self._by_ids, self._dialogs):
            for v in views:
                v.clear()

    # -- look-ups (§2.5) ---------------------------------------------------------------
    def search(
        self,
        *,
        pres_uri: str,
        flag: int,
        event: int,
        id: str = "",
        etag: str = "",
        watcher_uri: str = "",
        remote_target: str | None = None,
        check_remote_contact: int = 0,
    ) -> PuaRecord | None:
        """``search_htable`` (§2.5.1, §2.5.2): the newest record matching the key."""
        b = core_hash(pres_uri, watcher_uri or None, self.size)
        for p in self._by_pres[b].get(pres_uri, ()):  # the records of the bucket with this pres_uri
            if not (p.flag & flag) or not (p.event & event):
                continue
            if id and p.id != id:
                continue
            if watcher_uri:
                if p.watcher_uri != watcher_uri:
                    continue
                if check_remote_contact:
                    if remote_target is None or remote_target != p.remote_contact:
                        continue
            elif etag and p.etag != etag:
                continue
            return p
        return None

    def get_dialog(
        self, *, pres_uri: str, watcher_uri: str, call_id: str, to_tag: str, from_tag: str, flag: int
    ) -> PuaRecord | None:
        """``get_dialog`` (§2.5.3): prefix comparison over the stored lengths (B17)."""
        if not to_tag:
            return None
        for p in self._dialogs[core_hash(pres_uri, watcher_uri or None, self.size)]:  # those with a to_tag
            if not (p.flag & flag):
                continue
            if call_id.startswith(p.call_id) and to_tag.startswith(p.to_tag) and from_tag.startswith(p.from_tag):
                return p
        return None

    def get_temporary_dialog(self, *, pres_uri: str, watcher_uri: str, call_id: str, from_tag: str) -> PuaRecord | None:
        """``get_temporary_dialog`` (§2.5.4): exact Call-ID and From-tag, any flag or to_tag."""
        same = self._by_ids[core_hash(pres_uri, watcher_uri or None, self.size)].get((call_id, from_tag))
        return same[0] if same else None

    def find_by_dialog_ids(self, call_id: str, from_tag: str) -> PuaRecord | None:
        """Record with this Call-ID and From-tag in any bucket (used where the model knows the dialog)."""
        for bucket in self.buckets:
            for p in bucket:
                if p.call_id == call_id and p.from_tag == from_tag:
                    return p
        return None


def _unlink(chain_: list[PuaRecord], rec: PuaRecord) -> bool:
    """Remove the first occurrence of this very object (records compare by identity)."""
    try:
        del chain_[chain_.index(rec)]
    except ValueError:
        return False
    return True


def _rebuilt(size: int, records: list[PuaRecord]) -> HashTable:
    """A table of ``size`` buckets holding ``records``, each bucket's oldest first (see ``HashTable.__reduce__``)."""
    table = HashTable(size)
    for rec in records:
        table.insert(rec)
    return table


def _first(pair: tuple[int, PuaRecord]) -> int:
    return pair[0]
