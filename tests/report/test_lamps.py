"""Busy-lamp accuracy on hand-made traces: truth, shown lamp, wrong intervals, every cause, lag."""

from __future__ import annotations

import math

import pytest

from puasim.report import load
from puasim.report.lamps import (
    CAUSES,
    LAMP_COLUMNS,
    lag_percentiles,
    lamp_lag,
    lamp_of,
    lamp_shown,
    lamp_summary,
    lamp_truth,
    lamp_wrong,
    lamps,
    read_dialogs,
)
from puasim.sip.message import Request, Response
from puasim.trace.events import (
    FaultInjected,
    MessageDelivered,
    MessageDropped,
    MessageSent,
    Note,
    RecordChanged,
    ServerStateChanged,
)
from tests.report.builders import EPOCH, TraceBuilder, us

BOB = "sip:bob@127.0.0.1"
ADDR = {
    "pua": ("127.0.0.1", 5070),
    "server": ("127.0.0.1", 5060),
    "alice": ("127.0.0.1", 5090),
    "bob": ("127.0.0.1", 5092),
    "carol": ("127.0.0.1", 5094),
}


def dialog_info(state: str | None, doc: str = "full", dialog_id: str = "d1", call: str = "") -> bytes:
    cid = f' call-id="{call}"' if call else ""
    inner = f'<dialog id="{dialog_id}"{cid} direction="recipient"><state>{state}</state></dialog>' if state else ""
    return (f'<?xml version="1.0"?><dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="0" '
            f'state="{doc}" entity="{BOB}">{inner}</dialog-info>').encode()


class Calls(TraceBuilder):
    """A trace of bob's call, the edge's PUBLISHes and the server's NOTIFYs to carol."""

    def __init__(self) -> None:
        super().__init__()
        self.n = 0

    def send(self, t: float, src: str, dst: str, msg, retx: bool = False) -> None:
        self.add(t, src, MessageSent(ADDR[src], ADDR[dst], msg, retx))

    def deliver(self, t: float, src: str, dst: str, msg) -> None:
        self.add(t, dst, MessageDelivered(ADDR[src], ADDR[dst], msg))

    def drop(self, t: float, src: str, dst: str, msg, reason: str = "loss") -> None:
        self.add(t, src, MessageDropped(ADDR[src], ADDR[dst], msg, reason))

    def branch(self) -> str:
        self.n += 1
        return f"z9hG4bK{self.n}"

    def invite(self, t: float, call: str = "c1") -> None:
        """alice's INVITE reaching bob (bob's calls belong to his AOR, the INVITE's To)."""
        req = Request("INVITE", "sip:bob@127.0.0.1:5092", (
            ("Via", f"SIP/2.0/UDP 127.0.0.1:5070;branch={self.branch()}"), ("From", "<sip:alice@127.0.0.1>;tag=a"),
            ("To", f"<{BOB}>"), ("Call-ID", call), ("CSeq", "1 INVITE"), ("Content-Length", "0")))
        self.hop(t, "pua", "bob", req)

    def state(self, t: float, state: str, phone: str = "bob", call: str = "c1") -> None:
        self.add(t, phone, Note("info", f"{phone}: call {call}: {state} (test)"))

    def publish(self, t: float, body: bytes, status: int = 200, etag: str = "e1", action: str = "created",
                latency: float = 0.001) -> float:
        """A dialog PUBLISH for bob; the server applies it (unless 412) and answers."""
        req = Request("PUBLISH", BOB, (
            ("Via", f"SIP/2.0/UDP 127.0.0.1:5070;branch={self.branch()}"), ("From", f"<{BOB}>;tag=p"),
            ("To", f"<{BOB}>"), ("Call-ID", f"p{self.n}"), ("CSeq", "1 PUBLISH"), ("Event", "dialog"),
            ("Expires", "3600"), ("Content-Type", "application/dialog-info+xml"),
            ("Content-Length", str(len(body)))), body)
        at = self.hop(t, "pua", "server", req, latency)
        if status == 200:
            self.add(at, "server", ServerStateChanged(action, BOB, "dialog", etag, us(at + 3600)))
        headers = tuple((n, v) for n, v in req.headers if n in ("Via", "From", "To", "Call-ID", "CSeq"))
        self.hop(at, "server", "pua", Response(status, "OK" if status == 200 else "Conditional Request Failed",
                                               (*headers, ("Content-Length", "0"))), latency)
        return at

    def notify(self, t: float, body: bytes, latency: float = 0.001, lost: int = 0,
               sub_state: str = "active;expires=3000") -> float:
        """A NOTIFY from the server to carol (``lost`` first copies dropped); returns the delivery time."""
        req = Request("NOTIFY", "sip:carol@127.0.0.1:5094", (
            ("Via", f"SIP/2.0/UDP 127.0.0.1:5060;branch={self.branch()}"), ("From", f"<{BOB}>;tag=s"),
            ("To", "<sip:carol@127.0.0.1>;tag=c"), ("Call-ID", "w1"), ("CSeq", f"{self.n} NOTIFY"),
            ("Event", "dialog"), ("Subscription-State", sub_state),
            ("Content-Length", str(len(body)))), body)
        for k in range(lost):
            self.send(t + k * 0.5, "server", "carol", req, retx=k > 0)
            self.drop(t + k * 0.5, "server", "carol", req)
        self.send(t + lost * 0.5, "server", "carol", req, retx=lost > 0)
        self.deliver(t + lost * 0.5 + latency, "server", "carol", req)
        return t + lost * 0.5 + latency

    def watched(self) -> None:
        """carol's subscription: the first NOTIFY, no dialogs, at 0.1."""
        self.notify(0.1, b"")


def ringing_then_busy(b: Calls) -> Calls:
    """bob rings at 1.0 and answers at 2.0; PUBLISH and NOTIFY at 1 ms hops."""
    b.watched()
    b.invite(0.999)
    b.state(1.0, "ringing")
    b.state(1.0, "early")
    at = b.publish(1.001, dialog_info("early"))
    b.notify(at, dialog_info("early"))
    b.state(2.0, "confirmed")
    return b


def wrong(b: Calls):
    data = load(b.trace)
    return lamp_wrong(data)


def test_lamp_aggregation_confirmed_wins_then_early():
    assert lamp_of(["early", "confirmed"]) == "busy"
    assert lamp_of(["trying", "early", "terminated"]) == "ringing"
    assert lamp_of(["Trying", "proceeding", "terminated"]) == "idle"
    assert lamp_of([]) == "idle"


def test_read_dialogs_tolerates_pua_capital_trying_and_rejects_junk():
    assert read_dialogs(dialog_info("Trying")) == ("full", 0, {"d1": "trying"}, {})
    assert read_dialogs(b"<not-xml") is None
    assert read_dialogs(b"<presence/>") is None


def test_truth_follows_the_phone_notes_per_extension():
    b = ringing_then_busy(Calls())
    b.state(5.0, "terminated")
    truth = lamp_truth(load(b.trace))
    assert list(truth.columns) == list(LAMP_COLUMNS["lamp_truth"])
    assert list(truth["extension"].unique()) == [BOB]
    assert list(truth["lamp"]) == ["idle", "ringing", "busy", "idle"]
    assert list(truth["dialog_state"]) == ["trying", "early", "confirmed", "terminated"]
    assert list(truth["changed"]) == [False, True, True, True]


def test_shown_applies_full_and_partial_documents_and_empty_bodies():
    b = Calls()
    b.watched()
    b.notify(1.0, dialog_info("early"))
    b.notify(2.0, dialog_info("confirmed", doc="partial", dialog_id="d2"))
    b.notify(3.0, dialog_info("terminated", doc="partial", dialog_id="d2"))
    b.notify(4.0, b"")
    shown = lamp_shown(load(b.trace))
    assert list(shown.columns) == list(LAMP_COLUMNS["lamp_shown"])
    assert list(shown["lamp"]) == ["idle", "ringing", "busy", "ringing", "idle"]
    assert shown["dialogs"].iloc[2] == "d1:early,d2:confirmed"
    assert list(shown["doc_state"]) == ["none", "full", "partial", "partial", "none"]
    assert shown["sent"].iloc[1] == pytest.approx(1.0)


def test_normal_propagation_is_classified_by_its_longest_phase():
    b = ringing_then_busy(Calls())
    at = b.publish(2.1, dialog_info("confirmed"), latency=0.001)  # 100 ms before the edge published
    b.notify(at, dialog_info("confirmed"))
    w = wrong(b)
    assert list(w.columns) == list(LAMP_COLUMNS["lamp_wrong"])
    busy = w[w["truth"] == "busy"].iloc[0]
    assert busy["cause"] == "not_published"
    assert (busy["start"], busy["end"]) == (2.0, pytest.approx(2.102))
    assert busy["opened_by"] == "truth" and busy["closed_by"] == "notify"


@pytest.mark.parametrize(("publish_latency", "notify_at", "notify_latency", "cause"), [
    (0.5, None, 0.001, "publish_in_flight"),
    (0.001, 2.8, 0.001, "server_delay"),
    (0.001, None, 0.6, "notify_in_flight"),
])
def test_each_propagation_phase(publish_latency, notify_at, notify_latency, cause):
    b = ringing_then_busy(Calls())
    at = b.publish(2.0, dialog_info("confirmed"), latency=publish_latency)
    b.notify(notify_at or at, dialog_info("confirmed"), latency=notify_latency)
    w = wrong(b)
    assert w[w["truth"] == "busy"]["cause"].tolist() == [cause]


def test_lost_notify():
    b = ringing_then_busy(Calls())
    at = b.publish(2.0, dialog_info("confirmed"))
    b.notify(at, dialog_info("confirmed"), lost=2)
    row = wrong(b).iloc[-1]
    assert row["cause"] == "lost_notify"
    assert row["duration"] == pytest.approx(1.002)


def test_swallowed_notify_fault_counts_as_lost():
    b = ringing_then_busy(Calls())
    at = b.publish(2.0, dialog_info("confirmed"))
    b.add(at, "server", FaultInjected("drop-notify", "next NOTIFY"))
    b.notify(5.0, dialog_info("confirmed"))
    assert wrong(b).iloc[-1]["cause"] == "lost_notify"


def test_412_round():
    b = ringing_then_busy(Calls())
    b.publish(2.0, dialog_info("confirmed"), status=412)
    at = b.publish(2.002, dialog_info("confirmed"), etag="e2")
    b.notify(at, dialog_info("confirmed"))
    assert wrong(b).iloc[-1]["cause"] == "412_round"


def test_expired_publication_opens_an_interval_by_notify():
    b = ringing_then_busy(Calls())
    at = b.publish(2.0, dialog_info("confirmed"))
    b.notify(at, dialog_info("confirmed"))
    b.add(30.0, "server", ServerStateChanged("expired", BOB, "dialog", "e1", 0))
    b.notify(30.0, b"")
    b.state(40.0, "terminated")
    row = wrong(b).iloc[-1]
    assert (row["cause"], row["opened_by"], row["closed_by"]) == ("expired_publication", "notify", "truth")
    assert (row["truth"], row["shown"]) == ("busy", "idle")
    assert row["duration"] == pytest.approx(9.999)


def test_sweep_delete():
    b = ringing_then_busy(Calls())
    at = b.publish(2.0, dialog_info("confirmed"))
    b.notify(at, dialog_info("confirmed"))
    b.add(2.5, "pua", RecordChanged("expired", "publication", BOB, "DIALOG_PUBLISH.x", 32, 0, "e1",
                                    EPOCH + 2, EPOCH + 2, 0))
    b.add(3.0, "server", ServerStateChanged("expired", BOB, "dialog", "e1", 0))
    b.notify(3.0, b"")
    row = wrong(b).iloc[-1]
    assert (row["cause"], row["truth"], row["shown"]) == ("sweep_delete", "busy", "idle")


def test_an_expiry_that_puts_the_lamp_right_is_not_the_cause():
    b = Calls()
    b.watched()
    b.invite(0.999)
    b.state(1.0, "confirmed")  # answered at once: the lamp is dark while bob talks
    b.publish(1.001, dialog_info("confirmed"), latency=0.5)
    b.add(1.2, "server", ServerStateChanged("expired", BOB, "dialog", "e0", 0))
    b.notify(1.2, dialog_info("confirmed"))  # the expiry's NOTIFY shows the confirmed call
    row = wrong(b).iloc[-1]
    assert (row["truth"], row["shown"], row["end"]) == ("busy", "idle", pytest.approx(1.201))
    assert row["cause"] == "publish_in_flight"


def test_lamp_ahead_of_the_phones():
    b = ringing_then_busy(Calls())
    at = b.publish(2.0, dialog_info("confirmed"))
    b.notify(at, dialog_info("confirmed"))
    at = b.publish(5.0, dialog_info("terminated"), etag="e2", action="modified")
    b.notify(at, dialog_info("terminated"))
    b.state(5.5, "terminated")  # the BYE reached bob after the edge published it
    row = wrong(b).iloc[-1]
    assert (row["cause"], row["truth"], row["shown"]) == ("ahead", "busy", "idle")


def test_stale_state():
    b = ringing_then_busy(Calls())
    at = b.publish(2.0, dialog_info("confirmed"))
    b.notify(at, dialog_info("confirmed"))
    b.state(5.0, "terminated")
    at = b.publish(5.0, dialog_info("terminated"), etag="e2", action="modified")
    b.notify(at, dialog_info("terminated"))
    b.notify(6.0, dialog_info("early"))  # an older publication's state
    row = wrong(b).iloc[-1]
    assert (row["cause"], row["opened_by"], row["closed_by"]) == ("stale_state", "notify", "end")


def test_a_notify_that_lacks_a_live_call_is_stale_state_not_ahead():
    b = Calls()
    b.watched()
    b.invite(0.999)
    b.state(1.0, "confirmed")
    b.notify(1.001, dialog_info("confirmed", call="c1"))
    b.invite(1.999, call="c2")
    b.state(2.0, "confirmed", call="c2")  # a second call: still busy
    b.state(3.0, "terminated")
    b.notify(3.001, dialog_info("terminated", call="c1"))  # only the newest publication: c1 ended
    b.add(4.0, "server", ServerStateChanged("expired", BOB, "dialog", "e1", 0))  # c1's lapses: still dark
    b.notify(4.0, b"")
    b.state(5.0, "terminated", call="c2")  # the truth comes round to the dark lamp
    row = wrong(b).iloc[-1]
    assert (row["opened_by"], row["closed_by"], row["cause"]) == ("notify", "truth", "stale_state")
    assert "lacks call c2" in row["detail"]


def test_every_cause_is_produced_by_a_test_above():
    produced = {"not_published", "publish_in_flight", "server_delay", "notify_in_flight", "lost_notify",
                "412_round", "expired_publication", "sweep_delete", "ahead", "stale_state"}
    assert produced == set(CAUSES)


def test_lag_and_summary():
    b = ringing_then_busy(Calls())
    at = b.publish(2.0, dialog_info("confirmed"))
    b.notify(at, dialog_info("confirmed"), lost=1)
    data = load(b.trace)
    lag = lamp_lag(data)
    assert list(lag.columns) == list(LAMP_COLUMNS["lamp_lag"])
    assert list(lag["lamp"]) == ["ringing", "busy"]
    assert list(lag["lag"]) == [pytest.approx(0.003), pytest.approx(0.502)]
    per = lag_percentiles(lag)
    assert per.iloc[0]["watcher"] == "carol" and per.iloc[0]["max_s"] == pytest.approx(0.502)
    s = lamp_summary(lamps(data), data.end_time)
    assert s["lamp_pairs"] == 1 and s["lamp_wrong"] == 2 and s["lamp_superseded"] == 0
    assert s["lamp_lag_max_s"] == pytest.approx(0.502)


def test_superseded_change_has_no_lag():
    b = Calls()
    b.watched()
    b.invite(0.999)
    b.state(1.0, "early")
    b.state(1.5, "terminated")
    lag = lamp_lag(load(b.trace))
    assert lag["superseded"].tolist() == [True, False]
    assert math.isnan(lag["lag"].iloc[0]) and lag["lag"].iloc[1] == 0.0


def test_no_watchers_no_rows():
    frames = lamps(load(TraceBuilder().trace))
    assert frames.empty and frames.wrong.empty and frames.lag.empty
    assert lamp_summary(frames, 0.0)["lamp_pairs"] == 0


DOCS = __import__("pathlib").Path(__file__).resolve().parents[2] / "docs" / "metrics.md"


def test_every_lamp_column_is_documented_in_metrics_md():
    text = DOCS.read_text(encoding="utf-8")
    for name, cols in LAMP_COLUMNS.items():
        assert f"### `{name}`" in text, name
        for col in cols:
            assert f"| `{col}` |" in text, f"{name}.{col} not in docs/metrics.md"
    for cause in CAUSES:
        assert f"`{cause}`" in text, cause


def test_lamp_timeline_draws_lanes_and_shades_wrong_intervals_by_cause():
    from puasim.report.figures import to_png
    from puasim.report.lampchart import CAUSE_COLORS, lamp_timeline, wrong_by_cause

    b = ringing_then_busy(Calls())
    at = b.publish(2.0, dialog_info("confirmed"))
    b.notify(at, dialog_info("confirmed"), lost=2)
    data = load(b.trace)
    frames = lamps(data)
    fig = lamp_timeline(frames, data.end_time)
    ax = fig.axes[0]
    # the wrong intervals: one bar each in the collections shaded at alpha 0.35
    shaded = sum(len(c.get_paths()) for c in ax.collections if c.get_alpha() == 0.35)
    assert shaded == len(frames.wrong) == 2
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "wrong: lost_notify" in legend and "wrong: notify_in_flight" not in legend
    assert [t.get_text() for t in ax.texts if t.get_text() in CAUSE_COLORS] == ["lost_notify"]
    assert to_png(fig)[:4] == b"\x89PNG"
    table = wrong_by_cause(frames.wrong)
    assert table["cause"].tolist() == ["lost_notify", "not_published"]


def test_lamp_timeline_without_watchers_says_so():
    from puasim.report.lampchart import lamp_timeline

    fig = lamp_timeline(lamps(load(TraceBuilder().trace)), 1.0)
    assert "no phone watches" in fig.axes[0].texts[0].get_text()


def test_report_has_a_busy_lamp_section_and_frames_only_with_watchers(tmp_path):
    from puasim.report.html import write_report

    b = ringing_then_busy(Calls())
    path = write_report(b.trace, tmp_path / "blf")
    text = path.read_text(encoding="utf-8")
    assert "<h2>Busy lamps</h2>" in text and "aria-label='busy lamp timeline'" in text
    for name in LAMP_COLUMNS:
        assert (tmp_path / "blf" / "data" / f"{name}.csv").is_file()
    plain = write_report(TraceBuilder().trace, tmp_path / "plain")
    assert "Busy lamps" not in plain.read_text(encoding="utf-8")
    assert not (tmp_path / "plain" / "data" / "lamp_truth.csv").exists()


def test_chosen_pairs_keep_those_with_the_most_wrong_time():
    from puasim.report.lampchart import chosen_pairs

    b = ringing_then_busy(Calls())
    at = b.publish(2.0, dialog_info("confirmed"))
    b.notify(at, dialog_info("confirmed"), lost=2)
    frames = lamps(load(b.trace))
    extra = frames.shown.iloc[:1].assign(extension="sip:aaa@127.0.0.1")  # sorts first, never wrong
    frames.shown = __import__("pandas").concat([frames.shown, extra], ignore_index=True)
    assert chosen_pairs(frames, limit=1) == [("carol", "sip:carol@127.0.0.1", BOB)]
    assert len(chosen_pairs(frames)) == 2
