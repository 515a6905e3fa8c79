"""Conformance check of an edge node's calls: does pua_dialoginfo publish what the model predicts?

Input: a capture of a Kamailio edge proxy running the dialog module and
pua_dialoginfo (pua-reference §9.4) between phones and a presence server.
The check

1. splits the capture around the node and reads the **dialog events** the
   call traffic fires (:func:`~puasim.capture.calls.call_events`: created,
   early, confirmed, failed, terminated) and the **pua_dialoginfo
   parameters** the PUBLISH bodies show (:func:`~puasim.capture.calls.infer_settings`);
2. runs the model's edge node (:class:`~puasim.edge.EdgeProxy` with usrloc,
   registrar, dialog and pua_dialoginfo configured so) in the deterministic
   simulator, beside one replayer per phone and one for the server: each phone
   sends what it sent in the capture, at the same time, and answers the
   node's requests with its captured replies (each reply follows the request
   it followed in the capture, after the same delay); the server answers each
   model PUBLISH with the **real** replies to the real PUBLISH it is paired
   with (same Request-URI, both with a body or both without, within the timing
   tolerance -- a body-less refresh within a sweep period more -- the same
   dialog state and SIP-If-Match presence preferred), so the model learns the
   same ETags, grants and 412s.  The node gets its inputs in the capture's
   order: a reply is held until its captured time (:func:`_held`; the model's
   node answers faster than a captured one may have) and messages of one
   captured instant keep their capture order (:attr:`Wire.to_node_rank`), as
   the ETags of PUBLISHes in flight together depend on it;
3. compares each real PUBLISH with its model partner: method, Request-URI,
   Event, Expires, SIP-If-Match (the same ETags, named by the reply that gave
   them), Content-Type, CSeq, the body field by field (document version and
   state, entity, the dialog's state, call-id, tags, direction, identities
   and targets; the dialog id compared by identity, as each process makes its
   own), and the time (``tolerance``).  A real PUBLISH without a partner and a
   model PUBLISH without one are differences.

Two things the model's node needs are read from the traffic when the capture
lacks them: the pubruri AVP values of each call (``use_pubruri_avps``, from
the PUBLISH Request-URIs), which go to the model's dialog when it is
created (:class:`AvpsOfCapture`), and the registrations of phones that
registered before the capture began (from the INVITEs the node relays,
:func:`~puasim.capture.calls.inferred_bindings`), which go into the model's
usrloc before the first packet, without expiry (the capture does not show
it).  Both are listed in the report (``inferred`` in the JSON output).

What the capture does not show is said in the report's notes: the parameters
the bodies give no evidence for, the dialog lifetime's source, the number of
``send_publish_flag``, the node's sweep phase when no body-less refresh
fixes it (then the node starts 1 µs before the first packet), and the dialog
module's ``default_timeout`` and ``timeout_noreset`` unless expiring dialogs
show them (:func:`~puasim.capture.calls.infer_settings`).  Only dialog
PUBLISHes are compared; other requests of the node to the server are counted
in a note.  The calls themselves (the relayed INVITEs and replies) are not
compared here: ``tests/edge/test_lab_calls.py`` does that for the lab captures.
"""

from __future__ import annotations

import math
import re
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from puasim.capture.calls import (
    Binding,
    CallEvent,
    Inferred,
    Wire,
    call_events,
    dialog_body,
    infer_settings,
    inferred_bindings,
    split_wire,
)
from puasim.capture.check import reply_for
from puasim.capture.compare import CheckReport, Difference, Row, compare_requests
from puasim.capture.reader import read_pcap
from puasim.companions.dialoginfo import PuaDialoginfoConfig
from puasim.edge import EdgeProxy, NodeConfig
from puasim.edge.router import DialogHook
from puasim.edge.script import Call, Script
from puasim.effects import SECOND, Outbox
from puasim.node.dialog import Dialog, DialogConfig, DialogModule
from puasim.node.registrar import RegistrarConfig
from puasim.node.usrloc import ContactInfo, Usrloc, UsrlocConfig
from puasim.pua.config import load_config
from puasim.pua.model import Pua
from puasim.sim import LinkProfile
from puasim.sim.simulation import Simulation
from puasim.sip import SipParseError
from puasim.sip import headers as H
from puasim.sip.message import Request, Response
from puasim.trace.events import MessageSent
from puasim.trace.trace import Trace

__all__ = ["AvpsOfCapture", "calls_through", "check_calls"]

Address = tuple[str, int]
#: one hop on the simulated loopback (the lab's frames are 0.1-0.5 ms apart)
HOP = 100


def calls_through(trace: Trace, node: Address) -> bool:
    """Whether ``node`` received an initial INVITE in ``trace`` (an edge node's capture)."""
    for r in trace:
        ev = r.event
        if type(ev) is MessageSent and ev.dst == node and isinstance(ev.message, Request) \
                and ev.message.method == "INVITE":
            return True
    return False


# -- the replayers -----------------------------------------------------------------------------------
#: the longest a replayer holds a reply back to keep the capture's order (half of T1: the model's
#: transaction does not retransmit its request meanwhile)
HOLD_MAX = 250_000


def _held(due: int, captured: int) -> int:
    """When a replayer sends a reply that is ``due`` (the captured delay after the model's request) and
    left at ``captured`` in the capture (shifted, plus its rank among the node's inputs of that time):
    not before ``captured``, so that the node gets its inputs in the capture's order even where the
    model's node answers faster than the real one did (a simulated capture's hops take 1 ms, the
    model's :data:`HOP`); held at most :data:`HOLD_MAX`."""
    return min(captured, due + HOLD_MAX) if captured > due else due


class PhoneReplayer:
    """One phone of the capture: sends its captured requests at their times, and answers the
    node's requests with its captured replies.  A reply belongs to the last request the phone had
    received before it (the n-th of its method; a 487 follows the CANCEL that caused it) and
    leaves after the captured delay (:func:`_held`: not before its captured time), with the Via
    headers of the model's request its CSeq names.  Times are the model's: captured time + the
    replay's shift + the message's rank among the node's inputs of its captured time."""

    def __init__(self, node: Address, plan: list[tuple[int, Request]],
                 replies: dict[tuple[str, int], list[tuple[int, Response, int]]]) -> None:
        self.node = node
        self.plan = plan
        self.replies = replies
        self.outbox = Outbox()
        self.seen: dict[str, int] = {}
        self.last: dict[str, Request] = {}
        self.pending: list[tuple[Response, Address]] = []

    def start(self, now: int) -> None:
        for i, (at, _req) in enumerate(self.plan):
            self.outbox.set_timer(("send", i), max(at, now))

    def receive(self, message: Any, src: Address, now: int) -> None:
        if not isinstance(message, Request):
            return
        n = self.seen.get(message.method, 0)
        self.seen[message.method] = n + 1
        self.last[message.method] = message
        for delay, captured, at in self.replies.get((message.method, n), []):
            cs = H.cseq(captured)
            request = self.last.get(cs.method if cs is not None else message.method, message)
            self.pending.append((reply_for(captured, request), src))
            self.outbox.set_timer(("reply", len(self.pending) - 1), _held(now + delay, at))

    def timer(self, key: Hashable, now: int) -> None:
        assert isinstance(key, tuple)
        if key[0] == "send":
            self.outbox.send(self.plan[key[1]][1], self.node)
        else:
            reply, dest = self.pending[key[1]]
            self.outbox.send(reply, dest)


@dataclass(slots=True)
class _RealPublish:
    n: int
    time: int
    request: Request
    frame: int | None
    replies: list[tuple[int, Response]]
    state: str | None
    #: its index in :attr:`Wire.publishes`
    index: int = -1
    #: each reply's rank among the node's inputs of its captured time (:attr:`Wire.reply_ranks`)
    ranks: list[int] = field(default_factory=list)
    model: Request | None = None
    model_time: int | None = None


@dataclass(slots=True)
class _Extra:
    time: int
    request: Request


class ServerReplayer:
    """The presence server of the capture: answers each model PUBLISH with the real replies of the
    real PUBLISH it is paired with (see the module docstring), each after the real server's delay
    and not before its captured time (:func:`_held`); an unpaired one gets no answer."""

    def __init__(self, real: list[_RealPublish], tolerance: int, refresh_window: int = 0) -> None:
        self.real = real
        self.tolerance = tolerance
        #: a body-less refresh comes from the sweep: it pairs with a real one up to a sweep period away
        self.refresh_window = max(refresh_window, tolerance)
        self.outbox = Outbox()
        self.by_branch: dict[str, _RealPublish | None] = {}
        self.extras: list[_Extra] = []
        self.pending: list[tuple[Response, Address]] = []

    def start(self, now: int) -> None:
        pass

    def receive(self, message: Any, src: Address, now: int) -> None:
        if not isinstance(message, Request) or message.method != "PUBLISH":
            return
        via = H.top_via(message)
        branch = via.branch if via is not None and via.branch else ""
        if branch in self.by_branch:  # a retransmission: answered (again) by the transaction's replies
            paired = self.by_branch[branch]
            if paired is not None and paired.replies:
                self.outbox.send(reply_for(paired.replies[-1][1], message), src)
            return
        sent_at = now - HOP
        paired = self._pair(message, sent_at)
        self.by_branch[branch] = paired
        if paired is None:
            self.extras.append(_Extra(sent_at, message))
            return
        paired.model, paired.model_time = message, sent_at
        for i, (t, reply) in enumerate(paired.replies):
            self.pending.append((reply_for(reply, message), src))
            rank = paired.ranks[i] if i < len(paired.ranks) else 0
            self.outbox.set_timer(("reply", len(self.pending) - 1),
                                  _held(now + max(0, t - paired.time - HOP), t + rank))

    def _pair(self, msg: Request, at: int) -> _RealPublish | None:
        fields = dialog_body(msg.body) if msg.body else None
        state = fields.get("dialog.state") if fields else None
        window = self.tolerance if msg.body else self.refresh_window
        cands = [r for r in self.real if r.model is None and r.request.uri == msg.uri
                 and bool(r.request.body) == bool(msg.body) and abs(r.time - at) <= window]
        if not cands:
            return None
        same = [r for r in cands if r.state == state
                and (r.request.get("SIP-If-Match") is None) == (msg.get("SIP-If-Match") is None)]
        return min(same or cands, key=lambda r: (abs(r.time - at), r.n))

    def timer(self, key: Hashable, now: int) -> None:
        assert isinstance(key, tuple)
        reply, dest = self.pending[key[1]]
        self.outbox.send(reply, dest)


class AvpsOfCapture:
    """The model's dialog module as the real node's INVITE route left it: :meth:`create` gives each
    dialog the pubruri AVP values its call's PUBLISHes showed (pua-reference §9.4.1; the values are
    read once, at DLGCB_CREATED), in place of the script's.  Everything else is the module's."""

    def __init__(self, dialog: DialogModule, values: Mapping[str, dict[str, list[str]]]) -> None:
        self.dialog = dialog
        self.values = values

    def create(self, invite: Request, now: int, flags: int = 0,
               avps: dict[str, list[str]] | None = None) -> Dialog | None:
        try:
            call_id = H.call_id(invite) or ""
        except SipParseError:
            call_id = ""
        found = self.values.get(call_id)
        return self.dialog.create(invite, now, flags, {k: list(v) for k, v in found.items()} if found is not None
                                  else avps)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.dialog, name)


def _bind(usrloc: Usrloc, bindings: list[Binding], now: int) -> None:
    """The registrations made before the capture, in the order the node's branches show (equal q:
    usrloc keeps them in insertion order, lookup() forks in that order); expires 0 keeps them valid."""
    for b in bindings:
        rec = usrloc.insert_urecord("location", b.aor)
        usrloc.insert_ucontact(rec, b.contact, ContactInfo(expires=0, call_id="", cseq=0, received=b.received), now)


# -- the check -----------------------------------------------------------------------------------------
def _phone_plans(wire: Wire, shift: int) -> dict[Address, tuple[list[tuple[int, Request]],
                                                                 dict[tuple[str, int], list[tuple[int, Response, int]]]]]:
    """Per phone: the requests it sent the node (at their model times), and its replies keyed by the
    node request they follow (captured delay, reply, model time); see :class:`PhoneReplayer`."""
    plans: dict[Address, tuple[list[tuple[int, Request]], dict[tuple[str, int], list[tuple[int, Response, int]]]]] = {
        p: ([], {}) for p in wire.phones}
    events: list[tuple[int, int, str, Address, Any, int]] = []
    for (t, src, msg, _f), rank in zip(wire.to_node, wire.to_node_rank, strict=True):
        events.append((t, 1, "in", src, msg, rank))
    for t, dst, msg, _f in wire.from_node:
        events.append((t, 0, "out", dst, msg, 0))
    counts: dict[Address, dict[str, int]] = {}
    last: dict[Address, tuple[tuple[str, int], int]] = {}
    for t, _o, way, phone, msg, rank in sorted(events, key=lambda e: (e[0], e[1])):
        plan, replies = plans[phone]
        if way == "out" and isinstance(msg, Request):
            n = counts.setdefault(phone, {}).get(msg.method, 0)
            counts[phone][msg.method] = n + 1
            last[phone] = ((msg.method, n), t)
        elif way == "in" and isinstance(msg, Request):
            plan.append((t + shift + rank, msg))
        elif way == "in" and isinstance(msg, Response) and phone in last:
            key, at = last[phone]
            replies.setdefault(key, []).append((t - at, msg, t + shift + rank))
    return plans


def _kind(pub: _RealPublish, wire: Wire, events: list[CallEvent], real: list[_RealPublish]) -> tuple[str, str]:
    """What made the node send ``pub``: the dialog event of the message it handled just before,
    pua's own recovery after a 412 (pua-reference §3.8.1), or its sweep."""
    msg = pub.request
    if not msg.body:
        exp = H.expires_or_none(msg)
        return ("remove", "Expires 0") if exp == 0 else ("refresh", "body-less: the model's sweep must send it")
    i = wire.before(pub.index)
    last = wire.to_node_seq[i] if i is not None else -1
    failed = [p for p in real if p.request.uri == msg.uri and p.index < pub.index
              and any(r.status == 412 and t <= pub.time for t, r in p.replies)]
    if failed and (i is None or all(wire.to_node[i][0] <= t for t, r in failed[-1].replies if r.status == 412)):
        return "recovery", f"pua's new initial PUBLISH after the 412 to #{failed[-1].n} (pua-reference §3.8.1)"
    if pub.state == "terminated":
        for e in events:
            if e.kind == "expired" and e.seq in wire.publish_seq \
                    and wire.before(wire.publish_seq.index(e.seq)) == i and e.seq <= wire.publish_seq[pub.index]:
                return "expired", (f"the dialog timer of Call-ID {e.call_id} ran out: a terminated PUBLISH after no "
                                   "BYE and no failure")
    if i is not None:
        _t, _src, m, f = wire.to_node[i]
        for e in events:
            if e.seq == last:
                frame = f"#{f}" if f is not None else ""
                return e.kind, f"after {e.message} from the {e.side} {frame}".rstrip()
        label = m.method if isinstance(m, Request) else f"{m.status} {m.reason}"
        return "publish", f"after {label}, which fires no dialog event"
    return "publish", "before any call message"


def _compare(pub: _RealPublish, origin_of: Any, tolerance: int, shift: int, origin: int) -> list[Difference]:
    real, model = pub.request, pub.model
    assert model is not None and pub.model_time is not None
    out: list[Difference] = []
    for name, a, b in compare_requests(real, model, origin_of):
        if name != "body":
            out.append(Difference(name, a, b))
    fa = dialog_body(real.body) if real.body else None
    fb = dialog_body(model.body) if model.body else None
    if bool(real.body) != bool(model.body):
        out.append(Difference("body", "present" if real.body else "absent", "present" if model.body else "absent"))
    elif fa is None or fb is None:
        if (fa is None) != (fb is None):
            out.append(Difference("body", "dialog-info" if fa else "not dialog-info", "dialog-info" if fb else "not dialog-info"))
        elif real.body != model.body:
            out.append(Difference("body", f"{len(real.body)} bytes", f"{len(model.body)} bytes, a different body"))
    else:
        for key in sorted(set(fa) | set(fb)):
            if key == "dialog.id":
                continue  # compared by identity in check_calls
            va, vb = fa.get(key), fb.get(key)
            if va != vb:
                out.append(Difference(f"body {key}", "absent" if va is None else va, "absent" if vb is None else vb))
    dt = pub.model_time - shift - pub.time
    if abs(dt) > tolerance:
        out.append(Difference("timing", f"sent at {(pub.time - origin) / SECOND:.3f} s",
                              f"at {(pub.model_time - shift - origin) / SECOND:.3f} s ({dt / SECOND:+.3f} s)"))
    return out


@dataclass(slots=True)
class _Setup:
    inferred: Inferred
    params: dict[str, Any]
    dialoginfo: dict[str, Any]
    dialog: dict[str, Any]
    script: Script
    notes: list[str] = field(default_factory=list)


def _whole(dialog: Mapping[str, Any], name: str) -> int | None:
    """A given dialog module parameter as an integer (``None``: not given)."""
    from puasim.capture.check import CheckError

    value = dialog.get(name)
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise CheckError(f"dialog {name}={value!r}: not a whole number") from None


def _setup(wire: Wire, events: list[CallEvent], params: Mapping[str, Any], dialoginfo: Mapping[str, Any],
           dialog: Mapping[str, Any]) -> _Setup:
    given, noreset = (_whole(dialog, name) for name in ("default_timeout", "timeout_noreset"))
    inferred = infer_settings(wire, events, given, noreset)
    dlg_params = {**inferred.dialog, **dialog}
    di = {**inferred.dialoginfo, **dialoginfo}
    pua_params = {"outbound_proxy": f"sip:{wire.server[0]}:{wire.server[1]}", **inferred.pua, **params}
    invite: tuple[Call, ...] = (Call("dlg_manage"),)
    flag = di.get("send_publish_flag", -1)
    if isinstance(flag, int) and flag >= 0 and "send_publish_flag" not in dialoginfo and inferred.flagged_users:
        users = "|".join(re.escape(u) for u in inferred.flagged_users)
        invite = (Call("setflag", (str(flag),), f"^({users})$"), Call("dlg_manage"))
    elif isinstance(flag, int) and flag >= 0:
        invite = (Call("setflag", (str(flag),)), Call("dlg_manage"))
    script = Script((Call("save", ("location",)),), invite=invite)
    setup = _Setup(inferred, pua_params, di, dlg_params, script)
    for name in dialoginfo:
        setup.notes.append(f"pua_dialoginfo {name}={dialoginfo[name]} given (not inferred)")
    for name in dialog:
        setup.notes.append(f"dialog {name}={dialog[name]} given (not inferred)")
    return setup


def check_calls(
    source: str | Path | Trace,
    *,
    node_address: Address | None = None,
    node_port: int = 5080,
    server_address: Address | None = None,
    params: Mapping[str, Any] | None = None,
    dialoginfo: Mapping[str, Any] | None = None,
    dialog: Mapping[str, Any] | None = None,
    tolerance: float = 1.0,
    until: float | None = None,
) -> CheckReport:
    """Check an edge node's dialog PUBLISHes against the model; see the module docstring.

    ``source``: pcap/pcapng path or a trace read from one; the node is
    ``node_address`` or the first address that sends from ``node_port``;
    ``params`` are pua parameters (``update_period``...), ``dialoginfo`` and
    ``dialog`` override what is inferred for pua_dialoginfo and set dialog
    module parameters (``default_timeout``); ``tolerance`` and ``until`` in
    seconds (``until`` after the first packet: how long the capture ran).
    Raises :class:`~puasim.capture.check.CheckError` when the capture has no
    calls through the node or no PUBLISH from it.
    """
    from puasim.capture.check import CheckError

    trace = source if isinstance(source, Trace) else read_pcap(source)
    name = str(trace.meta.get("source", source)) if isinstance(source, Trace) else str(source)
    if node_address is None:
        node_address = next((r.event.src for r in trace if type(r.event) is MessageSent and r.event.src[1] == node_port),
                            None)
        if node_address is None:
            raise CheckError(f"{name}: nothing sent from port {node_port} (give the node's port or address)")
    try:
        wire = split_wire(trace, node_address, server_address)
    except ValueError as exc:
        raise CheckError(f"{name}: {exc}") from None
    events = call_events(wire)
    if not events:
        raise CheckError(f"{name}: no INVITE reached {node_address[0]}:{node_address[1]}: no calls to check")
    setup = _setup(wire, events, params or {}, dialoginfo or {}, dialog or {})
    cfg = load_config(setup.params)
    records = [r.time for r in trace if type(r.event) is MessageSent]
    origin = min(records)
    tol = int(tolerance * SECOND)
    end = origin + int(until * SECOND) if until is not None else max(records)
    # the sweep phase: a body-less refresh is a sweep tick (pua-reference §5.1)
    clean = cfg.clean_period * SECOND
    refresh = next((t for t, m, _f, _r in wire.publishes if not m.body and (H.expires_or_none(m) or 0) > 0), None)
    notes = list(setup.notes)
    if not params or "update_period" not in params:
        notes.append(f"not visible in the capture: pua's update_period (the sweep period); {cfg.update_period} used "
                     "(--params update_period=N)")
    if refresh is not None and clean:
        k = (refresh - origin) // clean + 1
        start = refresh - k * clean
        notes.append(f"sweep phase fitted to the refresh at {(refresh - origin) / SECOND:.3f} s "
                     f"(update_period {cfg.update_period})")
    else:
        start = origin - 1
        notes.append("not visible in the capture: the node's sweep phase (no body-less refresh); the model's "
                     "node starts 1 us before the first packet")
    shift = max(0, math.ceil(-start / SECOND)) * SECOND  # whole seconds keep each time's place in its second
    epoch = int(trace.meta.get("epoch", 1_700_000_000)) - shift // SECOND

    sim = Simulation(seed=1, epoch=epoch, link=LinkProfile(latency=HOP))
    dlg_cfg = DialogConfig.from_params(setup.dialog)
    di_cfg = PuaDialoginfoConfig.from_params(setup.dialoginfo)
    node_cfg = NodeConfig(UsrlocConfig(), RegistrarConfig(min_expires=0), dialog=dlg_cfg, pua_dialoginfo=di_cfg)

    avp_names = di_cfg.avp_names()
    avp_values = {cid: {avp_names[0]: list(caller), avp_names[1]: list(callee)}
                  for cid, (caller, callee) in setup.inferred.avps.items()} if avp_names is not None else {}
    bindings = inferred_bindings(wire, node_cfg.usrloc.use_domain)

    def edge(_node: Any) -> EdgeProxy:
        pua = Pua(cfg, host=node_address[0], port=node_address[1], rng=sim.streams("pua"), epoch=sim.epoch)
        proxy = EdgeProxy(pua, node_cfg, setup.script)
        if avp_values:
            for obs in proxy.router.observers:
                if isinstance(obs, DialogHook):
                    obs.dialog = AvpsOfCapture(obs.dialog, avp_values)  # type: ignore[assignment]
        _bind(proxy.usrloc, bindings, 0)
        return proxy

    node = sim.add_node("node", node_address, edge, start=False)
    sim.kernel.call_at(start + shift, node.start)
    real: list[_RealPublish] = []
    others = 0
    for index, (t, msg, frame, replies) in enumerate(wire.publishes):
        if (msg.get("Event") or "").split(";")[0].strip().lower() != "dialog":
            others += 1
            continue
        fields = dialog_body(msg.body) if msg.body else None
        real.append(_RealPublish(len(real) + 1, t, msg, frame, replies, fields.get("dialog.state") if fields else None,
                                 index, ranks=wire.reply_ranks[index]))
    shifted = [_RealPublish(p.n, p.time + shift, p.request, p.frame, [(t + shift, m) for t, m in p.replies], p.state,
                            p.index, ranks=p.ranks) for p in real]
    server = ServerReplayer(shifted, tol, clean + tol)
    sim.add_node("server", wire.server, lambda _n: server)
    for i, (phone, (plan, answers)) in enumerate(_phone_plans(wire, shift).items()):
        sim.add_node(f"phone{i}", phone, _factory(PhoneReplayer(node_address, plan, answers)))
    fault = ""
    try:
        # a real PUBLISH near the end may have its partner up to the tolerance later (an expiry the
        # real node's whole-second ticks brought forward, say); later model PUBLISHes are not reported
        sim.run(until=end + tol + shift)
    except Exception as exc:  # a model fault: keep what was compared
        fault = f"{type(exc).__name__}: {exc}"

    report = CheckReport(name, node_address, wire.server, {**setup.params, **{f"pua_dialoginfo.{k}": v for k, v in
                                                                             setup.dialoginfo.items()},
                                                           **{f"dialog.{k}": v for k, v in setup.dialog.items()}},
                         origin, tol)
    report.model_trace = sim.trace
    report.fault = fault
    etag_from = {reply.get("SIP-ETag"): p.n for p in real for _t, reply in p.replies if reply.get("SIP-ETag")}

    def origin_of(etag: str) -> str:
        n = etag_from.get(etag)
        return f"ETag of the reply to #{n}" if n is not None else "an ETag no reply in the capture handed out"

    ids_real: dict[str, int] = {}
    ids_model: dict[str, int] = {}
    for p, s in zip(real, shifted, strict=True):
        kind, why = _kind(p, wire, events, real)
        row = Row(p.n, kind, p.time, p.frame, p.request, s.model,
                  None if s.model_time is None else s.model_time - shift,
                  next((r.status for _t, r in p.replies if r.status >= 200), None))
        row.note = why
        if s.model is None:
            row.diffs.append(Difference("request", "sent by the real node", "no such PUBLISH from the model"))
        else:
            p.model, p.model_time = s.model, s.model_time
            row.diffs.extend(_compare(p, origin_of, tol, shift, origin))
            ra, rb = dialog_body(p.request.body) if p.request.body else None, dialog_body(s.model.body) if s.model.body else None
            ia = ra.get("dialog.id") if ra else None
            ib = rb.get("dialog.id") if rb else None
            if ia is not None and ib is not None:
                na, nb = ids_real.setdefault(ia, len(ids_real) + 1), ids_model.setdefault(ib, len(ids_model) + 1)
                if na != nb:
                    row.diffs.append(Difference("body dialog.id", f"dialog {na} of the capture",
                                                f"dialog {nb} of the model"))
        report.rows.append(row)
    n = len(real)
    for extra in server.extras:
        if extra.time - shift > end:
            continue
        n += 1
        row = Row(n, "extra", None, None, None, extra.request, extra.time - shift)
        fields = dialog_body(extra.request.body) if extra.request.body else None
        state = f" ({fields.get('dialog.state')})" if fields and fields.get("dialog.state") else ""
        row.diffs.append(Difference("request", "not sent", f"the model sent PUBLISH {extra.request.uri}{state}"))
        report.rows.append(row)
    report.rows.sort(key=lambda r: (r.real_time if r.real_time is not None else (r.model_time or 0), r.n))
    report.calls = [_call_dict(e, origin) for e in events]
    if avp_values and avp_names is not None:
        report.inferred["pubruri_avps"] = {
            "pubruri_caller_avp": setup.dialoginfo.get("pubruri_caller_avp"),
            "pubruri_callee_avp": setup.dialoginfo.get("pubruri_callee_avp"),
            "calls": {cid: {"caller": list(caller), "callee": list(callee)}
                      for cid, (caller, callee) in setup.inferred.avps.items()}}
    if bindings:
        report.inferred["registrations"] = [
            {"aor": b.aor, "contact": b.contact, "received": b.received, "call_id": b.call_id,
             "time": round((b.time - origin) / SECOND, 6), "frame": b.frame} for b in bindings]
        notes.extend(f"registration inferred: {b.aor} -> {b.contact}{f' received {b.received}' if b.received else ''} "
                     f"(the INVITE to {b.target} the node relayed there{f', #{b.frame}' if b.frame is not None else ''}): "
                     "no REGISTER for it in the capture; the binding is kept for the whole replay" for b in bindings)
    report.notes.extend(notes)
    report.notes.extend(f"inferred {line}" for line in setup.inferred.evidence)
    report.notes.extend(f"not visible in the capture: {line}" for line in setup.inferred.unseen)
    if others:
        report.notes.append(f"{others} PUBLISH(es) of other events from the node not checked (not pua_dialoginfo's)")
    if wire.other_requests:
        report.notes.append(f"{wire.other_requests} other request(s) from the node to the server not checked")
    if fault:
        report.notes.append(f"the model raised {fault}; the comparison stops there")
    return report


def _factory(endpoint: Any) -> Any:
    """A node factory handing out ``endpoint`` (replayers are never restarted)."""
    return lambda _node: endpoint


def _call_dict(e: CallEvent, origin: int) -> dict[str, Any]:
    return {"call_id": e.call_id, "time": round((e.time - origin) / SECOND, 6), "event": e.kind,
            "message": e.message, "from": e.side, "frame": e.frame}

