"""Transactions through a Simulation over a lossy, duplicating link."""

from __future__ import annotations

from collections import Counter

import pytest

from puasim.effects import MILLISECOND, SECOND
from puasim.sip.message import Request
from puasim.trace.events import MessageDropped, MessageDuplicated, MessageSent, TransactionFinished
from puasim.txn import KAMAILIO_TM, RFC3261
from tests.txn.support import branch_of, lossy_simulation

SEEDS = range(8)
COUNT = 20


def check_every_transaction_ends_once(sim, timers) -> None:
    client = sim.nodes["uac"].endpoint
    server = sim.nodes["uas"].endpoint
    finished = [r for r in sim.trace.of(TransactionFinished, node="uac")]
    assert len(finished) == COUNT
    by_branch = {r.event.branch: r for r in finished}
    assert len(by_branch) == COUNT  # exactly once per transaction
    assert Counter(f.branch for f in client.finals) == Counter({b: 1 for b in by_branch})
    assert client.layer.clients == {}  # all gone after K or F

    retrans = Counter(
        branch_of(r.event.message)
        for r in sim.trace.of(MessageSent, node="uac")
        if r.event.retransmission and isinstance(r.event.message, Request)
    )
    for branch, rec in by_branch.items():
        ev = rec.event
        assert ev.retransmissions == retrans.get(branch, 0), branch
        if ev.status == 408:
            assert ev.faked and rec.time - ev.started == timers.f
        else:
            assert ev.status == 200 and not ev.faked and rec.time - ev.started < timers.f
    # the server's TU saw each request at most once (retransmissions absorbed)
    assert max(Counter(server.delivered).values()) == 1


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("timers", [RFC3261, KAMAILIO_TM], ids=["rfc3261", "kamailio-tm"])
def test_every_transaction_ends_exactly_once_and_counts_its_retransmissions(seed, timers):
    sim = lossy_simulation(seed, count=COUNT, loss=0.3, duplicate=0.3, timers=timers)
    check_every_transaction_ends_once(sim, timers)
    # the link did its job
    assert sim.trace.of(MessageDropped) and sim.trace.of(MessageDuplicated)


def test_the_faults_show_up_across_seeds():
    total_retrans = 0
    dup_finals = 0
    for seed in SEEDS:
        sim = lossy_simulation(seed, count=COUNT)
        total_retrans += sum(r.event.retransmissions for r in sim.trace.of(TransactionFinished))
        dup_finals += sum(1 for r in sim.trace.of(MessageSent, node="uas") if r.event.retransmission)
    assert total_retrans > 0 and dup_finals > 0


def test_heavy_loss_produces_local_timeouts_and_they_are_counted_too():
    sim = lossy_simulation(3, count=COUNT, loss=0.8, duplicate=0.3, timers=KAMAILIO_TM)
    check_every_transaction_ends_once(sim, KAMAILIO_TM)
    statuses = Counter(r.event.status for r in sim.trace.of(TransactionFinished))
    assert statuses[408] > 0


def test_with_jitter_reordering():
    for seed in range(3):
        sim = lossy_simulation(seed, count=COUNT, jitter=300 * MILLISECOND)
        check_every_transaction_ends_once(sim, RFC3261)


def test_a_lossless_link_needs_no_retransmission():
    sim = lossy_simulation(0, count=COUNT, loss=0.0, duplicate=0.0)
    finished = sim.trace.of(TransactionFinished)
    assert [(r.event.status, r.event.retransmissions) for r in finished] == [(200, 0)] * COUNT
    assert all(r.time - r.event.started == 10 * MILLISECOND for r in finished)  # one round trip
    assert sim.now == 120 * SECOND
