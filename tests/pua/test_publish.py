"""send_publish and its replies (pua-reference §3), driven by hand."""

from __future__ import annotations

from puasim.pua.constants import INSERT_TYPE, UPDATE_TYPE, Source
from puasim.sip.headers import cseq
from tests.pua.harness import ALICE, PIDF, Harness

RPC = int(Source.RPC_ASYN_PUBLISH)
UL = int(Source.UL_PUBLISH)


def names(req):
    return [n for n, _ in req.headers]


def test_initial_publish_headers_in_kamailio_order():
    h = Harness.make()
    assert h.publish(expires=3600, body=PIDF) == 0
    req = h.last("PUBLISH")
    assert req.uri == ALICE
    assert names(req) == [
        "Via", "To", "From", "CSeq", "Call-ID", "Content-Length",
        "Max-Forwards", "Event", "Expires", "Content-Type",
    ]
    assert req.get("To") == f"<{ALICE}>"
    assert req.get("From").startswith(f"<{ALICE}>;tag=")
    assert len(req.get("From").split("tag=")[1]) == 41  # §3.6: 32 hex - 4 hex 4 hex
    assert cseq(req).seq == 10
    assert req.get("Expires") == "3601"  # §3.5: E + 1
    assert req.get("Content-Type") == "application/pidf+xml"
    assert req.get("SIP-If-Match") is None
    assert b"<tuple" in req.body
    assert h.records() == []  # §3.3 note: no record until the 2xx


def test_expires_rules():
    h = Harness.make()
    h.publish(expires=-1, body=PIDF)
    assert h.last().get("Expires") == "3601"  # default_expires + 1
    h2 = Harness.make(default_expires=300)  # < 600 -> 3600 (§1.1)
    h2.publish(expires=-1, body=PIDF)
    assert h2.last().get("Expires") == "3601"


def test_row2_unknown_etag_returns_418():
    h = Harness.make()
    assert h.publish(etag="nope", body=PIDF) == 418
    assert h.sent == []


def test_row5_new_publication_edge_cases():
    h = Harness.make()
    assert h.publish(expires=0, body=PIDF) == 0  # 5b
    assert h.publish(expires=60) == -10  # 5c: no body object
    assert h.sent == []
    assert h.publish(expires=60, body=PIDF, flag=UPDATE_TYPE) == 0  # 5a: becomes INSERT
    assert h.last().get("SIP-If-Match") is None


def test_row1_unregistered_event():
    h = Harness.make()
    assert h.publish(event=16, body=b"x") == -1  # conference is never registered (B15)


def test_2xx_creates_record_then_modify_uses_if_match():
    h = Harness.make()
    h.publish(expires=3600, body=PIDF)
    h.ok_publish(h.last(), 3600, "a.1.1.1.0")
    [rec] = h.records()
    assert (rec.etag, rec.version, rec.expires, rec.desired_expires) == ("a.1.1.1.0", 0, h.unix() + 3600, h.unix() + 3600)
    assert h.publish(expires=3600, body=PIDF) == 0
    req = h.last()
    assert req.get("SIP-If-Match") == "a.1.1.1.0"
    assert rec.version == 1  # 6b: bumped when sent
    # new Call-ID and From-tag for every PUBLISH (§3.6, D14)
    first, second = h.requests("PUBLISH")
    assert first.get("Call-ID") != second.get("Call-ID")
    h.ok_publish(req, 3600, "a.1.1.2.1")
    assert [r.etag for r in h.records()] == ["a.1.1.2.1"]


def test_removal_sends_no_body_and_keeps_version():
    h = Harness.make()
    h.publish(expires=3600, body=PIDF)
    h.ok_publish(h.last(), 3600, "e1")
    assert h.publish(expires=0, body=PIDF) == 0  # 6a: the body is ignored
    req = h.last()
    assert req.get("Expires") == "0" and req.body == b"" and req.get("Content-Type") is None
    assert req.get("SIP-If-Match") == "e1"
    assert h.records()[0].version == 0
    h.ok_publish(req, 0, "e1")
    assert h.records() == []


def test_min_expires_turns_removal_into_short_refresh_b4():
    h = Harness.make(min_expires=300)
    h.publish(expires=3600, body=PIDF)
    h.ok_publish(h.last(), 3600, "e1")
    h.publish(expires=0)
    assert h.last().get("Expires") == "300"


def test_2xx_without_expires_or_etag_is_ignored():
    h = Harness.make()
    h.publish(expires=60, body=PIDF)
    h.reply(h.last(), 200, ("SIP-ETag", "e1"))
    assert h.records() == []
    h.publish(expires=60, body=PIDF)
    h.reply(h.last(), 200, ("Expires", "60"))
    assert h.records() == []


def test_412_recovery_for_non_rpc_source_with_body():
    h = Harness.make()
    h.publish(expires=3600, body=PIDF, source_flag=UL)
    h.ok_publish(h.last(), 3600, "e1")
    h.advance(10)
    h.publish(expires=3600, body=PIDF, source_flag=UL)
    h.reply(h.last(), 412)
    assert h.records() == []
    recovery = h.last()
    assert recovery.get("SIP-If-Match") is None and recovery.body
    # desired was now+3600 at send time; §3.8.1: expires = desired - now + 3, header + 1
    assert recovery.get("Expires") == str(3600 + 3 + 1)


def test_no_412_recovery_for_rpc_source_d4():
    h = Harness.make()
    h.publish(expires=3600, body=PIDF, source_flag=RPC)
    h.ok_publish(h.last(), 3600, "e1")
    h.publish(expires=3600, body=PIDF, source_flag=RPC)
    before = len(h.requests())
    h.reply(h.last(), 412)
    assert len(h.requests()) == before
    assert h.records() == []


def test_local_timeout_keeps_record_d5():
    h = Harness.make()
    h.publish(expires=3600, body=PIDF)
    h.ok_publish(h.last(), 3600, "e1")
    h.publish(expires=3600, body=PIDF)
    h.advance(31)  # fr_timer 30 s -> local 408
    retrans = [s for s in h.sent if s.retransmission]
    assert len(retrans) == 9  # lab capture x1: 9 retransmissions before the 408
    assert [r.etag for r in h.records()] == ["e1"]


def test_two_publishes_before_first_reply_b8():
    h = Harness.make()
    h.publish(expires=3600, body=PIDF)
    h.publish(expires=3600, body=PIDF)
    a, b = h.requests("PUBLISH")
    assert a.get("SIP-If-Match") is None and b.get("SIP-If-Match") is None
    h.ok_publish(a, 3600, "e1")
    h.ok_publish(b, 3600, "e2")
    assert sorted(r.etag for r in h.records()) == ["e1", "e2"]


def test_insert_type_with_caller_etag_updates_existing_record():
    h = Harness.make()
    h.publish(expires=3600, body=PIDF)
    h.ok_publish(h.last(), 3600, "e1")
    h.publish(expires=3600, body=PIDF, flag=INSERT_TYPE, etag="e1")
    assert h.last().get("SIP-If-Match") is None
    h.ok_publish(h.last(), 3600, "e2")
    assert [r.etag for r in h.records()] == ["e2"]  # §3.8 row 7, not a second record


def test_refresh_timeline_indefinite_publication():
    """§5.4 row 1: expires -1, granted 3600 -> refresh in (expires-100, expires-5]."""
    h = Harness.make()
    h.publish(expires=-1, body=PIDF)
    h.ok_publish(h.last(), 3600, "e1")
    h.advance(3600)
    refreshes = h.requests("PUBLISH")[1:]
    assert len(refreshes) == 1
    r = refreshes[0]
    assert r.get("Expires") == "3601" and r.get("SIP-If-Match") == "e1" and r.body == b""
    assert r.get("Content-Type") is None


def test_no_refresh_when_granted_covers_desired_then_silent_delete():
    """§5.4 row 2: expires=600 granted 601 -> never refreshed, deleted after expires + 10."""
    h = Harness.make()
    h.publish(expires=600, body=PIDF)
    h.ok_publish(h.last(), 601, "e1")
    h.advance(700)
    assert len(h.requests("PUBLISH")) == 1
    assert h.records() == []
    assert h.changes("expired")


def test_412_on_timer_refresh_drops_publication_b9():
    h = Harness.make()
    h.publish(expires=-1, body=PIDF, source_flag=UL)
    h.ok_publish(h.last(), 3600, "e1")
    h.advance(3520)
    refresh = h.last()
    assert refresh.get("SIP-If-Match") == "e1"
    h.reply(refresh, 412)
    assert h.records() == []
    h.advance(4000)
    assert h.requests("PUBLISH")[-1] is refresh  # nothing re-published


def test_update_period_zero_means_no_timers():
    h = Harness.make(update_period=0)
    assert h.timers == {}


def test_callbacks_run_for_api_requests_only():
    h = Harness.make()
    seen = []
    assert h.pua.register_puacb(UL, lambda he, reply, faked, now: seen.append(reply.status)) == 1
    assert h.pua.register_puacb(1024, lambda *a: None) == -5  # B16
    h.publish(expires=-1, body=PIDF, source_flag=UL)
    h.ok_publish(h.last(), 3600, "e1")
    h.advance(3520)
    h.ok_publish(h.last(), 3600, "e2")  # timer refresh: REQ_ME, no callback
    assert seen == [200]


# -- issue 16 item 2: a SIP-ETag that is not a token is stored raw, as publ_cback_func does ---
import pytest  # noqa: E402

RAW_ETAGS = ['"quoted-tag"', "", "two words", "a.1.2;x=\"y z\""]


@pytest.mark.parametrize("etag", RAW_ETAGS, ids=["quoted", "empty", "space", "params"])
def test_a_non_token_sip_etag_is_stored_raw_and_sent_back_verbatim(etag):
    h = Harness.make()
    assert h.publish(expires=3600, body=PIDF) == 0
    h.ok_publish(h.last("PUBLISH"), 3600, etag)
    (rec,) = h.records()
    assert rec.etag == etag
    assert h.publish(expires=3600, body=PIDF) == 0  # modify: the stored tag goes into SIP-If-Match
    assert h.last("PUBLISH").get("SIP-If-Match") == etag
    from puasim.sip.parser import parse, serialise

    assert parse(serialise(h.last("PUBLISH"))).get("SIP-If-Match") == etag  # and survives the wire


def test_the_etag_is_the_header_body_trimmed_by_the_parser():
    from puasim.sip.message import Response
    from puasim.sip.parser import parse, serialise

    h = Harness.make()
    h.publish(expires=3600, body=PIDF)
    req = h.last("PUBLISH")
    keep = tuple((n, v) for n, v in req.headers if n.lower() in ("via", "from", "to", "call-id", "cseq"))
    wire = serialise(Response(200, "OK", (*keep, ("Expires", "3600"), ("Content-Length", "0")), b""))
    wire = wire.replace(b"Content-Length", b'SIP-ETag:   "x y"  \t\r\nContent-Length')
    h.pua.receive(parse(wire), ("127.0.0.1", 5060), h.now)
    h.collect()
    assert [r.etag for r in h.records()] == ['"x y"']
