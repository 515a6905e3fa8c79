"""The publication id is not on the wire: check infers it from the requests (puasim.capture.check)."""

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


def test_an_initial_publish_beside_a_live_record_gets_a_new_id(tmp_path) -> None:
    # two API publishes of one presentity with different ids: the second is an initial PUBLISH
    report = _check(tmp_path, "subscribe/notify_merges_publications.yaml", check_remote_contact=0)
    assert [r.n for r in report.rows if not r.ok] == []
    notes = [r.note for r in report.rows if r.kind == "publish" and r.real is not None
             and r.real.get("SIP-If-Match") is None]
    assert sum("not visible in the capture: the publication id" in n for n in notes) == 2


def test_a_modify_keeps_the_id_of_the_record_whose_etag_it_sends(tmp_path) -> None:
    # pua_usrloc: a re-REGISTER with a new Call-ID is a new publication; the removal names the new one
    report = _check(tmp_path, "registrations/reregister_new_callid_insert_rerun.yaml")
    assert [r.n for r in report.rows if not r.ok] == []
    assert report.rows[-1].kind == "remove" and report.rows[-1].ok


def test_db_mode_2_a_modify_with_another_presentitys_etag_shares_its_id(tmp_path) -> None:
    # §11.1 / issue #2414: bob's publish found alice's row by pres_id and sent her ETag
    report = _check(tmp_path, "profiles/fixed_b7_db_mode2_412_keeps_other_row.yaml",
                    db_mode=2, profile="kamailio-5.6", repairs="B7")
    assert [r.n for r in report.rows if not r.ok] == []
    assert any("sends the ETag of sip:alice@127.0.0.1's publication" in n for n in report.notes)
