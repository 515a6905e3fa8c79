"""The frames and metrics of real scenario runs (scenarios/publish)."""

from __future__ import annotations

from pathlib import Path

import pytest

from puasim.report import COLUMNS, load, refresh_lead_times, rounds_412, summary
from puasim.scenario.runner import run_scenario

PUBLISH = Path(__file__).resolve().parents[2] / "scenarios" / "publish"


def run(name: str):
    result = run_scenario(PUBLISH / f"{name}.yaml")
    assert result.passed, result.failures
    return load(result.trace)


def test_refresh_indefinite_refreshes_85_s_before_expiry():
    data = run("refresh_indefinite")
    lead = refresh_lead_times(data)
    assert list(lead["time"]) == [3515.0, 7030.0]
    assert list(lead["lead"]) == [85.0, 85.0]
    assert list(lead["server_lead"]) == [pytest.approx(85.001)] * 2
    assert data.gaps().empty
    assert list(data.records["refreshes"]) == [2]
    st = data.server_state.iloc[0]
    assert st["refreshes"] == 2 and st["end_action"] == "open"
    assert list(data.transactions["op"]) == ["initial", "refresh", "refresh"]
    assert (data.transactions["latency"] == 0.002).all()


def test_server_restart_gives_a_gap_until_the_412():
    data = run("server_restart_forgets_etags")
    gaps = data.gaps()
    assert len(gaps) == 1
    g = gaps.iloc[0]
    assert (g["state"], g["start"], g["end"]) == ("none", 5.0, 10.002)
    assert g["opened_by"] == "server:crashed"
    rounds = rounds_412(data)
    assert (
        len(rounds) == 1
        and rounds.iloc[0]["recovered"] == 20.002
        and rounds.iloc[0]["recovery"] == 10.0
    )
    assert list(data.records["end_action"]) == ["deleted", "open"]


def test_timeout_is_a_local_408_after_nine_retransmissions():
    data = run("timeout_408_keeps_record")
    t = data.transactions.iloc[1]
    assert (t["outcome"], t["status"], t["retransmissions"], t["requests_dropped"]) == (
        "timeout",
        408,
        9,
        10,
    )
    assert t["latency"] == 30.0
    m = data.messages
    assert m["dropped"].sum() == 10 and (m.loc[m["dropped"], "drop_reason"] == "crashed").all()
    s = summary(data)
    assert s["timeouts"] == 1 and s["retransmissions"] == 9
    assert s["gap_none_s"] == 35.0  # the server crashed at 5 s; the run ends at 40 s


def test_412_recovery_of_a_usrloc_publication():
    data = run("412_recovery_usrloc")
    rounds = rounds_412(data)
    assert len(rounds) == 1
    r = rounds.iloc[0]
    assert r["op"] == "modify" and r["attempts"] == 1 and r["recovery"] == pytest.approx(0.002)


@pytest.mark.parametrize("path", sorted(PUBLISH.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_publish_scenario_loads_with_consistent_frames(path):
    result = run_scenario(path)
    data = load(result.trace)
    for name, cols in COLUMNS.items():
        assert list(getattr(data, name).columns) == list(cols)
    m, tx = data.messages, data.transactions
    assert len(m) == result.messages
    assert tx["retransmissions"].sum() == m.loc[m["kind"] == "request", "retransmission"].sum()
    assert (tx["latency"].dropna() >= 0).all()
    cov = data.coverage
    assert (cov["duration"] > 0).all()
    for _key, g in cov.groupby(["presentity", "event"]):
        assert (g["start"].iloc[1:].to_numpy() == g["end"].iloc[:-1].to_numpy()).all()  # contiguous
    assert set(cov["state"]) <= {"ok", "none", "stale", "orphan", "idle"}
    summary(data)
