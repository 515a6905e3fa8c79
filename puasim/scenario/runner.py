"""Running a scenario in the simulator and judging it.

One PUA node (``pua``) and one simulated presence server (``server``) on a
simulated network.  Steps are scheduled on the kernel at their virtual
times; record and server snapshots for expectations are taken by probes at
their times; after the run every expectation is evaluated against the trace.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from puasim.companions.rpc import PuaRpc
from puasim.effects import SECOND
from puasim.pua.config import PuaStartupError
from puasim.pua.info import PublInfo, SubsInfo
from puasim.pua.model import Pua
from puasim.pua.subscribe import NotifyPolicy
from puasim.scenario import gateways, inject, registrations
from puasim.scenario.expect import Failure, RunContext, evaluate
from puasim.scenario.loader import load_file, load_text
from puasim.scenario.spec import Scenario, Step, build, seconds_to_us
from puasim.sim.network import Partition
from puasim.sim.simulation import ProgressHook, Simulation, SimulationError
from puasim.store import Database, StoreError, make_store
from puasim.trace.events import FaultInjected, MessageSent, Note, RunError
from puasim.trace.levels import LEVELS, MetricsTrace, StreamTrace
from puasim.trace.trace import Trace


@dataclass(slots=True)
class ScenarioResult:
    name: str
    file: str
    passed: bool
    failures: list[Failure]
    virtual_time: int
    messages: int
    wall_time: float
    trace: Trace
    error: str | None = None
    refs: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return "pass" if self.passed else "FAIL"


#: expectation kinds that read the trace's records (the others read probes and step results)
TRACE_KINDS = frozenset({"sequence", "count", "absent", "event", "error"})


def check_trace_level(scn: Scenario, level: str) -> None:
    """Refuse, before the run, expectations the trace level cannot judge.

    At ``metrics`` no record is kept, so an expectation that reads the trace
    fails here naming its file, line and kind; a ``stat`` on a summary metric
    or a per-method request count is judged from the metrics the run kept, a
    ``stat`` on a series needs the records.  ``full`` and ``stream`` judge every
    kind (a streamed trace is read back from its file).
    """
    from puasim.scenario.stats import METHOD_COUNTS, SUMMARY

    if level not in LEVELS:
        raise ValueError(f"unknown trace level {level!r} (known: {', '.join(LEVELS)})")
    if level != "metrics":
        return
    for step in scn.steps:
        if step.action == "save":
            raise scn.doc.error(
                (*step.path, "do"),
                "a save step reads the messages sent so far: it needs trace level 'full' or 'stream', not 'metrics'",
            )
    for kind, spec, path, _line in scn.expectations:
        if kind in TRACE_KINDS:
            raise scn.doc.error(
                path, f"a {kind!r} expectation reads the trace: it needs trace level 'full' or 'stream', not 'metrics'"
            )
        if kind == "stat" and spec["metric"] not in SUMMARY and spec["metric"] not in METHOD_COUNTS:
            raise scn.doc.error(
                (*path, "metric"),
                f"stat metric {spec['metric']!r} is computed from the trace's records: it needs trace level "
                "'full' or 'stream'; at 'metrics' only the summary metrics and request counts can be checked",
            )


class ScenarioStepError(RuntimeError):
    """A step cannot be carried out (a saved value missing, a message that does not parse)."""


class ScenarioRun:
    """Builds the simulation for one :class:`Scenario` and carries out its steps."""

    def __init__(
        self,
        scn: Scenario,
        database: Database | None = None,
        trace_level: str = "full",
        trace_path: str | Path | None = None,
    ) -> None:
        """``database``: the PUA's database for this run instead of the one ``db_url`` names
        (tests use it to run the same scenario on PostgreSQL); it must start empty.

        ``trace_level``: ``full`` (in memory), ``stream`` (JSON lines written to
        ``trace_path`` as the run goes) or ``metrics`` (only the report's
        summary metrics, :class:`puasim.report.running.RunningMetrics`).
        """
        check_trace_level(scn, trace_level)
        self.scn = scn
        observer = None
        if trace_level == "metrics":
            from puasim.report.running import RunningMetrics

            observer = RunningMetrics(scn.epoch)
        self.sim = Simulation(
            seed=scn.seed, epoch=scn.epoch, link=scn.link,
            trace_level=trace_level, trace_path=trace_path, observer=observer,
        )
        self.sim.trace.meta.update({"scenario": scn.name, "file": scn.file, "duration_us": scn.duration})
        self.rpc: PuaRpc | None = None
        self.xmpp: Any = None
        self.pua_starts = 0
        self.database = database if database is not None else self._open_database()
        self.step_results: dict[int, Any] = {}
        self.probes: dict[int, Any] = {}
        self.feeds: list[Any] = []
        self.phone_nodes: dict[str, Any] = {}
        #: values ``save`` steps saved so far (``$name`` in later steps)
        self.vars: dict[str, str] = {}
        self._saved_names = {n for st in scn.steps if st.action == "save" for n in st.args["save"]}
        self._build()

    # -- topology --------------------------------------------------------------------
    def _build(self) -> None:
        from puasim.server.endpoint import add_server

        scn = self.scn
        self.server_node = add_server(
            self.sim, "server", scn.server_address, profile=scn.server_profile, **scn.server_knobs
        )
        self.pua_node = self.sim.add_node("pua", scn.pua_address, self._make_pua)
        if scn.registrations is not None:
            registrations.add_phones(self, scn.registrations)
        for start, end in scn.partitions:
            self.sim.network.partitions.append(Partition(start, end, frozenset({"pua"}), frozenset({"server"})))

    def _open_database(self) -> Database | None:
        """The PUA's database: durable across PUA restarts, as a real DB server is (§1.1 db_url)."""
        scn = self.scn
        if scn.db.get("enabled", True) is False:
            return None
        base = str(Path(scn.file).parent) if not scn.file.startswith("<") else None
        from puasim.store import StoreError

        try:
            return Database(scn.pua_config.db_url, base_dir=base, quirks=scn.db.get("driver", "generic"))
        except StoreError as exc:  # e.g. a server that is down: named like a validation error
            raise scn.doc.error(("pua", "params", "db_url"), f"cannot open the database: {exc}") from None

    def _make_pua(self, node: Any) -> Pua:
        """A new pua node; a database it cannot open keeps it down (pua-reference §1.2 step 3).

        mod_init connects to the database and checks the table version before
        anything else; when that fails Kamailio logs "while connecting
        database" and does not start.  The node then stays down with a
        ``NodeStartFailed`` record (:meth:`Node.start`) and the run goes on.
        """
        scn = self.scn
        self.pua_starts += 1
        try:
            store = make_store(scn.pua_config, self.database)
        except StoreError as exc:
            raise PuaStartupError(f"mod_init: while connecting database: {exc}") from exc
        pua = Pua(
            scn.pua_config,
            host=scn.pua_address[0],
            port=scn.pua_address[1],
            rng=self.sim.streams(f"pua#{self.pua_starts}"),
            epoch=scn.epoch,
            store=store,
        )
        pua.notify_policy = NotifyPolicy(**scn.notify) if scn.notify else NotifyPolicy()
        self.rpc = PuaRpc(pua)
        self.xmpp = gateways.attach(pua, scn.gateways)
        if scn.registrations is not None:  # the edge node: usrloc, registrar, companions around pua
            return registrations.make_edge(scn.registrations, pua)  # type: ignore[return-value]
        return pua

    @property
    def pua(self) -> Pua:
        return self.pua_node.endpoint

    # -- steps -------------------------------------------------------------------------
    def schedule(self) -> None:
        from puasim.scenario.feed import PopulationFeed

        for step in self.scn.steps:
            self.sim.kernel.call_at(step.at, self._do, step)
        self.feeds = [PopulationFeed(self, pop, i) for i, pop in enumerate(self.scn.populations)]
        for feed in self.feeds:
            feed.start()
        for i, (kind, spec, _path, _line) in enumerate(self.scn.expectations):
            if kind in ("record", "server_state"):
                at = seconds_to_us(spec["at"], self.scn.doc, ("expect", i, kind, "at"))
                self.sim.kernel.call_at(min(at, self.scn.duration), self._probe, i, kind, spec)

    def _probe(self, index: int, kind: str, spec: dict) -> None:
        now = self.sim.kernel.now
        if kind == "record":
            pua = self.pua_node.endpoint
            records = [r.copy() for r in pua.records()] if pua is not None else []
            self.probes[index] = (self.sim.unix_time(now), records)
        else:
            server = self.server_node.endpoint
            event = spec.get("event", "presence")
            if server is None:
                self.probes[index] = 0
            elif spec.get("what", "publications") == "subscriptions":
                self.probes[index] = server.count_subscriptions(spec["presentity"], now, event=event)
            else:
                self.probes[index] = server.count_publications(spec["presentity"], event, now)

    def _do(self, step: Step) -> None:
        sim = self.sim
        now = sim.kernel.now
        sim.trace.add(now, "scenario", Note("step", f"step {step.index} (line {step.line}): {step.action}"))
        action, args = step.action, step.args
        if action == "save":
            self._save(step)
            return
        if action == "send":
            self._send(step)
            return
        if self._saved_names:
            step = self._with_saved(step)
            args = step.args
        node = self.pua_node
        if action in ("publish", "subscribe", "rpc.publish", "rpc.send_publish", "rpc.subscribe", "pua.cleanup"):
            if not node.up:
                sim.trace.add(now, "scenario", Note("warning", f"step {step.index}: the PUA is down, {action} not done"))
                return
        if action == "publish":
            publ = PublInfo(
                pres_uri=args["pres_uri"], event=args["event"], source_flag=args["source"],
                expires=args.get("expires", -1), body=args.get("body"),
                content_type=args.get("content_type", ""), id=args.get("id", ""), etag=args.get("etag", ""),
                outbound_proxy=args.get("outbound_proxy", ""), extra_headers=args.get("extra_headers", ""),
                flag=args["flag"], cb_param=f"step{step.index}",
            )
            self.step_results[step.index] = node.call(action, self.pua.send_publish, publ, now, args.get("process", "worker"))
        elif action == "subscribe":
            subs = SubsInfo(
                pres_uri=args["pres_uri"], watcher_uri=args["watcher_uri"], contact=args["contact"],
                event=args["event"], source_flag=args["source"], expires=args.get("expires", -1),
                remote_target=args.get("remote_target"), outbound_proxy=args.get("outbound_proxy", ""),
                id=args.get("id", ""), extra_headers=args.get("extra_headers", ""), flag=args["flag"],
                internal_update_flag=args.get("internal_update_flag", 0), cb_param=f"step{step.index}",
            )
            self.step_results[step.index] = node.call(action, self.pua.send_subscribe, subs, now, args.get("process", "worker"))
        elif action in ("rpc.publish", "rpc.send_publish"):
            rpc = self.rpc
            assert rpc is not None
            self.step_results[step.index] = node.call(action, rpc.publish, list(args), now, action == "rpc.publish")
        elif action == "rpc.subscribe":
            rpc = self.rpc
            assert rpc is not None
            self.step_results[step.index] = node.call(action, rpc.subscribe, list(args), now)
        elif action == "pua.cleanup":
            node.call(action, self.pua.cleanup, now)
        elif action == "pua.restart":
            if node.up:
                node.call("shutdown", self.pua.shutdown, now, bool(self.scn.db.get("shutdown_flush", False)))
            node.restart("scenario step")
        elif action == "pua.crash":
            node.crash("scenario step")
        elif action == "pua.start":
            if not node.up:
                node.restart("scenario step")
        elif action == "server.restart":
            sim.trace.add(now, "server", FaultInjected("restart", "server forgets all state"))
            self.server_node.restart("scenario step")
        elif action == "server.crash":
            self.server_node.crash("scenario step")
        elif action == "server.start":
            if not self.server_node.up:
                self.server_node.restart("scenario step")
        elif action == "server.fault":
            server = self.server_node
            server.call(action, server.endpoint.add_fault, dict(args), now)
        elif action == "network.drop":
            src = args.get("from", "pua")
            dst = args.get("to", "*")
            sim.network.drop_next[(src, dst)] = int(args.get("count", 1))
            sim.trace.add(now, "scenario", FaultInjected("drop", f"next {args.get('count', 1)} from {src} to {dst}"))
        elif action.startswith("db."):
            db = self.database
            if db is None:
                sim.trace.add(now, "scenario", Note("warning", f"step {step.index}: no database in this run"))
                return
            if action == "db.unreachable":
                db.set_unreachable(True)
            elif action == "db.fail_after":
                db.fail_after(int(args.get("ops", 0)))
            else:
                db.heal()
            sim.trace.add(now, "pua", FaultInjected(action, repr(args)))
        elif action == "mark":
            sim.trace.add(now, "scenario", Note("mark", str(args)))
        elif action in gateways.ACTIONS:
            gateways.do_step(self, step)
        elif action.startswith("phone.") or action == "node.call":
            registrations.do_step(self, step)

    def _save(self, step: Step) -> None:
        """Remember fields of the last (or first) message sent so far that matches."""
        from puasim.scenario.expect import _messages, field_value, match_message

        names = {n.address: n.name for n in self.sim.nodes.values()}
        ctx = RunContext(self.sim.trace, names, self.scn.epoch, vars=self.vars)
        hits = [r for r in _messages(ctx) if match_message(r, step.args["match"], ctx) is None]
        now = self.sim.kernel.now
        if not hits:
            self.sim.trace.add(now, "scenario", Note("warning", f"step {step.index}: no message matches, nothing saved"))
            return
        rec = hits[-1] if step.args["which"] == "last" else hits[0]
        for name, fld in step.args["save"].items():
            value = field_value(rec, fld)
            if value is not None:
                self.vars[name] = str(value)
        saved = ", ".join(f"${k}={self.vars[k]!r}" for k in step.args["save"] if k in self.vars)
        self.sim.trace.add(now, "scenario", Note("step", f"step {step.index} saved {saved or 'nothing'}"))

    def _value(self, step: Step, text: str) -> str:
        try:
            return inject.substitute(text, self.vars)
        except KeyError as exc:
            raise ScenarioStepError(f"step {step.index} (line {step.line}): ${exc.args[0]} was never saved") from None

    def _with_saved(self, step: Step) -> Step:
        """``step`` with ``$name`` of saved names replaced in its text arguments."""
        def walk(value: Any) -> Any:
            if isinstance(value, str) and "$" in value:
                return inject.VARIABLE.sub(
                    lambda m: self._value(step, m.group(0)) if m.group(1) in self._saved_names else m.group(0), value
                )
            if isinstance(value, dict):
                return {k: walk(v) for k, v in value.items()}
            if isinstance(value, list):
                return [walk(v) for v in value]
            return value

        return dataclasses.replace(step, args=walk(step.args))

    def _send(self, step: Step) -> None:
        """Put the step's message on the wire from node ``from`` (see :mod:`puasim.scenario.inject`)."""
        args = step.args
        sim = self.sim
        src = sim.nodes.get(args["from"])
        if src is None:
            raise ScenarioStepError(f"step {step.index} (line {step.line}): no node named {args['from']!r}")
        dst = args["to"]
        if isinstance(dst, str):
            node = sim.nodes.get(dst)
            if node is None:
                raise ScenarioStepError(f"step {step.index} (line {step.line}): no node named {dst!r}")
            dst = node.address
        try:
            message = inject.build_message(self._value(step, args["message"]), args["content_length"])
        except ValueError as exc:
            raise ScenarioStepError(f"step {step.index} (line {step.line}): not a SIP message: {exc}") from None
        sim.network.send(src.name, src.address, tuple(dst), message)

    # -- run and judge ---------------------------------------------------------------------
    def run(self, progress: ProgressHook | None = None, progress_every: int = 20_000) -> ScenarioResult:
        """Run and judge; ``progress(sim)`` is called every so many events (see ``Simulation.run``)."""
        started = time.perf_counter()
        error = None
        try:
            self.schedule()
            self.sim.run(until=self.scn.duration, progress=progress, progress_every=progress_every)
        except SimulationError as exc:
            error = str(exc)
        except Exception as exc:  # a bug outside the models: keep the trace, record the fault
            self.sim.trace.add(self.sim.kernel.now, "scenario", RunError("runner", f"{type(exc).__name__}: {exc}"))
            error = f"{type(exc).__name__}: {exc}"
        finally:
            self.sim.trace.close()
        if self.database is not None:
            self.database.close()
        wall = time.perf_counter() - started
        names = {n.address: n.name for n in self.sim.nodes.values()}
        ctx = RunContext(
            self.sim.trace, names, self.scn.epoch, self.step_results, self.probes,
            vars=dict(self.vars), duration_s=self.scn.duration / SECOND,
        )
        failures: list[Failure] = []
        expects_error = any(kind == "error" for kind, *_ in self.scn.expectations)
        if error and not expects_error:
            failures.append(Failure("run", None, f"the run stopped with an error: {error}", ""))
        for i, (kind, spec, _path, line) in enumerate(self.scn.expectations):
            failure = evaluate(kind, spec, ctx, i, line)
            if failure is not None:
                failures.append(failure)
        trace = self.sim.trace
        if isinstance(trace, MetricsTrace) and trace.observer is not None:
            messages = int(trace.observer.summary()["messages"])  # type: ignore[attr-defined]
        elif isinstance(trace, StreamTrace):
            messages = trace.count_of(MessageSent)
        else:
            messages = sum(1 for r in trace.records if type(r.event) is MessageSent)
        return ScenarioResult(
            name=self.scn.name, file=self.scn.file, passed=not failures, failures=failures,
            virtual_time=self.sim.kernel.now, messages=messages, wall_time=wall, trace=self.sim.trace,
            error=error, refs=self.scn.refs,
        )


def load_scenario(path: str | Path) -> Scenario:
    return build(load_file(path))


def scenario_from_text(text: str, file: str = "<string>") -> Scenario:
    return build(load_text(text, file))


def run_scenario(
    scn: Scenario | str | Path,
    database: Database | None = None,
    trace_level: str = "full",
    trace_path: str | Path | None = None,
    progress: ProgressHook | None = None,
) -> ScenarioResult:
    """Run one scenario (a :class:`Scenario` or a file) in the simulator and judge it.

    ``trace_level``/``trace_path``: see :class:`ScenarioRun`; ``progress``: see
    :meth:`puasim.sim.simulation.Simulation.run`.

    :raises ScenarioError: the file is invalid, or the database its ``db_url``
        names cannot be opened (before anything ran).
    """
    if not isinstance(scn, Scenario):
        scn = load_scenario(scn)
    return ScenarioRun(scn, database, trace_level, trace_path).run(progress)


def discover(paths: list[str | Path]) -> list[Path]:
    """Scenario files under the given files and folders (``*.yaml``/``*.yml``), sorted."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found.extend(sorted(q for q in p.rglob("*") if q.suffix in (".yaml", ".yml") and q.is_file()))
        else:
            found.append(p)
    return found


__all__ = ["TRACE_KINDS", "ScenarioResult", "ScenarioRun", "check_trace_level", "discover", "load_scenario", "run_scenario", "scenario_from_text", "SECOND"]
