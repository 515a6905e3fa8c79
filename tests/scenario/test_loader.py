"""The scenario loader does bounded work for every input and reads each file once."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from puasim.scenario import ScenarioError, scenario_from_text
from puasim.scenario import loader as loader_mod
from puasim.scenario.loader import MAX_DEPTH, MAX_FILE_BYTES, MAX_NODES, load_file, load_text
from puasim.scenario.runner import discover

from .test_validation import GOOD

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
LOADERS = [yaml.SafeLoader] + ([yaml.CSafeLoader] if hasattr(yaml, "CSafeLoader") else [])


def error_for(text: str) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        scenario_from_text(text, "f.yaml")
    return info.value


def laughs(levels: int) -> str:
    """Anchors of nine aliases each: 9**levels values once expanded, a few hundred bytes."""
    out = ["l0: &l0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        out.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]")
    return "\n".join(out) + "\n"


def test_alias_expansion_is_bounded():
    # 9**6 = 531441 values from a 300-byte prelude; as a scenario's name it
    # would validate after expanding every one of them.
    text = GOOD.replace("name: t\n", "name:\n" + "".join(f"  {row}\n" for row in laughs(6).splitlines()))
    assert len(text) < 1000
    err = error_for(text)
    assert f"more than {MAX_NODES} values once aliases are expanded" in err.problem
    assert err.line is not None and err.field.startswith("name.l5")


def test_small_aliases_still_work_and_lines_point_at_the_anchor():
    text = GOOD.replace(
        "expect:\n  - count: {match: {from: pua, method: PUBLISH}, equals: 1}\n",
        "expect:\n  - count: &c {match: {from: pua, method: PUBLISH}, equals: 1}\n  - count: *c\n",
    )
    scn = scenario_from_text(text, "f.yaml")
    assert [e[1] for e in scn.expectations] == [scn.expectations[0][1]] * 2
    bad = text.replace("equals: 1}", "equls: 1}")
    err = error_for(bad)
    assert (err.line, err.field) == (9, "expect[0].count.equls")


def test_recursive_alias_is_an_error_not_a_recursion_error():
    err = error_for(GOOD + "description: &a [*a]\n")
    assert (err.line, err.field) == (10, "description[0]")
    assert "recursive" in err.problem


@pytest.mark.parametrize("size", [MAX_DEPTH + 1, 50_000])
def test_deep_nesting_is_an_error_not_a_recursion_error(size):
    err = error_for(GOOD + "description: " + "[" * size + "]" * size + "\n")
    assert err.line == 10 and f"nested more than {MAX_DEPTH} levels" in err.problem


def test_merge_keys_tags_and_second_documents_are_refused():
    assert "merge keys" in error_for(GOOD + "network: {<<: {loss: 0}}\n").problem
    assert "unsupported YAML tag" in error_for(GOOD + "description: !!python/name:os.system x\n").problem
    assert "unsupported YAML tag" in error_for(GOOD + "description: !!set {a: null}\n").problem
    assert "one YAML document" in error_for(GOOD + "---\n" + GOOD).problem
    err = error_for(GOOD + "? [a, b]\n: 1\n")
    assert err.line == 10 and "plain scalar" in err.problem


def test_five_thousand_digit_integer_is_a_field_error():
    err = error_for(GOOD.replace("expires: 60", "expires: " + "9" * 5000))
    assert (err.line, err.field) == (7, "steps[0].with.expires")


def test_oversized_file_is_refused_without_reading_it_all(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text(GOOD + "#" * MAX_FILE_BYTES)
    with pytest.raises(ScenarioError, match="larger than"):
        load_file(big)


@pytest.mark.parametrize("loader", LOADERS, ids=lambda c: c.__name__)
def test_both_parsers_give_the_same_values_and_lines(loader, monkeypatch):
    files = discover([SCENARIOS])
    assert len(files) > 10
    expected = {f: (yaml.load(f.read_text(), Loader=yaml.SafeLoader)) for f in files}
    monkeypatch.setattr(loader_mod, "LOADER", loader)
    for f in files:
        doc = load_file(f)
        assert doc.data == expected[f], f
        assert doc.line(("expect", 0)) is not None


def test_one_parse_per_file(monkeypatch):
    made = []

    class Counting(loader_mod.LOADER):  # type: ignore[name-defined,misc]
        def __init__(self, stream):
            made.append(1)
            super().__init__(stream)

    monkeypatch.setattr(loader_mod, "LOADER", Counting)
    load_text(GOOD)
    assert len(made) == 1
