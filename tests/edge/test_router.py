"""The edge node routes calls between registered phones (tm as a stateful proxy, RFC 3261 §16)."""

from __future__ import annotations

from puasim.edge import Call, EdgeProxy, NodeConfig, Script
from puasim.edge.router import pop_via
from puasim.effects import SECOND, Send
from puasim.node.registrar import RegistrarConfig
from puasim.pua.config import load_config
from puasim.pua.model import Pua
from puasim.sip import headers as H
from puasim.sip.message import Request, Response
from tests.node.helpers import register

ALICE = ("127.0.0.1", 5090)


def edge() -> EdgeProxy:
    pua = Pua(load_config({"outbound_proxy": "sip:127.0.0.1:5060"}), host="127.0.0.1", port=5080)
    node = EdgeProxy(pua, NodeConfig(registrar=RegistrarConfig(min_expires=0), server_header="edge"),
                     Script((Call("save", ("location",)),)))
    node.start(0)
    node.outbox.take()
    return node


def sent(node: EdgeProxy) -> list[Send]:
    return [e for e in node.outbox.take() if isinstance(e, Send)]


def with_bob(*contacts: str) -> EdgeProxy:
    node = edge()
    for i, c in enumerate(contacts):
        node.receive(register([f"<{c}>"], user="bob", call_id=f"reg{i}", branch=f"z9hG4bK-r{i}"), ("127.0.0.1", 5098), 0)
    node.outbox.take()
    return node


def invite(mf: str = "70", branch: str = "z9hG4bKa1") -> Request:
    return Request("INVITE", "sip:bob@127.0.0.1", (
        ("Via", f"SIP/2.0/UDP 127.0.0.1:5090;branch={branch}"), ("Max-Forwards", mf),
        ("From", "<sip:alice@127.0.0.1>;tag=at1"), ("To", "<sip:bob@127.0.0.1>"), ("Call-ID", "call1"),
        ("CSeq", "1 INVITE"), ("Contact", "<sip:alice@127.0.0.1:5090>"), ("Content-Length", "0")))


def answer(fwd: Request, status: int, tag: str = "bt1") -> Response:
    keep = [(n, v) for n, v in fwd.headers if n in ("Via", "Record-Route", "From", "Call-ID", "CSeq")]
    return Response(status, "R", (*keep, ("To", f"<sip:bob@127.0.0.1>;tag={tag}"), ("Content-Length", "0")))


def test_invite_gets_100_then_is_record_routed_to_the_contact():
    node = with_bob("sip:bob@127.0.0.1:5092")
    node.receive(invite(), ALICE, SECOND)
    trying, fwd = sent(node)
    assert (trying.message.status, trying.message.reason) == (100, "trying -- your call is important to us")
    assert trying.dest == ALICE and trying.message.get("server") == "edge"
    f = fwd.message
    assert (f.uri, fwd.dest) == ("sip:bob@127.0.0.1:5092", ("127.0.0.1", 5092))
    assert f.get("record-route") == "<sip:127.0.0.1:5080;lr;ftag=at1>" and f.get("max-forwards") == "69"
    vias = H.via_list(f)
    assert (vias[0].host, vias[0].port) == ("127.0.0.1", 5080) and vias[1].branch == "z9hG4bKa1"


def test_no_contact_is_404_and_max_forwards_0_is_483():
    node = edge()
    node.receive(invite(), ALICE, SECOND)
    assert [s.message.status for s in sent(node)] == [404]  # a stateless reply: no 100 first
    node = with_bob("sip:bob@127.0.0.1:5092")
    node.receive(invite("0"), ALICE, SECOND)
    assert [s.message.status for s in sent(node)] == [483]


def test_replies_go_up_without_the_top_via_and_2xx_cancels_the_other_branch():
    node = with_bob("sip:bob@127.0.0.1:5092", "sip:bob@127.0.0.1:5093")
    node.receive(invite(), ALICE, SECOND)
    _, b1, b2 = sent(node)
    node.receive(answer(b1.message, 100), b1.dest, SECOND)
    node.receive(answer(b2.message, 180, "bt2"), b2.dest, SECOND)
    node.receive(answer(b1.message, 180), b1.dest, SECOND)
    up = sent(node)
    assert [s.message.status for s in up] == [180, 180] and all(s.dest == ALICE for s in up)
    assert [v.branch for v in H.via_list(up[0].message)] == ["z9hG4bKa1"]
    node.receive(answer(b1.message, 200), b1.dest, 2 * SECOND)
    ok, cancel = sent(node)
    assert ok.message.status == 200 and ok.dest == ALICE
    assert cancel.message.method == "CANCEL" and cancel.dest == b2.dest
    assert H.top_via(cancel.message).branch == H.top_via(b2.message).branch
    node.receive(answer(b2.message, 487, "bt2"), b2.dest, 2 * SECOND)
    (ack,) = sent(node)  # the 487 is ACKed hop by hop and never relayed
    assert ack.message.method == "ACK" and ack.dest == b2.dest


def test_best_final_when_every_branch_failed_is_the_lowest_status_and_6xx_wins():
    node = with_bob("sip:bob@127.0.0.1:5092", "sip:bob@127.0.0.1:5093")
    node.receive(invite(), ALICE, SECOND)
    _, b1, b2 = sent(node)
    node.receive(answer(b1.message, 486), b1.dest, SECOND)
    assert [s.message.method for s in sent(node)] == ["ACK"]  # waits for the other branch
    node.receive(answer(b2.message, 480, "bt2"), b2.dest, SECOND)
    ack, up = sent(node)
    assert up.message.status == 480 and up.dest == ALICE
    node = with_bob("sip:bob@127.0.0.1:5092", "sip:bob@127.0.0.1:5093")
    node.receive(invite(branch="z9hG4bKa2"), ALICE, SECOND)
    _, b1, b2 = sent(node)
    node.receive(answer(b2.message, 180, "bt2"), b2.dest, SECOND)
    sent(node)
    node.receive(answer(b1.message, 603), b1.dest, SECOND)
    # a 6xx CANCELs the rest (§16.7 step 5) and is the final once they end
    assert [s.message.method for s in sent(node)] == ["ACK", "CANCEL"]
    node.receive(answer(b2.message, 487, "bt2"), b2.dest, SECOND)
    assert [s.message.status if isinstance(s.message, Response) else s.message.method
            for s in sent(node)] == ["ACK", 603]


def test_cancel_matches_the_invite_or_gets_481():
    node = with_bob("sip:bob@127.0.0.1:5092")
    node.receive(invite(), ALICE, SECOND)
    _, b1 = sent(node)
    node.receive(answer(b1.message, 180), b1.dest, SECOND)
    sent(node)
    cancel = Request("CANCEL", "sip:bob@127.0.0.1", tuple(
        (n, "1 CANCEL" if n == "CSeq" else v) for n, v in invite().headers if n != "Contact"))
    node.receive(cancel, ALICE, 2 * SECOND)
    down, ok = sent(node)  # the branch's CANCEL leaves before the 200 (lab 10)
    assert (ok.message.status, ok.message.reason, ok.dest) == (200, "canceling", ALICE)
    assert down.message.method == "CANCEL" and down.dest == b1.dest
    stray = Request("CANCEL", "sip:bob@127.0.0.1", tuple(
        (n, "SIP/2.0/UDP 127.0.0.1:5090;branch=z9hG4bKzz" if n == "Via" else v) for n, v in cancel.headers))
    node.receive(stray, ALICE, 2 * SECOND)
    assert [s.message.status for s in sent(node)] == [481]


def test_in_dialog_requests_are_loose_routed_and_others_get_404_not_here():
    node = with_bob("sip:bob@127.0.0.1:5092")
    bye = Request("BYE", "sip:bob@127.0.0.1:5092", (
        ("Via", "SIP/2.0/UDP 127.0.0.1:5090;branch=z9hG4bKb1"), ("Route", "<sip:127.0.0.1:5080;lr;ftag=at1>"),
        ("Max-Forwards", "70"), ("From", "<sip:alice@127.0.0.1>;tag=at1"), ("To", "<sip:bob@127.0.0.1>;tag=bt1"),
        ("Call-ID", "call1"), ("CSeq", "2 BYE"), ("Content-Length", "0")))
    node.receive(bye, ALICE, SECOND)
    (fwd,) = sent(node)
    assert fwd.dest == ("127.0.0.1", 5092) and fwd.message.get("route") is None
    assert fwd.message.get("max-forwards") == "69" and len(H.via_list(fwd.message)) == 2
    node.receive(answer(fwd.message, 200).with_header("CSeq", "2 BYE"), fwd.dest, SECOND)
    (up,) = sent(node)
    assert up.message.status == 200 and up.dest == ALICE and len(H.via_list(up.message)) == 1
    node.receive(bye.without_header("Route").with_header("Via", "SIP/2.0/UDP 127.0.0.1:5090;branch=z9hG4bKb2"),
                 ALICE, SECOND)
    (nothere,) = sent(node)
    assert (nothere.message.status, nothere.message.reason) == (404, "Not here")


def test_pop_via_handles_values_sharing_one_line():
    r = Response(200, "OK", (("Via", "SIP/2.0/UDP a:1;branch=z9hG4bK1, SIP/2.0/UDP b:2;branch=z9hG4bK2"),
                             ("Via", "SIP/2.0/UDP c:3;branch=z9hG4bK3")))
    assert [v.host for v in H.via_list(pop_via(r))] == ["b", "c"]


def reinvite(branch: str = "z9hG4bKr1") -> Request:
    return Request("INVITE", "sip:bob@127.0.0.1:5092", (
        ("Via", f"SIP/2.0/UDP 127.0.0.1:5090;branch={branch}"), ("Route", "<sip:127.0.0.1:5080;lr;ftag=at1>"),
        ("Max-Forwards", "70"), ("From", "<sip:alice@127.0.0.1>;tag=at1"), ("To", "<sip:bob@127.0.0.1>;tag=bt1"),
        ("Call-ID", "call1"), ("CSeq", "2 INVITE"), ("Contact", "<sip:alice@127.0.0.1:5090>"),
        ("Content-Length", "0")))


def test_a_reinvite_gets_100_and_goes_through_an_invite_transaction():
    node = with_bob("sip:bob@127.0.0.1:5092")
    node.receive(reinvite(), ALICE, SECOND)
    trying, fwd = sent(node)
    assert (trying.message.status, trying.message.reason, trying.dest) == (100, "trying -- your call is important to us", ALICE)
    f = fwd.message
    assert (f.method, fwd.dest, f.get("route"), f.get("max-forwards")) == ("INVITE", ("127.0.0.1", 5092), None, "69")
    assert f.get("record-route") is None  # in-dialog requests are not record-routed
    node.receive(answer(f, 100).with_header("CSeq", "2 INVITE"), fwd.dest, SECOND)
    node.receive(answer(f, 180).with_header("CSeq", "2 INVITE"), fwd.dest, SECOND)
    ok = answer(f, 200).with_header("CSeq", "2 INVITE")
    node.receive(ok, fwd.dest, 2 * SECOND)
    node.receive(ok, fwd.dest, 3 * SECOND)  # the UAS retransmits its 2xx: each goes up
    assert [(s.message.status, s.dest) for s in sent(node)] == [(180, ALICE), (200, ALICE), (200, ALICE)]


class Seen:
    """An observer that records the in-dialog requests the script's loose_route() sees."""

    def __init__(self) -> None:
        self.requests: list[str] = []

    def invite_relayed(self, proxied, now) -> None:
        pass

    def reply_forwarded(self, proxied, reply, faked, now) -> None:
        pass

    def in_dialog(self, request, now) -> None:
        self.requests.append(request.method)


def test_a_failed_reinvite_goes_up_once_and_its_ack_stays_hop_by_hop():
    node = with_bob("sip:bob@127.0.0.1:5092")
    seen = Seen()
    node.router.observers.append(seen)
    node.receive(reinvite(), ALICE, SECOND)
    _, fwd = sent(node)
    busy = answer(fwd.message, 491).with_header("CSeq", "2 INVITE")
    node.receive(busy, fwd.dest, SECOND)
    ack, up = sent(node)
    assert (ack.message.method, ack.dest) == ("ACK", fwd.dest) and (up.message.status, up.dest) == (491, ALICE)
    node.receive(busy, fwd.dest, 2 * SECOND)
    assert [s.message.method for s in sent(node)] == ["ACK"]  # the retransmission is ACKed, not relayed
    node.receive(Request("ACK", "sip:bob@127.0.0.1:5092", tuple(
        (n, "2 ACK" if n == "CSeq" else v) for n, v in reinvite().headers if n != "Contact")), ALICE, 2 * SECOND)
    assert sent(node) == []  # absorbed by the server transaction...
    assert seen.requests == ["INVITE", "ACK"]  # ...after loose_route() showed it to the dialog module


def test_a_reinvite_nobody_answers_gets_tm_408():
    node = with_bob("sip:bob@127.0.0.1:5092")
    node.receive(reinvite(), ALICE, SECOND)
    sent(node)
    node.timer(("txn", "c", next(b for (b, m) in node.router.layer.clients if m == "INVITE"), "INVITE", "B"),
               40 * SECOND)
    assert [(s.message.status, s.dest) for s in sent(node) if isinstance(s.message, Response)] == [(408, ALICE)]
