"""Feeding a population's actions into a scenario run, one kernel event at a time.

:class:`PopulationFeed` pulls the next :class:`~puasim.population.schedule.Action`
from the population's generator only when the previous one has been carried
out, so the kernel holds one pending event per population group, whatever
the number of users.  Actions become pua calls exactly as the matching
scenario steps do: ``api`` is ``send_publish``/``send_subscribe`` (pua-reference
§3.1, §4.1), ``rpc`` is pua_rpc's ``pua.publish``/``pua.subscribe`` (§9.1.1,
§9.1.2).  ``join``, ``leave`` and ``crash`` leave a ``population`` note in the
trace.

Groups with ``register`` give each user a phone (:class:`~puasim.phones.Phone`),
a node of its own created when the user first joins, at the address
:func:`phone_address` gives it.  Phone actions (``register``, ``unregister``,
``call``) go to the phone whether the edge node is up or not: a phone does
not know the node is down, it only sees no answer.  A crash stops the phone
node; the next join starts it again, unregistered.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from puasim.bodies.pidf import Basic, Pidf, Tuple, build_pidf
from puasim.phones.calls import CallPolicy
from puasim.phones.phone import Phone, PhoneConfig
from puasim.pua.constants import Source, event_from_name
from puasim.pua.info import PublInfo, SubsInfo
from puasim.trace.events import Note

if TYPE_CHECKING:
    from puasim.population.model import Population
    from puasim.population.schedule import Action
    from puasim.scenario.runner import ScenarioRun

PIDF_TYPE = "application/pidf+xml"
#: stands for the user name in a body template (never a valid population user name)
USER_MARK = "@USER@"
#: phones of one group per loopback host, on ports from PHONE_PORT
PHONES_PER_HOST = 50_000
PHONE_PORT = 10_000


def phone_address(group: int, index: int) -> tuple[str, int]:
    """Where user ``index`` (0-based) of population group ``group`` has its phone:
    host ``127.<group + 2>.<index // 50000>.1``, port ``10000 + index % 50000``,
    so no two phones of any groups share an address and none falls on
    ``127.0.0.0/16``, where scenario files put their own nodes."""
    return f"127.{group + 2}.{index // PHONES_PER_HOST}.1", PHONE_PORT + index % PHONES_PER_HOST


def host_part(address: tuple[str, int]) -> str:
    """``host`` or ``host:port`` (5060 is left out), IPv6 in brackets."""
    host = f"[{address[0]}]" if ":" in address[0] else address[0]
    return host if address[1] == 5060 else f"{host}:{address[1]}"


class PopulationFeed:
    """Carries out one population group's actions in a :class:`ScenarioRun`."""

    def __init__(self, run: ScenarioRun, pop: Population, group: int = 0) -> None:
        from puasim.population.schedule import actions

        self.run = run
        self.pop = pop
        self.group = group
        #: user name -> the node of the user's phone (groups with ``register``)
        self.phones: dict[str, Any] = {}
        scn = run.scn
        self.domain = pop.domain or host_part(scn.server_address)
        self.watcher_host = host_part(scn.pua_address)
        master = scn.pua_config.is_master
        self.pub_event = event_from_name(pop.publish.event, master) if pop.publish else 0
        self.pub_source = int(Source[pop.publish.source]) if pop.publish else 0
        self.sub_event = event_from_name(pop.watch.event, master) if pop.watch else 0
        self.sub_source = int(Source[pop.watch.source]) if pop.watch else 0
        self.actions: Iterator[Action] = actions(pop, run.sim.streams, scn.duration)
        self.done = 0
        self.skipped = 0
        self._down_noted = False
        self._templates: dict[str, bytes] = {}

    def start(self) -> None:
        self._pull()

    def _pull(self) -> None:
        action = next(self.actions, None)
        if action is not None:
            self.run.sim.kernel.call_at(action.at, self._do, action)

    def uri(self, user: str) -> str:
        return f"sip:{user}@{self.domain}"

    def watcher(self, user: str) -> str:
        return f"sip:{user}@{self.watcher_host}"

    def _do(self, a: Action) -> None:
        try:
            self._carry_out(a)
        finally:
            self._pull()

    def _carry_out(self, a: Action) -> None:
        run = self.run
        sim = run.sim
        now = sim.kernel.now
        if a.kind in ("join", "leave", "crash"):
            sim.trace.add(now, "population", Note("population", f"{a.group}: {a.user} {a.kind}"))
            if a.kind == "crash" and a.user in self.phones and self.phones[a.user].up:
                self.phones[a.user].crash("population: the user crashed")
            return
        if a.kind in ("register", "unregister", "call"):
            self._phone_action(a, now)
            return
        if a.kind in ("subscribe", "unsubscribe") and a.via == "phone":
            self._phone_action(a, now)
            return
        if a.kind in ("publish", "unpublish") and a.via == "usrloc":
            return  # the phone's registration publishes, through pua_usrloc (§9.2)
        node = run.pua_node
        if not node.up:
            self.skipped += 1
            if not self._down_noted:
                sim.trace.add(now, "population", Note("warning", f"{a.group}: the PUA is down, actions not done"))
                self._down_noted = True
            return
        self._down_noted = False
        self.done += 1
        pua = run.pua
        if a.kind in ("publish", "unpublish"):
            uri = self.uri(a.user)
            body = self._body(a.user, a.state) if a.kind == "publish" else None
            if a.via == "rpc":
                rpc = run.rpc
                assert rpc is not None
                args = [uri, str(a.expires), self._event_name(), PIDF_TYPE if body else ".", ".", ".", ".", "."]
                if body is not None:
                    args.append(body.decode())
                node.call("rpc.publish", rpc.publish, args, now, True)
            else:
                publ = PublInfo(
                    pres_uri=uri, event=self.pub_event, source_flag=self.pub_source, expires=a.expires,
                    body=body, content_type=PIDF_TYPE if body else "", cb_param=f"{a.group}:{a.user}",
                )
                node.call("publish", pua.send_publish, publ, now, "worker")
        else:
            pres, watcher = self.uri(a.target), self.watcher(a.user)
            assert self.pop.watch is not None
            if a.via == "rpc":
                rpc = run.rpc
                assert rpc is not None
                node.call("rpc.subscribe", rpc.subscribe, [pres, watcher, self.pop.watch.event, str(a.expires)], now)
            else:
                subs = SubsInfo(
                    pres_uri=pres, watcher_uri=watcher, contact=watcher, event=self.sub_event,
                    source_flag=self.sub_source, expires=a.expires, cb_param=f"{a.group}:{a.user}",
                )
                node.call("subscribe", pua.send_subscribe, subs, now, "worker")

    def _phone_action(self, a: Action, now: int) -> None:
        """A phone of the group: created at the user's first ``register``,
        started again after a crash, then told to register, de-register, call,
        or watch and stop watching another user (``via: phone``)."""
        self.done += 1
        node = self.phones.get(a.user)
        if a.kind == "register":
            if node is None:
                node = self.phones[a.user] = self._add_phone(a)
            elif not node.up:
                node.restart("population: the user is back")
            phone: Phone = node.endpoint
            node.call("phone.register", phone.register, now, a.expires)
            return
        if node is None or not node.up:
            return
        phone = node.endpoint
        if a.kind == "unregister":
            node.call("phone.unregister", phone.unregister, now)
        elif a.kind == "subscribe":
            node.call("phone.watch", phone.watch, self.uri(a.target), now, a.expires)
        elif a.kind == "unsubscribe":
            node.call("phone.unwatch", phone.unwatch, self.uri(a.target), now)
        else:
            node.call("phone.call", phone.call, now, self.uri(a.target), a.hold, False)

    def _add_phone(self, a: Action) -> Any:
        assert self.pop.register is not None
        sim = self.run.sim
        index = int(a.user[len(self.pop.name):]) - 1
        address = phone_address(self.group, index)
        cfg = PhoneConfig(
            name=a.user, aor=self.uri(a.user), address=address, registrar=self.run.scn.pua_address,
            contacts=(f"sip:{a.user}@{address[0]}:{address[1]}",), expires=a.expires,
            refresh=self.pop.register.refresh, calls=CallPolicy(mode="ring", answer_after=a.ring),
            presence_server=self.run.scn.server_address,
        )
        starts = [0]

        def factory(node: Any) -> Phone:
            starts[0] += 1
            return Phone(cfg, sim.streams(f"phone:{cfg.name}#{starts[0]}"))

        return sim.add_node(a.user, address, factory)

    def _event_name(self) -> str:
        assert self.pop.publish is not None
        return self.pop.publish.event

    def _body(self, user: str, state: str) -> bytes:
        """A one-tuple PIDF document (RFC 3863 §4.1) for the user's basic status.

        Built once per status with a marker for the user, then filled in: user
        names are letters, digits, ``_``, ``-`` and ``.`` (checked by
        :class:`~puasim.population.model.Population`), which XML needs no escaping for.
        """
        template = self._templates.get(state)
        if template is None:
            basic: Basic = "open" if state == "open" else "closed"
            entity = self.uri(USER_MARK)
            template = self._templates[state] = build_pidf(Pidf(entity, (Tuple(f"t-{USER_MARK}", basic, note=state),)))
        return template.replace(USER_MARK.encode(), user.encode())


__all__ = ["PopulationFeed", "host_part"]
