"""Repairs of pua's known defects (pua-reference §10), each shown broken in kamailio-5.6 and repaired."""

from __future__ import annotations

import pytest

from puasim.pua.config import REPAIRS, PuaStartupError, load_config
from puasim.pua.constants import Source
from tests.pua.harness import ALICE, PIDF, Harness

UL = int(Source.UL_PUBLISH)


def test_fixed_profile_switches_every_repair_on_and_5_6_none():
    assert load_config(profile="fixed").repaired == frozenset(REPAIRS)
    assert load_config().repaired == frozenset()
    assert load_config(repairs="B4, D1").repaired == {"B4", "D1"}


def test_unknown_repair_is_refused_by_name():
    with pytest.raises(PuaStartupError, match="unknown repairs B99"):
        load_config(repairs="B4,B99")


@pytest.mark.parametrize(("repairs", "expected"), [("", "300"), ("B4", "0")])
def test_b4_publish_removal_keeps_expires_zero(repairs, expected):
    h = Harness.make(min_expires=300, repairs=repairs)
    h.publish(expires=3600, body=PIDF)
    h.ok_publish(h.last(), 3600, "e1")
    h.publish(expires=0)
    assert h.last().get("Expires") == expected


@pytest.mark.parametrize(("repairs", "expected"), [("", "300"), ("B4", "0")])
def test_b4_unsubscribe_keeps_expires_zero(repairs, expected):
    from puasim.pua.subscribe import subscribe_expires_header

    h = Harness.make(min_expires=300, repairs=repairs)
    assert str(subscribe_expires_header(h.pua, 0)) == expected
    assert subscribe_expires_header(h.pua, 600) == 610  # other values as in Kamailio


@pytest.mark.parametrize("repairs", ["", "D1"])
def test_d1_423_retried_with_min_expires(repairs):
    h = Harness.make(repairs=repairs)
    h.publish(expires=60, body=PIDF)
    first = h.last()
    h.reply(first, 423, ("Min-Expires", "600"))
    pubs = h.requests("PUBLISH")
    if not repairs:  # Kamailio: dropped, nothing retried
        assert pubs == [first]
        return
    retry = pubs[-1]
    assert retry is not first and retry.body and retry.get("SIP-If-Match") is None
    assert retry.get("Expires") == "601"
    h.ok_publish(retry, 600, "e1")
    assert [r.etag for r in h.records()] == ["e1"]


def test_d1_423_without_larger_min_expires_is_not_retried():
    h = Harness.make(repairs="D1")
    h.publish(expires=60, body=PIDF)
    h.reply(h.last(), 423, ("Min-Expires", "30"))
    assert len(h.requests("PUBLISH")) == 1
    h.publish(expires=60, body=PIDF)
    h.reply(h.last(), 423)
    assert len(h.requests("PUBLISH")) == 2


@pytest.mark.parametrize("repairs", ["", "B9"])
def test_b9_412_on_timer_refresh(repairs):
    h = Harness.make(repairs=repairs)
    h.publish(expires=-1, body=PIDF, source_flag=UL)
    h.ok_publish(h.last(), 3600, "e1")
    h.advance(3520)
    refresh = h.last()
    assert refresh.get("SIP-If-Match") == "e1" and not refresh.body
    h.reply(refresh, 412)
    assert h.records() == []
    if not repairs:  # Kamailio: publication silently ends
        assert h.requests("PUBLISH")[-1] is refresh
        return
    again = h.requests("PUBLISH")[-1]
    assert again is not refresh and again.uri == ALICE
    assert again.get("SIP-If-Match") is None and b"<tuple" in again.body
    assert again.get("Expires") == "3601"  # indefinite stays indefinite
    h.ok_publish(again, 3600, "e2")
    assert [r.etag for r in h.records()] == ["e2"]


DLG1 = PIDF.replace(b"open", b"closed") if b"open" in PIDF else PIDF + b" "


@pytest.mark.parametrize("repairs", ["", "B8"])
def test_b8_second_publish_waits_for_the_first(repairs):
    h = Harness.make(repairs=repairs)
    h.publish(expires=3600, body=PIDF)
    first = h.last()
    h.publish(expires=3600, body=DLG1)  # before the first 2xx
    if not repairs:  # Kamailio: two initial PUBLISHes, two server publications
        assert len(h.requests("PUBLISH")) == 2 and h.last().get("SIP-If-Match") is None
        h.ok_publish(first, 3600, "e1")
        h.ok_publish(h.last(), 3600, "e2")
        assert sorted(r.etag for r in h.records()) == ["e1", "e2"]
        return
    assert h.requests("PUBLISH") == [first]  # held back
    h.ok_publish(first, 3600, "e1")
    update = h.last()
    assert update is not first and update.get("SIP-If-Match") == "e1" and update.body
    h.ok_publish(update, 3600, "e2")
    assert [r.etag for r in h.records()] == ["e2"]


def test_b8_update_never_carries_a_stale_etag():
    h = Harness.make(repairs="B8")
    h.publish(expires=3600, body=PIDF)
    h.ok_publish(h.last(), 3600, "e1")
    h.publish(expires=3600, body=PIDF)
    u1 = h.last()
    h.publish(expires=3600, body=DLG1)
    h.publish(expires=0)
    assert h.last() is u1 and u1.get("SIP-If-Match") == "e1"
    h.ok_publish(u1, 3600, "e2")
    u2 = h.last()
    assert u2.get("SIP-If-Match") == "e2" and u2.body
    h.ok_publish(u2, 3600, "e3")
    removal = h.last()
    assert removal.get("SIP-If-Match") == "e3" and removal.get("Expires") == "0"


def test_b8_a_local_timeout_releases_the_queue():
    h = Harness.make(repairs="B8")
    h.publish(expires=3600, body=PIDF)
    h.publish(expires=3600, body=DLG1)
    assert len(h.requests("PUBLISH")) == 1
    h.advance(40)  # tm gives up after fr_timer: faked 408
    pubs = h.requests("PUBLISH")
    assert len(pubs) == 2 and pubs[-1].body and pubs[-1].get("SIP-If-Match") is None


@pytest.mark.parametrize("repairs", ["", "B10"])
def test_b10_one_failed_refresh_does_not_abort_the_sweep(repairs, monkeypatch):
    h = Harness.make(repairs=repairs)
    for uri in ("sip:a@127.0.0.1", "sip:b@127.0.0.1"):
        h.publish(pres_uri=uri, expires=-1, body=PIDF)
        h.ok_publish(h.last(), 300, f"e-{uri[4]}")
    tried = []
    real = h.pua.update_pua

    def failing_first(p, now_us):
        tried.append(p.pres_uri)
        return -1 if len(tried) == 1 else real(p, now_us)  # the first refresh of the sweep fails

    monkeypatch.setattr(h.pua, "update_pua", failing_first)
    h.advance(285)  # one sweep inside the refresh window of both
    assert len(tried) == (2 if repairs else 1)
    refreshed = [r for r in h.requests("PUBLISH") if r.get("SIP-If-Match")]
    assert len(refreshed) == (1 if repairs else 0)


class _StoreSpy:
    def __init__(self):
        self.fixed = None

    def shutdown(self, now, pua, fixed=False):
        self.fixed = fixed


@pytest.mark.parametrize(("repairs", "flushed"), [("", False), ("B11", True)])
def test_b11_shutdown_flushes_only_when_repaired(repairs, flushed):
    h = Harness.make(repairs=repairs)
    spy = _StoreSpy()
    h.pua.store = spy
    h.pua.shutdown(0)
    assert spy.fixed is flushed
