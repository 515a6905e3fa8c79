"""A re-INVITE, a failed re-INVITE, an UPDATE, and the pubruri AVPs, on the real Kamailio 5.6.3 edge proxy.

The capture ``x1_dialoginfo_reinvite_491_update_bye.pcap`` was taken on the
companions lab's edge proxy (``proxy.cfg`` with its default knobs: dialog and
pua_dialoginfo with the 5.6.3 defaults) driven by
``tests/edge/reinvite_lab_driver.py``: alice (5090) calls bob (5092), bob
answers; bob re-INVITEs (alice answers 200, bob ACKs), re-INVITEs again
(alice answers 491, bob ACKs hop by hop); alice sends UPDATE, then BYE.

What it shows, and what the model must do the same way: pua_dialoginfo
publishes ``confirmed`` for both sides on the re-INVITE (before tm's 100),
again on its ACK (before the ACK is relayed), again on the hop-by-hop ACK of
the 491 (which tm absorbs), and nothing on the UPDATE; the 491 goes up after
the node's own ACK downstream.  The 412 rounds in between depend on how fast
the real server answered (8-16 ms in this capture; in a second run of the
driver the first re-INVITE's PUBLISHes were answered in time and drew no
412): the replay gives the simulated server a 10 ms answer time.

The capture ``x2_dialoginfo_pubruri_avps.pcap`` is a call (180, 200, BYE)
through the same proxy with ``use_pubruri_avps`` and the INVITE route setting
the AVPs (``reinvite_lab_driver.AVP_CONFIG``): each caller-side state goes to
``sip:alice-desk@127.0.0.1`` then ``sip:alice@127.0.0.1`` (newest value first;
the value ``garbage`` in between is skipped, "failed to parse the PUBLISH
R-URI" in the proxy's log), each callee-side state to
``sip:bob-blf@127.0.0.1`` only (``sip:bob@10.9.9.9`` is not local, and the
value set after ``dlg_manage()`` comes too late); the bodies keep the From/To
URIs.

Each phone is replayed both ways: its captured requests at their offsets,
and its captured replies to the requests the node sends it (the n-th request
of a method gets the replies the n-th got, with the Via headers of the
model's request).  The REGISTERs' own PUBLISHes (pua_usrloc, pua_reginfo: the
lab proxy loads them) are left out of the comparison.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from puasim.capture.reader import read_pcap
from puasim.companions.dialoginfo import PuaDialoginfoConfig
from puasim.edge import EdgeProxy, NodeConfig
from puasim.edge.script import Call, Script
from puasim.effects import MILLISECOND, SECOND, Address, Outbox
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
from tests.edge.call_replay import LAB, call_flow
from tests.edge.lab_replay import DATA, EDGE, SERVER

REINVITE = "x1_dialoginfo_reinvite_491_update_bye.pcap"
AVPS = "x2_dialoginfo_pubruri_avps.pcap"
ALICE: Address = ("127.0.0.1", 5090)
BOB: Address = ("127.0.0.1", 5092)


class PhoneReplayer:
    """One phone of the capture: its requests at their times, its replies to the node's requests."""

    def __init__(self, requests: list[tuple[int, Request]],
                 replies: dict[tuple[str, int], list[tuple[int, Response]]]) -> None:
        self.requests = requests
        self.replies = replies
        self.outbox = Outbox()
        self.pending: list[Response] = []
        self.seen: dict[str, int] = {}
        self.vias: dict[str, list[str]] = {}

    def start(self, now: int) -> None:
        for i, (at, _req) in enumerate(self.requests):
            self.outbox.set_timer(("request", i), at)

    def receive(self, message: Any, src: Address, now: int) -> None:
        if not isinstance(message, Request):
            return
        n = self.seen.get(message.method, 0)
        self.seen[message.method] = n + 1
        self.vias[message.method] = [v for name, v in message.headers if name.lower() == "via"]
        for delay, captured in self.replies.get((message.method, n), []):
            method = H.cseq(captured).method  # type: ignore[union-attr]
            headers = [("Via", v) for v in self.vias[method]]
            headers += [(name, v) for name, v in captured.headers if name.lower() != "via"]
            self.pending.append(Response(captured.status, captured.reason, tuple(headers), captured.body))
            self.outbox.set_timer(("reply", len(self.pending) - 1), now + delay)

    def timer(self, key: Hashable, now: int) -> None:
        assert isinstance(key, tuple)
        if key[0] == "request":
            self.outbox.send(self.requests[key[1]][1], EDGE)
        else:
            self.outbox.send(self.pending[key[1]], EDGE)


def phone_sides(capture: str, phone: Address) -> tuple[list[tuple[int, Request]], dict[tuple[str, int], list[tuple[int, Response]]]]:
    requests: list[tuple[int, Request]] = []
    replies: dict[tuple[str, int], list[tuple[int, Response]]] = {}
    counts: dict[str, int] = {}
    last: dict[str, tuple[tuple[str, int], int]] = {}
    for rec in read_pcap(DATA / capture).records:
        ev = rec.event
        if type(ev) is not MessageSent or ev.retransmission:
            continue
        msg = ev.message
        if ev.src == phone and isinstance(msg, Request):
            requests.append((rec.time, msg))
        elif ev.src == EDGE and ev.dst == phone and isinstance(msg, Request):
            n = counts.get(msg.method, 0)
            counts[msg.method] = n + 1
            last[msg.method] = ((msg.method, n), rec.time)
        elif ev.src == phone and isinstance(msg, Response):
            method = H.cseq(msg).method  # type: ignore[union-attr]
            key, at = last[method]
            replies.setdefault(key, []).append((rec.time - at, msg))
    return requests, replies


def edge_messages(records: Any) -> list[tuple[int, Any]]:
    """What the edge sent to the server (dialog PUBLISHes only) and to the phones."""
    out = []
    for rec in records:
        ev = rec.event
        if type(ev) is not MessageSent or ev.retransmission or ev.src != EDGE or ev.dst not in (SERVER, ALICE, BOB):
            continue
        msg = ev.message
        if ev.dst == SERVER and (not isinstance(msg, Request) or (msg.get("event") or "") != "dialog"):
            continue
        out.append((rec.time, msg))
    return out


def model_run(capture: str, dialoginfo: dict[str, Any] | None = None,
              invite_route: tuple[Call, ...] = (Call("dlg_manage"),)) -> tuple[list[tuple], list[tuple]]:
    sim = Simulation(seed=3, link=LinkProfile(latency=100))
    add_server(sim, "server", SERVER)
    # the real presence server answered the PUBLISHes 8-16 ms later (SQLite writes): a
    # PUBLISH that follows within that time still has the old ETag (pua-reference §9.4.4)
    sim.network.links[("server", "pua")] = LinkProfile(latency=10 * MILLISECOND)
    cfg = load_config({"outbound_proxy": "sip:127.0.0.1:5060"})
    node = NodeConfig(UsrlocConfig(), RegistrarConfig(min_expires=0), server_header=LAB, user_agent_header=LAB,
                      dialog=DialogConfig(), pua_dialoginfo=PuaDialoginfoConfig.from_params(dialoginfo or {}))
    script = Script((Call("save", ("location",)),), invite=invite_route)
    sim.add_node("pua", EDGE, lambda _n: EdgeProxy(Pua(cfg, host=EDGE[0], port=EDGE[1], rng=sim.streams("pua"),
                                                       epoch=sim.epoch), node, script))
    for name, addr in (("alice", ALICE), ("bob", BOB)):
        requests, replies = phone_sides(capture, addr)
        sim.add_node(name, addr, lambda _n, r=requests, p=replies: PhoneReplayer(r, p))
    sim.run(until=10 * SECOND)
    real = edge_messages(read_pcap(DATA / capture).records)
    return call_flow(real), call_flow(edge_messages(sim.trace.records))


def _compare(real: list[tuple], model: list[tuple]) -> None:
    for i, (want, got) in enumerate(zip(real, model, strict=False)):
        assert got == want, f"message {i} differs"
    assert len(model) == len(real)


def test_reinvite_its_ack_a_491_ack_and_an_update_match_the_real_edge_proxy() -> None:
    real, model = model_run(REINVITE)
    _compare(real, model)
    kinds = [m[0] if m[0] != "reply" else m[1] for m in model]
    reinvite = model.index(("INVITE", "sip:alice@127.0.0.1:5090"))
    assert kinds[reinvite - 3:reinvite + 1] == ["PUBLISH", "PUBLISH", 100, "INVITE"]  # published before tm's 100
    update = model.index(("UPDATE", "sip:bob@127.0.0.1:5092"))
    bye = model.index(("BYE", "sip:bob@127.0.0.1:5092"))
    assert kinds[update:bye - 2] == ["UPDATE", 200]  # the UPDATE publishes nothing
    states = [m[4].split("<state>")[1].split("<")[0] for m in model if m[0] == "PUBLISH"]
    # 200; re-INVITE, its ACK, pua's new PUBLISHes after the crossing 412s; re-INVITE, the
    # 491's ACK, 412 again; then the BYE
    assert states == ["Trying"] + ["confirmed"] * 14 + ["terminated"] * 2


def test_pubruri_avps_publish_to_each_value_newest_first_as_the_real_edge_proxy_does() -> None:
    real, model = model_run(
        AVPS,
        dialoginfo={"use_pubruri_avps": 1, "pubruri_caller_avp": "$avp(caller_pub)",
                    "pubruri_callee_avp": "$avp(s:callee_pub)"},
        invite_route=(Call("$avp", ("caller_pub", "$fu", "pv")), Call("$avp", ("caller_pub", "garbage", "text")),
                      Call("$avp", ("caller_pub", "sip:alice-desk@127.0.0.1", "text")),
                      Call("$avp", ("callee_pub", "sip:bob-blf@127.0.0.1", "text")),
                      Call("$avp", ("callee_pub", "sip:bob@10.9.9.9", "text")), Call("dlg_manage"),
                      Call("$avp", ("callee_pub", "sip:too-late@127.0.0.1", "text"))),
    )
    _compare(real, model)
    targets = [m[1] for m in model if m[0] == "PUBLISH"]
    assert targets == ["sip:alice-desk@127.0.0.1", "sip:alice@127.0.0.1"] + [
        "sip:alice-desk@127.0.0.1", "sip:alice@127.0.0.1", "sip:bob-blf@127.0.0.1"] * 3
    assert all('entity="sip:alice@127.0.0.1"' in m[4] or 'entity="sip:bob@127.0.0.1"' in m[4]
               for m in model if m[0] == "PUBLISH")


def test_puasim_check_of_the_reinvite_capture_finds_no_difference() -> None:
    """The calls check replays the phones into the model's node, re-INVITEs, their ACKs and the
    UPDATE included, and predicts all 17 dialog PUBLISHes of the real node."""
    from puasim.capture.dlgcheck import check_calls

    report = check_calls(DATA / REINVITE, node_port=5080)
    assert report.ok, report.format()
    assert len(report.rows) == 17 and all(r.model is not None for r in report.rows)
