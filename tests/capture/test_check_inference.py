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


# -- SUBSCRIBE: pua's own recovery after an error reply ------------------------------------------

R481 = REPO / "scenarios" / "subscribe" / "refresh_481_resubscribe.yaml"


def test_the_resubscribe_after_a_481_is_the_puas_own(tmp_path) -> None:
    """§4.6.1: the new initial SUBSCRIBE after the 481 to the sweep's refresh is matched
    with the model's own, not replayed as an API call (which would ask 3000 s again)."""
    report = check_capture(_export(tmp_path, R481), params={"check_remote_contact": 0}, until=1100)
    assert report.ok, report.format()
    assert [r.kind for r in report.rows] == ["subscribe", "resubscribe", "recovery"]
    assert report.rows[2].real.get("Expires") == "2063"


def test_a_recovery_the_model_does_not_predict_differs(tmp_path) -> None:
    """A wrong capture: the recovery asks another Expires than §4.6.1's desired − now + 3 + 10."""
    from puasim.capture import read_pcap
    from puasim.sip.message import Request
    from puasim.trace.events import MessageSent
    from puasim.trace.trace import Trace

    trace = read_pcap(_export(tmp_path, R481))
    out = Trace(dict(trace.meta))
    seen = 0
    for rec in trace:
        ev = rec.event
        msg = ev.message if type(ev) is MessageSent else None
        if isinstance(msg, Request) and msg.method == "SUBSCRIBE" and msg.get("Expires") == "2063":
            seen += 1
            headers = tuple((n, "600" if n.lower() == "expires" else v) for n, v in msg.headers)
            ev = MessageSent(ev.src, ev.dst, Request(msg.method, msg.uri, headers, msg.body))
        out.add(rec.time, rec.node, ev)
    assert seen == 1
    report = check_capture(out, params={"check_remote_contact": 0}, until=1100)
    bad = [r for r in report.rows if not r.ok]
    assert [r.kind for r in bad] == ["recovery"] and bad[0].diffs[0].field == "expires"


# -- several PUAs and servers; JSON for CI -------------------------------------------------------


def test_the_server_filter_leaves_out_other_pairs(lab) -> None:
    """A request of the same PUA to another server is not this pair's traffic."""
    from puasim.capture import read_pcap
    from puasim.sip import parse
    from puasim.trace.events import MessageSent

    trace = read_pcap(lab / "d1_refresh_expires30_vs_keepalive.pcap")
    first = trace[0]
    other = ("127.0.0.2", 5060)
    fake = parse(
        b"PUBLISH sip:zoe@127.0.0.2 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKother\r\n"
        b"To: <sip:zoe@127.0.0.2>\r\nFrom: <sip:zoe@127.0.0.2>;tag=x\r\nCSeq: 10 PUBLISH\r\n"
        b"Call-ID: other@127.0.0.1\r\nContent-Length: 0\r\nEvent: presence\r\nExpires: 0\r\n\r\n"
    )
    trace.add(first.time + 5_000_000, "x", MessageSent(first.event.src, other, fake))
    params = {"update_period": 10, "default_expires": 30}
    for server in (None, first.event.dst):  # default: the server of the PUA's first request
        report = check_capture(trace, params=params, until=70, server_address=server)
        assert report.ok, report.format()
        assert len(report.rows) == 2
    only_other = check_capture(trace, params=params, until=70, server_address=other)
    assert [r.real.uri for r in only_other.rows] == ["sip:zoe@127.0.0.2"]


def test_cli_json_report(lab, capsys) -> None:
    import json

    from puasim.cli import main

    abc = str(lab / "a-b-c_publish_modify_unpublish_restart.pcap")
    assert main(["check", abc, "--params", "update_period=10", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["verdict"] == "ok" and doc["compared"] == 6 and len(doc["requests"]) == 6
    assert doc["requests"][3]["status"] == 412 and doc["requests"][3]["differences"] == []
    assert main(["check", abc, "--params", "update_period=10", "--json", "--restart-at", "0.1"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["verdict"] == "differences" and doc["differing"] >= 1
    assert any(d["field"] == "if_match" for r in doc["requests"] for d in r["differences"])
    assert main(["check", abc, "--server", "127.0.0.9:5060"]) == 2
    assert "no request from the PUA at 127.0.0.1:5070 to 127.0.0.9:5060" in capsys.readouterr().err


# -- SUBSCRIBE: API calls on an existing dialog; presentity and watcher from To and From ---------

CRC0 = REPO / "scenarios" / "subscribe" / "remote_target_change_crc0.yaml"


def test_in_dialog_subscribes_off_the_sweep_formula_are_api_calls(tmp_path) -> None:
    """At 10 s and 20 s the caller subscribes again on the dialog: Expires 610 is not
    §5.3's countdown (600 + 0 − 10 + 10 = 600 at 10 s) and 10 s is no sweep tick."""
    report = check_capture(_export(tmp_path, CRC0), params={"check_remote_contact": 0}, until=60)
    assert report.ok, report.format()
    assert [r.kind for r in report.rows] == ["subscribe", "change", "change"]


def test_api_calls_taken_as_refreshes_differ(tmp_path, monkeypatch) -> None:
    """A wrong inference (every in-dialog SUBSCRIBE a refresh) shows: the model sends none."""
    import puasim.capture.check as check

    monkeypatch.setattr(check._Checker, "_find_changes", lambda self, records: None)
    monkeypatch.setattr(check._Checker, "_on_grid", lambda self, t: True)
    report = check_capture(_export(tmp_path, CRC0), params={"check_remote_contact": 0}, until=60)
    assert not report.ok


def test_the_lab_unsubscribe_takes_presentity_and_watcher_from_to_and_from(lab) -> None:
    """x2: ``pua.subscribe ... 0`` goes to the dialog's remote target
    (sip:presence@127.0.0.1:5060); the model is asked for gina/bob, as To and From say."""
    report = check_capture(lab / "x2_rpc_transports.pcap", params={"update_period": 10, "check_remote_contact": 0})
    assert report.ok, report.format()
    unsub = report.rows[1]
    assert unsub.kind == "unsubscribe" and unsub.real.uri == "sip:presence@127.0.0.1:5060"
    assert unsub.model.uri == unsub.real.uri


def test_the_lab_unsubscribe_differs_under_a_wrong_lookup_rule(lab) -> None:
    """The same capture under a wrong model (db_mode 2, whose lookup by pres_id never
    finds the RPC's dialog) still shows the difference."""
    report = check_capture(lab / "x2_rpc_transports.pcap",
                           params={"update_period": 10, "check_remote_contact": 0, "db_mode": 2})
    assert not report.ok and not report.rows[1].ok


# -- inputs not on the wire ------------------------------------------------------------------------

H2 = "h2_pua_db_mode2_and_subscribe_crash.pcap"

IDS = """
name: db_mode2_ids
refs: ["pua-reference §2.6"]
duration: 30
pua:
  params: {outbound_proxy: "sip:127.0.0.1:5060", db_mode: 2}
steps:
  - {at: 0, do: rpc.publish, args: [sip:carol@127.0.0.1, "-1", presence, ., carol-pidf, ., ., .], with: {body_file: BODY}}
  - {at: 1, do: rpc.publish, args: [sip:carol@127.0.0.1, "-1", presence, ., carol-pidf, ., ., .], with: {body_file: BODY}}
expect:
  - count: {match: {from: pua, method: PUBLISH, if_match: present}, equals: 1}
"""


def test_the_lab_publication_id_is_reported_not_visible_and_inferred(lab) -> None:
    """h2: carol's id is not on the wire; her modify shows that one was given."""
    report = check_capture(lab / H2, params={"update_period": 10, "db_mode": 2})
    assert report.ok, report.format()
    assert any(n.startswith("not visible in the capture: the publication id of sip:carol@127.0.0.1; the modify at 0.556 s")
               for n in report.notes)
    assert not any("alice" in n and "not visible" in n for n in report.notes)


def test_a_wrong_publication_id_still_differs(lab) -> None:
    report = check_capture(lab / H2, params={"update_period": 10, "db_mode": 2}, ids={"sip:carol@127.0.0.1": ""})
    assert [r.n for r in report.rows if not r.ok] == [4, 5]


def test_a_simulated_publication_id_is_inferred(tmp_path) -> None:
    text = IDS.replace("BODY", str(REPO / "scenarios" / "bodies" / "pidf-open.xml"))
    report = check_capture(_export(tmp_path, scenario_from_text(text, "ids.yaml")), params={"db_mode": 2}, until=30)
    assert report.ok, report.format()
    assert any("not visible in the capture: the publication id of sip:carol@127.0.0.1" in n for n in report.notes)
