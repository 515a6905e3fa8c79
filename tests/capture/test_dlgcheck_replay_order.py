"""``puasim check`` on calls: the model's node gets its inputs in the capture's order.

``dialoginfo_reinvite_glare`` once differed in 6 of its 19 PUBLISHes when
checked against its own pcap.  Four dialog PUBLISHes of one record are in
flight at once there (the crossing re-INVITEs and their hop-by-hop ACKs each
publish ``confirmed`` for both sides), so which ETag each one carries depends
on whether the server's 200 reached the node before or after the phone's ACK.
Two things in the replay lost that order:

* the server's replies went out the real server's delay after the model's
  PUBLISH, but the model's node publishes 100 µs after a phone's message
  where the simulated capture's took 1 ms: the replies arrived up to 0.9 ms
  early, ahead of ACKs the node had received before them (rows 10/11, 14-17);
* messages the capture shows at the same instant (an ACK, two 200s, an ACK)
  reached the model's node in the order the replayers had set their timers,
  not in capture order (rows 10/11).
"""

from __future__ import annotations

from pathlib import Path

from puasim.capture.calls import split_wire
from puasim.capture.dlgcheck import check_calls
from puasim.capture.pcap import export_pcap
from puasim.capture.reader import read_pcap
from puasim.scenario.runner import load_scenario, run_scenario
from puasim.sip.message import Request

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios" / "calls"


def _exported(name: str, tmp_path: Path) -> tuple[Path, tuple[str, int]]:
    scn = load_scenario(SCENARIOS / f"{name}.yaml")
    out = tmp_path / f"{name}.pcap"
    export_pcap(run_scenario(scn).trace, out)
    return out, scn.pua_address


def test_reinvite_glare_agrees_with_its_own_capture(tmp_path: Path) -> None:
    out, node = _exported("dialoginfo_reinvite_glare", tmp_path)
    report = check_calls(out, node_address=node)
    assert report.ok, report.format()
    assert len(report.rows) == 19
    # the 412s of the crossing PUBLISHes and pua's recovery rounds are all reproduced
    assert [r.status for r in report.rows].count(412) == 6
    assert sum(r.kind == "recovery" for r in report.rows) == 6


def test_inputs_at_one_instant_are_ranked_in_capture_order(tmp_path: Path) -> None:
    """At 5.004 s the node receives alice's ACK, the server's two 200s and bob's ACK, in that order."""
    out, node = _exported("dialoginfo_reinvite_glare", tmp_path)
    wire = split_wire(read_pcap(out), node)
    at = 5_004_000
    inputs: list[tuple[int, str]] = []
    for (t, src, msg, _f), rank in zip(wire.to_node, wire.to_node_rank, strict=True):
        if t == at:
            inputs.append((rank, f"{msg.method} from {src[1]}" if isinstance(msg, Request) else f"{msg.status}"))
    for (_t, _msg, _f, replies), ranks in zip(wire.publishes, wire.reply_ranks, strict=True):
        inputs.extend((rank, f"{reply.status} from the server") for (t, reply), rank in zip(replies, ranks, strict=True)
                      if t == at)
    assert sorted(inputs) == [(0, "ACK from 5090"), (1, "200 from the server"), (2, "200 from the server"),
                              (3, "ACK from 5092")]
