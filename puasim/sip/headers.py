"""Typed views of the header fields the PUA model reads (RFC 3261 §20, §25.1).

Messages store each header field line as text (:mod:`puasim.sip.message`);
the functions here parse a field value into a small frozen dataclass of
:mod:`puasim.sip.fields` (re-exported here) when a model asks for it.  Lists
(``1#element``, §7.3.1) are split at top-level commas only: commas inside
quoted-strings and ``<...>`` stay.

Each accessor parses a field at most once per message: the typed value is
kept with the message (:meth:`~puasim.sip.message.Request.typed`), so the
transaction layer, the model and the reports reading the same Via or CSeq
share one parse.

Accessor contract, the same for every ``xxx(msg)`` function below:

* header field absent            -> ``None`` (``[]`` for list accessors);
* present and well formed        -> the typed value;
* present but malformed          -> :class:`SipParseError` whose ``header``
  names the field and whose ``offset`` is the character offset in the value.

:func:`expires_or_none` (and :func:`max_forwards_or_none`) are the safe
variants: malformed or out of range also gives ``None`` (RFC 4475 §3.1.2.4
lets an element treat an out-of-range expiry as absent).
"""

from __future__ import annotations

import functools

from puasim.sip.errors import SipParseError
from puasim.sip.fields import (
    WILDCARD,
    ContentType,
    CSeq,
    Event,
    NameAddr,
    SubscriptionState,
    Via,
    check_event_type,
    format_name_addr,
    parse_call_id,
    parse_content_type,
    parse_cseq,
    parse_event,
    parse_name_addr,
    parse_name_addr_list,
    parse_subscription_state,
    parse_token,
    parse_via,
)
from puasim.sip.message import Request, Response
from puasim.sip.syntax import MAX_UINT32, parse_uint, split_commas

__all__ = [
    "WILDCARD",
    "CSeq",
    "ContentType",
    "Event",
    "NameAddr",
    "SubscriptionState",
    "Via",
    "format_name_addr",
    "parse_call_id",
    "parse_content_type",
    "parse_cseq",
    "parse_event",
    "parse_name_addr",
    "parse_name_addr_list",
    "parse_subscription_state",
    "parse_token",
    "parse_via",
    "allow_events",
    "call_id",
    "contact_list",
    "content_type",
    "cseq",
    "event",
    "expires",
    "expires_or_none",
    "from_",
    "max_forwards",
    "max_forwards_or_none",
    "min_expires",
    "record_route_list",
    "route_list",
    "sip_etag",
    "sip_etag_raw",
    "sip_if_match",
    "subscription_state",
    "to",
    "top_via",
    "via_list",
]

Message = Request | Response


def _via_list(msg: Message) -> list[Via]:
    return [v for value in msg.get_all("via") for v in parse_via(value)]


def via_list(msg: Message) -> list[Via]:
    """Every Via value in order, top first (§20.42; comma lists and repeated lines)."""
    return list(msg.typed("via_list", _via_list))


def _top_via(msg: Message) -> Via | None:
    value = msg.get("via")
    return None if value is None else parse_via(value)[0]


def top_via(msg: Message) -> Via | None:
    return msg.typed("top_via", _top_via)


def _single_name_addr(msg: Message, name: str, header: str) -> NameAddr | None:
    value = msg.get(name)
    return None if value is None else parse_name_addr(value, header)


def _from(msg: Message) -> NameAddr | None:
    return _single_name_addr(msg, "from", "From")


def _to(msg: Message) -> NameAddr | None:
    return _single_name_addr(msg, "to", "To")


def from_(msg: Message) -> NameAddr | None:
    """The From value (§20.20)."""
    return msg.typed("from", _from)


def to(msg: Message) -> NameAddr | None:
    """The To value (§20.39)."""
    return msg.typed("to", _to)


def _name_addr_list(msg: Message, name: str, header: str) -> list[NameAddr]:
    return [na for value in msg.get_all(name) for na in parse_name_addr_list(value, header)]


def _contact_list(msg: Message) -> list[NameAddr]:
    out = _name_addr_list(msg, "contact", "Contact")
    if len(out) > 1 and any(c.is_wildcard for c in out):
        raise SipParseError("'*' must be the only Contact value", 0, "Contact")
    return out


def contact_list(msg: Message) -> list[NameAddr]:
    """Contact values (§20.10); ``Contact: *`` gives ``[WILDCARD]``."""
    return list(msg.typed("contact_list", _contact_list))


def route_list(msg: Message) -> list[NameAddr]:
    """Route values in order (§20.34)."""
    return _name_addr_list(msg, "route", "Route")


def record_route_list(msg: Message) -> list[NameAddr]:
    """Record-Route values in order (§20.30)."""
    return _name_addr_list(msg, "record-route", "Record-Route")


def _cseq(msg: Message) -> CSeq | None:
    value = msg.get("cseq")
    return None if value is None else parse_cseq(value)


def cseq(msg: Message) -> CSeq | None:
    return msg.typed("cseq", _cseq)


def _call_id(msg: Message) -> str | None:
    value = msg.get("call-id")
    return None if value is None else parse_call_id(value)


def call_id(msg: Message) -> str | None:
    return msg.typed("call-id", _call_id)


#: the same few Expires / Min-Expires / Max-Forwards texts recur in every message
_parse_uint_value = functools.lru_cache(maxsize=1 << 12)(parse_uint)


def _uint(msg: Message, name: str, header: str, limit: int) -> int | None:
    value = msg.get(name)
    return None if value is None else _parse_uint_value(value, limit, "value", header)


def _expires(msg: Message) -> int | None:
    return _uint(msg, "expires", "Expires", MAX_UINT32)


def expires(msg: Message) -> int | None:
    """``Expires: delta-seconds`` (§20.19), at most 2**32-1."""
    return msg.typed("expires", _expires)


def expires_or_none(msg: Message) -> int | None:
    """Like :func:`expires`, but malformed or out of range is ``None`` too."""
    try:
        return expires(msg)
    except SipParseError:
        return None


def min_expires(msg: Message) -> int | None:
    """``Min-Expires`` (§20.23), in 423 replies."""
    return _uint(msg, "min-expires", "Min-Expires", MAX_UINT32)


def max_forwards(msg: Message) -> int | None:
    """``Max-Forwards: 0..255`` (§20.22)."""
    return _uint(msg, "max-forwards", "Max-Forwards", 255)


def max_forwards_or_none(msg: Message) -> int | None:
    try:
        return max_forwards(msg)
    except SipParseError:
        return None


def _event(msg: Message) -> Event | None:
    value = msg.get("event")
    return None if value is None else parse_event(value)


def event(msg: Message) -> Event | None:
    """The Event value (RFC 6665 §8.2.1); the first field if repeated."""
    return msg.typed("event", _event)


def _subscription_state(msg: Message) -> SubscriptionState | None:
    value = msg.get("subscription-state")
    return None if value is None else parse_subscription_state(value)


def subscription_state(msg: Message) -> SubscriptionState | None:
    return msg.typed("subscription-state", _subscription_state)


def _sip_etag(msg: Message) -> str | None:
    value = msg.get("sip-etag")
    return None if value is None else parse_token(value, "SIP-ETag")


def sip_etag(msg: Message) -> str | None:
    """``SIP-ETag`` entity-tag (RFC 3903 §11.3.1)."""
    return msg.typed("sip-etag", _sip_etag)


def sip_etag_raw(msg: Message) -> str | None:
    """The first ``SIP-ETag`` field value as Kamailio's pua and pua_rpc take it.

    Kamailio stores the header body (``hdr->body``, surrounding LWS trimmed by
    the parser, as :func:`puasim.sip.parse` trims it) without checking that it
    is an entity-tag token: a quoted, empty or spaced value is kept verbatim
    and sent back in SIP-If-Match.  :func:`sip_etag` is the RFC 3903 reading.
    """
    return msg.get("sip-etag")


def _sip_if_match(msg: Message) -> str | None:
    value = msg.get("sip-if-match")
    return None if value is None else parse_token(value, "SIP-If-Match")


def sip_if_match(msg: Message) -> str | None:
    """``SIP-If-Match`` entity-tag (RFC 3903 §11.3.2)."""
    return msg.typed("sip-if-match", _sip_if_match)


def _content_type(msg: Message) -> ContentType | None:
    value = msg.get("content-type")
    return None if value is None else parse_content_type(value)


def content_type(msg: Message) -> ContentType | None:
    return msg.typed("content-type", _content_type)


def allow_events(msg: Message) -> list[str]:
    """Event types listed in every Allow-Events field (RFC 6665 §8.2.2)."""
    out = []
    for value in msg.get_all("allow-events"):
        for off, elem in split_commas(value, "Allow-Events"):
            out.append(check_event_type(elem, "Allow-Events", off))
    return out
