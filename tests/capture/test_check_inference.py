"""What ``puasim check`` infers by itself: restarts, sweep phase, the expires of a PUBLISH.

Each rule is shown on a real capture (tests/data/lab) and on a simulated one
(a scenario run, exported as pcap, checked without its inputs), and a wrong
model or a wrong capture still yields differences.
"""

from __future__ import annotations

import pytest

from puasim.capture import export_pcap
from puasim.capture.check import check_capture
from puasim.capture.infer import place_restart, publish_expiry
from puasim.effects import SECOND
from puasim.scenario.runner import run_scenario, scenario_from_text

from .conftest import REPO

D2 = "run1_d2_children2_nowal_sqlite_locked_500.pcap"


def _export(tmp_path, scenario) -> str:
    result = run_scenario(scenario)
    assert result.passed, result.failures
    path = tmp_path / "sim.pcap"
    export_pcap(result.trace, path)
    return str(path)


# -- restarts ------------------------------------------------------------------------------------

STORM = REPO / "scenarios" / "storage" / "restart_restore_refresh_storm.yaml"


def test_a_simulated_restart_is_found_and_the_restored_refreshes_conform(tmp_path) -> None:
    """Down from 150 s to 4000 s: the refreshes of the restored rows carry a fresh
    Call-ID counter; the model restarts on the sweep grid of those refreshes, and its
    old instance, which would have refreshed at 3515 s, is taken as stopped."""
    path = _export(tmp_path, STORM)
    report = check_capture(path, params={"update_period": 100}, until=4200)
    assert report.ok, report.format()
    assert [r.kind for r in report.rows].count("refresh") == 5
    assert any("the model restarts at 4000.000 s, sweep phase fitted to the refresh at 4095.000 s" in n
               for n in report.notes)
    assert any("would have sent PUBLISH" in n and "taken as stopped" in n for n in report.notes)


def test_a_simulated_restart_left_out_yields_differences(tmp_path) -> None:
    path = _export(tmp_path, STORM)
    report = check_capture(path, params={"update_period": 100}, until=4200, restarts=[])
    assert not report.ok
    assert any("which the given restarts leave out" in n for n in report.notes)


@pytest.mark.parametrize("off", [-1.0, 0.0, 1.0])
def test_a_given_restart_a_second_off_still_conforms(tmp_path, off) -> None:
    path = _export(tmp_path, STORM)
    report = check_capture(path, params={"update_period": 100}, until=4200, restarts=[4000 + off])
    assert report.ok, report.format()


def test_place_restart_snaps_to_the_grid_inside_the_gap() -> None:
    s = SECOND
    assert place_restart(4095 * s, 1 * s, 4095 * s, 4095 * s, 95 * s) == 4000 * s
    assert place_restart(3000 * s, 1 * s, 4095 * s, 4095 * s, 95 * s) == 2955 * s  # 4095 - 12 x 95, the grid point nearest 3000
    # no grid point inside the gap: kept inside it
    assert place_restart(30 * s, 12 * s, 25 * s, 200 * s, 95 * s) == 25 * s - 1
    assert place_restart(10 * s, 12 * s, 25 * s, None, 95 * s) == 12 * s + 1


# -- PUBLISH expires: -1 or default_expires -------------------------------------------------------

FINITE = """
name: finite_default_expires
refs: ["pua-reference §5.3"]
duration: 4000
pua:
  params: {outbound_proxy: "sip:127.0.0.1:5060", update_period: 100}
server:
  knobs: {max_expires: 1800}
steps:
  - {at: 0, do: rpc.publish, args: [sip:alice@127.0.0.1, "3600", presence, ., ., ., ., .], with: {body_file: BODY}}
expect:
  - count: {match: {from: pua, method: PUBLISH}, equals: 3}
"""


def _finite(tmp_path) -> str:
    text = FINITE.replace("BODY", str(REPO / "scenarios" / "bodies" / "pidf-open.xml"))
    return _export(tmp_path, scenario_from_text(text, "finite.yaml"))


def test_a_finite_publication_of_default_expires_is_told_by_its_countdown(tmp_path) -> None:
    report = check_capture(_finite(tmp_path), params={"update_period": 100}, until=4000)
    assert report.ok, report.format()
    assert report.rows[0].note == "inferred expires 3600 (refreshes count down: a finite publication)"
    assert [r.real.get("Expires") for r in report.rows] == ["3601", "1891", "181"]


def test_an_indefinite_publication_is_told_by_its_constant_refreshes(tmp_path) -> None:
    path = _export(tmp_path, REPO / "scenarios" / "publish" / "refresh_indefinite.yaml")
    report = check_capture(path, params={"update_period": 100})
    assert report.ok, report.format()
    assert report.rows[0].note == "inferred expires -1 (refreshes keep Expires 3601: indefinite)"


def test_the_lab_keepalive_is_told_by_its_constant_refreshes(lab) -> None:
    """d2: dave's -1 goes out as Expires 601 (default_expires 600) and every refresh keeps it."""
    report = check_capture(lab / D2, params={"update_period": 10, "default_expires": 600})
    assert report.ok, report.format()
    dave = next(r for r in report.rows if r.kind == "publish" and "dave" in r.real.uri)
    assert dave.note == "inferred expires -1 (refreshes keep Expires 601: indefinite)"


def test_a_wrong_expires_decision_shows_as_differences(tmp_path, monkeypatch) -> None:
    """The decision matters: taking the finite publication as -1 makes the refreshes differ."""
    import puasim.capture.check as check

    monkeypatch.setattr(check, "publish_expiry", lambda *a: (-1, "forced -1"))
    report = check_capture(_finite(tmp_path), params={"update_period": 100}, until=4000)
    assert not report.ok
    assert {d.field for _, d in report.differences} & {"expires", "request", "timing"}


def test_publish_expiry_rules() -> None:
    assert publish_expiry(61, [], 3600, False) == (60, "")
    assert publish_expiry(3601, [3601, 3601], 3600, False)[0] == -1
    assert publish_expiry(3601, [1891], 3600, False)[0] == 3600
    assert publish_expiry(3601, [], 3600, True)[0] == 3600
    value, why = publish_expiry(3601, [], 3600, False)
    assert value == -1 and "fits both" in why
