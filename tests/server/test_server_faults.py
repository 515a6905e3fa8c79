"""Fault knobs applied inside PresenceServer (pua-reference §3.8 rows 2-5, Appendix C)."""

from __future__ import annotations

import pytest
from server_helpers import (
    CLIENT,
    LAB_PID,
    LAB_START,
    answer,
    events,
    exchange,
    make_server,
    publish,
    request,
    sent,
    timers,
)

from puasim.effects import SECOND
from puasim.server import (
    DelayReplies,
    DropRequests,
    GrantExpires,
    OmitHeader,
    RespondWith,
    Restart,
    fault_from_dict,
)
from puasim.server.endpoint import EXPIRE_TIMER
from puasim.trace.events import FaultInjected, ServerStateChanged


def kinds(effects):
    return [e.kind for e in events(effects, FaultInjected)]


def test_respond_with_acts_count_times_then_stops():
    srv = make_server(faults=[RespondWith(status=503, count=2)])
    r1, eff = exchange(srv, publish())
    assert (r1.status, r1.reason, r1.get("sip-etag")) == (503, "Service Unavailable", None)
    assert kinds(eff) == ["respond"]
    assert "1 left" in events(eff, FaultInjected)[0].detail
    assert answer(srv, publish()).status == 503
    r3 = answer(srv, publish())
    assert r3.status == 200
    # the faulted requests never reached handle_publish: Kamailio's counter saw one PUBLISH
    assert r3.get("sip-etag") == f"a.{LAB_START}.{LAB_PID}.1.0"
    assert srv.faults.left == [0]


def test_respond_with_filters_method_if_match_and_window():
    faults = [
        RespondWith(
            status=500,
            count=None,
            method="PUBLISH",
            if_match=True,
            after=10 * SECOND,
            until=20 * SECOND,
        )
    ]
    srv = make_server(faults=faults)
    etag = answer(srv, publish()).get("sip-etag")  # no SIP-If-Match: untouched
    assert (
        answer(srv, publish(if_match=etag, body=b""), 5 * SECOND).status == 200
    )  # before the window
    etag = srv.publications[0].etag
    assert answer(srv, publish(if_match=etag, body=b""), 10 * SECOND).status == 500
    assert answer(srv, request("OPTIONS"), 11 * SECOND).status == 200
    assert answer(srv, publish(if_match=etag, body=b""), 20 * SECOND).status == 200


def test_respond_with_extra_headers_423():
    srv = make_server(faults=[RespondWith(status=423, headers=(("Min-Expires", "120"),))])
    reply = answer(srv, publish(expires=61))
    assert (reply.status, reply.reason, reply.get("min-expires")) == (
        423,
        "Interval Too Brief",
        "120",
    )


def test_respond_with_412_leaves_state_alone():
    """A 412 on a modify while the server still holds the publication (lab f's twin state)."""
    srv = make_server(
        faults=[RespondWith(status=412, if_match=True, reason="Conditional request failed")]
    )
    etag = answer(srv, publish()).get("sip-etag")
    assert answer(srv, publish(if_match=etag)).status == 412
    assert [p.etag for p in srv.publications] == [etag]


def test_drop_requests_never_answers_and_absorbs_retransmissions():
    srv = make_server(faults=[DropRequests(count=1)])
    req = publish()
    reply, eff = exchange(srv, req)
    assert reply is None and kinds(eff) == ["drop"]
    for t in (500_000, 1_500_000, 3_500_000):
        reply, eff = exchange(srv, req, t)
        assert reply is None and kinds(eff) == []  # same transaction, not a new drop
    assert srv.publications == []
    assert answer(srv, publish(), 4 * SECOND).status == 200


def test_delay_replies_sends_later_but_changes_state_now():
    srv = make_server(faults=[DelayReplies(delay=2 * SECOND, count=1)])
    reply, eff = exchange(srv, publish(), 0)
    assert reply is None and kinds(eff) == ["delay"]
    assert len(srv.publications) == 1
    (t,) = [t for t in timers(eff) if t.key[:2] == ("server", "reply")]
    assert t.at == 2 * SECOND
    srv.timer(t.key, t.at)
    (late,) = sent(srv.outbox.take())
    assert late.message.status == 200 and late.message.get("sip-etag") == srv.publications[0].etag


def test_delayed_request_retransmission_is_absorbed():
    srv = make_server(faults=[DelayReplies(delay=2 * SECOND)])
    req = publish()
    exchange(srv, req, 0)
    reply, eff = exchange(srv, req, 500_000)
    assert reply is None and kinds(eff) == []


@pytest.mark.parametrize("header", ["SIP-ETag", "Expires"])
def test_omit_header_in_2xx(header):
    srv = make_server(faults=[OmitHeader(header=header, count=1)])
    reply, eff = exchange(srv, publish())
    assert reply.status == 200 and reply.get(header) is None
    assert kinds(eff) == ["omit-header"]
    assert len(srv.publications) == 1  # the state exists; only the reply lacks the field
    assert answer(srv, publish()).get(header) is not None


def test_omit_header_ignores_errors():
    srv = make_server(faults=[OmitHeader(header="SIP-ETag", count=1)])
    reply, eff = exchange(srv, publish(if_match="a.1.2.3.0"))
    assert reply.status == 412 and kinds(eff) == []
    assert srv.faults.left == [1]


def test_grant_expires_overrides_and_sets_the_state_lifetime():
    srv = make_server(faults=[GrantExpires(seconds=30, count=1)])
    reply, eff = exchange(srv, publish(expires=3601))
    assert reply.get("expires") == "30" and kinds(eff) == ["grant-expires"]
    assert srv.publications[0].expires == 30 * SECOND
    assert [t.at for t in timers(eff) if t.key == EXPIRE_TIMER] == [30 * SECOND]
    assert answer(srv, publish(expires=3601)).get("expires") == "3600"


def test_grant_expires_does_not_turn_a_removal_into_a_grant():
    srv = make_server(faults=[GrantExpires(seconds=30)])
    etag = answer(srv, publish()).get("sip-etag")
    reply, eff = exchange(srv, publish(if_match=etag, expires=0, body=b""))
    assert reply.get("expires") == "0" and kinds(eff) == []


def test_restart_forgets_state_and_changes_identity():
    """Lab e1: after a restart with an empty DB the old ETag gets 412; new tags carry a new start/pid."""
    srv = make_server(
        start_time=None, pid=None, epoch=1_795_735_000, faults=[Restart(at=10 * SECOND)]
    )
    (restart_timer,) = [t for t in timers(srv.outbox.take()) if t.key[:2] == ("server", "restart")]
    assert restart_timer.at == 10 * SECOND
    old = answer(srv, publish(), SECOND).get("sip-etag")
    assert old.startswith("a.1795735000.")
    srv.timer(restart_timer.key, restart_timer.at)
    eff = srv.outbox.take()
    assert kinds(eff) == ["restart"]
    assert [e.action for e in events(eff, ServerStateChanged)] == ["forgotten"]
    assert srv.publications == [] and srv.restarts == 1
    assert answer(srv, publish(if_match=old), 12 * SECOND).status == 412
    new = answer(srv, publish(), 13 * SECOND).get("sip-etag")
    start, pid, counter = new.split(".")[1:4]
    assert start == "1795735010" and counter == "2"
    assert pid != old.split(".")[2]


def test_restart_drops_pending_replies_and_transactions():
    srv = make_server(faults=[DelayReplies(delay=5 * SECOND)])
    req = publish()
    _, eff = exchange(srv, req)
    (t,) = [t for t in timers(eff) if t.key[:2] == ("server", "reply")]
    srv.restart(SECOND)
    assert kinds(srv.outbox.take()) == ["restart"]
    srv.timer(t.key, t.at)
    assert sent(srv.outbox.take()) == []
    # the retransmission is a new request to the restarted server
    assert srv.layer.servers == {}
    srv.receive(req, CLIENT, 6 * SECOND)
    assert events(srv.outbox.take(), FaultInjected)[0].kind == "delay"


def test_fault_from_dict():
    assert fault_from_dict({"kind": "respond", "status": 503, "count": 2}) == RespondWith(
        status=503, count=2
    )
    assert fault_from_dict({"kind": "restart", "at_s": 1.5}) == Restart(at=1_500_000)
    assert fault_from_dict({"kind": "delay", "delay_s": 2, "method": "PUBLISH"}) == DelayReplies(
        delay=2 * SECOND, method="PUBLISH"
    )
    f = fault_from_dict({"kind": "respond", "status": 423, "headers": {"Min-Expires": 120}})
    assert f.headers == (("Min-Expires", "120"),)
    with pytest.raises(ValueError, match="unknown fault kind"):
        fault_from_dict({"kind": "explode"})
    with pytest.raises(ValueError, match="unknown fields"):
        fault_from_dict({"kind": "drop", "status": 1})


def test_faults_from_mappings_in_the_constructor():
    srv = make_server(faults=[{"kind": "respond", "status": 480}])
    assert answer(srv, publish()).status == 480


@pytest.mark.parametrize(
    "bad",
    [
        lambda: RespondWith(status=100),
        lambda: RespondWith(status=500, count=0),
        lambda: DelayReplies(delay=-1),
        lambda: OmitHeader(header="Via"),
        lambda: GrantExpires(seconds=-5),
        lambda: Restart(at=-1),
    ],
)
def test_fault_validation(bad):
    with pytest.raises(ValueError):
        bad()


def test_first_matching_request_fault_wins():
    srv = make_server(faults=[DropRequests(method="OPTIONS"), RespondWith(status=503)])
    reply, eff = exchange(srv, request("OPTIONS"))
    assert reply is None and kinds(eff) == ["drop"]
    assert answer(srv, publish()).status == 503


def test_grant_zero_answers_expires_0_and_drops_the_state():
    """A 2xx with Expires 0 to a refresh: pua-reference §3.8 row 6 deletes the client record."""
    srv = make_server(faults=[GrantExpires(seconds=0, if_match=True, count=1)])
    etag = answer(srv, publish()).get("sip-etag")
    reply, eff = exchange(srv, publish(if_match=etag, body=b""), SECOND)
    assert (reply.status, reply.get("expires")) == (200, "0")
    assert kinds(eff) == ["grant-expires"]
    assert [e.action for e in events(eff, ServerStateChanged)] == ["removed"]
    assert srv.publications == []
