"""puasim compare: the comparison frame, the terminal table, the HTML section and the command."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from puasim.cli import main
from puasim.report.compare import (
    METRIC_ROWS,
    compare_frame,
    first_divergence,
    format_table,
    write_compare_report,
)
from puasim.report.frames import from_trace
from puasim.scenario.runner import load_scenario, run_scenario

REPO = Path(__file__).resolve().parents[2]
RACE = REPO / "scenarios" / "publish" / "publish_before_first_200_issue21.yaml"


def _runs(path: Path, profiles: list[str]):
    scn = load_scenario(path)
    out = {}
    for p in profiles:
        variant = dataclasses.replace(scn, pua_config=dataclasses.replace(scn.pua_config, profile=p))
        out[p] = from_trace(run_scenario(variant).trace)
    return out


@pytest.fixture(scope="module")
def race():
    return _runs(RACE, ["kamailio-5.6", "fixed"])


def test_frame_shows_the_b8_race_and_its_repair(race):
    frame = compare_frame(race).set_index("metric")
    assert list(frame.index) == [label for label, _ in METRIC_ROWS]
    assert frame.loc["PUBLISH initial", "kamailio-5.6"] == 2  # two server publications (B8)
    assert frame.loc["PUBLISH initial", "fixed"] == 1
    assert frame.loc["PUBLISH modify", "fixed"] == 1
    assert frame.loc["gap stale (s)", "kamailio-5.6"] > 3000  # the stale publication lives on
    assert frame.loc["gap stale (s)", "fixed"] < 1
    assert frame.loc["PUBLISH initial", "differs"] and not frame.loc["SUBSCRIBE sent", "differs"]


def test_same_profile_twice_differs_nowhere(race):
    frame = compare_frame({"a": race["fixed"], "b": race["fixed"]})
    assert not frame["differs"].any()
    div = first_divergence({"a": race["fixed"], "b": race["fixed"]})
    assert list(div["index"]) == [-1]


def test_first_divergence_names_the_request(race):
    div = first_divergence(race)
    row = div.iloc[0]
    assert row["profile"] == "fixed" and row["index"] == 1
    assert "PUBLISH modify" in row["this"] and "PUBLISH initial" in row["baseline"]


def test_terminal_table_marks_differing_rows(race):
    text = format_table(compare_frame(race))
    lines = {line[2:].split("  ")[0].strip(): line for line in text.splitlines()[1:]}
    assert lines["PUBLISH initial"].startswith("* ")
    assert lines["SUBSCRIBE sent"].startswith("  ")
    assert "kamailio-5.6" in text.splitlines()[0] and "fixed" in text.splitlines()[0]


def test_html_section(race, tmp_path: Path):
    path = write_compare_report(race, tmp_path, title="race", verdicts={"fixed": "FAIL"})
    page = path.read_text()
    assert path.name == "compare.html" and "<h2>Profiles compared</h2>" in page
    assert "PUBLISH initial" in page and "First differing PUA request" in page


def test_command_prints_the_table_and_writes_the_page(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    rc = main(["compare", str(RACE), "--profiles", "kamailio-5.6,fixed,pjsua", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 0
    assert "* PUBLISH initial" in out and "pjsua" in out
    assert (tmp_path / "publish_before_first_200_issue21" / "compare.html").exists()


@pytest.mark.parametrize("bad", ["kamailio-5.6,nope", "fixed,fixed", ","])
def test_bad_profiles_exit_2(bad: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["compare", str(RACE), "--profiles", bad, "--no-write"]) == 2
    err = capsys.readouterr().err
    assert "--profiles" in err and len(err.strip().splitlines()) == 1


SUB_403 = REPO / "scenarios" / "profiles" / "pjsua_subscribe_403_refresh.yaml"
FOUR = ["kamailio-5.6", "fixed", "pjsua", "sipsimple"]


@pytest.fixture(scope="module")
def sub403():
    return _runs(SUB_403, FOUR)


def test_subscribe_scenario_shows_each_stacks_subscribe_policy(sub403):
    frame = compare_frame(sub403).set_index("metric")
    delay = frame.loc["re-subscribe delay median (s)"]
    assert delay["kamailio-5.6"] == 0 and delay["sipsimple"] == 0  # §4.6.1 and DidFail: at once
    assert 290 <= delay["pjsua"] <= 305  # PJSUA_PRES_TIMER
    assert delay["fixed"] > 0  # B6: the 403 keeps the dialog, only the later 481 re-subscribes
    assert frame.loc["re-subscribe delay median (s)", "differs"]
    assert frame.loc["SUBSCRIBE refresh", "pjsua"] == 1 and frame.loc["SUBSCRIBE refresh", "kamailio-5.6"] == 2
    assert frame.loc["SUBSCRIBE failed", "fixed"] == 2
    div = first_divergence(sub403).set_index("profile")
    assert "Expires=600" in div.loc["pjsua", "this"] and "Expires=3610" in div.loc["pjsua", "baseline"]
    assert "Expires=3600" in div.loc["sipsimple", "this"]


def test_compare_command_on_a_subscribe_scenario(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    rc = main(["compare", str(SUB_403), "--profiles", ",".join(FOUR), "--no-write"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "* re-subscribe delay median (s)" in out and "* SUBSCRIBE refresh" in out
    assert "pjsua: pass" in out and "kamailio-5.6: FAIL" in out
