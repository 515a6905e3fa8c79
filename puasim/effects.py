"""What a sans-IO model asks its driver to do.

Models (transactions, the PUA, simulated servers) never touch sockets or
clocks.  Every input they receive carries ``now`` (integer microseconds of
virtual or wall time), and every output is one of the effects below, appended
to an :class:`Outbox` that the driver drains after each input, in the style of
aioquic's ``datagrams_to_send()``.

Times are integers in microseconds: ``SECOND`` and ``MILLISECOND`` convert.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from puasim.frozen import quick_init

SECOND = 1_000_000
MILLISECOND = 1_000

Address = tuple[str, int]


@quick_init
@dataclass(frozen=True, slots=True)
class Send:
    """Put ``message`` on the wire from the node towards ``dest``."""

    message: Any
    dest: Address
    retransmission: bool = False


@quick_init
@dataclass(frozen=True, slots=True)
class SetTimer:
    """Arm (or re-arm) the timer ``key`` to fire at absolute time ``at``."""

    key: Hashable
    at: int


@quick_init
@dataclass(frozen=True, slots=True)
class CancelTimer:
    """Disarm timer ``key`` if it is armed."""

    key: Hashable


@quick_init
@dataclass(frozen=True, slots=True)
class Emit:
    """Record ``event`` (a :mod:`puasim.trace.events` value) in the trace."""

    event: Any


Effect = Send | SetTimer | CancelTimer | Emit


class StartupError(Exception):
    """An endpoint could not start (a module's initialisation failed).

    Raised by an endpoint's factory or its ``start``; the driver keeps the
    node down and records the failure (``str()`` is the reason the real
    software logs) instead of ending the run.
    """


#: kinds of the rows an :class:`Outbox` keeps (:meth:`Outbox.drain`)
SEND, SET_TIMER, CANCEL_TIMER, EMIT = 0, 1, 2, 3


class Outbox:
    """Collects effects produced while one input is handled.

    The effects are kept as plain rows, ``(SEND, message, dest,
    retransmission)``, ``(SET_TIMER, key, at)``, ``(CANCEL_TIMER, key)`` and
    ``(EMIT, event)``: a run makes about a dozen per SIP request and reads
    each once.  :meth:`take` gives them as the effect values above;
    :meth:`drain` gives the rows themselves to a driver that dispatches on
    the first item (the simulator's node).
    """

    __slots__ = ("_effects", "lean")

    def __init__(self) -> None:
        self._effects: list[tuple] = []
        #: drop the parsed header values of a message the model is done with (a request
        #: whose transaction ended); the driver sets it False when no trace keeps messages
        #: (see ``puasim.trace.trace.Trace.keeps_messages``)
        self.lean = True

    def send(self, message: Any, dest: Address, retransmission: bool = False) -> None:
        self._effects.append((SEND, message, dest, retransmission))

    def set_timer(self, key: Hashable, at: int) -> None:
        self._effects.append((SET_TIMER, key, at))

    def cancel_timer(self, key: Hashable) -> None:
        self._effects.append((CANCEL_TIMER, key))

    def emit(self, event: Any) -> None:
        self._effects.append((EMIT, event))

    def take(self) -> list[Effect]:
        """Return the collected effects and start a new batch."""
        return [_EFFECT_OF[row[0]](*row[1:]) for row in self.drain()]

    def drain(self) -> list[tuple]:
        """Return the collected effects as rows (see the class) and start a new batch."""
        rows, self._effects = self._effects, []
        return rows

    def __len__(self) -> int:
        return len(self._effects)


_EFFECT_OF: dict[int, type] = {SEND: Send, SET_TIMER: SetTimer, CANCEL_TIMER: CancelTimer, EMIT: Emit}
