"""Client INVITE transaction over UDP (RFC 3261 §17.1.1, RFC 6026 §8.4), driven by hand."""

from __future__ import annotations

import pytest

from puasim.effects import MILLISECOND, SECOND
from puasim.sip import headers as H
from puasim.trace.events import TransactionFinished
from puasim.txn import INVITE_CLIENT_TRANSITIONS, KAMAILIO_TM, RFC3261, InviteState, TimerConfig
from tests.txn.support import UAS, Driver, branch_of, make_request, reply


def invite(n: int = 1):
    return make_request(n, "INVITE")


def with_to_tag(response, tag: str = "callee1"):
    return response.with_header("To", f"{response.get('to')};tag={tag}")


def status_of(d: Driver) -> list[tuple[int, bool]]:
    return [(f.response.status, f.faked) for f in d.finals]


def test_every_transition_cites_a_state_of_figure_5_or_rfc_6026():
    states = {s for s, _ in INVITE_CLIENT_TRANSITIONS} | set(INVITE_CLIENT_TRANSITIONS.values())
    assert InviteState.CONFIRMED not in states  # a server-side state only
    assert INVITE_CLIENT_TRANSITIONS[(InviteState.CALLING, "2xx")] is InviteState.ACCEPTED
    assert (InviteState.COMPLETED, "2xx") not in INVITE_CLIENT_TRANSITIONS


@pytest.mark.parametrize(("timers", "b"), [(RFC3261, 32.0), (KAMAILIO_TM, 30.0)], ids=["rfc3261", "kamailio-tm"])
def test_total_loss_doubles_timer_a_without_cap_and_times_out_on_timer_b(timers, b):
    d = Driver.make(timers)
    txn = d.invite(invite())
    d.run_out()
    retrans = [t / SECOND for t, _ in d.sends(retransmission=True)]
    # §17.1.1.2: A starts at T1 and doubles each time, never capped at T2 (unlike timer E)
    expected = [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert retrans == [t for t in expected if t < b]
    assert all(s.message == txn.request for _, s in d.sent)
    assert [(f.response.status, f.faked, f.now) for f in d.finals] == [(408, True, int(b * SECOND))]
    (fin,) = d.emitted
    assert isinstance(fin, TransactionFinished)
    assert (fin.method, fin.status, fin.faked, fin.retransmissions) == ("INVITE", 408, True, len(retrans))
    assert txn.state is InviteState.TERMINATED and d.layer.clients == {} and d.timers == {}


def test_provisionals_reach_the_tu_and_stop_timer_a():
    d = Driver.make()
    txn = d.invite(invite())
    d.advance(600 * MILLISECOND)  # one retransmission
    d.receive(reply(txn.request, 100))
    d.receive(with_to_tag(reply(txn.request, 180, "Ringing")))
    d.receive(with_to_tag(reply(txn.request, 183, "Session Progress")))
    assert txn.state is InviteState.PROCEEDING
    assert status_of(d) == [(100, False), (180, False), (183, False)]
    assert d.emitted == []  # no final yet
    # RFC 3261 Figure 5: no timer runs in Proceeding; the call rings as long as the UAS lets it
    assert d.timers == {}
    assert len(d.sends(retransmission=True)) == 1


def test_kamailio_fr_inv_timer_ends_a_ringing_invite_with_a_local_408():
    d = Driver.make(KAMAILIO_TM)
    txn = d.invite(invite())
    d.advance(2 * SECOND)
    d.receive(reply(txn.request, 180, "Ringing"))
    assert d.timers == {("txn", "c", txn.branch, "INVITE", "B"): 2 * SECOND + 120 * SECOND}
    d.advance(122 * SECOND)
    assert [(f.response.status, f.faked, f.now) for f in d.finals] == [(180, False, 2 * SECOND), (408, True, 122 * SECOND)]
    # it waits in Completed for the 487 that tm's CANCEL brings, ACKs it and tells nobody
    assert txn.state is InviteState.COMPLETED
    d.now += 5 * MILLISECOND
    d.receive(with_to_tag(reply(txn.request, 487, "Request Terminated")))
    ack = d.sent[-1][1]
    assert ack.message.method == "ACK" and not ack.retransmission and branch_of(ack.message) == txn.branch
    d.receive(with_to_tag(reply(txn.request, 487, "Request Terminated")))
    assert d.sent[-1][1].retransmission and d.sent[-1][1].message == ack.message
    assert len(d.finals) == 2 and len(d.emitted) == 1
    d.run_out()
    assert d.now == 122 * SECOND + RFC3261.d
    assert txn.state is InviteState.TERMINATED and d.layer.clients == {}


def test_non_2xx_final_is_acked_by_the_transaction_and_given_to_the_tu_once():
    d = Driver.make()
    txn = d.invite(invite())
    d.receive(reply(txn.request, 180, "Ringing"))
    d.now = 5 * SECOND
    busy = with_to_tag(reply(txn.request, 486, "Busy Here"))
    d.receive(busy)
    assert txn.state is InviteState.COMPLETED
    assert status_of(d) == [(180, False), (486, False)]
    (_, ack), = d.sends()[1:]
    ack = ack.message
    # §17.1.1.3: same Request-URI, top Via (branch), From, Call-ID; To of the response; CSeq number + ACK
    assert ack.method == "ACK" and ack.uri == txn.request.uri
    assert branch_of(ack) == txn.branch
    assert ack.get("to") == busy.get("to") and ack.get("from") == txn.request.get("from")
    assert ack.get("call-id") == txn.request.get("call-id")
    assert H.cseq(ack).seq == 1 and H.cseq(ack).method == "ACK"
    assert d.timers == {("txn", "c", txn.branch, "INVITE", "D"): 5 * SECOND + RFC3261.d}
    # a retransmitted final: the same ACK again, the TU is not told
    d.receive(busy)
    assert [s.message for _, s in d.sends(retransmission=True)] == [ack]
    assert len(d.finals) == 2 and len(d.emitted) == 1
    d.run_out()
    assert d.now == 5 * SECOND + 32 * SECOND and d.layer.clients == {}
    d.receive(busy)  # after timer D: nobody left to answer it
    assert len(d.sent) == 3


def test_2xx_goes_to_the_tu_every_time_in_accepted_until_timer_m():
    d = Driver.make()
    txn = d.invite(invite())
    d.receive(reply(txn.request, 180, "Ringing"))
    d.now = 3 * SECOND
    ok_a = with_to_tag(reply(txn.request, 200), "a")
    ok_b = with_to_tag(reply(txn.request, 200), "b")  # a forked 2xx (RFC 6026 §8.4)
    d.receive(ok_a)
    assert txn.state is InviteState.ACCEPTED
    d.receive(ok_a)  # retransmission: the UAC core must ACK it again (§13.2.2.4)
    d.receive(ok_b)
    assert [(f.response.get("to"), f.response.status) for f in d.finals[1:]] == [
        (ok_a.get("to"), 200), (ok_a.get("to"), 200), (ok_b.get("to"), 200)]
    assert len(d.sent) == 1  # the transaction never ACKs a 2xx
    assert len(d.emitted) == 1 and d.emitted[0].status == 200
    d.receive(reply(txn.request, 487, "Request Terminated"))  # a non-2xx after a 2xx: absorbed
    assert len(d.finals) == 4
    d.run_out()
    assert d.now == 3 * SECOND + 64 * RFC3261.t1 and d.layer.clients == {}


def test_2xx_in_calling_stops_both_timers():
    d = Driver.make()
    txn = d.invite(invite())
    d.receive(with_to_tag(reply(txn.request, 200)))
    assert d.timers == {("txn", "c", txn.branch, "INVITE", "M"): RFC3261.m}


def test_ack_for_a_2xx_has_a_branch_of_its_own():
    d = Driver.make()
    txn = d.invite(invite())
    ack = make_request(1, "ACK")
    sent = d.layer.send_ack(ack, UAS)
    d.collect()
    assert branch_of(sent) != txn.branch and sent.method == "ACK"
    assert d.sends()[-1][1].message == sent
    with pytest.raises(ValueError, match="needs an ACK"):
        d.layer.send_ack(invite(), UAS)
    with pytest.raises(ValueError, match="use send_invite"):
        d.layer.send_request(invite(), UAS, 0)


def test_cancel_before_a_provisional_waits_for_one():
    d = Driver.make()
    txn = d.invite(invite())
    assert txn.cancel(d.now, d.on_final) is True
    d.collect()
    assert len(d.sent) == 1  # §9.1: not yet
    d.now = 200 * MILLISECOND
    d.receive(reply(txn.request, 100))
    (_, cancel) = d.sent[-1]
    cancel = cancel.message
    assert cancel.method == "CANCEL" and branch_of(cancel) == txn.branch
    assert H.cseq(cancel).seq == 1 and H.cseq(cancel).method == "CANCEL"
    assert cancel.get("to") == txn.request.get("to") and cancel.uri == txn.request.uri
    assert (txn.branch, "CANCEL") in d.layer.clients
    # the CANCEL's 200 and the INVITE's 487 go to their own transactions
    d.receive(reply(cancel, 200))
    d.receive(with_to_tag(reply(txn.request, 487, "Request Terminated")))
    assert [f.response.status for f in d.finals] == [100, 200, 487]
    assert d.sent[-1][1].message.method == "ACK"


def test_cancel_after_a_final_is_refused_and_a_pending_one_dropped():
    d = Driver.make()
    txn = d.invite(invite())
    txn.cancel(d.now)
    d.receive(with_to_tag(reply(txn.request, 603, "Decline")))
    assert all(s.message.method != "CANCEL" for _, s in d.sent)
    assert txn.cancel(d.now) is False


def test_timer_b_is_configurable():
    d = Driver.make(TimerConfig(timer_b=5 * SECOND))
    d.invite(invite())
    d.run_out()
    assert [(f.response.status, f.now) for f in d.finals] == [(408, 5 * SECOND)]
    with pytest.raises(ValueError, match="timer B"):
        TimerConfig(timer_b=0)
    with pytest.raises(ValueError, match="fr_inv"):
        TimerConfig(fr_inv=-1)
