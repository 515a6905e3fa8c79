"""The suite benchmark stays runnable: it finds the first 48 files and times this tree on them."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_run_suite.py"


def load_bench():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("bench_run_suite", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_first_48_files_are_scenario_files() -> None:
    files = load_bench().first_files()
    assert len(files) == 48 and all(f.startswith("scenarios/") and f.endswith(".yaml") for f in files)
    assert len(set(files)) == 48


def test_this_tree_is_timed_both_ways(capsys: pytest.CaptureFixture[str]) -> None:
    bench = load_bench()
    bench.first_files = lambda count=48: ["scenarios/publish/initial_publish.yaml", "scenarios/publish/unpublish.yaml"]
    bench.main(["--no-baseline", "--rounds", "1", "--sets", "first48", "--jobs", "2"])
    out = capsys.readouterr().out
    assert "first48: 2 files" in out and "this tree -j 1" in out and "this tree -j 2" in out and "ratio" not in out


def test_an_unknown_set_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        load_bench().main(["--no-baseline", "--sets", "nope"])
    assert exc.value.code == 2 and "nope" in capsys.readouterr().err
