"""IPv6 end to end: a simulated run on ::1, exported to pcap, read back and checked.

An IPv6 address in a SIP URI or a Via sent-by is written in brackets
(RFC 3261 §25.1 ``IPv6reference``, RFC 5118 §4.1): ``sip:[::1]:5060``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from puasim.capture import export_pcap, read_pcap
from puasim.capture.check import check_capture
from puasim.cli import main
from puasim.scenario.runner import run_scenario
from puasim.sip import headers as H
from puasim.sip.message import Request
from puasim.trace.events import MessageSent

from .conftest import REPO

BODY = REPO / "scenarios" / "bodies" / "pidf-open.xml"

SCENARIO = f"""\
name: refresh_on_ipv6
description: the refresh_indefinite flow with every node on ::1
refs: ["RFC 3261 §25.1", "RFC 5118 §4.1", "pua-reference §5.3"]
duration: 7300
pua:
  address: "[::1]:5070"
  params: {{outbound_proxy: "sip:[::1]:5060", update_period: 100}}
server:
  address: "[::1]:5060"
steps:
  - {{at: 0, do: rpc.publish, args: ["sip:alice@[::1]", "-1", presence, ., ., ., ., .], with: {{body_file: {BODY}}}}}
expect:
  - sequence:
      - {{from: pua, method: PUBLISH, expires: 3601, body: present}}
      - {{from: server, status: 200}}
      - {{from: pua, method: PUBLISH, at: 3515, body: absent}}
      - {{from: server, status: 200}}
  - count: {{match: {{from: pua, method: PUBLISH}}, equals: 3}}
"""


@pytest.fixture(scope="module")
def ipv6_pcap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ipv6")
    scenario = folder / "refresh_on_ipv6.yaml"
    scenario.write_text(SCENARIO)
    result = run_scenario(scenario)
    assert result.passed, [f.message for f in result.failures]
    path = folder / "v6.pcap"
    export_pcap(result.trace, path)
    return path


def test_vias_and_contacts_bracket_the_ipv6_host(ipv6_pcap: Path) -> None:
    trace = read_pcap(ipv6_pcap)
    requests = [r.event for r in trace if type(r.event) is MessageSent and isinstance(r.event.message, Request)]
    assert len(requests) == 3
    for ev in requests:
        assert ev.src == ("::1", 5070)
        assert ev.message.get("Via").startswith("SIP/2.0/UDP [::1]:5070;")
        via = H.top_via(ev.message)
        assert via is not None and via.port == 5070


def test_an_ipv6_capture_conforms_to_the_model(ipv6_pcap: Path) -> None:
    report = check_capture(ipv6_pcap, params={"update_period": 100})
    assert report.ok, report.format()
    assert [r.kind for r in report.rows] == ["publish", "refresh", "refresh"]
    assert "real PUA [::1]:5070 -> server [::1]:5060" in report.format()


def test_the_check_command_takes_a_bracketed_pua_address(ipv6_pcap: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(ipv6_pcap), "--pua", "[::1]:5070", "--params", "update_period=100"]) == 0
    assert "3 requests compared, 0 differ" in capsys.readouterr().out


def test_the_live_outbound_proxy_brackets_an_ipv6_server() -> None:
    from puasim.live.scenario import _hostport

    assert _hostport(("::1", 5060)) == "[::1]:5060"
    assert _hostport(("127.0.0.1", 5060)) == "127.0.0.1:5060"
