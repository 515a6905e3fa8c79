"""Calls through a real Kamailio 5.6 edge node (usrloc, registrar, dialog, pua_dialoginfo) on loopback.

puasim's phones run live (puasim.live.phones) against the node; the node
publishes to a real Kamailio presence server; a capture on lo of the node's,
the server's and the phones' ports shows what the node PUBLISHed.  Each
scenario file also runs in the simulator on the edge node model (the pytest
plugin collects tests/live/scenarios/), and the differential test compares the
two PUBLISH sequences (puasim.live.edgediff).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from puasim.live.edgediff import compare_publishes, model_publishes, publish_rows
from puasim.live.phones import PhonesResult, run_phones

from .conftest import HERE

pytestmark = pytest.mark.live

SCENARIOS = HERE / "scenarios"
CALLS = ("edge_basic_call", "edge_rejected_call", "edge_cancelled_call")


def _run(name: str, node, server, tmp_path: Path) -> PhonesResult:
    result = run_phones(SCENARIOS / f"{name}.yaml", node.sip, server=server.sip, capture=tmp_path / f"{name}.pcap")
    assert result.capture_trace is not None
    return result


def _real_rows(result: PhonesResult, node, server) -> list:
    names = {node.sip: "pua", server.sip: "server", **{addr: name for name, addr in result.phones.items()}}
    return publish_rows(result.capture_trace, node.sip, names)


def _states(rows) -> list[tuple[str, str | None, str, bool]]:
    out = []
    for row in rows:
        state = next(line.split("=", 1)[1] for line in row.body if line.startswith("dialog/state="))
        out.append((row.ruri, row.expires, state, row.if_match))
    return out


def test_a_basic_call_through_the_real_edge_node(presence_server, edge_node, can_capture, tmp_path) -> None:
    """REGISTER x2, INVITE, 180, 200, ACK, BYE: the scenario's own expectations hold on the
    capture, and the node published Trying, early x2, confirmed x2, terminated x2."""
    result = _run("edge_basic_call", edge_node, presence_server, tmp_path)
    assert result.passed, [f.message for f in result.failures]
    rows = _real_rows(result, edge_node, presence_server)
    states = _states(rows)
    assert [(uri, exp, state) for uri, exp, state, _ in states] == [
        ("sip:alice@127.0.0.1", "43201", "Trying"),
        ("sip:alice@127.0.0.1", "43201", "early"), ("sip:bob@127.0.0.1", "43201", "early"),
        ("sip:alice@127.0.0.1", "43201", "confirmed"), ("sip:bob@127.0.0.1", "43201", "confirmed"),
        ("sip:alice@127.0.0.1", "11", "terminated"), ("sip:bob@127.0.0.1", "11", "terminated")]
    # bob's first publication is initial; the confirmed and terminated ones refresh a record
    assert [m for _, _, _, m in states][2:] == [False, True, True, True, True]
    assert all(row.status == 200 and row.event == "dialog" for row in rows)
    early_bob = rows[2].body
    assert "dialog@direction=recipient" in early_bob and "dialog@local-tag=*" in early_bob
    assert "dialog/local/target@uri=sip:bob@<bob>" in early_bob  # the 180's Contact


def test_a_rejected_call_through_the_real_edge_node(presence_server, edge_node, can_capture, tmp_path) -> None:
    """486 at once, never early: alice Trying, alice terminated, bob an initial terminated."""
    result = _run("edge_rejected_call", edge_node, presence_server, tmp_path)
    assert result.passed, [f.message for f in result.failures]
    states = _states(_real_rows(result, edge_node, presence_server))
    assert [(uri, exp, state) for uri, exp, state, _ in states] == [
        ("sip:alice@127.0.0.1", "43201", "Trying"), ("sip:alice@127.0.0.1", "11", "terminated"),
        ("sip:bob@127.0.0.1", "11", "terminated")]
    assert states[2][3] is False


def test_a_cancelled_call_through_the_real_edge_node(presence_server, edge_node, can_capture, tmp_path) -> None:
    """CANCEL while ringing: early x2, then terminated x2 (Expires 11) before the 487 goes up."""
    result = _run("edge_cancelled_call", edge_node, presence_server, tmp_path)
    assert result.passed, [f.message for f in result.failures]
    states = _states(_real_rows(result, edge_node, presence_server))
    assert [(uri, exp, state) for uri, exp, state, _ in states] == [
        ("sip:alice@127.0.0.1", "43201", "Trying"),
        ("sip:alice@127.0.0.1", "43201", "early"), ("sip:bob@127.0.0.1", "43201", "early"),
        ("sip:alice@127.0.0.1", "11", "terminated"), ("sip:bob@127.0.0.1", "11", "terminated")]


@pytest.mark.parametrize("name", CALLS)
def test_differential_real_edge_node_vs_model(name, presence_server, edge_node, can_capture, tmp_path) -> None:
    """The same calls through the real node and the edge node model: the same PUBLISHes
    (R-URI, Event, Expires, Content-Type, If-Match present or not, reply status, body tree),
    random values (dialog id, Call-ID, tags, ETags) by presence only."""
    result = _run(name, edge_node, presence_server, tmp_path)
    real = _real_rows(result, edge_node, presence_server)
    model, sim = model_publishes(SCENARIOS / f"{name}.yaml")
    assert sim.passed
    comparison = compare_publishes(real, model)
    print(comparison.format())
    assert comparison.ok, comparison.format()
    assert len(real) >= 3
