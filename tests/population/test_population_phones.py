"""Populations with phones: registrations through the edge node and calls between users."""

from __future__ import annotations

from collections import Counter

import pytest

from puasim.population import Population, actions
from puasim.population.distributions import Exponential, Fixed
from puasim.population.model import (
    CallBehaviour,
    PublishBehaviour,
    RegisterBehaviour,
)
from puasim.scenario import ScenarioError, scenario_from_text
from puasim.scenario.feed import phone_address
from puasim.scenario.runner import ScenarioRun
from puasim.sim.rng import Streams
from puasim.trace.events import MessageSent

HOUR = 3_600_000_000


def _actions(pop: Population, seed: int = 1, horizon: int = HOUR) -> list:
    return list(actions(pop, Streams(seed), horizon))


def test_register_comes_first_and_usrloc_users_publish_nothing_themselves():
    pop = Population(users=6, register=RegisterBehaviour(expires=Fixed(600)), publish=PublishBehaviour(via="usrloc"))
    acts = _actions(pop)
    kinds = Counter(a.kind for a in acts)
    assert kinds == {"join": 6, "register": 6}
    joins = [a for a in acts if a.kind in ("join", "register")]
    assert [a.kind for a in joins[:2]] == ["join", "register"]
    assert {a.expires for a in acts if a.kind == "register"} == {600}


def test_calls_go_to_other_users_at_the_rate_asked():
    pop = Population(users=10, register=RegisterBehaviour(),
                     calls=CallBehaviour(interval=Exponential(600), holding=Exponential(60)))
    acts = _actions(pop, seed=4)
    calls = [a for a in acts if a.kind == "call"]
    assert all(a.target != a.user for a in calls)
    assert len({a.target for a in calls}) > 5
    # 10 users x 6 calls an hour: a Poisson count of mean 60
    assert 35 <= len(calls) <= 90
    assert all(a.hold >= 0 for a in calls)
    assert _actions(pop, seed=4) == acts
    assert _actions(pop, seed=5) != acts


def test_a_leaving_user_unregisters_and_a_group_without_phones_is_unchanged():
    from puasim.population.model import ChurnBehaviour

    churn = ChurnBehaviour(online=Fixed(100), away=Fixed(50))
    with_phone = _actions(Population(users=3, register=RegisterBehaviour(), churn=churn,
                                     publish=PublishBehaviour()), horizon=400_000_000)
    kinds = [a.kind for a in with_phone if a.user == "user1"]
    assert kinds[:6] == ["join", "register", "publish", "leave", "unpublish", "unregister"]
    # the phone aspects draw from streams of their own: the rest of the schedule does not move
    without = _actions(Population(users=3, churn=churn, publish=PublishBehaviour()), horizon=400_000_000)
    assert [a for a in with_phone if a.kind not in ("register", "unregister")] == without


def test_phone_addresses_are_distinct_and_off_the_scenario_hosts():
    seen = {phone_address(g, i) for g in range(3) for i in (0, 1, 49_999, 50_000, 99_999)}
    assert len(seen) == 15
    assert all(not host.startswith("127.0.") for host, _ in seen)


SCENARIO = """\
name: t
refs: ["§9.2"]
seed: 2
duration: 400
pua:
  address: 127.0.0.1:5080
  params: {outbound_proxy: "sip:127.0.0.1:5060"}
node:
  modules:
    registrar: {min_expires: 0}
    pua_usrloc: {default_domain: 127.0.0.1}
script:
  register: [pua_set_publish(), save("location")]
population:
  name: desk
  users: 4
  domain: 127.0.0.1
  arrival: {uniform: [0, 10]}
  register: {expires: 120, refresh: {fraction: 0.5}}
  publish: {via: usrloc}
  calls: {rate_per_hour: 30, holding: 5, answer_after: 1}
  crash: {after: 200, recover: 100}
expect:
  - count: {match: {method: REGISTER}, min: 1}
"""


def test_phones_register_call_crash_and_come_back():
    run = ScenarioRun(scenario_from_text(SCENARIO, "t.yaml"))
    result = run.run()
    assert result.error is None
    nodes = run.sim.nodes
    assert {"desk1", "desk2", "desk3", "desk4"} <= set(nodes)
    assert nodes["desk1"].address == phone_address(0, 0)
    sent = [(r.node, r.event.message) for r in run.sim.trace.records if isinstance(r.event, MessageSent)]
    registers = [m for node, m in sent if getattr(m, "method", None) == "REGISTER"]
    # each phone: a REGISTER at arrival, refreshes every 60 s until its crash at ~200 s,
    # then again after the 100 s it stays down
    per_phone = Counter(m.get("from").split(";")[0] for m in registers)
    assert all(4 <= n <= 8 for n in per_phone.values()), per_phone
    # the crash silences the phone: no REGISTER from desk1 between its crash and its return
    crash_at = next(r.time for r in run.sim.trace.records
                    if type(r.event).__name__ == "Note" and r.event.text == "desk: desk1 crash")
    back_at = next(r.time for r in run.sim.trace.records
                   if type(r.event).__name__ == "Note" and r.event.text == "desk: desk1 join" and r.time > crash_at)
    assert not [r for r in run.sim.trace.records if isinstance(r.event, MessageSent) and r.node == "desk1"
                and crash_at < r.time < back_at]
    # pua_usrloc publishes each registration; calls go through the node
    assert any(node == "pua" and getattr(m, "method", None) == "PUBLISH" for node, m in sent)
    invites = [m for node, m in sent if node.startswith("desk") and getattr(m, "method", None) == "INVITE"]
    assert invites and all(m.uri.startswith("sip:desk") for m in invites)


WATCHERS = """\
name: t
refs: ["RFC 4235"]
seed: 5
duration: 200
pua:
  address: 127.0.0.1:5080
  params: {outbound_proxy: "sip:127.0.0.1:5060"}
node:
  modules: {registrar: {min_expires: 0}, dialog: {}, pua_dialoginfo: {}}
population:
  name: key
  users: 4
  domain: 127.0.0.1
  register: {expires: 600}
  watch: {count: 2, via: phone, event: dialog, expires: 120}
  churn: {online: 100}
expect:
  - count: {match: {method: SUBSCRIBE}, min: 1}
"""


def test_phone_watchers_subscribe_themselves_and_unsubscribe_when_leaving():
    run = ScenarioRun(scenario_from_text(WATCHERS, "t.yaml"))
    assert run.run().error is None
    subs = [(r.node, r.event.message) for r in run.sim.trace.records
            if isinstance(r.event, MessageSent) and getattr(r.event.message, "method", None) == "SUBSCRIBE"]
    assert subs and all(node.startswith("key") for node, _ in subs)  # the phones, never the PUA
    assert all(m.get("event") == "dialog" and m.uri.startswith("sip:key") for _, m in subs)
    initial = [m for _, m in subs if ";tag=" not in (m.get("to") or "")]
    assert len(initial) == 8  # 4 phones x 2 keys
    assert {m.get("expires") for m in initial} == {"120"}
    # everyone leaves at 100 s: each granted subscription ends with Expires 0 in its dialog
    ends = [m for _, m in subs if m.get("expires") == "0"]
    assert len(ends) == 8 and all(";tag=" in (m.get("to") or "") for m in ends)


def test_phone_watchers_need_dialog_and_register():
    bad_event = WATCHERS.replace("event: dialog, ", "")
    with pytest.raises(ScenarioError) as info:
        scenario_from_text(bad_event, "t.yaml")
    assert info.value.field == "population.watch.event" and "event: dialog" in info.value.problem
    no_register = WATCHERS.replace("  register: {expires: 600}\n", "  publish: {}\n")
    with pytest.raises(ScenarioError) as info:
        scenario_from_text(no_register, "t.yaml")
    assert info.value.field == "population.watch.via" and "add register" in info.value.problem
