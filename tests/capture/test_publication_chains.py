"""When a publication chain ends (:func:`puasim.capture.infer.publication_chains`): a
chain still alive when the next initial PUBLISH of its presentity leaves makes
``puasim check`` give each publication its own id.

A chain ends with a removal or an error reply, and also with time: when its
request has no final reply within Timer F (the PUA's transaction gave up, pua
keeps no record; RFC 3261 §17.1.2.2, pua-reference §3.6) and when its last grant
ran out without a refresh.
"""

from __future__ import annotations

import pytest

from puasim.capture import export_pcap
from puasim.capture.check import check_capture
from puasim.capture.infer import publication_chains
from puasim.effects import SECOND
from puasim.sip.parser import parse
from puasim.trace.events import ApiCalled, MessageSent
from puasim.trace.trace import Record

from .conftest import REPO

PUA, SERVER = ("127.0.0.1", 5070), ("127.0.0.1", 5060)
BODY = (REPO / "scenarios" / "bodies" / "pidf-open.xml").read_text().replace("alice", "carol")


def _publish(n: int, expires: int, if_match: str | None = None) -> MessageSent:
    head = (f"Via: SIP/2.0/UDP {PUA[0]}:{PUA[1]};branch=z9hG4bKpub{n}\r\n"
            f"From: <sip:carol@127.0.0.1>;tag=f{n}\r\nTo: <sip:carol@127.0.0.1>\r\n"
            f"Call-ID: pub{n}@pua\r\nCSeq: 10 PUBLISH\r\nEvent: presence\r\nExpires: {expires}\r\n")
    if if_match:
        return MessageSent(PUA, SERVER, parse(f"PUBLISH sip:carol@127.0.0.1 SIP/2.0\r\n{head}"
                                              f"SIP-If-Match: {if_match}\r\nContent-Length: 0\r\n\r\n".encode()))
    return MessageSent(PUA, SERVER, parse(
        (f"PUBLISH sip:carol@127.0.0.1 SIP/2.0\r\n{head}Content-Type: application/pidf+xml\r\n"
         f"Content-Length: {len(BODY)}\r\n\r\n{BODY}").encode()))


def _ok(req: MessageSent, etag: str, expires: int | None) -> MessageSent:
    m = req.message
    head = "".join(f"{k}: {m.get(k)}\r\n" for k in ("Via", "From", "To", "Call-ID", "CSeq"))
    grant = "" if expires is None else f"Expires: {expires}\r\n"
    return MessageSent(SERVER, PUA, parse(
        f"SIP/2.0 200 OK\r\n{head}SIP-ETag: {etag}\r\n{grant}Content-Length: 0\r\n\r\n".encode()))


def _records(*timed: tuple[float, MessageSent]) -> list[Record]:
    return [Record(i, int(t * SECOND), "x", ev) for i, (t, ev) in enumerate(timed)]


def test_a_publish_nobody_answered_ends_its_chain_after_timer_f() -> None:
    # the first PUBLISH gets no reply (pua's transaction times out, no record kept); the
    # caller's next initial PUBLISH 60 s later is the only publication
    first, second = _publish(1, 3601), _publish(2, 3601)
    records = _records((0, first), (60, second), (60.01, _ok(second, "e2", 3600)))
    assert publication_chains(records, PUA) == {}
    # within Timer F the first is still waiting for its reply: two at once
    records = _records((0, first), (20, second), (20.01, _ok(second, "e2", 3600)))
    assert len({chain for _, chain in publication_chains(records, PUA).values()}) == 2


def test_a_publication_that_lapsed_unrefreshed_ends_its_chain() -> None:
    first, second = _publish(1, 61), _publish(2, 3601)
    granted = _ok(first, "e1", 60)
    records = _records((0, first), (0.01, granted), (3600, second), (3600.01, _ok(second, "e2", 3600)))
    assert publication_chains(records, PUA) == {}
    # the request's Expires stands when the 2xx gives none
    records = _records((0, first), (0.01, _ok(first, "e1", None)), (3600, second))
    assert publication_chains(records, PUA) == {}
    # before the grant runs out the first is alive: the second is another publication
    records = _records((0, first), (0.01, granted), (30, second), (30.01, _ok(second, "e2", 3600)))
    assert len({chain for _, chain in publication_chains(records, PUA).values()}) == 2


def test_a_refresh_extends_the_chain_and_a_late_reply_does_not_revive_it() -> None:
    first, refresh, second = _publish(1, 61), _publish(3, 61, "e1"), _publish(2, 3601)
    records = _records((0, first), (0.01, _ok(first, "e1", 60)), (50, refresh), (50.01, _ok(refresh, "e3", 60)),
                       (100, second))
    assert len({chain for _, chain in publication_chains(records, PUA).values()}) == 2
    # the refresh's 200 comes after Timer F: the PUA had given up on it (local 408)
    records = _records((0, first), (0.01, _ok(first, "e1", 60)), (50, refresh), (90, _ok(refresh, "e3", 60)),
                       (100, second))
    assert publication_chains(records, PUA) == {}


@pytest.mark.parametrize("timed", [
    # (a) the first PUBLISH is never answered; (b) its 60 s grant ran out long before the next
    ((0, _publish(1, 3601)), (60, _publish(2, 3601))),
    ((0, _publish(1, 61)), (0.01, "ok"), (3600, _publish(2, 3601))),
], ids=["unanswered", "lapsed"])
def test_check_keeps_the_callers_id_for_the_next_publication(tmp_path, timed) -> None:
    # one publication at a time: the model publishes under the caller's (empty) id, no "not-visible-N"
    records, last = [], None
    for t, ev in timed:
        ev = _ok(last, "e1", 60) if ev == "ok" else ev
        records.append((t, ev))
        last = ev
    records.append((records[-1][0] + 0.01, _ok(last, "e2", 3600)))
    path = tmp_path / "c.pcap"
    export_pcap(_records(*records), path, epoch=1_700_000_000)  # Kamailio's clock: seconds since 1970
    report = check_capture(path, pua_address=PUA, params={"update_period": 100}, until=records[-1][0] + 1)
    assert report.ok, report.format()
    calls = [r.event for r in report.model_trace if type(r.event) is ApiCalled and r.event.name == "send_publish"]
    assert len(calls) == 2 and all("id" not in dict(c.args) for c in calls)
    assert not any("not visible" in r.note for r in report.rows)
