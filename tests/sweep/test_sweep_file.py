"""Sweep files: grid or cases, seeds, metrics; errors name file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from puasim.scenario.loader import ScenarioError
from puasim.sweep.overrides import OverrideError
from puasim.sweep.plan import is_sweep_file, load_sweep, plan_runs


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(text)
    return path


def test_a_grid(tmp_path: Path, base: Path):
    path = _write(tmp_path, "base: tiny.yaml\ngrid:\n  update_period: [30, 60]\n  users: [2, 4, 6]\nseeds: 1-3\n"
                            "metrics: [requests, gap_none_s]\n")
    sweep = load_sweep(path)
    assert is_sweep_file(path) and not is_sweep_file(base)
    assert sweep.names == ("update_period", "users") and len(sweep.cases) == 6 and sweep.seeds == (1, 2, 3)
    assert sweep.metrics == ("requests", "gap_none_s")
    runs = plan_runs(sweep)
    assert len(runs) == 18 and [r.index for r in runs] == list(range(18))
    assert len({r.run_id for r in runs}) == 18
    assert [r.run_id for r in plan_runs(load_sweep(path))] == [r.run_id for r in runs], "keys are stable"


def test_cases_and_default_seed(tmp_path: Path, base: Path):
    sweep = load_sweep(_write(tmp_path, "base: tiny.yaml\ncases:\n  - {users: 2, loss: 0}\n  - {users: 5, loss: 0.1}\n"))
    assert sweep.names == ("users", "loss") and sweep.cases == ((2, 0), (5, 0.1)) and sweep.seeds == (1,)
    assert len(sweep.metrics) > 20


@pytest.mark.parametrize(("text", "where"), [
    ("base: tiny.yaml\ngrid: {update_period: [30]}\nbogus: 1\n", "sweep.yaml:3: bogus: unknown field"),
    ("base: nothere.yaml\n", "sweep.yaml:1: base: no such scenario file"),
    ("base: tiny.yaml\ngrid:\n  update_period: 30\n", "sweep.yaml:3: grid.update_period: expected a non-empty list"),
    ("base: tiny.yaml\nseeds: 9-1\n", "sweep.yaml:2: seeds: seed range '9-1' runs backwards"),
    ("base: tiny.yaml\nmetrics: [requests, nope]\n", "sweep.yaml:2: metrics[1]: unknown metric 'nope'"),
    ("base: tiny.yaml\ncases:\n  - {users: 2}\n  - {loss: 0}\n", "sweep.yaml:3: cases[0]: every case sets the same names; this one lacks loss"),
])
def test_file_errors(tmp_path: Path, base: Path, text, where):
    with pytest.raises(ScenarioError) as exc:
        load_sweep(_write(tmp_path, text))
    assert str(exc.value).startswith(str(tmp_path / where)), str(exc.value)


@pytest.mark.parametrize(("text", "where"), [
    ("base: tiny.yaml\ngrid:\n  update_period: [30]\n  nope: [1]\n", "sweep.yaml:4: grid.nope: unknown override 'nope'"),
    ("base: tiny.yaml\ngrid:\n  users: [3, -2]\n", "sweep.yaml:3: grid.users: users=-2: users must be an integer >= 1"),
    ("base: tiny.yaml\ncases:\n  - {update_period: x}\n",
     "sweep.yaml:3: cases[0].update_period: update_period='x': must be an integer"),
    ("base: tiny.yaml\ngrid:\n  update_period: [30]\n  pua.params.update_period: [40]\n",
     "sweep.yaml:4: grid.pua.params.update_period: 'pua.params.update_period' sets pua.params.update_period"),
])
def test_override_errors_name_the_sweep_file_line(tmp_path: Path, base: Path, text, where):
    with pytest.raises(OverrideError) as exc:
        load_sweep(_write(tmp_path, text))
    assert str(exc.value).startswith(str(tmp_path / where)), str(exc.value)


def test_a_bad_base_scenario_names_its_own_line(tmp_path: Path, base: Path):
    base.write_text(base.read_text().replace("duration: 30", "duration: 30\nbogus: 1"))
    with pytest.raises(ScenarioError, match=r"tiny.yaml:5: bogus: unknown field"):
        load_sweep(_write(tmp_path, "base: tiny.yaml\n"))


@pytest.mark.parametrize("path", sorted((Path(__file__).resolve().parents[2] / "sweeps").glob("*.yaml")),
                         ids=lambda p: p.stem)
def test_the_shipped_sweep_files_are_valid(path: Path):
    sweep = load_sweep(path)
    assert len(plan_runs(sweep)) >= 2
