"""JSON-lines export/import of traces, format errors and digests."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from puasim.sip import Request, Response, with_content_length
from puasim.trace import EVENT_TYPES, Trace, TraceFormatError, digest, read_jsonl, write_jsonl
from puasim.trace.events import (
    ApiCalled,
    CallbackFired,
    ContactChanged,
    FaultInjected,
    MessageDelivered,
    MessageDropped,
    MessageDuplicated,
    MessageRejected,
    MessageSent,
    NodeCrashed,
    NodeRestarted,
    NodeStartFailed,
    Note,
    RecordChanged,
    RunError,
    ServerStateChanged,
    StoreWrite,
    TimerFired,
    TransactionFinished,
)
from puasim.txn import KAMAILIO_TM
from tests.txn.support import lossy_simulation, make_request, reply

ROOT = Path(__file__).resolve().parents[2]
A, B = ("10.0.0.1", 5060), ("10.0.0.2", 5060)


def one_of_each() -> Trace:
    req = make_request(3, via="SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKabc").add_header("Expires", "3600")
    req = with_content_length(Request(req.method, req.uri, req.headers, b"<presence/>\xc3\xa9"))
    resp = reply(req, 200).add_header("SIP-ETag", "a.1.2")
    events = [
        MessageSent(A, B, req, True),
        MessageDelivered(A, B, req),
        MessageDropped(B, A, resp, "loss"),
        MessageDuplicated(B, A, resp),
        TimerFired("txn:c:z9hG4bKabc:PUBLISH:E"),
        ApiCalled("send_publish", (("pres_uri", "sip:alice@example.org"), ("expires", 3600)), 0),
        CallbackFired(1, "PUBLISH", 200, False, "sip:alice@example.org", None),
        TransactionFinished("PUBLISH", "call-3", "z9hG4bKabc", 408, True, 9, 1_000),
        RecordChanged("created", "publication", "sip:alice@example.org", "id1", 1, 1, "a.1.2",
                      1_700_003_600, 1_700_003_600, 1, reason="new"),
        StoreWrite("insert", "pua", 1, "db_mode 2"),
        ContactChanged("insert", "location", "alice", "sip:alice@10.0.0.1:5060", "c-1", 1, 1_700_000_060, 8),
        ServerStateChanged("created", "sip:alice@example.org", "presence", "a.1.2", 3_600_000_000),
        FaultInjected("partition", "a|b for 5 s"),
        NodeCrashed("power"),
        NodeRestarted("from store"),
        NodeStartFailed("mod_init: while connecting database"),
        MessageRejected(B, req.with_header("Via", "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKabc;rport=abc"),
                        "PUBLISH: bad Expires (Expires header, offset 0)", 400),
        RunError("pua: receive", "KeyError: 'x'"),
        Note("warn", "ünïcode ✓"),
    ]
    assert {type(e).__name__ for e in events} == set(EVENT_TYPES)
    trace = Trace({"seed": 5, "scenario": "all events"})
    for i, ev in enumerate(events):
        trace.add(i * 1_000, "pua" if i % 2 else "server", ev)
    return trace


def roundtrip(trace: Trace) -> Trace:
    buf = io.StringIO()
    write_jsonl(trace, buf)
    buf.seek(0)
    return read_jsonl(buf)


def test_every_event_type_round_trips_equal():
    trace = one_of_each()
    back = roundtrip(trace)
    assert back.records == trace.records  # records, events and SIP messages compare equal
    assert back.meta == trace.meta
    assert back.digest() == trace.digest()
    msg = back[0].event.message
    assert isinstance(msg, Request) and msg.body == b"<presence/>\xc3\xa9"
    assert isinstance(back[2].event.message, Response)
    assert back[0].event.src == A  # addresses come back as tuples


def test_a_simulated_run_round_trips_through_a_file(tmp_path):
    sim = lossy_simulation(4, count=10, timers=KAMAILIO_TM)
    path = tmp_path / "run.jsonl"
    write_jsonl(sim.trace, path)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[0]) == {"puasim-trace": 1, "meta": {"seed": 4, "epoch": sim.epoch}}
    assert len(lines) == len(sim.trace) + 1
    back = read_jsonl(path)
    assert back.digest() == sim.trace.digest()
    assert back.records == sim.trace.records
    assert back.meta == sim.trace.meta
    # writing the copy gives the same bytes
    again = tmp_path / "again.jsonl"
    write_jsonl(back, again)
    assert again.read_bytes() == path.read_bytes()


def test_digest_ignores_meta_but_sees_every_field():
    trace = one_of_each()
    other = Trace({"seed": "different"})
    for rec in trace:
        other.add(rec.time, rec.node, rec.event)
    assert other.digest() == trace.digest() == digest(trace.records)
    shifted = Trace()
    for rec in trace:
        shifted.add(rec.time + (rec.seq == 7), rec.node, rec.event)
    assert shifted.digest() != trace.digest()


def test_blank_lines_are_skipped_and_seq_is_renumbered():
    trace = one_of_each()
    buf = io.StringIO()
    write_jsonl(trace, buf)
    text = buf.getvalue().replace("\n", "\n\n", 3)
    back = read_jsonl(io.StringIO(text))
    assert [r.seq for r in back] == list(range(len(trace)))
    assert back.digest() == trace.digest()


GOOD = '{"seq":0,"time":0,"node":"a","type":"Note","level":"info","text":"x"}'


@pytest.mark.parametrize(
    ("bad", "what"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "expected an object"),
        ('{"seq":1,"time":0,"node":"a","type":"Nope"}', "unknown record type"),
        ('{"seq":1,"time":0,"node":"a","type":"Note","level":"info"}', "Note"),
        ('{"time":0,"node":"a","type":"Note","level":"info","text":"x"}', "bad record"),
        ('{"seq":"x","time":0,"node":"a","type":"Note","level":"info","text":"x"}', "bad record"),
        ('{"seq":null,"time":0,"node":"a","type":"Note","level":"info","text":"x"}', "bad record"),
        ('{"seq":1,"time":0,"node":"a","type":["Note"]}', "line 3"),
        ('{"seq":1,"time":0,"node":"a","type":"MessageSent","src":["a",1],"dst":["b",2],'
         '"message":{"sip":"NOT SIP"}}', "bad record"),
        ('{"seq":1,"time":0,"node":"a","type":"MessageSent","src":["a",1],"dst":["b",2],'
         '"message":{"sip":5}}', "bad record"),
        ('{"puasim-trace": 2}', "unsupported trace format"),
        ('{"puasim-trace": 1, "meta": [1]}', "meta"),
    ],
)
def test_a_bad_line_names_its_number(bad, what):
    text = "\n".join(['{"puasim-trace": 1, "meta": {}}', GOOD, bad, GOOD]) + "\n"
    with pytest.raises(TraceFormatError, match="line 3") as info:
        read_jsonl(io.StringIO(text))
    assert what in str(info.value)


def test_a_bad_file_names_the_file_too(tmp_path):
    path = tmp_path / "broken.jsonl"
    path.write_text(GOOD + "\n" + GOOD[:-5] + "\n", encoding="utf-8")
    with pytest.raises(TraceFormatError, match=r"broken\.jsonl: line 2"):
        read_jsonl(path)


DIGEST_CODE = """
import sys
sys.path.insert(0, {root!r})
from puasim.txn import KAMAILIO_TM
from tests.txn.support import lossy_simulation
for seed in (1, 2):
    print(lossy_simulation(seed, count=15, jitter=20_000, timers=KAMAILIO_TM).trace.digest())
"""


def test_digest_is_stable_across_processes_and_hash_seeds():
    code = DIGEST_CODE.format(root=str(ROOT))
    results = []
    for hashseed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=hashseed)
        res = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True,
                             text=True, check=True)
        results.append(res.stdout.split())
    assert results[0] == results[1]
    local = [lossy_simulation(seed, count=15, jitter=20_000, timers=KAMAILIO_TM).trace.digest() for seed in (1, 2)]
    assert results[0] == local
    assert local[0] != local[1]  # different seeds with loss: different runs


def test_different_seeds_with_loss_give_different_digests():
    digests = {lossy_simulation(seed, count=10).trace.digest() for seed in range(6)}
    assert len(digests) == 6
    assert lossy_simulation(3, count=10).trace.digest() == lossy_simulation(3, count=10).trace.digest()


def reference_line(rec) -> str:
    """The canonical line as defined: the record's object through ``json.dumps``."""
    from puasim.trace.codec import record_to_dict

    return json.dumps(record_to_dict(rec), sort_keys=True, separators=(",", ":"), ensure_ascii=True)


@pytest.mark.parametrize(
    "value",
    [1.5, float("nan"), float("inf"), -0.0, {"b": 1, "a": (2, b"\xff")}, [1, "x"], b"\x00\xe9", True, None,
     "ünï\udcff\r\n\"\\", 10**30, (), ((1, 2.5), ("k", None)), ValueError("x")],
)
def test_canonical_line_is_json_dumps_for_any_field_value(value):
    import enum

    from puasim.trace.codec import canonical_line

    class Level(enum.IntEnum):
        HIGH = 3

    for v in (value, Level.HIGH):
        for rec in Trace().add(7, "n\u00e9", ApiCalled("x", (("v", v),), v)), Trace().add(1, "n", CallbackFired(
                1, "PUBLISH", 200, False, "sip:a@b", v)):
            assert canonical_line(rec) == reference_line(rec)


def test_canonical_line_is_json_dumps_for_every_record_of_one_of_each():
    from puasim.trace.codec import canonical_line

    for rec in one_of_each():
        assert canonical_line(rec) == reference_line(rec)
        assert canonical_line(rec) == reference_line(rec)  # second time from the message text cache


def test_canonical_line_of_an_event_whose_field_shadows_a_record_key():
    import dataclasses

    from puasim.trace.codec import canonical_line

    @dataclasses.dataclass(frozen=True, slots=True)
    class Shadow:
        node: str
        b: float

    rec = Trace().add(3, "pua", Shadow("other", 0.25))
    assert canonical_line(rec) == reference_line(rec) == '{"b":0.25,"node":"other","seq":0,"time":3,"type":"Shadow"}'


def test_canonical_line_tells_equal_tuples_of_different_types_apart():
    from puasim.trace.codec import canonical_line

    lines = [canonical_line(Trace().add(0, "n", ApiCalled("x", (), v))) for v in (("h", 1), ("h", True), ("h", 1.0))]
    assert [line.split('"rc":')[1].split(',"seq"')[0] for line in lines] == ['["h",1]', '["h",true]', '["h",1.0]']
