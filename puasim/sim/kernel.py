"""A small, exact discrete-event kernel with an integer virtual clock.

Time is an integer number of **microseconds** since the start of the run.
Events live in one heap ordered by ``(time, sequence)``: events due at the
same instant run in the order they were scheduled (first in, first out), so a
run is a pure function of its inputs and seed.

Cancelled events stay in the heap and are skipped when they come up (lazy
deletion); that keeps :meth:`Kernel.cancel` O(1), which matters for
transaction timers that are almost always cancelled before they fire.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any

# heap entries are lists [time, seq, fn, args]; fn None marks a cancelled entry
_TIME, _SEQ, _FN, _ARGS = 0, 1, 2, 3


class Handle:
    """A scheduled call; pass it to :meth:`Kernel.cancel`."""

    __slots__ = ("_entry",)

    def __init__(self, entry: list) -> None:
        self._entry = entry

    @property
    def time(self) -> int:
        return self._entry[_TIME]

    @property
    def cancelled(self) -> bool:
        return self._entry[_FN] is None

    def __repr__(self) -> str:
        state = "cancelled" if self.cancelled else "pending"
        return f"<Handle t={self.time} seq={self._entry[_SEQ]} {state}>"


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
        self._heap: list[list] = []
        self._seq = 0
        self.events_run = 0
        self._stopped = False

    def call_at(self, at: int, fn: Callable[..., Any], *args: Any) -> Handle:
        """Run ``fn(*args)`` at absolute time ``at`` (not earlier than now)."""
        if at < self.now:
            raise ValueError(f"cannot schedule in the past: at={at} < now={self.now}")
        entry = [at, self._seq, fn, args]
        self._seq += 1
        heapq.heappush(self._heap, entry)
        return Handle(entry)

    def call_later(self, delay: int, fn: Callable[..., Any], *args: Any) -> Handle:
        """Run ``fn(*args)`` ``delay`` microseconds from now."""
        if delay < 0:
            raise ValueError(f"negative delay {delay}")
        return self.call_at(self.now + delay, fn, *args)

    @staticmethod
    def cancel(handle: Handle | None) -> None:
        """Forget a scheduled call (a no-op if it already ran or was cancelled)."""
        if handle is not None:
            handle._entry[_FN] = None
            handle._entry[_ARGS] = ()

    def stop(self) -> None:
        """Make the running :meth:`run` return after the current event."""
        self._stopped = True

    def peek(self) -> int | None:
        """Time of the next live event, or None when the heap is empty."""
        heap = self._heap
        while heap and heap[0][_FN] is None:
            heapq.heappop(heap)
        return heap[0][_TIME] if heap else None

    def step(self) -> bool:
        """Run the next live event; False when there is none."""
        heap = self._heap
        while heap:
            entry = heapq.heappop(heap)
            fn = entry[_FN]
            if fn is None:
                continue
            self.now = entry[_TIME]
            entry[_FN] = None
            self.events_run += 1
            fn(*entry[_ARGS])
            return True
        return False

    def run(self, until: int | None = None, max_events: int | None = None) -> int:
        """Run events up to and including time ``until`` (all if None).

        Stops early after ``max_events`` events.  The clock ends at ``until``
        when given (even if the heap ran dry earlier).  Returns the number of
        events run.
        """
        heap = self._heap
        pop = heapq.heappop
        count = 0
        self._stopped = False
        while heap and not self._stopped:
            if max_events is not None and count >= max_events:
                return count
            entry = heap[0]
            if until is not None and entry[_TIME] > until:
                break
            pop(heap)
            fn = entry[_FN]
            if fn is None:
                continue
            self.now = entry[_TIME]
            entry[_FN] = None
            fn(*entry[_ARGS])
            count += 1
        self.events_run += count
        if until is not None and until > self.now and not self._stopped:
            self.now = until
        return count

    def run_until_quiet(self, max_events: int) -> int:
        """Run until no event is left; raise :class:`EventBudgetExceeded` past ``max_events``."""
        count = self.run(max_events=max_events)
        if self.peek() is not None:
            raise EventBudgetExceeded(f"still busy after {count} events (t={self.now} µs)")
        return count

    def __len__(self) -> int:
        return sum(1 for e in self._heap if e[_FN] is not None)
