"""Simulated phones: REGISTER through the transaction layer, refresh policies, 423, de-registration."""

from __future__ import annotations

from puasim.companions.usrloc import PuaUsrlocConfig
from puasim.edge import EdgeProxy, NodeConfig, default_script
from puasim.effects import SECOND
from puasim.node.registrar import RegistrarConfig
from puasim.node.usrloc import UsrlocConfig
from puasim.phones import Phone, PhoneConfig
from puasim.pua.config import load_config
from puasim.pua.model import Pua
from puasim.server.endpoint import add_server
from puasim.sim.node import Node
from puasim.sim.simulation import Simulation
from puasim.trace.events import ContactChanged, MessageSent

EDGE = ("127.0.0.1", 5080)


def build(registrar: RegistrarConfig | None = None, **phone: object) -> tuple[Simulation, Node, Node]:
    sim = Simulation(seed=5)
    add_server(sim, "server", ("127.0.0.1", 5060))
    cfg = load_config({"outbound_proxy": "sip:127.0.0.1:5060"})
    node = NodeConfig(UsrlocConfig(timer_interval=5), registrar or RegistrarConfig(min_expires=0),
                      pua_usrloc=PuaUsrlocConfig("127.0.0.1"))
    edge = sim.add_node("pua", EDGE, lambda _n: EdgeProxy(
        Pua(cfg, host=EDGE[0], port=EDGE[1], rng=sim.streams("pua"), epoch=sim.epoch), node, default_script(node.modules)))
    settings: dict = {"name": "alice", "aor": "sip:alice@127.0.0.1", "address": ("127.0.0.1", 5090), "registrar": EDGE,
                      "contacts": ("sip:alice@127.0.0.1:5090",), "expires": 60}
    settings.update(phone)
    pcfg = PhoneConfig(**settings)
    ph = sim.add_node("alice", pcfg.address, lambda _n: Phone(pcfg, sim.streams("alice")))
    return sim, edge, ph


def registers(sim: Simulation) -> list[tuple[float, object]]:
    return [(r.time / SECOND, r.event.message) for r in sim.trace.records
            if type(r.event) is MessageSent and getattr(r.event.message, "method", "") == "REGISTER"
            and not r.event.retransmission]


def contact_events(sim: Simulation) -> list[tuple[str, str]]:
    return [(r.event.event, r.event.uri) for r in sim.trace.records if type(r.event) is ContactChanged]


def test_fraction_policy_refreshes_at_half_the_grant_with_the_same_call_id() -> None:
    sim, _edge, ph = build(refresh=("fraction", 0.5))
    sim.kernel.call_at(0, lambda: ph.call("register", ph.endpoint.register, sim.now))
    sim.run(until=100 * SECOND)
    regs = registers(sim)
    assert [round(t) for t, _ in regs] == [0, 30, 60, 90]
    assert len({m.get("call-id") for _, m in regs}) == 1  # type: ignore[attr-defined]
    assert [m.get("cseq") for _, m in regs] == ["1 REGISTER", "2 REGISTER", "3 REGISTER", "4 REGISTER"]  # type: ignore[attr-defined]
    assert contact_events(sim) == [("insert", "sip:alice@127.0.0.1:5090")] + [("update", "sip:alice@127.0.0.1:5090")] * 3


def test_lead_policy_refreshes_before_the_end() -> None:
    sim, _edge, ph = build(refresh=("lead", 5))
    sim.kernel.call_at(0, lambda: ph.call("register", ph.endpoint.register, sim.now))
    sim.run(until=120 * SECOND)
    assert [round(t) for t, _ in registers(sim)] == [0, 55, 110]


def test_423_makes_the_phone_retry_with_min_expires() -> None:
    sim, _edge, ph = build(RegistrarConfig(min_expires=120, min_expires_mode=1), expires=30, refresh=("none", 0))
    sim.kernel.call_at(0, lambda: ph.call("register", ph.endpoint.register, sim.now))
    sim.run(until=5 * SECOND)
    regs = registers(sim)
    assert [m.get("expires") for _, m in regs] == ["30", "120"]  # type: ignore[attr-defined]
    assert ph.endpoint.granted == 120


def test_crash_stops_refreshing_and_the_contact_expires_from_the_timer() -> None:
    sim, _edge, ph = build(expires=20, refresh=("fraction", 0.5))
    sim.kernel.call_at(0, lambda: ph.call("register", ph.endpoint.register, sim.now))
    sim.kernel.call_at(12 * SECOND, lambda: ph.crash("test"))
    sim.run(until=60 * SECOND)
    assert [round(t) for t, _ in registers(sim)] == [0, 10]
    assert contact_events(sim)[-1] == ("expire", "sip:alice@127.0.0.1:5090")
    expire = next(r for r in sim.trace.records if type(r.event) is ContactChanged and r.event.event == "expire")
    assert 30 * SECOND <= expire.time <= 35 * SECOND  # expired at 10 + 20 s, found by the next 5 s tick


def test_two_contacts_change_contact_and_unregister() -> None:
    sim, _edge, ph = build(contacts=("sip:alice@127.0.0.1:5090", "sip:alice@127.0.0.1:5091"), refresh=("none", 0))
    sim.kernel.call_at(0, lambda: ph.call("register", ph.endpoint.register, sim.now))
    sim.kernel.call_at(5 * SECOND, lambda: ph.call("change", ph.endpoint.change_contact, sim.now,
                                                    ["sip:alice@127.0.0.1:5090", "sip:alice@127.0.0.1:5099"], True))
    sim.kernel.call_at(10 * SECOND, lambda: ph.call("unregister", ph.endpoint.unregister, sim.now, None, True))
    sim.run(until=15 * SECOND)
    regs = registers(sim)
    assert regs[1][1].get("contact") == "<sip:alice@127.0.0.1:5090>, <sip:alice@127.0.0.1:5099>, <sip:alice@127.0.0.1:5091>;expires=0"  # type: ignore[attr-defined]
    assert regs[2][1].get("contact") == "*" and regs[2][1].get("expires") == "0"  # type: ignore[attr-defined]
    assert contact_events(sim) == [
        ("insert", "sip:alice@127.0.0.1:5091"), ("insert", "sip:alice@127.0.0.1:5090"),
        ("delete", "sip:alice@127.0.0.1:5091"), ("insert", "sip:alice@127.0.0.1:5099"),
        ("update", "sip:alice@127.0.0.1:5090"),
        ("delete", "sip:alice@127.0.0.1:5090"), ("delete", "sip:alice@127.0.0.1:5099"),
    ]
    assert ph.endpoint.registered is False


def test_phone_answers_notify_with_200() -> None:
    from puasim.sip.message import Request

    sim, _edge, ph = build()
    notify = Request("NOTIFY", "sip:alice@127.0.0.1:5090", (
        ("Via", "SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK-n1"), ("From", "<sip:x@h>;tag=1"), ("To", "<sip:alice@h>;tag=2"),
        ("Call-ID", "n1"), ("CSeq", "1 NOTIFY"), ("Content-Length", "0")))
    sim.kernel.call_at(0, lambda: sim.network.send("pua", EDGE, ("127.0.0.1", 5090), notify, False))
    sim.run(until=SECOND)
    replies = [r.event.message for r in sim.trace.records if type(r.event) is MessageSent and r.node == "alice"]
    assert [m.status for m in replies] == [200]  # type: ignore[attr-defined]
