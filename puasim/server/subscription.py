"""One subscription of the simulated notifier and the NOTIFY requests it makes.

Pure data and message building, no I/O: :class:`Subscription` is the
notifier's side of one RFC 6665 subscription dialog (RFC 3261 §12.1.1 UAS
dialog state plus the subscription's own state), :func:`read_subscribe`
reads what the notifier needs from a SUBSCRIBE without raising, and
:func:`build_notify` makes the NOTIFY (RFC 6665 §4.2.2, §8.2.3) in the
header order Kamailio's tm and presence module use (lab captures
``g2_subscribe_check_remote_contact_1`` and ``h2_...``)::

    NOTIFY <remote target> SIP/2.0
    (Via: added by the transaction layer)
    To / From / CSeq / Call-ID / [Route] / Content-Length / [User-Agent]
    Max-Forwards: 70 / Event / Contact / Subscription-State / [Content-Type]

``Subscription-State`` is ``active;expires=N``, ``pending;expires=N`` or
``terminated;reason=R`` without spaces (Appendix A ``build_str_hdr``); ``N``
is the remaining time rounded up to whole seconds (the lab's
``active;expires=17`` 13.1 s after a 30 s grant).

States of a subscription (the notifier, :mod:`puasim.server.notifier`, makes
the transitions):

=========  ==========================================  =====================================
state      input                                       next state, NOTIFY
=========  ==========================================  =====================================
(none)     initial SUBSCRIBE, Expires > 0              ``initial_state``; NOTIFY at once
                                                       (RFC 6665 §4.2.1.2)
(none)     initial SUBSCRIBE, Expires 0 (fetch)        (none); one ``terminated`` NOTIFY
                                                       with the state (§4.4.3)
pending    ``pending_for`` elapsed                     active; NOTIFY with the state
active     presentity's event state changed            active; NOTIFY (§4.2.2)
either     refresh SUBSCRIBE                           same; NOTIFY (§4.2.1.2)
either     SUBSCRIBE Expires 0                         terminated; ``terminated;reason=
                                                       <unsubscribe_reason>`` (lab g)
either     expiry (or the ``clean_period`` tick)       terminated; ``terminated;reason=
                                                       timeout``, no body (§4.2.2, lab d)
either     NOTIFY answered 481 / 408 / timeout         terminated; no NOTIFY (§4.2.2)
either     server restart                              (forgotten); no NOTIFY
=========  ==========================================  =====================================
"""

from __future__ import annotations

from dataclasses import dataclass

from puasim.effects import SECOND, Address
from puasim.sip import headers as H
from puasim.sip.errors import SipParseError
from puasim.sip.message import Request
from puasim.sip.uri import parse_uri

ACTIVE = "active"
PENDING = "pending"
TERMINATED = "terminated"

#: (Call-ID, the server's To-tag, the subscriber's From-tag, event key)
SubscriptionKey = tuple[str, str, str, str]


@dataclass(slots=True)
class Subscription:
    """The notifier's state of one subscription (RFC 6665 §4.2, RFC 3261 §12.1.1).

    ``local`` is the From value of NOTIFYs without tag (the SUBSCRIBE's To),
    ``remote`` the To value without tag (the SUBSCRIBE's From, or Kamailio's
    ``user@domain`` form); ``remote_target`` the subscriber's Contact URI;
    ``route_set`` the SUBSCRIBE's Record-Route values in order (UAS side);
    ``local_cseq`` the CSeq of the last NOTIFY sent (0: none yet, the next
    is ``notify_cseq_start``); ``remote_cseq`` the CSeq of the last
    SUBSCRIBE accepted.  Times are absolute virtual µs.
    """

    call_id: str
    local_tag: str
    remote_tag: str
    event: str
    event_header: str
    presentity: str
    watcher: str
    local: str
    remote: str
    remote_target: str
    route_set: tuple[str, ...]
    expires: int
    state: str
    created: int
    remote_cseq: int
    local_cseq: int = 0
    activate_at: int | None = None

    @property
    def key(self) -> SubscriptionKey:
        return (self.call_id, self.local_tag, self.remote_tag, self.event)

    def remaining(self, now: int) -> int:
        """Whole seconds left, rounded up (0 when lapsed)."""
        return max(0, -(-(self.expires - now) // SECOND))


@dataclass(frozen=True, slots=True)
class SubscribeRequest:
    """What the notifier reads from one SUBSCRIBE; ``error`` names the first unusable field."""

    event: str | None = None
    event_header: str = ""
    event_malformed: bool = False
    expires: int | None = None
    expires_malformed: bool = False
    call_id: str = ""
    from_value: H.NameAddr | None = None
    to_value: H.NameAddr | None = None
    contact: str | None = None
    record_route: tuple[str, ...] = ()
    cseq: int = 0
    error: str | None = None

    @property
    def from_tag(self) -> str:
        return (self.from_value.tag if self.from_value else None) or ""

    @property
    def to_tag(self) -> str | None:
        return self.to_value.tag if self.to_value else None


def read_subscribe(msg: Request, event_key: str | None, event_header: str) -> SubscribeRequest:
    """The parts of a SUBSCRIBE the notifier needs; never raises.

    ``event_key``/``event_header`` come from the endpoint's Event parsing
    (``None`` key with an empty header: no Event; ``None`` key with a header:
    malformed).  ``error`` is set for a missing or unusable From (tag), To,
    Call-ID, CSeq or Contact (RFC 3261 §8.1.1, RFC 6665 §4.1.2: a SUBSCRIBE
    creates a dialog and needs a Contact).
    """
    expires: int | None = None
    exp_bad = False
    try:
        expires = H.expires(msg)
    except SipParseError:
        exp_bad = True
    base = SubscribeRequest(
        event=event_key,
        event_header=event_header,
        event_malformed=event_key is None and bool(event_header),
        expires=expires,
        expires_malformed=exp_bad,
    )
    try:
        from_value, to_value = H.from_(msg), H.to(msg)
        call_id, cseq = H.call_id(msg), H.cseq(msg)
        contacts = H.contact_list(msg)
        routes = tuple(r.format() for r in H.record_route_list(msg))
    except SipParseError as exc:
        return _with_error(base, f"unparsable {exc.header or 'header'}")
    if from_value is None or not from_value.tag:
        return _with_error(base, "no From tag")
    if to_value is None or call_id is None or cseq is None:
        return _with_error(base, "no To, Call-ID or CSeq")
    contact = contacts[0].uri if contacts and not contacts[0].is_wildcard else None
    return SubscribeRequest(
        event=event_key,
        event_header=event_header,
        event_malformed=base.event_malformed,
        expires=expires,
        expires_malformed=exp_bad,
        call_id=call_id,
        from_value=from_value,
        to_value=to_value,
        contact=contact,
        record_route=routes,
        cseq=cseq.seq,
    )


def _with_error(base: SubscribeRequest, error: str) -> SubscribeRequest:
    return SubscribeRequest(
        event=base.event,
        event_header=base.event_header,
        event_malformed=base.event_malformed,
        expires=base.expires,
        expires_malformed=base.expires_malformed,
        error=error,
    )


def watcher_user_at_host(value: H.NameAddr) -> str:
    """``<scheme:user@host>``: the watcher as Kamailio stores it (port and parameters dropped, lab g)."""
    try:
        uri = parse_uri(value.uri)
    except SipParseError:
        return f"<{value.uri}>"
    user = f"{uri.user}@" if uri.user else ""
    return f"<{uri.scheme}:{user}{uri.host}>"


def name_addr_without_tag(value: H.NameAddr) -> str:
    """The value as sent, less its ``tag`` parameter (RFC 3261 §12.1.1 local/remote URI)."""
    params = tuple(p for p in value.params if p[0].lower() != "tag")
    return H.NameAddr(value.display, value.uri, params).format()


def subscription_state(state: str, remaining: int, reason: str | None) -> str:
    """``active;expires=N`` / ``pending;expires=N`` / ``terminated[;reason=R]`` (RFC 6665 §8.2.3)."""
    if state == TERMINATED:
        return TERMINATED if reason is None else f"{TERMINATED};reason={reason}"
    return f"{state};expires={remaining}"


def uri_address(uri: str) -> Address:
    """(host, port) a request for ``uri`` goes to: no DNS; 5060 (5061 for sips) by default."""
    text = uri.strip()
    if text.startswith("<"):
        text = text[1:].partition(">")[0]
    parsed = parse_uri(text)
    host = parsed.param("maddr") or parsed.host
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return (host, parsed.port or (5061 if parsed.scheme == "sips" else 5060))


def build_notify(
    sub: Subscription,
    *,
    contact: str,
    state_header: str,
    body: bytes = b"",
    content_type: str | None = None,
    user_agent: str | None = None,
) -> tuple[Request, Address]:
    """The NOTIFY for ``sub`` with CSeq ``sub.local_cseq`` and where it goes (RFC 3261 §12.2.1.1).

    With a loose-routing first route (``;lr``) the R-URI is the remote target
    and the request goes to the first route; with a strict router its URI
    becomes the R-URI and the remote target the last Route value.
    Raises :class:`~puasim.sip.errors.SipParseError` for an unroutable URI.
    """
    headers: list[tuple[str, str]] = [
        ("To", f"{sub.remote};tag={sub.remote_tag}"),
        ("From", f"{sub.local};tag={sub.local_tag}"),
        ("CSeq", f"{sub.local_cseq} NOTIFY"),
        ("Call-ID", sub.call_id),
    ]
    ruri = sub.remote_target
    next_hop = sub.remote_target
    if sub.route_set:
        first = sub.route_set[0]
        if ";lr" in first.lower():
            headers.append(("Route", ", ".join(sub.route_set)))
            next_hop = first
        else:
            ruri = H.parse_name_addr(first, "Route").uri
            rest = [*sub.route_set[1:], f"<{sub.remote_target}>"]
            headers.append(("Route", ", ".join(rest)))
            next_hop = ruri
    headers.append(("Content-Length", str(len(body))))
    if user_agent:
        headers.append(("User-Agent", user_agent))
    headers += [
        ("Max-Forwards", "70"),
        ("Event", sub.event_header),
        ("Contact", f"<{contact}>"),
        ("Subscription-State", state_header),
    ]
    if body and content_type:
        headers.append(("Content-Type", content_type))
    return Request("NOTIFY", ruri, tuple(headers), body), uri_address(next_hop)


__all__ = [
    "ACTIVE",
    "PENDING",
    "TERMINATED",
    "SubscribeRequest",
    "Subscription",
    "SubscriptionKey",
    "build_notify",
    "name_addr_without_tag",
    "read_subscribe",
    "subscription_state",
    "uri_address",
    "watcher_user_at_host",
]
