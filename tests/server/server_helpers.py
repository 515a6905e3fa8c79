"""Helpers shared by the server tests: hand-built requests and reply inspection."""

from __future__ import annotations

import itertools
import random
from typing import Any

from puasim.effects import Emit, Send, SetTimer
from puasim.server import PresenceServer
from puasim.sip.message import Request, Response

PIDF = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:alice@127.0.0.1">'
    b'<tuple id="t1"><status><basic>open</basic></status></tuple></presence>\n'
)
PIDF_CLOSED = PIDF.replace(b"open", b"closed")
CLIENT: tuple[str, int] = ("127.0.0.1", 5070)
#: the lab's presence server start time and worker pid (capture a-b-c)
LAB_START = 1795735754
LAB_PID = 29380

_branches = itertools.count(1)


def publish(
    uri: str = "sip:alice@127.0.0.1",
    *,
    event: str | None = "presence",
    expires: int | str | None = 3600,
    if_match: str | list[str] | None = None,
    body: bytes = PIDF,
    content_type: str | None = "application/pidf+xml",
    content_length: bool = True,
    branch: str | None = None,
    cseq: int = 10,
    method: str = "PUBLISH",
    extra: tuple[tuple[str, str], ...] = (),
) -> Request:
    """A PUBLISH shaped like Kamailio pua's (Appendix B), fields optional."""
    if branch is None:
        branch = f"z9hG4bKtest{next(_branches)}"
    headers: list[tuple[str, str]] = [
        ("Via", f"SIP/2.0/UDP {CLIENT[0]}:{CLIENT[1]};branch={branch}"),
        ("To", f"<{uri}>"),
        ("From", f"<{uri}>;tag=fromtag{branch[-6:]}"),
        ("CSeq", f"{cseq} {method}"),
        ("Call-ID", f"cid-{branch}@127.0.0.1"),
        ("Max-Forwards", "70"),
    ]
    if event is not None:
        headers.append(("Event", event))
    if expires is not None:
        headers.append(("Expires", str(expires)))
    tags = [if_match] if isinstance(if_match, str) else list(if_match or [])
    headers += [("SIP-If-Match", t) for t in tags]
    if body and content_type is not None:
        headers.append(("Content-Type", content_type))
    headers += list(extra)
    if content_length:
        headers.append(("Content-Length", str(len(body))))
    return Request(method, uri, tuple(headers), body)


def request(method: str, uri: str = "sip:alice@127.0.0.1", **kw: Any) -> Request:
    return publish(
        uri, method=method, event=kw.pop("event", None), body=b"", content_type=None, **kw
    )


def make_server(
    profile: Any = "kamailio", seed: int = 1, now: int = 0, **kw: Any
) -> PresenceServer:
    kw.setdefault("start_time", LAB_START)
    kw.setdefault("pid", LAB_PID)
    srv = PresenceServer("127.0.0.1", 5060, profile, random.Random(seed), **kw)
    srv.start(now)
    return srv


def sent(effects: list) -> list[Send]:
    return [e for e in effects if isinstance(e, Send)]


def events(effects: list, cls: type | None = None) -> list[Any]:
    return [
        e.event
        for e in effects
        if isinstance(e, Emit) and (cls is None or isinstance(e.event, cls))
    ]


def timers(effects: list) -> list[SetTimer]:
    return [e for e in effects if isinstance(e, SetTimer)]


def exchange(srv: PresenceServer, req: Request, now: int = 0) -> tuple[Response | None, list]:
    """Deliver ``req``; return the reply sent (or None) and every effect."""
    srv.receive(req, CLIENT, now)
    effects = srv.outbox.take()
    replies = [s.message for s in sent(effects)]
    assert len(replies) <= 1, replies
    return (replies[0] if replies else None), effects


def answer(srv: PresenceServer, req: Request, now: int = 0) -> Response:
    reply, _ = exchange(srv, req, now)
    assert reply is not None, "no reply sent"
    return reply


# -- SUBSCRIBE / NOTIFY helpers (tests/server/test_server_notifier*.py) -------------------
WATCHER = "sip:bob@127.0.0.1:5070"
ALICE = "sip:alice@127.0.0.1"


def subscribe(
    uri: str = ALICE,
    *,
    event: str | None = "presence",
    expires: int | str | None = 610,
    to_tag: str | None = None,
    to_uri: str = ALICE,
    call_id: str = "sub1@127.0.0.1",
    from_uri: str = WATCHER,
    from_tag: str = "bobtag",
    cseq: int = 10,
    contact: str | None = WATCHER,
    record_route: tuple[str, ...] = (),
    branch: str | None = None,
) -> Request:
    """A SUBSCRIBE shaped like pua's (pua-reference §4.2, lab g2); ``to_tag`` makes it in-dialog."""
    if branch is None:
        branch = f"z9hG4bKsub{next(_branches)}"
    to = f"<{to_uri}>" + (f";tag={to_tag}" if to_tag else "")
    headers: list[tuple[str, str]] = [
        ("Via", f"SIP/2.0/UDP {CLIENT[0]}:{CLIENT[1]};branch={branch}"),
        *(("Record-Route", rr) for rr in record_route),
        ("To", to),
        ("From", f"<{from_uri}>;tag={from_tag}"),
        ("CSeq", f"{cseq} SUBSCRIBE"),
        ("Call-ID", call_id),
        ("Content-Length", "0"),
        ("Max-Forwards", "70"),
    ]
    if event is not None:
        headers.append(("Event", event))
    if contact is not None:
        headers.append(("Contact", f"<{contact}>"))
    if expires is not None:
        headers.append(("Expires", str(expires)))
    return Request("SUBSCRIBE", uri, tuple(headers))


def refresh(reply: Response, *, cseq: int = 11, expires: int | None = 610, **kw: Any) -> Request:
    """An in-dialog SUBSCRIBE for the dialog ``reply`` (a 2xx) established."""
    to_tag = reply.get("to").split(";tag=")[1]
    contact = reply.get("contact").strip("<>")
    return subscribe(contact, to_tag=to_tag, cseq=cseq, expires=expires, **kw)


def answer_notify(srv: PresenceServer, notify: Request, status: int = 200, now: int = 0) -> list:
    """Answer a NOTIFY the server sent (as the subscriber would); returns the effects."""
    keep = tuple(
        (n, v) for n, v in notify.headers if n.lower() in ("via", "from", "to", "call-id", "cseq")
    )
    srv.receive(Response(status, "Reason", (*keep, ("Content-Length", "0"))), CLIENT, now)
    return srv.outbox.take()


class Driver:
    """Feeds a server inputs by hand and fires its timers in time order (no simulator)."""

    def __init__(self, srv: PresenceServer) -> None:
        self.srv = srv
        self.now = 0
        self.timers: dict[Any, int] = {}
        self.effects: list = []
        self._apply(srv.outbox.take())

    def _apply(self, effects: list) -> list:
        from puasim.effects import CancelTimer

        for eff in effects:
            if isinstance(eff, SetTimer):
                self.timers[eff.key] = eff.at
            elif isinstance(eff, CancelTimer):
                self.timers.pop(eff.key, None)
        self.effects += effects
        return effects

    def send(self, req: Request | Response, at: int | None = None) -> list:
        if at is not None:
            self.advance(at)
        self.srv.receive(req, CLIENT, self.now)
        return self._apply(self.srv.outbox.take())

    def answer(self, notify: Request, status: int = 200) -> list:
        return self._apply(answer_notify(self.srv, notify, status, self.now))

    def advance(self, until: int) -> list:
        """Fire every timer due up to ``until``; returns the effects they made."""
        out: list = []
        while True:
            due = [(at, repr(k), k) for k, at in self.timers.items() if at <= until]
            if not due:
                break
            at, _, key = min(due)
            del self.timers[key]
            self.now = max(self.now, at)
            self.srv.timer(key, self.now)
            out += self._apply(self.srv.outbox.take())
        self.now = max(self.now, until)
        return out


def notifies(effects: list, include_retransmissions: bool = False) -> list[Request]:
    return [
        s.message
        for s in sent(effects)
        if isinstance(s.message, Request)
        and s.message.method == "NOTIFY"
        and (include_retransmissions or not s.retransmission)
    ]


def responses(effects: list) -> list[Response]:
    return [s.message for s in sent(effects) if isinstance(s.message, Response)]
