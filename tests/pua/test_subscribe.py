"""send_subscribe, its replies, refreshes and the NOTIFY helpers (pua-reference §4, §6, §7.2)."""

from __future__ import annotations

import pytest

from puasim.pua.errors import KamailioCrash
from puasim.sip.headers import cseq, from_
from puasim.sip.message import Request
from tests.pua.harness import ALICE, BOB, Harness

SRV_CONTACT = "sip:presence@127.0.0.1:5060"


def establish(h: Harness, expires: int = 600, granted: int = 600, **kw) -> Request:
    assert h.subscribe(expires=expires, **kw) == 0
    req = h.last("SUBSCRIBE")
    h.reply(req, 200, ("Expires", str(granted)), ("Contact", f"<{SRV_CONTACT}>"))
    return req


def test_initial_subscribe_headers_and_temporary_record():
    h = Harness.make()
    assert h.subscribe(expires=600) == 0
    req = h.last("SUBSCRIBE")
    assert req.uri == ALICE and req.get("To") == f"<{ALICE}>"
    assert from_(req).uri == BOB and cseq(req).seq == 10
    assert [n for n, _ in req.headers][-4:] == ["Max-Forwards", "Event", "Contact", "Expires"]
    assert req.get("Expires") == "610" and req.get("Contact") == f"<{BOB}>"
    assert req.get("Accept") is None  # D15
    [temp] = h.records()
    assert temp.is_temporary and temp.expires == h.unix() + 64 == temp.desired_expires


def test_2xx_establishes_dialog():
    h = Harness.make()
    req = establish(h, record_route=None) if False else establish(h)
    [rec] = h.records()
    assert not rec.is_temporary and rec.to_tag == "srv1" and rec.remote_contact == SRV_CONTACT
    assert rec.cseq == 10 and rec.call_id == req.get("Call-ID") and rec.expires == h.unix() + 600


def test_initial_error_no_retry():
    h = Harness.make()
    h.subscribe(expires=600)
    h.reply(h.last("SUBSCRIBE"), 489)
    assert h.records() == [] and len(h.requests("SUBSCRIBE")) == 1


def test_2xx_without_expires_counts_as_zero_d8():
    h = Harness.make()
    h.subscribe(expires=600)
    h.reply(h.last(), 200, ("Contact", f"<{SRV_CONTACT}>"))
    assert h.records() == []


def test_check_remote_contact_default_creates_new_dialog_b2():
    h = Harness.make()
    establish(h)
    h.subscribe(expires=600)  # no remote_target -> never matches (check_remote_contact=1)
    first, second = h.requests("SUBSCRIBE")
    assert first.get("Call-ID") != second.get("Call-ID") and cseq(second).seq == 10
    assert h.subscribe(expires=0) == 0  # unsubscribe finds nothing: nothing sent
    assert len(h.requests("SUBSCRIBE")) == 2


def test_in_dialog_with_remote_target_and_unsubscribe():
    h = Harness.make()
    establish(h)
    h.subscribe(expires=600, remote_target=SRV_CONTACT)
    req = h.last()
    assert req.uri == SRV_CONTACT and cseq(req).seq == 11 and req.get("To").endswith("tag=srv1")
    h.reply(req, 200, ("Expires", "600"), ("Contact", f"<{SRV_CONTACT}>"))
    assert h.records()[0].cseq == 11
    h.subscribe(expires=0, remote_target=SRV_CONTACT)
    unsub = h.last()
    assert unsub.get("Expires") == "0" and cseq(unsub).seq == 12
    h.reply(unsub, 200, ("Expires", "0"), ("Contact", f"<{SRV_CONTACT}>"))
    assert h.records() == []


def test_481_on_refresh_resubscribes():
    h = Harness.make(check_remote_contact=0)
    establish(h)
    h.subscribe(expires=600)
    h.reply(h.last(), 481)
    new = h.last()
    assert cseq(new).seq == 10 and "tag=" not in new.get("To")
    assert new.uri == SRV_CONTACT  # §4.6.1: remote_target = stored remote contact
    assert new.get("Expires") == str(600 + 3 + 10)
    [temp] = h.records()
    assert temp.is_temporary


def test_unsubscribe_error_in_same_second_resubscribes_with_13_b5():
    h = Harness.make(check_remote_contact=0)
    establish(h)
    h.subscribe(expires=0)
    h.reply(h.last(), 481)
    assert h.last().get("Expires") == "13"


def test_local_timeout_deletes_dialog_d6():
    h = Harness.make(check_remote_contact=0)
    establish(h)
    h.subscribe(expires=600)
    h.advance(31)
    assert h.records() == []


def test_indefinite_subscription_stops_refreshing_b3():
    h = Harness.make()
    establish(h, expires=-1, granted=3600)
    assert h.requests()[0].get("Expires") == "3610"
    h.advance(3520)  # sweep at 37 x 95 s = 3515 s
    first_refresh = h.last()
    assert first_refresh.get("Expires") == "3610" and cseq(first_refresh).seq == 11
    h.reply(first_refresh, 200, ("Expires", "3600"), ("Contact", f"<{SRV_CONTACT}>"))
    rec = h.records()[0]
    assert rec.desired_expires != 0  # became finite
    h.advance(3600)
    assert h.last() is first_refresh  # no second refresh
    h.advance(200)
    assert h.records() == []  # lapsed about 2 x default_expires after start


def test_temporary_dialog_without_reply_is_swept():
    h = Harness.make()
    h.subscribe(expires=600)
    h.advance(31)  # 408 deletes it
    assert h.records() == []


def test_is_dialog_and_record_id():
    h = Harness.make()
    req = establish(h, id="did-1")
    call_id, tag = req.get("Call-ID"), from_(req).tag
    key = dict(pres_uri=ALICE, watcher_uri=BOB, call_id=call_id, from_tag=tag)
    assert h.pua.is_dialog(to_tag="srv1", **key) == 0
    assert h.pua.is_dialog(to_tag="other-fork", **key) == 1  # D11: Call-ID + From-tag match
    assert h.pua.is_dialog(to_tag="srv1", **{**key, "call_id": "x"}) == -1
    assert h.pua.get_record_id(to_tag="srv1", **key) == (0, "did-1")
    assert h.pua.get_subs_list("did") == [ALICE]


def _notify(req: Request, from_tag: str, to_tag: str) -> Request:
    return Request(
        "NOTIFY", BOB,
        (
            ("Via", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKn1"),
            ("From", f"<{ALICE}>;tag={from_tag}"),
            ("To", f"<{BOB}>;tag={to_tag}"),
            ("Call-ID", req.get("Call-ID")),
            ("CSeq", "1 NOTIFY"),
            ("Contact", f"<{SRV_CONTACT}>"),
            ("Subscription-State", "active;expires=600"),
            ("Content-Length", "0"),
        ),
    )


def test_notify_answered_200_and_update_contact_misses_b1():
    h = Harness.make()
    req = establish(h)
    h.pua.receive(_notify(req, "srv1", from_(req).tag), ("127.0.0.1", 5060), h.now)
    h.collect()
    answer = h.sent[-1].message
    assert answer.status == 200
    assert any("pua_update_contact() returned -1" in getattr(e, "text", "") for e in h.events)


def test_update_contact_matched_path_is_a_crash_b1():
    h = Harness.make()
    req = establish(h)
    # tags the "wrong" way round are the only ones pua_update_contact can match
    with pytest.raises(KamailioCrash):
        h.pua.receive(_notify(req, from_(req).tag, "srv1"), ("127.0.0.1", 5060), h.now)
