"""Server non-INVITE transaction over UDP (RFC 3261 §17.2.2) and response routing (§18.2.2)."""

from __future__ import annotations

import pytest

from puasim.effects import MILLISECOND, SECOND
from puasim.txn import KAMAILIO_TM, RFC3261, SERVER_TRANSITIONS, State, TransactionError
from tests.txn.support import Driver, make_request, reply

PEER = ("10.0.0.9", 5070)
BRANCH = "z9hG4bKpeer1"
VIA = f"SIP/2.0/UDP 10.0.0.9:5070;branch={BRANCH}"


def incoming(n: int = 1, via: str = VIA):
    return make_request(n, via=via)


def test_new_request_goes_to_the_tu_and_retransmissions_are_absorbed_in_trying():
    d = Driver.make()
    req = incoming()
    txn = d.receive(req, PEER)
    assert txn is not None and txn.state is State.TRYING and txn.request is req
    assert txn.key == (BRANCH, ("10.0.0.9", 5070), "PUBLISH")
    for _ in range(3):
        d.now += 500 * MILLISECOND
        assert d.receive(req, PEER) is None  # no TU delivery
    assert d.sent == [] and txn.state is State.TRYING


def test_retransmission_in_proceeding_resends_the_provisional():
    d = Driver.make()
    req = incoming()
    txn = d.receive(req, PEER)
    trying = reply(req, 100)
    d.respond(txn, trying)
    assert txn.state is State.PROCEEDING
    assert d.receive(req, PEER) is None
    assert [(s.message, s.dest, s.retransmission) for _, s in d.sent] == [
        (trying, PEER, False),
        (trying, PEER, True),
    ]


def test_final_then_retransmissions_resend_it_until_timer_j():
    d = Driver.make()
    req = incoming()
    txn = d.receive(req, PEER)
    d.now = 10 * MILLISECOND
    ok = reply(req, 200)
    d.respond(txn, ok)
    assert txn.state is State.COMPLETED
    key = ("txn", "s", txn.key, "J")
    assert d.timers == {key: 10 * MILLISECOND + RFC3261.j}
    d.advance(SECOND)
    assert d.receive(req, PEER) is None
    d.advance(20 * SECOND)
    assert d.receive(req, PEER) is None
    assert [(t, s.message, s.retransmission) for t, s in d.sent] == [
        (10 * MILLISECOND, ok, False),
        (SECOND, ok, True),
        (20 * SECOND, ok, True),
    ]
    with pytest.raises(TransactionError, match="Completed"):
        txn.respond(reply(req, 500, "Server Error"), d.now)
    # Timer J (64*T1 for UDP) ends the transaction; the same request is new again
    d.run_out()
    assert d.now == 10 * MILLISECOND + 32 * SECOND
    assert txn.state is State.TERMINATED and d.layer.servers == {}
    again = d.receive(req, PEER)
    assert again is not None and again is not txn
    assert len(d.sent) == 3


def test_timer_j_is_64_t1_in_both_configs():
    assert KAMAILIO_TM.j == RFC3261.j == 64 * RFC3261.t1


def test_requests_are_told_apart_by_branch_sent_by_and_method():
    d = Driver.make()
    a = d.receive(incoming(1), PEER)
    other_branch = d.receive(incoming(1, via="SIP/2.0/UDP 10.0.0.9:5070;branch=z9hG4bKpeer2"), PEER)
    other_sent_by = d.receive(incoming(1, via=f"SIP/2.0/UDP 10.0.0.8:5070;branch={BRANCH}"), ("10.0.0.8", 5070))
    other_method = d.receive(make_request(1, method="SUBSCRIBE", via=VIA), PEER)
    assert None not in (a, other_branch, other_sent_by, other_method)
    assert len(d.layer.servers) == 4


def test_requests_without_a_magic_branch_are_not_matched():
    d = Driver.make()
    req = incoming(via="SIP/2.0/UDP 10.0.0.9:5070;branch=old-style")
    assert d.receive(req, PEER) is not None
    assert d.receive(req, PEER) is not None  # RFC 2543 matching is not done: both reach the TU
    assert d.layer.servers == {}


def test_send_provisional_after_final_is_refused():
    d = Driver.make()
    req = incoming()
    txn = d.receive(req, PEER)
    d.respond(txn, reply(req, 202, "Accepted"))
    with pytest.raises(TransactionError):
        txn.respond(reply(req, 100), d.now)


def test_the_server_table_ends_in_terminated():
    assert not any(s is State.TERMINATED for s, _ in SERVER_TRANSITIONS)
    assert SERVER_TRANSITIONS[(State.COMPLETED, "timer_j")] is State.TERMINATED


@pytest.mark.parametrize(
    ("via", "source", "expected"),
    [
        # sent-by matches the source: reply to sent-by
        ("SIP/2.0/UDP 10.0.0.9:5070;branch=z9hG4bK1", ("10.0.0.9", 5070), ("10.0.0.9", 5070)),
        # no port in sent-by: 5060
        ("SIP/2.0/UDP 10.0.0.9;branch=z9hG4bK1", ("10.0.0.9", 5060), ("10.0.0.9", 5060)),
        # behind a NAT: the source address (implied received), port from sent-by
        ("SIP/2.0/UDP 10.0.0.9:5070;branch=z9hG4bK1", ("192.0.2.1", 40000), ("192.0.2.1", 5070)),
        # an explicit received parameter wins, port from sent-by
        ("SIP/2.0/UDP pua.example:5070;received=198.51.100.7;branch=z9hG4bK1", ("192.0.2.1", 40000),
         ("198.51.100.7", 5070)),
        # rport (RFC 3581): back to the source address and port
        ("SIP/2.0/UDP 10.0.0.9:5070;rport;branch=z9hG4bK1", ("192.0.2.1", 40000), ("192.0.2.1", 40000)),
        ("SIP/2.0/UDP 10.0.0.9:5070;branch=z9hG4bK1;rport", ("10.0.0.9", 5070), ("10.0.0.9", 5070)),
    ],
    ids=["sent-by", "default-port", "implied-received", "received", "rport-nat", "rport-direct"],
)
def test_responses_route_per_via(via, source, expected):
    d = Driver.make()
    req = make_request(1, via=via)
    assert d.layer.response_address(req, source) == expected
    txn = d.receive(req, source)
    d.respond(txn, reply(req, 200))
    assert d.sent[-1][1].dest == expected
    # a retransmission from the same source gets the final at the same address
    d.receive(req, source)
    assert d.sent[-1][1].dest == expected and d.sent[-1][1].retransmission


def test_a_request_without_via_is_answered_to_its_source():
    d = Driver.make()
    req = make_request(1)
    assert d.layer.response_address(req, PEER) == PEER


def test_malformed_via_or_cseq_is_dropped_with_a_record_not_raised():
    import random

    from puasim.effects import Emit, Outbox
    from puasim.sip.message import Request, Response
    from puasim.txn.layer import TransactionLayer

    out = Outbox()
    layer = TransactionLayer(out, "127.0.0.1", 5060, random.Random(1))
    bad_req = Request("PUBLISH", "sip:a@b", (("Via", "SIP/2.0/UDP ;;;"), ("CSeq", "1 PUBLISH")))
    bad_resp = Response(200, "OK", (("Via", "SIP/2.0/UDP h;branch=z9hG4bKx"), ("CSeq", "one PUBLISH")))
    assert layer.receive(bad_req, ("127.0.0.1", 5070), 0) is None
    assert layer.receive(bad_resp, ("127.0.0.1", 5070), 0) is None
    from puasim.trace.events import MessageRejected

    rejected = [e.event for e in out.take() if isinstance(e, Emit) and isinstance(e.event, MessageRejected)]
    assert [(r.message, r.status) for r in rejected] == [(bad_req, 0), (bad_resp, 0)]
    assert rejected[0].reason.startswith("PUBLISH: ") and "Via" in rejected[0].reason
    assert rejected[1].reason.startswith("200 reply: ") and "CSeq" in rejected[1].reason
