"""The lazy action generator: order, determinism, behaviours, and that it stays lean."""

from __future__ import annotations

import itertools
import time
from collections import Counter

import pytest

from puasim.population import (
    ChurnBehaviour,
    CrashBehaviour,
    Exponential,
    Fixed,
    Population,
    PopulationError,
    PublishBehaviour,
    Uniform,
    WatchBehaviour,
    actions,
)
from puasim.sim.rng import Streams

S = 1_000_000


def run(pop: Population, seed: int = 1, horizon_s: float = 600) -> list:
    return list(actions(pop, Streams(seed), int(horizon_s * S)))


BUSY = Population(
    users=30,
    arrival=Uniform(0, 60),
    publish=PublishBehaviour(expires=Fixed(300), modify=Exponential(40), republish=Fixed(100), via=(("api", 1), ("rpc", 1))),
    watch=WatchBehaviour(count=Uniform(0, 4)),
    churn=ChurnBehaviour(online=Exponential(120), away=Exponential(30)),
    crash=CrashBehaviour(after=Exponential(900), recover=Fixed(60)),
)


def test_actions_come_in_time_order_within_the_horizon():
    acts = run(BUSY)
    times = [a.at for a in acts]
    assert times == sorted(times)
    assert times[-1] <= 600 * S
    assert {a.kind for a in acts} >= {"join", "publish", "subscribe", "leave", "unpublish", "unsubscribe"}


def test_same_seed_same_actions_other_seed_other_actions():
    assert run(BUSY, seed=4) == run(BUSY, seed=4)
    assert run(BUSY, seed=4) != run(BUSY, seed=5)


def test_every_user_arrives_once_and_first_publishes_open():
    acts = run(Population(users=25, arrival=Uniform(0, 10)), horizon_s=20)
    joins = [a for a in acts if a.kind == "join"]
    assert sorted(a.user for a in joins) == [f"user{i:02d}" for i in range(1, 26)]
    pubs = [a for a in acts if a.kind == "publish"]
    assert len(pubs) == 25 and {(a.state, a.why, a.via, a.expires) for a in pubs} == {("open", "initial", "api", 3600)}
    assert all(0 <= a.at <= 10 * S for a in acts)


def test_a_user_does_nothing_between_leaving_and_joining_again():
    for user, mine in itertools.groupby(sorted(run(BUSY), key=lambda a: (a.user, a.at)), key=lambda a: a.user):
        online = False
        for a in mine:
            if a.kind == "join":
                assert not online, f"{user} joined twice"
                online = True
            elif a.kind in ("leave", "crash"):
                assert online
                online = False
            elif a.kind not in ("unpublish", "unsubscribe"):
                assert online, f"{user}: {a.kind} at {a.at} while offline"


def test_leave_removes_everything_crash_removes_nothing():
    acts = run(BUSY, horizon_s=3000)
    by_time = Counter((a.user, a.at, a.kind) for a in acts)
    leaves = [a for a in acts if a.kind == "leave"]
    crashes = [a for a in acts if a.kind == "crash"]
    assert leaves and crashes
    for a in leaves:
        assert by_time[(a.user, a.at, "unpublish")] == 1
    for a in crashes:
        assert by_time[(a.user, a.at, "unpublish")] == 0 and by_time[(a.user, a.at, "unsubscribe")] == 0


def test_watchers_watch_distinct_other_users_and_unsubscribe_the_same_ones():
    pop = Population(users=6, publish=None, watch=WatchBehaviour(count=Fixed(9)), churn=ChurnBehaviour(Fixed(50)))
    acts = run(pop, horizon_s=60)
    for user in {a.user for a in acts}:
        subs = sorted(a.target for a in acts if a.kind == "subscribe" and a.user == user)
        unsubs = sorted(a.target for a in acts if a.kind == "unsubscribe" and a.user == user)
        assert len(subs) == 5 and len(set(subs)) == 5 and user not in subs, "count is capped at the other users"
        assert unsubs == subs


def test_modify_rate_matches_its_mean():
    pop = Population(users=200, publish=PublishBehaviour(modify=Exponential(20)))
    mods = sum(1 for a in run(pop, horizon_s=400) if a.why == "modify")
    assert 200 * 400 / 20 * 0.95 < mods < 200 * 400 / 20 * 1.05  # 4000 expected, sd ~ 63
    states = [a.state for a in run(Population(users=1, publish=PublishBehaviour(modify=Fixed(1))), horizon_s=4)]
    assert states == ["", "open", "closed", "open", "closed", "open"]


def test_expires_draws_are_whole_seconds_at_least_one():
    pop = Population(users=50, publish=PublishBehaviour(expires=Uniform(0, 2)))
    assert {a.expires for a in run(pop, horizon_s=1) if a.kind == "publish"} <= {1, 2}


def test_fixed_minus_one_asks_for_an_indefinite_publication():
    pop = Population(users=2, publish=PublishBehaviour(expires=Fixed(-1), republish=Fixed(5)))
    assert {a.expires for a in run(pop, horizon_s=12) if a.kind == "publish"} == {-1}
    with pytest.raises(PopulationError):
        PublishBehaviour(expires=Fixed(-2))


def test_the_generator_is_lazy_for_a_large_population():
    pop = Population(users=200_000, arrival=Uniform(0, 3600), publish=PublishBehaviour(modify=Exponential(60)))
    started = time.perf_counter()
    gen = actions(pop, Streams(1), 3600 * S)
    first = list(itertools.islice(gen, 1000))
    assert time.perf_counter() - started < 20
    assert [a.at for a in first] == sorted(a.at for a in first)
    frame = gen.gi_frame
    assert frame is not None and len(frame.f_locals["heap"]) <= 200_000 + 1000, "a few entries per user, no more"


@pytest.mark.parametrize(
    "kwargs, path",
    [
        ({"users": 0}, ("users",)),
        ({"users": 3, "name": "a b"}, ("name",)),
        ({"users": 3, "publish": None}, ()),
        ({"users": 3, "arrival": Uniform(-5, 1)}, ("arrival",)),
    ],
)
def test_bad_populations_are_refused(kwargs, path):
    with pytest.raises(PopulationError) as info:
        Population(**kwargs)
    assert info.value.path == path


def test_bad_behaviours_name_their_field():
    with pytest.raises(PopulationError) as info:
        PublishBehaviour(via="sms")
    assert info.value.path == ("via",)
    with pytest.raises(PopulationError) as info:
        PublishBehaviour(modify=Uniform(-1, 1))
    assert info.value.path == ("modify",)
    with pytest.raises(PopulationError) as info:
        ChurnBehaviour(Fixed(0))
    assert info.value.path == ("online",)
