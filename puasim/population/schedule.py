"""A population's actions, generated lazily in time order.

:func:`actions` is a generator: it keeps one small heap of each user's
*next* events (arrival, state change, re-publish, leave, crash) and yields
:class:`Action` values one at a time, so a run of 100 000 users holds a few
entries per user, never a precomputed list of every step.  The schedule is
open loop: it depends on the population, the seed and the horizon only,
never on what the PUA or the server answer.

Draws come from one stream per group and aspect (``population/<name>/<aspect>``
of the run's :class:`~puasim.sim.rng.Streams`), taken in the heap's
deterministic order, so the same seed gives the same actions in every
process, whatever ``PYTHONHASHSEED`` is.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from heapq import heappop, heappush

from puasim.population.distributions import Distribution, Fixed
from puasim.population.model import Population

SECOND = 1_000_000
#: shortest time between two events of one user (a draw of 0 would loop at one instant)
MIN_GAP = 1_000

#: ``expires: -1``: pua's default_expires, an indefinite publication (pua-reference §3.1)
INDEFINITE = Fixed(-1)

# what a heap entry stands for
JOIN, MODIFY, REPUBLISH, LEAVE, CRASH, CALL = range(6)


@dataclass(frozen=True, slots=True)
class Action:
    """One thing a user does at virtual time ``at`` (µs).

    ``kind``: ``join``, ``leave``, ``crash`` (markers, no request), ``publish``
    (``state`` ``open``/``closed``; ``why`` ``initial``, ``modify`` or
    ``republish``), ``unpublish``, ``subscribe`` and ``unsubscribe`` (of
    ``target``, another user's name), ``register`` (the user's phone, with
    ``expires`` and ``ring``, its callee ring time in seconds), ``unregister``
    and ``call`` (to ``target``, held ``hold`` seconds once answered).
    ``expires`` in seconds (0 for the removals); ``via`` ``api``, ``rpc``
    (or ``usrloc`` for publishing, which the runner leaves to the phone's
    registration).
    """

    at: int
    kind: str
    group: str
    user: str
    via: str = ""
    expires: int = 0
    state: str = ""
    target: str = ""
    why: str = ""
    hold: float = 0.0
    ring: float = 0.0


def _delay(dist: Distribution, rng: random.Random) -> int:
    return max(MIN_GAP, round(dist.draw(rng) * SECOND))


def _expires(dist: Distribution, rng: random.Random) -> int:
    if dist == INDEFINITE:
        return -1
    return max(1, round(dist.draw(rng)))


def actions(pop: Population, streams: Callable[[str], random.Random], horizon: int) -> Iterator[Action]:
    """Every action of ``pop`` at or before ``horizon`` (µs), in time order (ties: by scheduling order)."""
    rng = {
        aspect: streams(f"population/{pop.name}/{aspect}")
        for aspect in ("arrival", "publish", "watch", "churn", "crash", "register", "calls")
    }
    n = pop.users
    names = [pop.user(i) for i in range(n)] if n <= 100_000 else None
    stint = [0] * n
    open_state = bytearray(n)
    pub_via: dict[int, str] = {}
    watches: dict[int, tuple[int, ...]] = {}
    watch_via: dict[int, str] = {}
    reg: dict[int, tuple[int, float]] = {}
    heap: list[tuple[int, int, int, int, int]] = []
    seq = 0

    def push(at: int, user: int, what: int) -> None:
        nonlocal seq
        if at <= horizon:
            heappush(heap, (at, seq, user, stint[user], what))
            seq += 1

    def name(user: int) -> str:
        return names[user] if names is not None else pop.user(user)

    def door(mix: tuple[tuple[str, float], ...], r: random.Random) -> str:
        if len(mix) == 1:
            return mix[0][0]
        return r.choices([m[0] for m in mix], [m[1] for m in mix])[0]

    for u in range(n):
        push(round(pop.arrival.draw(rng["arrival"]) * SECOND), u, JOIN)

    publish, watch, churn, crash = pop.publish, pop.watch, pop.churn, pop.crash
    register, calls = pop.register, pop.calls
    group = pop.name
    while heap:
        at, _, u, mark, what = heappop(heap)
        if mark != stint[u]:
            continue  # an event of a stint online that already ended
        me = name(u)
        if what == JOIN:
            stint[u] += 1
            yield Action(at, "join", group, me)
            if register is not None:
                if u not in reg:
                    r = rng["register"]
                    ring = calls.answer_after.draw(rng["calls"]) if calls is not None else 0.0
                    reg[u] = (_expires(register.expires, r), max(0.0, ring))
                yield Action(at, "register", group, me, expires=reg[u][0], ring=reg[u][1])
                if calls is not None:
                    push(at + _delay(calls.interval, rng["calls"]), u, CALL)
            if publish is not None:
                r = rng["publish"]
                if u not in pub_via:
                    pub_via[u] = door(publish.doors, r)
                open_state[u] = 1
            if publish is not None and pub_via[u] != "usrloc":
                yield Action(at, "publish", group, me, pub_via[u], _expires(publish.expires, r), "open", why="initial")
                if publish.modify is not None:
                    push(at + _delay(publish.modify, r), u, MODIFY)
                if publish.republish is not None:
                    push(at + _delay(publish.republish, r), u, REPUBLISH)
            if watch is not None:
                r = rng["watch"]
                if u not in watches:
                    k = min(n - 1, max(0, round(watch.count.draw(r))))
                    watches[u] = tuple(v if v < u else v + 1 for v in r.sample(range(n - 1), k))
                    watch_via[u] = door(watch.doors, r)
                for v in watches[u]:
                    yield Action(at, "subscribe", group, me, watch_via[u], _expires(watch.expires, r), target=name(v))
            if churn is not None:
                push(at + _delay(churn.online, rng["churn"]), u, LEAVE)
            if crash is not None:
                push(at + _delay(crash.after, rng["crash"]), u, CRASH)
        elif what == MODIFY:
            assert publish is not None and publish.modify is not None
            r = rng["publish"]
            open_state[u] ^= 1
            state = "open" if open_state[u] else "closed"
            yield Action(at, "publish", group, me, pub_via[u], _expires(publish.expires, r), state, why="modify")
            push(at + _delay(publish.modify, r), u, MODIFY)
        elif what == REPUBLISH:
            assert publish is not None and publish.republish is not None
            r = rng["publish"]
            state = "open" if open_state[u] else "closed"
            yield Action(at, "publish", group, me, pub_via[u], _expires(publish.expires, r), state, why="republish")
            push(at + _delay(publish.republish, r), u, REPUBLISH)
        elif what == LEAVE:
            assert churn is not None
            stint[u] += 1
            yield Action(at, "leave", group, me)
            if publish is not None and pub_via[u] != "usrloc":
                yield Action(at, "unpublish", group, me, pub_via[u])
            for v in watches.get(u, ()):
                yield Action(at, "unsubscribe", group, me, watch_via[u], target=name(v))
            if register is not None:
                yield Action(at, "unregister", group, me)
            if churn.away is not None:
                push(at + _delay(churn.away, rng["churn"]), u, JOIN)
        elif what == CALL:
            assert calls is not None
            r = rng["calls"]
            if n > 1:
                v = r.randrange(n - 1)
                v += v >= u
                hold = max(0.0, calls.holding.draw(r))
                yield Action(at, "call", group, me, target=name(v), hold=round(hold, 3))
            push(at + _delay(calls.interval, r), u, CALL)
        else:  # CRASH: silence, no removal (the requests simply stop)
            assert crash is not None
            stint[u] += 1
            yield Action(at, "crash", group, me)
            if crash.recover is not None:
                push(at + _delay(crash.recover, rng["crash"]), u, JOIN)


__all__ = ["Action", "actions"]
