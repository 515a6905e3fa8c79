"""pua settings a capture shows: check infers what follows from them, or says which one explains it."""

from __future__ import annotations

from puasim.capture import export_pcap
from puasim.capture.check import check_capture
from puasim.scenario.runner import load_scenario, run_scenario

from .conftest import REPO


def _pcap(tmp_path, rel: str):
    scn = load_scenario(REPO / "scenarios" / rel)
    out = tmp_path / "c.pcap"
    export_pcap(run_scenario(scn).trace, out)
    return out, scn.pua_address


def test_a_removal_asking_min_expires_is_an_api_removal(tmp_path) -> None:
    out, pua = _pcap(tmp_path, "publish/min_expires_removal_b4.yaml")
    report = check_capture(out, pua_address=pua, params={"min_expires": 300})
    assert [r.n for r in report.rows if not r.ok] == []
    assert report.rows[1].kind == "remove" and "§10 B4" in report.rows[1].note


def test_with_repair_b4_the_same_request_is_no_removal(tmp_path) -> None:
    out, pua = _pcap(tmp_path, "publish/min_expires_removal_b4.yaml")
    report = check_capture(out, pua_address=pua, params={"min_expires": 300, "repairs": "B4"})
    assert report.rows[1].kind == "refresh" and not report.rows[1].ok


def test_a_restart_that_kept_an_unsynced_etag_names_repair_b11(tmp_path) -> None:
    out, pua = _pcap(tmp_path, "storage/crash_between_syncs_fixed_flush.yaml")
    plain = check_capture(out, pua_address=pua, params={"update_period": 100})
    assert [r.n for r in plain.rows if not r.ok] == [3]
    assert any("--params repairs=B11" in n for n in plain.notes)
    flushed = check_capture(out, pua_address=pua, params={"update_period": 100, "repairs": "B11"})
    assert [r.n for r in flushed.rows if not r.ok] == []


def test_without_the_flush_repair_b11_makes_the_restart_differ(tmp_path) -> None:
    out, pua = _pcap(tmp_path, "storage/crash_between_syncs.yaml")
    assert all(r.ok for r in check_capture(out, pua_address=pua, params={"update_period": 100}).rows)
    flushed = check_capture(out, pua_address=pua, params={"update_period": 100, "repairs": "B11"})
    assert not all(r.ok for r in flushed.rows)
