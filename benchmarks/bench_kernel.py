"""Timer-heavy kernel benchmark: puasim's :class:`~puasim.sim.kernel.Kernel` against SimPy.

Usage::

    python benchmarks/bench_kernel.py [--events N] [--endpoints E] [--rounds R] [--seed S]

The workload
------------
``E`` endpoints (default 5000) each keep one timer armed.  When an endpoint's
timer fires it re-arms it with a pseudo-random delay between 1 ms and 1 s
(integer microseconds, drawn once from a seeded ``random.Random`` into a table
so that drawing costs the same in every implementation).  The run stops at a
virtual horizon chosen so that about ``N`` timers fire (default 1 000 000).

The *cancel* variant models SIP transaction timers, which are almost always
cancelled: after arming, half of the firings (a seeded coin) cancel the timer
just armed and arm another one.  Cancelled entries stay in the heap in both
kernels and are skipped when they come up.

Every implementation makes the same calls in the same order; ties are broken
first-in-first-out in both kernels, so they fire exactly the same timers in
the same order.  The script checks that the fire counts are equal.

The implementations
-------------------
``puasim``
    ``Kernel.call_later(delay, fire, endpoint)``; cancel with
    ``Kernel.cancel(handle)``; ``Kernel.run(until=horizon)``.  This is how
    :class:`~puasim.sim.node.Node` drives model timers.

``simpy-callback``
    The fairest like-for-like SimPy version: a ``Timeout(env, delay, value=endpoint)``
    event with the handler appended to its ``callbacks``; this is SimPy's own
    lowest-overhead scheduling path (no generator switch); the handler reads
    ``event._value`` rather than the checked ``event.value`` property, again
    SimPy's fastest path.  SimPy has no
    ``cancel``: the idiom is to take the callback off the event
    (``ev.callbacks.remove(fire)``); the event still pops from the heap and
    does nothing, exactly like puasim's lazy deletion.

``simpy-process``
    Idiomatic SimPy as its documentation teaches it: one process per
    endpoint, ``yield env.timeout(delay)`` in a loop.  "Cancelling" is
    abandoning a timeout and yielding a new one; the abandoned timeout pops
    and does nothing.  (``Process.interrupt`` would be the other idiom; it
    costs an extra event per cancellation and is slower still.)

``env.run(until=horizon + 1)`` is used for SimPy because SimPy's stop event
at ``until`` runs before ordinary events of that instant, whereas puasim's
``run(until)`` includes them.

Each implementation runs ``R`` rounds (default 3) and the best time counts.
Time is wall-clock (``time.perf_counter``); on a shared, busy machine
``--clock cpu`` measures process CPU time (``time.process_time``) instead.
The ratio printed is puasim's events/s divided by each SimPy variant's
(above 1 means puasim is faster).
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import simpy  # noqa: E402
from simpy.events import Timeout  # noqa: E402

from puasim.sim.kernel import Kernel  # noqa: E402

TABLE_BITS = 16
MASK = (1 << TABLE_BITS) - 1
MIN_DELAY, MAX_DELAY = 1_000, 1_000_000  # µs


def tables(seed: int) -> tuple[list[int], list[bool]]:
    rng = random.Random(seed)
    delays = [rng.randint(MIN_DELAY, MAX_DELAY) for _ in range(MASK + 1)]
    coins = [rng.random() < 0.5 for _ in range(MASK + 1)]
    return delays, coins


# ----------------------------------------------------------------------------- puasim
def run_puasim(
    endpoints: int,
    horizon: int,
    cancel: bool,
    delays: list[int],
    coins: list[bool],
    clock: Callable[[], float],
) -> tuple[int, float]:
    k = Kernel()
    call_later = k.call_later
    cancel_handle = k.cancel
    fired = [0]

    def fire(endpoint: int) -> None:
        j = fired[0]
        fired[0] = j + 1
        handle = call_later(delays[j & MASK], fire, endpoint)
        if cancel and coins[j & MASK]:
            cancel_handle(handle)
            call_later(delays[(j + 1) & MASK], fire, endpoint)

    for i in range(endpoints):
        call_later(delays[i & MASK], fire, i)
    t0 = clock()
    k.run(until=horizon)
    return fired[0], clock() - t0


# ----------------------------------------------------------------------------- SimPy
def run_simpy_callback(
    endpoints: int,
    horizon: int,
    cancel: bool,
    delays: list[int],
    coins: list[bool],
    clock: Callable[[], float],
) -> tuple[int, float]:
    env = simpy.Environment()
    fired = [0]

    def fire(event: Timeout) -> None:
        endpoint = event._value
        j = fired[0]
        fired[0] = j + 1
        ev = Timeout(env, delays[j & MASK], endpoint)
        ev.callbacks.append(fire)
        if cancel and coins[j & MASK]:
            ev.callbacks.remove(fire)
            ev = Timeout(env, delays[(j + 1) & MASK], endpoint)
            ev.callbacks.append(fire)

    for i in range(endpoints):
        Timeout(env, delays[i & MASK], i).callbacks.append(fire)
    t0 = clock()
    env.run(until=horizon + 1)
    return fired[0], clock() - t0


def run_simpy_process(
    endpoints: int,
    horizon: int,
    cancel: bool,
    delays: list[int],
    coins: list[bool],
    clock: Callable[[], float],
) -> tuple[int, float]:
    env = simpy.Environment()
    timeout = env.timeout
    fired = [0]

    def endpoint(i: int):
        yield timeout(delays[i & MASK])
        while True:
            j = fired[0]
            fired[0] = j + 1
            ev = timeout(delays[j & MASK])
            if cancel and coins[j & MASK]:
                ev = timeout(delays[(j + 1) & MASK])  # the first one is abandoned
            yield ev

    for i in range(endpoints):
        env.process(endpoint(i))
    t0 = clock()
    env.run(until=horizon + 1)
    return fired[0], clock() - t0


IMPLEMENTATIONS: dict[str, Callable[..., tuple[int, float]]] = {
    "puasim": run_puasim,
    "simpy-callback": run_simpy_callback,
    "simpy-process": run_simpy_process,
}

CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.process_time}


def horizon_for(events: int, endpoints: int) -> int:
    mean = (MIN_DELAY + MAX_DELAY) / 2
    return int(events * mean / endpoints)


def bench(
    events: int, endpoints: int, rounds: int, seed: int, cancel: bool, clock: Callable[[], float]
) -> dict[str, tuple[int, float]]:
    delays, coins = tables(seed)
    horizon = horizon_for(events, endpoints)
    best: dict[str, tuple[int, float]] = {}
    for _ in range(rounds):
        for name, fn in IMPLEMENTATIONS.items():
            gc.collect()
            fired, secs = fn(endpoints, horizon, cancel, delays, coins, clock)
            if name in best and best[name][0] != fired:
                raise AssertionError(f"{name}: fired {fired}, earlier {best[name][0]}")
            if name not in best or secs < best[name][1]:
                best[name] = (fired, secs)
    counts = {fired for fired, _ in best.values()}
    if len(counts) != 1:
        raise AssertionError(f"implementations fired different numbers of timers: {best}")
    return best


def report(title: str, best: dict[str, tuple[int, float]]) -> None:
    print(title)
    rate = {name: fired / secs for name, (fired, secs) in best.items()}
    for name, (fired, secs) in best.items():
        print(f"  {name:15s} {fired:>10,d} events  {secs:7.3f} s  {rate[name]:>12,.0f} events/s")
    for name in best:
        if name != "puasim":
            print(f"  ratio puasim/{name}: {rate['puasim'] / rate[name]:.2f}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=1_000_000, help="timers to fire per run (approx.)")
    p.add_argument("--endpoints", type=int, default=5000)
    p.add_argument("--rounds", type=int, default=3, help="best of this many rounds")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--clock", choices=sorted(CLOCKS), default="wall", help="wall or process CPU time"
    )
    args = p.parse_args(argv)
    print(
        f"Python {sys.version.split()[0]}, SimPy {simpy.__version__}; "
        f"{args.endpoints} endpoints, ~{args.events:,d} events, best of {args.rounds}, {args.clock} clock"
    )
    for cancel in (False, True):
        title = "re-arm" if not cancel else "re-arm, cancel and re-arm half the time"
        report(
            title,
            bench(args.events, args.endpoints, args.rounds, args.seed, cancel, CLOCKS[args.clock]),
        )


if __name__ == "__main__":
    main()
