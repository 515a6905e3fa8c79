"""check with a client profile (``params['profile']``): what the profile changes on the wire is
inferred under that profile's rules (puasim.pua.policy, puasim.pua.subpolicy)."""

from __future__ import annotations

from puasim.capture import export_pcap
from puasim.capture.check import check_capture
from puasim.scenario.runner import load_scenario, run_scenario

from .conftest import REPO


def _check(tmp_path, rel: str, **params):
    scn = load_scenario(REPO / "scenarios" / rel)
    out = tmp_path / "c.pcap"
    export_pcap(run_scenario(scn).trace, out)
    return check_capture(out, pua_address=scn.pua_address, params=params)


def _bad(report) -> list[int]:
    return [r.n for r in report.rows if not r.ok]


def test_pjsua_sends_the_lifetime_as_is_so_expires_is_not_kamailios_minus_one(tmp_path) -> None:
    report = _check(tmp_path, "profiles/pjsua_refresh_lead.yaml", profile="pjsua")
    assert _bad(report) == []
    assert "expires -1" in report.rows[0].note  # Expires 3600 == default_expires: refreshes say indefinite


def test_a_pjsua_subscription_refresh_is_not_an_api_change(tmp_path) -> None:
    # the refresh asks the granted 600 s again: off Kamailio's countdown, yet the policy's own
    report = _check(tmp_path, "profiles/pjsua_subscribe_403_refresh.yaml", profile="pjsua")
    assert _bad(report) == []
    assert [r.kind for r in report.rows] == ["subscribe", "resubscribe", "retry"]


def test_sipsimples_423_retry_is_the_policys_own_and_its_random_delay_is_read_from_the_capture(tmp_path) -> None:
    report = _check(tmp_path, "profiles/sipsimple_423_retry.yaml", profile="sipsimple")
    assert _bad(report) == []
    retry = report.rows[1]
    assert retry.kind == "retry" and "drawn at random, not visible in the capture" in retry.note


def test_sipsimples_subscribe_retry_after_a_423(tmp_path) -> None:
    report = _check(tmp_path, "profiles/sipsimple_subscribe_423_retry.yaml", profile="sipsimple")
    assert _bad(report) == []
    assert [r.kind for r in report.rows] == ["subscribe", "retry"]


def test_a_new_publish_after_a_412_under_repair_b9_is_puas_own(tmp_path) -> None:
    report = _check(tmp_path, "profiles/fixed_b9_412_timer_refresh.yaml", profile="fixed", update_period=10)
    assert _bad(report) == []
    assert report.rows[2].kind == "recovery"
