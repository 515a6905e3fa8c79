"""Running sweeps: the same table whichever executor, failed runs as rows, resuming, the summary."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from puasim.scenario.runner import run_scenario
from puasim.sweep import worker
from puasim.sweep.executors import run_pool
from puasim.sweep.plan import parse_set, plan_runs, sweep_from_args
from puasim.sweep.results import JOURNAL, columns
from puasim.sweep.run import run_sweep
from puasim.sweep.worker import Task, execute


def _sweep(base: Path, seeds=(1, 2)):
    return sweep_from_args(base, [parse_set("update_period=30,60"), parse_set("users=2,4")], seeds)


def test_rows_hold_overrides_seed_digest_and_every_metric(tmp_path: Path, base: Path):
    sweep = _sweep(base)
    out = run_sweep(sweep, tmp_path / "out", executor="serial")
    table = pd.read_parquet(out.parquet)
    assert list(table.columns) == columns(sweep)
    assert len(table) == 8 and list(table["run"]) == list(range(8)) and out.ran == 8 and out.skipped == 0
    assert list(table["update_period"]) == [30] * 4 + [60] * 4 and list(table["seed"]) == [1, 2] * 4
    assert set(table["verdict"]) == {"pass"} and (table["trace_level"] == "metrics").all()
    # a row is what running the same scenario by hand gives: digest and metrics
    from puasim.sweep.overrides import apply

    by_hand = run_scenario(apply(sweep.base_doc(), sweep.overrides, (60, 4), 2), trace_level="metrics")
    row = table[(table["update_period"] == 60) & (table["users"] == 4) & (table["seed"] == 2)].iloc[0]
    assert row["digest"] == by_hand.trace.digest()
    summary = by_hand.trace.observer.summary()
    for m in sweep.metrics:
        assert row[m] == pytest.approx(summary[m], nan_ok=True)
    assert len(set(table["digest"])) == 8, "seeds and overrides change the run"
    assert (out.html is not None) and "<img" in out.html.read_text()


def test_serial_and_pool_write_the_same_bytes(tmp_path: Path, base: Path):
    sweep = _sweep(base)
    a = run_sweep(sweep, tmp_path / "serial", executor="serial", html=False)
    b = run_sweep(sweep, tmp_path / "pool", executor="pool", workers=2, html=False)
    assert a.parquet.read_bytes() == b.parquet.read_bytes()


def test_a_run_that_raises_is_a_row_with_its_error(tmp_path: Path, base: Path, monkeypatch):
    from puasim.scenario import runner

    real = runner.ScenarioRun.run

    def run(self, *args, **kwargs):
        if self.scn.seed == 2:
            raise RuntimeError("model blew up")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(runner.ScenarioRun, "run", run)
    out = run_sweep(_sweep(base), tmp_path / "out", executor="serial", html=True)
    bad = out.table[out.table["seed"] == 2]
    assert len(out.table) == 8 and out.failed == 4
    assert set(bad["verdict"]) == {"error"} and set(bad["error"]) == {"RuntimeError: model blew up"}
    assert bad["requests"].isna().all() and set(out.table[out.table["seed"] == 1]["verdict"]) == {"pass"}
    assert "model blew up" in out.html.read_text()


def _dies_on_index_1(task: Task) -> dict:
    if task.index == 1:
        os._exit(3)
    return execute(task)


def test_a_worker_that_dies_costs_rows_not_the_sweep(base: Path):
    sweep = _sweep(base, seeds=(1,))
    tasks = [Task(sweep, r.index, r.run_id, r.values, r.seed) for r in plan_runs(sweep)]
    rows: list[dict] = []
    run_pool(tasks, rows.append, workers=1, work=_dies_on_index_1)
    by_index = {r["run"]: r for r in rows}
    assert sorted(by_index) == [0, 1, 2, 3]
    assert by_index[1]["verdict"] == "error" and "worker process died" in by_index[1]["error"]
    assert all(by_index[i]["verdict"] == "pass" for i in (0, 2, 3)), "one worker in flight: only its run is lost"


def test_an_interrupted_sweep_resumes_and_ends_with_the_same_table(tmp_path: Path, base: Path, monkeypatch):
    sweep = _sweep(base)
    clean = run_sweep(sweep, tmp_path / "clean", executor="serial", html=False)
    calls = {"n": 0}

    def interrupt_third(task: Task) -> dict:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return execute(task)

    monkeypatch.setattr("puasim.sweep.executors.execute", interrupt_third)
    part = run_sweep(sweep, tmp_path / "resumed", executor="serial", html=False)
    assert part.interrupted and len(part.table) == 2
    assert len((tmp_path / "resumed" / JOURNAL).read_text().splitlines()) == 2
    monkeypatch.undo()
    rest = run_sweep(sweep, tmp_path / "resumed", executor="pool", workers=2, html=False)
    assert (rest.ran, rest.skipped, rest.interrupted) == (6, 2, False)
    assert rest.parquet.read_bytes() == clean.parquet.read_bytes()
    again = run_sweep(sweep, tmp_path / "resumed", executor="serial", html=False)
    assert (again.ran, again.skipped) == (0, 8)


def test_retry_failed_runs_the_error_rows_again(tmp_path: Path, base: Path, monkeypatch):
    sweep = _sweep(base, seeds=(1,))

    def fail_all(task: Task) -> dict:
        return worker.error_row(task, "RuntimeError: flaky")

    monkeypatch.setattr("puasim.sweep.executors.execute", fail_all)
    first = run_sweep(sweep, tmp_path / "out", executor="serial", html=False)
    assert first.failed == 4
    monkeypatch.undo()
    assert run_sweep(sweep, tmp_path / "out", executor="serial", html=False).ran == 0
    retried = run_sweep(sweep, tmp_path / "out", executor="serial", html=False, retry_failed=True)
    assert (retried.ran, retried.failed) == (4, 0)


def test_a_changed_base_scenario_is_a_new_sweep(tmp_path: Path, base: Path):
    run_sweep(_sweep(base, seeds=(1,)), tmp_path / "out", executor="serial", html=False)
    base.write_text(base.read_text().replace("duration: 30", "duration: 31"))
    again = run_sweep(_sweep(base, seeds=(1,)), tmp_path / "out", executor="serial", html=False)
    assert (again.ran, len(again.table)) == (4, 4)


def test_the_progress_bar_counts_runs_and_failures():
    import io

    from puasim.sweep.progress import SweepProgress

    stream = io.StringIO()
    bar = SweepProgress(4, done=1, enabled=True, stream=stream)
    bar.update({"verdict": "pass"})
    bar.update({"verdict": "error"})
    text = stream.getvalue()
    bar.close()
    assert "3/4 runs" in stream.getvalue() and "1 failed" in stream.getvalue(), text
    quiet = SweepProgress(4, enabled=False)
    quiet.update({"verdict": "error"})
    assert quiet.bar is None and quiet.failed == 1


def test_a_run_that_faults_half_way_keeps_its_digest_and_metrics_up_to_the_fault(tmp_path: Path, base: Path, monkeypatch):
    from puasim.sim.simulation import Simulation

    real = Simulation.run

    def half_then_fault(self, until=None, **kwargs):
        real(self, until=until // 2, **kwargs)
        raise RuntimeError("fault at half time")

    monkeypatch.setattr(Simulation, "run", half_then_fault)
    sweep = sweep_from_args(base, [], (1,))
    row = run_sweep(sweep, tmp_path / "out", executor="serial", html=False).table.iloc[0]
    assert row["verdict"] == "error" and row["error"] == "RuntimeError: fault at half time"
    assert row["digest"] != "" and row["virtual_time_s"] == 15.0 and row["requests"] >= 1


def test_ctrl_c_while_a_row_is_written_counts_it_once_everywhere(tmp_path: Path, base: Path, monkeypatch):
    """Ctrl-C landing while a finished run's row is being written (a real SIGINT to this process)
    is held until the row is in the journal, the table and the count: the three agree."""
    import signal

    from puasim.sweep import results

    real_write = results.Journal.write
    calls = {"n": 0}

    def write_then_ctrl_c(self, row):  # type: ignore[no-untyped-def]
        out = real_write(self, row)
        calls["n"] += 1
        if calls["n"] == 2:
            os.kill(os.getpid(), signal.SIGINT)
            calls["after"] = True  # Python code after the signal: where an interrupt would land
        return out

    monkeypatch.setattr(results.Journal, "write", write_then_ctrl_c)
    part = run_sweep(_sweep(base), tmp_path / "out", executor="serial", html=False)
    journal = (tmp_path / "out" / JOURNAL).read_text().splitlines()
    assert part.interrupted and calls.get("after")
    assert part.ran == len(part.table) == len(journal) == 2
