"""Replay the calls of a lab capture (SIPp caller and callee) into the model's edge node.

The caller's requests (INVITE, ACK, CANCEL, BYE from 127.0.0.1:5090) are sent
at their captured offsets, as captured.  The callee (127.0.0.1:5092) is played
by :class:`CalleeReplayer`: each captured reply belongs to the last request the
callee had received before it (the 487 to the CANCEL that caused it, not to the
INVITE); when the model's edge sends the callee that request (the n-th of its
method), the replies follow at the captured delays, each with the Via headers
of the model's request its CSeq names (so the model's transactions own them).  The
REGISTERs (from 5098) are replayed as in :mod:`tests.edge.lab_replay`.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from puasim.capture.reader import read_pcap
from puasim.companions.dialoginfo import PuaDialoginfoConfig
from puasim.edge import EdgeProxy, NodeConfig
from puasim.edge.script import Call, Script
from puasim.effects import SECOND, Address, Outbox
from puasim.node.dialog import DialogConfig
from puasim.node.registrar import RegistrarConfig
from puasim.node.usrloc import UsrlocConfig
from puasim.pua.config import load_config
from puasim.pua.model import Pua
from puasim.server.endpoint import add_server
from puasim.sim import LinkProfile
from puasim.sim.simulation import Simulation
from puasim.sip import headers as H
from puasim.sip.message import Request, Response
from puasim.trace.events import MessageSent
from tests.edge.lab_replay import DATA, EDGE, PHONES, SERVER, Replayer

CALLER: Address = ("127.0.0.1", 5090)
CALLEE: Address = ("127.0.0.1", 5092)
#: alice, and nopub1 (lab 12's second caller)
CALLERS: tuple[Address, ...] = (CALLER, ("127.0.0.1", 5093))
LAB = "puasim-lab edge proxy (kamailio 5.6)"


class CalleeReplayer:
    """Answers the edge's requests with the captured replies (see module docstring)."""

    def __init__(self, replies: dict[tuple[str, int], list[tuple[int, Response]]]) -> None:
        self.replies = replies
        self.outbox = Outbox()
        self.pending: list[tuple[Response, Address]] = []
        self.seen: dict[str, int] = {}
        self.vias: dict[str, list[str]] = {}

    def start(self, now: int) -> None:
        pass

    def receive(self, message: Any, src: Address, now: int) -> None:
        if not isinstance(message, Request):
            return
        n = self.seen.get(message.method, 0)
        self.seen[message.method] = n + 1
        self.vias[message.method] = [v for name, v in message.headers if name.lower() == "via"]
        for delay, captured in self.replies.get((message.method, n), []):
            method = H.cseq(captured).method  # type: ignore[union-attr]
            headers: list[tuple[str, str]] = [("Via", v) for v in self.vias[method]]
            headers += [(name, v) for name, v in captured.headers if name.lower() != "via"]
            self.pending.append((Response(captured.status, captured.reason, tuple(headers), captured.body), src))
            self.outbox.set_timer(("reply", len(self.pending) - 1), now + delay)

    def timer(self, key: Hashable, now: int) -> None:
        assert isinstance(key, tuple)
        reply, dest = self.pending[key[1]]
        self.outbox.send(reply, dest)


def capture_sides(capture: str) -> tuple[list[tuple[int, Any]], list[tuple[int, Request]], list[tuple[int, Request]],
                                         dict[tuple[str, int], list[tuple[int, Response]]]]:
    """The edge's sent messages; the phones' REGISTERs; the caller's requests; the callee's replies."""
    sent: list[tuple[int, Any]] = []
    registers: list[tuple[int, Request]] = []
    caller: list[tuple[int, Request]] = []
    callee: dict[tuple[str, int], list[tuple[int, Response]]] = {}
    counts: dict[str, int] = {}
    last: tuple[tuple[str, int], int] | None = None
    for rec in read_pcap(DATA / capture).records:
        ev = rec.event
        if type(ev) is not MessageSent or ev.retransmission:
            continue
        msg = ev.message
        if ev.src == PHONES and isinstance(msg, Request):
            registers.append((rec.time, msg))
        elif ev.src in CALLERS and isinstance(msg, Request):
            caller.append((rec.time, msg))
        elif ev.src == EDGE and ev.dst == CALLEE and isinstance(msg, Request):
            n = counts.get(msg.method, 0)
            counts[msg.method] = n + 1
            last = ((msg.method, n), rec.time)
        elif ev.src == CALLEE and isinstance(msg, Response) and last is not None:
            callee.setdefault(last[0], []).append((rec.time - last[1], msg))
        if ev.src == EDGE and ev.dst in (SERVER, CALLEE, *CALLERS):
            sent.append((rec.time, msg))
    return sent, registers, caller, callee


def model_run(capture: str, dialoginfo: dict[str, Any] | None = None, pua_params: dict[str, Any] | None = None,
              duration: int = 30 * SECOND, invite_route: tuple[Call, ...] = (Call("dlg_manage"),),
              server: dict[str, Any] | None = None, shift: int = 0,
              edge_start: int = 0) -> tuple[list[tuple[int, Any]], list[tuple[int, Any]]]:
    """(the capture's edge messages, the model's) for the same phones.

    ``server``: knobs of the simulated Kamailio presence server
    (:func:`~puasim.server.profiles.get_profile`); ``shift``: µs added to every
    captured time (whole seconds keep each time's place within its second, which
    the whole-second Expires arithmetic of refreshes depends on); ``edge_start``:
    when the edge node starts, which fixes its sweep phase (pua-reference §5.1).
    """
    real, registers, caller, callee = capture_sides(capture)
    real = [(t + shift, m) for t, m in real]
    registers = [(t + shift, r) for t, r in registers]
    caller = [(t + shift, r) for t, r in caller]
    # loopback: 0.1 ms a hop (the lab's frames are 0.1-0.5 ms apart), so that a caller
    # replayed at fixed times does not overtake a reply the model relays later than Kamailio
    sim = Simulation(seed=3, link=LinkProfile(latency=100))
    add_server(sim, "server", SERVER, **(server or {}))
    cfg = load_config({"outbound_proxy": "sip:127.0.0.1:5060", **(pua_params or {})})
    node = NodeConfig(UsrlocConfig(), RegistrarConfig(min_expires=0), server_header=LAB, user_agent_header=LAB,
                      dialog=DialogConfig(), pua_dialoginfo=PuaDialoginfoConfig.from_params(dialoginfo or {}))
    script = Script((Call("save", ("location",)),), invite=invite_route)

    def edge(_node: Any) -> EdgeProxy:
        pua = Pua(cfg, host=EDGE[0], port=EDGE[1], rng=sim.streams("pua"), epoch=sim.epoch)
        return EdgeProxy(pua, node, script)

    edge_node = sim.add_node("pua", EDGE, edge, start=not edge_start)
    if edge_start:
        sim.kernel.call_at(edge_start, edge_node.start)
    sim.add_node("phones", PHONES, lambda _n: Replayer(registers))
    for i, addr in enumerate(CALLERS):
        mine = [(t, r) for t, r in caller if _source(r) == addr]
        sim.add_node(f"caller{i}", addr, lambda _n, mine=mine: Replayer(mine))
    sim.add_node("callee", CALLEE, lambda _n: CalleeReplayer(callee))
    sim.run(until=duration)
    model = [(rec.time, rec.event.message) for rec in sim.trace.records
             if type(rec.event) is MessageSent and not rec.event.retransmission and rec.event.src == EDGE
             and rec.event.dst in (SERVER, CALLEE, *CALLERS)]
    return real, model


def _source(req: Request) -> Address:
    via = H.top_via(req)
    return (via.host, via.port or 5060) if via is not None else CALLER


def call_flow(sent: list[tuple[int, Any]]) -> list[tuple]:
    """What must agree: the order of the edge's messages of the call, and of each PUBLISH its
    target, Expires, whether it has SIP-If-Match, and its body with the dialog id left out
    (a sruid of the process: time, pid and counter differ)."""
    out: list[tuple] = []
    for _t, msg in sent:
        if isinstance(msg, Response):
            if H.cseq(msg).method == "REGISTER":  # type: ignore[union-attr]
                continue
            out.append(("reply", msg.status, msg.get("cseq")))
        elif msg.method == "PUBLISH":
            body = msg.body.decode()
            head, sep, rest = body.partition('<dialog id="')
            body = head + sep + "*" + rest[rest.index('"'):] if sep else body
            out.append(("PUBLISH", msg.uri, msg.get("expires"), msg.get("sip-if-match") is not None, body))
        else:
            out.append((msg.method, msg.uri))
    return out
