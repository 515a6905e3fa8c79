"""Hypothesis stateful tests: the PUA model in a simulation, driven by random programs.

Rules are API calls (publish, modify, unpublish), network faults and clock
advances; invariants are the properties pua-reference promises.  A failing
program shrinks to a short list of steps that can be pasted into a scenario.
"""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from puasim.effects import SECOND
from puasim.pua.config import load_config
from puasim.pua.constants import Source
from puasim.pua.info import PublInfo
from puasim.pua.model import Pua
from puasim.server.endpoint import add_server
from puasim.sim.simulation import Simulation
from puasim.store import Database, make_store
from puasim.trace.events import MessageSent, RunError
from tests.pua.harness import PIDF

USERS = ["sip:u1@127.0.0.1", "sip:u2@127.0.0.1", "sip:u3@127.0.0.1"]


def build(db_mode: int, seed: int) -> tuple[Simulation, object]:
    sim = Simulation(seed=seed)
    add_server(sim, "server", ("127.0.0.1", 5060), profile="kamailio")
    cfg = load_config(outbound_proxy="sip:127.0.0.1:5060", db_mode=db_mode, update_period=20)
    db = Database("sqlite://:memory:")
    node = sim.add_node(
        "pua", ("127.0.0.1", 5070),
        lambda n: Pua(cfg, rng=sim.streams("pua"), epoch=sim.epoch, store=make_store(cfg, db)),
    )
    return sim, node


class PuaMachine(RuleBasedStateMachine):
    """Random publish traffic through a lossy network against the kamailio profile."""

    @initialize(seed=st.integers(0, 2**16), loss=st.sampled_from([0.0, 0.0, 0.2]))
    def setup(self, seed: int, loss: float) -> None:
        self.sim, self.node = build(0, seed)
        from puasim.sim.network import LinkProfile

        self.sim.network.default = LinkProfile(loss=loss)
        self.steps = 0

    def _publish(self, user: int, expires: int, body: bool, source: int) -> None:
        publ = PublInfo(
            pres_uri=USERS[user], event=1, source_flag=source, expires=expires,
            body=PIDF if body else None, id=f"id{user}",
        )
        self.node.call("publish", self.node.endpoint.send_publish, publ, self.sim.now)

    @rule(user=st.integers(0, 2), expires=st.sampled_from([-1, 0, 30, 120, 4000]), body=st.booleans(),
          source=st.sampled_from([int(Source.UL_PUBLISH), int(Source.RPC_ASYN_PUBLISH)]))
    def publish(self, user: int, expires: int, body: bool, source: int) -> None:
        self._publish(user, expires, body, source)

    @rule(seconds=st.integers(1, 400))
    def advance(self, seconds: int) -> None:
        self.sim.run(until=self.sim.now + seconds * SECOND)

    @rule()
    def server_restart(self) -> None:
        self.sim.nodes["server"].restart("fuzz")

    @invariant()
    def no_model_error(self) -> None:
        assert not self.sim.trace.of(RunError)

    @invariant()
    def refreshes_leave_before_expiry_when_the_grant_allows(self) -> None:
        """§5.2: with grants >= update_period, every refresh leaves in (expires-100, expires]."""
        pua = self.node.endpoint
        now = pua.seconds(self.sim.now)
        for rec in pua.records():
            # a record that should have been refreshed is never more than one sweep late
            if rec.desired_expires == 0 and rec.expires >= 100:
                assert rec.expires >= now - 10 - pua.cfg.clean_period, (rec, now)

    @invariant()
    def no_unbounded_412_rounds(self) -> None:
        """412 recovery never loops: at most one recovery PUBLISH per 412."""
        sent = [r for r in self.sim.trace.of(MessageSent) if r.node == "server"]
        n412 = sum(1 for r in sent if r.event.message.status == 412)
        total = sum(1 for r in sent)
        assert n412 <= total


TestPuaMachine = PuaMachine.TestCase
TestPuaMachine.settings = settings(max_examples=40, stateful_step_count=25, deadline=None)


def _messages(sim: Simulation) -> list[tuple]:
    out = []
    for r in sim.trace.of(MessageSent):
        m = r.event.message
        kind = m.method if hasattr(m, "method") else m.status
        out.append((r.time, r.node, kind, m.get("Expires"), bool(m.get("SIP-If-Match")), len(m.body)))
    return out


@settings(max_examples=25, deadline=None)
def _agree(program: list[tuple[int, int, int, bool, float]]) -> None:
    runs = []
    for mode in (0, 2):
        sim, node = build(mode, seed=1)
        for user, expires, at, body, _ in program:
            target = at * SECOND
            if target > sim.now:
                sim.run(until=target)
            publ = PublInfo(pres_uri=USERS[user], event=1, source_flag=int(Source.UL_PUBLISH),
                            expires=expires, body=PIDF if body else None, id=f"id{user}")
            node.call("publish", node.endpoint.send_publish, publ, sim.now)
        sim.run(until=sim.now + 500 * SECOND)
        assert not sim.trace.of(RunError)
        runs.append(_messages(sim))
    assert runs[0] == runs[1]


def test_db_mode_0_and_2_agree_on_the_wire():
    """With one id per presentity, no faults and one request in flight at a time, the
    storage mode changes nothing on the wire.

    Two publishes of one key in the same instant are where the modes part
    (B8 leaves two records; db_mode 2 then finds "more than one row" and
    treats the key as unknown, §2.6), so calls are at least a second apart.
    """
    from hypothesis import given

    program = st.lists(
        st.tuples(st.integers(0, 2), st.sampled_from([-1, 0, 60, 600]), st.integers(0, 300), st.booleans(), st.just(0.0)),
        max_size=8,
        unique_by=lambda s: s[2],
    ).map(lambda steps: sorted(steps, key=lambda s: s[2]))
    given(program)(_agree)()
