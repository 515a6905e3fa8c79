"""``puasim check`` on real captures of pua's own re-SUBSCRIBE after an error (pua-reference §4.6.1).

The ``r*_subscribe_recovery_*`` captures in tests/data/lab/kamailio were taken
from a real Kamailio 5.6.3 pua node (pua_rpc, update_period 10, db_mode 0,
check_remote_contact 0) and a real presence server (max_expires 30) on
loopback by ``tests/live/subscribe_recovery_lab_driver.py``: an in-dialog
SUBSCRIBE (the sweep's refresh, an un-SUBSCRIBE, an API call on the dialog)
meets 481 (the server restarted with an empty DB) or 500 (the server's
script, once), and pua sends a new initial SUBSCRIBE by itself.
check must take that SUBSCRIBE for pua's own (kind ``recovery``), not for an
API call, and the model must send the same requests; copies of the captures
with one fact changed must be reported.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from puasim.capture import read_pcap
from puasim.capture.check import check_capture
from puasim.capture.compare import CheckReport
from puasim.effects import SECOND
from puasim.sip import headers as H
from puasim.sip.message import Request, Response
from puasim.trace.events import MessageSent
from puasim.trace.trace import Trace

from .conftest import LAB_CAPTURES

PARAMS = {"update_period": 10, "check_remote_contact": 0}
PUA_PORT = 5370

#: capture -> (seconds it ran after its first packet, the kinds check infers, Expires of each request)
CAPTURES = {
    "r1_subscribe_recovery_481_server_restart": (
        80, ["subscribe", "resubscribe", "recovery", "resubscribe"], ["70", "45", "48", "23"]),
    "r2_subscribe_recovery_500_once": (
        85, ["subscribe", "resubscribe", "recovery", "resubscribe"], ["70", "45", "48", "23"]),
    "r3_subscribe_recovery_481_unsubscribe": (
        36, ["subscribe", "unsubscribe", "recovery"], ["70", "0", "13"]),
    "r4_subscribe_recovery_481_indefinite_and_api_change": (
        75, ["subscribe", "resubscribe", "recovery", "change", "recovery", "resubscribe"],
        ["3610", "3610", "3613", "130", "133", "108"]),
}


def _check(source: str | Trace, until: float) -> CheckReport:
    return check_capture(source, pua_port=PUA_PORT, params=PARAMS, until=until)


def _path(name: str) -> str:
    return str(LAB_CAPTURES / f"{name}.pcap")


@pytest.mark.parametrize("name", sorted(CAPTURES))
def test_the_real_recovery_is_puas_own_and_the_model_agrees(name: str) -> None:
    until, kinds, expires = CAPTURES[name]
    report = _check(_path(name), until)
    assert report.ok, report.format()
    assert [r.kind for r in report.rows] == kinds
    assert [r.real.get("Expires") for r in report.rows if r.real is not None] == expires
    # every request was paired with one the model sent (none left unmatched either way)
    assert all(r.real is not None and r.model is not None for r in report.rows)
    assert "extra" not in [r.kind for r in report.rows]
    # the output says why each recovery is no API call, naming the failed request and its status
    for row in report.rows:
        if row.kind == "recovery":
            failed = report.rows[row.n - 2]
            assert row.note == (f"pua's own re-SUBSCRIBE after the {failed.status} to #{failed.n} "
                                "(pua-reference §4.6.1), not an API call")


def test_what_the_real_recovery_looks_like() -> None:
    """The facts of §4.6.1 on the wire (r1): right after the 481, a new dialog (new
    Call-ID, CSeq 10, no To-tag) to the old dialog's remote target, asking
    desired − now + 3 (+10) seconds: 60 s wanted at 0.07 s, 481 at 25.05 s -> 48."""
    trace = read_pcap(_path("r1_subscribe_recovery_481_server_restart"))
    sent = [(r.time, r.event.message) for r in trace if type(r.event) is MessageSent
            and isinstance(r.event.message, Request) and r.event.src[1] == PUA_PORT]
    replies = [(r.time, r.event.message) for r in trace if type(r.event) is MessageSent
               and isinstance(r.event.message, Response) and r.event.dst[1] == PUA_PORT]
    (t0, initial), (t1, refresh), (t2, recovery) = sent[:3]
    t481 = next(t for t, m in replies if m.status == 481)
    assert t1 <= t481 <= t2 and t2 - t481 < SECOND // 10
    assert recovery.uri == refresh.uri != initial.uri  # the remote target, sip:presence@...
    assert recovery.get("Call-ID") not in (initial.get("Call-ID"), None)
    assert H.cseq(recovery).seq == 10 and not H.to(recovery).tag
    # Kamailio counts whole seconds (time(NULL)); record times count from the first packet's second
    assert int(recovery.get("Expires")) == 60 - (t2 // SECOND - t0 // SECOND) + 3 + 10


# -- mutated copies: a PUA that recovers otherwise must be reported ------------------------------


def _mutate(name: str, change: Callable[[int, MessageSent], tuple[int, MessageSent] | None]) -> Trace:
    """A copy of a capture with ``change`` applied to every message record (None drops it)."""
    trace = read_pcap(_path(name))
    out = Trace(dict(trace.meta))
    frames = list(trace.meta.get("frames") or [])
    kept = []
    for i, rec in enumerate(trace):
        ev = rec.event
        if type(ev) is MessageSent:
            got = change(rec.time, ev)
            if got is None:
                continue
            out.add(got[0], rec.node, got[1])
        else:
            out.add(rec.time, rec.node, ev)
        if i < len(frames):
            kept.append(frames[i])
    out.meta["frames"] = kept
    return out


def _is_recovery(ev: MessageSent, expires: str) -> bool:
    msg = ev.message
    return (isinstance(msg, Request) and msg.method == "SUBSCRIBE" and msg.get("Expires") == expires
            and not H.to(msg).tag)


def _with_header(msg: Request, name: str, value: str) -> Request:
    return Request(msg.method, msg.uri, tuple((n, value if n.lower() == name.lower() else v) for n, v in msg.headers),
                   msg.body)


@pytest.mark.parametrize("name,expires,wrong", [
    ("r1_subscribe_recovery_481_server_restart", "48", "60"),   # the wanted lifetime again, not desired - now
    ("r3_subscribe_recovery_481_unsubscribe", "13", "0"),       # no B5: an un-SUBSCRIBE's recovery asking 0
])
def test_a_recovery_asking_another_expires_is_reported(name: str, expires: str, wrong: str) -> None:
    def change(t: int, ev: MessageSent) -> tuple[int, MessageSent]:
        if _is_recovery(ev, expires):
            return t, MessageSent(ev.src, ev.dst, _with_header(ev.message, "Expires", wrong), ev.retransmission)
        return t, ev

    report = _check(_mutate(name, change), CAPTURES[name][0])
    bad = [r for r in report.rows if not r.ok]
    assert bad and bad[0].kind == "recovery", report.format()
    assert [(d.field, d.real, d.model) for d in bad[0].diffs] == [("expires", wrong, expires)]
    # later rows may differ too: check anchors the new dialog's countdown on the Expires its
    # first SUBSCRIBE asked, so the real refresh that follows no longer fits it
    assert all(r.kind in ("extra", "change") for r in bad[1:]), report.format()


def test_a_recovery_sent_to_the_presentity_is_reported() -> None:
    """pua re-subscribes to the old dialog's remote target (§4.6.1), not to the presentity."""
    name = "r2_subscribe_recovery_500_once"

    def change(t: int, ev: MessageSent) -> tuple[int, MessageSent]:
        if _is_recovery(ev, "48"):
            msg = ev.message
            return t, MessageSent(ev.src, ev.dst, Request(msg.method, "sip:alice@127.0.0.1:5360", msg.headers, msg.body),
                                  ev.retransmission)
        return t, ev

    report = _check(_mutate(name, change), CAPTURES[name][0])
    bad = [r for r in report.rows if not r.ok]
    assert [r.kind for r in bad] == ["recovery"], report.format()
    assert [d.field for d in bad[0].diffs] == ["ruri"]


def test_a_pua_that_does_not_recover_is_reported() -> None:
    """The recovery and everything of its dialog left out: the model's re-SUBSCRIBE
    is a request the real PUA did not send."""
    name = "r1_subscribe_recovery_481_server_restart"
    trace = read_pcap(_path(name))
    new_dialog = next(r.event.message.get("Call-ID") for r in trace if type(r.event) is MessageSent
                      and _is_recovery(r.event, "48"))

    def change(t: int, ev: MessageSent) -> tuple[int, MessageSent] | None:
        return None if ev.message.get("Call-ID") == new_dialog else (t, ev)

    report = _check(_mutate(name, change), CAPTURES[name][0])
    assert not report.ok
    extra = [r for r in report.rows if r.kind == "extra"]
    assert extra and extra[0].model is not None and extra[0].model.get("Expires") == "48", report.format()


def test_a_late_subscribe_is_an_api_call_not_a_recovery() -> None:
    """The same SUBSCRIBE sent 5 s after the 481 is no recovery: check takes it for an API
    call, and the model's own immediate re-SUBSCRIBE is missing from the capture."""
    name = "r1_subscribe_recovery_481_server_restart"
    trace = read_pcap(_path(name))
    new_dialog = next(r.event.message.get("Call-ID") for r in trace if type(r.event) is MessageSent
                      and _is_recovery(r.event, "48"))
    first = next(r.time for r in trace if type(r.event) is MessageSent and r.event.message.get("Call-ID") == new_dialog)

    def change(t: int, ev: MessageSent) -> tuple[int, MessageSent]:
        if ev.message.get("Call-ID") == new_dialog and t < first + 20 * SECOND:
            return t + 5 * SECOND, ev
        return t, ev

    report = _check(_mutate(name, change), CAPTURES[name][0])
    assert not report.ok
    assert "recovery" not in [r.kind for r in report.rows]
    assert any(r.kind == "extra" for r in report.rows), report.format()
