"""Conformance check of real captures (the lab's) and of exported simulations against the model."""

from __future__ import annotations

import pytest

from puasim.capture import export_pcap, read_pcap
from puasim.capture.check import check_capture, infer_kind
from puasim.cli import main
from puasim.scenario.runner import run_scenario
from puasim.sip import parse
from puasim.trace.events import MessageSent

from .conftest import REPO

ABC = "a-b-c_publish_modify_unpublish_restart.pcap"
D1 = "d1_refresh_expires30_vs_keepalive.pcap"
D2 = "run1_d2_children2_nowal_sqlite_locked_500.pcap"
LAB_PARAMS = {"update_period": 10}  # start.sh: PUA_UPDATE_PERIOD=10 in every experiment


def test_abc_finds_the_restart_itself_and_conforms(lab) -> None:
    """The restart of experiment c shows in the Call-ID counter (new process tree);
    the model restores the removed record from its pua table (db_mode 0 keeps
    removed rows until they expire, lab finding c2) and sends the same modify with
    the dead ETag that earns the 412."""
    report = check_capture(lab / ABC, params=LAB_PARAMS)
    assert [r.kind for r in report.rows] == ["publish", "publish", "remove", "publish", "publish", "remove"]
    assert [r.status for r in report.rows] == [200, 200, 200, 412, 200, 200]
    assert report.ok, report.format()
    assert any("restart of the real PUA between 12.334 and 24.908 s (found in the capture" in n for n in report.notes)


def test_abc_without_the_restart_differs_where_the_real_pua_restarted(lab) -> None:
    """An empty override (no restart at all) is a wrong model: the difference shows."""
    report = check_capture(lab / ABC, params=LAB_PARAMS, restarts=[])
    assert not report.ok
    (row, diff), = report.differences
    assert row.n == 4 and row.frame == 7 and diff.field == "if_match"
    assert "ETag of the reply to #2" in diff.real and diff.model == "absent"
    assert any("may have restarted between 12.334 and 24.908 s" in n for n in report.notes)
    text = report.format()
    assert "DIFF" in text and "1 differ" in text


@pytest.mark.parametrize("at", [13.0, 23.5, 24.5, 25.5])
def test_abc_conforms_with_a_restart_time_a_second_off(lab, at) -> None:
    """A given restart time is kept inside the traffic gap the capture shows (25.5 s is
    after the new process's first request: the model restarts just before it)."""
    report = check_capture(lab / ABC, params=LAB_PARAMS, restarts=[at])
    assert report.ok, report.format()
    assert not any("may have restarted" in n for n in report.notes)


def test_d1_conforms_no_refresh_of_a_publication_granted_what_it_asked(lab) -> None:
    report = check_capture(lab / D1, params={**LAB_PARAMS, "default_expires": 30}, until=70)
    assert report.ok, report.format()
    assert [r.real.get("Expires") for r in report.rows] == ["31", "3601"]


def test_a_refresh_the_model_does_not_predict_is_reported(lab) -> None:
    trace = read_pcap(lab / D1)
    first = trace[0]
    fake = parse(
        b"PUBLISH sip:alice@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKfake\r\n"
        b"To: <sip:alice@127.0.0.1>\r\nFrom: <sip:alice@127.0.0.1>;tag=x\r\nCSeq: 10 PUBLISH\r\n"
        b"Call-ID: fake@127.0.0.1\r\nContent-Length: 0\r\nEvent: presence\r\nExpires: 10\r\n"
        b"SIP-If-Match: " + trace[1].event.message.get("SIP-ETag").encode() + b"\r\n\r\n"
    )
    trace.add(first.time + 22_000_000, "127.0.0.1:5070", MessageSent(first.event.src, first.event.dst, fake))
    report = check_capture(trace, params=LAB_PARAMS, until=70)
    bad = [r for r in report.rows if not r.ok]
    assert len(bad) == 1 and bad[0].kind == "refresh"
    assert bad[0].diffs[0].model == "no such request from the model"


def test_d2_refreshes_subscriptions_and_a_500_conform(lab) -> None:
    """Keep-alive (-1) publish, a finite one, a SUBSCRIBE; refreshes every 25 s from
    the 5 s sweep; the 500 to erin's refresh drops erin (run1 of experiment d2)."""
    report = check_capture(lab / D2, params={**LAB_PARAMS, "default_expires": 600})
    assert report.ok, report.format()
    kinds = [r.kind for r in report.rows]
    assert kinds.count("refresh") == 5 and kinds.count("resubscribe") == 3 and kinds[2] == "subscribe"
    assert all(abs(r.model_time - r.real_time) < 10_000 for r in report.rows if r.kind == "refresh")


def test_a_wrong_sweep_phase_shows_as_timing_differences(lab) -> None:
    report = check_capture(lab / D2, params={**LAB_PARAMS, "default_expires": 600}, phase=2.0)
    fields = {d.field for _, d in report.differences}
    assert "timing" in fields and not report.ok


def test_412_flows_conform(lab) -> None:
    report = check_capture(lab / "e_412_server_forgot_etag.pcap", params=LAB_PARAMS)
    assert report.ok, report.format()


def test_db_mode_2_and_the_predicted_crash_conform(lab) -> None:
    """h2: look-ups by pres_id only (an absent id never matches: a second initial PUBLISH
    for alice), carol's explicit id (not on the wire: given), and the SUBSCRIBE whose
    200 crashes the node (db_sqlite 5.6 lacks affected_rows) -- the model predicts it."""
    report = check_capture(lab / "h2_pua_db_mode2_and_subscribe_crash.pcap", params={**LAB_PARAMS, "db_mode": 2},
                           ids={"sip:carol@127.0.0.1": "carol-pidf"})
    assert report.ok, report.format()
    assert len(report.rows) == 6
    assert any("predicts that the real PUA crashes at 0.933 s" in n for n in report.notes)


def test_a_model_fault_ends_the_comparison_without_losing_it(lab, monkeypatch) -> None:
    from puasim.pua.model import Pua

    calls = []
    real = Pua.send_publish

    def flaky(self, publ, now, process="worker"):
        calls.append(now)
        if len(calls) == 2:
            raise RuntimeError("boom")
        return real(self, publ, now, process)

    monkeypatch.setattr(Pua, "send_publish", flaky)
    report = check_capture(lab / ABC, params=LAB_PARAMS)
    assert len(report.rows) == 2 and report.rows[0].ok
    assert report.rows[1].diffs[-1].model == "raised RuntimeError: boom"
    assert any("comparison stops there" in n for n in report.notes)


def test_an_exported_simulation_conforms_to_the_model(tmp_path) -> None:
    result = run_scenario(REPO / "scenarios" / "publish" / "refresh_indefinite.yaml")
    path = tmp_path / "sim.pcap"
    export_pcap(result.trace, path)
    report = check_capture(path, params={"update_period": 100})
    assert report.ok, report.format()
    assert [r.kind for r in report.rows] == ["publish", "refresh", "refresh"]


def test_infer_kind() -> None:
    base = (b"Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\nCall-ID: c\r\nCSeq: 10 X\r\n")
    def req(method: bytes, extra: bytes, body: bytes = b"") -> object:
        return parse(method + b" sip:a@h SIP/2.0\r\n" + base + extra + b"Content-Length: %d\r\n\r\n" % len(body) + body)
    assert infer_kind(req(b"PUBLISH", b"To: <sip:a@h>\r\nExpires: 61\r\n", b"x")) == "publish"
    assert infer_kind(req(b"PUBLISH", b"To: <sip:a@h>\r\nExpires: 61\r\n")) == "refresh"
    assert infer_kind(req(b"PUBLISH", b"To: <sip:a@h>\r\nExpires: 0\r\n")) == "remove"
    assert infer_kind(req(b"SUBSCRIBE", b"To: <sip:a@h>\r\nExpires: 610\r\n")) == "subscribe"
    assert infer_kind(req(b"SUBSCRIBE", b"To: <sip:a@h>;tag=s\r\nExpires: 0\r\n")) == "unsubscribe"
    assert infer_kind(req(b"SUBSCRIBE", b"To: <sip:a@h>;tag=s\r\nExpires: 77\r\n")) == "resubscribe"


def test_cli_exit_codes(lab, capsys, tmp_path) -> None:
    assert main(["check", str(lab / ABC), "--params", "update_period=10", "--restart-at", "0.1"]) == 1
    out_text = capsys.readouterr().out
    assert "if_match: real" in out_text and "which the given restarts leave out" in out_text
    out = tmp_path / "model.jsonl"
    assert main(["check", str(lab / ABC), "--pua-port", "5070", "--params", "update_period=10",
                 "--restart-at", "24.5", "--model-trace", str(out)]) == 0
    assert out.stat().st_size > 0
    assert main(["check", str(lab / ABC), "--pua-port", "5999"]) == 2
    assert "no request sent from port 5999" in capsys.readouterr().err
    assert main(["check", str(lab / ABC), "--params", "update_period=3"]) == 2
    assert "update_period must be 0 or > 5" in capsys.readouterr().err


@pytest.mark.parametrize("name", [ABC, D1])
def test_the_check_reads_pcapng_too(lab, tmp_path, name) -> None:
    path = tmp_path / "x.pcapng"
    export_pcap(read_pcap(lab / name), path, fmt="pcapng")
    assert len(check_capture(path, params=LAB_PARAMS).rows) == len(check_capture(lab / name, params=LAB_PARAMS).rows)


def test_a_model_fault_before_the_first_request_is_not_a_pass(tmp_path, monkeypatch) -> None:
    from puasim.pua.model import Pua

    result = run_scenario(REPO / "scenarios" / "publish" / "refresh_indefinite.yaml")
    path = tmp_path / "sim.pcap"
    export_pcap(result.trace, path)

    def broken(self, *args):
        raise RuntimeError("boom")

    monkeypatch.setattr(Pua, "send_publish", broken)
    monkeypatch.setattr(Pua, "timer", broken)
    report = check_capture(path, params={"update_period": 100})
    assert report.fault == "RuntimeError: boom"
    assert not report.ok
    assert "DIFFERENCES" in report.format()
