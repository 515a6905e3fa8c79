"""A small, exact discrete-event kernel with an integer virtual clock.

Time is an integer number of **microseconds** since the start of the run.
Events live in one heap of ``(time, sequence, handle)`` tuples: events due at
the same instant run in the order they were scheduled (first in, first out),
so a run is a pure function of its inputs and seed.  The sequence number is
unique, so the handle itself is never compared.

Cancelled events stay in the heap and are skipped when they come up (lazy
deletion); that keeps :meth:`Kernel.cancel` O(1), which matters for
transaction timers that are almost always cancelled before they fire.
"""

from __future__ import annotations

from collections.abc import Callable
from heapq import heappop, heappush
from typing import Any


class Handle:
    """A scheduled call; pass it to :meth:`Kernel.cancel`.

    ``fn`` is ``None`` once the call was cancelled.
    """

    __slots__ = ("time", "seq", "fn", "args")

    def __init__(self, time: int, seq: int, fn: Callable[..., Any] | None, args: tuple) -> None:
        self.time = time
        self.seq = seq
        self.fn = fn
        self.args = args

    @property
    def cancelled(self) -> bool:
        """True once :meth:`Kernel.cancel` was called on it."""
        return self.fn is None

    def __repr__(self) -> str:
        state = "cancelled" if self.cancelled else "pending"
        return f"<Handle t={self.time} seq={self.seq} {state}>"


class EventBudgetExceeded(RuntimeError):
    """:meth:`Kernel.run_until_quiet` reached its event bound with work left."""


class Kernel:
    """Virtual clock and event heap.

    >>> k = Kernel()
    >>> out = []
    >>> _ = k.call_later(5, out.append, "b"); _ = k.call_later(5, out.append, "c")
    >>> _ = k.call_at(1, out.append, "a")
    >>> k.run()
    3
    >>> out, k.now
    (['a', 'b', 'c'], 5)
    """

    __slots__ = ("now", "_heap", "_seq", "events_run", "_stopped")

    def __init__(self, start: int = 0) -> None:
        self.now: int = start
        self._heap: list[tuple[int, int, Handle]] = []
        self._seq = 0
        self.events_run = 0
        self._stopped = False

    def call_at(self, at: int, fn: Callable[..., Any], *args: Any) -> Handle:
        """Run ``fn(*args)`` at absolute time ``at`` (not earlier than now)."""
        if at < self.now:
            raise ValueError(f"cannot schedule in the past: at={at} < now={self.now}")
        seq = self._seq
        self._seq = seq + 1
        handle = Handle(at, seq, fn, args)
        heappush(self._heap, (at, seq, handle))
        return handle

    def call_later(self, delay: int, fn: Callable[..., Any], *args: Any) -> Handle:
        """Run ``fn(*args)`` ``delay`` microseconds from now."""
        if delay < 0:
            raise ValueError(f"negative delay {delay}")
        # call_at(now + delay, ...) written out: this is the hottest call of a run
        at = self.now + delay
        seq = self._seq
        self._seq = seq + 1
        handle = Handle(at, seq, fn, args)
        heappush(self._heap, (at, seq, handle))
        return handle

    @staticmethod
    def cancel(handle: Handle | None) -> None:
        """Forget a scheduled call (a no-op if it already ran or was cancelled)."""
        if handle is not None:
            handle.fn = None
            handle.args = ()

    def stop(self) -> None:
        """Make the running :meth:`run` return after the current event."""
        self._stopped = True

    def peek(self) -> int | None:
        """Time of the next live event, or None when the heap is empty."""
        heap = self._heap
        while heap and heap[0][2].fn is None:
            heappop(heap)
        return heap[0][0] if heap else None

    def step(self) -> bool:
        """Run the next live event; False when there is none."""
        if self.peek() is None:
            return False
        at, _, handle = heappop(self._heap)
        self.now = at
        self.events_run += 1
        handle.fn(*handle.args)  # type: ignore[misc]
        return True

    def run(self, until: int | None = None, max_events: int | None = None) -> int:
        """Run events up to and including time ``until`` (all if None).

        Stops early after ``max_events`` events or when :meth:`stop` is
        called.  Otherwise the clock ends at ``until`` when given (even if the
        heap ran dry earlier).  Returns the number of events run.
        """
        heap = self._heap
        budget = -1 if max_events is None else max_events
        count = 0
        cut_short = False
        self._stopped = False
        while heap:
            at = heap[0][0]
            if until is not None and at > until:
                break
            if count == budget:
                cut_short = True
                break
            handle = heappop(heap)[2]
            fn = handle.fn
            if fn is None:  # cancelled
                continue
            self.now = at
            fn(*handle.args)
            count += 1
            if self._stopped:
                cut_short = True
                break
        self.events_run += count
        if until is not None and until > self.now and not cut_short:
            self.now = until
        return count

    @property
    def stopped(self) -> bool:
        """True when the last :meth:`run` ended because :meth:`stop` was called."""
        return self._stopped

    def run_with_progress(
        self,
        hook: Callable[[int, int], None],
        every: int,
        until: int | None = None,
        max_events: int | None = None,
    ) -> int:
        """:meth:`run`, calling ``hook(now, events so far)`` every ``every`` events and at the end.

        The run is cut into slices of ``every`` events; events run in exactly
        the order one :meth:`run` call would run them, so the hook (which
        runs between slices) cannot change the outcome.
        """
        if every < 1:
            raise ValueError(f"progress interval must be at least 1 event, got {every}")
        count = 0
        while True:
            budget = every if max_events is None else min(every, max_events - count)
            n = self.run(until=until, max_events=budget)
            count += n
            hook(self.now, count)
            if self._stopped or n < budget or (max_events is not None and count >= max_events):
                return count

    def run_until_quiet(self, max_events: int) -> int:
        """Run until no event is left; raise :class:`EventBudgetExceeded` past ``max_events``."""
        count = self.run(max_events=max_events)
        if self.peek() is not None:
            raise EventBudgetExceeded(f"still busy after {count} events (t={self.now} µs)")
        return count

    def __len__(self) -> int:
        """Number of live (not cancelled) events still queued."""
        return sum(1 for _, _, handle in self._heap if handle.fn is not None)
