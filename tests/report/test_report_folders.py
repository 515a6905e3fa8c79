"""Report folders come from a trace's scenario name, text that is not trusted as a path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from puasim.report.batch import write_reports
from puasim.scenario.runner import run_scenario
from puasim.trace.codec import write_jsonl
from puasim.trace.filenames import inside, safe_name, unique_names

REPO = Path(__file__).resolve().parents[2]
SCENARIO = REPO / "scenarios" / "publish" / "initial_publish.yaml"


def _trace_named(path: Path, scenario: str) -> Path:
    result = run_scenario(SCENARIO)
    result.trace.meta["scenario"] = scenario
    write_jsonl(result.trace, path)
    return path


def test_a_hostile_scenario_name_writes_inside_out(tmp_path: Path) -> None:
    run = tmp_path / "run" / "traces"
    run.mkdir(parents=True)
    _trace_named(run / "evil.jsonl", "../../x")
    _trace_named(run / "dots.jsonl", "..")
    _trace_named(run / "twin.jsonl", "../../x")  # the same folder name: made unique
    out = tmp_path / "a" / "b" / "out"
    entries = write_reports(run, out, jobs=1, write_data=False)
    assert not (tmp_path / "a" / "x").exists() and not (tmp_path / "x").exists()
    reports = [Path(e["report"]) for e in entries]
    assert all(r.is_file() and r.parent.parent == out for r in reports), reports
    # files in sorted order: dots, evil, twin
    assert [r.parent.name for r in reports] == ["dots", "_.._x", "_.._x-2"]
    index = (out / "index.html").read_text()
    assert "../../x/" not in index and 'href="../' not in index


def test_safe_name() -> None:
    assert safe_name("initial_publish") == "initial_publish"
    assert safe_name("a/b c") == "a_b_c"
    assert safe_name("../../x") == "_.._x"
    assert safe_name("..", fallback="stem") == "stem"
    assert safe_name("", fallback="/") == "scenario"
    assert len(safe_name("x" * 500)) == 120
    assert unique_names(["a", "A", "a", "b"]) == ["a", "A-2", "a-3", "b"]


@pytest.mark.parametrize("bad", ["../x", "a/b", "..", ""])
def test_inside_refuses_what_is_not_a_plain_name(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError):
        inside(tmp_path, bad)


def test_meta_that_is_not_text(tmp_path: Path) -> None:
    path = _trace_named(tmp_path / "t.jsonl", "x")
    lines = path.read_text().splitlines()
    head = json.loads(lines[0])
    head["meta"]["scenario"] = {"not": "text"}
    path.write_text("\n".join([json.dumps(head), *lines[1:]]) + "\n")
    (entry,) = write_reports(path, tmp_path / "out", jobs=1, write_data=False)
    assert Path(entry["report"]).parent.parent == tmp_path / "out"
