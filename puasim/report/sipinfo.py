"""Reading the fields a report needs from one SIP message, never raising.

Traces may hold malformed messages on purpose (fault scenarios), so every
accessor here falls back to the raw text or to ``None`` instead of raising.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any

from puasim.sip import headers as H
from puasim.sip.errors import SipParseError
from puasim.sip.message import Request, Response


def is_request(msg: Any) -> bool:
    return isinstance(msg, Request)


def is_response(msg: Any) -> bool:
    return isinstance(msg, Response)


def header(msg: Any, name: str) -> str:
    """The first value of header ``name`` stripped, or ``""``."""
    get = getattr(msg, "get", None)
    if get is None:
        return ""
    value = get(name)
    return value.strip() if value else ""


def cseq(msg: Any) -> tuple[int | None, str]:
    """(sequence number, method) of the CSeq header; (None, "") when absent or bad."""
    try:
        c = H.cseq(msg)
    except (SipParseError, ValueError):
        return None, ""
    return (c.seq, c.method) if c is not None else (None, "")


def method(msg: Any) -> str:
    """A request's method, or a response's CSeq method."""
    if isinstance(msg, Request):
        return msg.method
    return cseq(msg)[1]


def branch(msg: Any) -> str:
    """The top Via's branch parameter, or ``""``."""
    try:
        via = H.top_via(msg)
    except (SipParseError, ValueError):
        return ""
    return (via.branch or "") if via is not None else ""


def expires(msg: Any) -> int | None:
    """The Expires header as an integer (None when absent or malformed)."""
    try:
        return H.expires_or_none(msg)
    except (SipParseError, ValueError):
        return None


def event_package(msg: Any) -> str:
    """The Event header without ``id`` (``presence``, ``dialog;sla``), or ``""``."""
    raw = header(msg, "Event")
    return package_of(raw) if raw else ""


@functools.lru_cache(maxsize=4096)
def package_of(raw: str) -> str:
    """An Event header's text without its ``id`` parameter, the other parameters sorted."""
    parts = [p.strip() for p in raw.split(";")]
    keep = [parts[0]] + sorted(p for p in parts[1:] if p and not p.lower().startswith("id="))
    return ";".join(keep)


def to_uri(msg: Any) -> str:
    """The To header's URI, or ``""``."""
    try:
        to = H.to(msg)
    except (SipParseError, ValueError):
        return ""
    return to.uri if to is not None else ""


def from_uri(msg: Any) -> str:
    """The From header's URI, or ``""``."""
    try:
        fr = H.from_(msg)
    except (SipParseError, ValueError):
        return ""
    return fr.uri if fr is not None else ""


def presentity_of(msg: Any) -> str:
    """The presentity a message is about, as ``sip:user@host``.

    The Request-URI of a PUBLISH (what the server keys its state by, RFC
    3903 §6 step 1), the To URI of a SUBSCRIBE (RFC 6665 §4.1) and of
    responses, the From URI of a NOTIFY and its responses; the Request-URI
    when those are missing.
    """
    if isinstance(msg, Request) and msg.method == "PUBLISH":
        return aor(msg.uri)
    uri = from_uri(msg) if method(msg) == "NOTIFY" else to_uri(msg)
    if not uri and isinstance(msg, Request):
        uri = msg.uri
    return aor(uri) if uri else ""


def to_tag(msg: Any) -> str:
    try:
        to = H.to(msg)
    except (SipParseError, ValueError):
        return ""
    return (to.tag or "") if to is not None else ""


def body_id(body: bytes) -> str:
    """A short digest naming a body's content (``""`` for no body)."""
    if not body:
        return ""
    return hashlib.sha1(body).hexdigest()[:8]


def aor(uri: str) -> str:
    """The presentity key of a URI as the simulated server computes it (``sip:user@host``)."""
    from puasim.server.endpoint import presentity_aor

    return presentity_aor(uri) or uri


def operation(msg: Any) -> str:
    """What a PUBLISH or SUBSCRIBE does, from its headers (RFC 3903 §4, RFC 6665 §4.1).

    PUBLISH: ``initial`` (no SIP-If-Match), ``refresh`` (If-Match, no body),
    ``modify`` (If-Match and body), ``remove`` (If-Match, Expires 0).
    SUBSCRIBE: ``initial`` (no To tag), ``refresh`` (in dialog),
    ``unsubscribe`` (Expires 0).  ``""`` for anything else.
    """
    if not isinstance(msg, Request):
        return ""
    exp = expires(msg)
    if msg.method == "PUBLISH":
        if not header(msg, "SIP-If-Match"):
            return "remove" if exp == 0 else "initial"
        if exp == 0:
            return "remove"
        return "modify" if msg.body else "refresh"
    if msg.method == "SUBSCRIBE":
        if exp == 0:
            return "unsubscribe"
        return "refresh" if to_tag(msg) else "initial"
    return ""


#: pua's event flags and the package names the server sees
_EVENT_NAMES = {
    1: "presence",
    2: "presence.winfo",
    4: "dialog;sla",
    8: "message-summary",
    16: "conference",
    32: "dialog",
    64: "reg",
    128: "xcap-diff",
    256: "as-feature-event",
}


def event_name(flag: int) -> str:
    """pua's event flag as the package name the server sees."""
    return _EVENT_NAMES.get(flag, str(flag))


def short_etag(etag: str, width: int = 9) -> str:
    """An ETag shortened for labels.

    Kamailio's ``a.<start>.<pid>.<counter>.<n>`` keeps ``<pid>.<counter>.<n>``
    (the pid tells a restarted server apart); other tags keep their first
    ``width`` characters.
    """
    parts = etag.split(".")
    if len(parts) >= 5:
        return ".".join(parts[-3:])
    if len(etag) <= width:
        return etag
    return etag[:width] + "…"
