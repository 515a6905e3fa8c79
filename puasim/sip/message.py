"""SIP requests and responses as immutable values (RFC 3261 §7).

A message keeps its start line, its header fields in wire order (repeats and
order preserved, names as written) and its body bytes.  Look-ups by name are
case-insensitive and understand the compact forms of RFC 3261 §7.3.3 and the
event-package RFCs (``o`` for Event, ``u`` for Allow-Events, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from puasim.frozen import quick_init

_T = TypeVar("_T")

#: compact form -> canonical lower-case long name (RFC 3261 §7.3.3, RFC 6665 §8.2.1 ...)
COMPACT_FORMS: dict[str, str] = {
    "i": "call-id",
    "m": "contact",
    "e": "content-encoding",
    "l": "content-length",
    "c": "content-type",
    "f": "from",
    "s": "subject",
    "k": "supported",
    "t": "to",
    "v": "via",
    "o": "event",
    "u": "allow-events",
    "r": "refer-to",
    "b": "referred-by",
    "x": "session-expires",
    "y": "identity",
    "a": "accept-contact",
    "j": "reject-contact",
    "d": "request-disposition",
}


#: spellings met in nearly every message -> key, so most look-ups skip strip()/lower()
_KNOWN_KEYS: dict[str, str] = (
    {
        spelling: key
        for key in (
            "via",
            "from",
            "to",
            "call-id",
            "cseq",
            "contact",
            "max-forwards",
            "expires",
            "event",
            "content-type",
            "content-length",
            "sip-etag",
            "sip-if-match",
            "allow-events",
            "record-route",
            "route",
            "subscription-state",
            "min-expires",
            "user-agent",
            "server",
            "allow",
            "supported",
            "accept",
        )
        for spelling in (key, key.title(), key.upper())
    }
    | {"CSeq": "cseq", "Call-ID": "call-id", "SIP-ETag": "sip-etag", "SIP-If-Match": "sip-if-match"}
    | {spelling: key for short, key in COMPACT_FORMS.items() for spelling in (short, short.upper())}
)


def header_key(name: str) -> str:
    """Return the canonical lookup key of a header name (lower case, long form)."""
    key = _KNOWN_KEYS.get(name)
    if key is not None:
        return key
    low = name.strip().lower()
    return COMPACT_FORMS.get(low, low)


Headers = tuple[tuple[str, str], ...]


class _HeaderAccess:
    """Header look-ups shared by requests and responses."""

    __slots__ = ()
    headers: Headers
    _hindex: dict[str, list[str]] | None
    _typed: dict[str, Any] | None

    def _index(self) -> dict[str, list[str]]:
        """Header values by lookup key, in wire order: built on the first look-up, then kept."""
        index = self._hindex
        if index is None:
            index = {}
            known = _KNOWN_KEYS
            for hname, value in self.headers:
                key = known[hname] if hname in known else header_key(hname)
                if key in index:
                    index[key].append(value)
                else:
                    index[key] = [value]
            object.__setattr__(self, "_hindex", index)
        return index

    def get(self, name: str, default: str | None = None) -> str | None:
        """Value of the first header field called ``name`` (any case, compact or long form)."""
        key = _KNOWN_KEYS.get(name)
        values = (self._hindex or self._index()).get(key if key is not None else header_key(name))
        return default if values is None else values[0]

    def get_all(self, name: str) -> list[str]:
        """Values of every header field called ``name``, in wire order (one per field line)."""
        key = _KNOWN_KEYS.get(name)
        values = (self._hindex or self._index()).get(key if key is not None else header_key(name))
        return [] if values is None else list(values)

    def typed(self, name: str, parse: Callable[[Any], _T]) -> _T:
        """``parse(self)``, computed once per message and kept (``name`` says which value).

        Messages are immutable, so a header value parsed once stays valid; a
        parse that raises is not kept and raises again on the next call.
        """
        cache = self._typed
        if cache is None:
            cache = {}
            object.__setattr__(self, "_typed", cache)
        elif name in cache:
            return cache[name]
        value = cache[name] = parse(self)
        return value

    def prime(self, name: str, value: Any) -> None:
        """Keep ``value`` as the typed value ``name`` without parsing (see :meth:`typed`).

        For builders that already hold the parsed form of a field they wrote
        (a reply copies its request's Via and CSeq); ``value`` must equal what
        parsing the text gives, which the tests check for every builder.
        """
        cache = self._typed
        if cache is None:
            object.__setattr__(self, "_typed", {name: value})
        else:
            cache[name] = value

    def drop_caches(self) -> None:
        """Forget the header index and typed values (rebuilt on the next look-up).

        The simulated network calls this once the receiver has handled the
        message, so the messages a trace keeps hold their text only.
        """
        object.__setattr__(self, "_hindex", None)
        object.__setattr__(self, "_typed", None)

    def has_field(self, key: str) -> bool:
        """Whether a field with lookup key ``key`` (lower-case long form) is present;
        scans the fields without building the index when there is none yet."""
        index = self._hindex
        if index is not None:
            return key in index
        known = _KNOWN_KEYS
        for hname, _ in self.headers:
            hkey = known.get(hname)
            if (hkey if hkey is not None else header_key(hname)) == key:
                return True
        return False

    def has(self, name: str) -> bool:
        return self.get(name) is not None

    # -- copies with changed header fields (messages are immutable) ------------------
    def with_header(self, name: str, value: str):
        """Copy with the first field called ``name`` set to ``value`` (written as ``name``,
        in its place) and any further ones removed; appended if there was none."""
        key = header_key(name)
        out: list[tuple[str, str]] = []
        seen = False
        for hname, hvalue in self.headers:
            if header_key(hname) == key:
                if not seen:
                    out.append((name, value))
                    seen = True
                continue
            out.append((hname, hvalue))
        if not seen:
            out.append((name, value))
        return replace(self, headers=tuple(out))  # type: ignore[type-var]

    def without_header(self, name: str):
        """Copy without any field called ``name``."""
        key = header_key(name)
        return replace(self, headers=tuple(h for h in self.headers if header_key(h[0]) != key))  # type: ignore[type-var]

    def add_header(self, name: str, value: str, *, first: bool = False):
        """Copy with one more field, appended (or prepended with ``first=True``, as a Via is)."""
        headers = ((name, value), *self.headers) if first else (*self.headers, (name, value))
        return replace(self, headers=headers)  # type: ignore[type-var]


@quick_init
@dataclass(frozen=True, slots=True)
class Request(_HeaderAccess):
    """A SIP request: ``method``, Request-URI text, header fields and body."""

    method: str
    uri: str
    headers: Headers = field(default=())
    body: bytes = b""
    version: str = "SIP/2.0"
    #: look-up caches (not part of the value: never compared, hashed or copied)
    _hindex: dict[str, list[str]] | None = field(default=None, init=False, repr=False, compare=False)
    _typed: dict[str, Any] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def is_request(self) -> bool:
        return True


@quick_init
@dataclass(frozen=True, slots=True)
class Response(_HeaderAccess):
    """A SIP response: status code, reason phrase, header fields and body."""

    status: int
    reason: str
    headers: Headers = field(default=())
    body: bytes = b""
    version: str = "SIP/2.0"
    #: look-up caches (not part of the value: never compared, hashed or copied)
    _hindex: dict[str, list[str]] | None = field(default=None, init=False, repr=False, compare=False)
    _typed: dict[str, Any] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def is_request(self) -> bool:
        return False


Message = Request | Response
