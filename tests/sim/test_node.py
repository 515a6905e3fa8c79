"""Nodes and the Simulation: timers, crash/restart and model errors."""

from __future__ import annotations

import pytest

from puasim.effects import MILLISECOND, SECOND, Outbox
from puasim.sim import LinkProfile, Simulation, SimulationError
from puasim.trace.events import (
    MessageDelivered,
    MessageSent,
    NodeCrashed,
    NodeRestarted,
    Note,
    RunError,
    TimerFired,
)
from tests.sim.probe import A, B, Probe, send_at, three_nodes


def test_timers_fire_at_their_time_and_are_traced():
    sim = Simulation()
    a, _, _ = three_nodes(sim)
    a.call("arm", a.endpoint.arm, ("refresh", 1), 3 * SECOND)
    a.call("arm", a.endpoint.arm, "later", 5 * SECOND)
    sim.run()
    assert a.endpoint.fired == [(("refresh", 1), 3 * SECOND), ("later", 5 * SECOND)]
    assert [(r.time, r.node, r.event.name) for r in sim.trace.of(TimerFired)] == [
        (3 * SECOND, "a", "refresh:1"),
        (5 * SECOND, "a", "later"),
    ]


def test_rearming_a_key_replaces_the_timer_and_cancel_disarms_it():
    sim = Simulation()
    a, _, _ = three_nodes(sim)
    a.call("arm", a.endpoint.arm, "t", 3 * SECOND)
    a.call("arm", a.endpoint.arm, "t", 4 * SECOND)
    a.call("arm", a.endpoint.arm, "u", 1 * SECOND)
    a.call("disarm", a.endpoint.disarm, "u")
    a.call("disarm", a.endpoint.disarm, "never-armed")
    sim.run()
    assert a.endpoint.fired == [("t", 4 * SECOND)]


def test_a_timer_in_the_past_fires_now():
    sim = Simulation()
    a, _, _ = three_nodes(sim)
    sim.run(until=10 * SECOND)
    a.call("arm", a.endpoint.arm, "late", 1 * SECOND)
    sim.run()
    assert a.endpoint.fired == [("late", 10 * SECOND)]


def test_crash_cancels_timers_and_loses_the_endpoint():
    sim = Simulation()
    a, _, _ = three_nodes(sim)
    a.call("arm", a.endpoint.arm, "t", 10 * SECOND)
    old = a.endpoint
    sim.kernel.call_at(5 * SECOND, a.crash, "power")
    sim.run(until=20 * SECOND)
    assert old.fired == []
    assert not a.up and a.endpoint is None
    assert not sim.trace.of(TimerFired)
    (rec,) = sim.trace.of(NodeCrashed)
    assert (rec.time, rec.node, rec.event.reason) == (5 * SECOND, "a", "power")
    assert len(sim.kernel) == 0


def test_restart_calls_the_factory_again():
    built: list[Probe] = []

    def factory(node):
        p = Probe(node)
        built.append(p)
        return p

    sim = Simulation(link=LinkProfile(latency=MILLISECOND))
    node = sim.add_node("n", A, factory)
    sim.add_node("b", B, Probe)
    node.call("arm", node.endpoint.arm, "t", 10 * SECOND)
    sim.kernel.call_at(2 * SECOND, node.crash)
    sim.kernel.call_at(3 * SECOND, node.restart, "from store")
    send_at(sim, 4 * SECOND, sim.nodes["b"], "hi", A)
    sim.run(until=20 * SECOND)
    assert len(built) == 2
    first, second = built
    assert node.endpoint is second and node.up
    assert first.started == [0] and second.started == [3 * SECOND]
    assert first.fired == [] and second.fired == []  # the old timer died with the crash
    assert [m for _, m, _ in second.got] == ["hi"]
    assert [(r.time, r.event.detail) for r in sim.trace.of(NodeRestarted)] == [(3 * SECOND, "from store")]


def test_restart_of_a_running_node_crashes_it_first():
    sim = Simulation()
    a, _, _ = three_nodes(sim)
    a.call("arm", a.endpoint.arm, "t", SECOND)
    first = a.endpoint
    a.restart()
    sim.run()
    assert a.endpoint is not first and first.fired == []
    kinds = [type(r.event) for r in sim.trace if isinstance(r.event, NodeCrashed | NodeRestarted)]
    assert kinds == [NodeCrashed, NodeRestarted]
    assert sim.trace.of(NodeCrashed)[0].event.reason == "restart"


def test_duplicate_names_and_addresses_are_refused():
    sim = Simulation()
    sim.add_node("a", A, Probe)
    with pytest.raises(ValueError, match="duplicate node name"):
        sim.add_node("a", B, Probe)
    with pytest.raises(ValueError, match="already used"):
        sim.add_node("z", A, Probe)


class Faulty(Probe):
    """Says something, then fails on the message "boom" after queueing one more effect."""

    def receive(self, message, src, now):
        if message == "boom":
            self.outbox.emit(Note("info", "about to fail"))
            raise KeyError("no such record")
        super().receive(message, src, now)
        self.outbox.emit(Note("info", f"got {message}"))


def test_a_model_exception_becomes_run_error_and_simulation_error_keeping_the_trace():
    sim = Simulation(link=LinkProfile(latency=MILLISECOND))
    a = sim.add_node("a", A, Probe)
    sim.add_node("b", B, Faulty)
    send_at(sim, 1 * SECOND, a, "ok", B)
    send_at(sim, 2 * SECOND, a, "boom", B)
    send_at(sim, 3 * SECOND, a, "never", B)
    with pytest.raises(SimulationError, match="no such record") as info:
        sim.run()
    assert isinstance(info.value.__cause__, KeyError)
    assert sim.now == 2 * SECOND + MILLISECOND
    types = [type(r.event) for r in sim.trace]
    assert types == [MessageSent, MessageDelivered, Note, MessageSent, MessageDelivered, RunError, Note]
    err = sim.trace.of(RunError)[0]
    assert err.node == "b" and err.event.where == "b: receive"
    assert err.event.error == "KeyError: 'no such record'"
    assert sim.trace.of(Note)[-1].event.text == "about to fail"  # effects queued before the fault kept
    # the run stays failed; nothing after the fault happens
    with pytest.raises(SimulationError, match="already failed"):
        sim.run()
    assert all(r.event.message != "never" for r in sim.trace.of(MessageSent))


class FailsOnTimer(Probe):
    def timer(self, key, now):
        raise RuntimeError(f"bad timer {key}")


def test_a_failing_timer_names_it_in_run_error():
    sim = Simulation()
    node = sim.add_node("x", A, FailsOnTimer)
    node.call("arm", node.endpoint.arm, ("pub", 7), SECOND)
    with pytest.raises(SimulationError):
        sim.run(until=10 * SECOND)
    (err,) = sim.trace.of(RunError)
    assert err.event.where == "x: timer pub:7" and err.time == SECOND
    assert sim.now == SECOND  # the clock did not jump to `until`


class FailsOnStart:
    def __init__(self, node):
        self.outbox = Outbox()

    def start(self, now):
        raise ValueError("bad config")


def test_a_failing_start_fails_the_next_run():
    sim = Simulation()
    sim.add_node("x", A, FailsOnStart)
    assert sim.trace.of(RunError)[0].event.where == "x: start"
    with pytest.raises(SimulationError, match="bad config"):
        sim.run()


def test_run_for_and_unix_time():
    sim = Simulation(epoch=1_700_000_000)
    sim.run_for(2.5)
    assert sim.now == 2_500_000
    assert sim.unix_time() == 1_700_000_002
    assert sim.unix_time(10 * SECOND - 1) == 1_700_000_009
    assert sim.snapshot() == {"now": 2_500_000, "events": 0, "records": 0}


class RaisesParseErrorOnReceive(Probe):
    def receive(self, message, src, now):
        from puasim.sip.errors import SipParseError

        self.got.append((now, message, src))
        if message == "bad":
            self.outbox.emit(Note("info", "read the start"))
            raise SipParseError("bad header", 4, "CSeq")


def test_a_parse_error_escaping_an_endpoint_costs_that_message_only():
    from puasim.trace.events import MessageRejected

    sim = Simulation()
    a = sim.add_node("a", A, Probe)
    b = sim.add_node("b", B, RaisesParseErrorOnReceive)
    send_at(sim, SECOND, a, "bad", B)
    send_at(sim, 2 * SECOND, a, "good", B)
    sim.run()
    assert [m for _, m, _ in b.endpoint.got] == ["bad", "good"]
    (rej,) = sim.trace.of(MessageRejected)
    assert (rej.node, rej.event.src, rej.event.message, rej.event.status) == ("b", A, "bad", 0)
    assert rej.event.reason == "escaped the endpoint: bad header (CSeq header, offset 4)"
    assert sim.trace.of(RunError) == [] and sim.error is None
    assert [r.event.text for r in sim.trace.of(Note)] == ["read the start"]  # effects before the fault kept


class StartGate(Probe):
    """Fails to start while ``gate["open"]`` is false: in the factory or in ``start``."""

    gate = {"open": False, "where": "start"}

    def __init__(self, node):
        from puasim.effects import StartupError

        if not self.gate["open"] and self.gate["where"] == "factory":
            raise StartupError("mod_init: while connecting database")
        super().__init__(node)

    def start(self, now):
        from puasim.effects import StartupError

        self.outbox.set_timer("tick", now + SECOND)
        self.outbox.emit(Note("info", "half started"))
        if not self.gate["open"] and self.gate["where"] == "start":
            raise StartupError("mod_init: while restoring hash_table")
        super().start(now)


@pytest.mark.parametrize("where", ["factory", "start"])
def test_a_start_up_failure_keeps_the_node_down_and_the_run_going(where, monkeypatch):
    from puasim.trace.events import MessageDropped, NodeStartFailed

    monkeypatch.setattr(StartGate, "gate", {"open": True, "where": where})
    sim = Simulation()
    a = sim.add_node("a", A, Probe)
    b = sim.add_node("b", B, StartGate)
    StartGate.gate["open"] = False
    sim.kernel.call_at(SECOND, lambda: b.restart("step"))
    send_at(sim, 2 * SECOND, a, "while down", B)
    sim.kernel.call_at(3 * SECOND, lambda: StartGate.gate.update(open=True))
    sim.kernel.call_at(4 * SECOND, lambda: b.restart("step"))
    send_at(sim, 5 * SECOND, a, "while up", B)
    sim.run(until=10 * SECOND)
    assert sim.error is None and sim.trace.of(RunError) == []
    (failed,) = sim.trace.of(NodeStartFailed)
    assert (failed.time, failed.node) == (SECOND, "b")
    assert failed.event.reason == ("mod_init: while connecting database" if where == "factory" else "mod_init: while restoring hash_table")
    assert [r.event.message for r in sim.trace.of(MessageDropped)] == ["while down"]
    assert [m for _, m, _ in b.endpoint.got] == ["while up"]
    # the failed start armed no timer and recorded nothing: only the good starts' ticks fire
    assert [r.time for r in sim.trace.of(TimerFired)] == [SECOND, 5 * SECOND]
    assert [r.event.text for r in sim.trace.of(Note)].count("half started") == 2
