"""Calls through a real Kamailio 5.6 edge node (usrloc, registrar, dialog, pua_dialoginfo) on loopback.

puasim's phones run live (puasim.live.phones) against the node; the node
publishes to a real Kamailio presence server; a capture on lo of the node's,
the server's and the phones' ports shows what the node PUBLISHed.  Each
scenario file also runs in the simulator on the edge node model (the pytest
plugin collects tests/live/scenarios/), and the differential test compares the
two PUBLISH sequences (puasim.live.edgediff).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from puasim.live.edgediff import PublishRow, compare_publishes, model_publishes, publish_rows
from puasim.live.kamailio import KamailioProcess, edge_params
from puasim.live.phones import PhonesResult, run_phones
from puasim.scenario.runner import load_scenario

from .conftest import HERE

pytestmark = pytest.mark.live

SCENARIOS = HERE / "scenarios"
#: the live scenarios of calls; each runs once per module, then the tests read its outcome
CALLS = ("edge_basic_call", "edge_rejected_call", "edge_cancelled_call", "edge_prack_call",
         "edge_parameters_call", "edge_forked_call", "edge_dialog_timeout")
#: how far apart the two sides may send a PUBLISH (from each side's first one): the phones keep
#: the same schedule on both (20 ms apart on a quiet machine), but a loaded one delays the real
#: node and the live phones by up to a second; the dialog module's timer ticks once a second
TIME_SLACK = {"edge_dialog_timeout": 1_500_000}
DEFAULT_SLACK = 1_000_000


@dataclass
class LiveCall:
    result: PhonesResult
    node: KamailioProcess
    #: the PUBLISHes the real node sent, from the capture
    rows: list[PublishRow]


@pytest.fixture(scope="module")
def live_call(presence_server, edge_nodes, tmp_path_factory) -> Callable[[str], LiveCall]:
    """``live_call(name)``: the scenario's phones against a fresh real edge node started with the
    scenario's own parameters, captured on lo (run once per module, then cached)."""
    runs: dict[str, LiveCall] = {}

    def run(name: str) -> LiveCall:
        if name not in runs:
            path = SCENARIOS / f"{name}.yaml"
            node = edge_nodes(edge_params(load_scenario(path)))
            pcap = tmp_path_factory.mktemp("calls") / f"{name}.pcap"
            result = run_phones(path, node.sip, server=presence_server.sip, capture=pcap)
            assert result.capture_trace is not None
            names = {node.sip: "pua", presence_server.sip: "server", **{a: n for n, a in result.phones.items()}}
            runs[name] = LiveCall(result, node, publish_rows(result.capture_trace, node.sip, names))
            node.stop()  # its log stays; the next scenario gets a node of its own
        return runs[name]

    return run


def _states(rows) -> list[tuple[str, str | None, str, bool]]:
    out = []
    for row in rows:
        state = next(line.split("=", 1)[1] for line in row.body if line.startswith("dialog/state="))
        out.append((row.ruri, row.expires, state, row.if_match))
    return out


def test_a_basic_call_through_the_real_edge_node(live_call, can_capture) -> None:
    """REGISTER x2, INVITE, 180, 200, ACK, BYE: the scenario's own expectations hold on the
    capture, and the node published Trying, early x2, confirmed x2, terminated x2."""
    run = live_call("edge_basic_call")
    assert run.result.passed, [f.message for f in run.result.failures]
    rows = run.rows
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


def test_a_rejected_call_through_the_real_edge_node(live_call, can_capture) -> None:
    """486 at once, never early: alice Trying, alice terminated, bob an initial terminated."""
    run = live_call("edge_rejected_call")
    assert run.result.passed, [f.message for f in run.result.failures]
    states = _states(run.rows)
    assert [(uri, exp, state) for uri, exp, state, _ in states] == [
        ("sip:alice@127.0.0.1", "43201", "Trying"), ("sip:alice@127.0.0.1", "11", "terminated"),
        ("sip:bob@127.0.0.1", "11", "terminated")]
    assert states[2][3] is False


def test_a_cancelled_call_through_the_real_edge_node(live_call, can_capture) -> None:
    """CANCEL while ringing: early x2, then terminated x2 (Expires 11) before the 487 goes up."""
    run = live_call("edge_cancelled_call")
    assert run.result.passed, [f.message for f in run.result.failures]
    states = _states(run.rows)
    assert [(uri, exp, state) for uri, exp, state, _ in states] == [
        ("sip:alice@127.0.0.1", "43201", "Trying"),
        ("sip:alice@127.0.0.1", "43201", "early"), ("sip:bob@127.0.0.1", "43201", "early"),
        ("sip:alice@127.0.0.1", "11", "terminated"), ("sip:bob@127.0.0.1", "11", "terminated")]


def test_a_100rel_call_and_a_hangup_by_the_callee(live_call, can_capture) -> None:
    """183 with 100rel: early x2 on the 183, nothing for the PRACK, confirmed x2, and
    terminated x2 on bob's BYE (the lab kept no capture of this one)."""
    run = live_call("edge_prack_call")
    assert run.result.passed, [f.message for f in run.result.failures]
    assert [state for _, _, state, _ in _states(run.rows)] == [
        "Trying", "early", "early", "confirmed", "confirmed", "terminated", "terminated"]


def test_a_forked_call_and_a_dialog_timeout(live_call, can_capture) -> None:
    """Two contacts for bob: an early publication per 180 of each fork; the dialog module's
    default_timeout of 3 s ends a confirmed call by itself (terminated, Expires 11), 2 to 4 s
    after the 200 (the timeout counts whole ticks; once lab CI saw 2.33 s)."""
    forked = live_call("edge_forked_call")
    assert forked.result.passed, [f.message for f in forked.result.failures]
    assert [state for _, _, state, _ in _states(forked.rows)].count("early") == 4
    timeout = live_call("edge_dialog_timeout")
    assert timeout.result.passed, [f.message for f in timeout.result.failures]
    rows = timeout.rows
    assert [r.expires for r in rows] == ["4"] * 5 + ["11"] * 2
    confirmed = next(r for r in rows if "dialog/state=confirmed" in r.body)
    # whole-second ticks: expiry tick = tick at the 200 + 3, looked for once a second (2-4 s)
    assert 1_900_000 <= rows[-1].time - confirmed.time <= 4_500_000


def test_the_scenario_parameters_reach_the_real_node(live_call, can_capture) -> None:
    """override_lifetime 120, callee_trying, caller_confirmed, no call-id or tags,
    dlginfo_increase_version: the node was started with what the scenario says."""
    run = live_call("edge_parameters_call")
    assert run.result.passed, [f.message for f in run.result.failures]
    assert {row.expires for row in run.rows} == {"121", "11"}
    assert [line for line in run.rows[-1].body if line.startswith("@version")] == ["@version=3"]
    assert not any(line.startswith(("dialog@call-id", "dialog@local-tag")) for row in run.rows for line in row.body)


@pytest.mark.parametrize("name", CALLS)
def test_differential_real_edge_node_vs_model(name, live_call, can_capture) -> None:
    """The same calls through the real node and the edge node model: the same PUBLISHes
    (R-URI, Event, Expires, Content-Type, If-Match present or not, reply status, body tree),
    random values (dialog id, Call-ID, tags, ETags) by presence only."""
    real = live_call(name).rows
    model, sim = model_publishes(SCENARIOS / f"{name}.yaml")
    assert sim.passed
    comparison = compare_publishes(real, model, time_slack=TIME_SLACK.get(name, DEFAULT_SLACK))
    gap = max(abs((a.time - real[0].time) - (b.time - model[0].time)) for a, b in zip(real, model, strict=False))
    print(f"{name}: {comparison.format()} (largest send-time gap {gap / 1000:.1f} ms)")
    assert comparison.ok, comparison.format()
    assert len(real) >= 3


def test_the_cli_runs_a_scenarios_phones_against_a_real_edge_node(presence_server, edge_nodes, can_capture,
                                                                   tmp_path, capsys) -> None:
    from puasim.cli import main

    node = edge_nodes({"registrar.min_expires": 0})
    trace = tmp_path / "phones.jsonl"
    argv = ["live", str(SCENARIOS / "edge_cancelled_call.yaml"), "--node", f"{node.sip[0]}:{node.sip[1]}",
            "--server", f"{presence_server.sip[0]}:{presence_server.sip[1]}", "--capture", str(tmp_path / "c.pcap"),
            "--trace", str(trace)]
    assert main(argv) == 0, capsys.readouterr().out
    out = capsys.readouterr().out
    assert "live_edge_cancelled_call: pass" in out and "capture written to" in out
    assert trace.stat().st_size > 0
    assert main(["live", str(SCENARIOS / "edge_cancelled_call.yaml"), "--node", "192.0.2.1:5080"]) == 2


@pytest.mark.parametrize("name", CALLS)
def test_check_agrees_with_the_real_edge_nodes_capture(name, live_call, can_capture) -> None:
    """``puasim check`` in calls mode on the capture of the real node: every dialog PUBLISH as the
    model predicts from the captured calls, the dialog timer's expiry included (edge_dialog_timeout:
    default_timeout read from when the real node's terminated PUBLISHes left, whole-second ticks)."""
    from puasim.capture.dlgcheck import check_calls

    run = live_call(name)
    assert run.result.capture_trace is not None
    report = check_calls(run.result.capture_trace, node_address=run.node.sip)
    print(report.format())
    assert report.ok, report.format()
    if name == "edge_dialog_timeout":
        assert [r.kind for r in report.rows].count("expired") == 2
        assert report.params["dialog.default_timeout"] == 3
