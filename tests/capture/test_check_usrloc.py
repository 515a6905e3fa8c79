"""Companions on an edge node: a REGISTER to the node makes pua_usrloc publish (§9.2) and pua_bla subscribe (§9.3)."""

from __future__ import annotations

from .conftest import check_scenario as _check


def test_a_reregister_publishes_without_a_body_and_the_check_sees_the_register(tmp_path) -> None:
    # the sweep never refreshes this record (desired expiry == grant): each body-less PUBLISH
    # follows the phone's re-REGISTER to the node
    report = _check(tmp_path, "registrations/refresh_lead_policy.yaml", update_period=10)
    assert [r.n for r in report.rows if not r.ok] == []
    later = report.rows[1:]
    assert len(later) == 5 and all(r.kind == "publish" and "pua_usrloc's publish for the REGISTER" in r.note
                                   for r in later)


def test_a_node_restart_that_lost_the_record_is_named(tmp_path) -> None:
    report = _check(tmp_path, "registrations/node_restart_loses_contacts.yaml", update_period=10)
    assert [r.n for r in report.rows if not r.ok] == []
    assert "the real PUA restarted at" in report.rows[1].note


def test_a_refresh_without_a_register_before_it_is_still_the_sweeps(tmp_path) -> None:
    report = _check(tmp_path, "publish/refresh_indefinite.yaml", update_period=100)
    assert [r.n for r in report.rows if not r.ok] == []
    assert [r.kind for r in report.rows].count("refresh") == 2


def test_pua_blas_subscribe_after_a_reregister_is_an_api_call_on_the_dialog(tmp_path) -> None:
    # Expires 130 two seconds after the first SUBSCRIBE: close enough to §5.3's countdown to pass for the
    # sweep's refresh, but the sweep sends nothing then; the REGISTER before it is pua_bla's trigger (§9.3)
    report = _check(tmp_path, "bla/bla_register_subscribe_notify.yaml")
    assert [r.n for r in report.rows if not r.ok] == []
    assert report.rows[1].kind == "change" and "pua_bla's subscribe for the REGISTER" in report.rows[1].note
