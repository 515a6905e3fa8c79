"""The progress display of long runs: virtual time done of total, requests per second, ETA.

A :class:`RunProgress` is a driver-side hook (``Simulation.run(progress=...)``):
the kernel calls it between events every so many events; it reads the wall
clock here, never in a model, and only reads the simulation, so traces do not
change.  The bar is drawn by tqdm on standard error, only when that is a
terminal, only once a run has lasted ``delay`` seconds of wall time, and
never when ``quiet``.
"""

from __future__ import annotations

import sys
import time
from typing import IO, TYPE_CHECKING, Any

from puasim.effects import SECOND

if TYPE_CHECKING:
    from puasim.sim.simulation import Simulation

#: wall seconds a run must last before its bar appears
DELAY = 2.0


def wanted(quiet: bool = False, stream: IO[str] | None = None) -> bool:
    """Whether to show progress: not ``quiet`` and ``stream`` (stderr) is a terminal."""
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    return not quiet and bool(isatty and isatty())


class RunProgress:
    """A progress bar over ``total_us`` of virtual time, fed by ``Simulation.run``.

    The bar shows virtual seconds done of the total, the simulated requests
    per wall second and tqdm's ETA; it appears once the run has lasted
    ``delay`` wall seconds (default :data:`DELAY`) and is redrawn at most
    every ``min_interval`` seconds.  ``enabled=False`` makes every call a
    no-op (the bar is never created).
    """

    def __init__(
        self,
        total_us: int,
        label: str = "",
        enabled: bool = True,
        delay: float | None = None,
        stream: IO[str] | None = None,
        min_interval: float = 0.5,
    ) -> None:
        self.total_s = max(total_us, 0) / SECOND
        self.enabled = enabled
        self.started = time.perf_counter()
        self.bar: Any = None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(
                total=round(self.total_s, 3), desc=label, unit="s", unit_scale=False, leave=False,
                delay=DELAY if delay is None else delay, file=sys.stderr if stream is None else stream, dynamic_ncols=True, mininterval=min_interval,
                bar_format="{desc} {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} virtual s "
                "[{elapsed}<{remaining}{postfix}]",
            )

    def __call__(self, sim: Simulation) -> None:
        if self.bar is None:
            return
        wall = time.perf_counter() - self.started
        done = min(sim.now / SECOND, self.total_s)
        rate = sim.network.requests_sent / wall if wall > 0 else 0.0
        self.bar.set_postfix_str(f"{rate:,.0f} req/s", refresh=False)
        self.bar.update(round(done - self.bar.n, 3))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self) -> RunProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FilesProgress:
    """A progress bar over the files of ``puasim run -j N``: files done of total.

    The runs happen in worker processes, which show no bar of their own;
    this one lives in the parent, appears after ``delay`` wall seconds, and
    :meth:`write` prints a table line without tearing the bar.
    """

    def __init__(self, total: int, enabled: bool = True, delay: float | None = None,
                 stream: IO[str] | None = None, min_interval: float = 0.5) -> None:
        self.bar: Any = None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(
                total=total, desc="scenarios", unit="file", leave=False, delay=DELAY if delay is None else delay,
                file=sys.stderr if stream is None else stream, dynamic_ncols=True, mininterval=min_interval,
            )

    def write(self, text: str, file: IO[str]) -> None:
        if self.bar is None:
            print(text, file=file, flush=True)
        else:
            self.bar.write(text, file=file)

    def update(self) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self) -> FilesProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["DELAY", "FilesProgress", "RunProgress", "wanted"]
