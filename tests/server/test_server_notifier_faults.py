"""Faults around the notifier: drop-notify, change-contact, in_dialog selection, restart."""

from __future__ import annotations

import pytest
from server_helpers import (
    ALICE,
    Driver,
    events,
    make_server,
    notifies,
    publish,
    refresh,
    responses,
    subscribe,
)

from puasim.effects import SECOND
from puasim.server import (
    FAULT_KINDS,
    ChangeContact,
    DropNotify,
    RespondWith,
    Restart,
    fault_from_dict,
)
from puasim.server.notifier import SUBS_TIMER
from puasim.trace.events import FaultInjected


def kinds(effects):
    return [e.kind for e in events(effects, FaultInjected)]


def test_fault_kinds_spellings():
    assert FAULT_KINDS["drop-notify"] is DropNotify
    assert FAULT_KINDS["change-contact"] is ChangeContact
    assert fault_from_dict({"kind": "drop_notify", "count": 2}) == DropNotify(count=2)
    assert fault_from_dict(
        {"kind": "change-contact", "contact": "sip:p2@127.0.0.1:5060", "at_s": 5}
    ) == (ChangeContact(contact="sip:p2@127.0.0.1:5060", at=5 * SECOND))
    f = fault_from_dict(
        {"kind": "respond", "status": 481, "method": "SUBSCRIBE", "in_dialog": True}
    )
    assert f == RespondWith(status=481, method="SUBSCRIBE", in_dialog=True)
    with pytest.raises(ValueError):
        fault_from_dict({"kind": "drop-notify", "status": 1})
    with pytest.raises(ValueError):
        ChangeContact(contact="<sip:x@y>")


def test_drop_notify_swallows_retransmissions_and_ends_the_subscription():
    d = Driver(make_server(faults=[{"kind": "drop-notify", "count": 1}]))
    effects = d.send(subscribe())
    (reply,) = responses(effects)
    assert reply.status == 200
    assert notifies(effects, include_retransmissions=True) == []
    assert kinds(effects) == ["drop-notify"]
    later = d.advance(40 * SECOND)
    assert notifies(later, include_retransmissions=True) == []
    assert d.srv.count_subscriptions(ALICE, d.now) == 0  # timer F: local 408 (RFC 6665 §4.2.2)
    # the next NOTIFYs (a new subscription) are sent again
    effects = d.send(subscribe(call_id="sub2", from_tag="t2"))
    assert len(notifies(effects)) == 1 and kinds(effects) == []


def test_drop_notify_window_and_count():
    d = Driver(make_server(faults=[DropNotify(count=None, after=10 * SECOND, until=20 * SECOND)]))
    (_,) = notifies(d.send(subscribe()))
    effects = d.send(publish(), 12 * SECOND)
    assert notifies(effects) == [] and kinds(effects) == ["drop-notify"]


def test_change_contact_from_a_time_on():
    new = "sip:presence2@127.0.0.1:5060"
    d = Driver(make_server(faults=[ChangeContact(contact=new, at=10 * SECOND)]))
    effects = d.send(subscribe())
    (reply,) = responses(effects)
    assert reply.get("contact") == "<sip:presence@127.0.0.1:5060>"
    fired = d.advance(10 * SECOND)
    assert kinds(fired) == ["change-contact"]
    (n,) = notifies(d.send(publish(), 11 * SECOND))
    assert n.get("contact") == f"<{new}>"
    effects = d.send(refresh(reply), 12 * SECOND)
    (r,) = responses(effects)
    assert r.get("contact") == f"<{new}>"


def test_change_contact_armed_while_running_applies_at_once():
    srv = make_server()
    d = Driver(srv)
    d.advance(5 * SECOND)
    srv.add_fault({"kind": "change_contact", "contact": "sip:p3@127.0.0.1:5060"}, d.now)
    assert kinds(srv.outbox.take()) == ["change-contact"]
    (r,) = responses(d.send(subscribe()))
    assert r.get("contact") == "<sip:p3@127.0.0.1:5060>"


def test_respond_in_dialog_only():
    d = Driver(
        make_server(
            faults=[{"kind": "respond", "status": 481, "method": "SUBSCRIBE", "in_dialog": True}]
        )
    )
    (reply,) = responses(d.send(subscribe()))
    assert reply.status == 200
    (r,) = responses(d.send(refresh(reply)))
    assert r.status == 481
    (r,) = responses(d.send(refresh(reply, cseq=12)))
    assert r.status == 200  # count 1 used up
    out_of_dialog = Driver(make_server(faults=[RespondWith(status=503, in_dialog=False)]))
    (r,) = responses(out_of_dialog.send(subscribe()))
    assert r.status == 503


def test_restart_forgets_subscriptions_without_notify():
    d = Driver(make_server(faults=[Restart(at=5 * SECOND)]))
    d.send(publish())
    (reply,) = responses(d.send(subscribe()))  # its NOTIFY is never answered: retransmitted
    d.advance(5 * SECOND - 1)
    effects = d.advance(5 * SECOND)
    assert notifies(effects, include_retransmissions=True) == []  # no NOTIFY on restart
    (fault,) = events(effects, FaultInjected)
    assert "1 subscription(s) forgotten" in fault.detail
    assert d.srv.count_subscriptions(ALICE, d.now) == 0
    assert SUBS_TIMER not in d.timers
    assert notifies(d.advance(60 * SECOND), include_retransmissions=True) == []  # old txn gone
    (r,) = responses(d.send(refresh(reply)))
    assert r.status == 481
