"""The population: block and stat: expectations fail before the run, naming file, line and field."""

from __future__ import annotations

import pytest

from puasim.population import Exponential, Fixed, Population, PublishBehaviour, WatchBehaviour
from puasim.scenario import ScenarioError, scenario_from_text

GOOD = """\
name: t
refs: ["§3.3"]
duration: 60
population:
  users: 5
  arrival: {uniform: [0, 10]}
  publish: {expires: 600, modify: {exponential: 30}, via: {api: 1, rpc: 1}}
  watch: {count: 1, via: rpc}
expect:
  - stat: {metric: publish_requests, min: 5}
"""


def error_for(text: str) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        scenario_from_text(text, "f.yaml")
    return info.value


def test_good_block_becomes_a_population():
    scn = scenario_from_text(GOOD, "f.yaml")
    assert scn.populations == [
        Population(
            users=5,
            arrival=scn.populations[0].arrival,
            publish=PublishBehaviour(expires=Fixed(600), modify=Exponential(30), via={"api": 1, "rpc": 1}),
            watch=WatchBehaviour(via="rpc"),
        )
    ]


@pytest.mark.parametrize(
    "old, new, line, field, words",
    [
        ("users: 5", "users: many", 5, "population.users", "integer >= 1"),
        ("users: 5", "users: 5\n  registration: {interval: 3600}", 6, "population.registration", "calls it register"),
        ("users: 5", "users: 5\n  calls: {rate: 1}", 6, "population.calls.rate", "unknown field"),
        ("expires: 600,", "expires: 600, call_rate: 2,", 7, "population.publish.call_rate", "calls.rate_per_hour"),
        ("users: 5", "users: 5\n  registration_interval: 600", 6, "population.registration_interval", "register.expires"),
        ("users: 5", "users: 5\n  register: {expires: 0}", 6, "population.register.expires", ">= 1"),
        ("users: 5", "users: 5\n  register: {refresh: {fraction: 2}}", 6, "population.register.refresh.fraction",
         "between 0 and 1"),
        ("users: 5", "users: 5\n  register: {refresh: sometimes}", 6, "population.register.refresh", "the word none"),
        ("users: 5", "users: 5\n  register: {}\n  calls: {holding: 30}", 7, "population.calls",
         "missing interval (or rate_per_hour)"),
        ("users: 5", "users: 5\n  calls: {rate_per_hour: 2}", 6, "population.calls", "calls need register"),
        ("{api: 1, rpc: 1}", "usrloc", 7, "population.publish.via", "add register"),
        ("users: 5", "users: 5\n  register: {}", 6, "population.register", "needs a node: block"),
        ("users: 5", "usres: 5", 5, "population.usres", "unknown field"),
        ("users: 5", "users: 5\n  name: bé", 6, "population.name", "letters, digits"),
        ("users: 5", "users: 5\n  domain: 'a b'", 6, "population.domain", "not a SIP URI"),
        ("{uniform: [0, 10]}", "{uniform: [0, x]}", 6, "population.arrival.uniform[1]", "finite number"),
        ("{exponential: 30}", "{exponential: -30}", 7, "population.publish.modify.exponential", "mean > 0"),
        ("modify: {exponential: 30}", "modify: 0", 7, "population.publish.modify", "must be > 0"),
        ("{api: 1, rpc: 1}", "{api: 1, sms: 1}", 7, "population.publish.via.sms", "unknown door"),
        ("via: rpc", "via: rpc, event: presense", 8, "population.watch.event", "unknown event"),
        ("via: rpc", "via: rpc, source: NOPE", 8, "population.watch.source", "unknown source flag"),
        ("  watch: {count: 1, via: rpc}\n", "  churn: {rate_per_hour: 0}\n", 8, "population.churn.rate_per_hour", "> 0"),
        ("  watch: {count: 1, via: rpc}\n", "  crash: {recover: 5}\n", 8, "population.crash", "missing after"),
        ("metric: publish_requests,", "metric: publish_requets,", 10, "expect[0].stat.metric", "unknown metric"),
        ("min: 5}", "between: [5, 1]}", 10, "expect[0].stat.between", "low <= high"),
        ("min: 5}", "percentile: 50, min: 5}", 10, "expect[0].stat.percentile", "one number, not a series"),
        ("metric: publish_requests, min: 5", "metric: latency_ms, min: 5", 10, "expect[0].stat", "percentile"),
        ("metric: publish_requests, min: 5", "metric: latency_ms, agg: mode, min: 5", 10, "expect[0].stat.agg", "agg must be"),
        ("min: 5}", "state: none, min: 5}", 10, "expect[0].stat.state", "takes no state filter"),
        ("min: 5}", "per_second: true}", 10, "expect[0].stat", "give equals, min, max or between"),
        ("metric: publish_requests, min: 5", "metric: lead_s, percentile: 5, per_second: true, min: 5", 10,
         "expect[0].stat.per_second", "not a count"),
    ],
)
def test_errors_name_file_line_and_field(old, new, line, field, words):
    assert old in GOOD
    err = error_for(GOOD.replace(old, new, 1))
    assert (err.file, err.line, err.field) == ("f.yaml", line, field), str(err)
    assert words in err.problem, err.problem


EDGE = """\
name: t
refs: ["§9.2"]
duration: 60
pua:
  address: 127.0.0.1:5080
node:
  modules: {registrar: {min_expires: 0}}
phones:
  - {name: desk2, aor: "sip:desk2@127.0.0.1", address: 127.0.0.1:5090}
population:
  name: @NAME@
  users: 5
  register: {expires: 600}
  publish: {via: usrloc}
expect:
  - count: {match: {method: REGISTER}, min: 1}
"""


def test_usrloc_publishing_needs_pua_usrloc_on_the_node():
    err = error_for(EDGE.replace("@NAME@", "team"))
    assert (err.line, err.field) == (14, "population.publish.via"), str(err)
    assert "pua_usrloc" in err.problem


def test_population_users_must_not_clash_with_phones():
    text = EDGE.replace("@NAME@", "desk").replace(
        "registrar: {min_expires: 0}", "registrar: {}, pua_usrloc: {default_domain: 127.0.0.1}")
    err = error_for(text)
    assert err.field == "population.name" and "desk2" in err.problem, str(err)
    scn = scenario_from_text(text.replace("desk2", "alice"), "f.yaml")
    assert scn.populations[0].register is not None


def test_groups_need_distinct_names():
    text = """\
name: t
refs: ["§3.3"]
duration: 60
population:
  - {users: 2, publish: {}}
  - {users: 2, name: desk, publish: {}}
  - {users: 2, publish: {}}
expect:
  - stat: {metric: publish_requests, min: 5}
"""
    err = error_for(text)
    assert (err.line, err.field) == (7, "population[2].name") and "already used by group 0" in err.problem
    assert len(scenario_from_text(text.replace("  - {users: 2, publish: {}}\nexpect", "expect"), "f.yaml").populations) == 2
