"""The frames of hand-made traces: columns, types and values."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from puasim.report import COLUMNS, load
from puasim.report.frames import from_trace
from puasim.report.source import READERS, open_trace, trace_files
from puasim.trace.codec import write_jsonl
from puasim.trace.trace import Trace
from tests.report.builders import ALICE, BODY_CLOSED, BODY_OPEN, TraceBuilder, publish, reply

DOCS = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"


def simple() -> TraceBuilder:
    """Initial PUBLISH at 0 (granted 3600), a refresh at 3515 answered 200."""
    b = TraceBuilder()
    b.publish_ok(0.0, publish(branch="z9hG4bK1", body=BODY_OPEN), "e1", 3600)
    b.publish_ok(
        3515.0,
        publish(branch="z9hG4bK2", if_match="e1"),
        "e2",
        3600,
        server_action="refreshed",
        record_action="refreshed",
    )
    return b


def test_every_frame_has_its_documented_columns():
    data = load(simple().trace)
    for name, cols in COLUMNS.items():
        assert list(getattr(data, name).columns) == list(cols), name


def test_every_column_is_documented_in_metrics_md():
    text = DOCS.read_text(encoding="utf-8")
    for name, cols in COLUMNS.items():
        assert f"`{name}`" in text, name
        for col in cols:
            assert f"`{col}`" in text, f"{name}.{col} not in docs/metrics.md"


def test_empty_trace_gives_empty_frames_with_columns():
    data = load(Trace({"epoch": 0}))
    for name, cols in COLUMNS.items():
        frame = getattr(data, name)
        assert frame.empty and list(frame.columns) == list(cols)
    assert data.end_time == 0.0


def test_messages_rows_and_values():
    data = load(simple().trace)
    m = data.messages
    assert len(m) == 4
    first = m.iloc[0]
    assert (
        first["time"] == 0.0 and first["direction"] == "pua>server" and first["kind"] == "request"
    )
    assert first["method"] == "PUBLISH" and first["op"] == "initial" and first["expires"] == 3601
    assert first["body_size"] == len(BODY_OPEN) and len(first["body_id"]) == 8
    assert first["delivered"] == pytest.approx(0.001) and not first["dropped"]
    assert first["src"] == "127.0.0.1:5070" and first["dst_node"] == "server"
    ok = m.iloc[1]
    assert ok["kind"] == "response" and ok["status"] == 200 and ok["method"] == "PUBLISH"
    assert ok["etag"] == "e1" and ok["expires"] == 3600 and ok["direction"] == "server>pua"
    refresh = m.iloc[2]
    assert refresh["op"] == "refresh" and refresh["if_match"] == "e1" and refresh["body_id"] == ""
    assert m["status"].dtype == "Int64" and m["expires"].dtype == "Int64"


def test_drops_retransmissions_and_duplicates_are_joined():
    b = TraceBuilder()
    req = publish(branch="z9hG4bKx", body=BODY_OPEN)
    b.send(0.0, "pua", "server", req)
    b.drop(0.0, "pua", "server", req, "loss")
    b.send(0.5, "pua", "server", req, retx=True)
    b.duplicate(0.5, "pua", "server", req)
    b.deliver(0.501, "pua", "server", req)
    b.deliver(0.502, "pua", "server", req)
    resp = reply(req, 200, etag="e1", expires=60)
    b.hop(0.501, "server", "pua", resp)
    m = load(b.trace).messages
    assert list(m["retransmission"]) == [False, True, False]
    assert list(m["dropped"]) == [True, False, False]
    assert m.iloc[0]["drop_reason"] == "loss" and math.isnan(m.iloc[0]["delivered"])
    assert m.iloc[1]["duplicates"] == 1 and m.iloc[1]["delivered"] == pytest.approx(0.501)


def test_transactions_final_reply_latency_and_retransmissions():
    b = TraceBuilder()
    req = publish(branch="z9hG4bKx", body=BODY_OPEN)
    b.send(0.0, "pua", "server", req)
    b.drop(0.0, "pua", "server", req, "loss")
    b.send(0.5, "pua", "server", req, retx=True)
    b.deliver(0.52, "pua", "server", req)
    b.hop(0.52, "server", "pua", reply(req, 200, etag="e1", expires=60), latency=0.02)
    tx = load(b.trace).transactions
    assert len(tx) == 1
    t = tx.iloc[0]
    assert t["status"] == 200 and t["outcome"] == "success"
    assert t["retransmissions"] == 1 and t["requests_dropped"] == 1
    assert (
        t["start"] == 0.0
        and t["end"] == pytest.approx(0.54)
        and t["latency"] == pytest.approx(0.54)
    )
    assert (
        t["granted"] == 60
        and t["etag"] == "e1"
        and t["presentity"] == ALICE
        and t["expires"] == 3601
    )


def test_local_timeout_from_transaction_finished():
    b = TraceBuilder()
    req = publish(branch="z9hG4bKt", if_match="e1", body=BODY_CLOSED)
    for i, t in enumerate((0.0, 0.5, 1.5, 3.5)):
        b.send(t, "pua", "server", req, retx=bool(i))
        b.drop(t + 0.001, "pua", "server", req, "crashed")
    b.finished(32.0, req, 408, started=0.0, faked=True, retransmissions=3)
    t = load(b.trace).transactions.iloc[0]
    assert t["outcome"] == "timeout" and t["faked"] and t["status"] == 408
    assert t["end"] == 32.0 and t["retransmissions"] == 3 and t["requests_dropped"] == 4
    assert t["op"] == "modify"


def test_unanswered_transaction():
    b = TraceBuilder()
    b.send(1.0, "pua", "server", publish(branch="z9hG4bKu", body=BODY_OPEN))
    t = load(b.trace).transactions.iloc[0]
    assert t["outcome"] == "unanswered" and t["status"] is pd.NA and math.isnan(t["latency"])


def test_record_events_and_lives():
    b = simple()
    b.record(4000.0, "deleted", "e2", 7115, reason="expired")
    data = load(b.trace)
    ev = data.record_events
    assert list(ev["action"]) == ["created", "refreshed", "deleted"]
    assert ev.iloc[0]["expires"] == 3600.0 and ev.iloc[0]["event"] == "presence"
    assert math.isnan(ev.iloc[0]["desired_expires"])
    assert ev.iloc[0]["key"] == f"{ALICE}|presence||128"
    lives = data.records
    assert len(lives) == 1
    life = lives.iloc[0]
    assert (
        life["start"] == pytest.approx(0.002)
        and life["end"] == 4000.0
        and life["end_action"] == "deleted"
    )
    assert life["refreshes"] == 1 and life["etags"] == 2 and life["end_reason"] == "expired"


def test_pua_crash_ends_record_lives_as_lost():
    b = simple()
    b.crash(4000.0, "pua", restart=True)
    b.record(4000.0, "restored", "e2", 7115)
    lives = load(b.trace).records
    assert list(lives["end_action"]) == ["lost", "open"]
    assert list(lives["start_action"]) == ["created", "restored"]


def test_server_events_follow_the_etag_chain_through_if_match():
    data = load(simple().trace)
    sev = data.server_events
    assert list(sev["action"]) == ["created", "refreshed"]
    assert (
        sev.iloc[1]["prev_etag"] == "e1" and sev.iloc[1]["body_id"] == sev.iloc[0]["body_id"] != ""
    )
    st = data.server_state
    assert len(st) == 1
    pub = st.iloc[0]
    assert pub["first_etag"] == "e1" and pub["last_etag"] == "e2" and pub["refreshes"] == 1
    assert pub["end_action"] == "open" and math.isnan(pub["end"])
    assert pub["last_expires"] == pytest.approx(3515.001 + 3600)


def test_server_crash_ends_publications():
    b = simple()
    b.crash(4000.0, "server", restart=True)
    data = load(b.trace)
    assert data.server_state.iloc[0]["end_action"] == "crashed"
    assert data.server_events.iloc[-1]["action"] == "crashed"
    assert list(data.incidents["type"]) == ["NodeCrashed", "NodeRestarted"]


def test_load_from_trace_file_equals_load_from_trace(tmp_path):
    b = simple()
    path = tmp_path / "t.jsonl"
    write_jsonl(b.trace, path)
    a, c = load(b.trace), load(path)
    for name in COLUMNS:
        pd.testing.assert_frame_equal(getattr(a, name), getattr(c, name), check_dtype=False)
    assert c.meta["source"] == str(path)


def test_pcap_loads_through_the_capture_reader_and_unknown_types_fail(tmp_path):
    from puasim.capture import export_pcap

    b = simple()
    pcap = tmp_path / "x.pcap"
    export_pcap(b.trace, pcap)
    from_pcap = load(pcap)
    from puasim.trace.events import MessageSent

    assert len(from_pcap.messages) == len(b.trace.of(MessageSent)) > 0
    assert set(from_pcap.messages["node"]) <= {"pua", "server"}
    with pytest.raises(ValueError, match="unknown trace file type"):
        load(tmp_path / "x.txt")
    with pytest.raises(ValueError, match="folder"):
        load(tmp_path)
    assert ".pcap" in READERS
    # a reader can be passed explicitly (what issue 7 will plug in)
    trace = simple().trace
    assert open_trace(pcap, reader=lambda p: trace) is trace


def test_trace_files_finds_the_traces_subfolder(tmp_path):
    (tmp_path / "traces").mkdir()
    for n in ("b", "a"):
        write_jsonl(simple().trace, tmp_path / "traces" / f"{n}.jsonl")
    assert [p.name for p in trace_files(tmp_path)] == ["a.jsonl", "b.jsonl"]
    assert trace_files(tmp_path / "traces" / "a.jsonl") == [tmp_path / "traces" / "a.jsonl"]


def test_end_time_override_and_write_tables(tmp_path):
    data = from_trace(simple().trace, end_time=5000.0)
    assert data.end_time == 5000.0
    assert data.coverage["end"].max() == 5000.0
    written = data.write_tables(tmp_path, parquet=False)
    assert {p.name for p in written} == {f"{n}.csv" for n in COLUMNS}
    back = pd.read_csv(tmp_path / "messages.csv")
    assert list(back.columns) == list(COLUMNS["messages"])


def test_a_message_only_trace_as_a_capture_gives_it():
    """What issue 7's pcap reader will produce: MessageSent records only, no deliveries, no state."""
    full = simple().trace
    capture = Trace({"epoch": full.meta["epoch"]})
    for rec in full:
        if type(rec.event).__name__ == "MessageSent":
            capture.add(rec.time, rec.node, rec.event)
    data = load(capture)
    assert len(data.messages) == 4 and data.messages["delivered"].isna().all()
    tx = data.transactions
    assert list(tx["status"]) == [200, 200] and list(tx["outcome"]) == ["success", "success"]
    assert tx["latency"].tolist() == [0.001, 0.001]  # request sent -> final reply sent
    assert data.records.empty and data.server_state.empty
    assert set(data.coverage["state"]) == {"idle"}
