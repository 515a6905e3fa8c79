"""The simulated network: latency, loss, duplication, jitter, partitions and drops."""

from __future__ import annotations

import pytest

from puasim.effects import MILLISECOND, SECOND
from puasim.sim import LinkProfile, Partition, Simulation, stream
from puasim.trace.events import MessageDelivered, MessageDropped, MessageDuplicated, MessageSent
from tests.sim.probe import A, B, C, send_at, three_nodes


def dropped(sim: Simulation, reason: str | None = None) -> list:
    return [r for r in sim.trace.of(MessageDropped) if reason is None or r.event.reason == reason]


def test_fixed_latency_delivers_at_send_time_plus_latency():
    sim = Simulation(seed=1, link=LinkProfile(latency=5 * MILLISECOND))
    a, b, _ = three_nodes(sim)
    send_at(sim, 1 * SECOND, a, "hello", B)
    sim.run()
    assert b.endpoint.got == [(1 * SECOND + 5 * MILLISECOND, "hello", A)]
    sent = sim.trace.of(MessageSent)
    assert [(r.time, r.node, r.event.src, r.event.dst, r.event.message) for r in sent] == [
        (1 * SECOND, "a", A, B, "hello")
    ]
    (deliv,) = sim.trace.of(MessageDelivered)
    assert (deliv.time, deliv.node, deliv.event.message) == (1_005_000, "b", "hello")


def test_zero_latency_is_allowed_and_still_goes_through_the_heap():
    sim = Simulation(link=LinkProfile(latency=0))
    a, b, _ = three_nodes(sim)
    a.call("send", a.endpoint.send, "x", B)
    assert b.endpoint.got == []  # not re-entrant: delivery is an event
    sim.run()
    assert b.endpoint.got == [(0, "x", A)]


def run_lossy(seed: int, count: int = 200, loss: float = 0.5) -> tuple[Simulation, list[int]]:
    sim = Simulation(seed=seed, link=LinkProfile(latency=MILLISECOND, loss=loss))
    a, b, _ = three_nodes(sim)
    for i in range(count):
        send_at(sim, i * MILLISECOND, a, i, B)
    sim.run()
    return sim, [m for _, m, _ in b.endpoint.got]


def test_loss_with_a_seed_drops_a_reproducible_subset():
    sim1, got1 = run_lossy(seed=11)
    sim2, got2 = run_lossy(seed=11)
    _, got3 = run_lossy(seed=12)
    assert got1 == got2
    assert got1 != got3
    lost = dropped(sim1, "loss")
    assert len(lost) + len(got1) == 200
    assert 60 < len(lost) < 140
    assert sorted(r.event.message for r in lost) == sorted(set(range(200)) - set(got1))
    assert all(r.node == "a" and r.event.src == A and r.event.dst == B for r in lost)
    assert sim1.trace.digest() == sim2.trace.digest()
    # the subset is the network stream's draws: one uniform per message without jitter/duplication
    rng = stream(11, "network")
    assert got1 == [i for i in range(200) if not rng.random() < 0.5]


def test_loss_extremes():
    _, got = run_lossy(seed=3, count=50, loss=0.0)
    assert got == list(range(50))
    sim, got = run_lossy(seed=3, count=50, loss=1.0)
    assert got == [] and len(dropped(sim, "loss")) == 50


def test_duplication_records_the_copy_and_delivers_twice():
    sim = Simulation(seed=5, link=LinkProfile(latency=2 * MILLISECOND, duplicate=1.0))
    a, b, _ = three_nodes(sim)
    send_at(sim, 0, a, "m", B)
    sim.run()
    assert b.endpoint.got == [(2 * MILLISECOND, "m", A), (2 * MILLISECOND, "m", A)]
    types = [type(r.event).__name__ for r in sim.trace]
    assert types == ["MessageSent", "MessageDuplicated", "MessageDelivered", "MessageDelivered"]
    (dup,) = sim.trace.of(MessageDuplicated)
    assert (dup.node, dup.event.src, dup.event.dst, dup.event.message) == ("a", A, B, "m")


def test_partial_duplication_counts_match():
    sim = Simulation(seed=9, link=LinkProfile(latency=MILLISECOND, duplicate=0.3))
    a, b, _ = three_nodes(sim)
    for i in range(300):
        send_at(sim, i * MILLISECOND, a, i, B)
    sim.run()
    dups = sim.trace.of(MessageDuplicated)
    assert 40 < len(dups) < 140
    assert len(b.endpoint.got) == 300 + len(dups)
    assert len(sim.trace.of(MessageDelivered)) == 300 + len(dups)


def test_lost_messages_are_not_duplicated():
    sim = Simulation(seed=2, link=LinkProfile(loss=1.0, duplicate=1.0))
    a, b, _ = three_nodes(sim)
    send_at(sim, 0, a, "m", B)
    sim.run()
    assert b.endpoint.got == [] and not sim.trace.of(MessageDuplicated)


@pytest.mark.parametrize("kind", ["uniform", "exponential"])
def test_jitter_reorders_and_stays_within_its_bounds(kind):
    latency, jitter = MILLISECOND, 50 * MILLISECOND
    sim = Simulation(seed=4, link=LinkProfile(latency=latency, jitter=jitter, jitter_kind=kind))
    a, b, _ = three_nodes(sim)
    n = 100
    for i in range(n):
        send_at(sim, i * MILLISECOND, a, i, B)
    sim.run()
    order = [m for _, m, _ in b.endpoint.got]
    assert sorted(order) == list(range(n))
    assert order != list(range(n))  # reordered
    delays = [t - m * MILLISECOND for t, m, _ in b.endpoint.got]
    assert min(delays) >= latency
    if kind == "uniform":
        assert max(delays) <= latency + jitter
    else:
        mean = sum(d - latency for d in delays) / n
        assert jitter / 2 < mean < 2 * jitter


def test_jitter_is_reproducible_per_seed():
    def order(seed: int) -> list:
        sim = Simulation(seed=seed, link=LinkProfile(latency=0, jitter=10 * MILLISECOND))
        a, b, _ = three_nodes(sim)
        for i in range(30):
            send_at(sim, i * MILLISECOND, a, i, B)
        sim.run()
        return b.endpoint.got

    assert order(1) == order(1)
    assert order(1) != order(2)


def test_partition_drops_both_directions_only_within_its_window():
    sim = Simulation(seed=1, link=LinkProfile(latency=MILLISECOND))
    a, b, c = three_nodes(sim)
    sim.network.partitions.append(Partition(1 * SECOND, 2 * SECOND, frozenset({"a"}), frozenset({"b"})))
    times = [SECOND - 1, SECOND, SECOND + SECOND // 2, 2 * SECOND - 1, 2 * SECOND]
    for t in times:
        send_at(sim, t, a, f"a->b@{t}", B)
        send_at(sim, t, b, f"b->a@{t}", A)
        send_at(sim, t, a, f"a->c@{t}", C)
    sim.run()
    inside = times[1:4]
    cut = dropped(sim, "partition")
    assert sorted(r.event.message for r in cut) == sorted(
        [f"a->b@{t}" for t in inside] + [f"b->a@{t}" for t in inside]
    )
    assert all(r.time in inside for r in cut)
    assert [m for _, m, _ in b.endpoint.got] == [f"a->b@{t}" for t in (times[0], times[4])]
    assert [m for _, m, _ in a.endpoint.got] == [f"b->a@{t}" for t in (times[0], times[4])]
    assert len(c.endpoint.got) == len(times)  # a third node is not affected


def test_partition_cuts_predicate():
    p = Partition(10, 20, frozenset({"x", "y"}), frozenset({"z"}))
    assert p.cuts(10, "x", "z") and p.cuts(19, "z", "y")
    assert not p.cuts(9, "x", "z") and not p.cuts(20, "x", "z")
    assert not p.cuts(15, "x", "y")


def test_drop_next_drops_the_given_number_then_delivers():
    sim = Simulation(seed=1)
    a, b, c = three_nodes(sim)
    sim.network.drop_next[("a", "b")] = 2
    for i in range(4):
        send_at(sim, i, a, i, B)
        send_at(sim, i, a, f"c{i}", C)
    sim.run()
    assert [m for _, m, _ in b.endpoint.got] == [2, 3]
    assert len(c.endpoint.got) == 4
    assert [r.event.message for r in dropped(sim, "fault")] == [0, 1]
    assert sim.network.drop_next[("a", "b")] == 0


def test_drop_next_wildcard_destination():
    sim = Simulation(seed=1)
    a, b, c = three_nodes(sim)
    sim.network.drop_next[("a", "*")] = 1
    send_at(sim, 0, a, "first", C)
    send_at(sim, 1, a, "second", B)
    sim.run()
    assert c.endpoint.got == [] and [m for _, m, _ in b.endpoint.got] == ["second"]


def test_exhausted_specific_drop_next_falls_back_to_the_wildcard_once():
    sim = Simulation(seed=1)
    a, b, _ = three_nodes(sim)
    sim.network.drop_next[("a", "b")] = 0
    sim.network.drop_next[("a", "*")] = 1
    for i in range(3):
        send_at(sim, i, a, i, B)
    sim.run()
    assert [r.event.message for r in dropped(sim, "fault")] == [0]
    assert [m for _, m, _ in b.endpoint.got] == [1, 2]
    assert sim.network.drop_next == {("a", "b"): 0, ("a", "*"): 0}


def test_no_listener_is_a_drop_at_delivery_time():
    sim = Simulation(seed=1, link=LinkProfile(latency=3 * MILLISECOND))
    a, _, _ = three_nodes(sim)
    nowhere = ("10.9.9.9", 5070)
    send_at(sim, 0, a, "void", nowhere)
    sim.run()
    (rec,) = dropped(sim)
    assert (rec.time, rec.node, rec.event.reason, rec.event.dst) == (
        3 * MILLISECOND, "10.9.9.9:5070", "no-listener", nowhere,
    )


def test_messages_to_a_crashed_node_are_dropped():
    sim = Simulation(seed=1, link=LinkProfile(latency=10 * MILLISECOND))
    a, b, _ = three_nodes(sim)
    send_at(sim, 0, a, "in-flight", B)
    sim.kernel.call_at(5 * MILLISECOND, b.crash)
    send_at(sim, 20 * MILLISECOND, a, "after", B)
    sim.run()
    assert [(r.time, r.node, r.event.message, r.event.reason) for r in dropped(sim)] == [
        (10 * MILLISECOND, "b", "in-flight", "crashed"),
        (30 * MILLISECOND, "b", "after", "crashed"),
    ]


def test_link_profiles_pick_the_most_specific_entry():
    sim = Simulation(seed=1, link=LinkProfile(latency=1))
    net = sim.network
    ab, a_any, any_b = LinkProfile(latency=2), LinkProfile(latency=3), LinkProfile(latency=4)
    net.links[("a", "b")] = ab
    net.links[("a", "*")] = a_any
    net.links[("*", "b")] = any_b
    assert net.profile("a", "b") is ab
    assert net.profile("a", "c") is a_any
    assert net.profile("c", "b") is any_b
    assert net.profile("c", "a").latency == 1


def test_per_link_latency_applies_per_direction():
    sim = Simulation(seed=1, link=LinkProfile(latency=MILLISECOND))
    a, b, _ = three_nodes(sim)
    sim.network.links[("a", "b")] = LinkProfile(latency=7 * MILLISECOND)
    send_at(sim, 0, a, "ab", B)
    send_at(sim, 0, b, "ba", A)
    sim.run()
    assert b.endpoint.got[0][0] == 7 * MILLISECOND
    assert a.endpoint.got[0][0] == MILLISECOND


@pytest.mark.parametrize(
    "kwargs",
    [{"latency": -1}, {"jitter": -1}, {"loss": 1.5}, {"duplicate": -0.1}, {"jitter_kind": "normal"}],
)
def test_link_profile_rejects_bad_values(kwargs):
    with pytest.raises(ValueError):
        LinkProfile(**kwargs)


def test_a_delivered_message_keeps_its_parsed_headers_for_one_hop_only():
    from puasim.sip import headers as H
    from puasim.sip.message import Request

    sim = Simulation(seed=1)
    a, b, _ = three_nodes(sim)
    msg = Request("OPTIONS", "sip:b", (("Via", "SIP/2.0/UDP a:5060;branch=z9hG4bK1"), ("CSeq", "1 OPTIONS")))
    seen = []

    def receive(message, src, now):
        seen.append((message._typed is not None, H.cseq(message).seq, message._typed is not None))

    b.endpoint.receive = receive
    send_at(sim, SECOND, a, msg, B)
    sim.run()
    assert seen == [(False, 1, True)]
    assert msg._typed is None and msg._hindex is None  # the trace's copy holds text only
    assert H.cseq(msg).seq == 1
