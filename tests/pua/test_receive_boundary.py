"""The pua node's receive boundary (issue 16, items 1 and 4): Kamailio drops what it cannot parse."""

from __future__ import annotations

from dataclasses import replace

import pytest

from puasim.pua import subscribe
from puasim.sip.errors import SipParseError
from puasim.sip.message import Request, Response
from puasim.trace.events import MessageRejected, TransactionFinished
from tests.pua.harness import BOB, PIDF, Harness

SERVER = ("127.0.0.1", 5060)


def _options(*extra: tuple[str, str], via: str = "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKo1") -> Request:
    return Request(
        "OPTIONS", BOB,
        (("Via", via), ("From", "<sip:srv@127.0.0.1>;tag=f1"), ("To", f"<{BOB}>"),
         ("Call-ID", "c1@127.0.0.1"), ("CSeq", "1 OPTIONS"), *extra, ("Content-Length", "0")),
    )


def _rejected(h: Harness) -> list[MessageRejected]:
    return [e for e in h.events if isinstance(e, MessageRejected)]


def test_a_malformed_rport_is_answered_to_the_source_port():
    h = Harness.make()
    src = ("127.0.0.1", 40000)
    h.pua.receive(_options(via="SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKo1;rport=abc"), src, h.now)
    h.collect()
    (out,) = h.sent
    assert out.message.status == 200 and out.dest == src
    assert _rejected(h) == []


@pytest.mark.parametrize("drop", ["Via", "From", "To", "Call-ID", "CSeq"])
def test_a_request_without_a_required_header_is_dropped_as_receive_msg_does(drop):
    h = Harness.make()
    h.pua.receive(_options().without_header(drop), SERVER, h.now)
    h.collect()
    assert h.sent == []
    (rej,) = _rejected(h)
    assert rej.status == 0 and rej.src == SERVER and drop in rej.reason


def test_a_parse_error_escaping_a_handler_costs_that_message_only(monkeypatch):
    h = Harness.make()

    def broken(pua, txn, now):
        raise SipParseError("bad value", 3, "Subscription-State")

    monkeypatch.setattr(subscribe, "answer_request", broken)
    h.pua.receive(_options(), SERVER, h.now)
    h.collect()
    (rej,) = _rejected(h)
    assert rej.reason == "OPTIONS: bad value (Subscription-State header, offset 3)"
    monkeypatch.undo()
    h.pua.receive(_options(via="SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKo2"), SERVER, h.now)
    h.collect()
    assert h.sent[-1].message.status == 200


# -- item 4: another SIP-Version ------------------------------------------------------------
def test_a_request_of_another_version_is_dropped_without_a_reply():
    h = Harness.make()
    h.pua.receive(replace(_options(), version="SIP/3.0"), SERVER, h.now)
    h.collect()
    assert h.sent == []
    (rej,) = _rejected(h)
    assert rej.status == 0 and "SIP/3.0" in rej.reason


def test_a_reply_of_another_version_never_reaches_the_transaction():
    """Kamailio does not take ``SIP/3.0 200 OK`` for a reply: tm never sees it, fr_timer runs out."""
    h = Harness.make()
    h.publish(expires=3600, body=PIDF)
    req = h.last("PUBLISH")
    keep = tuple((n, v) for n, v in req.headers if n.lower() in ("via", "from", "to", "call-id", "cseq"))
    reply = Response(200, "OK", (*keep, ("Expires", "3600"), ("SIP-ETag", "e1"), ("Content-Length", "0")), b"", "SIP/3.0")
    h.pua.receive(reply, SERVER, h.now)
    h.collect()
    assert h.records() == [] and len(_rejected(h)) == 1
    h.advance(40)
    finished = [e for e in h.events if isinstance(e, TransactionFinished)]
    assert [(f.status, f.faked) for f in finished] == [(408, True)]
