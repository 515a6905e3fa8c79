"""Typed values a builder primes on a message equal what parsing its text gives."""

from __future__ import annotations

import random

import pytest

from puasim.effects import Outbox, Send
from puasim.sip import headers as H
from puasim.sip.message import Request
from puasim.txn import TransactionLayer
from tests.server.server_helpers import answer, make_server, publish

TYPED = (H.via_list, H.top_via, H.from_, H.to, H.cseq, H.call_id)


def reparsed(msg):
    primed = {name: value for name, value in (msg._typed or {}).items()}
    ours = [f(msg) for f in TYPED]
    msg.drop_caches()
    return primed, ours, [f(msg) for f in TYPED]


@pytest.mark.parametrize("host", ["127.0.0.1", "pua.example.com", "[2001:db8::1]"])
@pytest.mark.parametrize("rport", [False, True])
def test_a_new_request_primes_its_via_as_parsing_would(host, rport):
    layer = TransactionLayer(Outbox(), host, 5070, random.Random(1), rport=rport)
    req = Request("PUBLISH", "sip:a@b", (("To", "<sip:a@b>"), ("From", "<sip:a@b>;tag=1"), ("CSeq", "10 PUBLISH"), ("Call-ID", "x")))
    for _ in range(2):
        layer.send_request(req, ("127.0.0.1", 5060), 0)
    sends = [e.message for e in layer.outbox.take() if isinstance(e, Send)]
    assert len(sends) == 2 and H.top_via(sends[0]).branch != H.top_via(sends[1]).branch
    for msg in sends:
        primed, ours, parsed = reparsed(msg)
        assert {"via_list", "top_via"} <= set(primed)
        assert ours == parsed


def test_a_request_that_already_has_a_via_is_not_primed():
    layer = TransactionLayer(Outbox(), "127.0.0.1", 5070, random.Random(1))
    req = Request("OPTIONS", "sip:a@b", (("Via", "SIP/2.0/UDP proxy:5060;branch=z9hG4bKp"), ("CSeq", "1 OPTIONS")))
    layer.send_request(req, ("127.0.0.1", 5060), 0)
    (msg,) = [e.message for e in layer.outbox.take() if isinstance(e, Send)]
    assert not (msg._typed or {})
    assert [v.host for v in H.via_list(msg)] == ["127.0.0.1", "proxy"]


@pytest.mark.parametrize("read_first", [False, True])
def test_a_reply_shares_its_requests_parsed_fields_as_parsing_would(read_first):
    srv = make_server()
    req = publish("sip:alice@127.0.0.1")
    if read_first:
        [f(req) for f in TYPED]
    reply = answer(srv, req)
    primed, ours, parsed = reparsed(reply)
    want = {"via_list", "cseq", "call-id", "from"} if read_first else {"via_list"}
    assert want <= set(primed)
    assert ours == parsed and H.to(reply).tag
