"""Helpers for transaction tests: messages, a by-hand driver and simulation endpoints."""

from __future__ import annotations

import random
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from puasim.effects import MILLISECOND, SECOND, Address, CancelTimer, Emit, Outbox, Send, SetTimer
from puasim.sim import LinkProfile, Simulation
from puasim.sip import headers as H
from puasim.sip.message import Request, Response
from puasim.txn import RFC3261, TimerConfig, TransactionLayer

UAC = ("10.0.0.1", 5060)
UAS = ("10.0.0.2", 5060)


def make_request(n: int = 1, method: str = "PUBLISH", via: str | None = None) -> Request:
    headers: list[tuple[str, str]] = []
    if via is not None:
        headers.append(("Via", via))
    headers += [
        ("To", "<sip:alice@example.org>"),
        ("From", "<sip:alice@example.org>;tag=f1"),
        ("CSeq", f"{n} {method}"),
        ("Call-ID", f"call-{n}@10.0.0.1"),
        ("Max-Forwards", "70"),
        ("Content-Length", "0"),
    ]
    return Request(method, "sip:alice@example.org", tuple(headers))


def reply(request: Request, status: int, reason: str = "") -> Response:
    keep = {"via", "from", "to", "call-id", "cseq"}
    from puasim.sip.message import header_key

    headers = [(n, v) for n, v in request.headers if header_key(n) in keep]
    headers.append(("Content-Length", "0"))
    return Response(status, reason or {100: "Trying", 200: "OK"}.get(status, "Reason"), tuple(headers))


def branch_of(message: Request | Response) -> str:
    return H.via_list(message)[0].branch or ""


@dataclass
class Final:
    response: Response
    faked: bool
    branch: str
    now: int


@dataclass
class Driver:
    """A transaction layer driven by hand with an explicit clock (aioquic style).

    ``timers`` mirrors what the layer armed; :meth:`fire_next` jumps the clock
    to the earliest one (first armed first on ties) and fires it.
    """

    layer: TransactionLayer
    now: int = 0
    sent: list[tuple[int, Send]] = field(default_factory=list)
    emitted: list[Any] = field(default_factory=list)
    timers: dict[Hashable, int] = field(default_factory=dict)
    finals: list[Final] = field(default_factory=list)

    @classmethod
    def make(cls, timers: TimerConfig = RFC3261, rport: bool = False, seed: int = 1) -> Driver:
        layer = TransactionLayer(Outbox(), UAC[0], UAC[1], random.Random(seed), timers, rport)
        return cls(layer)

    def collect(self) -> None:
        for eff in self.layer.outbox.take():
            if isinstance(eff, Send):
                self.sent.append((self.now, eff))
            elif isinstance(eff, SetTimer):
                self.timers.pop(eff.key, None)  # re-arming moves it to the back of the tie order
                self.timers[eff.key] = eff.at
            elif isinstance(eff, CancelTimer):
                self.timers.pop(eff.key, None)
            elif isinstance(eff, Emit):
                self.emitted.append(eff.event)

    def on_final(self, response: Response, faked: bool, txn: Any, now: int) -> None:
        self.finals.append(Final(response, faked, txn.branch, now))

    def send(self, request: Request, dest: Address = UAS):
        txn = self.layer.send_request(request, dest, self.now, self.on_final)
        self.collect()
        return txn

    def receive(self, message: Request | Response, source: Address = UAS):
        result = self.layer.receive(message, source, self.now)
        self.collect()
        return result

    def on_reply(self, response: Response, faked: bool, txn: Any, now: int) -> None:
        self.finals.append(Final(response, faked, txn.branch, now))

    def invite(self, request: Request, dest: Address = UAS):
        """Start an INVITE client transaction; every reply given to the TU lands in ``finals``."""
        txn = self.layer.send_invite(request, dest, self.now, self.on_reply)
        self.collect()
        return txn

    def receive_any(self, message: Request | Response, source: Address = UAS):
        result = self.layer.receive_any(message, source, self.now)
        self.collect()
        return result

    def respond(self, server_txn: Any, response: Response) -> None:
        server_txn.respond(response, self.now)
        self.collect()

    def next_timer(self) -> tuple[int, Hashable] | None:
        if not self.timers:
            return None
        key = min(self.timers, key=self.timers.__getitem__)  # min keeps the first on ties
        return self.timers[key], key

    def fire_next(self) -> Hashable:
        at, key = self.next_timer()  # type: ignore[misc]
        assert at >= self.now
        self.now = at
        del self.timers[key]
        assert self.layer.timer(key, self.now)
        self.collect()
        return key

    def advance(self, to: int) -> None:
        """Fire every timer due up to ``to``, then set the clock to ``to``."""
        while (nxt := self.next_timer()) is not None and nxt[0] <= to:
            self.fire_next()
        self.now = to

    def run_out(self) -> None:
        while self.timers:
            self.fire_next()

    def sends(self, retransmission: bool | None = None) -> list[tuple[int, Send]]:
        return [(t, s) for t, s in self.sent if retransmission is None or s.retransmission is retransmission]


# --------------------------------------------------------------------- simulation endpoints
class Client:
    """Sends ``count`` PUBLISHes (one every ``spacing`` µs) through its transaction layer."""

    def __init__(self, node, count: int, spacing: int, timers: TimerConfig) -> None:
        self.outbox = Outbox()
        self.layer = TransactionLayer(self.outbox, node.address[0], node.address[1], node.sim.streams("uac"), timers)
        self.count = count
        self.spacing = spacing
        self.finals: list[Final] = []

    def start(self, now: int) -> None:
        for i in range(self.count):
            self.outbox.set_timer(("send", i), now + i * self.spacing)

    def receive(self, message, src, now) -> None:
        self.layer.receive(message, src, now)

    def timer(self, key, now) -> None:
        if self.layer.timer(key, now):
            return
        self.layer.send_request(make_request(key[1] + 1), UAS, now, self.on_final)

    def on_final(self, response, faked, txn, now) -> None:
        self.finals.append(Final(response, faked, txn.branch, now))


class Server:
    """Answers every new request with a 200 (after a 100 for odd CSeq numbers)."""

    def __init__(self, node, timers: TimerConfig) -> None:
        self.outbox = Outbox()
        self.layer = TransactionLayer(self.outbox, node.address[0], node.address[1], node.sim.streams("uas"), timers)
        self.delivered: list[str] = []

    def start(self, now: int) -> None:
        pass

    def receive(self, message, src, now) -> None:
        txn = self.layer.receive(message, src, now)
        if txn is None:
            return
        self.delivered.append(branch_of(message))
        if H.cseq(message).seq % 2:
            txn.respond(reply(message, 100), now)
        txn.respond(reply(message, 200), now)

    def timer(self, key, now) -> None:
        self.layer.timer(key, now)


def lossy_simulation(
    seed: int,
    count: int = 20,
    loss: float = 0.3,
    duplicate: float = 0.3,
    timers: TimerConfig = RFC3261,
    jitter: int = 0,
) -> Simulation:
    """UAC and UAS over a lossy, duplicating link; runs until everything is over."""
    sim = Simulation(seed=seed, link=LinkProfile(latency=5 * MILLISECOND, jitter=jitter, loss=loss, duplicate=duplicate))
    sim.add_node("uac", UAC, lambda node: Client(node, count, 200 * MILLISECOND, timers))
    sim.add_node("uas", UAS, lambda node: Server(node, timers))
    sim.run(until=120 * SECOND)
    return sim
