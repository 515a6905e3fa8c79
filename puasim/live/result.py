"""What a live run gives back: :class:`LiveResult`.

:func:`puasim.live.scenario.run_live` (``puasim live``) returns one;
:func:`puasim.live.phones.run_phones` (``puasim live --node``) returns a
:class:`~puasim.live.phones.PhonesResult`, the same with the phones' own
fields.  :meth:`LiveResult.of_run` fills in what every live run derives the
same way: the verdict from the failures, the messages sent from the trace,
the wall time from the start.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from puasim.trace.events import MessageSent

if TYPE_CHECKING:
    from typing import Self

    from puasim.live.driver import LiveDriver
    from puasim.scenario.expect import Failure
    from puasim.trace.trace import Trace

__all__ = ["LiveResult", "run_error"]


@dataclass(slots=True)
class LiveResult:
    name: str
    passed: bool
    failures: list[Failure]
    skipped_steps: list[str]
    skipped_expectations: list[str]
    #: what the run's own sockets sent and received
    trace: Trace
    messages: int
    wall_time: float
    error: str | None = None
    capture: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return "pass" if self.passed else "FAIL"

    @classmethod
    def of_run(
        cls,
        name: str,
        trace: Trace,
        failures: list[Failure],
        *,
        skipped_steps: list[str],
        skipped_expectations: list[str],
        started: float,
        error: str | None,
        capture: str | Path | None,
        notes: list[str],
        **more: Any,
    ) -> Self:
        """The result of a run that started at ``started`` (``time.perf_counter()``) and ends now;
        ``more`` are the fields a subclass adds."""
        return cls(
            name=name,
            passed=not failures,
            failures=failures,
            skipped_steps=skipped_steps,
            skipped_expectations=skipped_expectations,
            trace=trace,
            messages=sum(1 for r in trace.records if type(r.event) is MessageSent),
            wall_time=time.perf_counter() - started,
            error=error,
            capture=None if capture is None else str(capture),
            notes=notes,
            **more,
        )


def run_error(driver: LiveDriver) -> str | None:
    """The error that stopped ``driver``'s run, as ``Type: text`` (None when it ran to its end)."""
    return None if driver.error is None else f"{type(driver.error).__name__}: {driver.error}"
