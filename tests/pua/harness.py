"""Drive a Pua by hand: API calls, replies and timers with an explicit clock (aioquic style)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from puasim.effects import SECOND, CancelTimer, Emit, Send, SetTimer
from puasim.pua.config import load_config
from puasim.pua.info import PublInfo, SubsInfo
from puasim.pua.model import Pua
from puasim.sip.message import Request, Response
from puasim.trace.events import RecordChanged

EPOCH = 1_700_000_000
ALICE = "sip:alice@127.0.0.1"
BOB = "sip:bob@127.0.0.1:5070"
PIDF = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<presence xmlns="urn:ietf:params:xml:ns:pidf" '
    b'entity="sip:alice@127.0.0.1"><tuple id="t1"><status><basic>open</basic></status></tuple></presence>'
)


@dataclass
class Harness:
    pua: Pua
    now: int = 0
    sent: list[Send] = field(default_factory=list)
    events: list = field(default_factory=list)
    timers: dict = field(default_factory=dict)

    @classmethod
    def make(cls, **params) -> Harness:
        params.setdefault("outbound_proxy", "sip:127.0.0.1:5060")
        pua = Pua(load_config(params), rng=random.Random(7), epoch=EPOCH)
        h = cls(pua)
        pua.start(0)
        h.collect()
        return h

    def collect(self) -> None:
        for eff in self.pua.outbox.take():
            if isinstance(eff, Send):
                self.sent.append(eff)
            elif isinstance(eff, Emit):
                self.events.append(eff.event)
            elif isinstance(eff, SetTimer):
                self.timers[eff.key] = eff.at
            elif isinstance(eff, CancelTimer):
                self.timers.pop(eff.key, None)

    # -- inputs -------------------------------------------------------------------------
    def publish(self, **kw) -> int:
        kw.setdefault("pres_uri", ALICE)
        kw.setdefault("event", 1)
        kw.setdefault("source_flag", 1)
        rc = self.pua.send_publish(PublInfo(**kw), self.now)
        self.collect()
        return rc

    def subscribe(self, **kw) -> int:
        kw.setdefault("pres_uri", ALICE)
        kw.setdefault("watcher_uri", BOB)
        kw.setdefault("contact", BOB)
        kw.setdefault("event", 1)
        kw.setdefault("source_flag", 256)
        rc = self.pua.send_subscribe(SubsInfo(**kw), self.now)
        self.collect()
        return rc

    def requests(self, method: str | None = None, include_retransmissions: bool = False) -> list[Request]:
        return [
            s.message for s in self.sent
            if isinstance(s.message, Request) and (method is None or s.message.method == method)
            and (include_retransmissions or not s.retransmission)
        ]

    def last(self, method: str | None = None) -> Request:
        return self.requests(method)[-1]

    def reply(self, req: Request, status: int, *headers: tuple[str, str], to_tag: str = "srv1", reason: str = "") -> None:
        keep = []
        for name, value in req.headers:
            low = name.lower()
            if low in ("via", "from", "call-id", "cseq"):
                keep.append((name, value))
            elif low == "to":
                keep.append((name, value if ";tag=" in value or status < 200 else f"{value};tag={to_tag}"))
        keep.extend(headers)
        keep.append(("Content-Length", "0"))
        self.pua.receive(Response(status, reason or "Reason", tuple(keep)), ("127.0.0.1", 5060), self.now)
        self.collect()

    def ok_publish(self, req: Request, expires: int, etag: str) -> None:
        self.reply(req, 200, ("Expires", str(expires)), ("SIP-ETag", etag))

    def advance(self, seconds: float) -> None:
        """Move the clock, firing every timer due on the way, in time order."""
        target = self.now + int(seconds * SECOND)
        while True:
            due = [(at, key) for key, at in self.timers.items() if at <= target]
            if not due:
                break
            at, key = min(due, key=lambda x: (x[0], repr(x[1])))
            del self.timers[key]
            self.now = max(self.now, at)
            self.pua.timer(key, self.now)
            self.collect()
        self.now = target

    # -- views ----------------------------------------------------------------------------
    def records(self):
        return self.pua.records()

    def changes(self, action: str | None = None) -> list[RecordChanged]:
        return [e for e in self.events if isinstance(e, RecordChanged) and (action is None or e.action == action)]

    def unix(self) -> int:
        return EPOCH + self.now // SECOND
