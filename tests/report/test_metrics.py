"""Metrics on constructed cases with known answers."""

from __future__ import annotations

import math

import pytest

from puasim.report import (
    latency_percentiles,
    load,
    load_curve,
    refresh_lead_times,
    rounds_412,
    summary,
)
from puasim.report.metrics import rounds_per_publication
from tests.report.builders import BODY_CLOSED, BODY_OPEN, TraceBuilder, publish, reply


def states(data):
    return [(r.state, r.start, r.end) for r in data.coverage.itertuples()]


def published_at_zero() -> TraceBuilder:
    b = TraceBuilder()
    b.publish_ok(0.0, publish(branch="z9hG4bK1", body=BODY_OPEN), "e1", 3600)
    return b


def test_gap_of_exactly_ten_seconds_when_server_state_expires_first():
    b = published_at_zero()
    b.server(20.0, "expired", "e1", None)
    b.record(30.0, "deleted", "e1", 3600, reason="expired")
    data = load(b.trace, end_time=40.0)
    gaps = data.gaps()
    assert len(gaps) == 1
    g = gaps.iloc[0]
    assert (
        g["state"] == "none" and g["start"] == 20.0 and g["end"] == 30.0 and g["duration"] == 10.0
    )
    assert g["opened_by"] == "server:expired"
    assert ("ok", 0.002, 20.0) in states(data)
    assert states(data)[-1] == ("idle", 30.0, 40.0)
    s = summary(data)
    assert s["gaps"] == 1 and s["gap_none_s"] == 10.0 and s["longest_gap_s"] == 10.0


def test_stale_gap_while_a_modify_is_lost_then_retransmitted():
    b = published_at_zero()
    mod = publish(branch="z9hG4bK2", if_match="e1", body=BODY_CLOSED)
    b.send(10.0, "pua", "server", mod)
    b.drop(10.0, "pua", "server", mod, "loss")
    b.send(12.0, "pua", "server", mod, retx=True)
    b.deliver(12.0, "pua", "server", mod)
    b.server(12.0, "modified", "e2", 12.0 + 3600)
    b.hop(12.0, "server", "pua", reply(mod, 200, etag="e2", expires=3600))
    b.record(12.001, "updated", "e2", 3612)
    data = load(b.trace)
    gaps = data.gaps()
    assert len(gaps) == 1
    g = gaps.iloc[0]
    assert (
        g["state"] == "stale" and g["start"] == 10.0 and g["end"] == 12.0 and g["duration"] == 2.0
    )
    assert g["opened_by"] == "publish:modify"
    assert data.server_events.iloc[-1]["prev_etag"] == "e1"
    assert data.coverage.iloc[-1]["state"] == "ok"
    # the transit of a modify is a (short) stale gap too; min_duration hides such gaps
    assert data.gaps(min_duration=2.5).empty


def test_orphan_after_pua_crash_and_stale_when_a_new_publication_joins_it():
    b = published_at_zero()
    b.crash(50.0, "pua", restart=True)
    b.publish_ok(55.0, publish(branch="z9hG4bK3", body=BODY_CLOSED, call_id="call-2"), "e3", 3600)
    b.server(60.0, "expired", "e1", None)
    data = load(b.trace, end_time=70.0)
    got = [(s, round(a, 3), round(z, 3)) for s, a, z in states(data)]
    # one orphan, then two (the successor arrived) until the PUA gets its 200
    assert ("orphan", 50.0, 55.001) in got and ("orphan", 55.001, 55.002) in got
    assert ("stale", 55.002, 60.0) in got
    assert got[-1] == ("ok", 60.0, 70.0)
    s = summary(data)
    assert s["gap_stale_s"] == pytest.approx(4.998)
    assert s["orphan_s"] == pytest.approx(5.002 + 0.001)  # + the transit of the first 200
    assert list(data.server_state["end_action"]) == ["expired", "open"]


def test_refresh_lead_time():
    b = published_at_zero()
    b.publish_ok(
        3515.0,
        publish(branch="z9hG4bK2", if_match="e1"),
        "e2",
        3600,
        server_action="refreshed",
        record_action="refreshed",
    )
    lead = refresh_lead_times(load(b.trace))
    assert len(lead) == 1
    r = lead.iloc[0]
    assert r["time"] == 3515.0 and r["record_expires"] == 3600.0 and r["lead"] == 85.0
    assert r["server_lead"] == pytest.approx(85.001) and r["status"] == 200 and r["etag"] == "e1"


def test_late_refresh_has_negative_lead_and_412():
    b = TraceBuilder()
    b.publish_ok(0.0, publish(branch="z9hG4bK1", body=BODY_OPEN), "e1", 120)
    b.server(120.001, "expired", "e1", None)
    ref = publish(branch="z9hG4bK2", if_match="e1")
    b.hop(195.0, "pua", "server", ref)
    b.hop(195.001, "server", "pua", reply(ref, 412, "Conditional Request Failed"))
    b.record(195.002, "deleted", "e1", 120, reason="412 reply")
    data = load(b.trace)
    lead = refresh_lead_times(data)
    assert lead.iloc[0]["lead"] == -75.0 and math.isnan(lead.iloc[0]["server_expires"])
    assert lead.iloc[0]["outcome"] == "failure"
    s = summary(data)
    assert s["late_refreshes"] == 1 and s["rounds_412"] == 1
    assert s["gap_none_s"] == pytest.approx(195.002 - 120.001)


def test_412_round_and_its_recovery():
    b = published_at_zero()
    b.crash(50.0, "server", restart=True)
    ref = publish(branch="z9hG4bK2", if_match="e1", body=BODY_CLOSED)
    b.hop(100.0, "pua", "server", ref)
    b.hop(100.001, "server", "pua", reply(ref, 412, "Conditional Request Failed"))
    b.record(100.002, "deleted", "e1", 3600, reason="412 reply")
    b.publish_ok(110.0, publish(branch="z9hG4bK3", body=BODY_CLOSED), "e9", 3600)
    data = load(b.trace)
    rounds = rounds_412(data)
    assert len(rounds) == 1
    r = rounds.iloc[0]
    assert r["op"] == "modify" and r["if_match"] == "e1" and r["answered"] == 100.002
    assert r["recovered"] == 110.002 and r["recovery"] == 10.0 and r["attempts"] == 1
    per = rounds_per_publication(data)
    assert (
        per.iloc[0]["publishes"] == 3
        and per.iloc[0]["rounds_412"] == 1
        and per.iloc[0]["recovered"] == 1
    )
    # server lost the state at 50; the PUA dropped its record at 100.002: a 50.002 s gap
    assert data.gaps().iloc[0]["duration"] == 50.002


def test_rounds_per_publication_without_412():
    per = rounds_per_publication(load(published_at_zero().trace))
    assert per.iloc[0]["rounds_412"] == 0 and per.iloc[0]["publishes"] == 1


def test_load_curve_counts_requests_per_bin():
    b = published_at_zero()
    b.publish_ok(
        3515.0,
        publish(branch="z9hG4bK2", if_match="e1"),
        "e2",
        3600,
        server_action="refreshed",
        record_action="refreshed",
    )
    data = load(b.trace)
    curve = load_curve(data, bin_s=1000.0, by=None)
    assert list(curve["time"]) == [0.0, 1000.0, 2000.0, 3000.0]
    assert list(curve["messages"]) == [1, 0, 0, 1]
    assert list(curve["rate"]) == [0.001, 0.0, 0.0, 0.001]
    both = load_curve(data, bin_s=1000.0, by="kind", requests_only=False)
    assert set(both["series"]) == {"request", "response"}
    assert both["messages"].sum() == 4
    per_s = load_curve(data, bin_s=1.0, start=3514.0, end=3516.0)
    assert list(per_s["messages"]) == [0, 1]


def test_latency_percentiles_in_ms():
    b = TraceBuilder()
    for i, lat in enumerate((0.002, 0.004, 0.010)):
        req = publish(branch=f"z9hG4bK{i}", body=BODY_OPEN, call_id=f"c{i}")
        t = 10.0 * i
        b.send(t, "pua", "server", req)
        b.deliver(t + lat / 2, "pua", "server", req)
        b.hop(
            t + lat / 2, "server", "pua", reply(req, 200, etag=f"e{i}", expires=60), latency=lat / 2
        )
    b.send(40.0, "pua", "server", publish(branch="z9hG4bKlost", body=BODY_OPEN, call_id="c9"))
    lat = latency_percentiles(load(b.trace))
    row = lat.iloc[0]
    assert (
        row["method"] == "PUBLISH"
        and row["count"] == 4
        and row["answered"] == 3
        and row["unanswered"] == 1
    )
    assert row["p50_ms"] == pytest.approx(4.0) and row["max_ms"] == pytest.approx(10.0)
    assert row["mean_ms"] == pytest.approx(16.0 / 3)


def test_summary_of_a_clean_run_has_no_gaps():
    s = summary(load(published_at_zero().trace))
    assert s["gaps"] == 0 and s["gap_none_s"] == 0.0 and s["rounds_412"] == 0 and s["messages"] == 2
    assert s["refreshes"] == 0 and math.isnan(s["lead_median_s"])
