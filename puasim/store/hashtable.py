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

from puasim.store.record import PuaRecord

_MASK = 0xFFFFFFFF
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
    """``N`` newest-first buckets of :class:`PuaRecord`."""

    __slots__ = ("size", "buckets")

    def __init__(self, size: int = 512) -> None:
        if size <= 0 or size & (size - 1):
            raise ValueError(f"hash table size must be a power of two, got {size}")
        self.size = size
        self.buckets: list[list[PuaRecord]] = [[] for _ in range(size)]

    def bucket(self, pres_uri: str, watcher_uri: str | None = None) -> list[PuaRecord]:
        return self.buckets[core_hash(pres_uri, watcher_uri or None, self.size)]

    def insert(self, rec: PuaRecord) -> None:
        """Link at the bucket head (§2.5.5)."""
        self.buckets[bucket_of(rec, self.size)].insert(0, rec)

    def delete(self, rec: PuaRecord) -> bool:
        bucket = self.buckets[bucket_of(rec, self.size)]
        for i, other in enumerate(bucket):
            if other is rec:
                del bucket[i]
                return True
        return False

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
        for b in self.buckets:
            b.clear()

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
        for p in self.bucket(pres_uri, watcher_uri or None):
            if not (p.flag & flag) or not (p.event & event):
                continue
            if p.pres_uri != pres_uri:
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
        for p in self.bucket(pres_uri, watcher_uri or None):
            if not (p.flag & flag) or not p.to_tag:
                continue
            if call_id.startswith(p.call_id) and to_tag.startswith(p.to_tag) and from_tag.startswith(p.from_tag):
                return p
        return None

    def get_temporary_dialog(self, *, pres_uri: str, watcher_uri: str, call_id: str, from_tag: str) -> PuaRecord | None:
        """``get_temporary_dialog`` (§2.5.4): exact Call-ID and From-tag, any flag or to_tag."""
        for p in self.bucket(pres_uri, watcher_uri or None):
            if p.call_id == call_id and p.from_tag == from_tag:
                return p
        return None

    def find_by_dialog_ids(self, call_id: str, from_tag: str) -> PuaRecord | None:
        """Record with this Call-ID and From-tag in any bucket (used where the model knows the dialog)."""
        for bucket in self.buckets:
            for p in bucket:
                if p.call_id == call_id and p.from_tag == from_tag:
                    return p
        return None
