"""Typed readers for scenario fields: each checks type and bounds and fails
with a ``file:line: field: problem`` :class:`~puasim.scenario.loader.ScenarioError`.

Every block of the scenario format reads its fields through these, so that no
value a file can hold (NaN, infinity, a 4000-digit integer, a string where a
number belongs, a negative count) gets past validation to fail at run time.
The bounds are the ones documented in ``docs/scenarios.md`` ("Bounds").

A reader takes the document, the field's path and the value (``MISSING``
when the key is absent, so defaults and "required" are handled in one place)
and returns the checked value::

    count = read_int(doc, (*path, "count"), spec.get("count", MISSING), lo=1, hi=MAX_COUNT, default=1)
"""

from __future__ import annotations

import math
import re
from typing import Any

from puasim.effects import SECOND
from puasim.scenario.loader import Source as Doc

#: longest run a scenario may ask for: 30 days of virtual time
MAX_DURATION_S = 30 * 24 * 3600
#: latest ``epoch``: keeps epoch + duration + any Expires inside a signed
#: 32-bit integer, the type of the ``pua`` table's time columns
MAX_EPOCH = 2_000_000_000
#: largest seed (a 64-bit unsigned integer)
MAX_SEED = 2**64 - 1
#: C ``int`` range: Kamailio's module parameters and ``publ_info``/``subs_info`` ints
INT_MIN, INT_MAX = -(2**31), 2**31 - 1
#: largest ``count``/``ops`` of a step or fault and largest expectation count
MAX_COUNT = 1_000_000
#: longest text field, in characters (Kamailio's SIP message buffer is 65535 bytes)
MAX_TEXT = 65535
#: largest network latency or jitter: one minute
MAX_LATENCY_MS = 60_000
#: most items in one list (steps, expectations, sequence items, ...)
MAX_ITEMS = 10_000

MISSING: Any = object()


def _kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _required(doc: Doc, path: tuple, what: str) -> Any:
    return doc.error(path, f"missing ({what})")


def read_int(
    doc: Doc, path: tuple, value: Any, *, lo: int, hi: int, default: Any = MISSING, what: str = "an integer"
) -> int:
    """An integer in ``lo..hi``."""
    if value is MISSING:
        if default is MISSING:
            raise _required(doc, path, what)
        return default
    if not is_int(value):
        raise doc.error(path, f"must be {what} in {lo}..{hi}, got {_kind(value)} {value!r:.40}")
    if not lo <= value <= hi:
        shown = f"{value}" if len(str(value)) <= 30 else f"a {len(str(abs(value)))}-digit number"
        raise doc.error(path, f"must be {what} in {lo}..{hi}, got {shown}")
    return value


def read_number(
    doc: Doc, path: tuple, value: Any, *, lo: float, hi: float, default: Any = MISSING, what: str = "a number"
) -> float:
    """A finite int or float in ``lo..hi`` (returned as given: an int stays an int)."""
    if value is MISSING:
        if default is MISSING:
            raise _required(doc, path, what)
        return default
    if not is_number(value):
        raise doc.error(path, f"must be {what} in {lo:g}..{hi:g}, got {_kind(value)} {value!r:.40}")
    if isinstance(value, float) and not math.isfinite(value):
        raise doc.error(path, f"must be a finite number, got {value}")
    if not lo <= value <= hi:
        shown = f"{value:g}" if isinstance(value, float) or len(str(value)) <= 30 else f"a {len(str(abs(value)))}-digit number"
        raise doc.error(path, f"must be {what} in {lo:g}..{hi:g}, got {shown}")
    return value


def read_seconds(
    doc: Doc, path: tuple, value: Any, *, hi: float = MAX_DURATION_S, default: Any = MISSING
) -> int:
    """Seconds of virtual time (0..``hi``, decimals allowed) as microseconds."""
    if value is MISSING and default is not MISSING:
        return default
    seconds = read_number(doc, path, value, lo=0, hi=hi, what="seconds")
    return int(round(seconds * SECOND))


def read_text(
    doc: Doc, path: tuple, value: Any, *, default: Any = MISSING, max_len: int = MAX_TEXT,
    empty: bool = True, what: str = "text",
) -> str:
    """A string of at most ``max_len`` characters (non-empty unless ``empty``)."""
    if value is MISSING:
        if default is MISSING:
            raise _required(doc, path, what)
        return default
    if not isinstance(value, str):
        raise doc.error(path, f"must be {what} (a string), got {_kind(value)} {value!r:.40}")
    if len(value) > max_len:
        raise doc.error(path, f"longer than {max_len} characters ({len(value)})")
    if not empty and not value:
        raise doc.error(path, f"must be non-empty {what}")
    return value


def read_bool(doc: Doc, path: tuple, value: Any, *, default: Any = MISSING) -> bool:
    if value is MISSING:
        if default is MISSING:
            raise _required(doc, path, "true or false")
        return default
    if not isinstance(value, bool):
        raise doc.error(path, f"must be true or false, got {_kind(value)} {value!r:.40}")
    return value


def read_choice(doc: Doc, path: tuple, value: Any, choices: tuple | list, *, default: Any = MISSING) -> Any:
    if value is MISSING:
        if default is MISSING:
            raise _required(doc, path, f"one of {', '.join(map(str, choices))}")
        return default
    if isinstance(value, bool) or value not in choices:
        raise doc.error(path, f"must be one of {', '.join(map(str, choices))}, got {value!r:.40}")
    return value


def read_regex(doc: Doc, path: tuple, value: Any) -> str:
    """A Python regular expression (``re`` syntax) that compiles."""
    text = read_text(doc, path, value, max_len=4096, what="a regular expression")
    try:
        re.compile(text)
    except (re.error, RecursionError, OverflowError) as exc:
        raise doc.error(path, f"invalid regular expression: {exc}") from None
    return text


def read_list(doc: Doc, path: tuple, value: Any, *, default: Any = MISSING, max_items: int = MAX_ITEMS, what: str = "a list") -> list:
    if value is MISSING or value is None:
        if default is MISSING:
            raise _required(doc, path, what)
        return default
    if not isinstance(value, list):
        raise doc.error(path, f"must be {what}, got {_kind(value)}")
    if len(value) > max_items:
        raise doc.error(path, f"more than {max_items} items ({len(value)})")
    return value


def read_mapping(doc: Doc, path: tuple, value: Any, keys: set[str] | frozenset[str] | None = None) -> dict:
    """A mapping (absent or empty: ``{}``) whose keys are all in ``keys`` when given."""
    if value is None or value is MISSING:
        return {}
    if not isinstance(value, dict):
        raise doc.error(path, f"expected a mapping, got {_kind(value)}")
    if keys is not None:
        for key in value:
            if key not in keys:
                raise doc.error((*path, key), f"unknown field (allowed: {', '.join(sorted(keys))})")
    return value
