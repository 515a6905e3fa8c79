"""A simulation: kernel, network, trace, seeded streams and nodes in one place."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from puasim.effects import SECOND, Address
from puasim.sim.kernel import Kernel
from puasim.sim.network import LinkProfile, Network
from puasim.sim.node import Endpoint, Node
from puasim.sim.rng import Streams
from puasim.trace.levels import Observer, make_trace

#: a progress hook: called with the simulation between events (it must not schedule or trace)
ProgressHook = Callable[["Simulation"], None]

@contextlib.contextmanager
def collector_tuned() -> Iterator[None]:
    """Run with the cyclic garbage collector's automatic collections off.

    A run allocates millions of small objects that live to its end (trace
    records, events, messages in them) and makes next to no cyclic garbage:
    on ``benchmarks/bench_scale.py`` the only cycles are the simulation's
    own structure (nodes, network and kernel pointing at each other), which
    is garbage only once the run is over.  With automatic collection on,
    the collector still examines every long-lived object at least twice
    (young generation, then middle), about 8% of a run's CPU time even with
    the thresholds raised.  So automatic collection is off while the kernel
    runs and is put back as it was afterwards; the objects the run made
    join the oldest generation, where long-lived objects end up anyway
    (cyclic garbage a model does make is reclaimed at the next full
    collection).  Collection
    never changes what a run does, only when memory of cyclic garbage comes
    back.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        # what the run allocated is old now: straight to the oldest generation
        # (freeze, then unfreeze, moves every tracked object there), or the
        # first young collection after the run would walk all of it
        gc.freeze()
        gc.unfreeze()
        if was_enabled:
            gc.enable()


class SimulationError(RuntimeError):
    """A model raised while handling an input; the trace holds a RunError record."""


class Simulation:
    """Owns the virtual clock, the network and the trace of one run.

    ``epoch`` is the UNIX time (whole seconds) that virtual time 0 stands for;
    models that compute Kamailio's absolute expiry times and the pcap exporter
    use it.

    ``trace_level`` says where the records go (:mod:`puasim.trace.levels`):
    ``full`` keeps them in memory, ``stream`` writes them to ``trace_path``
    (JSON lines) as they happen, ``metrics`` keeps only the digest and what
    ``observer`` aggregates.  The digest is the same at every level.
    """

    def __init__(
        self,
        seed: int | str = 0,
        epoch: int = 1_700_000_000,
        link: LinkProfile | None = None,
        trace_level: str = "full",
        trace_path: str | Path | None = None,
        observer: Observer | None = None,
    ) -> None:
        self.seed = seed
        self.epoch = epoch
        self.kernel = Kernel()
        self.streams = Streams(seed)
        self.trace = make_trace(trace_level, {"seed": seed, "epoch": epoch}, trace_path, observer)
        self.network = Network(self, default=link or LinkProfile())
        self.nodes: dict[str, Node] = {}
        self._by_addr: dict[Address, Node] = {}
        self.error: BaseException | None = None

    @property
    def now(self) -> int:
        return self.kernel.now

    def add_node(self, name: str, address: Address, factory: Callable[[Node], Endpoint], start: bool = True) -> Node:
        if name in self.nodes:
            raise ValueError(f"duplicate node name {name!r}")
        if address in self._by_addr:
            raise ValueError(f"address {address} already used by node {self._by_addr[address].name!r}")
        node = Node(self, name, address, factory)
        self.nodes[name] = node
        self._by_addr[address] = node
        if start:
            node.start()
        return node

    def node_at(self, address: Address) -> Node | None:
        return self._by_addr.get(address)

    def fail(self, exc: BaseException) -> None:
        """Stop the run after a model error (the RunError record is already in the trace)."""
        if self.error is None:
            self.error = exc
            self.kernel.stop()

    def run(
        self,
        until: int | None = None,
        max_events: int | None = None,
        progress: ProgressHook | None = None,
        progress_every: int = 20_000,
    ) -> int:
        """Run the kernel; stops at the first model error and raises :class:`SimulationError`.

        ``progress(sim)`` is called every ``progress_every`` events (and once
        at the end); it runs between events and only reads (``now``,
        ``kernel.events_run``, ``network.requests_sent``), so it cannot change
        the trace.  Wall-clock reading belongs in the hook, never in a model.  Whatever way the run stops
        (end, fault, exception), the trace is flushed so a streamed file
        holds every record up to that point.
        """
        if self.error is not None:
            raise SimulationError(f"run already failed: {self.error}") from self.error
        try:
            with collector_tuned():
                if progress is None:
                    count = self.kernel.run(until=until, max_events=max_events)
                else:
                    hook = progress
                    count = self.kernel.run_with_progress(
                        lambda _now, _n: hook(self), progress_every, until=until, max_events=max_events
                    )
        finally:
            self.trace.flush()
        if self.error is not None:
            raise SimulationError(str(self.error)) from self.error
        return count

    def run_for(self, seconds: float) -> int:
        return self.run(until=self.kernel.now + int(seconds * SECOND))

    def unix_time(self, now: int | None = None) -> int:
        """Whole UNIX seconds at virtual time ``now`` (the clock a Kamailio model sees)."""
        t = self.kernel.now if now is None else now
        return self.epoch + t // SECOND

    def snapshot(self) -> Any:
        return {"now": self.kernel.now, "events": self.kernel.events_run, "records": len(self.trace)}
