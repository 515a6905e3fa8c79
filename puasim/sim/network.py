"""The simulated network: latency, loss, duplication, reordering, partitions.

Messages travel as structured values; wire bytes are made only when something
asks for them (pcap export, fuzzing, the live driver).  Every send, delivery,
drop and duplicate becomes a trace record.

Per-link behaviour is a :class:`LinkProfile`.  Latency is a base delay plus a
seeded jitter (``uniform`` in ``[0, jitter]`` or ``exponential`` with mean
``jitter``); jitter larger than the gap between two sends reorders them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from puasim.effects import MILLISECOND, Address
from puasim.sip.message import Request
from puasim.trace.events import MessageDelivered, MessageDropped, MessageDuplicated, MessageSent

if TYPE_CHECKING:
    from puasim.sim.simulation import Simulation

JITTER_KINDS = ("uniform", "exponential")


@dataclass(frozen=True, slots=True)
class LinkProfile:
    """How one direction of a link behaves.  Times in microseconds, rates in [0, 1]."""

    latency: int = 1 * MILLISECOND
    jitter: int = 0
    jitter_kind: str = "uniform"
    loss: float = 0.0
    duplicate: float = 0.0

    def __post_init__(self) -> None:
        if self.latency < 0 or self.jitter < 0:
            raise ValueError("latency and jitter must be >= 0")
        if not (0.0 <= self.loss <= 1.0 and 0.0 <= self.duplicate <= 1.0):
            raise ValueError("loss and duplicate must be within [0, 1]")
        if self.jitter_kind not in JITTER_KINDS:
            raise ValueError(f"jitter_kind must be one of {JITTER_KINDS}")


@dataclass(frozen=True, slots=True)
class Partition:
    """Between ``start`` and ``end`` (µs) nothing crosses between ``side_a`` and ``side_b`` (node names)."""

    start: int
    end: int
    side_a: frozenset[str]
    side_b: frozenset[str]

    def cuts(self, now: int, a: str, b: str) -> bool:
        if not (self.start <= now < self.end):
            return False
        return (a in self.side_a and b in self.side_b) or (a in self.side_b and b in self.side_a)


class Network:
    """Carries messages between the nodes of one :class:`Simulation`.

    ``links`` maps (source node, destination node) to a profile; ``"*"``
    stands for any node.  ``drop_next`` counts messages still to be dropped
    per (source, destination) as a scenario fault.
    """

    def __init__(self, sim: Simulation, default: LinkProfile | None = None) -> None:
        self.sim = sim
        self.default = default or LinkProfile()
        self.links: dict[tuple[str, str], LinkProfile] = {}
        self.partitions: list[Partition] = []
        self.drop_next: dict[tuple[str, str], int] = {}
        self._rng = sim.streams("network")
        #: requests handed to the network so far, retransmissions included (progress display)
        self.requests_sent = 0
        #: drop a delivered message's parsed header values: only worth it when the trace keeps
        #: the message (``full``); the other levels' batches read them after delivery
        self.lean: bool = getattr(sim.trace, "keeps_messages", True)

    def profile(self, src: str, dst: str) -> LinkProfile:
        return self.links.get((src, dst)) or self.links.get((src, "*")) or self.links.get(("*", dst)) or self.default

    def _delay(self, prof: LinkProfile) -> int:
        if not prof.jitter:
            return prof.latency
        if prof.jitter_kind == "uniform":
            return prof.latency + self._rng.randint(0, prof.jitter)
        return prof.latency + int(self._rng.expovariate(1.0 / prof.jitter))

    def send(self, src_node: str, src: Address, dst: Address, message: Any, retransmission: bool = False) -> None:
        sim = self.sim
        now = sim.kernel.now
        trace_add = sim.trace.add
        trace_add(now, src_node, MessageSent(src, dst, message, retransmission))
        if isinstance(message, Request):
            self.requests_sent += 1
        dst_node = sim._by_addr.get(dst)
        dst_name = dst_node.name if dst_node is not None else f"{dst[0]}:{dst[1]}"
        if self.partitions:
            for part in self.partitions:
                if part.cuts(now, src_node, dst_name):
                    trace_add(now, src_node, MessageDropped(src, dst, message, "partition"))
                    return
        drop_next = self.drop_next
        if drop_next:  # a scenario asked for drops (looked up only then)
            key = (src_node, dst_name)
            k = key if drop_next.get(key) else (src_node, "*")
            pending = drop_next.get(k)
            if pending:
                drop_next[k] = pending - 1
                trace_add(now, src_node, MessageDropped(src, dst, message, "fault"))
                return
        prof = self.profile(src_node, dst_name) if self.links else self.default
        if prof.loss and self._rng.random() < prof.loss:
            trace_add(now, src_node, MessageDropped(src, dst, message, "loss"))
            return
        sim.kernel.call_later(self._delay(prof) if prof.jitter else prof.latency, self._deliver, src, dst, message)
        if prof.duplicate and self._rng.random() < prof.duplicate:
            trace_add(now, src_node, MessageDuplicated(src, dst, message))
            sim.kernel.call_later(self._delay(prof), self._deliver, src, dst, message)

    def _deliver(self, src: Address, dst: Address, message: Any) -> None:
        sim = self.sim
        node = sim._by_addr.get(dst)
        now = sim.kernel.now
        if node is None or not node.up:
            where = node.name if node is not None else f"{dst[0]}:{dst[1]}"
            reason = "no-listener" if node is None else "crashed"
            sim.trace.add(now, where, MessageDropped(src, dst, message, reason))
            return
        sim.trace.add(now, node.name, MessageDelivered(src, dst, message))
        node.deliver(message, src)
        if self.lean:  # parsed header values stay with the message for one hop only
            drop = getattr(message, "drop_caches", None)
            if drop is not None:
                drop()
