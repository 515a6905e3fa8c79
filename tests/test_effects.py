"""The outbox keeps effects as rows; take() gives the effect values, drain() the rows."""

from __future__ import annotations

import pytest

from puasim.effects import (
    CANCEL_TIMER,
    EMIT,
    SEND,
    SET_TIMER,
    CancelTimer,
    Emit,
    Outbox,
    Send,
    SetTimer,
)
from puasim.sim.simulation import Simulation
from puasim.sip.message import Request
from puasim.trace.events import Note, TimerFired

MSG = Request("OPTIONS", "sip:b@127.0.0.1")


def _fill(out: Outbox) -> None:
    out.emit(Note("info", "a"))
    out.set_timer(("t", 1), 5)
    out.send(MSG, ("127.0.0.1", 5070))
    out.cancel_timer(("t", 2))
    out.send(MSG, ("127.0.0.1", 5070), retransmission=True)


def test_take_gives_effect_values_in_order_and_starts_a_new_batch():
    out = Outbox()
    _fill(out)
    assert len(out) == 5
    assert out.take() == [
        Emit(Note("info", "a")),
        SetTimer(("t", 1), 5),
        Send(MSG, ("127.0.0.1", 5070)),
        CancelTimer(("t", 2)),
        Send(MSG, ("127.0.0.1", 5070), True),
    ]
    assert out.take() == [] and len(out) == 0


def test_drain_gives_the_rows():
    out = Outbox()
    _fill(out)
    rows = out.drain()
    assert [r[0] for r in rows] == [EMIT, SET_TIMER, SEND, CANCEL_TIMER, SEND]
    assert rows[2] == (SEND, MSG, ("127.0.0.1", 5070), False)
    assert out.drain() == []


class _Quiet:
    def __init__(self) -> None:
        self.outbox = Outbox()

    def start(self, now: int) -> None:
        pass

    def receive(self, message, src, now) -> None:  # type: ignore[no-untyped-def]
        pass

    def timer(self, key, now) -> None:  # type: ignore[no-untyped-def]
        self.outbox.emit(Note("info", f"fired {key}"))


def _run(use_values: bool) -> list[tuple]:
    sim = Simulation(seed=3)
    node = sim.add_node("a", ("127.0.0.1", 5060), lambda n: _Quiet())
    sim.add_node("b", ("127.0.0.1", 5070), lambda n: _Quiet())
    out = Outbox()
    _fill(out)
    out.set_timer(("t", 2), 7)
    out.set_timer(("t", 3), 9)
    out.cancel_timer(("t", 3))
    if use_values:
        node.apply(out.take())
    else:
        node.apply_rows(out.drain())
    sim.run()
    return [(r.time, r.node, r.event) for r in sim.trace]


def test_node_applies_effect_values_as_it_applies_rows():
    by_rows = _run(use_values=False)
    assert by_rows == _run(use_values=True)
    assert [r[2].name for r in by_rows if isinstance(r[2], TimerFired)] == ["t:1", "t:2"]


def test_an_unknown_effect_is_an_error():
    sim = Simulation(seed=3)
    node = sim.add_node("a", ("127.0.0.1", 5060), lambda n: _Quiet())
    with pytest.raises(TypeError):
        node.apply([object()])
    with pytest.raises(TypeError):
        node.apply_rows([(99, None)])
