"""A minimal sans-IO endpoint for driving nodes and the network in tests."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from puasim.effects import Address, Outbox
from puasim.sim.node import Node
from puasim.sim.simulation import Simulation


class Probe:
    """Records what it receives and which timers fire; sends and arms timers on request."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.outbox = Outbox()
        self.started: list[int] = []
        self.got: list[tuple[int, Any, Address]] = []
        self.fired: list[tuple[Hashable, int]] = []

    def start(self, now: int) -> None:
        self.started.append(now)

    def receive(self, message: Any, src: Address, now: int) -> None:
        self.got.append((now, message, src))

    def timer(self, key: Hashable, now: int) -> None:
        self.fired.append((key, now))

    # API used through Node.call so that the node carries out the effects
    def send(self, message: Any, dest: Address) -> None:
        self.outbox.send(message, dest)

    def arm(self, key: Hashable, at: int) -> None:
        self.outbox.set_timer(key, at)

    def disarm(self, key: Hashable) -> None:
        self.outbox.cancel_timer(key)


A = ("10.0.0.1", 5060)
B = ("10.0.0.2", 5060)
C = ("10.0.0.3", 5060)


def three_nodes(sim: Simulation) -> tuple[Node, Node, Node]:
    return (
        sim.add_node("a", A, Probe),
        sim.add_node("b", B, Probe),
        sim.add_node("c", C, Probe),
    )


def send_at(sim: Simulation, at: int, node: Node, message: Any, dest: Address) -> None:
    """Schedule ``node`` to send ``message`` to ``dest`` at virtual time ``at``."""
    sim.kernel.call_at(at, lambda: node.call("send", node.endpoint.send, message, dest))
