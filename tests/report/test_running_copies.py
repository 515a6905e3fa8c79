"""RunningMetrics matches network events to copies by message value, as the frames do.

Its table of copies in flight is keyed by a message's first header value
(cheap to hash) instead of the whole message; these hand-made traces put
equal but distinct message objects (a trace read back from a file holds
only such), different messages sharing that header (a 100 and a 200 of one
request), duplicates and drops on the same key, and compare every summary
metric with the frames'.
"""

from __future__ import annotations

import dataclasses

from puasim.report.frames import from_trace
from puasim.report.metrics import summary
from puasim.report.running import RunningMetrics
from tests.report.builders import EPOCH, TraceBuilder, publish, reply
from tests.trace.test_levels import assert_same_summary


def running(b: TraceBuilder) -> RunningMetrics:
    m = RunningMetrics(EPOCH)
    m.observe_batch(b.trace.records)
    return m


def check(b: TraceBuilder) -> dict:
    want = summary(from_trace(b.trace))
    assert_same_summary(running(b).summary(), want)
    return want


def test_equal_but_distinct_messages_share_one_queue_in_order():
    b = TraceBuilder()
    req = publish(branch="z9hG4bK-1")
    again = dataclasses.replace(req)  # equal, not the same object
    assert again == req and again is not req
    b.send(0.0, "pua", "server", req)
    b.send(0.5, "pua", "server", again)
    b.deliver(0.6, "pua", "server", again)  # the oldest copy (sent at 0.0) gets it
    b.drop(0.7, "pua", "server", req, "crashed")  # the later copy: dropped
    ok = reply(req, 200, etag="e1", expires=60)
    b.send(0.7, "server", "pua", ok)
    b.deliver(0.9, "server", "pua", dataclasses.replace(ok))
    want = check(b)
    assert want["dropped"] == 1 and want["latency_p50_ms"] == 900.0


def test_a_provisional_and_a_final_reply_sharing_their_via_keep_apart():
    b = TraceBuilder()
    req = publish(branch="z9hG4bK-2")
    b.hop(0.0, "pua", "server", req)
    trying, ok = reply(req, 100, "Trying"), reply(req, 200, etag="e2", expires=60)
    assert trying.headers[0] == ok.headers[0]
    b.send(0.1, "server", "pua", trying)
    b.send(0.2, "server", "pua", ok)
    b.duplicate(0.2, "server", "pua", ok)
    b.drop(0.2, "server", "pua", ok, "loss")  # at send time: the copy just sent
    b.deliver(0.3, "server", "pua", ok)  # the duplicate arrives
    b.deliver(0.4, "server", "pua", trying)
    b.send(1.0, "pua", "server", req, retx=True)
    b.drop(1.0, "pua", "server", req, "loss")
    want = check(b)
    assert want["retransmissions"] == 1 and want["dropped"] == 1 and want["latency_p50_ms"] == 300.0


def test_messages_without_headers_are_matched_by_value():
    b = TraceBuilder()
    bare = dataclasses.replace(publish(branch="x"), headers=())
    b.send(0.0, "pua", "server", bare)
    b.send(0.1, "pua", "server", dataclasses.replace(bare, uri="sip:bob@127.0.0.1"))
    b.drop(0.2, "pua", "server", dataclasses.replace(bare), "crashed")
    b.deliver(0.3, "pua", "server", dataclasses.replace(bare, uri="sip:bob@127.0.0.1"))
    want = check(b)
    assert want["dropped"] == 1 and want["messages"] == 2
