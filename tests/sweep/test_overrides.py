"""Override names resolve to scenario fields; bad names and values name where they were given."""

from __future__ import annotations

from pathlib import Path

import pytest

from puasim.scenario.loader import load_file
from puasim.sweep.overrides import OverrideError, apply, resolve
from puasim.sweep.plan import parse_set, sweep_from_args


@pytest.mark.parametrize(("name", "path"), [
    ("update_period", ("pua", "params", "update_period")),
    ("default_expires", ("pua", "params", "default_expires")),  # the pua's wins over the server knob
    ("server.knobs.default_expires", ("server", "knobs", "default_expires")),
    ("max_expires", ("server", "knobs", "max_expires")),
    ("loss", ("network", "loss")),
    ("users", ("population", "users")),
    ("duration", ("duration",)),
    ("population.publish.expires", ("population", "publish", "expires")),
])
def test_names(base: Path, name, path):
    assert resolve(name, load_file(base).data, "--set").path == path


@pytest.mark.parametrize(("name", "problem"), [
    ("bogus", "unknown override 'bogus'"),
    ("seed", "cannot be overridden: the seeds are the sweep's own axis"),
    ("nothere.x", "unknown top-level field 'nothere'"),
    ("pua..x", "not a field path"),
])
def test_bad_names(base: Path, name, problem):
    with pytest.raises(OverrideError, match=problem):
        resolve(name, load_file(base).data, "--set x")


def test_users_needs_a_population(tmp_path: Path):
    data = {"name": "x"}
    with pytest.raises(OverrideError, match="no population block"):
        resolve("users", data, "--set users")


def test_values_reach_the_scenario(base: Path):
    doc = load_file(base)
    ovs = tuple(resolve(n, doc.data, "--set") for n in ("update_period", "users", "loss", "max_expires"))
    scn = apply(doc, ovs, (30, 7, 0.25, 1200), seed=9)
    assert (scn.pua_config.update_period, scn.populations[0].users, scn.link.loss, scn.seed) == (30, 7, 0.25, 9)
    assert scn.server_knobs == {"max_expires": 1200}
    assert doc.data["pua"]["params"]["update_period"] == 60, "the base document is not changed"


@pytest.mark.parametrize(("given", "problem"), [
    ("update_period=abc", "--set update_period: update_period='abc': must be an integer"),
    ("users=0", "--set users: users=0: users must be an integer >= 1"),
    ("loss=2", "--set loss: loss=2: must be a rate in 0..1"),
    ("max_expires=x", "--set max_expires: max_expires='x'"),
])
def test_bad_values_are_found_before_any_run(base: Path, given, problem):
    with pytest.raises(OverrideError) as exc:
        sweep_from_args(base, [parse_set(given)], (1,))
    assert str(exc.value).startswith(problem), str(exc.value)
    assert f"of {base}" in str(exc.value)


def test_parse_set_reads_yaml_scalars():
    assert parse_set("update_period=30,60") == ("update_period", [30, 60])
    assert parse_set("loss=0,0.1") == ("loss", [0, 0.1])
    assert parse_set("profile=kamailio") == ("profile", ["kamailio"])
    for bad in ("update_period", "=3", "x=1,,2"):
        with pytest.raises(ValueError):
            parse_set(bad)
