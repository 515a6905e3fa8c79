"""Nodes: an address in the simulated network hosting one sans-IO endpoint.

The node feeds its endpoint messages and timer firings with the current
virtual time and carries out the effects the endpoint returns.  A crash drops
the endpoint (all in-memory state) and its timers; a restart builds a new
endpoint with the node's factory, which may read the durable store.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any, Protocol

from puasim.bodies.errors import BodyError
from puasim.effects import (
    CANCEL_TIMER,
    EMIT,
    SEND,
    SET_TIMER,
    Address,
    CancelTimer,
    Emit,
    Outbox,
    Send,
    SetTimer,
    StartupError,
)
from puasim.sim.kernel import Handle
from puasim.sip.errors import SipParseError
from puasim.trace.events import (
    MessageRejected,
    NodeCrashed,
    NodeRestarted,
    NodeStartFailed,
    RunError,
    TimerFired,
)

if TYPE_CHECKING:
    from puasim.sim.simulation import Simulation


class Endpoint(Protocol):
    """What a node can host: a sans-IO object with an :class:`Outbox`."""

    outbox: Outbox

    def start(self, now: int) -> None: ...

    def receive(self, message: Any, src: Address, now: int) -> None: ...

    def timer(self, key: Hashable, now: int) -> None: ...


#: what a peer's bad message raises: it costs that message, never the run
PEER_ERRORS = (SipParseError, BodyError)


def timer_name(key: Hashable) -> str:
    if isinstance(key, tuple):
        return ":".join(map(str, key))
    return str(key)


class Node:
    """One network address with an endpoint, its timers and its up/down state."""

    __slots__ = ("sim", "name", "address", "factory", "endpoint", "up", "_timers", "trace_timers")

    def __init__(
        self,
        sim: Simulation,
        name: str,
        address: Address,
        factory: Callable[[Node], Endpoint],
        trace_timers: bool = True,
    ) -> None:
        self.sim = sim
        self.name = name
        self.address = address
        self.factory = factory
        self.endpoint: Any = None
        self.up = False
        self._timers: dict[Hashable, Handle] = {}
        self.trace_timers = trace_timers

    # -- life cycle -----------------------------------------------------------------
    def start(self) -> bool:
        """Build the endpoint and start it; False when it failed to start.

        A :class:`~puasim.effects.StartupError` from the factory or from the
        endpoint's ``start`` is a modelled outcome, not a fault of the run:
        the node stays down (no endpoint, no timers, the effects of the
        failed start discarded) and a :class:`~puasim.trace.events.NodeStartFailed`
        record says why.  A later :meth:`restart` tries again.
        """
        now = self.sim.kernel.now
        try:
            endpoint = self.factory(self)
        except StartupError as exc:
            return self._start_failed(exc)
        self.endpoint = endpoint
        self.up = True
        if not self.sim.network.lean and isinstance(getattr(endpoint, "outbox", None), Outbox):
            endpoint.outbox.lean = False  # no trace keeps messages: parsed values may stay
        failed: list[StartupError] = []

        def start(now: int) -> None:
            try:
                endpoint.start(now)
            except StartupError as exc:
                endpoint.outbox.drain()  # a failed start has no effects: no timers, no records
                failed.append(exc)

        self._call("start", start, now)
        if failed:
            return self._start_failed(failed[0])
        return self.up

    def _start_failed(self, exc: StartupError) -> bool:
        self.endpoint = None
        self.up = False
        self.sim.trace.add(self.sim.kernel.now, self.name, NodeStartFailed(str(exc)))
        return False

    def crash(self, reason: str = "crash") -> None:
        """Lose all in-memory state: the endpoint and every armed timer."""
        for handle in self._timers.values():
            self.sim.kernel.cancel(handle)
        self._timers.clear()
        self.endpoint = None
        self.up = False
        self.sim.trace.add(self.sim.kernel.now, self.name, NodeCrashed(reason))

    def restart(self, detail: str = "") -> bool:
        """Crash (if up) and start again; False when the start failed (see :meth:`start`)."""
        if self.up:
            self.crash("restart")
        self.sim.trace.add(self.sim.kernel.now, self.name, NodeRestarted(detail))
        return self.start()

    # -- inputs ---------------------------------------------------------------------
    def deliver(self, message: Any, src: Address) -> None:
        """Hand ``message`` to the endpoint: the receive boundary of the driver.

        A parse error that escapes the endpoint (one without a guard of its
        own) costs this message only: it is recorded as
        :class:`~puasim.trace.events.MessageRejected` and the run goes on.
        Any other exception is a model fault and ends the run (:meth:`_call`).
        """
        # _call written out for the commonest input: no argument tuples, no keywords
        receive = self.endpoint.receive
        try:
            receive(message, src, self.sim.kernel.now)
        except Exception as exc:
            self._failed("receive", exc, (message, src))
            return
        endpoint = self.endpoint
        if endpoint is not None:
            rows = endpoint.outbox.drain()
            if rows:
                self.apply_rows(rows)

    def _fire(self, key: Hashable) -> None:
        self._timers.pop(key, None)
        if not self.up:
            return
        sim = self.sim
        now = sim.kernel.now
        name = timer_name(key)
        if self.trace_timers:
            sim.trace.add(now, self.name, TimerFired(name))
        # _call written out, as in deliver
        timer = self.endpoint.timer
        try:
            timer(key, now)
        except Exception as exc:
            self._failed(("timer", name), exc, None)
            return
        endpoint = self.endpoint
        if endpoint is not None:
            rows = endpoint.outbox.drain()
            if rows:
                self.apply_rows(rows)

    def call(self, what: str, fn: Callable[..., Any], *args: Any) -> Any:
        """Call an API method of the endpoint and carry out its effects; returns its value."""
        return self._call(what, fn, *args)

    def _call(
        self, what: str | tuple[str, str], fn: Callable[..., Any], *args: Any, peer: tuple[Any, Address] | None = None
    ) -> Any:
        """``what`` names the input for the error record; a pair is joined only when needed."""
        try:
            result = fn(*args)
        except Exception as exc:  # the fault is recorded, the trace so far is kept
            self._failed(what, exc, peer)
            return None
        if self.endpoint is not None:
            self.apply_rows(self.endpoint.outbox.drain())
        return result

    def _failed(self, what: str | tuple[str, str], exc: Exception, peer: tuple[Any, Address] | None) -> None:
        """An input raised ``exc``: record it, carry out the effects made so far, and end the
        run unless ``peer`` (the message and its source) is to blame (:data:`PEER_ERRORS`)."""
        sim = self.sim
        if peer is not None and isinstance(exc, PEER_ERRORS):  # the message's fault, not the model's
            sim.trace.add(sim.kernel.now, self.name, MessageRejected(peer[1], peer[0], f"escaped the endpoint: {exc}"))
            if self.endpoint is not None:
                self.apply_rows(self.endpoint.outbox.drain())
            return
        if isinstance(what, tuple):
            what = " ".join(what)
        sim.trace.add(sim.kernel.now, self.name, RunError(f"{self.name}: {what}", f"{type(exc).__name__}: {exc}"))
        if self.endpoint is not None:
            self.apply_rows(self.endpoint.outbox.drain())
        sim.fail(exc)

    # -- outputs --------------------------------------------------------------------
    def apply(self, effects: list) -> None:
        """Carry out effect values (:class:`~puasim.effects.Send` ...) in order."""
        rows: list[tuple] = []
        for eff in effects:
            cls = eff.__class__
            if cls is Emit:
                rows.append((EMIT, eff.event))
            elif cls is SetTimer:
                rows.append((SET_TIMER, eff.key, eff.at))
            elif cls is Send:
                rows.append((SEND, eff.message, eff.dest, eff.retransmission))
            elif cls is CancelTimer:
                rows.append((CANCEL_TIMER, eff.key))
            else:
                raise TypeError(f"unknown effect {eff!r}")
        self.apply_rows(rows)

    def apply_rows(self, rows: list[tuple]) -> None:
        """Carry out an outbox's rows (:meth:`Outbox.drain`) in order, commonest kinds tested first."""
        if not rows:
            return
        sim = self.sim
        kernel = sim.kernel
        now = kernel.now  # no event runs while the rows of one input are carried out
        timers = self._timers
        trace_add = sim.trace.add
        name = self.name
        for row in rows:
            kind = row[0]
            if kind == EMIT:
                trace_add(now, name, row[1])
            elif kind == SET_TIMER:
                key = row[1]
                old = timers.get(key)
                if old is not None:
                    kernel.cancel(old)
                at = row[2]
                timers[key] = kernel.call_at(at if at > now else now, self._fire, key)
            elif kind == SEND:
                sim.network.send(name, self.address, row[2], row[1], row[3])
            elif kind == CANCEL_TIMER:
                old = timers.pop(row[1], None)
                if old is not None:
                    kernel.cancel(old)
            else:
                raise TypeError(f"unknown effect row {row!r}")
