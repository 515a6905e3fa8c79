"""A BLA phone is the notifier of its line's dialog;sla state (draft-anil-sipping-bla-03, RFC 6665, RFC 4235)."""

from __future__ import annotations

import random

from puasim.effects import SECOND, Emit, Send
from puasim.phones import Phone, PhoneConfig
from puasim.sip.message import Request

EDGE = ("127.0.0.1", 5080)
PHONE = ("127.0.0.1", 5094)


def phone(**kw: object) -> Phone:
    cfg = PhoneConfig(name="bla1", aor="sip:bla1@127.0.0.1", address=PHONE, registrar=EDGE,
                      contacts=("sip:bla1@127.0.0.1:5094",), **kw)  # type: ignore[arg-type]
    return Phone(cfg, random.Random(1))


def subscribe(expires: int, to_tag: str = "", cseq: int = 10) -> Request:
    return Request("SUBSCRIBE", "sip:bla1@127.0.0.1:5094", (
        ("Via", f"SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK-s{cseq}"), ("To", "<sip:bla1@127.0.0.1>" + to_tag),
        ("From", "<sip:bla1@127.0.0.1>;tag=edge1"), ("CSeq", f"{cseq} SUBSCRIBE"), ("Call-ID", "c1@127.0.0.1"),
        ("Max-Forwards", "70"), ("Event", "dialog;sla"), ("Contact", "<sip:bla@127.0.0.1:5080>"),
        ("Expires", str(expires)), ("Content-Length", "0")))


def sends(p: Phone) -> list[Send]:
    return [e for e in p.outbox.take() if isinstance(e, Send)]


def test_subscribe_gets_200_then_an_active_notify_to_the_subscribers_contact() -> None:
    p = phone(bla=True, bla_version=7)
    p.receive(subscribe(130), EDGE, SECOND)
    ok, notify = sends(p)
    assert ok.message.status == 200 and ok.message.get("expires") == "130"
    tag = ok.message.get("to").partition(";tag=")[2]
    n = notify.message
    assert notify.dest == EDGE and n.method == "NOTIFY" and n.uri == "sip:bla@127.0.0.1:5080"
    assert n.get("to") == "<sip:bla1@127.0.0.1>;tag=edge1" and n.get("from") == f"<sip:bla1@127.0.0.1>;tag={tag}"
    assert (n.get("subscription-state"), n.get("event"), n.get("call-id")) == ("active;expires=130", "dialog;sla",
                                                                             "c1@127.0.0.1")
    assert b'version="7"' in n.body and b"<dialog " not in n.body


def test_line_state_notifies_in_the_same_dialog_and_counts_versions_and_cseq() -> None:
    p = phone(bla=True)
    p.receive(subscribe(130), EDGE, SECOND)
    first = sends(p)[1].message
    p.line_state(2 * SECOND, "confirmed", "l1")
    n = sends(p)[0].message
    assert n.get("cseq") == "2 NOTIFY" and n.get("from") == first.get("from")
    assert b'version="1"' in n.body and b'<dialog id="l1" direction="recipient">' in n.body
    assert b"<state>confirmed</state>" in n.body


def test_unsubscribe_is_answered_then_a_terminated_notify_ends_the_subscription() -> None:
    p = phone(bla=True)
    p.receive(subscribe(130), EDGE, SECOND)
    tag = sends(p)[0].message.get("to").partition(";tag=")[2]
    p.receive(subscribe(0, f";tag={tag}", cseq=11), EDGE, 2 * SECOND)
    ok, notify = sends(p)
    assert ok.message.get("to").endswith(f";tag={tag}") and notify.message.get("cseq") == "2 NOTIFY"
    assert notify.message.get("subscription-state") == "terminated;reason=timeout"
    assert p.bla_dialog is None
    p.line_state(3 * SECOND, "early")
    events = p.outbox.take()
    assert not [e for e in events if isinstance(e, Send)]
    assert any("no dialog;sla subscription" in getattr(e.event, "text", "") for e in events if isinstance(e, Emit))


def test_malformed_notifies_leave_out_what_they_are_told() -> None:
    p = phone(bla=True)
    p.receive(subscribe(130), EDGE, SECOND)
    p.outbox.take()
    p.line_state(2 * SECOND, "early", omit=("contact", "body", "subscription_state"))
    n = sends(p)[0].message
    assert n.get("contact") is None and n.get("subscription-state") is None and n.body == b""
    assert n.get("content-length") == "0"


def test_a_phone_without_bla_answers_subscribe_405() -> None:
    p = phone()
    p.receive(subscribe(130), EDGE, SECOND)
    out = sends(p)
    assert [s.message.status for s in out] == [405]
