"""The notifier in a Simulation with the real PUA model (pua-reference §4) as subscriber.

Set up like the lab's experiment d2 (the lab README, finding d): the server
grants at most 30 s, pua refreshes every update_period (10 s) and
``check_remote_contact`` is 0 as in the lab's pua.cfg.
"""

from __future__ import annotations

from puasim.effects import SECOND
from puasim.pua.config import load_config
from puasim.pua.constants import Source
from puasim.pua.info import PublInfo, SubsInfo
from puasim.pua.model import Pua
from puasim.server import PresenceServer, add_server
from puasim.sim import Simulation
from puasim.sip import headers as H
from puasim.sip.message import Request, Response
from puasim.trace.events import MessageSent

EPOCH = 1_795_735_022
SERVER = ("127.0.0.1", 5060)
PUA = ("127.0.0.1", 5070)
ALICE = "sip:alice@127.0.0.1"
BOB = "sip:bob@127.0.0.1:5070"
PIDF = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<presence xmlns="urn:ietf:params:xml:ns:pidf" '
    b'entity="sip:alice@127.0.0.1"><tuple id="t1"><status><basic>open</basic></status></tuple></presence>'
)


def build(seed: int = 11, **knobs):
    sim = Simulation(seed=seed, epoch=EPOCH)
    knobs.setdefault("subs_max_expires", 30)
    server = add_server(sim, "server", SERVER, "kamailio", **knobs)
    cfg = load_config(
        {"outbound_proxy": "sip:127.0.0.1:5060", "update_period": 10, "check_remote_contact": 0}
    )

    def make_pua(node):
        return Pua(cfg, host=PUA[0], port=PUA[1], rng=sim.streams("pua"), epoch=EPOCH)

    pua = sim.add_node("pua", PUA, make_pua)
    return sim, server, pua


def at(sim, node, t, what, fn_name, info):
    sim.kernel.call_at(t, lambda: node.call(what, getattr(node.endpoint, fn_name), info, sim.now))


def sent(sim, node, cls=None, method=None):
    out = []
    for r in sim.trace.of(MessageSent, node=node):
        msg = r.event.message
        if r.event.retransmission or (cls is not None and not isinstance(msg, cls)):
            continue
        if method is not None:
            m = msg.method if isinstance(msg, Request) else H.cseq(msg).method
            if m != method:
                continue
        out.append((r.time, msg))
    return out


def subs(expires: int) -> SubsInfo:
    return SubsInfo(
        pres_uri=ALICE, watcher_uri=BOB, contact=BOB, event=1,
        source_flag=int(Source.RPC_SUBSCRIBE), expires=expires,
    )  # fmt: skip


def test_pua_subscription_is_established_refreshed_and_ends():
    sim, server, pua = build()
    at(sim, pua, 0, "send_subscribe", "send_subscribe", subs(90))
    publ = PublInfo(
        pres_uri=ALICE, event=1, source_flag=int(Source.RPC_ASYN_PUBLISH), expires=3600,
        body=PIDF, content_type="application/pidf+xml",
    )  # fmt: skip
    at(sim, pua, 5 * SECOND, "send_publish", "send_publish", publ)
    sim.run(until=140 * SECOND)

    srv: PresenceServer = server.endpoint
    subscribes = sent(sim, "pua", Request, "SUBSCRIBE")
    replies = sent(sim, "server", Response, "SUBSCRIBE")
    # initial (CSeq 10, Expires 100) then in-dialog refreshes to the server's Contact
    assert [H.cseq(m).seq for _, m in subscribes][:3] == [10, 11, 12]
    assert subscribes[0][1].get("expires") == "100"
    assert all(m.uri == "sip:presence@127.0.0.1:5060" for _, m in subscribes[1:])
    assert [r.status for _, r in replies] == [200] * len(subscribes)
    assert replies[0][1].get("expires") == "30"  # capped by subs_max_expires
    to_tag = H.to(replies[0][1]).tag
    assert all(H.to(m).tag == to_tag for _, m in subscribes[1:])

    # the dialog record of the PUA after the initial 2xx (pua-reference §4.7)
    notifies = sent(sim, "server", Request, "NOTIFY")
    first = notifies[0][1]
    assert (first.get("cseq"), first.get("subscription-state")) == ("2 NOTIFY", "active;expires=30")
    assert [H.cseq(m).seq for _, m in notifies] == list(range(2, 2 + len(notifies)))
    # the PUA answered every NOTIFY 200 (its NotifyPolicy), so none was retransmitted
    answers = sent(sim, "pua", Response, "NOTIFY")
    assert [r.status for _, r in answers] == [200] * len(notifies)
    # the publish at 5 s reached bob with the body pua sent (its PIDF processor rewrites it)
    published = sent(sim, "pua", Request, "PUBLISH")[0][1].body
    (t, n) = next((t, m) for t, m in notifies if m.body)
    assert (n.body, n.get("content-type")) == (published, "application/pidf+xml")
    assert t == 5 * SECOND + 1_000 and b"<basic>open</basic>" in n.body

    # pua stops refreshing once its wanted end (90 s) is covered; the last grant lapses
    last = notifies[-1][1]
    assert last.get("subscription-state") == "terminated;reason=timeout"
    assert srv.count_subscriptions(ALICE, sim.now) == 0
    assert len(subscribes) >= 4


def test_pua_dialog_record_matches_the_server_dialog():
    sim, server, pua = build()
    at(sim, pua, 0, "send_subscribe", "send_subscribe", subs(600))
    sim.run(until=2 * SECOND)
    srv: PresenceServer = server.endpoint
    (sub,) = list(srv.notifier)
    (rec,) = [r for r in pua.endpoint.records() if not r.is_temporary]
    assert (rec.call_id, rec.to_tag, rec.from_tag) == (sub.call_id, sub.local_tag, sub.remote_tag)
    assert rec.remote_contact == "sip:presence@127.0.0.1:5060"
    assert sub.remote_target == BOB and sub.state == "active"
    assert srv.count_subscriptions(ALICE, sim.now) == 1


def test_same_seed_same_trace_with_notify():
    def run(seed):
        sim, _, pua = build(seed)
        at(sim, pua, 0, "send_subscribe", "send_subscribe", subs(90))
        sim.run(until=60 * SECOND)
        return sim.trace.digest()

    assert run(4) == run(4)
