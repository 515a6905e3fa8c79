"""A scenario's phones, live: puasim's sans-IO phones on loopback UDP sockets against a real edge node.

The phones of a scenario's ``phones:`` block run over the
:class:`~puasim.live.driver.LiveDriver`, each on its own UDP socket, and talk
to a real SIP edge node (a Kamailio registrar/proxy, such as the one
:func:`puasim.live.kamailio.start_edge_node` starts) instead of the
simulated one: the node given replaces every phone's registrar and outbound
proxy.  Scenario times are seconds of wall time from the start.

* Each phone binds ``(host of its scenario address, 0)`` (or ``bind_host``):
  any free port, so runs never collide (``keep_ports=True`` binds the
  scenario's ports).  Its
  contacts that name its scenario address are rewritten to the bound one.
* Steps ``phone.register``, ``phone.unregister``, ``phone.change_contact``,
  ``phone.line_state``, ``phone.call``, ``phone.answer``, ``phone.reject``,
  ``phone.hangup``, ``phone.cancel``, ``phone.crash``, ``phone.start`` and
  ``mark`` run; every other step (``publish``, ``rpc.*``, ``server.*``,
  ``network.*``, ``node.call``, ...) needs the simulated node, server or
  network: it is skipped with a note in the trace and in the result.
* A watching phone (``watch:``, BLF) subscribes to ``server`` when one is
  given (else to its scenario's ``presence_server``, or the node).
* Safety and bounds are the driver's: every address must be loopback unless
  ``allow_remote``; only datagrams from the node, ``server`` (and the phones
  themselves) are read; the run ends at the scenario's duration plus ``grace`` seconds,
  or earlier at the driver's send/timer budgets; ``budgets``
  (:class:`~puasim.live.budgets.LiveBudgets`, ``puasim live --max-*``) sets
  them and caps the duration.
* ``capture`` takes a pcap on ``lo`` of the node's port, the phones' ports
  and ``capture_ports`` (the presence server's, to see the node's PUBLISHes
  and their replies); :attr:`PhonesResult.capture_trace` reads it back with
  the scenario's node names (``pua`` for the node, ``server`` for
  ``server``, the phones by name).

Expectations are evaluated as :func:`puasim.live.scenario.run_live` does, on
the capture's trace when there is one (it holds what the node sent to the
presence server), else on the phones' own trace; ``record``,
``server_state`` and ``rpc`` expectations read the simulated node or server
and are not evaluated live.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from puasim.effects import SECOND
from puasim.live.budgets import LiveBudgets
from puasim.live.driver import Address, LiveDriver, LiveNode, check_target
from puasim.live.result import LiveResult, run_error
from puasim.live.steprun import StepRun, loaded, start_capture
from puasim.phones.phone import Phone, PhoneConfig
from puasim.scenario.calls import CALL_ACTIONS, run_step
from puasim.scenario.expect import Failure
from puasim.scenario.spec import Scenario, Step
from puasim.sip.uri import format_hostport
from puasim.trace.events import MessageSent
from puasim.trace.trace import Trace

__all__ = ["LIVE_PHONE_ACTIONS", "PhonesResult", "run_phones", "run_phones_async"]

LIVE_PHONE_ACTIONS = frozenset({
    "phone.register", "phone.unregister", "phone.change_contact", "phone.line_state", "phone.crash",
    "phone.start", "mark", *CALL_ACTIONS,
})
#: expectations that read the simulated node or server
NOT_LIVE = ("record", "server_state", "rpc")


@dataclass(slots=True, kw_only=True)
class PhonesResult(LiveResult):
    """A :class:`~puasim.live.result.LiveResult` whose ``trace`` is the phones' own view."""

    #: phone name -> the address it was bound to
    phones: dict[str, Address]
    #: the edge node the phones ran against
    node: Address
    #: the capture read back with the run's node names (None without ``capture``)
    capture_trace: Trace | None = None


def _rewrite(contact: str, old: Address, new: Address) -> str:
    for text in (format_hostport(*old), f"{old[0]}:{old[1]}"):
        if text in contact:
            return contact.replace(text, format_hostport(*new))
    return contact


def _rebased(trace: Trace, epoch: float) -> Trace:
    """A capture's trace with its times counted from the run's t = 0 (UNIX time ``epoch``),
    so that the scenario's times (``at`` of expectations) mean the same on it."""
    offset = int(round((float(trace.meta.get("epoch", 0)) - epoch) * SECOND))
    out = Trace({**trace.meta, "epoch": epoch})
    for rec in trace.records:
        out.add(max(0, rec.time + offset), rec.node, rec.event)
    return out


class _LivePhones(StepRun):
    def __init__(self, scn: Scenario, node: Address, allow_remote: bool, keep_ports: bool, seed: object,
                 server: Address | None, bind_host: str | None = None, budgets: LiveBudgets | None = None) -> None:
        if scn.registrations is None or not scn.registrations.phones:
            raise ValueError(f"{scn.file}: the scenario has no phones: block to run live")
        self.scn = scn
        self.node_addr = node
        self.allow_remote = allow_remote
        self.keep_ports = keep_ports
        self.bind_host = bind_host
        self.budgets = budgets or LiveBudgets()
        # a fresh seed per live run: a real node remembers Call-IDs and branches for a while
        self.seed = f"{scn.seed}/{time.time_ns()}" if seed is None else seed
        self.server = server
        names = {node: "pua"}
        if server is not None:
            names[server] = "server"
        # the node's datagrams are read, and the server's (the NOTIFYs of a watching phone's SUBSCRIBEs)
        peers = [node] if server is None else [node, server]
        self.driver = LiveDriver(names=names, allow_remote=allow_remote, peers=peers,
                                 meta={"scenario": scn.name, "file": scn.file, "node": format_hostport(*node)},
                                 **self.budgets.driver_kwargs())
        self.configs: dict[str, PhoneConfig] = {}
        self.nodes: dict[str, LiveNode] = {}
        self.starts: dict[str, int] = {}
        self.skipped: list[str] = []
        self.step_results: dict[int, Any] = {}

    def _make_phone(self, name: str) -> Phone:
        self.starts[name] = self.starts.get(name, 0) + 1
        return Phone(self.configs[name], random.Random(f"{self.seed}/phone:{name}#{self.starts[name]}"))

    async def _open(self, cfg: PhoneConfig) -> LiveNode:
        bind = cfg.address if self.keep_ports else (self.bind_host or cfg.address[0], 0)
        node = await self.driver.open(cfg.name, bind, lambda addr: None, start=False)
        contacts = tuple(_rewrite(c, cfg.address, node.address) for c in cfg.contacts)
        presence = self.server if self.server is not None else cfg.presence_server
        self.configs[cfg.name] = replace(cfg, address=node.address, registrar=self.node_addr, contacts=contacts,
                                         presence_server=presence)
        self.nodes[cfg.name] = node
        return node

    def _do(self, step: Step) -> None:
        if not self._runs_live(step, LIVE_PHONE_ACTIONS, "the simulated node, server or network"):
            return
        action, args = step.action, step.args
        name = args["phone"]
        node = self.nodes[name]
        now = self.driver.now()
        if action == "phone.crash":
            node.crash()
            return
        if action == "phone.start":
            if not node.up:
                node.up = True
                self.driver.replace_endpoint(node, self._make_phone(name))
            return
        if not node.up:
            self._note("warning", f"step {step.index}: phone {name} is down, {action} not done")
            return
        phone: Phone = node.endpoint
        if action == "phone.register":
            node.call(action, phone.register, now, args.get("expires"), bool(args.get("new_call_id", False)))
        elif action == "phone.unregister":
            node.call(action, phone.unregister, now, args.get("contacts"), bool(args.get("star", False)))
        elif action == "phone.change_contact":
            node.call(action, phone.change_contact, now, list(args["contacts"]), bool(args.get("remove_old", False)))
        elif action == "phone.line_state":
            node.call(action, phone.line_state, now, args["state"], args.get("dialog_id", "line1"),
                      args.get("subscription_state"), tuple(args.get("omit", ())))
        else:
            run_step(node, phone, action, args, now, tuple(self.configs.values()))

    async def run(self, capture: str | Path | None, capture_ports: tuple[int, ...], at_slack: float,
                  grace: float) -> PhonesResult:
        from puasim.live.scenario import close_run, evaluate_live, run_bounded

        started = time.perf_counter()
        scn = self.scn
        regs = scn.registrations
        assert regs is not None
        check_target(self.node_addr, self.allow_remote, "edge node")
        driver = self.driver
        notes: list[str] = []
        sniffer = None
        loop = asyncio.get_running_loop()
        try:
            for cfg in regs.phones:
                await self._open(cfg)
            if capture is not None:
                ports = [self.node_addr[1], *capture_ports, *(n.address[1] for n in self.nodes.values())]
                sniffer = start_capture(ports, notes)
            else:
                notes.append("no capture: what the node sends the presence server is not seen here, so "
                             "expectations on its PUBLISHes cannot hold (capture to see them)")
            driver.begin()  # t = 0 here, after the set-up
            for name, node in self.nodes.items():
                node.endpoint = self._make_phone(name)
                driver.start(node)
            for step in scn.steps:
                loop.call_at(driver.clock.loop_time(step.at), self._do, step)
            await run_bounded(driver, self.budgets, scn.duration + int(grace * SECOND), notes)
        finally:
            close_run(driver, sniffer, capture, notes)
        trace = driver.trace
        names = dict(driver.names)
        judged = trace
        capture_trace = None
        if capture is not None:
            from puasim.capture.reader import read_pcap

            capture_trace = _rebased(read_pcap(capture, names), driver.epoch)
            judged = capture_trace
        error = run_error(driver)
        failures: list[Failure] = []
        if not any(type(r.event) is MessageSent and r.event.src == self.node_addr for r in trace.records):
            sent = sum(1 for r in trace.records if type(r.event) is MessageSent)
            if sent:
                failures.append(Failure("no-answer", None, f"no answer from the node {format_hostport(*self.node_addr)}: "
                                        f"{sent} message(s) sent by the phones, nothing came back", ""))
        more, skipped_exp = evaluate_live(scn, judged, names, int(driver.epoch), self.step_results, {}, error, at_slack,
                                          not_live=NOT_LIVE)
        failures += more
        return PhonesResult.of_run(
            scn.name, trace, failures, skipped_steps=list(self.skipped), skipped_expectations=skipped_exp,
            started=started, error=error, capture=capture, notes=notes,
            phones={n: node.address for n, node in self.nodes.items()}, node=self.node_addr, capture_trace=capture_trace,
        )


async def run_phones_async(
    scn: Scenario,
    node: Address,
    *,
    server: Address | None = None,
    allow_remote: bool = False,
    keep_ports: bool = False,
    bind_host: str | None = None,
    budgets: LiveBudgets | None = None,
    capture: str | Path | None = None,
    capture_ports: tuple[int, ...] = (),
    at_slack: float = 0.5,
    grace: float = 0.5,
    seed: object = None,
) -> PhonesResult:
    """Run the phones of ``scn`` against the edge node at ``node`` (see the module docstring).

    ``server``: the presence server the node publishes to, named ``server`` in
    the traces (and captured when ``capture`` is given)."""
    check_target(node, allow_remote, "edge node")
    if server is not None:
        check_target(server, allow_remote, "server")
        capture_ports = (*capture_ports, server[1])
    if bind_host is not None:
        check_target((bind_host, 0), allow_remote, "bind address")
    phones = _LivePhones(scn, node, allow_remote, keep_ports, seed, server, bind_host, budgets)
    return await phones.run(capture, capture_ports, at_slack, grace)


def run_phones(scn: Scenario | str | Path, node: Address, **kw: Any) -> PhonesResult:
    """:func:`run_phones_async` in a fresh event loop; ``scn`` may be a scenario file."""
    return asyncio.run(run_phones_async(loaded(scn), node, **kw))
