"""Seeded random streams, one per component.

A component's generator is derived from the run seed and the component's
stable name with SHA-256, so draws never depend on ``PYTHONHASHSEED``, on the
order components were created in, or on any other component's draws.
"""

from __future__ import annotations

import hashlib
import random


def derive_seed(seed: int | str, name: str) -> int:
    """A 64-bit seed for component ``name`` under run seed ``seed``."""
    digest = hashlib.sha256(f"{seed}\x00{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def stream(seed: int | str, name: str) -> random.Random:
    """A private :class:`random.Random` for component ``name``."""
    return random.Random(derive_seed(seed, name))


class Streams:
    """Hands out one generator per stable component name for one run seed."""

    __slots__ = ("seed", "_cache")

    def __init__(self, seed: int | str) -> None:
        self.seed = seed
        self._cache: dict[str, random.Random] = {}

    def __call__(self, name: str) -> random.Random:
        rng = self._cache.get(name)
        if rng is None:
            rng = self._cache[name] = stream(self.seed, name)
        return rng
