"""Repairs of pua's SUBSCRIBE and PUBLISH-reply defects (pua-reference §10.2 B1–B3, B5–B7, B31).

Each test runs the same steps with the defect (kamailio-5.6, no repair) and
with only that repair switched on, and shows the difference.
"""

from __future__ import annotations

import pytest

from puasim.pua.constants import INSERT_TYPE
from puasim.sip.headers import cseq, from_
from puasim.sip.message import Request
from tests.pua.harness import ALICE, BOB, PIDF, Harness

SRV_CONTACT = "sip:presence@127.0.0.1:5060"
NEW_CONTACT = "sip:presence@127.0.0.2:5060"
OTHER = "sip:carol@127.0.0.1"


def establish(h: Harness, expires: int = 600, granted: int = 600, **kw) -> Request:
    assert h.subscribe(expires=expires, **kw) == 0
    req = h.last("SUBSCRIBE")
    h.reply(req, 200, ("Expires", str(granted)), ("Contact", f"<{SRV_CONTACT}>"))
    return req


def _ok(h: Harness, req: Request, expires: int = 600) -> None:
    h.reply(req, 200, ("Expires", str(expires)), ("Contact", f"<{SRV_CONTACT}>"))


def _notify(req: Request, contact: str) -> Request:
    """A NOTIFY of the notifier in the dialog of ``req``: From-tag the server's, To-tag ours."""
    return Request(
        "NOTIFY", BOB,
        (
            ("Via", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKn1"),
            ("From", f"<{ALICE}>;tag=srv1"),
            ("To", f"<{BOB}>;tag={from_(req).tag}"),
            ("Call-ID", req.get("Call-ID")),
            ("CSeq", "1 NOTIFY"),
            ("Contact", f"<{contact}>;expires=600"),
            ("Subscription-State", "active;expires=600"),
            ("Content-Length", "0"),
        ),
    )


# -- B1 pua_update_contact ------------------------------------------------------------


@pytest.mark.parametrize("repairs", ["", "B1"])
def test_b1_update_contact_takes_the_notify_contact(repairs):
    h = Harness.make(repairs=repairs)
    req = establish(h)
    h.pua.receive(_notify(req, NEW_CONTACT), ("127.0.0.1", 5060), h.now)
    h.collect()
    assert h.sent[-1].message.status == 200
    notes = [getattr(e, "text", "") for e in h.events]
    [rec] = h.records()
    if not repairs:  # tags swapped in the key: no dialog found, target unchanged
        assert "pua_update_contact() returned -1" in notes
        assert rec.remote_contact == SRV_CONTACT
        return
    assert "pua_update_contact() returned 1" in notes
    assert rec.remote_contact == NEW_CONTACT  # the URI, not the raw header body
    h.subscribe(expires=600, remote_target=NEW_CONTACT)
    assert h.last().uri == NEW_CONTACT and cseq(h.last()).seq == 11  # next in-dialog request goes there


def test_b1_repaired_finds_the_dialog_when_the_notify_drops_the_watcher_port():
    h = Harness.make(repairs="B1")
    req = establish(h)  # watcher sip:bob@127.0.0.1:5070
    notify = _notify(req, NEW_CONTACT)
    headers = tuple((k, v.replace(":5070", "") if k == "To" else v) for k, v in notify.headers)
    h.pua.receive(Request(notify.method, notify.uri, headers, notify.body), ("127.0.0.1", 5060), h.now)
    h.collect()
    assert h.records()[0].remote_contact == NEW_CONTACT


# -- B2 look-up without remote_target ---------------------------------------------------


@pytest.mark.parametrize("repairs", ["", "B2"])
def test_b2_subscribe_without_remote_target_reaches_its_dialog(repairs):
    h = Harness.make(repairs=repairs)
    first = establish(h)
    h.subscribe(expires=600)  # as pua.subscribe does: no remote_target
    again = h.last("SUBSCRIBE")
    if not repairs:  # a second dialog, and the unsubscribe finds neither
        assert again.get("Call-ID") != first.get("Call-ID") and cseq(again).seq == 10
        h.subscribe(expires=0)
        assert len(h.requests("SUBSCRIBE")) == 2
        return
    assert again.get("Call-ID") == first.get("Call-ID") and cseq(again).seq == 11
    assert again.uri == SRV_CONTACT
    _ok(h, again)
    h.subscribe(expires=0)
    unsub = h.last("SUBSCRIBE")
    assert unsub.get("Expires") == "0" and cseq(unsub).seq == 12
    h.reply(unsub, 200, ("Expires", "0"), ("Contact", f"<{SRV_CONTACT}>"))
    assert h.records() == []


def test_b2_keeps_a_given_remote_target_as_a_filter():
    h = Harness.make(repairs="B2")
    first = establish(h)
    h.subscribe(expires=600, remote_target="sip:elsewhere@127.0.0.9")  # names another target: new dialog
    assert h.last().get("Call-ID") != first.get("Call-ID")


# -- B3 indefinite subscriptions ----------------------------------------------------------


@pytest.mark.parametrize("repairs", ["", "B3"])
def test_b3_indefinite_subscription_keeps_refreshing(repairs):
    h = Harness.make(repairs=repairs)
    establish(h, expires=-1, granted=3600)
    h.advance(3520)
    first_refresh = h.last()
    assert first_refresh.get("Expires") == "3610" and cseq(first_refresh).seq == 11
    _ok(h, first_refresh, 3600)
    assert (h.records()[0].desired_expires == 0) is bool(repairs)
    h.advance(3515)  # the sweep at 74 x 95 s = 7030 s, inside the new window
    if not repairs:  # finite after the first refresh: lapses after about 2 x default_expires
        assert h.last() is first_refresh
        h.advance(300)
        assert h.records() == []
        return
    second = h.last()
    assert second is not first_refresh and cseq(second).seq == 12 and second.get("Expires") == "3610"
    _ok(h, second, 3600)
    assert h.records()[0].desired_expires == 0


def test_b3_api_resubscribe_with_minus_one_stays_indefinite():
    h = Harness.make(repairs="B3", check_remote_contact=0)
    establish(h, expires=600)
    h.subscribe(expires=-1)
    assert h.last().get("Expires") == "3610"
    _ok(h, h.last(), 3600)
    assert h.records()[0].desired_expires == 0


# -- B5 error to an un-SUBSCRIBE ------------------------------------------------------------


@pytest.mark.parametrize("repairs", ["", "B5"])
def test_b5_unsubscribe_error_does_not_resubscribe(repairs):
    h = Harness.make(repairs=repairs, check_remote_contact=0)
    establish(h)
    h.subscribe(expires=0)
    unsub = h.last()
    h.reply(unsub, 481)
    if not repairs:  # a new initial SUBSCRIBE with Expires: 13
        assert h.last().get("Expires") == "13" and [r.is_temporary for r in h.records()] == [True]
        return
    assert h.last() is unsub and h.records() == []


# -- B6 errors to in-dialog SUBSCRIBEs --------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(481, "resubscribe"), (408, "resubscribe"), (489, "end"), (405, "end"), (403, "keep"), (500, "keep")],
)
def test_b6_in_dialog_error_by_code(status, outcome):
    h = Harness.make(repairs="B6", check_remote_contact=0)
    establish(h)
    h.subscribe(expires=600)
    refresh = h.last()
    h.reply(refresh, status)
    records = h.records()
    if outcome == "resubscribe":
        assert h.last() is not refresh and "tag=" not in h.last().get("To")
        assert [r.is_temporary for r in records] == [True]
    elif outcome == "end":
        assert h.last() is refresh and records == []
    else:  # the dialog stays valid until its known expiry
        assert h.last() is refresh
        assert [r.to_tag for r in records] == ["srv1"]


@pytest.mark.parametrize("status", [403, 489, 500])
def test_b6_unrepaired_resubscribes_on_every_code(status):
    h = Harness.make(check_remote_contact=0)
    establish(h)
    h.subscribe(expires=600)
    refresh = h.last()
    h.reply(refresh, status)
    assert h.last() is not refresh and [r.is_temporary for r in h.records()] == [True]


# -- B31 -1 re-subscribe on a temporary dialog ------------------------------------------------


@pytest.mark.parametrize("repairs", ["", "B31"])
def test_b31_default_expires_resubscribe_keeps_the_temporary_dialog(repairs):
    h = Harness.make(repairs=repairs, check_remote_contact=0)
    h.subscribe(expires=600)
    initial = h.last()
    h.subscribe(expires=-1)  # matches the temporary dialog (no 2xx yet)
    assert h.last() is initial  # nothing sent either way
    if not repairs:  # the temporary record is gone: the 2xx can no longer establish the dialog
        assert h.records() == []
        _ok(h, initial)
        assert h.records() == []
        return
    assert [r.is_temporary for r in h.records()] == [True]
    _ok(h, initial)
    assert [r.to_tag for r in h.records()] == ["srv1"]


def test_b31_unsubscribe_still_drops_a_temporary_dialog():
    h = Harness.make(repairs="B31", check_remote_contact=0)
    h.subscribe(expires=600)
    h.subscribe(expires=0)
    assert h.records() == []


# -- B7 failed initial PUBLISH ------------------------------------------------------------------


@pytest.mark.parametrize("repairs", ["", "B7"])
def test_b7_failed_initial_publish_leaves_other_records(repairs):
    h = Harness.make(repairs=repairs)
    h.publish(expires=3600, body=PIDF)
    h.ok_publish(h.last(), 3600, "e1")
    h.publish(expires=3600, body=PIDF, flag=INSERT_TYPE)  # a second, new publication of the same key
    h.reply(h.last(), 403)
    etags = [r.etag for r in h.records()]
    assert etags == (["e1"] if repairs else [])


def test_b7_failed_update_still_deletes_its_record():
    h = Harness.make(repairs="B7")
    h.publish(expires=3600, body=PIDF)
    h.ok_publish(h.last(), 3600, "e1")
    h.publish(expires=3600, body=PIDF)
    assert h.last().get("SIP-If-Match") == "e1"
    h.reply(h.last(), 403)
    assert h.records() == []


def test_fixed_profile_subscribe_side_end_to_end():
    """Profile ``fixed``: B2 lets the API refresh and end its dialog, B3 keeps -1 indefinite."""
    h = Harness.make(profile="fixed")
    first = establish(h, expires=-1, granted=3600)
    h.advance(3520)
    refresh = h.last()
    assert refresh.get("Call-ID") == first.get("Call-ID")
    _ok(h, refresh, 3600)
    h.subscribe(expires=0)
    assert h.last().get("Expires") == "0" and h.last().get("Call-ID") == first.get("Call-ID")
    assert OTHER not in [r.pres_uri for r in h.records()]
