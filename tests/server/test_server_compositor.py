"""The event state compositor on its own (RFC 3903 §6, pua-reference Appendix A, lab findings)."""

from __future__ import annotations

import random
import re

import pytest

from puasim.effects import SECOND
from puasim.server import (
    CREATED,
    EXPIRED,
    FORGOTTEN,
    MODIFIED,
    REFRESHED,
    REMOVED,
    EventStateCompositor,
    PublishRequest,
    get_profile,
    kamailio_etag_number,
)
from puasim.trace.events import ServerStateChanged

ALICE = "sip:alice@127.0.0.1"
BODY = b"<presence/>"


def esc(profile="kamailio", seed=7, **knobs):
    log: list = []
    comp = EventStateCompositor(
        get_profile(profile, **knobs),
        random.Random(seed),
        start_time=1795736211,
        pid=2725,
        emit=log.append,
    )
    return comp, log


def req(*, if_match=(), expires=60, body=BODY, event="presence", presentity=ALICE, **kw):
    if isinstance(if_match, str):
        if_match = (if_match,)
    return PublishRequest(
        presentity,
        event,
        tuple(if_match),
        expires,
        body=body,
        content_type="application/pidf+xml",
        **kw,
    )


def actions(log):
    return [(e.action, e.etag) for e in log if isinstance(e, ServerStateChanged)]


# -- Kamailio ETags: the lab's sequences, field for field ----------------------------------
def test_lab_x3_probe_sequence():
    """captures/x3_probe_publish_py: 1.0, 2.1, 412, 500, 5.0 (Expires 1 accepted), remove echoes 2.1."""
    comp, _ = esc()
    r1 = comp.publish(req(), 0)
    assert (r1.status, r1.etag, r1.expires) == (200, "a.1795736211.2725.1.0", 60)
    r2 = comp.publish(req(if_match=r1.etag), 0)
    assert (r2.status, r2.etag) == (200, "a.1795736211.2725.2.1")
    r3 = comp.publish(req(if_match="a.1000000000.1.1.0"), 0)
    assert (r3.status, r3.reason) == (412, "Conditional request failed")
    r4 = comp.publish(req(if_match="bogus-etag"), 0)
    assert (r4.status, r4.reason) == (500, "Server Internal Error")
    r5 = comp.publish(req(expires=1), 0)
    assert (r5.status, r5.etag, r5.expires) == (200, "a.1795736211.2725.5.0", 1)
    r6 = comp.publish(req(if_match=r2.etag, expires=0, body=b""), 0)
    assert (r6.status, r6.etag, r6.expires, r6.action) == (200, r2.etag, 0, REMOVED)


def test_lab_abc_counter_advances_on_every_publish():
    """a-b-c: initial 1.0, modify 2.1, remove (3), 412 (4), initial 5.0."""
    comp, log = esc()
    e1 = comp.publish(req(expires=3601), 0).etag
    e2 = comp.publish(req(if_match=e1, expires=3601), 0).etag
    assert comp.publish(req(if_match=e2, expires=0, body=b""), 0).etag == e2
    assert comp.publish(req(if_match=e2, expires=3601), 0).status == 412
    assert comp.publish(req(expires=3601), 0).etag == "a.1795736211.2725.5.0"
    assert comp.counter == 5
    assert [a for a, _ in actions(log)] == [CREATED, MODIFIED, REMOVED, CREATED]


def test_lab_h2_two_initials_make_two_publications():
    comp, _ = esc()
    assert comp.publish(req(), 0).etag.endswith(".1.0")
    assert comp.publish(req(), 0).etag.endswith(".2.0")
    assert len(comp.get(ALICE, "presence")) == 2
    e3 = comp.publish(req(presentity="sip:carol@127.0.0.1"), 0).etag
    assert comp.publish(req(presentity="sip:carol@127.0.0.1", if_match=e3), 0).etag.endswith(".4.1")


def test_modification_number_follows_the_if_match_tag():
    comp, _ = esc()
    etag = comp.publish(req(), 0).etag
    for n in range(1, 4):
        etag = comp.publish(req(if_match=etag, body=b""), 0).etag
        assert kamailio_etag_number(etag) == n
    assert re.fullmatch(r"a\.1795736211\.2725\.\d+\.3", etag)


@pytest.mark.parametrize(
    "tag, number",
    [("a.1.2.3.4", 4), ("x.7", 7), ("bogus-etag", None), ("a.1.b", None), ("a.", None)],
)
def test_kamailio_etag_shape(tag, number):
    assert kamailio_etag_number(tag) == number


# -- RFC 3903 §6 rules ------------------------------------------------------------------
@pytest.mark.parametrize("profile", ["kamailio", "rfc3903"])
def test_489_with_allow_events(profile):
    comp, _ = esc(profile)
    out = comp.publish(req(event="foo"), 0)
    assert out.status == 489 and out.reason == "Bad Event"
    allow = dict(out.headers)["Allow-Events"]
    assert "presence" in allow and "message-summary" in allow
    assert comp.publish(req(event=None), 0).status == 489


def test_kamailio_events_are_the_lab_servers():
    comp, _ = esc()
    for ev in ("presence", "dialog", "reg", "message-summary"):
        assert comp.publish(req(event=ev), 0).status == 200
    assert comp.publish(req(event="dialog;sla"), 0).status == 489
    assert comp.publish(req(event="presence.winfo"), 0).status == 489


def test_event_header_that_does_not_parse_is_400():
    comp, _ = esc()
    out = comp.publish(req(event=None, event_malformed=True), 0)
    assert (out.status, out.reason) == (400, "Bad request")


@pytest.mark.parametrize(
    "profile, reason", [("kamailio", "Invalid request"), ("rfc3903", "Invalid Request")]
)
def test_initial_without_body_is_400(profile, reason):
    comp, _ = esc(profile)
    out = comp.publish(req(body=b""), 0)
    assert (out.status, out.reason) == (400, reason)
    assert len(comp) == 0


@pytest.mark.parametrize("profile", ["kamailio", "rfc3903"])
def test_expires_absent_uses_default_and_large_values_are_capped(profile):
    comp, _ = esc(profile)
    assert comp.publish(req(expires=None), 0).expires == 3600
    assert comp.publish(req(expires=3601), 0).expires == 3600
    assert comp.publish(req(expires=100000), 0).expires == 3600
    comp2, _ = esc(
        profile, event_default_expires=(("presence", 600),), max_expires=30, min_expires=0
    )
    assert comp2.publish(req(expires=None), 0).expires == 30
    comp3, _ = esc(profile, event_default_expires=(("presence", 600),))
    assert comp3.publish(req(expires=None), 0).expires == 600


def test_kamailio_has_no_minimum_for_publish():
    comp, _ = esc()
    assert comp.publish(req(expires=1), 0).expires == 1


def test_kamailio_script_423_comes_first_and_spares_the_counter():
    """Lab f with PUBLISH_423=1: 423 + Min-Expires before handle_publish runs."""
    comp, _ = esc("kamailio", min_expires=120, min_expires_in_script=True)
    out = comp.publish(req(expires=61, event="nonsense"), 0)
    assert (out.status, out.reason, dict(out.headers)) == (
        423,
        "Interval Too Brief",
        {"Min-Expires": "120"},
    )
    assert comp.counter == 0
    assert comp.publish(req(expires=120), 0).etag.endswith(".1.0")  # 119 + 1 passes (lab f)


def test_rfc3903_423_with_min_expires():
    comp, _ = esc("rfc3903")
    out = comp.publish(req(expires=59), 0)
    assert (out.status, dict(out.headers)) == (423, {"Min-Expires": "60"})
    assert comp.publish(req(expires=60), 0).status == 200
    etag = comp.publish(req(expires=3600), 0).etag
    assert (
        comp.publish(req(if_match=etag, expires=0, body=b""), 0).status == 200
    )  # 0 is never "too brief"


def test_rfc3903_random_etags_are_new_for_every_success():
    comp, _ = esc("rfc3903")
    seen = set()
    etag = comp.publish(req(), 0).etag
    for _ in range(5):
        assert re.fullmatch(r"[0-9a-f]{16}", etag)
        assert etag not in seen
        seen.add(etag)
        etag = comp.publish(req(if_match=etag, body=b""), 0).etag


def test_rfc3903_any_unknown_etag_is_412():
    comp, _ = esc("rfc3903")
    assert comp.publish(req(if_match="bogus-etag"), 0).status == 412
    assert comp.publish(req(if_match="a.1.2.3.0"), 0).status == 412


def test_rfc3903_more_than_one_etag_is_400():
    comp, _ = esc("rfc3903")
    etag = comp.publish(req(), 0).etag
    assert comp.publish(req(if_match=(etag, etag)), 0).status == 400
    assert comp.publish(req(if_match=f"{etag}, {etag}"), 0).status == 400


def test_rfc3903_415_for_a_foreign_body_type():
    comp, _ = esc("rfc3903")
    out = comp.publish(
        PublishRequest(ALICE, "presence", (), 60, body=BODY, content_type="text/plain"), 0
    )
    assert out.status == 415
    assert dict(out.headers)["Accept"] == "application/pidf+xml"


def test_refresh_keeps_body_and_modify_replaces_it():
    comp, log = esc()
    e1 = comp.publish(req(body=b"<one/>"), 0).etag
    e2 = comp.publish(req(if_match=e1, body=b""), 5 * SECOND).etag
    (pub,) = comp.get(ALICE, "presence")
    assert (pub.etag, pub.body, pub.expires) == (e2, b"<one/>", 65 * SECOND)
    e3 = comp.publish(req(if_match=e2, body=b"<two/>"), 6 * SECOND).etag
    (pub,) = comp.get(ALICE, "presence")
    assert (pub.etag, pub.body, pub.version) == (e3, b"<two/>", 2)
    assert actions(log) == [(CREATED, e1), (REFRESHED, e2), (MODIFIED, e3)]
    assert comp.publish(req(if_match=e1, body=b""), 7 * SECOND).status == 412  # old tags die


def test_remove_of_an_unknown_etag_is_412():
    comp, _ = esc()
    assert comp.publish(req(if_match="a.1.2.3.0", expires=0, body=b""), 0).status == 412


def test_initial_with_expires_zero_stores_nothing():
    comp, log = esc()
    out = comp.publish(req(expires=0), 0)
    assert (out.status, out.expires) == (200, 0) and out.etag
    assert len(comp) == 0 and log == []


def test_etag_of_another_presentity_or_event_is_412():
    comp, _ = esc()
    etag = comp.publish(req(), 0).etag
    assert comp.publish(req(if_match=etag, presentity="sip:bob@127.0.0.1"), 0).status == 412
    assert comp.publish(req(if_match=etag, event="dialog"), 0).status == 412


@pytest.mark.parametrize("profile, status", [("kamailio", 500), ("rfc3903", 400)])
def test_unparsable_expires(profile, status):
    comp, _ = esc(profile)
    assert comp.publish(req(expires=None, expires_malformed=True), 0).status == status


def test_kamailio_requires_content_length():
    comp, _ = esc()
    out = comp.publish(req(has_content_length=False), 0)
    assert (out.status, out.reason) == (400, "Bad request")
    comp2, _ = esc("rfc3903")
    assert comp2.publish(req(has_content_length=False), 0).status == 200


def test_order_of_etag_check_differs_between_profiles():
    """Kamailio checks Expires before it looks the ETag up; RFC 3903 §6 step 3 comes first."""
    kam, _ = esc("kamailio")
    assert (
        kam.publish(req(if_match="a.1.2.3.0", expires=None, expires_malformed=True), 0).status
        == 500
    )
    strict, _ = esc("rfc3903")
    assert (
        strict.publish(req(if_match="a.1.2.3.0", expires=None, expires_malformed=True), 0).status
        == 412
    )
    assert strict.publish(req(if_match="a.1.2.3.0", expires=5), 0).status == 412  # not 423


def test_domains_restrict_the_presentities_served():
    comp, _ = esc("rfc3903", domains=("example.com",))
    assert comp.publish(req(presentity="sip:alice@Example.COM"), 0).status == 200
    assert comp.publish(req(), 0).status == 404
    assert comp.publish(req(presentity=None), 0).status == 400


def test_expires_offset_shortens_the_reply_not_the_state():
    comp, _ = esc(expires_offset=5)
    out = comp.publish(req(expires=60), 0)
    assert out.expires == 55
    assert comp.get(ALICE, "presence")[0].expires == 60 * SECOND


def test_grant_override():
    comp, _ = esc()
    out = comp.publish(req(expires=3600), 0, grant=30)
    assert out.expires == 30 and comp.get(ALICE, "presence")[0].expires == 30 * SECOND
    assert comp.publish(req(if_match=out.etag, expires=0, body=b""), 0, grant=30).action == REMOVED


# -- expiry ---------------------------------------------------------------------------
def test_expire_and_next_deadline():
    comp, log = esc()
    e1 = comp.publish(req(expires=30), 0).etag
    comp.publish(req(expires=60, presentity="sip:bob@127.0.0.1"), 0)
    assert comp.next_deadline() == 30 * SECOND
    assert comp.expire(30 * SECOND - 1) == []
    (gone,) = comp.expire(30 * SECOND)
    assert gone.etag == e1
    assert log[-1] == ServerStateChanged(EXPIRED, ALICE, "presence", e1, 30 * SECOND)
    assert comp.next_deadline() == 60 * SECOND


def test_refresh_moves_the_deadline():
    comp, _ = esc()
    e1 = comp.publish(req(expires=30), 0).etag
    comp.publish(req(if_match=e1, expires=60, body=b""), 20 * SECOND)
    assert comp.next_deadline() == 80 * SECOND
    assert comp.expire(30 * SECOND) == []


def test_lazy_expiry_at_the_next_request():
    comp, log = esc()
    e1 = comp.publish(req(expires=30), 0).etag
    out = comp.publish(req(if_match=e1, body=b""), 30 * SECOND)
    assert out.status == 412
    assert [a for a, _ in actions(log)] == [CREATED, EXPIRED]


def test_clean_period_sweeps_at_ticks_only():
    comp, log = esc(clean_period_s=10)
    e1 = comp.publish(req(expires=31), 0).etag
    assert comp.next_deadline() == 40 * SECOND
    # lapsed at 31 s but not yet swept: still matches
    e2 = comp.publish(req(if_match=e1, expires=31, body=b""), 35 * SECOND).etag
    assert comp.next_deadline() == 70 * SECOND
    assert comp.expire(70 * SECOND)[0].etag == e2


def test_forget_all_resets_counter_and_identity():
    comp, log = esc()
    e1 = comp.publish(req(), 0).etag
    lost = comp.forget_all(start_time=1795736300, pid=31301)
    assert [p.etag for p in lost] == [e1] and len(comp) == 0
    assert actions(log)[-1] == (FORGOTTEN, e1)
    assert comp.publish(req(if_match=e1), 0).status == 412
    assert comp.publish(req(), 0).etag == "a.1795736300.31301.2.0"


def test_profile_knob_validation():
    with pytest.raises(ValueError, match="unknown server profile"):
        get_profile("nope")
    with pytest.raises(ValueError, match="unknown profile knobs"):
        get_profile("kamailio", max_expire=5)
    with pytest.raises(ValueError):
        get_profile("kamailio", etag_style="uuid")
    with pytest.raises(ValueError):
        get_profile("rfc3903", min_expires=7200)
