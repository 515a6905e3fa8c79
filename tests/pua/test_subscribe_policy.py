"""SUBSCRIBE client policies of pjsua and sipsimple (puasim.pua.policy, puasim.pua.subpolicy)."""

from __future__ import annotations

import random

import pytest

from puasim.pua.policy import POLICIES
from puasim.sip.headers import cseq, from_
from puasim.sip.message import Request
from tests.pua.harness import ALICE, BOB, Harness

SRV_CONTACT = "sip:presence@127.0.0.1:5060"


def _ok(h: Harness, req: Request, expires: int) -> None:
    h.reply(req, 200, ("Expires", str(expires)), ("Contact", f"<{SRV_CONTACT}>"))


def _established(profile: str, granted: int = 600, expires: int = -1) -> tuple[Harness, Request]:
    h = Harness.make(profile=profile)
    assert h.subscribe(expires=expires) == 0
    first = h.last("SUBSCRIBE")
    _ok(h, first, granted)
    return h, first


def _next_subscribe_after(h: Harness, req: Request, limit: float, step: float = 0.5) -> tuple[float, Request | None]:
    start = h.now
    while (h.now - start) / 1e6 < limit:
        h.advance(step)
        if h.last("SUBSCRIBE") is not req:
            return (h.now - start) / 1e6, h.last("SUBSCRIBE")
    return limit, None


@pytest.mark.parametrize(("profile", "asked"), [("kamailio-5.6", "3610"), ("pjsua", "600"), ("sipsimple", "3600")])
def test_expires_asked_for_an_indefinite_subscription(profile, asked):
    h = Harness.make(profile=profile)
    h.subscribe(expires=-1)
    assert h.last().get("Expires") == asked


@pytest.mark.parametrize("profile", ["pjsua", "sipsimple"])
def test_stacks_ask_the_callers_value_and_zero_to_end(profile):
    h, first = _established(profile, expires=900, granted=900)
    assert first.get("Expires") == "900"
    h.subscribe(expires=0)  # B2 is part of the stack profiles: the dialog is found without remote_target
    unsub = h.last()
    assert unsub.get("Expires") == "0" and unsub.get("Call-ID") == first.get("Call-ID")


def test_pjsua_refresh_delay_rule():
    pj = POLICIES["pjsua"]
    rng = random.Random(1)
    delays = {pj.subscribe_refresh_delay_ms(600, rng) for _ in range(200)}
    assert delays == {(595 - k) * 1000 for k in range(1, 11)}  # L - 5, then 1..10 s earlier
    assert pj.subscribe_refresh_delay_ms(8, rng) == 3000  # L - 5 <= 10: no jitter
    assert pj.subscribe_refresh_delay_ms(4, rng) == 4000  # L <= 5: at L


def test_sipsimple_refresh_delay_rule():
    ss = POLICIES["sipsimple"]
    rng = random.Random(1)
    assert ss.subscribe_refresh_delay_ms(3600, rng) == 3570 * 1000  # L - 30
    assert ss.subscribe_refresh_delay_ms(40, rng) == 20 * 1000  # L / 2
    assert ss.subscribe_refresh_delay_ms(1, rng) == 1000


@pytest.mark.parametrize(("profile", "window", "asked"), [("pjsua", (585, 594), "600"), ("sipsimple", (570, 570), "3600")])
def test_own_refresh_timer_replaces_the_sweep(profile, window, asked):
    h, first = _established(profile)
    waited, refresh = _next_subscribe_after(h, first, 700, step=1)
    assert refresh is not None and window[0] <= waited <= window[1] + 1
    assert cseq(refresh).seq == 11 and refresh.get("Expires") == asked
    _ok(h, refresh, 600)
    assert h.records()[0].desired_expires == 0  # stays indefinite: refreshed again
    _, again = _next_subscribe_after(h, refresh, 700, step=1)
    assert again is not None and cseq(again).seq == 12


@pytest.mark.parametrize(
    ("profile", "status", "low", "high"),
    [("pjsua", 481, 0.5, 0.5), ("pjsua", 403, 297.5, 302.5), ("pjsua", 423, 297.5, 302.5),
     ("sipsimple", 403, 0, 0), ("sipsimple", 481, 0, 0)],
)
def test_error_to_a_refresh_ends_the_dialog_and_schedules_a_new_one(profile, status, low, high):
    h, first = _established(profile)
    h.subscribe(expires=-1)  # an in-dialog SUBSCRIBE through the API
    refresh = h.last()
    assert cseq(refresh).seq == 11
    h.reply(refresh, status, ("Min-Expires", "4000"))
    assert h.records() == []  # the subscription is over
    if high == 0:  # sipsimple: at once (a timer due now)
        h.advance(0)
        new = h.last()
        waited = 0.0
    else:
        waited, new = _next_subscribe_after(h, refresh, high + 1, step=0.5)
    assert new is not None and new is not refresh and "tag=" not in new.get("To")
    assert low <= waited <= high + 0.5
    assert new.get("Call-ID") != first.get("Call-ID") and new.uri == ALICE


def test_pjsua_timeout_on_a_refresh_waits_the_pres_timer():
    h, first = _established("pjsua")
    h.subscribe(expires=-1)
    refresh = h.last()
    h.advance(32)  # no answer: tm's local 408
    assert h.records() == [] and h.last("SUBSCRIBE") is refresh
    waited, new = _next_subscribe_after(h, refresh, 310, step=1)
    assert new is not None and 290 <= waited <= 305  # 300 s +- 2.5 from the local 408 (fr_timer, about 30 s)
    assert new.get("Expires") == "600"  # still indefinite: pjsip's default again


@pytest.mark.parametrize(
    ("status", "low", "high", "asked"),
    [(423, 60, 120, "4000"), (489, 3600, 3600, "3600"), (403, 60, 180, "3600"), (407, 60, 120, "3600")],
)
def test_sipsimple_initial_failures(status, low, high, asked):
    h = Harness.make(profile="sipsimple")
    h.subscribe(expires=-1)
    first = h.last()
    h.reply(first, status, ("Min-Expires", "4000"))
    assert h.records() == []
    waited, new = _next_subscribe_after(h, first, high + 2, step=1)
    assert new is not None and low <= waited <= high + 1
    assert new.get("Expires") == asked


def test_pjsua_initial_failure_waits_the_pres_timer():
    h = Harness.make(profile="pjsua")
    h.subscribe(expires=-1)
    first = h.last()
    h.reply(first, 481)  # 481 to an initial SUBSCRIBE is not the quick case
    waited, new = _next_subscribe_after(h, first, 310, step=1)
    assert new is not None and 297 <= waited <= 303


@pytest.mark.parametrize("profile", ["pjsua", "sipsimple"])
def test_unsubscribe_cancels_a_pending_new_subscribe(profile):
    h = Harness.make(profile=profile)
    h.subscribe(expires=-1)
    first = h.last()
    h.reply(first, 403)
    h.subscribe(expires=0)  # the application gives up meanwhile
    _, new = _next_subscribe_after(h, first, 3700, step=10)
    assert new is None


@pytest.mark.parametrize("profile", ["pjsua", "sipsimple"])
def test_failed_unsubscribe_does_not_resubscribe(profile):
    h, _ = _established(profile)
    h.subscribe(expires=0)
    unsub = h.last()
    h.reply(unsub, 481)
    _, new = _next_subscribe_after(h, unsub, 320, step=2)
    assert new is None and h.records() == []


def _notify(req: Request, state: str) -> Request:
    return Request(
        "NOTIFY", BOB,
        (
            ("Via", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKnt1"),
            ("From", f"<{ALICE}>;tag=srv1"),
            ("To", f"<{BOB}>;tag={from_(req).tag}"),
            ("Call-ID", req.get("Call-ID")),
            ("CSeq", "2 NOTIFY"),
            ("Contact", f"<{SRV_CONTACT}>"),
            ("Subscription-State", state),
            ("Content-Length", "0"),
        ),
    )


@pytest.mark.parametrize(
    ("profile", "state", "low", "high"),
    [
        ("pjsua", "terminated;reason=deactivated", 0.5, 0.5),
        ("pjsua", "terminated;reason=probation;retry-after=40", 40, 40),
        ("pjsua", "terminated;reason=noresource", 297.5, 302.5),
        ("sipsimple", "terminated;reason=noresource", 0, 0),
    ],
)
def test_notify_terminated_ends_the_dialog_and_resubscribes(profile, state, low, high):
    h, first = _established(profile)
    h.pua.receive(_notify(first, state), ("127.0.0.1", 5060), h.now)
    h.collect()
    assert h.sent[-1].message.status == 200 if high else True
    assert [r for r in h.records() if r.to_tag] == []
    if high == 0:
        h.advance(0)
        new, waited = h.last("SUBSCRIBE"), 0.0
    else:
        waited, new = _next_subscribe_after(h, first, high + 1, step=0.5)
    assert new is not None and new is not first and low <= waited <= high + 0.5


def test_kamailio_ignores_notify_terminated_d10():
    h, first = _established("kamailio-5.6")
    h.pua.receive(_notify(first, "terminated;reason=deactivated"), ("127.0.0.1", 5060), h.now)
    h.collect()
    assert [r.to_tag for r in h.records()] == ["srv1"] and h.last("SUBSCRIBE") is first


def test_sipsimple_423_with_a_smaller_min_expires_asks_the_interval_again():
    h = Harness.make(profile="sipsimple")
    h.subscribe(expires=-1)
    first = h.last()
    h.reply(first, 423, ("Min-Expires", "1200"))
    _, new = _next_subscribe_after(h, first, 122, step=1)
    assert new is not None and new.get("Expires") == "3600"


@pytest.mark.parametrize(("profile", "expected"), [("pjsua", 596.0), ("sipsimple", 570.0)])
def test_pjsua_restarts_its_refresh_timer_from_the_notify_expires(profile, expected):
    h, first = _established(profile)
    h.advance(1)
    h.pua.receive(_notify(first, "active;expires=600"), ("127.0.0.1", 5060), h.now)
    h.collect()
    h.advance(0)
    waited, refresh = _next_subscribe_after(h, first, 700, step=0.5)
    assert refresh is not None and cseq(refresh).seq == 11
    assert abs((h.now / 1e6) - expected) <= 0.5  # pjsua: 1 s + 600 - 5; sipsimple: the 2xx's L - 30


def test_sipsimple_keeps_the_min_expires_interval_after_a_423():
    """The retried subscription stays indefinite and every refresh asks the new interval."""
    h = Harness.make(profile="sipsimple")
    h.subscribe(expires=-1)
    first = h.last()
    h.reply(first, 423, ("Min-Expires", "4000"))
    _, new = _next_subscribe_after(h, first, 122, step=1)
    assert new is not None and new.get("Expires") == "4000"
    _ok(h, new, 4000)
    assert h.records()[0].desired_expires == 0
    waited, refresh = _next_subscribe_after(h, new, 4000, step=5)
    assert refresh is not None and cseq(refresh).seq == 11 and refresh.get("Expires") == "4000"
    assert 3965 <= waited <= 3975  # L - 30
