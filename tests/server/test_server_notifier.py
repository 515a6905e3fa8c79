"""The notifier (RFC 6665 §4.2) of PresenceServer driven by hand: SUBSCRIBE in, 2xx + NOTIFY out."""

from __future__ import annotations

from pathlib import Path

from server_helpers import (
    ALICE,
    CLIENT,
    PIDF,
    PIDF_CLOSED,
    Driver,
    events,
    make_server,
    notifies,
    publish,
    refresh,
    responses,
    sent,
    subscribe,
)

from puasim.bodies.pidf_merge import merge_pidf
from puasim.effects import SECOND
from puasim.server import get_profile
from puasim.server.notifier import SUBS_TIMER
from puasim.sip import headers as H
from puasim.trace.events import Note


def start(profile="kamailio", **kw):
    return Driver(make_server(profile, **kw))


def established(d: Driver, req=None, at: int | None = None):
    """Send an initial SUBSCRIBE; return (2xx, first NOTIFY)."""
    effects = d.send(req or subscribe(), at)
    (reply,) = responses(effects)
    assert reply.status in (200, 202), reply
    (notify,) = notifies(effects)
    return reply, notify


def state(notify) -> str:
    return notify.get("subscription-state")


def names(msg) -> list[str]:
    return [n for n, _ in msg.headers]


# -- initial SUBSCRIBE ------------------------------------------------------------------
def test_initial_subscribe_kamailio_matches_the_lab_capture():
    """Lab g2: 200 Expires 610 Contact <sip:presence@127.0.0.1:5060>, NOTIFY CSeq 2, To port dropped."""
    d = start()
    effects = d.send(subscribe())
    sends = [s for s in effects if hasattr(s, "message")]
    reply, notify = sends[0].message, sends[1].message  # the 2xx leaves before the NOTIFY
    assert (reply.status, reply.reason) == (200, "OK")
    assert names(reply) == [
        "Via",
        "From",
        "To",
        "Call-ID",
        "CSeq",
        "Expires",
        "Contact",
        "Content-Length",
    ]
    assert (reply.get("expires"), reply.get("contact")) == ("610", "<sip:presence@127.0.0.1:5060>")
    to_tag = H.to(reply).tag
    assert to_tag and len(to_tag) == 41 and to_tag[32] == "-"
    assert notify.uri == "sip:bob@127.0.0.1:5070"
    assert sends[1].dest == CLIENT
    assert names(notify) == [
        "Via", "To", "From", "CSeq", "Call-ID", "Content-Length",
        "Max-Forwards", "Event", "Contact", "Subscription-State",
    ]  # fmt: skip
    assert notify.get("to") == "<sip:bob@127.0.0.1>;tag=bobtag"
    assert notify.get("from") == f"<{ALICE}>;tag={to_tag}"
    assert (notify.get("cseq"), notify.get("call-id")) == ("2 NOTIFY", "sub1@127.0.0.1")
    assert notify.get("content-length") == "0" and notify.body == b""
    assert (notify.get("max-forwards"), notify.get("event")) == ("70", "presence")
    assert notify.get("contact") == "<sip:presence@127.0.0.1:5060>"
    assert state(notify) == "active;expires=610"
    assert d.srv.count_subscriptions(ALICE, 0) == 1
    (note,) = [n for n in events(effects, Note) if n.level == "server"]
    assert note.text.startswith(
        "subscription created: sip:bob@127.0.0.1:5070 -> sip:alice@127.0.0.1"
    )


def test_notify_carries_the_presentity_publication_with_content_type():
    """Kamailio re-writes even a single PIDF with libxml2's formatter (presence_xml
    parses and dumps every body it aggregates): the one-line helper body comes
    out indented; the strict profile sends it as published."""
    d = start()
    d.send(publish(body=PIDF))
    d.send(publish(uri="sip:carol@127.0.0.1", body=PIDF_CLOSED))
    _, notify = established(d)
    assert notify.body == merge_pidf([PIDF]) != PIDF
    assert b'\n  <tuple id="t1">\n    <status>\n' in notify.body
    assert notify.headers[-1] == ("Content-Type", "application/pidf+xml")
    assert notify.get("content-length") == str(len(notify.body))
    d = start("rfc3903")
    d.send(publish(body=PIDF))
    _, notify = established(d)
    assert notify.body == PIDF


def test_rfc3903_profile_answers_200_keeps_the_watcher_uri_and_starts_cseq_at_1():
    d = start("rfc3903")
    reply, notify = established(d)
    assert reply.status == 200  # RFC 6665 §8.3.1: no 202
    assert notify.get("to") == "<sip:bob@127.0.0.1:5070>;tag=bobtag"
    assert notify.get("cseq") == "1 NOTIFY"
    d202 = start(get_profile("rfc3903", subscribe_status=202))
    assert established(d202)[0].status == 202


def test_expires_capped_and_default():
    d = start()
    reply, notify = established(d, subscribe(expires=7200))
    assert reply.get("expires") == "3600" and state(notify) == "active;expires=3600"
    reply, _ = established(d, subscribe(expires=None, call_id="sub2", from_tag="t2"))
    assert reply.get("expires") == "3600"  # the package default (Appendix A)


def test_event_id_and_parameters_echoed_in_notify():
    d = start("rfc3903")
    _, notify = established(d, subscribe(event="dialog;sla"))
    assert notify.get("event") == "dialog;sla"
    _, notify = established(d, subscribe(event="presence;id=7", call_id="c2", from_tag="t2"))
    assert notify.get("event") == "presence;id=7"


# -- refused SUBSCRIBEs -----------------------------------------------------------------
def test_bad_event_489_with_allow_events_and_other_400s():
    d = start()
    (r,) = responses(d.send(subscribe(event="foo")))
    assert (r.status, r.get("allow-events")) == (489, "presence, dialog, reg, message-summary")
    (r,) = responses(d.send(subscribe(event=None)))
    assert r.status == 489
    (r,) = responses(d.send(subscribe(event="pres ence")))
    assert (r.status, r.reason) == (400, "Bad request")
    (r,) = responses(d.send(subscribe(contact=None)))
    assert r.status == 400
    (r,) = responses(d.send(subscribe(expires="soon")))
    assert r.status == 400
    assert d.srv.count_subscriptions(ALICE, 0) == 0
    assert notifies(d.effects) == []


def test_423_below_min_expires_or_raised_with_action_2():
    d = start("rfc3903")
    effects = d.send(subscribe(expires=30))
    (r,) = responses(effects)
    assert (r.status, r.reason, r.get("min-expires")) == (423, "Interval Too Brief", "60")
    assert notifies(effects) == []
    d2 = start(get_profile("kamailio", subs_min_expires=120, subs_min_expires_action=2))
    reply, notify = established(d2, subscribe(expires=70))
    assert reply.get("expires") == "120" and state(notify) == "active;expires=120"
    d3 = start(get_profile("kamailio", subs_min_expires=120))  # lab finding f: 423 for 70
    (r,) = responses(d3.send(subscribe(expires=70)))
    assert (r.status, r.get("min-expires")) == (423, "120")


def test_unknown_in_dialog_subscribe_481():
    d = start()
    (r,) = responses(d.send(subscribe("sip:presence@127.0.0.1:5060", to_tag="nope", cseq=11)))
    assert (r.status, r.reason) == (481, "Subscription does not exist")
    strict = start("rfc3903")
    (r,) = responses(strict.send(subscribe(to_tag="nope")))
    assert (r.status, r.reason) == (481, "Call/Transaction Does Not Exist")


def test_stale_cseq_refused():
    for profile, status in (("kamailio", 400), ("rfc3903", 500)):
        d = start(profile)
        reply, _ = established(d)
        (r,) = responses(d.send(refresh(reply, cseq=10)))
        assert r.status == status


# -- refresh, unsubscribe, fetch -------------------------------------------------------
def test_refresh_updates_expiry_cseq_and_remote_target():
    d = start()
    reply, _ = established(d)
    effects = d.send(
        refresh(reply, cseq=11, expires=77, contact="sip:bob@127.0.0.1:5072"), 10 * SECOND
    )
    (r,) = responses(effects)
    assert (r.status, r.get("expires"), H.to(r).tag) == (200, "77", H.to(reply).tag)
    (notify,) = notifies(effects)
    assert (notify.get("cseq"), state(notify)) == ("3 NOTIFY", "active;expires=77")
    assert notify.uri == "sip:bob@127.0.0.1:5072"  # SUBSCRIBE is a target refresh request
    assert d.timers[SUBS_TIMER] == 87 * SECOND


def test_unsubscribe_terminated_timeout_with_the_state():
    """Lab g: 200 Expires 0 and terminated;reason=timeout, then the dialog is gone (481)."""
    d = start()
    d.send(publish())
    reply, _ = established(d)
    effects = d.send(refresh(reply, expires=0), SECOND)
    (r,) = responses(effects)
    assert (r.status, r.get("expires"), r.get("contact")) == (
        200,
        "0",
        "<sip:presence@127.0.0.1:5060>",
    )
    (notify,) = notifies(effects)
    assert state(notify) == "terminated;reason=timeout"
    assert notify.body == merge_pidf([PIDF])  # Kamailio picks the body before marking it terminated
    assert d.srv.count_subscriptions(ALICE, SECOND) == 0
    assert SUBS_TIMER not in d.timers
    (r,) = responses(d.send(refresh(reply, cseq=12)))
    assert r.status == 481


def test_unsubscribe_reason_knob():
    d = start(get_profile("rfc3903", unsubscribe_reason=None))
    reply, _ = established(d)
    (notify,) = notifies(d.send(refresh(reply, expires=0)))
    assert state(notify) == "terminated"


def test_fetch_initial_expires_0():
    d = start()
    d.send(publish())
    effects = d.send(subscribe(expires=0))
    (r,) = responses(effects)
    assert (r.status, r.get("expires")) == (200, "0")
    (notify,) = notifies(effects)
    assert (state(notify), notify.body) == ("terminated;reason=timeout", merge_pidf([PIDF]))
    assert d.srv.count_subscriptions(ALICE, 0) == 0


# -- NOTIFY on state changes ------------------------------------------------------------
def test_notify_follows_publish_modify_refresh_remove():
    d = start()
    _, first = established(d)
    effects = d.send(publish(expires=60), SECOND)
    assert [type(m.message).__name__ for m in effects if hasattr(m, "message")] == [
        "Response",
        "Request",
    ]
    (n1,) = notifies(effects)
    assert (n1.get("cseq"), n1.body, state(n1)) == ("3 NOTIFY", merge_pidf([PIDF]), "active;expires=609")
    etag = d.srv.publications[0].etag
    (n2,) = notifies(d.send(publish(if_match=etag, body=PIDF_CLOSED), 2 * SECOND))
    assert n2.body == merge_pidf([PIDF_CLOSED])
    etag = d.srv.publications[0].etag
    (n3,) = notifies(d.send(publish(if_match=etag, body=b"", content_type=None), 3 * SECOND))
    assert n3.body == merge_pidf([PIDF_CLOSED])  # lab d: a body-less refresh still NOTIFYs the full body
    etag = d.srv.publications[0].etag
    (n4,) = notifies(d.send(publish(if_match=etag, body=b"", expires=0), 4 * SECOND))
    assert (n4.body, n4.get("content-type"), n4.get("cseq")) == (b"", None, "6 NOTIFY")
    assert notifies(d.send(publish(uri="sip:carol@127.0.0.1"), 5 * SECOND)) == []


def test_strict_profile_does_not_notify_a_refresh():
    d = start("rfc3903")
    established(d)
    d.send(publish())
    etag = d.srv.publications[0].etag
    assert notifies(d.send(publish(if_match=etag, body=b"", content_type=None))) == []


def test_notify_when_the_publication_expires():
    d = start()
    established(d)
    d.send(publish(expires=30))
    (n,) = notifies(d.advance(30 * SECOND))
    assert (n.body, state(n)) == (b"", "active;expires=580")


# -- expiry of the subscription -------------------------------------------------------
def test_terminated_timeout_notify_at_expiry():
    d = start()
    d.send(publish())
    established(d, subscribe(expires=30))
    assert d.timers[SUBS_TIMER] == 30 * SECOND
    effects = d.advance(30 * SECOND)
    (n,) = notifies(effects)
    assert (state(n), n.body, n.get("cseq")) == ("terminated;reason=timeout", b"", "3 NOTIFY")
    assert d.srv.count_subscriptions(ALICE, 30 * SECOND) == 0
    assert any(e.text.startswith("subscription expired") for e in events(effects, Note))


def test_expiry_waits_for_the_clean_period_tick():
    d = start(get_profile("kamailio", clean_period_s=10))
    established(d, subscribe(expires=25), at=SECOND)
    assert d.timers[SUBS_TIMER] == 30 * SECOND  # lapse at 26 s, swept at the 30 s tick
    assert notifies(d.advance(29 * SECOND)) == []
    (n,) = notifies(d.advance(30 * SECOND))
    assert state(n) == "terminated;reason=timeout"


# -- NOTIFY answers (RFC 6665 §4.2.2) --------------------------------------------------
def test_notify_481_terminates_200_keeps():
    d = start()
    reply, notify = established(d)
    d.answer(notify, 200)
    assert d.srv.count_subscriptions(ALICE, 0) == 1
    (n2,) = notifies(d.send(publish()))
    effects = d.answer(n2, 481)
    assert d.srv.count_subscriptions(ALICE, 0) == 0
    assert any("NOTIFY answered 481" in e.text for e in events(effects, Note))
    assert notifies(d.send(publish(uri=ALICE, body=PIDF_CLOSED))) == []
    (r,) = responses(d.send(refresh(reply)))
    assert r.status == 481


def test_notify_timeout_terminates():
    d = start()
    established(d)
    effects = d.advance(40 * SECOND)  # never answered: retransmissions, then timer F (32 s)
    assert len(notifies(effects, include_retransmissions=True)) > 3
    assert d.srv.count_subscriptions(ALICE, 40 * SECOND) == 0
    assert any("NOTIFY timed out" in e.text for e in events(effects, Note))


def test_other_notify_errors_keep_the_subscription():
    d = start("rfc3903")
    _, notify = established(d)
    d.answer(notify, 404)  # only Kamailio drops on 404
    assert d.srv.count_subscriptions(ALICE, 0) == 1
    k = start()
    _, notify = established(k)
    k.answer(notify, 404)
    assert k.srv.count_subscriptions(ALICE, 0) == 0


# -- knobs ------------------------------------------------------------------------------
def test_pending_then_active():
    d = start(get_profile("kamailio", initial_state="pending", pending_for_s=5))
    d.send(publish())
    _, notify = established(d)
    assert (state(notify), notify.body) == ("pending;expires=610", b"")
    assert (
        notifies(d.send(publish(uri=ALICE, body=PIDF_CLOSED), SECOND)) == []
    )  # nothing to tell yet
    (n,) = notifies(d.advance(5 * SECOND))
    assert (state(n), n.body) == ("active;expires=605", merge_pidf([PIDF_CLOSED]))


def test_record_route_knob_and_route_set_from_the_request():
    rr = ("<sip:127.0.0.1:5060;lr>",)
    d = start(
        get_profile("kamailio", record_route=list(rr), notifier_contact="sip:pres@127.0.0.1:5060")
    )
    effects = d.send(subscribe(record_route=("<sip:10.0.0.9:5080;lr>",)))
    (reply,) = responses(effects)
    assert reply.get_all("record-route") == ["<sip:127.0.0.1:5060;lr>", "<sip:10.0.0.9:5080;lr>"]
    assert reply.get("contact") == "<sip:pres@127.0.0.1:5060>"
    (send,) = [s for s in sent(effects) if getattr(s.message, "method", "") == "NOTIFY"]
    assert send.message.get("route") == "<sip:10.0.0.9:5080;lr>"
    assert send.dest == ("10.0.0.9", 5080) and send.message.uri == "sip:bob@127.0.0.1:5070"


def test_profile_knob_validation():
    import pytest

    for bad in (
        {"subscribe_status": 201},
        {"subs_min_expires_action": 3},
        {"initial_state": "waiting"},
        {"notify_cseq_start": 0},
    ):
        with pytest.raises(ValueError):
            get_profile("kamailio", **bad)


# -- the shared request counter (ETags after SUBSCRIBEs) -----------------------------------
def _lab_etags(name: str) -> list[str]:
    """Every SIP-ETag of a lab capture's text decode, in order."""
    path = Path(__file__).parent.parent / "data" / "lab" / "kamailio" / f"{name}.txt"
    return [
        line.split(":", 1)[1].strip()
        for line in path.read_text().splitlines()
        if line.startswith("SIP-ETag:")
    ]


def test_lab_x2_subscribes_advance_the_etag_counter():
    """Lab x2: initial SUBSCRIBE, in-dialog SUBSCRIBE, PUBLISH, removing PUBLISH.

    Kamailio's ``pres_counter`` advances at the top of ``handle_subscribe`` as
    it does in ``handle_publish``, so the first PUBLISH of the process gets
    counter 3; the 200 to the removal echoes that tag (lab finding c).
    """
    lab = _lab_etags("x2_rpc_transports")
    start_time, pid = (int(f) for f in lab[0].split(".")[1:3])
    d = start(start_time=start_time, pid=pid)
    reply, _ = established(d, subscribe("sip:gina@127.0.0.1", to_uri="sip:gina@127.0.0.1"))
    (r,) = responses(d.send(refresh(reply, cseq=11), SECOND))
    assert r.status == 200
    (first,) = responses(d.send(publish("sip:gina@127.0.0.1"), 2 * SECOND))
    etag = first.get("sip-etag")
    (second,) = responses(
        d.send(
            publish("sip:gina@127.0.0.1", if_match=etag, expires=0, body=b"", content_type=None),
            3 * SECOND,
        )
    )
    assert [etag, second.get("sip-etag")] == lab == [f"a.{start_time}.{pid}.3.0"] * 2


# -- several publications of one presentity (presence_xml aggregation) ---------------------
def _pidf(tuple_id: str, basic: str) -> bytes:
    return (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:alice@127.0.0.1">\n'
        b'  <tuple id="' + tuple_id.encode() + b'">\n'
        b"    <status><basic>" + basic.encode() + b"</basic></status>\n"
        b"  </tuple>\n</presence>\n"
    )


def test_kamailio_notify_merges_all_live_publications_newest_first():
    d = start()
    d.send(publish(body=_pidf("desk", "open")))
    d.send(publish(body=_pidf("phone", "closed")), SECOND)
    _, notify = established(d, at=2 * SECOND)
    body = notify.body.decode()
    assert body.index('id="phone"') < body.index('id="desk"')
    assert '<tuple xmlns="urn:ietf:params:xml:ns:pidf" id="desk">' in body
    assert notify.get("content-length") == str(len(notify.body))
    # the strict profile keeps sending the newest publication only
    d = start("rfc3903")
    d.send(publish(body=_pidf("desk", "open")))
    d.send(publish(body=_pidf("phone", "closed")), SECOND)
    _, notify = established(d, at=2 * SECOND)
    assert notify.body == _pidf("phone", "closed")


def test_kamailio_notify_after_a_publication_expires_drops_its_tuple():
    d = start()
    d.send(publish(body=_pidf("desk", "open"), expires=30))
    d.send(publish(body=_pidf("phone", "closed")), SECOND)
    _, first = established(d, at=2 * SECOND)
    assert b'id="desk"' in first.body
    effects = d.advance(31 * SECOND)
    (notify,) = notifies(effects)
    assert notify.body == _pidf("phone", "closed")


def test_kamailio_notify_without_body_when_the_merge_fails():
    """A tuple without id makes presence_xml's aggregation fail: no body at all."""
    d = start()
    d.send(publish(body=_pidf("desk", "open").replace(b' id="desk"', b"")))
    d.send(publish(body=_pidf("phone", "closed")), SECOND)
    effects = d.send(subscribe(), 2 * SECOND)
    (notify,) = notifies(effects)
    assert notify.body == b"" and notify.get("content-type") is None
    assert any("without body" in n.text for n in events(effects, Note) if n.level == "warning")
