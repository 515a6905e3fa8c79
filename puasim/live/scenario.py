"""Run a scenario file against a real SIP server in real time (``puasim live``).

The PUA model runs over the :class:`~puasim.live.driver.LiveDriver` on a
loopback UDP socket; its ``outbound_proxy`` is replaced by the server given.
Scenario times are seconds of wall time from the start, so keep live
scenarios short.

What runs live and what does not:

* steps ``publish``, ``subscribe``, ``rpc.publish``, ``rpc.send_publish``,
  ``rpc.subscribe``, ``pua.cleanup``, ``pua.restart``/``pua.crash``/
  ``pua.start`` (the model only) and ``mark`` run;
* ``server.*`` and ``network.*`` steps need the simulated server or network:
  they are skipped with a note in the trace and in the result; so is a
  ``population`` block (it is fed by the simulator's kernel);
* expectations are evaluated on the live trace with
  :func:`puasim.scenario.expect.evaluate`, except ``server_state`` (the real
  server's state is not visible); exact ``at`` times in message matchers
  become windows ``[at, at + at_slack]`` (real time has jitter).

``capture`` writes a pcap of the run taken with scapy's ``AsyncSniffer`` on
``lo`` (see :mod:`puasim.live.sniff`).
"""

from __future__ import annotations

import asyncio
import copy
import random
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from puasim.effects import SECOND
from puasim.live.budgets import LiveBudgets
from puasim.live.driver import Address, LiveDriver, LiveNode, check_target
from puasim.live.result import LiveResult, run_error
from puasim.live.steprun import StepRun, loaded, start_capture
from puasim.pua.info import PublInfo, SubsInfo
from puasim.scenario.expect import Failure, RunContext, evaluate
from puasim.scenario.spec import Scenario, Step, seconds_to_us
from puasim.sip.message import Request
from puasim.sip.uri import format_hostport
from puasim.trace.events import MessageSent, Note, RunError
from puasim.trace.trace import Trace

__all__ = ["LiveResult", "run_live", "run_live_async", "evaluate_live", "LIVE_ACTIONS"]

LIVE_ACTIONS = frozenset({
    "publish", "subscribe", "rpc.publish", "rpc.send_publish", "rpc.subscribe",
    "pua.cleanup", "pua.restart", "pua.crash", "pua.start", "mark",
})


def _widen_at(spec: Any, slack: float) -> Any:
    """Copy of a message matcher (or list of them) with exact ``at`` made a window."""
    if isinstance(spec, list):
        return [_widen_at(s, slack) for s in spec]
    if not isinstance(spec, dict):
        return spec
    out = dict(spec)
    if "match" in out:
        out["match"] = _widen_at(out["match"], slack)
    at = out.get("at")
    if isinstance(at, int | float) and not isinstance(at, bool):
        out["at"] = {"min": at, "max": at + slack}
    elif isinstance(at, dict) and "max" in at:
        out["at"] = {**at, "max": float(at["max"]) + slack}
    return out


class _LiveScenario(StepRun):
    def __init__(self, scn: Scenario, server: Address, bind: Address, allow_remote: bool, seed: object = None,
                 budgets: LiveBudgets | None = None) -> None:
        self.scn = scn
        self.budgets = budgets or LiveBudgets()
        self.server = server
        self.bind = bind
        self.allow_remote = allow_remote
        self.cfg = replace(scn.pua_config, outbound_proxy=f"sip:{_hostport(server)}")
        # a fresh seed per live run: a real server remembers transactions (Call-ID, branch)
        # for seconds, and a second run with the scenario's fixed seed would repeat them
        self.seed = f"{scn.seed}/{time.time_ns()}" if seed is None else seed
        self.starts = 0
        self.rpc: Any = None
        self.step_results: dict[int, Any] = {}
        self.probes: dict[int, Any] = {}
        self.skipped: list[str] = []
        # only the server's datagrams are read: anything else on the socket is counted and dropped
        self.driver = LiveDriver(names={server: "server"}, allow_remote=allow_remote, peers=[server],
                                 meta={"scenario": scn.name, "file": scn.file, "server": _hostport(server)},
                                 **self.budgets.driver_kwargs())
        self.node: LiveNode | None = None

    def _make_pua(self, addr: Address) -> Any:
        from puasim.companions.rpc import PuaRpc
        from puasim.pua.model import Pua
        from puasim.pua.subscribe import NotifyPolicy

        self.starts += 1
        pua = Pua(self.cfg, host=addr[0], port=addr[1], rng=random.Random(f"{self.seed}/pua#{self.starts}"),
                  epoch=int(self.driver.epoch))
        pua.notify_policy = NotifyPolicy(**self.scn.notify) if self.scn.notify else NotifyPolicy()
        self.rpc = PuaRpc(pua)
        return pua

    def _do(self, step: Step) -> None:
        node = self.node
        assert node is not None
        now = self.driver.now()
        if not self._runs_live(step, LIVE_ACTIONS, "the simulated server or network"):
            return
        action, args = step.action, step.args
        if action in ("pua.restart", "pua.start"):
            if action == "pua.start" and node.up:
                return
            node.up = True
            self.driver.replace_endpoint(node, self._make_pua(node.address))
            return
        if action == "pua.crash":
            node.crash()
            return
        if not node.up:
            self._note("warning", f"step {step.index}: the PUA is down, {action} not done")
            return
        pua = node.endpoint
        if action == "publish":
            publ = PublInfo(
                pres_uri=args["pres_uri"], event=args["event"], source_flag=args["source"],
                expires=args.get("expires", -1), body=args.get("body"), content_type=args.get("content_type", ""),
                id=args.get("id", ""), etag=args.get("etag", ""), outbound_proxy=args.get("outbound_proxy", ""),
                extra_headers=args.get("extra_headers", ""), flag=args["flag"], cb_param=f"step{step.index}",
            )
            self.step_results[step.index] = node.call(action, pua.send_publish, publ, now, args.get("process", "worker"))
        elif action == "subscribe":
            subs = SubsInfo(
                pres_uri=args["pres_uri"], watcher_uri=args["watcher_uri"], contact=args["contact"],
                event=args["event"], source_flag=args["source"], expires=args.get("expires", -1),
                remote_target=args.get("remote_target"), outbound_proxy=args.get("outbound_proxy", ""),
                id=args.get("id", ""), extra_headers=args.get("extra_headers", ""), flag=args["flag"],
                internal_update_flag=args.get("internal_update_flag", 0), cb_param=f"step{step.index}",
            )
            self.step_results[step.index] = node.call(action, pua.send_subscribe, subs, now, args.get("process", "worker"))
        elif action in ("rpc.publish", "rpc.send_publish"):
            self.step_results[step.index] = node.call(action, self.rpc.publish, list(args), now, action == "rpc.publish")
        elif action == "rpc.subscribe":
            self.step_results[step.index] = node.call(action, self.rpc.subscribe, list(args), now)
        elif action == "pua.cleanup":
            node.call(action, pua.cleanup, now)

    def _no_answer(self, trace: Trace) -> str:
        """A text when the PUA sent requests to the server and nothing at all came back."""
        sent = sum(1 for r in trace.records if type(r.event) is MessageSent and r.event.dst == self.server
                   and isinstance(r.event.message, Request))
        if not sent or any(type(r.event) is MessageSent and r.event.src == self.server for r in trace.records):
            return ""
        socket_errors = [r.event.text for r in trace.records if type(r.event) is Note and r.event.text.startswith("socket error")]
        why = f" ({socket_errors[0]})" if socket_errors else ""
        return (f"no answer from {_hostport(self.server)}{why}: {sent} request(s) sent, nothing came back; "
                "is a SIP server listening there?")

    def _probe(self, index: int) -> None:
        node = self.node
        pua = node.endpoint if node is not None and node.up else None
        records = [r.copy() for r in pua.records()] if pua is not None else []
        self.probes[index] = (pua.seconds(self.driver.now()) if pua is not None else 0, records)

    async def run(self, capture: str | Path | None, at_slack: float, grace: float) -> LiveResult:
        started = time.perf_counter()
        scn = self.scn
        check_target(self.server, self.allow_remote, "server")
        sniffer = None
        notes: list[str] = []
        self.node = await self.driver.open("pua", self.bind, lambda addr: None, start=False)
        if capture is not None:
            sniffer = start_capture([self.node.address[1], self.server[1]], notes)
        driver = self.driver
        loop = asyncio.get_running_loop()
        try:
            driver.begin()  # t = 0 and the epoch from here, after the set-up
            self.node.endpoint = self._make_pua(self.node.address)
            driver.start(self.node)
            for step in scn.steps:
                loop.call_at(driver.clock.loop_time(step.at), self._do, step)
            if scn.populations:
                self._skip(f"population ({len(scn.populations)} group(s)): runs in the simulator only: skipped live")
            for i, (kind, spec, _path, _line) in enumerate(scn.expectations):
                if kind == "record":
                    at = seconds_to_us(spec["at"], scn.doc, ("expect", i, kind, "at"))
                    loop.call_at(driver.clock.loop_time(min(at, scn.duration)), self._probe, i)
            await run_bounded(driver, self.budgets, scn.duration + int(grace * SECOND), notes)
        finally:
            close_run(driver, sniffer, capture, notes)
        trace = driver.trace
        names = dict(driver.names)
        error = run_error(driver)
        failures: list[Failure] = []
        silent = self._no_answer(trace)
        if silent:
            failures.append(Failure("no-answer", None, silent, ""))
        more, skipped_exp = evaluate_live(scn, trace, names, int(driver.epoch), self.step_results, self.probes, error,
                                          at_slack)
        failures += more
        return LiveResult.of_run(scn.name, trace, failures, skipped_steps=list(self.skipped),
                                 skipped_expectations=skipped_exp, started=started, error=error, capture=capture,
                                 notes=notes)


async def run_bounded(driver: Any, budgets: Any, wanted: int, notes: list[str]) -> None:
    """Run ``driver`` to ``wanted`` µs, or to the duration budget's cap with a note saying so."""
    until = budgets.cap_us(wanted)
    if until < wanted:
        notes.append(f"the run was cut at {until / SECOND:g} s by the duration budget "
                     f"(the scenario runs {wanted / SECOND:g} s)")
    await driver.run_until(until)


def close_run(driver: Any, sniffer: Any, capture: str | Path | None, notes: list[str]) -> None:
    """Close the sockets, write the loopback capture if one ran, and note what the driver dropped."""
    driver.close()
    if sniffer is not None:
        sniffer.stop()
        sniffer.write(capture)
    if driver.drop_report():
        notes.append(driver.drop_report())


def evaluate_live(
    scn: Scenario,
    trace: Trace,
    names: dict[Address, str],
    epoch: int,
    step_results: dict[int, Any],
    probes: dict[int, Any],
    error: str | None,
    at_slack: float,
    not_live: tuple[str, ...] = ("server_state",),
) -> tuple[list[Failure], list[str]]:
    """Judge a live trace: (failures, texts of the expectations not evaluated).

    A run error fails the run unless the scenario expects one; so does any
    error the run recorded and went on after (a refused send).  Expectations
    of the kinds ``not_live`` read simulated state and are skipped; exact
    ``at`` times of message matchers become windows ``[at, at + at_slack]``."""
    ctx = RunContext(trace, names, epoch, step_results, probes, duration_s=scn.duration / SECOND)
    failures: list[Failure] = []
    skipped: list[str] = []
    expects_error = any(kind == "error" for kind, *_ in scn.expectations)
    if error and not expects_error:
        failures.append(Failure("run", None, f"the live run stopped with an error: {error}", ""))
    if not expects_error:
        seen: dict[tuple[str, str], int] = {}
        for rec in trace.records:
            ev = rec.event
            if type(ev) is RunError and ev.error != error:
                seen[(ev.where, ev.error)] = seen.get((ev.where, ev.error), 0) + 1
        for (where, text), n in seen.items():
            times = f" ({n} times)" if n > 1 else ""
            failures.append(Failure("run", None, f"{where}: {text}{times}", ""))
    for i, (kind, spec, _path, line) in enumerate(scn.expectations):
        if kind in not_live:
            skipped.append(f"expect[{i}] (line {line}): {kind} reads the simulated node or server: not evaluated live")
            continue
        live_spec = copy.deepcopy(spec)
        if kind in ("sequence", "count", "absent"):
            live_spec = _widen_at(live_spec, at_slack)
        failure = evaluate(kind, live_spec, ctx, i, line)
        if failure is not None:
            failures.append(failure)
    return failures, skipped


def _hostport(addr: Address) -> str:
    return format_hostport(*addr)


async def run_live_async(
    scn: Scenario,
    server: Address,
    *,
    bind: Address = ("127.0.0.1", 0),
    allow_remote: bool = False,
    capture: str | Path | None = None,
    at_slack: float = 0.5,
    grace: float = 0.5,
    seed: object = None,
    budgets: LiveBudgets | None = None,
) -> LiveResult:
    """Run ``scn`` against ``server`` (see the module docstring); needs a running loop."""
    check_target(server, allow_remote, "server")
    check_target(bind, allow_remote, "bind address")
    return await _LiveScenario(scn, server, bind, allow_remote, seed, budgets).run(capture, at_slack, grace)


def run_live(scn: Scenario | str | Path, server: Address, **kw: Any) -> LiveResult:
    """:func:`run_live_async` in a fresh event loop; ``scn`` may be a scenario file."""
    return asyncio.run(run_live_async(loaded(scn), server, **kw))
