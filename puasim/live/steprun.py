"""What the two live runs of a scenario share while they carry out its steps.

:class:`StepRun` is the base of the PUA's run (:mod:`puasim.live.scenario`)
and the phones' (:mod:`puasim.live.phones`): notes in the trace under the
node ``scenario``, a step noted before it runs, a step the live run cannot do
skipped with a note saying what it needs, ``mark`` noted.
:func:`start_capture` starts the loopback capture both take, :func:`loaded`
reads the scenario file either is given.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from puasim.scenario.spec import Scenario
from puasim.trace.events import Note

if TYPE_CHECKING:
    from puasim.live.driver import LiveDriver
    from puasim.live.sniff import LoopbackCapture
    from puasim.scenario.spec import Step

__all__ = ["StepRun", "loaded", "start_capture"]


class StepRun:
    """Step bookkeeping of a live run: its ``driver`` and the texts of the steps it ``skipped``."""

    driver: LiveDriver
    skipped: list[str]

    def _note(self, level: str, text: str) -> None:
        self.driver.trace.add(self.driver.now(), "scenario", Note(level, text))

    def _skip(self, text: str) -> None:
        """Something of the scenario not run live: in the result and in the trace."""
        self.skipped.append(text)
        self._note("skipped", text)

    def _runs_live(self, step: Step, live: frozenset[str], needs: str) -> bool:
        """Note ``step`` in the trace; False when there is nothing more to do for it live: its
        action is not in ``live`` (skipped: it needs ``needs``), or it is a ``mark`` (noted)."""
        where = f"step {step.index} (line {step.line})"
        self._note("step", f"{where}: {step.action}")
        if step.action not in live:
            self._skip(f"{where}: {step.action} needs {needs}: skipped live")
            return False
        if step.action == "mark":
            self._note("mark", str(step.args))
            return False
        return True


def loaded(scn: Scenario | str | Path) -> Scenario:
    """``scn`` itself, or the scenario read from the file it names."""
    if isinstance(scn, Scenario):
        return scn
    from puasim.scenario.runner import load_scenario

    return load_scenario(scn)


def start_capture(ports: list[int], notes: list[str]) -> LoopbackCapture:
    """A running capture on ``lo`` of ``ports``; ``notes`` says when it filters in Python."""
    from puasim.live.sniff import LoopbackCapture

    sniffer = LoopbackCapture(ports)
    sniffer.start()
    if sniffer.python_filter:
        notes.append("capture: no BPF (libpcap missing?): Python-side filter used")
    return sniffer
