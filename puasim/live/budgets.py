"""The limits of one live run, as ``puasim live`` takes them from its flags.

A live run is bounded by its own work (:mod:`puasim.live.driver`): datagrams
it sends (a runaway ends the run), messages it handles and the rate it reads
(beyond those, datagrams are counted and dropped unread).  ``max_duration``
caps the wall time of the run itself: a scenario whose ``duration`` (plus the
grace for late replies) is longer, or a replay whose last request comes
later, stops at the cap and says so in its notes.  The defaults are the
driver's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["LiveBudgets"]


@dataclass(frozen=True, slots=True)
class LiveBudgets:
    """Budgets of one live run; ``None`` for ``max_duration`` means no cap."""

    #: datagrams the run may send before it is stopped as a runaway
    max_sent: int = 10_000
    #: received messages handled; later ones are dropped unread
    max_handled: int = 10_000
    #: received datagrams read per second (token bucket of one second)
    max_rate: float = 500.0
    #: seconds of wall time the run may last at most
    max_duration: float | None = None

    def __post_init__(self) -> None:
        for name in ("max_sent", "max_handled"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a whole number of 1 or more, got {value!r}")
        for name in ("max_rate", "max_duration"):
            value = getattr(self, name)
            if value is None and name == "max_duration":
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ValueError(f"{name} must be a number above 0, got {value!r}")

    def driver_kwargs(self) -> dict[str, Any]:
        """The :class:`~puasim.live.driver.LiveDriver` arguments these budgets set."""
        return {"max_sent": self.max_sent, "max_handled": self.max_handled, "max_rate": float(self.max_rate)}

    def cap_us(self, wanted_us: int) -> int:
        """``wanted_us`` of driver time, or less when ``max_duration`` is shorter."""
        if self.max_duration is None:
            return wanted_us
        return min(wanted_us, int(self.max_duration * 1_000_000))
