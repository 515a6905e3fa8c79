"""PresenceServer inside a Simulation, talking to a tiny hand-written client."""

from __future__ import annotations

from server_helpers import PIDF

from puasim.effects import SECOND, Outbox
from puasim.server import DropRequests, PresenceServer, Restart, add_server
from puasim.sim import Simulation
from puasim.sip.message import Request
from puasim.trace.events import FaultInjected, MessageSent, ServerStateChanged
from puasim.txn import TransactionLayer

SERVER = ("127.0.0.1", 5060)
CLIENT = ("127.0.0.1", 5070)
AOR = "sip:alice@127.0.0.1"


class TinyClient:
    """Publishes one presentity and keeps the last ETag (no refresh logic of its own)."""

    def __init__(self, rng) -> None:
        self.outbox = Outbox()
        self.layer = TransactionLayer(self.outbox, CLIENT[0], CLIENT[1], rng)
        self.finals: list[tuple[int, int, bool, str | None]] = []
        self.etag: str | None = None
        self.n = 0

    def start(self, now: int) -> None:
        pass

    def receive(self, message, src, now: int) -> None:
        self.layer.receive(message, src, now)

    def timer(self, key, now: int) -> None:
        self.layer.timer(key, now)

    def publish(self, now: int, expires: int = 60, body: bytes = PIDF) -> None:
        self.n += 1
        headers = [
            ("To", f"<{AOR}>"),
            ("From", f"<{AOR}>;tag=c{self.n}"),
            ("CSeq", "10 PUBLISH"),
            ("Call-ID", f"call{self.n}@127.0.0.1"),
            ("Max-Forwards", "70"),
            ("Event", "presence"),
            ("Expires", str(expires)),
        ]
        if self.etag:
            headers.append(("SIP-If-Match", self.etag))
        if body:
            headers.append(("Content-Type", "application/pidf+xml"))
        headers.append(("Content-Length", str(len(body))))
        self.layer.send_request(
            Request("PUBLISH", AOR, tuple(headers), body), SERVER, now, on_final=self._final
        )

    def _final(self, response, faked, txn, now) -> None:
        etag = response.get("sip-etag")
        self.finals.append((now, response.status, faked, etag))
        if 200 <= response.status < 300:
            self.etag = etag
        else:
            self.etag = None


def build(seed=5, faults=()):
    sim = Simulation(seed=seed, epoch=1_795_735_754)
    server = add_server(sim, "server", SERVER, "kamailio", faults=faults, pid=29380)
    client = sim.add_node("client", CLIENT, lambda node: TinyClient(sim.streams("client")))
    return sim, server, client


def at(sim, node, t, **kw):
    sim.kernel.call_at(
        t, lambda: node.call("publish", lambda: node.endpoint.publish(sim.now, **kw))
    )


def test_publish_refresh_expire_in_a_simulation():
    sim, server, client = build()
    assert isinstance(server.endpoint, PresenceServer)
    at(sim, client, 0)
    at(sim, client, 30 * SECOND, body=b"")
    sim.run(until=200 * SECOND)
    finals = client.endpoint.finals
    assert [(s, f, e) for _, s, f, e in finals] == [
        (200, False, "a.1795735754.29380.1.0"),
        (200, False, "a.1795735754.29380.2.1"),
    ]
    changes = sim.trace.of(ServerStateChanged, node="server")
    assert [r.event.action for r in changes] == ["created", "refreshed", "expired"]
    expired = changes[-1]
    assert (
        expired.time == expired.event.expires == 30 * SECOND + 1_000 + 60 * SECOND
    )  # 1 ms link latency
    assert server.endpoint.publications == []


def test_same_seed_same_trace():
    def run(seed):
        sim, _, client = build(seed)
        at(sim, client, 0)
        at(sim, client, 10 * SECOND)
        sim.run(until=100 * SECOND)
        return sim.trace.digest()

    assert run(5) == run(5)
    assert run(5) != run(6)  # To-tags, Via branches differ


def test_dropped_publish_times_out_at_the_client():
    sim, server, client = build(faults=[DropRequests(count=1)])
    at(sim, client, 0)
    sim.run(until=40 * SECOND)
    ((when, status, faked, _),) = client.endpoint.finals
    assert (status, faked, when) == (408, True, 32 * SECOND)  # timer F = 64*T1
    from_server = [r for r in sim.trace.of(MessageSent) if r.node == "server"]
    assert from_server == []
    assert [r.event.kind for r in sim.trace.of(FaultInjected)] == ["drop"]


def test_restart_makes_the_next_refresh_fail_with_412():
    sim, server, client = build(faults=[Restart(at=10 * SECOND)])
    at(sim, client, 0)
    at(sim, client, 20 * SECOND, body=b"")
    at(sim, client, 30 * SECOND)
    sim.run(until=40 * SECOND)
    statuses = [s for _, s, _, _ in client.endpoint.finals]
    assert statuses == [200, 412, 200]
    new_etag = client.endpoint.finals[-1][3]
    assert new_etag.split(".")[1] == "1795735764"  # restarted 10 s after the epoch
    actions = [r.event.action for r in sim.trace.of(ServerStateChanged)]
    assert actions == ["created", "forgotten", "created"]
