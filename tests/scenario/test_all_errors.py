"""Every error of a scenario file is reported in one pass, not only the first."""

from __future__ import annotations

import pytest

from puasim.cli import main
from puasim.scenario import ScenarioError, scenario_from_text

THREE_ERRORS = """\
name: t
refs: ["§3.3"]
duration: 10
seed: lots
pua:
  params: {outbound_proxy: "sip:127.0.0.1:5060"}
steps:
  - {at: 0, do: publish, with: {pres_uri: "sip:a@127.0.0.1", expires: soon, body: "<x/>"}}
  - {at: 1, do: publsh}
expect:
  - count: {match: {from: pua, method: PUBLISH}, equls: 1}
  - absent: {from: pua, method: SUBSCRIBE}
"""


def test_all_independent_errors_are_reported():
    with pytest.raises(ScenarioError) as info:
        scenario_from_text(THREE_ERRORS, "f.yaml")
    found = [(e.line, e.field) for e in info.value.errors]
    assert found == [
        (4, "seed"),
        (8, "steps[0].with.expires"),
        (9, "steps[1].do"),
        (11, "expect[0].count.equls"),
    ]
    lines = str(info.value).splitlines()
    assert len(lines) == 4 and lines[0].startswith("f.yaml:4: seed:")


def test_a_single_error_reads_as_before():
    text = THREE_ERRORS.replace("seed: lots\n", "").replace("do: publsh", "do: mark").replace("equls", "equals")
    with pytest.raises(ScenarioError) as info:
        scenario_from_text(text, "f.yaml")
    assert len(info.value.errors) == 1 and str(info.value).count("\n") == 0


def test_validate_prints_every_error(tmp_path, capsys):
    f = tmp_path / "bad.yaml"
    f.write_text(THREE_ERRORS)
    assert main(["validate", str(f)]) == 1
    out = capsys.readouterr().out
    for field in ("seed", "steps[0].with.expires", "steps[1].do", "expect[0].count.equls"):
        assert f"{f}:" in out and f": {field}:" in out
