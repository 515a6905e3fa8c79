"""Inputs that leave no trace on the wire, recognised by their effect (puasim.capture.invisible).

Each capture is a scenario exported with ``export_pcap`` (what ``puasim pcap``
writes), read back, and — where the input is one no scenario step can make,
such as a database edit — rewritten the way the real PUA's requests would
then look.
"""

from __future__ import annotations

from collections.abc import Callable

from puasim.capture import export_pcap, read_pcap
from puasim.capture.check import check_capture
from puasim.scenario.runner import run_scenario, scenario_from_text
from puasim.sip.message import Request
from puasim.trace.events import MessageSent
from puasim.trace.trace import Trace

from .conftest import REPO

PIDF = REPO / "scenarios" / "bodies" / "pidf-open.xml"

CLEANUP = """
name: cleanup_rpc
refs: ["pua-reference §5.9"]
duration: 800
pua:
  params: {outbound_proxy: "sip:127.0.0.1:5060"}
server:
  knobs: {max_expires: 300}
steps:
  - {at: 0, do: rpc.publish, args: [sip:alice@127.0.0.1, "-1", presence, ., ., ., ., .], with: {body_file: BODY}}
  - {at: 500, do: pua.cleanup}
expect:
  - sequence:
      - {from: pua, method: PUBLISH, body: present}
      - {from: pua, method: PUBLISH, at: 285, body: absent}
      - {from: pua, method: PUBLISH, at: 500, body: absent}
      - {from: pua, method: PUBLISH, at: 760, body: absent}
"""

REFRESHES = """
name: refreshes
refs: ["pua-reference §5.2"]
duration: 400
pua:
  params: {outbound_proxy: "sip:127.0.0.1:5060", update_period: 20, DBMODE}
server:
  knobs: {max_expires: 100}
steps:
  - {at: 0, do: rpc.publish, args: [sip:alice@127.0.0.1, "-1", presence, ., ., ., ., .], with: {body_file: BODY}}
expect:
  - count: {match: {from: pua, method: PUBLISH, body: absent}, min: 3}
"""


def _pcap(tmp_path, text: str, name: str) -> str:
    result = run_scenario(scenario_from_text(text.replace("BODY", str(PIDF)), f"{name}.yaml"))
    assert result.passed, result.failures
    path = tmp_path / f"{name}.pcap"
    export_pcap(result.trace, path)
    return str(path)


def _rewrite(path: str, change: Callable[[int, Request], Request | None]) -> Trace:
    """The capture with the PUA's n-th request (counted from 0) replaced or left out."""
    old = read_pcap(path)
    new = Trace(dict(old.meta))
    n = -1
    for rec in old:
        ev = rec.event
        if type(ev) is MessageSent and isinstance(ev.message, Request) and ev.src[1] == 5070 and not ev.retransmission:
            n += 1
            msg = change(n, ev.message)
            if msg is None:
                continue
            ev = MessageSent(ev.src, ev.dst, msg, ev.retransmission)
        new.add(rec.time, rec.node, ev)
    return new


def _with_header(msg: Request, name: str, value: str) -> Request:
    headers = tuple((k, value if k.lower() == name.lower() else v) for k, v in msg.headers)
    return Request(msg.method, msg.uri, headers, msg.body)


def test_an_off_grid_refresh_is_a_cleanup_rpc_and_the_model_runs_it(tmp_path) -> None:
    report = check_capture(_pcap(tmp_path, CLEANUP, "cleanup"), until=800)
    assert report.ok, report.format()
    assert [r.kind for r in report.rows] == ["publish", "refresh", "refresh", "refresh"]
    assert any(n.startswith("not visible in the capture: an RPC pua.cleanup at 500.000 s") for n in report.notes)
    row = report.rows[2]
    assert row.kind == "refresh" and "pua.cleanup" in row.note


def test_without_the_cleanup_rule_the_same_capture_differs(tmp_path, monkeypatch) -> None:
    """The rule is what turns the off-grid refresh into agreement (the test fails without it)."""
    import puasim.capture.check as check

    monkeypatch.setattr(check, "cleanup_refreshes", lambda *a: False)
    report = check_capture(_pcap(tmp_path, CLEANUP, "cleanup"), until=800)
    assert not report.ok
    assert any(d.field == "timing" for _, d in report.differences)


def test_a_refresh_no_sweep_could_send_stays_a_difference(tmp_path) -> None:
    """A body-less PUBLISH off the grid while the record is not due is not pua.cleanup."""
    path = _pcap(tmp_path, CLEANUP, "cleanup")
    # move the cleanup's refresh to 320 s: the record refreshed at 285 s (expires 585) is not due then
    trace = read_pcap(path)
    moved = Trace(dict(trace.meta))
    t0 = next(iter(trace)).time
    for rec in trace:
        t = rec.time
        if 499_000_000 <= t - t0 < 502_000_000:
            t -= 180_000_000
        moved.add(t, rec.node, rec.event)
    ordered = Trace(dict(trace.meta))
    for rec in sorted(moved, key=lambda r: (r.time, r.seq)):
        ordered.add(rec.time, rec.node, rec.event)
    report = check_capture(ordered, until=800)
    assert not report.ok
    assert not any("pua.cleanup" in n for n in report.notes)


def test_a_db_mode_2_etag_edit_is_not_visible(tmp_path) -> None:
    path = _pcap(tmp_path, REFRESHES.replace("DBMODE", "db_mode: 2"), "dbm2")
    plain = check_capture(path, params={"update_period": 20, "db_mode": 2}, until=400, db_quirks="generic")
    assert plain.ok, plain.format()
    # someone rewrote the row's etag: the second refresh carries a value no reply handed out
    edited = _rewrite(path, lambda n, m: _with_header(m, "SIP-If-Match", "edited-by-hand") if n == 2 else m)
    report = check_capture(edited, params={"update_period": 20, "db_mode": 2}, until=400, db_quirks="generic")
    assert report.ok, report.format()
    [note] = [n for n in report.notes if "database edit" in n]
    assert "SIP-If-Match edited-by-hand, which no reply in the capture handed out" in note
    row = next(r for r in report.rows if r.real is not None and r.real.get("SIP-If-Match") == "edited-by-hand")
    assert row.note.startswith("not visible in the capture") and "if_match" in row.note


def test_the_same_etag_edit_in_db_mode_0_without_a_restart_is_a_difference(tmp_path) -> None:
    path = _pcap(tmp_path, REFRESHES.replace(", DBMODE", ""), "dbm0")
    edited = _rewrite(path, lambda n, m: _with_header(m, "SIP-If-Match", "edited-by-hand") if n == 2 else m)
    report = check_capture(edited, params={"update_period": 20}, until=400)
    assert not report.ok
    assert [d.field for _, d in report.differences] == ["if_match"]


def test_a_db_mode_2_desired_expires_edit_is_not_visible(tmp_path) -> None:
    path = _pcap(tmp_path, REFRESHES.replace("DBMODE", "db_mode: 2"), "dbm2")
    edited = _rewrite(path, lambda n, m: _with_header(m, "Expires", "77") if n == 2 else m)
    report = check_capture(edited, params={"update_period": 20, "db_mode": 2}, until=400, db_quirks="generic")
    assert report.ok, report.format()
    assert any("desired_expires" in n and "Expires 77" in n for n in report.notes)


def test_a_refresh_that_never_went_out_is_not_visible(tmp_path) -> None:
    path = _pcap(tmp_path, REFRESHES.replace(", DBMODE", ""), "dbm0")
    last = len([r for r in read_pcap(path) if type(r.event) is MessageSent and isinstance(r.event.message, Request)
                and r.event.src[1] == 5070]) - 1
    dropped = _rewrite(path, lambda n, m: None if n == last else m)  # the last refresh never left
    report = check_capture(dropped, params={"update_period": 20}, until=400)
    assert report.ok, report.format()
    assert any("is not in the capture: dropped in event_route[tm:local-request]" in n for n in report.notes)
    assert [r.kind for r in report.rows][-1] == "extra"


def test_a_refresh_sent_late_is_still_a_timing_difference(tmp_path) -> None:
    """The real refresh exists (unmatched): the model's is not explained away."""
    path = _pcap(tmp_path, REFRESHES.replace(", DBMODE", ""), "dbm0")
    trace = read_pcap(path)
    t0 = next(iter(trace)).time
    shifted = Trace(dict(trace.meta))
    for rec in trace:
        t = rec.time + (150_000_000 if rec.time - t0 > 300_000_000 else 0)
        shifted.add(t, rec.node, rec.event)
    report = check_capture(shifted, params={"update_period": 20}, until=600)
    assert not report.ok
    assert not any("tm:local-request" in n for n in report.notes)


DLG = """
name: dialog_versions
refs: ["pua-reference §3.4.2"]
duration: 30
pua:
  params: {outbound_proxy: "sip:127.0.0.1:5060", dlginfo_increase_version: 1}
steps:
  - {at: 0, do: publish, with: {pres_uri: sip:alice@127.0.0.1, event: dialog, expires: 600, source: DIALOG_PUBLISH, body_file: DLGBODY}}
  - {at: 5, do: publish, with: {pres_uri: sip:alice@127.0.0.1, event: dialog, expires: 600, source: DIALOG_PUBLISH, body_file: DLGBODY}}
expect:
  - count: {match: {from: pua, method: PUBLISH, body: present}, equals: 2}
"""


def test_skipped_document_versions_are_updates_that_sent_nothing(tmp_path) -> None:
    body = REPO / "scenarios" / "bodies"
    dlg = next(p for p in sorted(body.iterdir()) if p.name.startswith("dialog") and p.suffix == ".xml")
    text = DLG.replace("DLGBODY", str(dlg))
    path = _pcap(tmp_path, text, "dlg")
    params = {"dlginfo_increase_version": 1}
    plain = check_capture(path, params=params, source_flag=512, until=30)
    assert plain.ok, plain.format()

    def bump(n: int, m: Request) -> Request:
        if n != 1:
            return m
        return Request(m.method, m.uri, m.headers, m.body.replace(b'version="1"', b'version="3"', 1))

    report = check_capture(_rewrite(path, bump), params=params, source_flag=512, until=30)
    assert report.ok, report.format()
    assert any("2 update(s) of sip:alice@127.0.0.1" in n and "version is 3 where the model has 1" in n
               for n in report.notes)
