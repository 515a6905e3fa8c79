"""A registration run exports to pcap with the phones' traffic, and reads back the same."""

from __future__ import annotations

from pathlib import Path

from puasim.capture.pcap import export_pcap
from puasim.capture.reader import read_pcap
from puasim.scenario import run_scenario
from puasim.trace.events import MessageSent

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "registrations" / "two_contacts_flag_mode.yaml"


def test_phone_messages_are_in_the_pcap(tmp_path: Path) -> None:
    trace = run_scenario(str(SCENARIO)).trace
    sent = [r.event for r in trace.records if type(r.event) is MessageSent]
    frames = export_pcap(trace, tmp_path / "reg.pcap")
    assert frames == len(sent)
    back = [r.event for r in read_pcap(tmp_path / "reg.pcap").records if type(r.event) is MessageSent]
    flows = [(e.src, e.dst, getattr(e.message, "method", None) or e.message.status) for e in back]
    assert flows[0] == (("127.0.0.1", 5095), ("127.0.0.1", 5080), "REGISTER")
    assert (("127.0.0.1", 5080), ("127.0.0.1", 5095), 200) in flows
    assert [f for f in flows if f[2] == "PUBLISH"] == [(("127.0.0.1", 5080), ("127.0.0.1", 5060), "PUBLISH")] * 2
