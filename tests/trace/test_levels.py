"""Trace levels: where records go (full, stream, metrics) and that the digest never moves."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest

from puasim.effects import MILLISECOND, SECOND
from puasim.scenario.loader import ScenarioError
from puasim.scenario.runner import (
    TRACE_KINDS,
    ScenarioRun,
    load_scenario,
    run_scenario,
    scenario_from_text,
)
from puasim.scenario.stats import METHOD_COUNTS, SUMMARY
from puasim.sim import LinkProfile, Simulation, SimulationError
from puasim.trace.codec import iter_jsonl, read_jsonl, write_jsonl
from puasim.trace.events import MessageSent, Note, RunError
from puasim.trace.levels import (
    MetricsTrace,
    RecordFile,
    StreamTrace,
    TraceFile,
    TraceLevelError,
    make_trace,
)
from tests.scenario.pin_digests import PINS, ROOT, scenario_files
from tests.sim.probe import A, B, Probe, send_at
from tests.sim.test_node import Faulty

PINNED: dict[str, str] = json.loads(PINS.read_text())
FILES = {p.relative_to(ROOT).as_posix(): p for p in scenario_files()}


@pytest.mark.parametrize("name", sorted(FILES))
def test_stream_digest_equals_the_full_digest_on_every_scenario_file(name, tmp_path):
    path = tmp_path / "trace.jsonl"
    full = run_scenario(str(FILES[name]))
    streamed = run_scenario(str(FILES[name]), trace_level="stream", trace_path=path)
    assert isinstance(streamed.trace, StreamTrace)
    assert streamed.trace.digest() == full.trace.digest() == PINNED[name]
    assert streamed.passed == full.passed and streamed.messages == full.messages
    # the file holds the same records: read back, its digest is the run's
    back = read_jsonl(path)
    assert back.digest() == PINNED[name]
    assert back.meta["scenario"] == full.trace.meta["scenario"]
    assert len(streamed.trace) == len(full.trace) == len(back)


@pytest.mark.parametrize("name", sorted(FILES))
def test_metrics_level_gives_the_summary_of_a_full_trace_on_every_scenario_file(name):
    from puasim.report.frames import from_trace
    from puasim.report.metrics import summary

    full = run_scenario(str(FILES[name]))
    scn = load_scenario(FILES[name])
    if any(step.action == "save" for step in scn.steps):  # save steps read the trace as the run goes
        with pytest.raises(ScenarioError, match="a save step reads the messages sent so far"):
            ScenarioRun(scn, trace_level="metrics")
        return
    # the metrics level refuses expectations that read records; judge the rest
    judged = {*SUMMARY, *METHOD_COUNTS}
    kept = [e for e in scn.expectations if e[0] not in TRACE_KINDS and not (e[0] == "stat" and e[1]["metric"] not in judged)]
    stripped = len(kept) < len(scn.expectations)
    scn = dataclasses.replace(scn, expectations=kept)
    result = ScenarioRun(scn, trace_level="metrics").run()
    if not stripped:  # every expectation judged at both levels: same verdict
        assert [f.message for f in result.failures] == [f.message for f in full.failures]
    trace = result.trace
    assert isinstance(trace, MetricsTrace)
    assert trace.digest() == PINNED[name]
    assert len(trace) == len(full.trace)
    data = from_trace(full.trace)
    assert_same_summary(trace.observer.summary(), summary(data))
    assert result.messages == full.messages
    # the request counts of stat expectations (publish_requests, ...), filtered as stats.py filters
    tx = data.transactions
    for method in METHOD_COUNTS.values():
        for node in (None, "pua", "server"):
            for status in (None, 200, 412, 408):
                want = tx[tx["method"] == method]
                want = want if node is None else want[want["node"] == node]
                want = want if status is None else want[want["status"] == status]
                assert trace.observer.transaction_count(method, node, status) == len(want), (method, node, status)


def assert_same_summary(got: dict, want: dict) -> None:
    """Every key of ``metrics.summary``, equal to the last bit (NaN equal to NaN)."""
    from puasim.report.running import RUNNING_KEYS

    assert list(got) == list(want) == list(RUNNING_KEYS)
    for key in want:
        a, b = got[key], want[key]
        assert type(a) is type(b) or {type(a), type(b)} <= {int, float}, (key, a, b)
        assert a == b or (math.isnan(a) and math.isnan(b)), (key, a, b)


def test_metrics_level_on_a_longer_run_with_a_server_restart_and_modifies():
    """Many presentities, refreshes, a server restart (412 rounds, gaps), modifies (stale gaps)."""
    import sys

    from puasim.report.frames import from_trace
    from puasim.report.metrics import summary

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_trace_levels import BODY, scenario_text

    text = scenario_text(40, 0.5, 600)
    steps, expect = text.split("expect:")
    modify = BODY.format(uri="sip:user3@127.0.0.1").replace("open", "closed")
    steps += "  - {at: 700, do: server.restart}\n"
    steps += f"  - {{at: 900, do: publish, with: {{pres_uri: sip:user3@127.0.0.1, expires: -1, source: UL_PUBLISH, body: {json.dumps(modify)}}}}}\n"
    steps += "  - {at: 1000, do: pua.crash}\n  - {at: 1010, do: pua.start}\n"
    scn = scenario_from_text(steps + "expect:" + expect, TINY)
    full = run_scenario(scn)
    metrics = run_scenario(scn, trace_level="metrics")
    want = summary(from_trace(full.trace))
    assert want["gaps"] > 0 and want["rounds_412"] > 0 and want["orphan_s"] > 0 and want["refreshes"] > 40
    assert_same_summary(metrics.trace.observer.summary(), want)
    assert metrics.trace.digest() == full.trace.digest()


def _faulty_sim(**kw) -> Simulation:
    sim = Simulation(link=LinkProfile(latency=MILLISECOND), **kw)
    a = sim.add_node("a", A, Probe)
    sim.add_node("b", B, Faulty)
    send_at(sim, 1 * SECOND, a, "ok", B)
    send_at(sim, 2 * SECOND, a, "boom", B)
    send_at(sim, 3 * SECOND, a, "never", B)
    return sim


def test_a_model_fault_leaves_the_streamed_file_complete_up_to_the_fault(tmp_path):
    full = _faulty_sim()
    with pytest.raises(SimulationError):
        full.run()
    path = tmp_path / "t.jsonl"
    sim = _faulty_sim(trace_level="stream", trace_path=path)
    with pytest.raises(SimulationError, match="no such record"):
        sim.run()
    # read the file itself, not through the trace object (which would flush first)
    back = list(iter_jsonl(path))
    assert [type(r.event) for r in back] == [type(r.event) for r in full.trace]
    assert type(back[-2].event) is RunError and back[-1].event == Note("info", "about to fail")
    assert sim.trace.digest() == full.trace.digest()


def test_an_exception_outside_the_models_still_flushes_the_stream(tmp_path):
    path = tmp_path / "t.jsonl"
    sim = _faulty_sim(trace_level="stream", trace_path=path)

    def bug() -> None:
        raise RuntimeError("driver bug")

    sim.kernel.call_at(1 * SECOND + 2 * MILLISECOND, bug)
    with pytest.raises(RuntimeError, match="driver bug"):
        sim.run()
    back = list(iter_jsonl(path))
    assert [type(r.event) for r in back] == [MessageSent, type(back[1].event), Note]
    assert back[-1].event.text == "got ok"


def test_a_runner_bug_is_recorded_and_kept_in_the_streamed_file(tmp_path, monkeypatch):
    scn = scenario_from_text(SCENARIO, TINY)
    path = tmp_path / "t.jsonl"
    run = ScenarioRun(scn, trace_level="stream", trace_path=path)

    def broken(step):
        raise ZeroDivisionError("step handler")

    monkeypatch.setattr(run, "_do", broken)
    result = run.run()
    assert result.error == "ZeroDivisionError: step handler" and not result.passed
    back = read_jsonl(path)
    assert type(back.records[-1].event) is RunError
    assert back.digest() == result.trace.digest()


#: where the text scenario pretends to live (its body_file is relative to it)
TINY = str(ROOT / "scenarios" / "publish" / "tiny.yaml")

SCENARIO = """
name: tiny
refs: ["RFC 3903 §4.1"]
duration: 40
pua:
  params: {outbound_proxy: "sip:127.0.0.1:5060"}
steps:
  - {at: 1, do: publish, with: {pres_uri: "sip:alice@127.0.0.1", expires: 30, source: UL_PUBLISH, body_file: ../bodies/pidf-open.xml}}
expect:
  - record: {at: 2, match: {pres_uri: "sip:alice@127.0.0.1"}, count: 1}
  - sequence:
      - {from: pua, method: PUBLISH}
"""


def test_metrics_level_refuses_an_expectation_that_reads_the_trace_before_the_run():
    scn = scenario_from_text(SCENARIO, TINY)
    with pytest.raises(ScenarioError) as info:
        ScenarioRun(scn, trace_level="metrics")
    text = str(info.value)
    assert text.startswith(f"{TINY}:11:") and "'sequence'" in text and "'full' or 'stream'" in text


def test_metrics_level_judges_stat_expectations_on_summary_metrics_and_refuses_series():
    base = SCENARIO.split("  - sequence:")[0]
    scn = scenario_from_text(base + "  - stat: {metric: requests, min: 1, max: 1}\n", TINY)
    assert run_scenario(scn, trace_level="metrics").passed
    scn = scenario_from_text(base + "  - stat: {metric: requests, equals: 5}\n", TINY)
    failed = run_scenario(scn, trace_level="metrics")
    assert [f.message for f in failed.failures] == [f.message for f in run_scenario(scn).failures]
    assert "requests = 1, expected 5" in failed.failures[0].message
    scn = scenario_from_text(base + "  - stat: {metric: latency_ms, percentile: 99, max: 50}\n", TINY)
    with pytest.raises(ScenarioError, match=r"tiny.yaml:\d+: expect\[1\]\.stat\.metric: stat metric 'latency_ms'"):
        ScenarioRun(scn, trace_level="metrics")
    from puasim.scenario.stats import SERIES

    for metric in SERIES:  # every series, refused naming the metric and the level (docs/scenarios.md)
        scn = scenario_from_text(base + f"  - stat: {{metric: {metric}, agg: count, min: 0}}\n", TINY)
        with pytest.raises(ScenarioError, match=rf"stat metric '{metric}' .* at 'metrics' only the summary"):
            ScenarioRun(scn, trace_level="metrics")
        assert run_scenario(scn).passed


def test_metrics_level_judges_probe_expectations():
    scn = scenario_from_text(SCENARIO.split("  - sequence:")[0], TINY)
    result = run_scenario(scn, trace_level="metrics")
    assert result.passed, result.failures
    assert result.messages == run_scenario(scn).messages > 0


def test_the_metrics_trace_keeps_no_records_and_says_so():
    trace = MetricsTrace({"seed": 1})
    rec = trace.add(5, "pua", Note("info", "x"))
    assert rec.seq == 0 and len(trace) == 1 and trace.last_time() == 5
    with pytest.raises(TraceLevelError, match="'full' or 'stream'"):
        list(trace)
    with pytest.raises(TraceLevelError):
        trace.of(Note)


class _Seen:
    """An observer that remembers what it was fed (a test double)."""

    def __init__(self) -> None:
        self.seqs: list[int] = []

    def observe(self, rec) -> None:  # type: ignore[no-untyped-def]
        self.seqs.append(rec.seq)


class _SeenInBatches(_Seen):
    """The same, fed a batch per call when the trace knows how."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def observe_batch(self, records) -> None:  # type: ignore[no-untyped-def]
        self.calls += 1
        self.seqs.extend(rec.seq for rec in records)


@pytest.mark.parametrize("kind", [_Seen, _SeenInBatches])
@pytest.mark.parametrize("batch", [1, 3, 512])
def test_the_metrics_trace_feeds_every_record_in_batches_and_hashes_them_whatever_the_batch(batch, kind):
    seen = kind()
    trace = MetricsTrace({"seed": 1}, seen, batch=batch)
    full = make_trace("full")
    for i in range(10):
        trace.add(i, "pua", Note("info", f"n{i}"))
        full.add(i, "pua", Note("info", f"n{i}"))
        assert len(seen.seqs) == (i + 1) // batch * batch  # whole batches only, in order
    assert seen.seqs == list(range(len(seen.seqs)))
    if kind is _SeenInBatches:
        assert seen.calls == 10 // batch
    assert trace.observer is seen and seen.seqs == list(range(10))  # reading it feeds the rest
    assert trace.digest() == full.digest() and len(trace) == 10 and trace.last_time() == 9
    trace.add(10, "pua", Note("info", "late"))  # the digest goes on after it was read
    full.add(10, "pua", Note("info", "late"))
    assert trace.digest() == full.digest() and seen.seqs == list(range(11))


class _Failing(_SeenInBatches):
    """An observer with a bug: it raises on one record."""

    def __init__(self, bad: int) -> None:
        super().__init__()
        self.bad = bad

    def observe_batch(self, records) -> None:  # type: ignore[no-untyped-def]
        if any(rec.seq == self.bad for rec in records):
            raise RuntimeError("observer bug")
        super().observe_batch(records)


def test_an_observer_that_raises_does_not_take_its_batch_out_of_the_digest():
    """The batch is hashed before the observer sees it: an observer bug surfaces, but the
    digest still covers every record, as a full trace's does."""
    trace = MetricsTrace({"seed": 1}, _Failing(5), batch=8)
    full = make_trace("full", {"seed": 1})
    raised = []
    for i in range(20):
        full.add(i, "pua", Note("info", f"n{i}"))
        try:
            trace.add(i, "pua", Note("info", f"n{i}"))
        except RuntimeError:
            raised.append(i)
    assert raised == [7]  # the add that completed the batch holding record 5
    assert trace.digest() == full.digest() and len(trace) == 20


@pytest.mark.parametrize("batch", [1, 4, 512])
def test_a_streamed_trace_writes_the_same_file_whatever_the_batch(tmp_path, batch):
    path = tmp_path / f"b{batch}.jsonl"
    trace = StreamTrace(path, {"seed": 2}, batch=batch)
    full = make_trace("full", {"seed": 2})
    for i in range(9):
        trace.add(i, "pua", Note("info", f"n{i}"))
        full.add(i, "pua", Note("info", f"n{i}"))
    assert trace.digest() == full.digest()  # pending records count before they are written
    assert [r.seq for r in trace.records] == list(range(9))  # reading writes them first
    trace.close()
    want = tmp_path / "full.jsonl"
    write_jsonl(full, want)
    assert path.read_bytes() == want.read_bytes()


def test_levels_are_checked():
    with pytest.raises(ValueError, match="needs a file path"):
        make_trace("stream")
    with pytest.raises(ValueError, match="unknown trace level 'fast'"):
        Simulation(trace_level="fast")
    with pytest.raises(ValueError, match="unknown trace level"):
        ScenarioRun(scenario_from_text(SCENARIO, TINY), trace_level="everything")


def test_a_streamed_trace_reads_back_as_a_lazy_sequence(tmp_path):
    path = tmp_path / "t.jsonl"
    trace = StreamTrace(path, {"seed": 3})
    for i in range(25):
        trace.add(i * 10, "pua", Note("info", f"n{i}"))
    assert len(trace) == 25 and trace.last_time() == 240
    assert isinstance(trace.records, RecordFile)
    assert [r.event.text for r in trace.records[3:6]] == ["n3", "n4", "n5"]  # reading flushes first
    assert trace.records[-1].event.text == "n24" and trace[0].seq == 0
    assert [r.seq for r in trace.records[::10]] == [0, 10, 20]
    trace.add(250, "pua", Note("info", "late"))
    trace.close()
    chunked = list(iter_jsonl(path, chunk_lines=4))  # many chunks
    assert [r.event.text for r in chunked][-2:] == ["n24", "late"] and len(chunked) == 26
    opened = TraceFile(path)
    assert opened.meta == {"seed": 3} and len(opened) == 26 and opened.last_time() == 250
    assert opened.digest() == trace.digest()
    with pytest.raises(TraceLevelError):
        opened.add(0, "x", Note("info", "no"))


def test_progress_hook_runs_between_events_and_changes_nothing():
    name = "scenarios/publish/412_recovery_usrloc.yaml"
    scn = load_scenario(ROOT / name)
    seen: list[tuple[int, int]] = []
    result = ScenarioRun(scn).run(
        progress=lambda sim: seen.append((sim.now, sim.network.requests_sent)), progress_every=3
    )
    assert result.trace.digest() == PINNED[name]
    assert len(seen) > 3
    assert [t for t, _ in seen] == sorted(t for t, _ in seen) and seen[-1][0] == scn.duration
    sent = sum(1 for r in result.trace if type(r.event) is MessageSent and hasattr(r.event.message, "method"))
    assert seen[-1][1] == sent


def test_kernel_progress_slices_run_the_same_events():
    from puasim.sim.kernel import Kernel

    def build() -> tuple[Kernel, list]:
        k, out = Kernel(), []
        for i in range(20):
            k.call_at(i // 3, out.append, i)
        return k, out

    k1, out1 = build()
    k1.run(until=100)
    k2, out2 = build()
    calls = []
    assert k2.run_with_progress(lambda now, n: calls.append(n), 4, until=100) == 20
    assert out1 == out2 and k1.now == k2.now == 100
    assert calls == [4, 8, 12, 16, 20, 20]
    k3, _ = build()
    assert k3.run_with_progress(lambda now, n: None, 4, max_events=10) == 10 and k3.now == 3
    with pytest.raises(ValueError):
        k3.run_with_progress(lambda now, n: None, 0)


def test_stream_meta_set_after_construction_is_in_the_header(tmp_path):
    path = Path(tmp_path) / "t.jsonl"
    trace = StreamTrace(path, {"seed": 1})
    trace.meta["scenario"] = "late"
    trace.add(0, "a", Note("info", "x"))
    trace.close()
    assert read_jsonl(path).meta == {"seed": 1, "scenario": "late"}


def test_iter_of_on_a_file_gives_the_records_of_those_types_with_their_sequence_numbers(tmp_path):
    from puasim.trace.events import MessageDelivered, RecordChanged, TransactionFinished

    name = "scenarios/publish/412_timer_refresh_drops.yaml"
    path = tmp_path / "t.jsonl"
    full = run_scenario(str(ROOT / name))
    run_scenario(str(ROOT / name), trace_level="stream", trace_path=path)
    opened = TraceFile(path)
    for types in [(RecordChanged,), (MessageSent, MessageDelivered), (TransactionFinished, Note)]:
        assert list(opened.iter_of(*types)) == list(full.trace.iter_of(*types))
    assert opened.last_time() == full.trace.last_time()
    # within one pass, a message traced when sent and when delivered is parsed once and shared
    one_pass = list(opened.iter_of(MessageSent, MessageDelivered))
    sent = {r.event.message: r.event.message for r in one_pass if type(r.event) is MessageSent}
    delivered = next(r for r in one_pass if type(r.event) is MessageDelivered).event.message
    assert sent[delivered] is delivered


class _Unencodable:
    """A value whose canonical encoding fails (its repr raises)."""

    def __repr__(self) -> str:
        raise RuntimeError("no text for this value")


def test_a_record_that_cannot_be_encoded_leaves_the_records_before_it_in_the_stream(tmp_path):
    from puasim.trace.codec import TraceFormatError, iter_jsonl
    from puasim.trace.events import Note
    from puasim.trace.levels import StreamTrace

    path = tmp_path / "t.jsonl"
    trace = StreamTrace(path, batch=512)
    for i in range(100):
        trace.add(i, "pua", Note("info", f"n{i}"))
    trace.add(100, "pua", Note("info", _Unencodable()))  # type: ignore[arg-type]
    trace.add(101, "pua", Note("info", "after"))
    with pytest.raises(TraceFormatError, match=r"record 100 \(Note of pua at 100 us\).*1 later record"):
        trace.close()
    assert trace._fh.closed
    assert [r.event.text for r in iter_jsonl(path)] == [f"n{i}" for i in range(100)]


def test_the_metrics_digest_keeps_the_records_before_one_that_cannot_be_encoded():
    from puasim.trace.codec import TraceFormatError
    from puasim.trace.events import Note
    from puasim.trace.levels import MetricsTrace
    from puasim.trace.trace import Trace

    good = Trace()
    trace = MetricsTrace(batch=512)
    for i in range(10):
        good.add(i, "pua", Note("info", f"n{i}"))
        trace.add(i, "pua", Note("info", f"n{i}"))
    trace.add(10, "pua", Note("info", _Unencodable()))  # type: ignore[arg-type]
    with pytest.raises(TraceFormatError, match="record 10"):
        trace.flush()
    assert trace.digest() == good.digest()


@pytest.mark.parametrize("level", ["full", "stream", "metrics"])
def test_parsed_header_values_are_dropped_only_when_the_trace_keeps_the_messages(level, tmp_path, monkeypatch):
    """A full trace keeps every message: the network (at delivery) and a finished client
    transaction (its request) drop their parsed values.  The other levels keep no message
    past its batch, whose observer reads those values after delivery: nothing is dropped."""
    from puasim.sip.message import Request, _HeaderAccess

    dropped: list[str] = []
    real = _HeaderAccess.drop_caches
    monkeypatch.setattr(
        _HeaderAccess, "drop_caches",
        lambda self: dropped.append("request" if isinstance(self, Request) else "response") or real(self),
    )
    scn = scenario_from_text(SCENARIO.split("  - sequence:")[0], TINY)
    result = run_scenario(scn, trace_level=level, trace_path=tmp_path / "t.jsonl" if level == "stream" else None)
    assert result.passed and result.messages == 2
    if level == "full":  # the PUBLISH twice (delivered, transaction over), its 200 OK once
        assert sorted(dropped) == ["request", "request", "response"]
    else:
        assert dropped == []
    assert result.trace.digest() == run_scenario(scn).trace.digest()


def test_running_metrics_fed_in_batches_or_one_record_at_a_time_agree():
    from puasim.report.running import RunningMetrics

    text = SCENARIO.split("  - sequence:")[0]
    full = run_scenario(scenario_from_text(text, TINY)).trace
    one, batched, split = (RunningMetrics(full.meta["epoch"], series=True) for _ in range(3))
    for rec in full.records:
        one.observe(rec)
    batched.observe_batch(full.records)
    records = list(full.records)
    for i in range(0, len(records), 3):
        split.observe_batch(records[i:i + 3])
    for m in (batched, split):
        assert_same_summary(m.summary(), one.summary())
        assert m.last == one.last == records[-1].time
        assert [vars_of(r) for r in m.transaction_rows()] == [vars_of(r) for r in one.transaction_rows()]


def vars_of(row) -> tuple:  # type: ignore[no-untyped-def]
    return tuple(getattr(row, name) for name in type(row).__slots__)
