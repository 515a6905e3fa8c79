"""Server INVITE transaction over UDP (RFC 3261 §17.2.1, §13.3.1.4; RFC 6026 §7.1), driven by hand."""

from __future__ import annotations

import pytest

from puasim.effects import MILLISECOND, SECOND
from puasim.txn import (
    INVITE_SERVER_TRANSITIONS,
    RFC3261,
    InviteServerTransaction,
    InviteState,
    ServerTransaction,
    TransactionError,
    ack_for,
)
from tests.txn.support import Driver, make_request, reply

PEER = ("10.0.0.9", 5070)
BRANCH = "z9hG4bKcaller1"
VIA = f"SIP/2.0/UDP 10.0.0.9:5070;branch={BRANCH}"


def incoming(method: str = "INVITE", via: str = VIA, n: int = 1):
    return make_request(n, method, via=via)


def tagged(response, tag: str = "uas1"):
    return response.with_header("To", f"{response.get('to')};tag={tag}")


def test_the_table_has_no_trying_state_and_accepted_absorbs_the_invite():
    states = {s for s, _ in INVITE_SERVER_TRANSITIONS}
    assert InviteState.CALLING not in states
    assert INVITE_SERVER_TRANSITIONS[(InviteState.ACCEPTED, "request")] is InviteState.ACCEPTED


def test_receive_keeps_the_old_non_invite_handling_for_nodes_without_calls():
    d = Driver.make()
    txn = d.receive(incoming(), PEER)
    assert isinstance(txn, ServerTransaction)


def test_invite_starts_in_proceeding_and_retransmissions_get_the_last_provisional():
    d = Driver.make()
    req = incoming()
    txn = d.receive_any(req, PEER)
    assert isinstance(txn, InviteServerTransaction) and txn.state is InviteState.PROCEEDING
    assert d.receive_any(req, PEER) is None and d.sent == []  # nothing sent yet, nothing to resend
    ringing = tagged(reply(req, 180, "Ringing"))
    d.respond(txn, ringing)
    assert d.receive_any(req, PEER) is None
    assert [(s.message.status, s.retransmission) for _, s in d.sent] == [(180, False), (180, True)]


def test_non_2xx_final_is_retransmitted_on_timer_g_until_timer_h():
    d = Driver.make()
    req = incoming()
    txn = d.receive_any(req, PEER)
    calls = []
    txn.on_ack_timeout = lambda t, now: calls.append(now)
    d.respond(txn, tagged(reply(req, 486, "Busy Here")))
    assert txn.state is InviteState.COMPLETED
    d.run_out()
    times = [t / SECOND for t, s in d.sends(retransmission=True)]
    # §17.2.1: G starts at T1, doubles, capped at T2; H = 64·T1
    assert times == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert calls == [64 * RFC3261.t1] and txn.state is InviteState.TERMINATED
    assert d.layer.servers == {}


def test_ack_for_the_non_2xx_is_absorbed_and_confirms_until_timer_i():
    d = Driver.make()
    req = incoming()
    txn = d.receive_any(req, PEER)
    busy = tagged(reply(req, 486, "Busy Here"))
    d.respond(txn, busy)
    d.advance(600 * MILLISECOND)  # one retransmission of the 486
    d.receive_any(req, PEER)  # the INVITE again: the 486 again
    ack = ack_for(req, busy)  # same branch as the INVITE
    assert d.receive_any(ack, PEER) is None
    assert txn.state is InviteState.CONFIRMED
    assert d.timers == {("txn", "s", txn.key, "I"): 600 * MILLISECOND + RFC3261.t4}
    assert d.receive_any(ack, PEER) is None  # absorbed again
    d.run_out()
    assert txn.state is InviteState.TERMINATED and d.layer.servers == {}
    assert len(d.sent) == 3


def test_2xx_is_retransmitted_until_the_ack_of_its_own_branch():
    d = Driver.make()
    req = incoming()
    txn = d.receive_any(req, PEER)
    ok = tagged(reply(req, 200))
    d.respond(txn, ok)
    assert txn.state is InviteState.ACCEPTED
    d.advance(2 * SECOND)  # G at 0.5 and 1.5 s (§13.3.1.4)
    assert [t / SECOND for t, _ in d.sends(retransmission=True)] == [0.5, 1.5]
    assert d.receive_any(req, PEER) is None  # RFC 6026 §7.1: absorbed, no new INVITE, nothing sent
    assert len(d.sent) == 3
    ack = make_request(1, "ACK", via="SIP/2.0/UDP 10.0.0.9:5070;branch=z9hG4bKack1")
    handed = d.receive_any(ack, PEER)
    assert isinstance(handed, ServerTransaction) and handed.request is ack  # the UAS core sees it
    assert txn.acked and ("txn", "s", txn.key, "G") not in d.timers
    assert d.layer.receive_any(ack, PEER, d.now) is not None  # a repeated ACK is handed on again
    assert handed.key not in d.layer.servers  # an ACK is never kept as a transaction
    d.run_out()
    assert d.now == 64 * RFC3261.t1 and txn.state is InviteState.TERMINATED
    assert len(d.sent) == 3


def test_2xx_without_ack_is_given_up_after_64_t1():
    d = Driver.make()
    req = incoming()
    txn = d.receive_any(req, PEER)
    gave_up = []
    txn.on_ack_timeout = lambda t, now: gave_up.append(now)
    d.respond(txn, tagged(reply(req, 200)))
    d.run_out()
    assert gave_up == [32 * SECOND]
    assert len(d.sends(retransmission=True)) == 10


def test_ack_of_another_call_does_not_stop_the_2xx():
    d = Driver.make()
    req = incoming()
    txn = d.receive_any(req, PEER)
    d.respond(txn, tagged(reply(req, 200)))
    other = make_request(2, "ACK", via="SIP/2.0/UDP 10.0.0.9:5070;branch=z9hG4bKack2")
    d.receive_any(other, PEER)
    assert not txn.acked


def test_cancel_finds_its_invite_and_the_tu_answers_both():
    d = Driver.make()
    req = incoming()
    txn = d.receive_any(req, PEER)
    d.respond(txn, tagged(reply(req, 180, "Ringing")))
    cancel = make_request(1, "CANCEL", via=VIA)
    ctxn = d.receive_any(cancel, PEER)
    assert isinstance(ctxn, ServerTransaction) and d.layer.invite_for(cancel) is txn
    d.respond(ctxn, reply(cancel, 200))
    d.respond(txn, tagged(reply(req, 487, "Request Terminated")))
    assert [s.message.status for _, s in d.sent] == [180, 200, 487]
    other = make_request(1, "CANCEL", via="SIP/2.0/UDP 10.0.0.9:5070;branch=z9hG4bKnone")
    assert d.layer.invite_for(other) is None


def test_nothing_after_a_non_2xx_final():
    d = Driver.make()
    req = incoming()
    txn = d.receive_any(req, PEER)
    d.respond(txn, reply(req, 404, "Not Found"))
    with pytest.raises(TransactionError, match="cannot send 200 to an INVITE in state Completed"):
        d.respond(txn, reply(req, 200))


def test_a_forked_2xx_is_forwarded_but_only_the_first_is_retransmitted():
    d = Driver.make()
    req = incoming()
    txn = d.receive_any(req, PEER)
    d.respond(txn, tagged(reply(req, 200), "a"))
    d.respond(txn, tagged(reply(req, 200), "b"))
    assert [s.message.get("to").endswith("tag=b") for _, s in d.sent] == [False, True]
    assert sum(1 for k in d.timers if k[-1] == "G") == 1
    d.advance(600 * MILLISECOND)
    assert d.sent[-1][1].retransmission and d.sent[-1][1].message.get("to").endswith("tag=a")


def test_a_proxy_does_not_retransmit_2xx_itself():
    d = Driver.make()
    req = incoming()
    txn = d.receive_any(req, PEER)
    txn.retransmit_2xx = False
    d.respond(txn, tagged(reply(req, 200)))
    assert list(d.timers) == [("txn", "s", txn.key, "L")]
    d.run_out()
    assert len(d.sent) == 1 and txn.state is InviteState.TERMINATED
