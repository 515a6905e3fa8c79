"""A bad scenario file fails before the run, naming file, line and field."""

from __future__ import annotations

import pytest

from puasim.cli import main
from puasim.scenario import ScenarioError, scenario_from_text

GOOD = """\
name: t
refs: ["§3.3"]
duration: 10
pua:
  params: {outbound_proxy: "sip:127.0.0.1:5060"}
steps:
  - {at: 0, do: publish, with: {pres_uri: "sip:a@127.0.0.1", expires: 60, body: "<x/>"}}
expect:
  - count: {match: {from: pua, method: PUBLISH}, equals: 1}
"""


def error_for(text: str) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        scenario_from_text(text, "f.yaml")
    return info.value


def test_good_document_loads():
    scn = scenario_from_text(GOOD, "f.yaml")
    assert scn.name == "t" and len(scn.steps) == 1


@pytest.mark.parametrize(
    "old, new, line, field, words",
    [
        ("expires: 60", "expires: soon", 7, "steps[0].with.expires", "integer"),
        ("do: publish", "do: publsh", 7, "steps[0].do", "unknown action"),
        ("{outbound_proxy", "{update_period: 3, outbound_proxy", 5, "pua.params.update_period", "must be 0 or > 5"),
        ("equals: 1", "equls: 1", 9, "expect[0].count.equls", "unknown field"),
        ("duration: 10", "duration: -1", 3, "duration", ">= 0"),
        ('refs: ["§3.3"]', "refs: []", 2, "refs", "sections"),
        ("method: PUBLISH}", "method: PUBLISH, save: 3}", 9, "expect[0].count.match.save", "variable"),
        ("at: 0,", "at: 99,", 7, "steps[0].at", "after the scenario's duration"),
    ],
)
def test_errors_name_line_and_field(old, new, line, field, words):
    err = error_for(GOOD.replace(old, new))
    assert (err.file, err.line, err.field) == ("f.yaml", line, field), str(err)
    assert words in err.problem
    assert str(err).startswith(f"f.yaml:{line}: {field}: ")


def test_yaml_syntax_error_names_the_line():
    err = error_for(GOOD.replace("steps:", "steps: [oops"))
    assert err.line is not None and "not valid YAML" in err.problem


def test_unknown_server_knob_and_fault():
    err = error_for(GOOD.replace("pua:\n", "server:\n  knobs: {max_expirs: 3}\npua:\n"))
    assert err.field == "server" and "max_expirs" in err.problem
    err = error_for(GOOD.replace("expect:", "  - {at: 1, do: server.fault, with: {kind: explode}}\nexpect:"))
    assert err.field == "steps[1].with.kind" and "explode" in err.problem


def test_cli_reports_invalid_files_and_exits_non_zero(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("expires: 60", "expires: soon"))
    assert main(["run", str(bad), "--no-write"]) == 1
    out = capsys.readouterr().out
    assert f"{bad}:7: steps[0].with.expires" in out
    assert main(["validate", str(bad)]) == 1
    assert main(["run", str(tmp_path / "missing_dir_xyz"), "--no-write"]) != 0
