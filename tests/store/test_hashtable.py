"""``core_hash`` (pua-reference §2.3): the word-at-a-time fold against a byte-by-byte reference."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from puasim.store.hashtable import core_hash

MASK = 0xFFFFFFFF


def reference_fold(h: int, data: bytes) -> int:
    n = len(data)
    full = n - n % 4
    for i in range(0, full, 4):
        v = (data[i] << 24) | (data[i + 1] << 16) | (data[i + 2] << 8) | data[i + 3]
        h = (h + (v ^ (v >> 3))) & MASK
    v = 0
    for b in data[full:]:
        v = (v << 8) | b
    return (h + (v ^ (v >> 3))) & MASK


def reference_core_hash(first: str, second: str | None, size: int) -> int:
    h = reference_fold(0, first.encode())
    if second is not None:
        h = reference_fold(h, second.encode())
    h = ((h + (h >> 11)) + ((h >> 13) + (h >> 23))) & MASK
    return h & (size - 1)


@given(st.text(max_size=80), st.one_of(st.none(), st.text(max_size=80)), st.sampled_from([1, 2, 512, 2**16, 2**30]))
def test_core_hash_matches_the_byte_by_byte_fold(first, second, size):
    assert core_hash(first, second, size) == reference_core_hash(first, second, size)


def test_core_hash_of_usual_keys():
    for uri in ("sip:alice@127.0.0.1", "sip:p12345@127.0.0.1", "", "abc", "\xff\xfe\xfd\xfc" * 9):
        for watcher in (None, "sip:w1@127.0.0.1:5070"):
            assert core_hash(uri, watcher, 512) == reference_core_hash(uri, watcher, 512)
