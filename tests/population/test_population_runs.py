"""Populations in scenario runs: the Python door, determinism across processes, faults, verdicts."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from puasim.population import (
    CrashBehaviour,
    Exponential,
    Fixed,
    Population,
    PublishBehaviour,
    Uniform,
    WatchBehaviour,
    actions,
)
from puasim.scenario import run_scenario, scenario_from_text
from puasim.scenario.runner import ScenarioRun
from puasim.server.profiles import PROFILES
from puasim.sim.rng import Streams
from puasim.trace.events import ApiCalled, FaultInjected, MessageSent, Note

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted((ROOT / "scenarios" / "population").glob("*.yaml"))

BARE = """\
name: bare
refs: ["§3.3"]
seed: {seed}
duration: 60
{extra}
expect:
  - stat: {{metric: publish_requests, min: 1}}
"""


def bare(seed: int = 1, extra: str = "") -> object:
    return scenario_from_text(BARE.format(seed=seed, extra=extra))


def digest_in_subprocess(path: Path, seed_env: str) -> str:
    code = "import sys; from puasim.scenario import run_scenario; print(run_scenario(sys.argv[1]).trace.digest())"
    env = {**os.environ, "PYTHONHASHSEED": seed_env, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code, str(path)], env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_there_are_population_scenarios():
    # each file also runs twice in subprocesses below: keep the folder small
    assert 2 <= len(FILES) <= 8


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_population_scenarios_pass(path):
    result = run_scenario(path)
    assert result.passed, [f.message for f in result.failures]


@pytest.mark.parametrize("path", [p for p in FILES if p.stem == "steady_publishers"], ids=lambda p: p.stem)
def test_same_seed_same_digest_in_processes_with_different_hash_seeds(path):
    assert digest_in_subprocess(path, "0") == digest_in_subprocess(path, "4242") == run_scenario(path).trace.digest()


def test_different_seeds_give_different_traces():
    pop = [Population(users=8, arrival=Uniform(0, 20), publish=PublishBehaviour(modify=Exponential(10)))]
    a = run_scenario(dataclasses.replace(bare(1), populations=pop))
    b = run_scenario(dataclasses.replace(bare(2), populations=pop))
    again = run_scenario(dataclasses.replace(bare(1), populations=pop))
    assert a.trace.digest() == again.trace.digest() != b.trace.digest()


def test_python_populations_run_every_generated_action():
    pop = Population(
        users=6, name="py", arrival=Uniform(0, 5),
        publish=PublishBehaviour(modify=Exponential(15), via=(("api", 1.0), ("rpc", 1.0))),
        watch=WatchBehaviour(count=Fixed(2), via=(("api", 1.0),)),
    )
    scn = dataclasses.replace(bare(4), populations=[pop])  # seed 4: three users on each door
    result = run_scenario(scn)
    assert result.passed, [f.message for f in result.failures]
    planned = [a for a in actions(pop, Streams(4), scn.duration) if a.kind in ("publish", "subscribe")]
    calls = [r.event for r in result.trace.records if type(r.event) is ApiCalled]
    assert len(calls) == len(planned), "every publish and subscribe reached pua, through the API or pua_rpc"
    assert sum(1 for c in calls if c.name == "send_subscribe") == 12
    rpc_notes = [r for r in result.trace.records if type(r.event) is Note and r.event.level == "rpc"]
    assert rpc_notes and len(rpc_notes) < sum(1 for a in planned if a.kind == "publish")
    publishes = [r.event.message for r in result.trace.records if type(r.event) is MessageSent and r.node == "pua"
                 and getattr(r.event.message, "method", "") == "PUBLISH"]
    assert {m.uri for m in publishes} == {f"sip:py{i}@127.0.0.1" for i in range(1, 7)}


def test_domain_follows_the_server_address_and_watchers_the_pua():
    extra = "server: {address: '127.0.0.1:5080'}\npopulation: {users: 2, publish: {}, watch: {count: 1}}"
    result = run_scenario(bare(1, extra))
    sent = [r.event.message for r in result.trace.records if type(r.event) is MessageSent and r.node == "pua"]
    assert {m.uri for m in sent if getattr(m, "method", "") == "PUBLISH"} == {"sip:user1@127.0.0.1:5080", "sip:user2@127.0.0.1:5080"}
    assert {m.get("Contact") for m in sent if getattr(m, "method", "") == "SUBSCRIBE"} == {
        "<sip:user1@127.0.0.1:5070>", "<sip:user2@127.0.0.1:5070>"}


def test_actions_while_the_pua_is_down_are_skipped_with_one_note():
    extra = (
        "population: {users: 4, publish: {modify: 2}}\n"
        "steps:\n  - {at: 10, do: pua.crash}\n  - {at: 30, do: pua.start}"
    )
    scn = bare(1, extra)
    run = ScenarioRun(scn)  # type: ignore[arg-type]
    result = run.run()
    planned = [a for a in actions(scn.populations[0], Streams(1), 60_000_000) if a.kind == "publish"]  # type: ignore[attr-defined]
    down = [a for a in planned if 10_000_000 <= a.at < 30_000_000]
    assert result.error is None and result.passed
    warnings = [r for r in result.trace.records if type(r.event) is Note and r.event.level == "warning"]
    assert len(warnings) == 1 and warnings[0].time == 10 * 1_000_000
    assert run.feeds[0].skipped == len(down) > 0
    assert run.feeds[0].done == len(planned) - len(down)


def test_crashed_users_stop_and_their_publications_lapse():
    pop = Population(users=5, publish=PublishBehaviour(expires=Fixed(30), republish=Fixed(20)),
                     crash=CrashBehaviour(after=Fixed(25)))
    result = run_scenario(dataclasses.replace(bare(1), populations=[pop]))
    pubs = [r for r in result.trace.records if type(r.event) is ApiCalled and r.event.name == "send_publish"]
    assert len(pubs) == 10 and max(r.time for r in pubs) == 20 * 1_000_000, "initial + one re-send, then silence"
    removals = [r for r in result.trace.records if type(r.event) is MessageSent and r.event.message.get("Expires") == "0"]
    assert removals == [], "a crash sends no unpublish"


@pytest.mark.parametrize("profile", sorted(PROFILES))
@pytest.mark.parametrize(
    "fault",
    [{"kind": "respond", "status": 503, "method": "PUBLISH", "count": 3}, {"kind": "drop", "method": "SUBSCRIBE", "count": 2},
     {"kind": "grant-expires", "seconds": 20}, {"kind": "drop-notify", "count": 2}],
    ids=lambda f: f["kind"],
)
def test_populations_run_with_every_server_profile_and_fault(profile, fault):
    doc = {
        "name": "p", "refs": ["x"], "duration": 60, "server": {"profile": profile},
        "population": {"users": 4, "arrival": {"uniform": [0, 10]}, "publish": {"modify": 8},
                       "watch": {"count": 1}, "churn": {"online": 30, "away": 5}},
        "steps": [{"at": 5, "do": "server.fault", "with": fault}],
        "expect": [{"stat": {"metric": "publish_requests", "min": 4}}, {"stat": {"metric": "subscribe_requests", "min": 4}}],
    }
    result = run_scenario(scenario_from_text(json.dumps(doc)))
    assert result.error is None and result.passed, [f.message for f in result.failures]
    sent = [r.event for r in result.trace.records if type(r.event) is MessageSent and r.node == "server"]
    effect = {
        "respond": lambda: sum(getattr(m.message, "status", 0) == 503 for m in sent) == 3,
        "drop": lambda: any(r.event.retransmission and getattr(r.event.message, "method", "") == "SUBSCRIBE"
                            for r in result.trace.records if type(r.event) is MessageSent),
        "grant-expires": lambda: any(getattr(m.message, "status", 0) == 200 and m.message.get("Expires") == "20" for m in sent),
        "drop-notify": lambda: sum(type(r.event) is FaultInjected for r in result.trace.records) == 2,
    }
    assert effect[fault["kind"]](), f"the {fault['kind']} fault left no mark on the population's traffic"


def test_populations_run_on_other_server_profiles_with_faults():
    extra = (
        "server: {profile: rfc3903, knobs: {max_expires: 60}}\nnetwork: {loss: 0.2, latency_ms: 20}\n"
        "population: {users: 6, arrival: {uniform: [0, 10]}, publish: {modify: {exponential: 20}}}"
    )
    result = run_scenario(bare(2, extra))
    assert result.passed
    assert any(type(r.event) is MessageSent and r.event.retransmission for r in result.trace.records)


def test_a_stat_expectation_that_does_not_hold_fails_with_the_value():
    text = BARE.format(seed=1, extra="population: {users: 3, publish: {}}").replace(
        "{metric: publish_requests, min: 1}", "{metric: publish_requests, between: [4, 9]}"
    )
    result = run_scenario(scenario_from_text(text))
    assert not result.passed
    assert result.failures[0].message == "publish_requests = 3, expected at least 4"
    ok = run_scenario(scenario_from_text(text.replace("[4, 9]", "[3, 3]")))
    assert ok.passed


def test_stat_rates_and_percentiles():
    base = BARE.format(seed=1, extra="population: {users: 3, publish: {}}\nnetwork: {latency_ms: 5}")
    cases = {
        "{metric: publish_requests, per_second: true, equals: 0.05}": True,
        "{metric: publish_requests, per_second: true, max: 0.04}": False,
        "{metric: latency_ms, method: PUBLISH, percentile: 50, equals: 10}": True,
        "{metric: latency_ms, method: SUBSCRIBE, percentile: 50, min: 0}": False,  # nothing to measure
        "{metric: rate, method: PUBLISH, agg: max, equals: 3}": True,
        "{metric: rate, agg: count, equals: 60}": True,
    }
    for spec, passes in cases.items():
        result = run_scenario(scenario_from_text(base.replace("{metric: publish_requests, min: 1}", spec)))
        assert result.passed is passes, (spec, [f.message for f in result.failures])


def test_a_stat_whose_metric_raises_is_a_failed_expectation_naming_line_and_metric(monkeypatch, tmp_path, capsys):
    from puasim.cli import main
    from puasim.report.running import RunningMetrics

    def broken(self):
        raise KeyError("node")

    # the transactions the latency series is read from (stat values are computed without frames)
    monkeypatch.setattr(RunningMetrics, "transaction_rows", broken)
    text = BARE.format(seed=1, extra="population: {users: 3, publish: {}}").replace(
        "{metric: publish_requests, min: 1}", "{metric: latency_ms, percentile: 50, max: 1000}"
    )
    result = run_scenario(scenario_from_text(text))
    assert not result.passed and result.error is None
    (fail,) = result.failures
    assert fail.kind == "stat" and fail.line == text.splitlines().index(
        "  - stat: {metric: latency_ms, percentile: 50, max: 1000}") + 1
    assert fail.message == "stat latency_ms: could not be computed: KeyError: 'node'"
    assert any(type(r.event) is MessageSent for r in result.trace.records)  # the trace is kept
    path = tmp_path / "broken_stat.yaml"
    path.write_text(text)
    assert main(["run", "--no-write", str(path)]) == 1
    out = capsys.readouterr()
    assert f"{path}:{fail.line}: stat: stat latency_ms: could not be computed" in out.out + out.err
    assert "Traceback" not in out.out + out.err
