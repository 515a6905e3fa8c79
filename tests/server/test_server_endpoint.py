"""PresenceServer driven by hand: requests in, effects out (no simulator)."""

from __future__ import annotations

import random
import re

import pytest
from server_helpers import (
    CLIENT,
    LAB_PID,
    LAB_START,
    PIDF_CLOSED,
    answer,
    events,
    exchange,
    make_server,
    publish,
    request,
    sent,
    timers,
)

from puasim.effects import SECOND, CancelTimer
from puasim.server import PresenceServer, event_key, get_profile, presentity_aor
from puasim.server.endpoint import EXPIRE_TIMER
from puasim.sip import headers as H
from puasim.sip.message import Request
from puasim.trace.events import MessageRejected, ServerStateChanged

TO_TAG = re.compile(r"[0-9a-f]{32}-[0-9a-f]{8}")


def names(resp):
    return [n for n, _ in resp.headers]


def test_reply_shape_matches_the_lab_capture():
    """x3_probe_publish_py: Via, From, To;tag, Call-ID, CSeq, Expires, SIP-ETag, Content-Length 0."""
    srv = make_server()
    req = publish(expires=60)
    reply, effects = exchange(srv, req)
    assert (reply.status, reply.reason) == (200, "OK")
    assert names(reply) == [
        "Via",
        "From",
        "To",
        "Call-ID",
        "CSeq",
        "Expires",
        "SIP-ETag",
        "Content-Length",
    ]
    assert reply.get("via") == req.get("via")
    assert reply.get("from") == req.get("from")
    assert reply.get("call-id") == req.get("call-id") and reply.get("cseq") == "10 PUBLISH"
    assert TO_TAG.fullmatch(H.to(reply).tag)
    assert reply.get("expires") == "60"
    assert reply.get("sip-etag") == f"a.{LAB_START}.{LAB_PID}.1.0"
    assert reply.get("content-length") == "0" and reply.body == b""
    assert sent(effects)[0].dest == CLIENT
    assert events(effects, ServerStateChanged)[0].action == "created"


def test_error_replies_carry_no_etag_or_expires():
    srv = make_server()
    reply = answer(srv, publish(if_match="a.1.2.3.0"))
    assert (reply.status, reply.reason) == (412, "Conditional request failed")
    assert names(reply) == ["Via", "From", "To", "Call-ID", "CSeq", "Content-Length"]


def test_a_to_tag_already_present_is_kept():
    srv = make_server()
    req = publish()
    req = Request(
        req.method,
        req.uri,
        tuple((n, v + ";tag=given") if n == "To" else (n, v) for n, v in req.headers),
        req.body,
    )
    assert H.to(answer(srv, req)).tag == "given"


def test_server_header_knob():
    srv = make_server(
        get_profile("kamailio", server_header="puasim-lab presence server (kamailio 5.6)")
    )
    reply = answer(srv, publish())
    assert names(reply)[-2:] == ["Server", "Content-Length"]


def test_full_publication_life_cycle_over_the_endpoint():
    srv = make_server()
    e1 = answer(srv, publish(expires=3601)).get("sip-etag")
    r2 = answer(srv, publish(if_match=e1, body=PIDF_CLOSED), 1 * SECOND)
    e2 = r2.get("sip-etag")
    assert e2.endswith(".2.1") and r2.get("expires") == "3600"
    r3 = answer(srv, publish(if_match=e2, expires=0, body=b"", content_type=None), 2 * SECOND)
    assert (r3.status, r3.get("expires"), r3.get("sip-etag")) == (200, "0", e2)
    assert srv.publications == []


def test_retransmission_gets_the_same_reply_and_no_new_state():
    srv = make_server()
    req = publish()
    first = answer(srv, req)
    srv.receive(req, CLIENT, 300_000)
    effects = srv.outbox.take()
    (again,) = sent(effects)
    assert again.retransmission and again.message is first
    assert events(effects, ServerStateChanged) == []
    assert len(srv.publications) == 1


def test_unparsable_request_parts_get_profile_answers():
    srv = make_server()
    assert answer(srv, publish(expires="soon")).status == 500
    assert answer(srv, publish(event="pres ence")).status == 400
    assert answer(srv, publish(content_length=False)).status == 400
    assert answer(srv, publish(uri="tel:+123")).status == 400
    strict = make_server("rfc3903")
    assert answer(strict, publish(expires="soon")).status == 400


def test_other_methods():
    srv = make_server()
    opt = answer(srv, request("OPTIONS", uri="sip:127.0.0.1:5060"))
    assert (opt.status, opt.reason) == (200, "Keepalive")
    # presence SUBSCRIBEs are served: tests/server/test_server_notifier.py
    sub = answer(srv, request("SUBSCRIBE", event="foo"))
    assert (sub.status, sub.reason, sub.get("allow-events")) == (
        489,
        "Bad Event",
        "presence, dialog, reg, message-summary",
    )
    info = answer(srv, request("MESSAGE"))
    assert (info.status, info.get("allow")) == (405, "PUBLISH, SUBSCRIBE, OPTIONS")
    assert answer(make_server("rfc3903"), request("OPTIONS")).reason == "OK"


def test_ack_and_responses_are_absorbed():
    srv = make_server()
    reply, effects = exchange(srv, request("ACK"))
    assert reply is None and sent(effects) == []
    srv.receive(answer(make_server(), publish()), CLIENT, 0)
    assert sent(srv.outbox.take()) == []


def test_garbage_is_recorded_not_raised():
    srv = make_server()
    bad = Request("PUBLISH", "sip:alice@127.0.0.1", (("Via", "nonsense"),), b"")
    reply, effects = exchange(srv, bad)
    assert reply is None
    (rejected,) = events(effects, MessageRejected)
    assert (rejected.message, rejected.status) == (bad, 0)
    assert "Via" in rejected.reason


def test_handlers_are_the_extension_point():
    srv = make_server()
    seen = []

    def notifier(txn, now):
        seen.append(txn.request.method)
        srv.reply(txn, 200, "OK", (("Expires", "600"),), now)

    srv.handlers["SUBSCRIBE"] = notifier
    assert answer(srv, request("SUBSCRIBE", event="presence")).status == 200
    assert seen == ["SUBSCRIBE"]


# -- expiry through the endpoint's timer --------------------------------------------------
def test_expiry_timer_is_armed_and_fires():
    srv = make_server()
    _, effects = exchange(srv, publish(expires=30))
    assert [(t.key, t.at) for t in timers(effects) if t.key == EXPIRE_TIMER] == [
        (EXPIRE_TIMER, 30 * SECOND)
    ]
    srv.timer(EXPIRE_TIMER, 30 * SECOND)
    effects = srv.outbox.take()
    (ev,) = events(effects, ServerStateChanged)
    assert (ev.action, ev.expires) == ("expired", 30 * SECOND)
    assert srv.publications == []
    assert timers(effects) == []  # nothing left to expire: not re-armed


def test_removal_cancels_the_expiry_timer():
    srv = make_server()
    etag = answer(srv, publish(expires=30)).get("sip-etag")
    _, effects = exchange(srv, publish(if_match=etag, expires=0, body=b""), SECOND)
    assert CancelTimer(EXPIRE_TIMER) in effects


def test_refresh_rearms_the_expiry_timer():
    srv = make_server()
    etag = answer(srv, publish(expires=30)).get("sip-etag")
    _, effects = exchange(srv, publish(if_match=etag, expires=30, body=b""), 20 * SECOND)
    assert [t.at for t in timers(effects) if t.key == EXPIRE_TIMER] == [50 * SECOND]


def test_transaction_timers_are_routed_to_the_layer():
    srv = make_server()
    _, effects = exchange(srv, publish())
    (j,) = [t for t in timers(effects) if t.key[0] == "txn"]
    assert j.at == 64 * 500_000  # timer J = 64*T1 (RFC 3261 §17.2.2)
    srv.timer(j.key, j.at)
    assert srv.layer.servers == {}


# -- identity and determinism -----------------------------------------------------------
def test_start_time_defaults_to_epoch_plus_start_instant():
    srv = PresenceServer(rng=random.Random(3), epoch=1_700_000_000, pid=99)
    srv.start(5 * SECOND)
    assert answer(srv, publish(), 5 * SECOND).get("sip-etag") == "a.1700000005.99.1.0"


def test_pid_is_drawn_from_the_rng_when_not_configured():
    a = PresenceServer(rng=random.Random(3))
    b = PresenceServer(rng=random.Random(3))
    a.start(0)
    b.start(0)
    ea = answer(a, publish(branch="z9hG4bKsame")).get("sip-etag")
    assert ea == answer(b, publish(branch="z9hG4bKsame")).get("sip-etag")
    assert 1000 <= int(ea.split(".")[2]) < 32768


def run_script(profile, seed):
    srv = make_server(profile, seed=seed)
    out = []
    etag = None
    for i in range(6):
        req = publish(
            if_match=etag, body=b"" if etag and i % 2 else publish().body, branch=f"z9hG4bKd{i}"
        )
        srv.receive(req, CLIENT, i * SECOND)
        out += srv.outbox.take()
        etag = [s.message for s in sent(out)][-1].get("sip-etag")
    return out


@pytest.mark.parametrize("profile", ["kamailio", "rfc3903"])
def test_same_seed_same_effects(profile):
    assert run_script(profile, 11) == run_script(profile, 11)


def test_seed_changes_random_parts_only():
    def etags_and_tags(profile, seed):
        msgs = [s.message for s in sent(run_script(profile, seed))]
        return [m.get("sip-etag") for m in msgs], [H.to(m).tag for m in msgs]

    k1, k2 = etags_and_tags("kamailio", 1), etags_and_tags("kamailio", 2)
    assert k1 == k2  # Kamailio's ETags and To-tags are counters and hashes: no seed in them
    r1, r2 = etags_and_tags("rfc3903", 1), etags_and_tags("rfc3903", 2)
    assert r1[0] != r2[0]


def test_helpers():
    assert presentity_aor("sip:alice@Example.COM:5080;transport=udp") == "sip:alice@example.com"
    assert presentity_aor("sip:example.com") == "sip:example.com"
    assert presentity_aor("tel:+1") is None
    assert event_key(H.parse_event("Dialog;SLA")) == "dialog;sla"
    assert event_key(H.parse_event("presence;id=7")) == "presence"
