"""The event kernel: ordering, cancellation, bounds and the clock."""

from __future__ import annotations

import pytest

from puasim.sim.kernel import EventBudgetExceeded, Kernel


def test_events_run_in_time_order_then_fifo():
    k = Kernel()
    out: list[str] = []
    k.call_at(30, out.append, "t30")
    k.call_at(10, out.append, "t10-first")
    k.call_at(20, out.append, "t20")
    k.call_at(10, out.append, "t10-second")
    k.call_later(10, out.append, "t10-third")
    k.call_at(0, out.append, "t0")
    assert k.run() == 6
    assert out == ["t0", "t10-first", "t10-second", "t10-third", "t20", "t30"]
    assert k.now == 30


def test_fifo_holds_for_many_equal_times_and_for_events_scheduled_while_running():
    k = Kernel()
    out: list[int] = []

    def spawn(i: int) -> None:
        out.append(i)
        if i < 100:
            k.call_later(0, spawn, i + 100)  # same instant: runs after everything queued before it

    for i in range(100):
        k.call_at(5, spawn, i)
    k.run()
    assert out == list(range(200))


def test_clock_is_the_event_time_while_it_runs():
    k = Kernel(start=1_000)
    seen: list[int] = []
    k.call_later(250, lambda: seen.append(k.now))
    k.call_at(1_000, lambda: seen.append(k.now))
    k.run()
    assert seen == [1_000, 1_250]


def test_cancelled_events_never_run_and_leave_len():
    k = Kernel()
    out: list[str] = []
    h1 = k.call_at(10, out.append, "a")
    h2 = k.call_at(20, out.append, "b")
    k.call_at(30, out.append, "c")
    assert len(k) == 3
    k.cancel(h2)
    assert h2.cancelled and not h1.cancelled
    assert len(k) == 2
    k.cancel(h2)  # twice is harmless
    k.cancel(None)
    assert len(k) == 2
    assert k.run() == 2
    assert out == ["a", "c"]
    assert len(k) == 0
    k.cancel(h1)  # after it ran: a no-op
    assert out == ["a", "c"]


def test_cancellation_is_lazy_and_peek_skips_dead_entries():
    k = Kernel()
    handles = [k.call_at(t, lambda: None) for t in (5, 6, 7)]
    k.cancel(handles[0])
    k.cancel(handles[1])
    assert len(k._heap) == 3  # still there: lazy deletion
    assert len(k) == 1
    assert k.peek() == 7
    k.cancel(handles[2])
    assert k.peek() is None


def test_an_event_may_cancel_a_later_one_at_the_same_instant():
    k = Kernel()
    out: list[str] = []
    later = k.call_at(10, out.append, "victim")
    k.cancel(later)
    first = k.call_at(10, out.append, "x")
    k.call_at(10, lambda: k.cancel(first))  # first already ran: no effect
    victim = k.call_at(10, out.append, "victim2")
    k.call_at(9, lambda: k.cancel(victim))
    k.run()
    assert out == ["x"]


def test_run_until_leaves_the_clock_at_until():
    k = Kernel()
    out: list[int] = []
    for t in (10, 20, 30):
        k.call_at(t, out.append, t)
    assert k.run(until=20) == 2  # events at exactly `until` run
    assert out == [10, 20] and k.now == 20
    assert k.run(until=25) == 0
    assert k.now == 25
    assert k.run(until=1_000) == 1
    assert out == [10, 20, 30] and k.now == 1_000  # heap ran dry at 30, clock still at until
    assert k.run(until=2_000) == 0 and k.now == 2_000


def test_run_without_until_stops_at_the_last_event():
    k = Kernel()
    k.call_at(42, lambda: None)
    k.run()
    assert k.now == 42


def test_max_events_bounds_a_run_and_the_rest_stays_queued():
    k = Kernel()
    out: list[int] = []
    for t in range(10):
        k.call_at(t, out.append, t)
    assert k.run(max_events=4) == 4
    assert out == [0, 1, 2, 3] and k.now == 3
    assert k.events_run == 4
    assert len(k) == 6
    # cancelled entries do not count against the budget
    k.cancel(k.call_at(4, out.append, -1))
    assert k.run(until=100, max_events=3) == 3
    assert out == [0, 1, 2, 3, 4, 5, 6]
    assert k.now == 6  # stopped by the budget, not at `until`
    assert k.events_run == 7
    assert k.run() == 3
    assert k.events_run == 10


def test_step_runs_one_live_event():
    k = Kernel()
    out: list[str] = []
    k.cancel(k.call_at(1, out.append, "dead"))
    k.call_at(2, out.append, "live")
    assert k.step() is True
    assert out == ["live"] and k.now == 2 and k.events_run == 1
    assert k.step() is False


def test_run_until_quiet_returns_when_quiet_and_raises_past_its_budget():
    k = Kernel()
    for t in range(5):
        k.call_at(t, lambda: None)
    assert k.run_until_quiet(max_events=5) == 5

    def forever() -> None:
        k.call_later(1, forever)

    k.call_later(0, forever)
    with pytest.raises(EventBudgetExceeded, match="100 events"):
        k.run_until_quiet(max_events=100)
    assert k.events_run == 105


def test_run_until_quiet_ignores_cancelled_leftovers():
    k = Kernel()
    k.call_at(1, lambda: None)
    k.cancel(k.call_at(2, lambda: None))
    assert k.run_until_quiet(max_events=1) == 1


def test_scheduling_in_the_past_raises():
    k = Kernel()
    k.call_at(100, lambda: None)
    k.run()
    with pytest.raises(ValueError, match="past"):
        k.call_at(99, lambda: None)
    with pytest.raises(ValueError, match="negative"):
        k.call_later(-1, lambda: None)
    k.call_at(100, lambda: None)  # "now" itself is allowed
    assert k.run() == 1


def test_stop_ends_the_run_after_the_current_event():
    k = Kernel()
    out: list[int] = []
    k.call_at(1, out.append, 1)
    k.call_at(2, k.stop)
    k.call_at(2, out.append, 2)
    k.call_at(3, out.append, 3)
    assert k.run(until=10) == 2  # the stop event itself counts
    assert out == [1] and k.now == 2  # not moved to `until`
    assert k.run(until=10) == 2  # a new run starts afresh
    assert out == [1, 2, 3] and k.now == 10


def test_arguments_are_passed_and_handles_report_their_time():
    k = Kernel()
    got: list[tuple] = []
    h = k.call_at(7, lambda *a: got.append(a), 1, "two", None)
    assert h.time == 7 and "pending" in repr(h)
    k.run()
    assert got == [(1, "two", None)]
    assert not h.cancelled  # it ran; it was not cancelled


def test_a_run_turns_automatic_collection_off_and_puts_it_back():
    import gc

    from puasim.sim.simulation import Simulation

    for enabled in (True, False):
        (gc.enable if enabled else gc.disable)()
        try:
            sim = Simulation(seed=1)
            seen: list[bool] = []
            sim.kernel.call_at(1, lambda seen=seen: seen.append(gc.isenabled()))
            sim.kernel.call_at(2, lambda: 1 / 0)  # a model fault ends the run: the collector is put back too
            with pytest.raises(ZeroDivisionError):
                sim.run()
            assert seen == [False]
            assert gc.isenabled() is enabled and gc.get_freeze_count() == 0
        finally:
            gc.enable()
