"""Client non-INVITE transaction over UDP (RFC 3261 §17.1.2), driven by hand."""

from __future__ import annotations

import re

import pytest

from puasim.effects import MILLISECOND, SECOND
from puasim.sip import headers as H
from puasim.trace.events import TransactionFinished
from puasim.txn import CLIENT_TRANSITIONS, KAMAILIO_TM, RFC3261, State, TimerConfig
from tests.txn.support import UAS, Driver, branch_of, make_request, reply


def ms(t: int) -> float:
    return t / MILLISECOND


def test_send_request_stamps_a_fresh_branch_and_sends_once():
    d = Driver.make()
    t1 = d.send(make_request(1))
    t2 = d.send(make_request(2))
    assert re.fullmatch(r"z9hG4bK[0-9a-f]{16}", t1.branch)
    assert t1.branch != t2.branch
    (_, first), (_, second) = d.sent
    assert first.dest == UAS and not first.retransmission
    assert first.message.headers[0] == ("Via", f"SIP/2.0/UDP 10.0.0.1:5060;branch={t1.branch}")
    assert first.message.headers[1:] == make_request(1).headers
    assert branch_of(second.message) == t2.branch
    assert d.layer.clients.keys() == {(t1.branch, "PUBLISH"), (t2.branch, "PUBLISH")}


def test_rport_layer_asks_for_symmetric_routing():
    d = Driver.make(rport=True)
    d.send(make_request())
    via = H.top_via(d.sent[0][1].message)
    assert via.rport is True


def total_loss(timers: TimerConfig, start: int = 0) -> Driver:
    d = Driver.make(timers)
    d.now = start
    d.send(make_request())
    d.run_out()
    return d


RFC_RETRANSMISSIONS = [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]


@pytest.mark.parametrize(
    ("timers", "times", "timeout"),
    [(RFC3261, RFC_RETRANSMISSIONS, 32.0), (KAMAILIO_TM, RFC_RETRANSMISSIONS[:9], 30.0)],
    ids=["rfc3261", "kamailio-tm"],
)
@pytest.mark.parametrize("start", [0, 7 * SECOND + 123])
def test_total_loss_retransmits_on_timer_e_and_times_out_on_timer_f(timers, times, timeout, start):
    d = total_loss(timers, start)
    assert [t for t, _ in d.sends(retransmission=False)] == [start]
    retrans = [(t - start) / SECOND for t, _ in d.sends(retransmission=True)]
    assert retrans == times
    # E doubles from T1 up to T2 and then stays there
    gaps = [b - a for a, b in zip([0.0, *retrans], retrans, strict=False)]
    assert gaps == [0.5, 1.0, 2.0, 4.0] + [4.0] * (len(times) - 4)
    assert all(s.message == d.sent[0][1].message for _, s in d.sent)  # the very same request
    # one local 408, faked, never on the wire
    (final,) = d.finals
    assert final.response.status == 408 and final.faked is True
    assert final.now - start == int(timeout * SECOND)
    assert all(s.message.__class__.__name__ == "Request" for _, s in d.sent)
    assert final.response.get("call-id") == "call-1@10.0.0.1"
    assert branch_of(final.response) == final.branch
    (fin,) = d.emitted
    assert isinstance(fin, TransactionFinished)
    assert (fin.status, fin.faked, fin.retransmissions, fin.started) == (408, True, len(times), start)
    assert d.layer.clients == {}  # forgotten after timeout
    assert d.timers == {}


# Lab capture "Server down / FAKED_REPLY" (../shared/lab/kamailio/README.md,
# captures/x1_server_down_retransmit_408): Kamailio 5.6 retransmitted the
# PUBLISH 9 times at these offsets (s) and answered pua with a local 408 after
# 30 s; the RPC returned after 29.96 s.  Kamailio's timer runs in ticks of
# 1/16 s, so every deadline lands up to one tick early relative to the send.
LAB_RETRANSMISSIONS = [0.46, 1.46, 3.46, 7.46, 11.46, 15.46, 19.46, 23.46, 27.46]
LAB_408_AFTER = 29.96
KAMAILIO_TICK = 1 / 16


def test_kamailio_schedule_matches_the_lab_capture():
    d = total_loss(KAMAILIO_TM)
    model = [t / SECOND for t, _ in d.sends(retransmission=True)]
    assert len(model) == len(LAB_RETRANSMISSIONS) == 9
    lab_gaps = [round(b - a, 6) for a, b in zip(LAB_RETRANSMISSIONS, LAB_RETRANSMISSIONS[1:], strict=False)]
    model_gaps = [round(b - a, 6) for a, b in zip(model, model[1:], strict=False)]
    assert model_gaps == lab_gaps  # 1, 2, 4, 4, 4 ... exactly
    for m, lab in zip(model, LAB_RETRANSMISSIONS, strict=True):
        assert 0 <= m - lab < KAMAILIO_TICK  # same schedule up to tick quantisation
    timeout = d.finals[0].now / SECOND
    assert 0 <= timeout - LAB_408_AFTER < KAMAILIO_TICK
    # the RFC timer F would have sent a tenth retransmission and answered 2 s later
    rfc = total_loss(RFC3261)
    assert len(rfc.sends(retransmission=True)) == 10
    assert rfc.finals[0].now - d.finals[0].now == 2 * SECOND


@pytest.mark.parametrize("at_ms", [100, 700])
def test_after_a_provisional_the_interval_is_t2(at_ms):
    d = Driver.make()
    txn = d.send(make_request())
    d.advance(at_ms * MILLISECOND)
    assert d.receive(reply(txn.request, 100)) is None
    assert txn.state is State.PROCEEDING
    assert d.finals == []
    d.run_out()
    retrans = [t / SECOND for t, _ in d.sends(retransmission=True)]
    if at_ms < 500:  # provisional before the first E: every interval after it is T2
        assert retrans == [0.5, 4.5, 8.5, 12.5, 16.5, 20.5, 24.5, 28.5]
    else:  # E armed at 1.5 s still fires, then T2
        assert retrans == [0.5, 1.5, 5.5, 9.5, 13.5, 17.5, 21.5, 25.5, 29.5]
    (final,) = d.finals
    assert (final.response.status, final.faked, final.now) == (408, True, 32 * SECOND)
    assert d.emitted[0].retransmissions == len(retrans)


def test_more_provisionals_are_absorbed():
    d = Driver.make()
    txn = d.send(make_request())
    for _ in range(3):
        d.receive(reply(txn.request, 180, "Ringing"))
    assert txn.state is State.PROCEEDING and d.finals == [] and len(d.sent) == 1


def test_final_stops_retransmissions_arms_k_and_absorbs_duplicates():
    d = Driver.make()
    txn = d.send(make_request())
    d.advance(1_600 * MILLISECOND)  # E fired at 0.5 and 1.5
    assert len(d.sends(retransmission=True)) == 2
    ok = reply(txn.request, 200)
    d.receive(ok)
    assert txn.state is State.COMPLETED
    (final,) = d.finals
    assert final.response is ok and final.faked is False and final.now == 1_600 * MILLISECOND
    assert d.timers == {("txn", "c", txn.branch, "PUBLISH", "K"): 1_600 * MILLISECOND + RFC3261.k}
    (fin,) = d.emitted
    assert (fin.status, fin.faked, fin.retransmissions, fin.branch) == (200, False, 2, txn.branch)
    assert fin.call_id == "call-1@10.0.0.1" and fin.method == "PUBLISH"
    # duplicates of the final, another final and a late provisional: all absorbed
    d.advance(2 * SECOND)
    d.receive(ok)
    d.receive(reply(txn.request, 500, "Server Error"))
    d.receive(reply(txn.request, 100))
    assert len(d.finals) == 1 and len(d.emitted) == 1
    assert len(d.sent) == 3  # nothing more went out
    # Timer K ends it; later copies find no transaction
    d.run_out()
    assert d.now == 1_600 * MILLISECOND + RFC3261.k
    assert txn.state is State.TERMINATED and d.layer.clients == {}
    d.receive(ok)
    assert len(d.finals) == 1 and len(d.sent) == 3


def test_final_after_provisional():
    d = Driver.make(KAMAILIO_TM)
    txn = d.send(make_request())
    d.receive(reply(txn.request, 100))
    d.advance(3 * SECOND)
    d.receive(reply(txn.request, 202, "Accepted"))
    assert [f.response.status for f in d.finals] == [202]
    assert [t for t, _ in d.sends(retransmission=True)] == [500 * MILLISECOND]
    d.run_out()
    assert len(d.finals) == 1


def test_responses_are_matched_by_branch_and_method():
    d = Driver.make()
    txn = d.send(make_request())
    other_branch = reply(txn.request, 200).with_header("Via", "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKother")
    d.receive(other_branch)
    wrong_method = reply(txn.request, 200).with_header("CSeq", "1 SUBSCRIBE")
    d.receive(wrong_method)
    no_via = reply(txn.request, 200).without_header("Via")
    d.receive(no_via)
    assert d.finals == [] and txn.state is State.TRYING
    d.receive(reply(txn.request, 200))
    assert len(d.finals) == 1


def test_two_transactions_are_independent():
    d = Driver.make()
    first = d.send(make_request(1))
    d.now = 100 * MILLISECOND
    second = d.send(make_request(2))
    d.receive(reply(second.request, 200))
    d.run_out()
    assert [(f.branch, f.response.status, f.faked) for f in d.finals] == [
        (second.branch, 200, False),
        (first.branch, 408, True),
    ]
    assert all(branch_of(s.message) == first.branch for _, s in d.sends(retransmission=True))


def test_timer_keys_of_other_owners_are_not_taken():
    d = Driver.make()
    assert d.layer.timer(("publish", "refresh"), 0) is False
    assert d.layer.timer(("txn", "c", "z9hG4bKgone", "PUBLISH", "E"), 0) is True  # stale: ignored
    assert d.sent == []


def test_the_client_table_ends_in_terminated():
    states = {s for s, _ in CLIENT_TRANSITIONS} | set(CLIENT_TRANSITIONS.values())
    assert states == set(State)
    assert not any(s is State.TERMINATED for s, _ in CLIENT_TRANSITIONS)
    assert CLIENT_TRANSITIONS[(State.TRYING, "timer_f")] is State.TERMINATED
    assert CLIENT_TRANSITIONS[(State.COMPLETED, "final")] is State.COMPLETED


@pytest.mark.parametrize("kwargs", [{"t1": 0}, {"t1": 5, "t2": 4}, {"t4": -1}, {"timer_f": 0}])
def test_timer_config_validation(kwargs):
    with pytest.raises(ValueError):
        TimerConfig(**kwargs)


def test_timer_config_defaults():
    assert (RFC3261.f, RFC3261.j, RFC3261.k) == (32 * SECOND, 32 * SECOND, 5 * SECOND)
    assert (KAMAILIO_TM.f, KAMAILIO_TM.j, KAMAILIO_TM.k) == (30 * SECOND, 32 * SECOND, 5 * SECOND)
