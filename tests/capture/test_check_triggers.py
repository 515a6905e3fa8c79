"""What ``puasim check`` counts as pua_usrloc's or pua_bla's trigger: a REGISTER just before.

Only a REGISTER the registrar answered 2xx runs usrloc's callbacks (pua-reference
§9.2, §9.3), and each companion has its own event: ``presence`` for pua_usrloc's
PUBLISH, ``dialog;sla`` for pua_bla's SUBSCRIBE.  Anything else before a body-less
PUBLISH or an in-dialog SUBSCRIBE leaves it a refresh, whose timing is compared.
"""

from __future__ import annotations

from puasim.capture import export_pcap
from puasim.capture.check import check_capture
from puasim.capture.infer import answered_registers
from puasim.effects import SECOND
from puasim.scenario.runner import load_scenario, run_scenario
from puasim.sip.message import Request
from puasim.sip.parser import parse
from puasim.trace.events import MessageSent
from puasim.trace.trace import Record

from .conftest import REPO

PHONE = ("127.0.0.1", 5099)


def _register(pua, aor: str, status: int | None, n: int) -> tuple[MessageSent, ...]:
    """A phone's REGISTER for ``aor`` to the PUA's address and, unless None, its reply."""
    head = (f"Via: SIP/2.0/UDP {PHONE[0]}:{PHONE[1]};branch=z9hG4bKreg{n}\r\n"
            f"From: <{aor}>;tag=ph{n}\r\nTo: <{aor}>\r\nCall-ID: reg{n}@phone\r\nCSeq: {n} REGISTER\r\n")
    req = parse((f"REGISTER sip:{pua[0]}:{pua[1]} SIP/2.0\r\n{head}"
                 f"Contact: <sip:phone@{PHONE[0]}:{PHONE[1]}>\r\nExpires: 3600\r\nContent-Length: 0\r\n\r\n").encode())
    out = [MessageSent(PHONE, pua, req)]
    if status is not None:
        reason = {200: "OK", 401: "Unauthorized", 403: "Forbidden"}[status]
        out.append(MessageSent(pua, PHONE, parse(
            f"SIP/2.0 {status} {reason}\r\n{head}Content-Length: 0\r\n\r\n".encode())))
    return tuple(out)


def _capture(tmp_path, rel: str, pick, status: int | None, *, shift: float = 0.0, before: float = 0.5):
    """Run ``rel`` and export it with a REGISTER (answered ``status``) ``before`` s ahead of
    the real PUA's request ``pick`` chooses, that request moved by ``shift`` s."""
    scn = load_scenario(REPO / "scenarios" / rel)
    trace = run_scenario(scn).trace
    sent = [r for r in trace if type(r.event) is MessageSent]
    target = pick([r for r in sent if r.event.src == scn.pua_address and not r.event.retransmission
                   and isinstance(r.event.message, Request)])
    at = target.time + int(shift * SECOND)
    records = [Record(r.seq, at if r is target else r.time, r.node, r.event) for r in sent]
    aor = target.event.message.get("To").split("<")[1].split(">")[0]
    for i, ev in enumerate(_register(scn.pua_address, aor, status, 1)):
        records.append(Record(0, at - int(before * SECOND) + i * 1000, "phone", ev))
    records.sort(key=lambda r: r.time)
    out = tmp_path / "c.pcap"
    export_pcap([Record(i, r.time, r.node, r.event) for i, r in enumerate(records)], out, epoch=trace.meta.get("epoch"))
    return scn, out


def _refreshes(reqs):
    return [r for r in reqs if r.event.message.method == "PUBLISH" and not r.event.message.body][-1]


def test_a_challenged_register_leaves_a_timely_refresh_a_refresh(tmp_path) -> None:
    scn, path = _capture(tmp_path, "publish/refresh_indefinite.yaml", _refreshes, 401)
    report = check_capture(path, pua_address=scn.pua_address, params={"update_period": 100})
    assert report.ok, report.format()
    assert [r.kind for r in report.rows].count("refresh") == 2
    assert not any("pua_usrloc" in r.note for r in report.rows)


def test_a_challenged_register_leaves_a_late_refresh_a_timing_difference(tmp_path) -> None:
    # 3 s after the sweep's tick: taken as pua_usrloc's API publish, the lateness would not show
    scn, path = _capture(tmp_path, "publish/refresh_indefinite.yaml", _refreshes, 401, shift=3.0)
    report = check_capture(path, pua_address=scn.pua_address, params={"update_period": 100})
    assert not report.ok
    late = report.rows[2]
    assert late.kind == "refresh" and not late.ok
    assert [d.field for d in late.diffs] == ["timing"], report.format()


def test_a_rejected_or_unanswered_register_is_no_trigger_but_a_registered_one_is(tmp_path) -> None:
    kinds = {}
    for status in (403, None, 200):
        scn, path = _capture(tmp_path, "publish/refresh_indefinite.yaml", _refreshes, status)
        report = check_capture(path, pua_address=scn.pua_address, params={"update_period": 100})
        kinds[status] = report.rows[2].kind, report.rows[2].note
    assert kinds[403][0] == kinds[None][0] == "refresh"
    assert kinds[200][0] == "publish" and "pua_usrloc's publish for the REGISTER" in kinds[200][1]


def test_a_registered_contact_does_not_make_a_dialog_refresh_pua_usrlocs(tmp_path) -> None:
    # pua_usrloc publishes presence (§9.2): a body-less PUBLISH of event dialog is pua_dialoginfo's
    # record refreshed by the sweep
    def first_dialog_refresh(reqs):
        return next(r for r in reqs if r.event.message.method == "PUBLISH" and not r.event.message.body
                    and r.event.message.get("Event") == "dialog")

    scn, path = _capture(tmp_path, "calls/dialoginfo_refresh_during_call.yaml", first_dialog_refresh, 200)
    report = check_capture(path, pua_address=scn.pua_address, params={"update_period": 10})
    assert report.ok, report.format()
    rows = [r for r in report.rows if r.real is not None and r.real.method == "PUBLISH" and not r.real.body
            and r.real.get("Expires") != "11"]
    assert rows and all(r.kind == "refresh" for r in rows)
    assert not any("pua_usrloc" in r.note for r in report.rows)


def test_a_registered_contact_does_not_make_a_presence_resubscribe_pua_blas(tmp_path) -> None:
    # pua_bla subscribes to dialog;sla (§9.3): an in-dialog presence SUBSCRIBE on the sweep is a refresh
    def resubscribe(reqs):
        return [r for r in reqs if r.event.message.method == "SUBSCRIBE"][-1]

    scn, path = _capture(tmp_path, "subscribe/refresh_via_sweep.yaml", resubscribe, 200)
    report = check_capture(path, pua_address=scn.pua_address, params={"check_remote_contact": 0})
    assert report.ok, report.format()
    assert report.rows[1].kind == "resubscribe"
    assert not any("pua_bla" in r.note for r in report.rows)



def test_answered_registers_pairs_each_register_with_its_own_reply() -> None:
    pua = ("127.0.0.1", 5080)
    challenged = _register(pua, "sip:bob@127.0.0.1", 401, 1)
    saved = _register(pua, "sip:bob@127.0.0.1", 200, 2)
    unanswered = _register(pua, "sip:carol@127.0.0.1", None, 3)
    late = _register(pua, "sip:dave@127.0.0.1", 200, 4)
    timed = [*challenged, *saved, *unanswered, late[0]]
    records = [Record(i, i * SECOND, "x", ev) for i, ev in enumerate(timed)]
    # the 200 may leave after pua_usrloc's PUBLISH (the usrloc callback runs inside save()): it still counts
    records.append(Record(9, 9 * SECOND, "x", late[1]))
    assert answered_registers(records, pua) == {"sip:bob@127.0.0.1": [2 * SECOND], "sip:dave@127.0.0.1": [5 * SECOND]}
