"""A phone's calls, driven by hand: UAS and UAC cores (RFC 3261 §13-§15, RFC 3262)."""

from __future__ import annotations

import random

from puasim.effects import MILLISECOND, SECOND, Emit, Send, SetTimer
from puasim.phones import Phone, PhoneConfig
from puasim.phones.calls import CallPolicy
from puasim.sip import headers as H
from puasim.sip.message import Request, Response
from puasim.trace.events import Note

EDGE = ("127.0.0.1", 5080)
BOB = ("127.0.0.1", 5092)
RR = "<sip:127.0.0.1:5080;lr;ftag=a1>"


def phone(name: str = "bob", policy: CallPolicy | None = None) -> Phone:
    cfg = PhoneConfig(name=name, aor=f"sip:{name}@127.0.0.1", address=BOB, registrar=EDGE,
                      contacts=(f"sip:{name}@127.0.0.1:5092",), calls=policy or CallPolicy())
    return Phone(cfg, random.Random(3))


def invite(supported: str = "", branch: str = "z9hG4bKinv1") -> Request:
    headers = [("Via", f"SIP/2.0/UDP 127.0.0.1:5080;branch={branch}"),
               ("Via", "SIP/2.0/UDP 127.0.0.1:5090;branch=z9hG4bKalice1"), ("Record-Route", RR),
               ("Max-Forwards", "69"), ("From", "<sip:alice@127.0.0.1>;tag=a1"), ("To", "<sip:bob@127.0.0.1>"),
               ("Call-ID", "c1"), ("CSeq", "1 INVITE"), ("Contact", "<sip:alice@127.0.0.1:5090>")]
    if supported:
        headers.append(("Supported", supported))
    headers.append(("Content-Length", "0"))
    return Request("INVITE", "sip:bob@127.0.0.1:5092", tuple(headers))


def in_dialog(method: str, cseq: int, to_tag: str, branch: str, extra: tuple = ()) -> Request:
    return Request(method, "sip:bob@127.0.0.1:5092", (
        ("Via", f"SIP/2.0/UDP 127.0.0.1:5080;branch={branch}"), ("Max-Forwards", "69"),
        ("From", "<sip:alice@127.0.0.1>;tag=a1"), ("To", f"<sip:bob@127.0.0.1>;tag={to_tag}"), ("Call-ID", "c1"),
        ("CSeq", f"{cseq} {method}"), *extra, ("Content-Length", "0")))


def take(p: Phone) -> tuple[list[Send], list[str], dict]:
    effects = p.outbox.take()
    sends = [e for e in effects if isinstance(e, Send)]
    notes = [e.event.text for e in effects if isinstance(e, Emit) and isinstance(e.event, Note)]
    timers = {e.key: e.at for e in effects if isinstance(e, SetTimer)}
    return sends, notes, timers


def tag_of(r: Response) -> str:
    return H.to(r).tag or ""


def test_callee_rings_with_180_copying_record_route_and_answers_on_the_step():
    p = phone()
    p.receive(invite(), EDGE, 0)
    (ringing,), notes, _ = take(p)
    r = ringing.message
    assert (r.status, ringing.dest) == (180, EDGE)
    assert r.get("record-route") == RR and r.get("contact") == "<sip:bob@127.0.0.1:5092>" and tag_of(r)
    assert notes[-1].endswith("early (180 sent)")
    assert p.answer(SECOND) is True
    (ok,), _, _ = take(p)
    assert ok.message.status == 200 and tag_of(ok.message) == tag_of(r)
    assert p.answer(SECOND) is False  # nothing left ringing


def test_ring_after_delays_the_180_and_an_earlier_answer_skips_it():
    p = phone(policy=CallPolicy(ring_after=0.2))
    p.receive(invite(), EDGE, 0)
    sends, _, timers = take(p)
    assert sends == [] and timers[("call", "c1", "ring")] == 200 * MILLISECOND
    p.timer(("call", "c1", "ring"), 200 * MILLISECOND)
    (ringing,), notes, _ = take(p)
    assert ringing.message.status == 180 and notes[-1].endswith("early (180 sent)")
    # answered before its ring time: a 200 and no 180 at all
    q = phone(policy=CallPolicy(ring_after=0.5, answer_after=0.1))
    q.receive(invite(), EDGE, 0)
    take(q)
    q.timer(("call", "c1", "answer"), 100 * MILLISECOND)
    q.timer(("call", "c1", "ring"), 500 * MILLISECOND)
    sends, _, _ = take(q)
    assert [s.message.status for s in sends] == [200]


def test_cancel_gets_200_and_the_invite_487():
    p = phone()
    p.receive(invite(), EDGE, 0)
    take(p)
    p.receive(Request("CANCEL", "sip:bob@127.0.0.1:5092", (
        ("Via", "SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bKinv1"), ("From", "<sip:alice@127.0.0.1>;tag=a1"),
        ("To", "<sip:bob@127.0.0.1>"), ("Call-ID", "c1"), ("CSeq", "1 CANCEL"), ("Content-Length", "0"))), EDGE, SECOND)
    sends, notes, _ = take(p)
    assert [(s.message.status, s.message.get("cseq")) for s in sends] == [(200, "1 CANCEL"), (487, "1 INVITE")]
    assert notes[-1].endswith("terminated (CANCEL received)")


def test_cancel_of_an_unknown_invite_is_481():
    p = phone()
    p.receive(Request("CANCEL", "sip:bob@127.0.0.1:5092", (
        ("Via", "SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bKnone"), ("From", "<sip:alice@127.0.0.1>;tag=a1"),
        ("To", "<sip:bob@127.0.0.1>"), ("Call-ID", "c9"), ("CSeq", "1 CANCEL"), ("Content-Length", "0"))), EDGE, 0)
    (reply,), _, _ = take(p)
    assert reply.message.status == 481


def test_reliable_183_is_retransmitted_until_prack_and_the_answer_waits_for_it():
    p = phone(policy=CallPolicy(rel100=True))
    p.receive(invite("100rel"), EDGE, 0)
    (first,), _, timers = take(p)
    r183 = first.message
    assert (r183.status, r183.get("require"), r183.get("rseq")) == (183, "100rel", "1")
    tag = tag_of(r183)
    for at in (500, 1500, 3500):  # RFC 3262 §3: T1, doubling
        p.timer(("call", "c1", "rel1xx"), at * MILLISECOND)
        (again,), _, timers = take(p)
        assert again.retransmission and again.message == r183
    assert p.answer(4 * SECOND) is True
    assert take(p)[0] == []  # the 200 waits for the PRACK
    p.receive(in_dialog("PRACK", 2, tag, "z9hG4bKpr1", (("RAck", "2 1 INVITE"),)), EDGE, 5 * SECOND)
    (wrong,), _, _ = take(p)
    assert wrong.message.status == 481  # RAck names an RSeq never sent
    p.receive(in_dialog("PRACK", 3, tag, "z9hG4bKpr2", (("RAck", "1 1 INVITE"),)), EDGE, 5 * SECOND)
    sends, _, _ = take(p)
    assert [(s.message.status, s.message.get("cseq")) for s in sends] == [(200, "3 PRACK"), (200, "1 INVITE")]
    p.timer(("call", "c1", "rel1xx"), 8 * SECOND)  # stale timer: nothing
    assert take(p)[0] == []


def test_no_prack_in_64_t1_rejects_the_invite_with_500():
    p = phone(policy=CallPolicy(rel100=True))
    p.receive(invite("100rel"), EDGE, 0)
    take(p)
    p.timer(("call", "c1", "rel1xx-giveup"), 32 * SECOND)
    (reply,), notes, _ = take(p)
    assert reply.message.status == 500 and notes[-1].endswith("terminated (500 sent)")


def test_without_supported_100rel_the_phone_rings_with_180():
    p = phone(policy=CallPolicy(rel100=True))
    p.receive(invite(), EDGE, 0)
    (ringing,), _, _ = take(p)
    assert ringing.message.status == 180 and ringing.message.get("require") is None


def test_bye_ends_the_call_and_an_unknown_bye_is_481():
    p = phone(policy=CallPolicy(mode="answer"))
    p.receive(invite(), EDGE, 0)
    (ok,), _, _ = take(p)
    tag = tag_of(ok.message)
    p.receive(in_dialog("BYE", 2, tag, "z9hG4bKbye1"), EDGE, SECOND)
    (reply,), notes, _ = take(p)
    assert reply.message.status == 200 and notes[-1].endswith("terminated (BYE received)")
    p.receive(Request("BYE", "sip:bob@127.0.0.1:5092", (
        ("Via", "SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bKbye2"), ("From", "<sip:x@127.0.0.1>;tag=x"),
        ("To", "<sip:bob@127.0.0.1>;tag=y"), ("Call-ID", "other"), ("CSeq", "1 BYE"), ("Content-Length", "0"))),
        EDGE, SECOND)
    (unknown,), _, _ = take(p)
    assert unknown.message.status == 481


def test_callee_hangs_up_after_the_policy_time_with_a_bye_along_the_record_route():
    p = phone(policy=CallPolicy(mode="answer", hangup_after=3))
    p.receive(invite(), EDGE, 0)
    _, _, timers = take(p)
    assert timers[("call", "c1", "bye")] == 3 * SECOND
    p.timer(("call", "c1", "bye"), 3 * SECOND)
    (bye,), _, _ = take(p)
    b = bye.message
    assert b.method == "BYE" and b.uri == "sip:alice@127.0.0.1:5090" and bye.dest == EDGE
    assert b.get("route") == RR and b.get("to") == "<sip:alice@127.0.0.1>;tag=a1"


def caller() -> tuple[Phone, Request]:
    p = phone("alice")
    p.call(0, "sip:bob@127.0.0.1")
    (inv,), _, _ = take(p)
    return p, inv.message


def reply_to(inv: Request, status: int, tag: str, extra: tuple = ()) -> Response:
    keep = [(n, v) for n, v in inv.headers if n in ("Via", "From", "Call-ID", "CSeq")]
    return Response(status, "X", (*keep, ("To", f"<sip:bob@127.0.0.1>;tag={tag}"), ("Record-Route", RR),
                                  ("Contact", "<sip:bob@127.0.0.1:5092>"), *extra, ("Content-Length", "0")))


def test_caller_acks_a_2xx_end_to_end_and_again_for_its_retransmission():
    p, inv = caller()
    assert inv.uri == "sip:bob@127.0.0.1" and inv.get("supported") is None
    ok = reply_to(inv, 200, "b1")
    p.receive(ok, EDGE, SECOND)
    (ack,), notes, _ = take(p)
    a = ack.message
    assert a.method == "ACK" and a.uri == "sip:bob@127.0.0.1:5092" and a.get("route") == RR
    assert a.get("cseq") == "1 ACK" and ack.dest == EDGE and notes[-1].endswith("confirmed (200 OK)")
    assert H.top_via(a).branch != H.top_via(inv).branch  # an ACK for a 2xx is a transaction of its own
    p.receive(ok, EDGE, 2 * SECOND)
    (again,), _, _ = take(p)
    assert again.retransmission and again.message == a


def test_a_second_2xx_from_another_fork_is_acked_and_hung_up():
    p, inv = caller()
    p.receive(reply_to(inv, 200, "b1"), EDGE, SECOND)
    take(p)
    p.receive(reply_to(inv, 200, "b2"), EDGE, SECOND)
    sends, _, _ = take(p)
    assert [(s.message.method, s.message.get("to")) for s in sends] == [
        ("ACK", "<sip:bob@127.0.0.1>;tag=b2"), ("BYE", "<sip:bob@127.0.0.1>;tag=b2")]


def test_reliable_provisional_is_pracked_once_per_rseq():
    p = phone("alice")
    p.call(0, "sip:bob@127.0.0.1", rel100=True)
    (inv,), _, _ = take(p)
    assert inv.message.get("supported") == "100rel"
    r183 = reply_to(inv.message, 183, "b1", (("Require", "100rel"), ("RSeq", "1")))
    p.receive(r183, EDGE, SECOND)
    (prack,), _, _ = take(p)
    assert (prack.message.method, prack.message.get("rack"), prack.message.get("cseq")) == ("PRACK", "1 1 INVITE", "2 PRACK")
    p.receive(r183, EDGE, SECOND + 500 * MILLISECOND)
    assert take(p)[0] == []


def test_cancel_waits_for_a_provisional_and_a_late_one_is_refused():
    p, inv = caller()
    assert p.cancel(0) is True
    assert take(p)[0] == []
    p.receive(reply_to(inv, 180, "b1"), EDGE, SECOND)
    (cancel,), _, _ = take(p)
    assert cancel.message.method == "CANCEL"
    p2, inv2 = caller()
    p2.receive(reply_to(inv2, 486, "b1"), EDGE, SECOND)
    take(p2)
    assert p2.cancel(2 * SECOND) is False
    _, notes, _ = take(p2)
    assert "no outgoing call to cancel" in notes[-1]


def test_hangup_without_a_call_says_so():
    p = phone()
    assert p.hangup(0) is False
    _, notes, _ = take(p)
    assert notes == ["bob: no call to hang up"]


def answered() -> tuple[Phone, str]:
    """bob with an answered and ACKed call from alice; returns the phone and its To-tag."""
    p = phone()
    p.receive(invite(), EDGE, 0)
    (ringing,), _, _ = take(p)
    p.answer(SECOND)
    take(p)
    tag = tag_of(ringing.message)
    p.receive(in_dialog("ACK", 1, tag, "z9hG4bKack1"), EDGE, SECOND)
    take(p)
    return p, tag


def test_caller_reinvite_holds_with_sdp_acks_its_2xx_and_refreshes_the_target():
    p, inv = caller()
    p.receive(reply_to(inv, 200, "b1"), EDGE, SECOND)
    take(p)
    assert p.reinvite(2 * SECOND, on_hold=True) is True
    (re,), notes, _ = take(p)
    r = re.message
    assert (r.method, r.uri, r.get("cseq"), r.get("route"), r.get("to")) == (
        "INVITE", "sip:bob@127.0.0.1:5092", "2 INVITE", RR, "<sip:bob@127.0.0.1>;tag=b1")
    assert r.get("content-type") == "application/sdp" and b"a=sendonly\r\n" in r.body
    assert r.get("content-length") == str(len(r.body)) and re.dest == EDGE
    assert p.reinvite(2 * SECOND) is False  # §14.1: one re-INVITE at a time
    ok = Response(200, "OK", (*[(n, v) for n, v in r.headers if n in ("Via", "From", "Call-ID", "CSeq")],
                              ("To", "<sip:bob@127.0.0.1>;tag=b1"), ("Contact", "<sip:bob@127.0.0.1:6000>"),
                              ("Content-Length", "0")))
    p.receive(ok, EDGE, 3 * SECOND)
    (ack,), _, _ = take(p)
    assert (ack.message.method, ack.message.get("cseq"), ack.message.uri) == ("ACK", "2 ACK", "sip:bob@127.0.0.1:6000")
    p.receive(ok, EDGE, 4 * SECOND)  # a retransmitted 2xx gets the same ACK
    (again,), _, _ = take(p)
    assert again.retransmission and again.message == ack.message
    assert p.reinvite(5 * SECOND, on_hold=False) is True
    (resume,), _, _ = take(p)
    assert resume.message.get("cseq") == "3 INVITE" and b"a=sendrecv" in resume.message.body
    assert b" 2 IN IP4 " in resume.message.body  # RFC 3264 §8: the origin version counts up


def test_a_481_to_a_reinvite_ends_the_call_other_failures_leave_it():
    for status, ends in ((481, True), (488, False)):
        p, inv = caller()
        p.receive(reply_to(inv, 200, "b1"), EDGE, SECOND)
        take(p)
        p.reinvite(2 * SECOND)
        (re,), _, _ = take(p)
        p.receive(reply_to(re.message, status, "b1"), EDGE, 3 * SECOND)
        sends, notes, _ = take(p)
        assert [s.message.method for s in sends] == (["ACK", "BYE"] if ends else ["ACK"])
        assert ("terminated (re-INVITE failed" in notes[-1]) is ends
        assert p.calls.latest() is (None if ends else p.calls.calls[inv.get("call-id")])


def test_callee_answers_a_reinvite_with_the_mirrored_direction_and_491_on_glare():
    p, tag = answered()
    body = b"v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=sendonly\r\n"
    re = in_dialog("INVITE", 2, tag, "z9hG4bKre2", (("Contact", "<sip:alice@127.0.0.1:7000>"),
                                                    ("Content-Type", "application/sdp")))
    re = Request("INVITE", re.uri, tuple(h for h in re.headers if h[0] != "Content-Length")
                 + (("Content-Length", str(len(body))),), body)
    p.receive(re, EDGE, 2 * SECOND)
    (ok,), notes, _ = take(p)
    assert ok.message.status == 200 and b"a=recvonly" in ok.message.body and tag_of(ok.message) == tag
    assert ok.message.get("content-type") == "application/sdp" and "re-INVITE received (sendonly)" in notes[-1]
    assert p.calls.calls["c1"].remote_target == "sip:alice@127.0.0.1:7000"
    # its ACK has not come: a re-INVITE of bob's own would cross it
    assert p.reinvite(2 * SECOND) is False
    p.receive(in_dialog("ACK", 2, tag, "z9hG4bKack2"), EDGE, 2 * SECOND)
    take(p)
    assert p.reinvite(3 * SECOND) is True
    take(p)
    p.receive(in_dialog("INVITE", 3, tag, "z9hG4bKre3"), EDGE, 3 * SECOND)  # glare
    (pending,), _, _ = take(p)
    assert pending.message.status == 491
    p.receive(in_dialog("INVITE", 4, "wrong", "z9hG4bKre4"), EDGE, 3 * SECOND)
    (unknown,), _, _ = take(p)
    assert unknown.message.status == 481


def test_a_reinvite_before_the_first_invite_is_answered_gets_500_with_retry_after():
    p = phone()
    p.receive(invite(), EDGE, 0)
    (ringing,), _, _ = take(p)
    p.receive(in_dialog("INVITE", 2, tag_of(ringing.message), "z9hG4bKre2"), EDGE, SECOND)
    (busy,), _, _ = take(p)
    assert busy.message.status == 500 and busy.message.get("retry-after")


def test_update_in_the_early_dialog_both_ways_and_481_without_a_dialog():
    p = phone()
    p.receive(invite(), EDGE, 0)
    (ringing,), _, _ = take(p)
    tag = tag_of(ringing.message)
    p.receive(in_dialog("UPDATE", 2, tag, "z9hG4bKup2", (("Contact", "<sip:alice@127.0.0.1:7000>"),)), EDGE, SECOND)
    (ok,), notes, _ = take(p)
    assert (ok.message.status, ok.message.get("cseq"), ok.message.body) == (200, "2 UPDATE", b"")
    assert "UPDATE received (no SDP)" in notes[-1]
    assert p.update(SECOND, on_hold=True) is True  # the callee in its early dialog
    (up,), _, _ = take(p)
    assert (up.message.method, up.message.get("to"), up.message.get("route")) == (
        "UPDATE", "<sip:alice@127.0.0.1>;tag=a1", RR)
    assert b"a=sendonly" in up.message.body
    p.receive(in_dialog("UPDATE", 3, "other", "z9hG4bKup3"), EDGE, SECOND)
    (refused,), _, _ = take(p)
    assert refused.message.status == 481
    caller_phone, inv = caller()
    assert caller_phone.update(0) is False  # no early dialog before a 1xx with To-tag
    caller_phone.receive(reply_to(inv, 180, "b1"), EDGE, SECOND)
    take(caller_phone)
    assert caller_phone.update(SECOND) is True
