"""The phones' live driver without Kamailio: the edge node model and a simulated presence
server hosted on loopback sockets stand in for the real ones (no root, no packages needed).
Also the PUBLISH comparison of puasim.live.edgediff on its own."""

from __future__ import annotations

import asyncio
import random
from dataclasses import replace
from pathlib import Path

import pytest

from puasim.effects import Outbox
from puasim.live.driver import LiveDriver, LiveSafetyError
from puasim.live.edgediff import compare_publishes, model_publishes, publish_rows
from puasim.live.phones import run_phones, run_phones_async
from puasim.pua.model import Pua
from puasim.scenario.registrations import make_edge
from puasim.scenario.runner import load_scenario, scenario_from_text
from puasim.server.endpoint import PresenceServer
from puasim.trace.events import MessageSent, Note

from .conftest import HERE

SCENARIOS = HERE / "scenarios"


async def _against_the_model(path: Path, **kw):
    """Run the scenario's phones live against the edge node model on a loopback socket, which
    publishes to a simulated Kamailio presence server on another socket."""
    scn = load_scenario(path)
    assert scn.registrations is not None
    host = LiveDriver(names={})
    host.begin()
    server = await host.open("server", ("127.0.0.1", 0), lambda a: PresenceServer(a[0], a[1], rng=random.Random(2),
                                                                                 epoch=int(host.epoch)))
    cfg = replace(scn.pua_config, outbound_proxy=f"sip:127.0.0.1:{server.address[1]}")

    def edge(addr):
        return make_edge(scn.registrations, Pua(cfg, host=addr[0], port=addr[1], rng=random.Random(1),
                                                epoch=int(host.epoch)))

    node = await host.open("pua", ("127.0.0.1", 0), edge)
    try:
        result = await run_phones_async(scn, node.address, server=server.address, **kw)
    finally:
        host.close()
    return result, host, node.address, server.address


@pytest.mark.parametrize("name", ["edge_basic_call", "edge_rejected_call", "edge_cancelled_call"])
def test_phones_run_live_against_the_edge_model_and_publish_what_the_simulator_does(name) -> None:
    result, host, node, server = asyncio.run(_against_the_model(SCENARIOS / f"{name}.yaml"))
    assert not result.error and not result.skipped_steps
    # each phone had its own free port, and the node answered them
    assert len(set(result.phones.values())) == 2 and node not in result.phones.values()
    assert any(type(r.event) is MessageSent and r.event.src == node for r in result.trace)
    names = {node: "pua", server: "server", **{a: n for n, a in result.phones.items()}}
    live = publish_rows(host.trace, node, names)
    model, sim = model_publishes(SCENARIOS / f"{name}.yaml")
    assert sim.passed
    comparison = compare_publishes(live, model)
    assert comparison.ok, comparison.format()
    assert len(live) == len(model) >= 3
    if name == "edge_basic_call":  # the phones' own view of the call
        notes = [r.event.text for r in result.trace if type(r.event) is Note]
        assert any("alice: call" in t and "confirmed" in t for t in notes)
        assert any("bob: call" in t and "BYE received" in t for t in notes)
        methods = [r.event.message.method for r in result.trace if type(r.event) is MessageSent
                   and r.node == "alice" and hasattr(r.event.message, "method")]
        assert methods == ["REGISTER", "INVITE", "ACK", "BYE"]


def test_steps_that_need_the_simulation_are_skipped_with_a_note() -> None:
    text = (SCENARIOS / "edge_rejected_call.yaml").read_text().replace(
        "steps:\n", "steps:\n  - {at: 0.05, do: server.restart}\n")
    scn = scenario_from_text(text, str(SCENARIOS / "x.yaml"))

    async def go():
        host = LiveDriver(names={})
        host.begin()
        node = await host.open("pua", ("127.0.0.1", 0), lambda a: _Silent())
        try:
            return await run_phones_async(scn, node.address, grace=0.1)
        finally:
            host.close()

    result = asyncio.run(go())
    assert result.skipped_steps == ["step 0 (line 25): server.restart needs the simulated node, server or network: skipped live"]
    # the stand-in node never answers: the run says so instead of passing
    assert not result.passed and result.failures[0].kind == "no-answer"


class _Silent:
    """A node that swallows everything."""

    def __init__(self) -> None:
        self.outbox = Outbox()

    def receive(self, message, src, now) -> None:
        pass

    def timer(self, key, now) -> None:
        pass


def test_a_non_loopback_node_is_refused() -> None:
    with pytest.raises(LiveSafetyError, match="192.0.2.5:5080 is not a loopback"):
        run_phones(SCENARIOS / "edge_basic_call.yaml", ("192.0.2.5", 5080))


def test_a_scenario_without_phones_is_refused() -> None:
    with pytest.raises(ValueError, match="no phones: block"):
        run_phones(SCENARIOS / "publish_modify_remove.yaml", ("127.0.0.1", 5080))


def test_a_capture_that_cannot_start_is_a_clear_error_and_leaves_no_pcap(tmp_path, monkeypatch) -> None:
    """When the loopback capture cannot start, the run stops with CaptureUnavailable (which the CLI
    prints as one line) before any traffic, and no empty pcap is left behind."""
    import puasim.live.sniff as sniff

    def refuse(self, *args, **kwargs):
        raise sniff.CaptureUnavailable("cannot capture on lo: refused by the test")

    monkeypatch.setattr(sniff.LoopbackCapture, "start", refuse)
    out = tmp_path / "phones.pcap"
    with pytest.raises(sniff.CaptureUnavailable, match="refused by the test"):
        run_phones(SCENARIOS / "edge_basic_call.yaml", ("127.0.0.1", 9), capture=str(out))
    assert not out.exists()


def test_the_comparison_reports_each_difference_of_the_model() -> None:
    """A model configured otherwise than the reference (override_lifetime, callee_trying)
    differs in Expires, in the body and in the number of PUBLISHes: all reported."""
    base = (SCENARIOS / "edge_basic_call.yaml").read_text()
    other = base.replace("pua_dialoginfo: {}", "pua_dialoginfo: {override_lifetime: 120, callee_trying: 1}")
    reference, _ = model_publishes(scenario_from_text(base, str(SCENARIOS / "a.yaml")))
    changed, _ = model_publishes(scenario_from_text(other, str(SCENARIOS / "b.yaml")))
    comparison = compare_publishes(reference, changed)
    assert not comparison.ok
    text = comparison.format()
    assert "PUBLISH 1 (PUBLISH sip:alice@127.0.0.1 Expires 43201 initial state Trying -> 200): expires: real '43201', model '121'" in text
    assert "only the model sent it" in text
    assert compare_publishes(reference, reference).ok


def test_the_if_match_race_is_a_note_not_a_difference() -> None:
    rows, _ = model_publishes(SCENARIOS / "edge_basic_call.yaml")
    early = rows[1]
    assert early.if_match and early.prior_answered
    raced = [replace(early, if_match=False, prior_answered=False) if r is early else r for r in rows]
    comparison = compare_publishes(raced, rows)
    assert comparison.ok and len(comparison.notes) == 1 and "timing" in comparison.notes[0]
    # without the race to explain it, the same If-Match difference is one
    unexplained = [replace(early, if_match=False) if r is early else r for r in rows]
    assert not compare_publishes(unexplained, rows).ok


def test_versions_after_an_if_match_race_are_notes() -> None:
    """dlginfo_increase_version counts per record: a PUBLISH that went out initial on one side
    starts a new record there, so the versions after it differ by the race alone."""
    rows, _ = model_publishes(SCENARIOS / "edge_parameters_call.yaml")
    alice = [i for i, r in enumerate(rows) if r.ruri == "sip:alice@127.0.0.1"]
    first_refresh = next(i for i in alice if rows[i].if_match)

    def restart(row):
        return replace(row, body=tuple("@version=0" if line.startswith("@version=") else line for line in row.body))

    raced = list(rows)
    raced[first_refresh] = replace(restart(rows[first_refresh]), if_match=False, prior_answered=False)
    comparison = compare_publishes(raced, rows)
    assert comparison.ok, comparison.format()
    assert any("follows the If-Match race" in n for n in comparison.notes)
    # the same version difference without a race is a difference
    unexplained = list(rows)
    unexplained[first_refresh] = restart(rows[first_refresh])
    assert not compare_publishes(unexplained, rows).ok


def test_the_duration_budget_cuts_a_phones_run() -> None:
    from puasim.live.budgets import LiveBudgets

    async def go():
        host = LiveDriver(names={})
        host.begin()
        node = await host.open("pua", ("127.0.0.1", 0), lambda a: _Silent())
        try:
            return await run_phones_async(load_scenario(SCENARIOS / "edge_basic_call.yaml"), node.address,
                                          budgets=LiveBudgets(max_duration=0.6))
        finally:
            host.close()

    result = asyncio.run(go())
    assert result.wall_time < 3
    assert any("cut at 0.6 s by the duration budget" in n for n in result.notes)


def test_a_capture_is_rebased_to_the_runs_start() -> None:
    """The capture counts from its first packet's whole second; the scenario from the run's t = 0."""
    from puasim.live.phones import _rebased
    from puasim.trace.trace import Trace

    cap = Trace({"epoch": 1_000, "source": "x.pcap"})
    cap.add(100_000, "alice", Note("info", "first"))
    out = _rebased(cap, 999.5)
    assert out.meta["epoch"] == 999.5 and out.meta["source"] == "x.pcap"
    assert [r.time for r in out.records] == [600_000]


def test_a_watching_phone_subscribes_to_the_server_and_gets_its_notifies() -> None:
    """carol watches alice (BLF): live, her SUBSCRIBE goes to the server given, whose NOTIFYs
    (from an address other than the node's) are read, not dropped as strangers."""
    text = (SCENARIOS / "edge_basic_call.yaml").read_text().replace(
        "steps:\n",
        "  - {name: carol, aor: \"sip:carol@127.0.0.1\", address: 127.0.0.1:5094, refresh: none, watch: [alice]}\n"
        "steps:\n")
    path = SCENARIOS / "watch.yaml"
    scn = scenario_from_text(text, str(path))

    async def go():
        host = LiveDriver(names={})
        host.begin()
        server = await host.open("server", ("127.0.0.1", 0), lambda a: PresenceServer(
            a[0], a[1], rng=random.Random(2), epoch=int(host.epoch)))
        cfg = replace(scn.pua_config, outbound_proxy=f"sip:127.0.0.1:{server.address[1]}")
        node = await host.open("pua", ("127.0.0.1", 0), lambda a: make_edge(scn.registrations, Pua(
            cfg, host=a[0], port=a[1], rng=random.Random(1), epoch=int(host.epoch))))
        try:
            return await run_phones_async(scn, node.address, server=server.address), server.address
        finally:
            host.close()

    result, server = asyncio.run(go())
    sent = [r for r in result.trace if type(r.event) is MessageSent]
    assert any(r.node == "carol" and r.event.dst == server and getattr(r.event.message, "method", "") == "SUBSCRIBE"
               for r in sent)
    notifies = [r for r in sent if r.node == "server" and getattr(r.event.message, "method", "") == "NOTIFY"]
    assert len(notifies) >= 3  # the initial one, then alice's call states
    assert result.trace.meta.get("dropped") is None and "stranger" not in " ".join(result.notes)
