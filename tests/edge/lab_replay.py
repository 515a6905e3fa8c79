"""Replay the phones' REGISTERs of a lab capture into the model's edge node.

The captures in ``tests/data/lab/kamailio-companions/`` come from the real Kamailio 5.6.3
edge proxy of the companions lab (udp 127.0.0.1:5080, presence server 5060,
SIPp phones sending from 5098).  :func:`replay` sends the same REGISTERs, byte
for byte as parsed, at the same offsets into an :class:`~puasim.edge.EdgeProxy`
configured like the lab's ``proxy.cfg`` for that experiment, against the
simulated Kamailio presence server, and returns both sides' messages from the
edge for a message-by-message comparison.
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from puasim.capture.reader import read_pcap
from puasim.companions.bla import PuaBlaConfig
from puasim.companions.reginfo import PuaReginfoConfig
from puasim.companions.usrloc import PuaUsrlocConfig
from puasim.edge import EdgeProxy, NodeConfig
from puasim.edge.script import Call, Script
from puasim.effects import SECOND, Address, Outbox
from puasim.node.registrar import RegistrarConfig
from puasim.node.usrloc import UsrlocConfig
from puasim.pua.config import load_config
from puasim.pua.model import Pua
from puasim.server.endpoint import add_server
from puasim.sim.simulation import Simulation
from puasim.sip import headers as H
from puasim.sip.message import Request, Response
from puasim.trace.events import MessageSent

DATA = Path(__file__).resolve().parents[1] / "data" / "lab" / "kamailio-companions"
EDGE: Address = ("127.0.0.1", 5080)
SERVER: Address = ("127.0.0.1", 5060)
PHONES: Address = ("127.0.0.1", 5098)
#: the lab's SIPp BLA phone (sipp/bla_phone.xml), the target of pua_bla's SUBSCRIBEs
BLA_PHONE: Address = ("127.0.0.1", 5094)


class Replayer:
    """An endpoint that sends prepared requests at fixed times and ignores what comes back."""

    def __init__(self, plan: list[tuple[int, Request]]) -> None:
        self.plan = plan
        self.outbox = Outbox()

    def start(self, now: int) -> None:
        for i, (at, _req) in enumerate(self.plan):
            self.outbox.set_timer(("replay", i), at)

    def receive(self, message: Any, src: Address, now: int) -> None:
        return None

    def timer(self, key: Hashable, now: int) -> None:
        assert isinstance(key, tuple)
        self.outbox.send(self.plan[key[1]][1], EDGE)


class BlaPhoneReplayer:
    """The lab's BLA phone: answers the edge's SUBSCRIBEs as the capture did and sends the
    captured NOTIFYs at their times, inside the dialog the model's SUBSCRIBE made (its
    Call-ID and From-tag put in place of the real edge's)."""

    def __init__(self, notifies: list[tuple[int, Request]], phone_tag: str, replies: list[Response]) -> None:
        self.notifies = notifies
        self.phone_tag = phone_tag
        self.replies = replies
        self.outbox = Outbox()
        self.call_id = ""
        self.edge_tag = ""
        self.answered = 0

    def start(self, now: int) -> None:
        for i, (at, _req) in enumerate(self.notifies):
            self.outbox.set_timer(("notify", i), at)

    def receive(self, message: Any, src: Address, now: int) -> None:
        if not isinstance(message, Request) or message.method != "SUBSCRIBE":
            return
        f = H.from_(message)
        self.call_id, self.edge_tag = H.call_id(message) or "", (f.tag if f is not None else "") or ""
        captured = self.replies[min(self.answered, len(self.replies) - 1)]
        self.answered += 1
        headers: list[tuple[str, str]] = []
        for name, value in captured.headers:
            key = name.lower()
            if key in ("via", "from", "call-id", "cseq"):
                value = message.get(key) or value
            elif key == "to":
                value = f"{message.get('to', '').partition(';tag=')[0]};tag={self.phone_tag}"
            headers.append((name, value))
        self.outbox.send(Response(captured.status, captured.reason, tuple(headers)), src)

    def timer(self, key: Hashable, now: int) -> None:
        assert isinstance(key, tuple)
        req = self.notifies[key[1]][1]
        headers = []
        for name, value in req.headers:
            if name.lower() == "call-id":
                value = self.call_id
            elif name.lower() == "to":
                value = f"{value.partition(';tag=')[0]};tag={self.edge_tag}"
            headers.append((name, value))
        self.outbox.send(Request(req.method, req.uri, tuple(headers), req.body), EDGE)


def bla_phone_side(capture: str) -> tuple[list[tuple[int, Request]], list[Response], str]:
    """The BLA phone's NOTIFYs (first sendings), its SUBSCRIBE replies, and its To-tag."""
    notifies: list[tuple[int, Request]] = []
    replies: list[Response] = []
    tag = ""
    for rec in read_pcap(DATA / capture).records:
        ev = rec.event
        if type(ev) is not MessageSent or ev.retransmission or ev.src != BLA_PHONE:
            continue
        msg = ev.message
        if isinstance(msg, Request) and msg.method == "NOTIFY":
            if all(H.cseq(msg) != H.cseq(r) for _t, r in notifies):
                notifies.append((rec.time, msg))
        elif isinstance(msg, Response):
            replies.append(msg)
            to = H.to(msg)
            tag = (to.tag if to is not None else "") or tag
    return notifies, replies, tag


@dataclass
class Side:
    """The edge node's outgoing PUBLISHes and REGISTER replies, in wire order, and the server's replies."""

    sent: list[tuple[int, Any]]
    publish_replies: dict[str, Response]


def real_side(capture: str) -> tuple[Side, list[tuple[int, Request]]]:
    trace = read_pcap(DATA / capture)
    sent: list[tuple[int, Any]] = []
    replies: dict[str, Response] = {}
    registers: list[tuple[int, Request]] = []
    for rec in trace.records:
        ev = rec.event
        if type(ev) is not MessageSent or ev.retransmission:
            continue
        msg = ev.message
        if ev.src == PHONES and ev.dst == EDGE and isinstance(msg, Request) and msg.method == "REGISTER":
            registers.append((rec.time, msg))
        elif ev.src == EDGE and ev.dst in (SERVER, PHONES, BLA_PHONE):
            sent.append((rec.time, msg))
        elif ev.src == SERVER and ev.dst == EDGE and isinstance(msg, Response):
            replies[H.call_id(msg) or ""] = msg
    return Side(sent, replies), registers


def model_side(
    registers: list[tuple[int, Request]],
    *,
    pua_params: dict[str, Any],
    usrloc: UsrlocConfig,
    pua_usrloc: PuaUsrlocConfig | None,
    pua_reginfo: PuaReginfoConfig | None = None,
    pua_bla: PuaBlaConfig | None = None,
    bla_phone: tuple[list[tuple[int, Request]], list[Response], str] | None = None,
    script: Script | None = None,
    triggers: tuple[tuple[int, Call], ...] = (),
    shift: int = 0,
    duration: int = 120 * SECOND,
) -> tuple[Side, Simulation]:
    """Run the model's edge node on the captured REGISTERs (each sent ``shift`` µs later)."""
    sim = Simulation(seed=3)
    add_server(sim, "server", SERVER)
    cfg = load_config({"outbound_proxy": "sip:127.0.0.1:5060", **pua_params})
    # proxy.cfg: server_header / user_agent_header
    lab = "puasim-lab edge proxy (kamailio 5.6)"
    node = NodeConfig(usrloc, RegistrarConfig(min_expires=0), pua_usrloc, pua_reginfo, server_header=lab,
                      user_agent_header=lab, pua_bla=pua_bla)
    if script is None:
        # the lab's REGISTER route: pua_set_publish() except for users nopub*, then save("location")
        script = Script((Call("pua_set_publish", (), "", "^nopub"), Call("save", ("location",))))

    def edge(_node: Any) -> EdgeProxy:
        pua = Pua(cfg, host=EDGE[0], port=EDGE[1], rng=sim.streams("pua"), epoch=sim.epoch)
        return EdgeProxy(pua, node, script)

    edge_node = sim.add_node("pua", EDGE, edge)
    for at, call in triggers:  # calls the script makes for a trigger request (the lab's OPTIONS)
        sim.kernel.call_at(at + shift, lambda call=call: edge_node.call("trigger", edge_node.endpoint.run_call, call, None,
                                                                         sim.kernel.now))
    sim.add_node("phones", PHONES, lambda _n: Replayer([(t + shift, r) for t, r in registers]))
    if bla_phone is not None:
        notifies, replies, tag = bla_phone
        sim.add_node("bla_phone", BLA_PHONE, lambda _n: BlaPhoneReplayer([(t + shift, r) for t, r in notifies], tag, replies))
    sim.run(until=duration)
    sent: list[tuple[int, Any]] = []
    replies: dict[str, Response] = {}
    for rec in sim.trace.records:
        ev = rec.event
        if type(ev) is not MessageSent or ev.retransmission:
            continue
        if ev.src == EDGE and ev.dst in (SERVER, PHONES, BLA_PHONE):
            sent.append((rec.time, ev.message))
        elif ev.src == SERVER and isinstance(ev.message, Response):
            replies[H.call_id(ev.message) or ""] = ev.message
    return Side(sent, replies), sim


def normalised(side: Side) -> list[dict[str, Any]]:
    """What must agree, message by message: everything but values each side makes up itself.

    Left out: the values of Call-ID, tags, Via branch, ETags and PIDF tuple ids
    (an allocation's address: two PUBLISHes of one request may even share it,
    lab 03 #20/#21).  reginfo's ``id`` addresses are compared by identity: the
    n-th distinct address of each side becomes ``pn``.  ETags are
    compared by origin ("the ETag the server gave PUBLISH k"), Call-IDs by the
    process that sent them (the first PUBLISH's process = worker).
    """
    out: list[dict[str, Any]] = []
    pointers: dict[str, str] = {}
    etag_origin: dict[str, int] = {}
    worker_pid = ""
    publishes = 0
    for _t, msg in side.sent:
        if isinstance(msg, Response):
            # X-Lab-Rc is the lab script's own append_to_reply(), not Kamailio's
            out.append({"reply": msg.status, "cseq": msg.get("cseq"), "contact": msg.get("contact"),
                        "server": msg.get("server"), "header_order": [n for n, _ in msg.headers if n != "X-Lab-Rc"]})
            continue
        call_id = msg.get("call-id") or ""
        pid = call_id.partition("-")[2].partition("@")[0]
        worker_pid = worker_pid or pid
        if_match = msg.get("sip-if-match")
        body = msg.body.decode()
        if 'tuple id="' in body:  # a fresh allocation's address: only its presence is compared
            head, _, rest = body.partition('tuple id="')
            body = head + 'tuple id="*' + rest[rest.index('"'):]
        # reginfo's record and contact addresses: compared by identity (same object, same name)
        body = re.sub(r'id="(0x[0-9a-f]+)"', lambda m: f'id="p{pointers.setdefault(m.group(1), str(len(pointers) + 1))}"', body)
        out.append({
            "method": msg.method,
            "ruri": msg.uri,
            "to": msg.get("to"),
            "from": (msg.get("from") or "").partition(";")[0],
            "cseq": msg.get("cseq"),
            "event": msg.get("event"),
            "expires": msg.get("expires"),
            "content_type": msg.get("content-type"),
            "max_forwards": msg.get("max-forwards"),
            "if_match_of": None if if_match is None else etag_origin.get(if_match, "unknown"),
            "body": body,
            "process": "worker" if pid == worker_pid else "other",
            "user_agent": msg.get("user-agent"),
            "header_order": [n for n, _ in msg.headers],
        })
        reply = side.publish_replies.get(call_id)
        etag = reply.get("sip-etag") if reply is not None else None
        if etag and etag not in etag_origin:
            etag_origin[etag] = publishes
        publishes += 1
    return out
