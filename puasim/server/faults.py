"""Fault knobs for the simulated presence servers: plain data plus the runtime plan.

A scenario lists faults as frozen values; the server wraps them in a
:class:`FaultPlan` that counts what is left and records every use as a
:class:`~puasim.trace.events.FaultInjected` event.  Times are virtual
microseconds.

==================  ==========================================================
fault               effect
==================  ==========================================================
:class:`Restart`    at ``at`` the server forgets every publication, every
                    subscription (no NOTIFY) and its transactions; new start
                    time and pid, counter from 0 (a restarted Kamailio, lab
                    finding e1)
:class:`RespondWith`  the next ``count`` matching requests are answered
                    ``status`` before the compositor sees them (state
                    unchanged), e.g. 500/503, 423 with Min-Expires, 412
:class:`DropRequests`  the next ``count`` matching requests are never
                    answered; retransmissions are absorbed by the server
                    transaction, so the client's transaction times out (408,
                    pua-reference §3.8 row 2)
:class:`DelayReplies`  replies to matching requests leave ``delay`` later; the
                    state change happens on arrival
:class:`OmitHeader`  2xx replies to matching requests lack ``SIP-ETag``,
                    ``Expires``, ``Contact`` or the To tag (pua-reference §3.8
                    rows 4/5, §4.6 rows 4/5/8, Appendix C)
:class:`GrantExpires`  matching successful PUBLISHes (not removals) are granted
                    ``seconds`` whatever was asked; the state lives that long
:class:`DropNotify`  the next ``count`` NOTIFYs sent in ``after <= now <
                    until`` never leave the server, retransmissions included:
                    the NOTIFY transaction times out (408) and ends the
                    subscription (RFC 6665 §4.2.2)
:class:`ChangeContact`  from ``at`` on, the 2xx to SUBSCRIBE and every NOTIFY
                    carry ``contact`` as Contact: a remote target change in
                    the middle of the subscriber's dialogs (RFC 3261
                    §12.2.1.2; pua-reference §4.6 row 9 and §6)
==================  ==========================================================

Scenario spelling (``kind:``): ``restart``, ``respond``, ``drop``,
``delay``, ``omit-header``, ``grant-expires``, ``drop-notify``,
``change-contact``; ``_`` may stand for ``-`` (``drop_notify``).

Every request-selecting fault (:class:`RespondWith`, :class:`DropRequests`,
:class:`DelayReplies`, :class:`OmitHeader`, :class:`GrantExpires`) selects
requests with ``method`` (``None`` = any), ``if_match`` (``True``: only with
SIP-If-Match, ``False``: only without, ``None``: either), ``in_dialog``
(``True``: only requests whose To carries a tag, e.g. SUBSCRIBE refreshes;
``False``: only requests without; ``None``: either) and the window ``after
<= now < until``; ``count`` limits how often it acts (``None`` =
unlimited).  Request-stage faults (:class:`RespondWith`,
:class:`DropRequests`) are tried in the order given and the first that
matches acts alone.  Example: ``{"kind": "respond", "status": 481,
"method": "SUBSCRIBE", "in_dialog": true}`` answers refreshes only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from puasim.effects import SECOND
from puasim.sip import headers as H
from puasim.sip.errors import SipParseError
from puasim.sip.message import Request
from puasim.trace.events import FaultInjected

Headers = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class _Selector:
    """Which requests a fault applies to (shared by the request-selecting faults)."""

    method: str | None = None
    if_match: bool | None = None
    in_dialog: bool | None = None
    after: int = 0
    until: int | None = None

    def selects(self, request: Request, now: int) -> bool:
        if now < self.after or (self.until is not None and now >= self.until):
            return False
        if self.method is not None and request.method.upper() != self.method.upper():
            return False
        if self.if_match is not None and request.has("sip-if-match") != self.if_match:
            return False
        if self.in_dialog is not None and has_to_tag(request) != self.in_dialog:
            return False
        return True


def has_to_tag(request: Request) -> bool:
    """Whether the To header carries a tag: an in-dialog request (RFC 3261 §12.2)."""
    value = request.get("to")
    if value is None:
        return False
    try:
        return H.parse_name_addr(value, "To").tag is not None
    except SipParseError:
        return ";tag=" in value.lower()


@dataclass(frozen=True, slots=True, kw_only=True)
class Restart:
    """Forget all state at virtual time ``at`` (µs): a server restart with an empty DB."""

    at: int

    def __post_init__(self) -> None:
        if self.at < 0:
            raise ValueError("Restart.at must be >= 0")


@dataclass(frozen=True, slots=True, kw_only=True)
class RespondWith(_Selector):
    """Answer ``status`` (with ``reason``/``headers``) to the next ``count`` matching requests."""

    status: int
    count: int | None = 1
    reason: str | None = None
    headers: Headers = ()

    def __post_init__(self) -> None:
        if not 200 <= self.status <= 699:
            raise ValueError("RespondWith.status must be a final status (200..699)")
        _check_count(self.count)


@dataclass(frozen=True, slots=True, kw_only=True)
class DropRequests(_Selector):
    """Never answer the next ``count`` matching requests."""

    count: int | None = 1

    def __post_init__(self) -> None:
        _check_count(self.count)


@dataclass(frozen=True, slots=True, kw_only=True)
class DelayReplies(_Selector):
    """Send replies to matching requests ``delay`` µs late."""

    delay: int
    count: int | None = None

    def __post_init__(self) -> None:
        if self.delay < 0:
            raise ValueError("DelayReplies.delay must be >= 0")
        _check_count(self.count)


@dataclass(frozen=True, slots=True, kw_only=True)
class OmitHeader(_Selector):
    """Leave ``header`` out of 2xx replies: ``SIP-ETag`` or ``Expires`` (PUBLISH,
    pua-reference §3.8 rows 4/5), ``Expires``, ``Contact`` or ``To-tag`` (the tag
    parameter of To; SUBSCRIBE, §4.6 rows 4/5/8)."""

    header: str
    count: int | None = None

    def __post_init__(self) -> None:
        if self.header.lower() not in OMITTABLE:
            raise ValueError(f"OmitHeader.header must be one of {', '.join(sorted(OMITTABLE))}")
        _check_count(self.count)


OMITTABLE = {"sip-etag", "expires", "contact", "to-tag"}


@dataclass(frozen=True, slots=True, kw_only=True)
class GrantExpires(_Selector):
    """Grant ``seconds`` to successful PUBLISHes (removals excepted), whatever was asked."""

    seconds: int
    count: int | None = None

    def __post_init__(self) -> None:
        if self.seconds < 0:
            raise ValueError("GrantExpires.seconds must be >= 0")
        _check_count(self.count)


@dataclass(frozen=True, slots=True, kw_only=True)
class DropNotify:
    """Never send the next ``count`` NOTIFYs (in ``after <= now < until``), retransmissions included.

    The server's client transaction still runs, so it ends with a local 408
    and the subscription is terminated (RFC 6665 §4.2.2).
    """

    count: int | None = 1
    after: int = 0
    until: int | None = None

    def __post_init__(self) -> None:
        _check_count(self.count)

    def active(self, now: int) -> bool:
        return self.after <= now and (self.until is None or now < self.until)


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangeContact:
    """From virtual time ``at`` (µs) on, use ``contact`` as the notifier's Contact URI."""

    contact: str
    at: int = 0

    def __post_init__(self) -> None:
        if self.at < 0:
            raise ValueError("ChangeContact.at must be >= 0")
        if not self.contact or any(c in self.contact for c in " <>\r\n"):
            raise ValueError("ChangeContact.contact must be a bare URI (no '<>' or spaces)")


Fault = (
    Restart
    | RespondWith
    | DropRequests
    | DelayReplies
    | OmitHeader
    | GrantExpires
    | DropNotify
    | ChangeContact
)
_FAULT_TYPES = (
    Restart,
    RespondWith,
    DropRequests,
    DelayReplies,
    OmitHeader,
    GrantExpires,
    DropNotify,
    ChangeContact,
)

#: names used by scenario files (``kind:``) -> fault class
FAULT_KINDS: dict[str, type] = {
    "restart": Restart,
    "respond": RespondWith,
    "drop": DropRequests,
    "delay": DelayReplies,
    "omit-header": OmitHeader,
    "grant-expires": GrantExpires,
    "drop-notify": DropNotify,
    "change-contact": ChangeContact,
}


def _check_count(count: int | None) -> None:
    if count is not None and count < 1:
        raise ValueError("count must be >= 1 (or None for unlimited)")


def fault_from_dict(data: Mapping[str, Any]) -> Fault:
    """Build a fault from a scenario mapping: ``{"kind": "respond", "status": 503}``.

    Time fields may be given in seconds with an ``_s`` suffix (``at_s``,
    ``after_s``, ``until_s``, ``delay_s``); ``headers`` may be a mapping;
    ``_`` in the kind stands for ``-`` (``drop_notify``).  Unknown kinds or
    fields raise :class:`ValueError` naming what exists.
    """
    values = dict(data)
    kind = values.pop("kind", None)
    cls = FAULT_KINDS.get(str(kind).replace("_", "-"))
    if cls is None:
        raise ValueError(f"unknown fault kind {kind!r}; known: {sorted(FAULT_KINDS)}")
    for name in list(values):
        if name.endswith("_s"):
            values[name[:-2]] = round(float(values.pop(name)) * SECOND)
    if isinstance(values.get("headers"), Mapping):
        values["headers"] = tuple((str(k), str(v)) for k, v in values["headers"].items())
    elif "headers" in values:
        values["headers"] = tuple(tuple(h) for h in values["headers"])
    known = {f.name for f in fields(cls)}
    unknown = set(values) - known
    if unknown:
        raise ValueError(
            f"fault {kind!r}: unknown fields {sorted(unknown)}; known: {sorted(known)}"
        )
    return cls(**values)


def _describe(request: Request) -> str:
    cseq = request.get("cseq") or "?"
    return f"{request.method} {request.uri} (CSeq {cseq})"


class FaultPlan:
    """The faults of one server and how many uses each has left."""

    def __init__(
        self, faults: Iterable[Fault] = (), emit: Callable[[Any], None] | None = None
    ) -> None:
        self.faults: tuple[Fault, ...] = tuple(faults)
        for fault in self.faults:
            if not isinstance(fault, _FAULT_TYPES):
                raise TypeError(f"not a server fault: {fault!r}")
        self.left: list[int | None] = [getattr(f, "count", None) for f in self.faults]
        self.emit = emit or (lambda event: None)

    def add(self, fault: Fault) -> int:
        """Arm one more fault (a scenario step); returns its index."""
        if not isinstance(fault, _FAULT_TYPES):
            raise TypeError(f"not a server fault: {fault!r}")
        self.faults = (*self.faults, fault)
        self.left.append(getattr(fault, "count", None))
        return len(self.faults) - 1

    def restarts(self) -> list[tuple[int, int]]:
        """``(index, at)`` of every :class:`Restart`, for the endpoint's timers."""
        return [(i, f.at) for i, f in enumerate(self.faults) if isinstance(f, Restart)]

    def contact_changes(self) -> list[tuple[int, int]]:
        """``(index, at)`` of every :class:`ChangeContact`, for the endpoint's timers."""
        return [(i, f.at) for i, f in enumerate(self.faults) if isinstance(f, ChangeContact)]

    def drop_notify(self, now: int) -> int | None:
        """Index of a :class:`DropNotify` that swallows the NOTIFY being sent now; not yet counted."""
        for i, fault in enumerate(self.faults):
            if isinstance(fault, DropNotify) and self.left[i] != 0 and fault.active(now):
                return i
        return None

    def fired(self, index: int, kind: str, detail: str) -> None:
        """Use one count of fault ``index`` and record it."""
        left = self.left[index]
        if left is not None:
            left -= 1
            self.left[index] = left
            detail = f"{detail}; {left} left"
        self.emit(FaultInjected(kind, detail))

    def _first(self, kinds: tuple[type, ...], request: Request, now: int) -> int | None:
        for i, fault in enumerate(self.faults):
            if isinstance(fault, kinds) and self.left[i] != 0 and fault.selects(request, now):  # type: ignore[union-attr]
                return i
        return None

    def on_request(self, request: Request, now: int) -> RespondWith | DropRequests | None:
        """The request-stage fault acting on ``request`` (already counted and recorded)."""
        i = self._first((RespondWith, DropRequests), request, now)
        if i is None:
            return None
        fault = self.faults[i]
        if isinstance(fault, RespondWith):
            self.fired(i, "respond", f"{fault.status} to {_describe(request)}")
            return fault
        assert isinstance(fault, DropRequests)
        self.fired(i, "drop", f"no answer to {_describe(request)}")
        return fault

    def delay_for(self, request: Request, now: int) -> int:
        """Extra delay (µs) for the reply to ``request`` (0: none); counted when > 0."""
        i = self._first((DelayReplies,), request, now)
        if i is None:
            return 0
        fault = self.faults[i]
        assert isinstance(fault, DelayReplies)
        self.fired(i, "delay", f"reply to {_describe(request)} delayed {fault.delay} us")
        return fault.delay

    def grant_for(self, request: Request, now: int) -> tuple[int, int] | None:
        """``(index, seconds)`` of a :class:`GrantExpires` for ``request``; not yet counted."""
        i = self._first((GrantExpires,), request, now)
        if i is None:
            return None
        fault = self.faults[i]
        assert isinstance(fault, GrantExpires)
        return i, fault.seconds

    def omissions(self, request: Request, now: int) -> list[tuple[int, str]]:
        """``(index, header)`` of every :class:`OmitHeader` for a 2xx to ``request``; not yet counted."""
        out = []
        seen: set[str] = set()
        for i, fault in enumerate(self.faults):
            if isinstance(fault, OmitHeader) and self.left[i] != 0 and fault.selects(request, now):
                key = fault.header.lower()
                if key not in seen:
                    seen.add(key)
                    out.append((i, fault.header))
        return out
