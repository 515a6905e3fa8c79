"""The live driver without Kamailio: loopback safety, budgets, and the model against puasim's
own simulated presence server, both on real sockets in real time."""

from __future__ import annotations

import asyncio
import json
import random

import pytest

from puasim.live.driver import LiveDriver, LiveSafetyError, check_target, is_loopback
from puasim.live.scenario import run_live, run_live_async
from puasim.scenario.runner import load_scenario, scenario_from_text
from puasim.server.endpoint import PresenceServer
from puasim.trace.events import MessageSent, RunError

from .conftest import HERE


@pytest.mark.parametrize("host", ["127.0.0.1", "127.3.2.1", "::1", "[::1]", "localhost"])
def test_loopback_addresses_pass(host) -> None:
    assert is_loopback(host)
    check_target((host, 5060))


@pytest.mark.parametrize("host", ["10.0.0.1", "192.168.1.1", "8.8.8.8", "fd00::1", "example.com", ""])
def test_anything_else_is_refused_unless_allowed(host) -> None:
    assert not is_loopback(host)
    with pytest.raises(LiveSafetyError, match="--allow-remote"):
        check_target((host, 5060))
    check_target((host, 5060), allow_remote=True)


def test_run_live_refuses_a_remote_server_before_doing_anything() -> None:
    scn = load_scenario(HERE / "scenarios" / "publish_modify_remove.yaml")
    with pytest.raises(LiveSafetyError, match="192.0.2.7:5060 is not a loopback"):
        run_live(scn, ("192.0.2.7", 5060))
    with pytest.raises(LiveSafetyError, match="bind address"):
        run_live(scn, ("127.0.0.1", 5060), bind=("192.0.2.8", 0))


async def _with_sim_server(scn, **kw):
    srv = LiveDriver(names={})
    srv.begin()

    def make(addr):
        return PresenceServer(addr[0], addr[1], "kamailio", random.Random(7), epoch=int(srv.epoch))

    node = await srv.open("server", ("127.0.0.1", 0), make)
    try:
        return await run_live_async(scn, node.address, **kw)
    finally:
        srv.close()


def test_the_live_scenario_passes_against_the_simulated_server_on_real_sockets() -> None:
    scn = load_scenario(HERE / "scenarios" / "publish_modify_remove.yaml")
    result = asyncio.run(_with_sim_server(scn))
    assert result.passed, [f.message for f in result.failures]
    assert result.skipped_steps and "network.drop" in result.skipped_steps[0]
    assert result.skipped_expectations and "server_state" in result.skipped_expectations[0]
    sent = [r for r in result.trace if type(r.event) is MessageSent]
    assert [r.node for r in sent] == ["pua", "server"] * 3
    assert result.trace.meta["epoch"] == int(result.trace.meta["epoch"])  # aligned to a whole second


def test_a_send_to_a_remote_address_is_refused_and_recorded() -> None:
    scn = scenario_from_text(
        """
refs: [live safety]
duration: 0.5
steps:
  - at: 0.1
    do: publish
    with:
      pres_uri: "sip:a@127.0.0.1"
      expires: 60
      outbound_proxy: "sip:192.0.2.9:5060"
      body: '<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:a@127.0.0.1"><tuple id="t1"><status><basic>open</basic></status></tuple></presence>'
expect:
  - count: {match: {from: pua, method: PUBLISH}, equals: 0}
"""
    )
    result = asyncio.run(_with_sim_server(scn, grace=0.1))
    errors = [r.event for r in result.trace if type(r.event) is RunError]
    assert errors and "192.0.2.9:5060 is not a loopback address" in errors[0].error
    assert not result.passed  # a refused hop is recorded and is not a pass
    assert [f.kind for f in result.failures] == ["run"]
    assert "192.0.2.9:5060 is not a loopback address" in result.failures[0].message


def test_the_send_budget_stops_a_run() -> None:
    scn = load_scenario(HERE / "scenarios" / "publish_modify_remove.yaml")

    async def go():
        srv = LiveDriver()
        srv.begin()
        node = await srv.open("server", ("127.0.0.1", 0),
                              lambda a: PresenceServer(a[0], a[1], "kamailio", random.Random(1), epoch=int(srv.epoch)))
        from puasim.live import scenario as live_scenario

        run = live_scenario._LiveScenario(scn, node.address, ("127.0.0.1", 0), False, None)
        run.driver.max_sent = 1
        try:
            return await run.run(None, 0.5, 0.2)
        finally:
            srv.close()

    result = asyncio.run(go())
    assert not result.passed and "send budget of 1 datagrams exhausted" in (result.error or "")


def test_a_run_against_a_silent_port_says_no_answer() -> None:
    import socket

    scn = load_scenario(HERE / "scenarios" / "publish_modify_remove.yaml")
    # a bound socket that never answers: no ICMP, nothing comes back
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    port = silent.getsockname()[1]
    try:
        result = run_live(scn, silent.getsockname(), grace=0.1)
    finally:
        silent.close()
    assert not result.passed
    first = result.failures[0]
    assert first.kind == "no-answer", result.failures
    assert first.message.startswith(f"no answer from 127.0.0.1:{port}:"), first.message


def test_a_run_against_a_closed_port_names_the_refusal() -> None:
    import socket

    scn = load_scenario(HERE / "scenarios" / "publish_modify_remove.yaml")
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    addr = probe.getsockname()
    probe.close()  # nothing listens there now: the kernel answers with ICMP port unreachable
    result = run_live(scn, addr, grace=0.1)
    assert not result.passed
    assert result.failures[0].message.startswith(f"no answer from 127.0.0.1:{addr[1]}")


def test_a_population_is_skipped_live_with_a_note_and_stat_rates_use_the_duration() -> None:
    body = (HERE.parents[1] / "scenarios" / "bodies" / "pidf-open.xml").read_text()
    scn = scenario_from_text(json.dumps({
        "name": "p", "refs": ["x"], "duration": 1,
        "steps": [{"at": 0, "do": "rpc.publish", "args": ["sip:alice@127.0.0.1", "60", "presence", ".", ".", ".", ".", ".", body]}],
        "population": {"users": 3, "publish": {}},
        "expect": [{"stat": {"metric": "publish_requests", "per_second": True, "equals": 1}}],
    }))
    result = asyncio.run(_with_sim_server(scn, grace=0.2))
    assert result.skipped_steps == ["population (1 group(s)): runs in the simulator only: skipped live"]
    assert result.passed, [f.message for f in result.failures]


def test_a_parse_error_escaping_an_endpoint_costs_that_datagram_only() -> None:
    import socket

    from puasim.effects import Outbox
    from puasim.sip.errors import SipParseError
    from puasim.trace.events import MessageRejected

    class Picky:
        outbox = Outbox()

        def receive(self, message, src, now):
            if message.method == "INFO":
                raise SipParseError("bad Expires", 0, "Expires")

    async def go():
        drv = LiveDriver()
        drv.begin()
        node = await drv.open("pua", ("127.0.0.1", 0), lambda a: Picky())
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for method in ("INFO", "OPTIONS"):
                s.sendto(f"{method} sip:a@127.0.0.1 SIP/2.0\r\nCSeq: 1 {method}\r\n\r\n".encode(), node.address)
            await drv.run_for(0.3)
        drv.close()
        return drv

    drv = asyncio.run(go())
    assert drv.error is None
    (rej,) = [r.event for r in drv.trace if type(r.event) is MessageRejected]
    assert rej.message.method == "INFO" and "bad Expires" in rej.reason
    assert drv.handled == 2
