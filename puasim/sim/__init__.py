"""The deterministic simulator: virtual clock, event heap, network and nodes."""

from puasim.sim.kernel import EventBudgetExceeded, Handle, Kernel
from puasim.sim.network import LinkProfile, Network, Partition
from puasim.sim.node import Endpoint, Node
from puasim.sim.rng import Streams, derive_seed, stream
from puasim.sim.simulation import Simulation, SimulationError

__all__ = [
    "Endpoint", "EventBudgetExceeded", "Handle", "Kernel", "LinkProfile", "Network",
    "Node", "Partition", "Simulation", "SimulationError", "Streams", "derive_seed", "stream",
]
