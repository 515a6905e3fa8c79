"""The publication id is not on the wire: check infers it from the requests (puasim.capture.check)."""

from __future__ import annotations

from puasim.sip import headers as H

from .conftest import check_scenario as _check


def _uri_of(row) -> str:
    return H.to(row.real).uri


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


def test_each_dialog_of_one_extension_keeps_its_own_publication(tmp_path) -> None:
    # pua_dialoginfo publishes every dialog under its own id: bob's first call is modified again
    # (with its own ETag) after his second call's publication was made
    report = _check(tmp_path, "calls/blf_two_calls_one_extension.yaml")
    assert [r.n for r in report.rows if not r.ok] == []
    second, late, newest = report.rows[5], report.rows[12], report.rows[10]
    assert "not visible in the capture: the publication id" in second.note
    assert late.real is not None and newest.real is not None and _uri_of(late) == _uri_of(newest) == "sip:bob@127.0.0.1"
    assert late.real.get("SIP-If-Match") != newest.real.get("SIP-If-Match") and late.ok


def test_a_reply_the_real_pua_had_not_processed_is_given_to_the_model_after_the_request(tmp_path) -> None:
    # two status changes 1.4 ms apart: the second leaves before the 2xx to the first reaches the PUA,
    # although the pcap (stamped where the server sent it) shows that 2xx first
    report = _check(tmp_path, "population/steady_publishers.yaml")
    assert [r.n for r in report.rows if not r.ok] == []
    raced = [r for r in report.rows if "had not processed it yet" in r.note]
    assert len(raced) == 1 and raced[0].status == 412
