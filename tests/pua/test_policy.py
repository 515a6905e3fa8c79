"""Client policies of pjsua and python-sipsimple (puasim.pua.policy), rule by rule."""

from __future__ import annotations

import pytest

from puasim.pua.policy import POLICIES
from tests.pua.harness import PIDF, Harness


@pytest.mark.parametrize(
    ("name", "granted", "delay_ms"),
    [("pjsua", 3600, 3595_000), ("pjsua", 5, 4000), ("pjsua", 1, 500),
     ("sipsimple", 3600, 3570_000), ("sipsimple", 40, 20_000), ("sipsimple", 1, 1000)],
)
def test_refresh_delay_rules(name, granted, delay_ms):
    assert POLICIES[name].refresh_delay_ms(granted) == delay_ms


@pytest.mark.parametrize(("profile", "lead"), [("pjsua", 5), ("sipsimple", 30), ("kamailio-5.6", None)])
def test_refresh_goes_out_at_the_stack_lead(profile, lead):
    h = Harness.make(profile=profile)
    h.publish(expires=-1, body=PIDF)
    assert h.last().get("Expires") == ("3600" if lead else "3601")  # exact lifetime vs Kamailio's E + 1
    h.ok_publish(h.last(), 600, "e1")
    sent_at = h.now
    h.advance(600)
    refreshes = [r for r in h.requests("PUBLISH") if r.get("SIP-If-Match") == "e1"]
    if lead is None:  # Kamailio's sweep: granted 600 s, window update_period 100, sweep every 95 s
        assert len(refreshes) == 1
        return
    assert len(refreshes) == 1 and not refreshes[0].body
    at = [s for s in h.sent if s.message is refreshes[0]]
    assert at and h.now >= sent_at
    # the timer fired exactly at granted - lead
    h2 = Harness.make(profile=profile)
    h2.publish(expires=-1, body=PIDF)
    h2.ok_publish(h2.last(), 600, "e1")
    h2.advance(600 - lead - 0.001)
    assert len(h2.requests("PUBLISH")) == 1
    h2.advance(0.002)
    assert len(h2.requests("PUBLISH")) == 2


@pytest.mark.parametrize("profile", ["pjsua", "sipsimple"])
def test_412_on_refresh_republishes_the_body(profile):
    h = Harness.make(profile=profile)
    h.publish(expires=-1, body=PIDF)
    h.ok_publish(h.last(), 600, "e1")
    h.advance(598 if profile == "pjsua" else 575)  # before tm's 30 s fr_timer ends the refresh
    refresh = h.last()
    assert refresh.get("SIP-If-Match") == "e1"
    h.reply(refresh, 412)
    again = h.last()
    assert again is not refresh and again.body and again.get("SIP-If-Match") is None


@pytest.mark.parametrize("profile", ["pjsua", "sipsimple"])
def test_updates_are_queued(profile):
    h = Harness.make(profile=profile)
    h.publish(expires=600, body=PIDF)
    first = h.last()
    h.publish(expires=600, body=PIDF)
    assert h.requests("PUBLISH") == [first]
    h.ok_publish(first, 600, "e1")
    assert h.last().get("SIP-If-Match") == "e1"


def test_pjsua_gives_up_on_423():
    h = Harness.make(profile="pjsua")
    h.publish(expires=60, body=PIDF)
    h.reply(h.last(), 423, ("Min-Expires", "600"))
    h.advance(3600)
    assert len(h.requests("PUBLISH")) == 1


def test_sipsimple_retries_423_later_with_min_expires():
    h = Harness.make(profile="sipsimple")
    h.publish(expires=60, body=PIDF)
    h.reply(h.last(), 423, ("Min-Expires", "600"))
    h.advance(59)
    assert len(h.requests("PUBLISH")) == 1
    h.advance(61)  # within 60..120 s
    pubs = h.requests("PUBLISH")
    assert len(pubs) == 2 and pubs[-1].get("Expires") == "600" and pubs[-1].body


@pytest.mark.parametrize("profile", ["pjsua", "sipsimple"])
def test_removal_sends_expires_zero(profile):
    h = Harness.make(profile=profile, min_expires=300)
    h.publish(expires=600, body=PIDF)
    h.ok_publish(h.last(), 600, "e1")
    h.publish(expires=0)
    assert h.last().get("Expires") == "0" and h.last().get("SIP-If-Match") == "e1"
