"""The progress display: only on a terminal, only for long runs, never with --quiet; traces unchanged."""

from __future__ import annotations

import io
import json

import pytest

import puasim.progress as progress
from puasim.cli import main
from puasim.progress import RunProgress, wanted
from puasim.scenario.runner import ScenarioRun, load_scenario
from tests.scenario.pin_digests import PINS, ROOT

NAME = "scenarios/publish/412_timer_refresh_drops.yaml"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_shown_only_on_a_terminal_and_not_when_quiet():
    assert wanted(False, Terminal())
    assert not wanted(True, Terminal())
    assert not wanted(False, io.StringIO())


def test_the_bar_shows_virtual_time_requests_per_second_and_eta_without_changing_the_trace():
    scn = load_scenario(ROOT / NAME)
    screen = Terminal()
    with RunProgress(scn.duration, scn.name, delay=0, stream=screen, min_interval=0) as bar:
        result = ScenarioRun(scn).run(progress=bar, progress_every=5)
        done = bar.bar.n
    assert result.trace.digest() == json.loads(PINS.read_text())[NAME]
    text = screen.getvalue()
    total = round(scn.duration / 1e6)
    assert f"/{total} virtual s" in text and "req/s" in text and "<" in text  # elapsed<remaining
    assert done == total  # the last call (at the end of the run) reaches the total


def test_a_short_run_or_a_disabled_bar_draws_nothing():
    scn = load_scenario(ROOT / NAME)
    screen = Terminal()
    with RunProgress(scn.duration, scn.name, delay=60, stream=screen) as bar:
        ScenarioRun(scn).run(progress=bar, progress_every=5)
    assert screen.getvalue().strip() == ""
    off = RunProgress(scn.duration, enabled=False)
    assert off.bar is None
    off(ScenarioRun(scn).sim)  # a no-op
    off.close()


@pytest.mark.parametrize("quiet", [False, True])
def test_puasim_run_draws_the_bar_on_a_terminal_unless_quiet(quiet, monkeypatch, capsys):
    screen = Terminal()
    monkeypatch.setattr("sys.stderr", screen)
    monkeypatch.setattr(progress, "DELAY", 0.0)
    args = ["run", str(ROOT / NAME), "--no-write"] + (["--quiet"] if quiet else [])
    assert main(args) == 0
    assert ("virtual s" in screen.getvalue()) is not quiet


@pytest.mark.parametrize("quiet", [False, True])
def test_puasim_run_with_workers_counts_files_on_a_terminal_unless_quiet(quiet, monkeypatch, capsys):
    screen = Terminal()
    monkeypatch.setattr("sys.stderr", screen)
    monkeypatch.setattr(progress, "DELAY", 0.0)
    files = [str(ROOT / NAME), str(ROOT / "scenarios/publish/initial_publish.yaml")]
    args = ["run", "-j", "2", *files, "--no-write"] + (["--quiet"] if quiet else [])
    assert main(args) == 0
    text = screen.getvalue()
    assert ("scenarios:" in text and "/2 [" in text) is not quiet  # files done of 2
    assert "virtual s" not in text  # the workers draw no bar of their own
    out = capsys.readouterr().out
    assert "412_timer_refresh_drops" in out and "initial_publish" in out and "2 passed, 0 failed" in out


def test_the_files_bar_writes_lines_without_tearing_and_draws_nothing_when_off():
    screen, table = Terminal(), io.StringIO()
    with progress.FilesProgress(3, delay=0, stream=screen, min_interval=0) as bar:
        bar.update()
        bar.write("first line", table)
        bar.update()
    assert table.getvalue() == "first line\n" and "2/3" in screen.getvalue()
    off, quiet_screen = progress.FilesProgress(3, enabled=False, stream=screen), io.StringIO()
    off.write("plain", quiet_screen)
    off.update()
    off.close()
    assert quiet_screen.getvalue() == "plain\n" and off.bar is None
