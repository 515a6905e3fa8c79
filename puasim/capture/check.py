"""Conformance check: does a real PUA send what the model predicts, given the same inputs?

Input: a capture (pcap or a trace read from one) of a real PUA — Kamailio's
pua driven by pua_rpc, say — talking to a presence server.  The model
(:class:`~puasim.pua.model.Pua`) is driven with the same API inputs at the
same times and fed the server's **actual** replies (rewritten to its own
Call-IDs, tags and branches), so it learns the same ETags and grants.  Each
request it sends is compared with the real one (:func:`compare_requests`):
method, Request-URI, Event, Expires, SIP-If-Match, Content-Type, CSeq,
body semantics and, for requests the model sends by itself, timing.

The API inputs are not in the capture; they are **inferred** from the real
requests, which is what makes the check meaningful and also what it cannot
see:

* PUBLISH with a body → an API publish (initial when it has no
  SIP-If-Match, a modify when it has one) with the body, Content-Type and
  event as sent and ``expires = Expires − 1`` (pua sends requested + 1,
  pua-reference §3.5).  See below for ``default_expires + 1``.
* PUBLISH with ``Expires: 0`` → an API publish with expires 0 (removal).
* PUBLISH without a body and ``Expires > 0`` → a refresh: **no input**; the
  model must send it by itself from its sweep (§5.2, §5.3).  Matched with
  the model's own refresh of the same presentity sent within one sweep
  period; a gap above ``tolerance`` is a timing difference.  An API publish
  without a body for an existing record looks the same: it is taken as one
  when it is a ``presence`` PUBLISH and a REGISTER for the presentity reached
  the PUA's address within ``tolerance`` before and was answered 2xx
  (pua_usrloc's contact update, §9.2; see
  :func:`~puasim.capture.infer.answered_registers`), else as a refresh.
* The publication id is not on the wire: a PUBLISH sending an ETag keeps
  the id of the record a 2xx handed it to; an initial PUBLISH for a
  presentity the model still holds a record of gets a new id (noted).
* Under a client profile (``profile`` pjsua or sipsimple,
  :mod:`puasim.pua.policy`) Expires is the lifetime as asked, in-dialog
  SUBSCRIBEs are the policy's refreshes, and a new initial request after a
  failure is the policy's retry: its random delay is read from the capture.
  An initial PUBLISH the model sends by itself just before the real one
  (repairs B9, D1) is compared as pua's own.
* SUBSCRIBE without a To-tag → an API subscribe with ``expires = Expires −
  10`` (§4.2), presentity = To URI, watcher = From URI, contact = Contact URI,
  remote target = the Request-URI when it is not the presentity; unless it
  follows an error reply to an in-dialog SUBSCRIBE of the same dialog within
  ``tolerance``: then it is pua's own re-subscribe (§4.6.1, ``recovery``),
  matched with the model's.  An in-dialog SUBSCRIBE with ``Expires: 0`` → an
  API unsubscribe (presentity and watcher from To and From, never the
  Request-URI, which is the dialog's remote target); one whose Expires does
  not fit §5.3's countdown from the dialog's last API call, or that is sent
  off the sweep grid, or a ``dialog;sla`` one after a REGISTER answered 2xx
  as above (pua_bla, §9.3), → an API call on the dialog (``change``); any
  other → a refresh the model must send itself.
* A PUBLISH asking ``default_expires + 1`` is −1 or ``default_expires``:
  decided from the refreshes that follow (:func:`~puasim.capture.infer.publish_expiry`)
  and said in the row's note.
* The source flag of every API call is ``source_flag`` (``RPC_ASYN_PUBLISH``,
  what ``pua.publish`` uses, unless told otherwise); the publication id is
  empty; pua parameters come from ``params`` and ``outbound_proxy`` is the
  server the capture shows.
* The capture does not say when the real PUA started, so its sweep phase is
  unknown: the model's sweep is aligned with the first body-less refresh in
  the capture when there is one (``phase="auto"``), else it starts 1 µs
  before the first packet.  Restarts of the real PUA (with db_mode 0's
  start-up restore from the ``pua`` table) are found from the Call-ID
  counters (:func:`~puasim.capture.infer.find_restarts`); the model restarts
  in the traffic gap on the sweep grid of the refreshes that follow, and an
  old instance that would send into the gap is taken as stopped (its table
  keeps the last DB sync, §5.7).  ``restarts`` overrides what was found; each
  given time is kept inside the gap around it.
* Only packets between the PUA and one server (``server_address``, else the
  server of the PUA's first request) are checked.
* ``until`` (seconds after the first packet) is how long the capture ran:
  a pcap does not record the quiet time after its last packet, and a
  refresh the model predicts in that time is a difference.

Retransmissions of the real PUA are not compared (their count is noted).
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from puasim.capture.compare import CheckReport, Difference, Row, compare_requests
from puasim.capture.infer import (
    answered_registers,
    find_restarts,
    place_restart,
    publication_chains,
    publish_expiry,
)
from puasim.capture.invisible import cleanup_refreshes, explain, handed_out_etags
from puasim.capture.reader import address_name, read_pcap
from puasim.effects import SECOND, CancelTimer, Emit, Send, SetTimer
from puasim.pua.config import load_config
from puasim.pua.constants import Source, event_from_name
from puasim.pua.info import PublInfo, SubsInfo
from puasim.pua.policy import TIMER as POLICY_TIMER
from puasim.pua.subpolicy import RESUBSCRIBE
from puasim.sip import SipParseError
from puasim.sip import headers as H
from puasim.sip.message import Request, Response
from puasim.sip.uri import format_hostport
from puasim.trace.events import MessageSent, Note, RunError
from puasim.trace.trace import Trace

__all__ = ["CheckError", "ModelHost", "check_capture", "infer_kind", "reply_for"]

Address = tuple[str, int]


def reply_for(reply: Response, request: Request) -> Response:
    """A captured ``reply`` as the answer to the model's ``request``: the request's Via, From,
    Call-ID and CSeq, its To with the reply's tag; everything else as captured."""
    to_req, to_rep = H.to(request), H.to(reply)
    tag = to_rep.tag if to_rep is not None else None
    to_value = (request.get("To") or "") + (f";tag={tag}" if tag and (to_req is None or not to_req.tag) else "")
    headers: list[tuple[str, str]] = [("Via", v) for v in request.get_all("Via")]
    for name, value in reply.headers:
        low = name.lower()
        if low in ("via", "v"):
            continue
        if low in ("call-id", "i"):
            value = request.get("Call-ID") or value
        elif low in ("from", "f"):
            value = request.get("From") or value
        elif low in ("to", "t"):
            value = to_value
        elif low == "cseq":
            value = request.get("CSeq") or value
        headers.append((name, value))
    return Response(reply.status, reply.reason, tuple(headers), reply.body)


class CheckError(ValueError):
    """The capture cannot be checked (no PUA traffic, bad parameters)."""


class ModelHost:
    """Runs one sans-IO endpoint on explicit time: a timer heap and an effect log.

    ``advance(t)`` fires every timer due at or before ``t`` in order; the
    requests and responses the endpoint sends are returned as ``(time, Send)``.
    Every effect is also recorded in :attr:`trace` (node ``model``).
    """

    def __init__(self, endpoint: Any, trace: Trace, node: str = "model", max_timers: int = 1_000_000) -> None:
        self.endpoint = endpoint
        self.trace = trace
        self.node = node
        self.now = 0
        self._heap: list[tuple[int, int, Hashable]] = []
        self._armed: dict[Hashable, tuple[int, int]] = {}
        self._seq = 0
        self._budget = max_timers
        #: set when the model raised a modelled Kamailio crash (KamailioCrash)
        self.crashed = ""
        self.crashed_at = 0
        #: set while the real process is down (between a stop and a restart): inputs are dropped
        self.stopped = False
        #: client-policy retry timers armed since the checker last looked (puasim.pua.policy)
        self.new_retries: list[tuple[tuple, int]] = []

    def _apply(self, now: int) -> list[tuple[int, Send]]:
        sends = []
        ep = self.endpoint
        for eff in ep.outbox.take():
            cls = eff.__class__
            if cls is Send:
                sends.append((now, eff))
                self.trace.add(now, self.node, MessageSent((ep.host, ep.port), eff.dest, eff.message, eff.retransmission))
            elif cls is SetTimer:
                key = eff.key
                if isinstance(key, tuple) and len(key) > 2 and key[0] == POLICY_TIMER and key[1] in ("retry", RESUBSCRIBE):
                    self.new_retries.append((key, max(eff.at, now)))
                self._seq += 1
                self._armed[eff.key] = (max(eff.at, now), self._seq)
                heapq.heappush(self._heap, (max(eff.at, now), self._seq, eff.key))
            elif cls is CancelTimer:
                self._armed.pop(eff.key, None)
            elif cls is Emit:
                self.trace.add(now, self.node, eff.event)
        return sends

    def _guard(self, now: int, fn: Any, *args: Any) -> Any:
        """Run one model input; a modelled Kamailio crash stops the endpoint for good."""
        from puasim.store.errors import KamailioCrash

        try:
            return fn(*args)
        except KamailioCrash as exc:
            self.crashed = f"{type(exc).__name__}: {exc}"
            self.crashed_at = now
            self.trace.add(now, self.node, RunError(f"{self.node}: modelled crash", self.crashed))
            self._heap.clear()
            self._armed.clear()
            return None

    def call(self, now: int, fn: Any, *args: Any) -> tuple[Any, list[tuple[int, Send]]]:
        if self.crashed or self.stopped:
            return None, []
        self.now = max(self.now, now)
        result = self._guard(now, fn, *args)
        return result, self._apply(now)

    def rearm(self, key: Hashable, at: int) -> None:
        """Move the armed timer ``key`` to ``at``."""
        self._seq += 1
        self._armed[key] = (at, self._seq)
        heapq.heappush(self._heap, (at, self._seq, key))

    def next_due(self) -> int | None:
        """Time of the next armed timer (cancelled entries are dropped here)."""
        heap = self._heap
        while heap and self._armed.get(heap[0][2]) != (heap[0][0], heap[0][1]):
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def step(self) -> list[tuple[int, Send]]:
        """Fire the next armed timer; its sends."""
        if self.next_due() is None:
            return []
        at, _seq, key = heapq.heappop(self._heap)
        del self._armed[key]
        self._budget -= 1
        if self._budget < 0:
            raise CheckError("model timer budget exhausted (a timer loop?)")
        self.now = max(self.now, at)
        self._guard(at, self.endpoint.timer, key, at)
        return self._apply(at)

    def advance(self, to: int) -> list[tuple[int, Send]]:
        """Fire every timer due at or before ``to``; their sends."""
        out: list[tuple[int, Send]] = []
        while (due := self.next_due()) is not None and due <= to:
            out.extend(self.step())
        self.now = max(self.now, to)
        return out

    def reset(self, endpoint: Any) -> None:
        """A new endpoint (restart): every armed timer is forgotten."""
        self.endpoint = endpoint
        self.crashed = ""
        self.stopped = False
        self._heap.clear()
        self._armed.clear()


def infer_kind(msg: Request) -> str:
    """What a real PUA request stands for (see the module docstring)."""
    expires = H.expires_or_none(msg)
    if msg.method == "PUBLISH":
        if expires == 0:
            return "remove"
        return "publish" if msg.body else "refresh"
    if msg.method == "SUBSCRIBE":
        to = H.to(msg)
        in_dialog = to is not None and to.tag
        if not in_dialog:
            return "subscribe"
        return "unsubscribe" if expires == 0 else "resubscribe"
    return "other"


def _uri(value: Any) -> str:
    return value.uri if value is not None else ""


def _package(msg: Request) -> tuple[str, frozenset[str]]:
    """The Event header as (package, parameter names), lower-cased (RFC 6665 §8.2.1:
    ``dialog;sla`` is package ``dialog`` with parameter ``sla``)."""
    package, *params = (msg.get("Event") or "").lower().split(";")
    return package.strip(), frozenset(p.split("=")[0].strip() for p in params if p.strip())


@dataclass(slots=True)
class _Real:
    row: Row
    branch: str
    method: str
    replies: list[tuple[int, Response]] = field(default_factory=list)
    model_req: Request | None = None
    model_time: int | None = None
    deadline: int = 0
    #: the publication id the model's input used (PUBLISH only): the ETags its 2xx hands out belong to it
    pub_id: str = ""


class _Checker:
    def __init__(
        self,
        trace: Trace,
        pua: Address,
        params: Mapping[str, Any],
        source_flag: int,
        tolerance: int,
        until: int | None,
        restarts: list[int] | None,
        phase: str | float,
        source: str,
        ids: Mapping[str, str],
        db_quirks: str,
        server: Address | None = None,
    ) -> None:
        self.ids = dict(ids)
        self.db_quirks = db_quirks
        self.trace = trace
        self.pua_addr = pua
        self.params = dict(params)
        self.source_flag = source_flag
        self.tolerance = tolerance
        msgs = [r for r in trace if type(r.event) is MessageSent]
        self.origin = msgs[0].time if msgs else 0
        self.until = None if until is None else self.origin + until
        self.given_restarts = None if restarts is None else sorted(self.origin + r for r in restarts)
        self.restarts: list[int] = []
        self.restart_times: list[int] = []
        #: per restart, the old instance's last packet: it stopped after it
        self.stop_after: list[int] = []
        self.phase = phase
        self.frames: list[int] = list(trace.meta.get("frames") or [])
        self.server: Address | None = server or next(
            (r.event.dst for r in msgs if r.event.src == pua and isinstance(r.event.message, Request)), None
        )
        if self.server is None or not any(r.event.src == pua and r.event.dst == self.server for r in msgs):
            to = f" to {address_name(server)}" if server else ""
            raise CheckError(f"{source}: no request from the PUA at {address_name(pua)}{to} in the capture")
        cfg_params = {"outbound_proxy": f"sip:{format_hostport(*self.server)}", **self.params}
        self.cfg = load_config(cfg_params)
        client = self.cfg.client
        #: what the PUA adds to an API publish's expires in the Expires header: Kamailio's + 1
        #: (§3.5), nothing under a client policy that sends the lifetime as is (puasim.pua.policy)
        self.expires_offset = 0 if client is not None and client.exact_expires else 1
        self.report = CheckReport(source, pua, self.server, self.params, self.origin, tolerance)
        self.model_trace = Trace({"epoch": trace.meta.get("epoch", 0), "source": f"model for {source}"})
        self.report.model_trace = self.model_trace
        self.starts = 0
        self.database: Any = None
        self.host = ModelHost(self._new_pua(), self.model_trace)
        self.by_branch: dict[tuple[str, str], _Real] = {}
        self.awaiting: list[_Real] = []
        self.pending: list[tuple[int, Request]] = []
        self.dialogs: dict[str, tuple[str, str, str]] = {}  # real Call-ID -> (model Call-ID, real tag, model tag)
        self.real_retrans = 0
        self.n = 0
        self.detected: list = []
        self.grid_start = 0
        #: id(real in-dialog SUBSCRIBE) taken as an API call (not the sweep's refresh)
        self.changes: set[int] = set()
        #: id(real PUBLISH) -> (API expires, why) for requests asking default_expires + 1
        self.publish_expiry: dict[int, tuple[int, str]] = {}
        #: ETag a 2xx handed to the real PUA -> publication id of the model's input for that record
        self.etag_ids: dict[str, str] = {}
        self.fresh_ids = 0
        #: the real PUA's initial PUBLISHes and SUBSCRIBEs: (time, request), in capture order
        self.initials: list[tuple[int, Request]] = []
        #: id(real initial request) -> note: the client policy's own retry, its random delay read from the capture
        self.retries: dict[int, str] = {}
        #: id(real PUBLISH) -> publication id, for presentities with several publications at once
        self.thread_ids: dict[int, str] = {}
        #: id(real PUBLISH) -> replies captured before it that the real PUA had not yet processed
        self.deferred: dict[int, list[tuple[_Real, Response]]] = {}
        #: the PUA's PUBLISHes in capture order: (time, request)
        self.publishes: list[tuple[int, Request]] = []
        #: To URI of a REGISTER that reached the PUA's address and was answered 2xx -> its
        #: times (the trigger of pua_usrloc, §9.2, and pua_bla, §9.3)
        self.registers = answered_registers(msgs, pua)

    # -- the model ----------------------------------------------------------------------
    def _new_pua(self) -> Any:
        from puasim.pua.model import Pua

        self.starts += 1
        store = None
        try:
            from puasim.store import Database, make_store

            if self.database is None:
                self.database = Database("sqlite://:memory:", quirks=self.db_quirks)
            store = make_store(self.cfg, self.database)
        except ImportError:  # pragma: no cover - the store package is older
            store = None
        return Pua(
            self.cfg, host=self.pua_addr[0], port=self.pua_addr[1], rng=random.Random(self.starts),
            epoch=int(self.trace.meta.get("epoch", 0)), store=store,
        )

    def _first_refresh(self, records: list, after: int, before: int | None) -> int | None:
        """Time of the first refresh the PUA sent by itself in (after, before): a sweep tick."""
        return next(
            (r.time for r in records if r.event.src == self.pua_addr and isinstance(r.event.message, Request)
             and not r.event.retransmission and r.time > after and (before is None or r.time < before)
             and infer_kind(r.event.message) in ("refresh", "resubscribe") and id(r.event.message) not in self.changes),
            None,
        )

    def _place_restarts(self, records: list) -> None:
        """Restarts from the capture (Call-ID counters) or as given, each moved onto the
        sweep grid of the refreshes that follow it (:mod:`puasim.capture.infer`)."""
        clean = self.cfg.clean_period * SECOND
        pua_reqs = [(r.time, r.event.message) for r in records if r.event.src == self.pua_addr
                    and isinstance(r.event.message, Request) and not r.event.retransmission]
        packets = sorted(r.time for r in records if self.pua_addr in (r.event.src, r.event.dst))
        found = find_restarts(pua_reqs, packets)
        self.detected = found
        wanted: list[tuple[int, int, int, str]] = []  # (wanted, after, before, how)
        if self.given_restarts is None:
            wanted = [(f.before, f.after, f.before, "found in the capture: " + f.evidence) for f in found]
        else:
            for r0 in self.given_restarts:
                near = next((f for f in found if f.after - 2 * SECOND - self.tolerance <= r0
                             <= f.before + 2 * SECOND + self.tolerance), None)
                if near is not None:
                    wanted.append((r0, near.after, near.before, "given, in the traffic gap the capture shows"))
                    continue
                before_r0 = [p for p in packets if p < r0]
                after_r0 = [t for t, _ in pua_reqs if t >= r0]
                wanted.append((r0, before_r0[-1] if before_r0 else r0 - SECOND,
                               after_r0[0] if after_r0 else r0 + SECOND, "given"))
        wanted.sort()
        for i, (r0, after, before, how) in enumerate(wanted):
            nxt = wanted[i + 1][2] if i + 1 < len(wanted) else None
            tick = self._first_refresh(records, before - 1, nxt)
            at = place_restart(r0, after, before, tick, clean)
            self.restarts.append(at)
            self.restart_times.append(at)
            self.stop_after.append(after)
            fitted = "sweep phase fitted to the refresh at " + f"{(tick - self.origin) / SECOND:.3f} s" if tick else \
                "no refresh follows to fit the sweep phase"
            self.report.notes.append(
                f"restart of the real PUA between {(after - self.origin) / SECOND:.3f} and "
                f"{(before - self.origin) / SECOND:.3f} s ({how}); the model restarts at "
                f"{(at - self.origin) / SECOND:.3f} s, {fitted}"
            )

    def _plan_publish_expiry(self, records: list) -> None:
        """Decide -1 or default_expires for every PUBLISH asking default_expires + 1 from the
        refreshes of the same record that follow (:func:`~puasim.capture.infer.publish_expiry`)."""
        mine = [r for r in records if r.event.src == self.pua_addr and isinstance(r.event.message, Request)
                and not r.event.retransmission and r.event.message.method == "PUBLISH"]
        granted: dict[str, int] = {}
        for r in records:
            msg = r.event.message
            if r.event.dst == self.pua_addr and isinstance(msg, Response) and 200 <= msg.status < 300:
                via = H.top_via(msg)
                exp = H.expires_or_none(msg)
                if via is not None and via.branch and exp is not None:
                    granted.setdefault(via.branch, exp)
        end = self.until if self.until is not None else (records[-1].time if records else 0)
        clean = self.cfg.clean_period * SECOND
        for i, rec in enumerate(mine):
            msg = rec.event.message
            if not msg.body or H.expires_or_none(msg) != self.cfg.default_expires + self.expires_offset:
                continue
            key = self._key(msg)
            horizon = next((r.time for r in mine[i + 1:] if self._key(r.event.message) == key
                            and infer_kind(r.event.message) in ("publish", "remove")), None)
            horizon = min(x for x in (horizon, end) if x is not None)
            # a restored record's refreshes count; silence while the real PUA was down does not
            seen_until = min((a for a in self.stop_after if a >= rec.time), default=horizon)
            refreshes = [H.expires_or_none(r.event.message) or 0 for r in mine[i + 1:]
                         if r.time <= horizon and self._key(r.event.message) == key
                         and infer_kind(r.event.message) == "refresh"]
            via = H.top_via(msg)
            got = granted.get(via.branch if via and via.branch else "")
            window = None if got is None else rec.time + (got - self.cfg.update_period) * SECOND + clean + self.tolerance
            covers = window is not None and window <= min(horizon, seen_until)
            self.publish_expiry[id(msg)] = publish_expiry(H.expires_or_none(msg) or 0, refreshes,
                                                          self.cfg.default_expires, covers, self.expires_offset)

    def _start_time(self, records: list) -> int:
        first = self.origin
        clean = self.cfg.clean_period * SECOND
        if self.phase != "auto":
            tick = self.origin + int(float(self.phase) * SECOND)
        else:
            found = self._first_refresh(records, first - 1, self.restarts[0] if self.restarts else None)
            if found is None or not clean:
                return first - 1
            tick = found
        if not clean:
            return first - 1
        k = max(0, (tick - first) // clean + 1)
        return tick - k * clean

    # -- matching -----------------------------------------------------------------------
    def _etag_origin(self, etag: str) -> str:
        for real in self.by_branch.values():
            for _, reply in real.replies:
                if reply.status < 300 and H.sip_etag(reply) == etag:
                    return f"ETag of the reply to #{real.row.n}"
        return "an ETag no reply in the capture handed out"

    def _pair(self, real: _Real, when: int, model_req: Request) -> None:
        real.model_req = model_req
        real.model_time = when
        row = real.row
        row.model = model_req
        row.model_time = when
        assert row.real is not None
        slack = 1 if row.kind in ("refresh", "resubscribe") else 0
        for name, a, b in compare_requests(row.real, model_req, self._etag_origin, slack):
            row.diffs.append(Difference(name, a, b))
        if row.kind in ("refresh", "resubscribe") and row.real_time is not None:
            dt = when - row.real_time
            if abs(dt) > self.tolerance:
                row.diffs.append(Difference("timing", f"sent at {(row.real_time - self.origin) / SECOND:.3f} s",
                                            f"at {(when - self.origin) / SECOND:.3f} s ({dt / SECOND:+.3f} s)"))
        if model_req.method == "SUBSCRIBE" and row.real is not None:
            real_cid = row.real.get("Call-ID") or ""
            frm_real, frm_model = H.from_(row.real), H.from_(model_req)
            real_tag = (frm_real.tag if frm_real is not None else "") or ""
            model_tag = (frm_model.tag if frm_model is not None else "") or ""
            self.dialogs[real_cid] = (model_req.get("Call-ID") or "", real_tag, model_tag)
        for t, reply in real.replies:
            self._deliver_reply(real, max(t, when), reply)

    def _fit_retries(self) -> None:
        """A client policy (pjsua, sipsimple) armed a retry -- a new initial PUBLISH after a
        423, a new SUBSCRIBE after a failure or a termination -- after a delay it draws
        at random (:mod:`puasim.pua.policy`).  The draw is not visible in the capture: the
        next initial request of the same presentity the real PUA sent shows it, so the
        model's timer is moved there and the two are compared as the policy's own."""
        host = self.host
        while host.new_retries:
            key, due = host.new_retries.pop(0)
            if host._armed.get(key, (None,))[0] != due:
                continue
            method = "PUBLISH" if key[1] == "retry" else "SUBSCRIBE"
            pres = key[2]
            after = host.now
            real = next(((t, m) for t, m in self.initials if t >= after and m.method == method
                         and _uri(H.to(m)) == pres and id(m) not in self.retries), None)
            if real is None:
                continue
            t, msg = real
            host.rearm(key, t)
            self.retries[id(msg)] = (
                f"the {self.cfg.profile} policy's own {'new PUBLISH' if method == 'PUBLISH' else 'new SUBSCRIBE'} "
                f"(puasim.pua.policy), not an API call; its delay is drawn at random, not visible in the "
                f"capture: the model's, due at {(due - self.origin) / SECOND:.3f} s, is moved to this one"
            )

    def _unprocessed(self, real: _Real, now: int, etag: str) -> Request | None:
        """The real PUA's next PUBLISH of the same record, sent within the tolerance after
        this 2xx, that still carries the ETag the 2xx replaced: the real PUA had not
        processed the reply yet (it was captured away from the PUA, or waited in its
        queue).  The model gets the reply after that request."""
        old = real.row.real.get("SIP-If-Match") if real.row.real is not None else None
        if old is None or old == etag or real.row.real is None:
            return None
        key = self._key(real.row.real)
        for t, m in self.publishes:
            if t <= now or id(m) == id(real.row.real):
                continue
            if t > now + self.tolerance:
                return None
            if self._key(m) == key and m.get("SIP-If-Match") in (old, etag):
                return m if m.get("SIP-If-Match") == old else None
        return None

    def _b4_removal(self, msg: Request, now: int, window: int) -> bool:
        """A body-less PUBLISH asking exactly ``min_expires`` (> 0) that the model's sweep does
        not send: an API removal, which unrepaired pua sends with ``min_expires`` (§3.5, B4)."""
        m = self.cfg.min_expires
        if m <= 0 or self.cfg.repairs_("B4") or H.expires_or_none(msg) != m or msg.get("SIP-If-Match") is None:
            return False
        if any(self._key(p) == self._key(msg) and abs(t - now) <= window for t, p in self.pending):
            return False
        return not cleanup_refreshes(self.host.endpoint, msg, now + window)  # nor is one due

    def _registered(self, msg: Request, now: int) -> int | None:
        """Time of a REGISTER for the presentity of ``msg`` that reached the PUA's address
        within the tolerance before it and was answered 2xx (only a saved contact runs
        usrloc's callbacks): pua_usrloc turns the contact update into an API publish
        without a body of event ``presence`` (§9.2), pua_bla into an API subscribe of
        event ``dialog;sla`` on the dialog (§9.3); other events are neither's."""
        package, params = _package(msg)
        if (package, msg.method) not in (("presence", "PUBLISH"), ("dialog", "SUBSCRIBE")) or (
                package == "dialog" and "sla" not in params):
            return None
        times = self.registers.get(_uri(H.to(msg)))
        return next((t for t in reversed(times or []) if now - self.tolerance <= t <= now), None)

    def _own_initial(self, msg: Request, now: int, window: int) -> tuple[int, Request] | None:
        """An initial request the model sent by itself just before: pua's own new PUBLISH
        after a 412 (repair B9, client policies) or a 423 (repair D1), not an API call."""
        for t, m in self.pending:
            if self._key(m) != self._key(msg) or abs(t - now) > window:
                continue
            if m.method == "PUBLISH" and m.body and m.get("SIP-If-Match") is None:
                return t, m
        return None

    def _sends(self, sends: list[tuple[int, Send]]) -> None:
        """Model output from timers: retransmissions and answers are not compared."""
        self._fit_retries()
        for when, send in sends:
            msg = send.message
            if send.retransmission or not isinstance(msg, Request):
                continue
            self._model_spontaneous(when, msg)

    def _key(self, msg: Request) -> tuple:
        to = H.to(msg)
        return (msg.method, _uri(to), msg.get("Event"))

    def _model_spontaneous(self, when: int, msg: Request) -> None:
        window = self.cfg.clean_period * SECOND + self.tolerance
        for real in self.awaiting:
            if real.row.real is not None and self._key(real.row.real) == self._key(msg) and abs(when - (real.row.real_time or 0)) <= window:
                self.awaiting.remove(real)
                self._pair(real, when, msg)
                return
        self.pending.append((when, msg))

    def _expire(self, now: int) -> None:
        window = self.cfg.clean_period * SECOND + self.tolerance
        for real in list(self.awaiting):
            if real.deadline < now:
                self.awaiting.remove(real)
                real.row.diffs.append(Difference("request", "sent by the real PUA", "no such request from the model"))
        for when, msg in list(self.pending):
            if when + window < now:
                self.pending.remove((when, msg))
                self.n += 1
                row = Row(self.n, "extra", None, None, None, msg, when)
                row.diffs.append(Difference("request", "not sent", f"the model sent {msg.method} {msg.uri}"))
                self.report.rows.append(row)

    def advance(self, to: int) -> None:
        """Run the model up to ``to``, one timer at a time: a reply buffered for the
        request a timer sends is delivered before any later timer fires."""
        host = self.host
        while True:
            due = host.next_due()
            restart = self.restarts[0] if self.restarts else None
            if restart is not None and restart <= to and (due is None or restart < due):
                self.restarts.pop(0)
                self.stop_after.pop(0)
                host.now = max(host.now, restart)
                if not host.crashed:
                    # module destroy of the old process (§5.7): it flushes only with repair B11
                    host._guard(restart, host.endpoint.shutdown, restart)
                    host._apply(restart)
                host.reset(self._new_pua())
                host.call(restart, host.endpoint.start, restart)
                continue
            if due is None or due > to:
                break
            self._expire(due)
            sends = host.step()
            if restart is not None and self.stop_after[0] < due < restart:
                new = [s for _, s in sends if isinstance(s.message, Request) and not s.retransmission]
                if new:
                    # the capture is silent here: the old process had stopped before it would
                    # have sent this; its pua table keeps what the last DB sync wrote (§5.7)
                    host.reset(host.endpoint)
                    host.stopped = True
                    self.report.notes.append(
                        f"the model's old instance would have sent {new[0].message.method} {new[0].message.uri} at "
                        f"{(due - self.origin) / SECOND:.3f} s, which the capture lacks: taken as stopped by then"
                    )
                    continue
            self._sends(sends)
        host.now = max(host.now, to)
        self._expire(to)

    # -- inputs ---------------------------------------------------------------------------
    def _api(self, real: _Real, now: int) -> None:
        msg = real.row.real
        assert msg is not None
        kind = real.row.kind
        pua = self.host.endpoint
        ev_name = (msg.get("Event") or "presence").strip()
        event = event_from_name(ev_name, self.cfg.is_master)
        if event < 0:  # event parameters such as ;id=...
            event = event_from_name(ev_name.split(";")[0].strip(), self.cfg.is_master)
        if event < 0:
            real.row.diffs.append(Difference("event", ev_name, "unknown to the model: no API input inferred"))
            return
        expires_hdr = H.expires_or_none(msg) or 0
        to = H.to(msg)
        pres_uri = _uri(to) or msg.uri
        if msg.method == "PUBLISH":
            expires = 0 if kind == "remove" else max(expires_hdr - self.expires_offset, 0)
            decided = self.publish_expiry.get(id(msg))
            if decided is not None:
                expires, why = decided
                real.row.note = "; ".join(x for x in (real.row.note, "inferred " + why) if x)
            real.pub_id = self._publication_id(real, pres_uri, event, pua)
            publ = PublInfo(
                pres_uri=pres_uri, event=event, source_flag=self.source_flag, id=real.pub_id,
                expires=expires,
                body=msg.body or None, content_type=msg.get("Content-Type") or "",
            )
            rc, sends = self.host.call(now, pua.send_publish, publ, now, "rpc")
        else:
            frm = H.from_(msg)
            contacts = H.contact_list(msg)
            contact = contacts[0].uri if contacts else _uri(frm)
            client = self.cfg.client
            if client is not None:
                # a client policy asks the lifetime as is, its own interval for -1 (puasim.pua.subpolicy)
                expires = 0 if kind == "unsubscribe" else expires_hdr
                if expires and expires == client.subscribe_default_expires:
                    expires = -1
            else:
                expires = 0 if kind == "unsubscribe" else max(expires_hdr - 10, 0)
                if expires and expires == self.cfg.default_expires:
                    expires = -1
            subs = SubsInfo(
                pres_uri=pres_uri, watcher_uri=_uri(frm), contact=contact, event=event,
                source_flag=int(Source.RPC_SUBSCRIBE), expires=expires, id=self.ids.get(pres_uri, ""),
                # a Request-URI other than the presentity is the caller's remote target (§4.1);
                # presentity and watcher always come from To and From
                remote_target=msg.uri if msg.uri != pres_uri else None,
            )
            rc, sends = self.host.call(now, pua.send_subscribe, subs, now, "rpc")
        reqs = [(t, s.message) for t, s in sends if isinstance(s.message, Request) and not s.retransmission]
        if not reqs:
            real.row.diffs.append(Difference("request", "sent", f"the model sent nothing (API returned {rc!r})"))
            real.row.note = "inferred input: " + _describe_input(kind, msg)
            return
        self._pair(real, reqs[0][0], reqs[0][1])
        for t, extra in reqs[1:]:
            self._model_spontaneous(t, extra)

    def _publication_id(self, real: _Real, pres_uri: str, event: int, pua: Any) -> str:
        """The publication id of an API publish: the id is not on the wire (§3.2).

        A PUBLISH sending an ETag belongs to the record a 2xx handed that ETag
        to.  An initial PUBLISH (a body, no SIP-If-Match) for a presentity and
        event the model still holds a record of cannot be an API call with that
        record's id -- pua would have sent a modify (§3.3 row 6) -- so the caller
        gave another id (or source flag): the model takes a new id for it and the
        row says so.  Ids given in ``ids`` (``--id``) are kept.
        """
        msg = real.row.real
        assert msg is not None
        given = self.ids.get(pres_uri, "")
        if msg.get("SIP-If-Match") or real.row.kind != "publish" or pres_uri in self.ids:
            return real.pub_id
        planned = self.thread_ids.get(id(msg))
        held = pua.store.find_publication(pres_uri=pres_uri, flag=self.source_flag, event=event,
                                          id="" if planned else given, etag="")
        if held is None:
            return planned or given
        if planned is None:
            self.fresh_ids += 1
            planned = f"not-visible-{self.fresh_ids}"
        new = planned
        owner = next((r.row.n for r in reversed(list(self.by_branch.values()))
                      if r is not real and r.method == "PUBLISH" and r.pub_id == held.id and r.row.real is not None
                      and _uri(H.to(r.row.real)) == pres_uri), None)
        since = f" (the record of #{owner})" if owner is not None else ""
        restarted = [t for t in self.restart_times if t <= (real.row.real_time or 0)]
        why = (f"the real PUA restarted at {(restarted[-1] - self.origin) / SECOND:.3f} s and kept no such record "
               f"(or the caller gave another id or source flag)" if restarted
               else "another id or source flag (or the real PUA lost that record)")
        real.row.note = (
            f"not visible in the capture: the publication id; an initial PUBLISH while the model still holds "
            f"a record of {pres_uri}{since}: {why}, so the model publishes under a new id"
        )
        return new

    def _deliver_reply(self, real: _Real, now: int, reply: Response) -> None:
        model_req = real.model_req
        if model_req is None:
            return
        if real.row.status is None and reply.status >= 200:
            real.row.status = reply.status
        rewritten = reply_for(reply, model_req)
        self.advance(now)
        _, sends = self.host.call(now, self.host.endpoint.receive, rewritten, self.server, now)
        self._sends(sends)

    def _notify(self, rec: Any) -> None:
        msg: Request = rec.event.message
        cid = msg.get("Call-ID") or ""
        mapping = self.dialogs.get(cid)
        if mapping is None:
            return
        model_cid, real_tag, model_tag = mapping
        headers = []
        for name, value in msg.headers:
            low = name.lower()
            if low in ("call-id", "i"):
                value = model_cid
            elif low in ("to", "t") and real_tag:
                value = value.replace(f"tag={real_tag}", f"tag={model_tag}")
            headers.append((name, value))
        self.advance(rec.time)
        _, sends = self.host.call(rec.time, self.host.endpoint.receive,
                                  Request(msg.method, msg.uri, tuple(headers), msg.body), rec.event.src, rec.time)
        self._sends(sends)

    # -- the run --------------------------------------------------------------------------
    def run(self) -> CheckReport:
        # one PUA and one server: packets between other hosts are left out (several PUAs or servers)
        pair = (self.pua_addr, self.server)
        records = [r for r in self.trace if type(r.event) is MessageSent
                   and ((r.event.src, r.event.dst) == pair or (r.event.dst, r.event.src) == pair)]
        frame_of = {r.seq: (self.frames[r.seq] if r.seq < len(self.frames) else None) for r in records}
        self._find_changes(records)
        self._infer_ids(records)
        self._plan_threads(records)
        self.publishes = [(r.time, r.event.message) for r in records if r.event.src == self.pua_addr
                          and isinstance(r.event.message, Request) and not r.event.retransmission
                          and r.event.message.method == "PUBLISH"]
        self.initials = [(r.time, r.event.message) for r in records if r.event.src == self.pua_addr
                         and isinstance(r.event.message, Request) and not r.event.retransmission
                         and (infer_kind(r.event.message) == "subscribe"
                              or (infer_kind(r.event.message) == "publish"
                                  and r.event.message.get("SIP-If-Match") is None))]
        self._place_restarts(records)
        self._plan_publish_expiry(records)
        start = self._start_time(records)
        self.grid_start = start
        self.host.now = start
        self.host.call(start, self.host.endpoint.start, start)
        window = self.cfg.clean_period * SECOND + self.tolerance
        crashed: str | None = None
        try:
            for rec in sorted(records, key=lambda r: (r.time, r.seq)):
                if crashed is None:
                    self._process(rec, frame_of.get(rec.seq), window)
                elif rec.event.src == self.pua_addr and isinstance(rec.event.message, Request) and not rec.event.retransmission:
                    self.n += 1
                    row = Row(self.n, infer_kind(rec.event.message), rec.time, frame_of.get(rec.seq), rec.event.message)
                    row.diffs.append(Difference("request", "sent", f"none: the model's PUA crashed before ({crashed})"))
                    self.report.rows.append(row)
                if crashed is None and self.host.crashed:
                    crashed = self.host.crashed
                    self.report.notes.append(
                        f"the model predicts that the real PUA crashes at {(self.host.crashed_at - self.origin) / SECOND:.3f} s "
                        f"({crashed}); any later request of the real PUA is a difference"
                    )
            if crashed is None:
                end = self.until if self.until is not None else (records[-1].time if records else 0)
                self.advance(end)
                self._expire(end + window + 1)
        except (CheckError, KeyboardInterrupt):
            raise
        except Exception as exc:  # a model fault: keep what was compared, say where it stopped
            text = f"{type(exc).__name__}: {exc}"
            if self.report.rows:
                self.report.rows[-1].diffs.append(Difference("model", "-", f"raised {text}"))
            self.report.notes.append(f"the model raised {text}; the comparison stops there")
            self.report.fault = text
            self.model_trace.add(self.host.now, "model", RunError("check", text))
        self._hints(records)
        explain(self.report, db_mode=self.cfg.db_mode, handed_out=handed_out_etags(records, self.pua_addr),
                restarts=self.restart_times)
        self.report.rows.sort(key=lambda r: (r.real_time if r.real_time is not None else (r.model_time or 0), r.n))
        return self.report

    def _process(self, rec: Any, frame: int | None, window: int) -> None:
        ev = rec.event
        msg = ev.message
        if ev.src == self.pua_addr and isinstance(msg, Request):
            if ev.retransmission:
                self.real_retrans += 1
                return
            self.advance(rec.time)
            via = H.top_via(msg)
            self.n += 1
            row = Row(self.n, infer_kind(msg), rec.time, frame, msg)
            self.report.rows.append(row)
            real = _Real(row, via.branch if via and via.branch else "", msg.method)
            if msg.method == "PUBLISH":
                # a modify, refresh or removal belongs to the record whose ETag it sends
                real.pub_id = self.thread_ids.get(id(msg)) or self.etag_ids.get(
                    msg.get("SIP-If-Match") or "", self.ids.get(_uri(H.to(msg)) or msg.uri, ""))
            self.by_branch[(real.branch, real.method)] = real
            failed = self._recovers(msg, rec.time) if row.kind == "subscribe" else None
            own = self._own_initial(msg, rec.time, self.tolerance) if row.kind == "publish" else None
            if id(msg) in self.retries:
                row.kind = "retry"
                row.note = self.retries[id(msg)]
            elif own is not None and msg.get("SIP-If-Match") is None:
                row.kind = "recovery"
                row.note = (f"the model's PUA sent this initial PUBLISH by itself at "
                            f"{(own[0] - self.origin) / SECOND:.3f} s (a new publication after a failed one, "
                            f"pua-reference §10 B9/D1 or its client policy): pua's own, not an API call")
            elif failed is not None:
                row.kind = "recovery"
                row.note = (f"pua's own re-SUBSCRIBE after the {failed[1]} to #{failed[0]} "
                            "(pua-reference §4.6.1), not an API call")
            elif row.kind == "refresh" and (reg := self._registered(msg, rec.time)) is not None:
                row.kind = "publish"  # an API publish without a body: a modify sends none either (§3.3 row 6)
                row.note = (f"pua_usrloc's publish for the REGISTER of {_uri(H.to(msg))} at "
                            f"{(reg - self.origin) / SECOND:.3f} s (a contact update publishes no body, "
                            f"pua-reference §9.2), not the sweep's refresh")
            elif row.kind == "resubscribe" and (reg := self._registered(msg, rec.time)) is not None:
                row.kind = "change"  # an API call on the existing dialog (§4.3)
                row.note = (f"pua_bla's subscribe for the REGISTER of {_uri(H.to(msg))} at "
                            f"{(reg - self.origin) / SECOND:.3f} s (a contact update subscribes again, "
                            f"pua-reference §9.3), not the sweep's refresh")
            elif row.kind == "refresh" and self._b4_removal(msg, rec.time, window):
                row.kind = "remove"
                row.note = (f"an API removal: with min_expires {self.cfg.min_expires} pua asks Expires "
                            f"{self.cfg.min_expires} instead of 0 (pua-reference §3.5, §10 B4); no refresh is due")
            elif row.kind == "resubscribe" and self.cfg.client is None and (
                    id(msg) in self.changes or not self._on_grid(rec.time)):
                # (a client policy refreshes each dialog on its own timer, asking the granted
                # lifetime again: neither §5.3's countdown nor the sweep grid applies)
                row.kind = "change"  # an API call on the existing dialog (§4.3, §4.5)
            if row.kind in ("refresh", "resubscribe", "recovery", "retry"):
                match = next(((t, m) for t, m in self.pending
                              if self._key(m) == self._key(msg) and abs(t - rec.time) <= window), None)
                if match is not None:
                    self.pending.remove(match)
                    self._pair(real, match[0], match[1])
                else:
                    real.deadline = rec.time + window
                    self.awaiting.append(real)
                    self._cleanup_rpc(row, msg, rec.time)
            elif row.kind == "other":
                row.note = f"{msg.method} is not a pua request: not compared"
            else:
                self._api(real, rec.time)
            for earlier, reply in self.deferred.pop(id(msg), []):
                row.note = "; ".join(x for x in (row.note, (
                    f"the 2xx to #{earlier.row.n} was captured before this request, which still sends the ETag it "
                    "replaced: the real PUA had not processed it yet (not visible in the capture); "
                    "the model gets it after this request")) if x)
                self._deliver_reply(earlier, rec.time, reply)
        elif ev.dst == self.pua_addr and isinstance(msg, Response):
            if ev.retransmission:
                return
            try:
                via = H.top_via(msg)
                cs = H.cseq(msg)
            except SipParseError:
                return
            found = self.by_branch.get((via.branch if via and via.branch else "", cs.method if cs else ""))
            if found is None:
                return
            real = found
            if real.row.status is None and msg.status >= 200:
                real.row.status = msg.status
            real.replies.append((rec.time, msg))
            etag = H.sip_etag(msg) if 200 <= msg.status < 300 and real.method == "PUBLISH" else None
            if etag:
                self.etag_ids[etag] = real.pub_id
            later = self._unprocessed(real, rec.time, etag) if etag else None
            if later is not None and real.model_req is not None:
                self.deferred.setdefault(id(later), []).append((real, msg))
            elif real.model_req is not None:
                self._deliver_reply(real, max(rec.time, real.model_time or rec.time), msg)
        elif ev.dst == self.pua_addr and isinstance(msg, Request) and not ev.retransmission:
            self._notify(rec)

    def _cleanup_rpc(self, row: Row, msg: Request, now: int) -> None:
        """A refresh off the sweep grid that a sweep run now would send: the RPC
        ``pua.cleanup`` (§5.9), which sends nothing of its own, ran here; the model runs it
        too (:func:`~puasim.capture.invisible.cleanup_refreshes`)."""
        if row.kind != "refresh" or self._on_grid(now) or not cleanup_refreshes(self.host.endpoint, msg, now):
            return
        when = f"{(now - self.origin) / SECOND:.3f} s"
        row.note = f"not visible in the capture: an RPC pua.cleanup at {when} (an off-grid sweep, §5.9)"
        self.report.notes.append(
            f"not visible in the capture: an RPC pua.cleanup at {when}; the refresh of {_uri(H.to(msg))} then is "
            "off the sweep grid and its record was due, so the model runs one sweep there too"
        )
        _, sends = self.host.call(now, self.host.endpoint.cleanup, now)
        self._sends(sends)

    def _infer_ids(self, records: list) -> None:
        """The publication id is not on the wire.  In db_mode 2 pua finds a record by its
        id only (pua-reference §2.6), so a modify (a PUBLISH with a body and SIP-If-Match)
        shows that the caller gave the presentity's publications one non-empty id; one
        sending the ETag a 2xx handed to another presentity's publication shows that the
        two share that id (§11.1).  Presentities given in ``ids`` keep theirs."""
        if self.cfg.db_mode != 2:
            return
        asked: dict[tuple[str, str], str] = {}  # (branch, method) -> presentity of a PUBLISH
        etag_pres: dict[str, str] = {}
        for r in records:
            msg = r.event.message
            if r.event.dst == self.pua_addr and isinstance(msg, Response) and 200 <= msg.status < 300:
                via, cs = H.top_via(msg), H.cseq(msg)
                pres = asked.get((via.branch if via and via.branch else "", cs.method if cs else ""))
                etag = H.sip_etag(msg)
                if pres is not None and etag:
                    etag_pres[etag] = pres
                continue
            if r.event.src != self.pua_addr or not isinstance(msg, Request) or msg.method != "PUBLISH":
                continue
            pres = _uri(H.to(msg)) or msg.uri
            via = H.top_via(msg)
            asked[(via.branch if via and via.branch else "", "PUBLISH")] = pres
            if_match = msg.get("SIP-If-Match")
            if not msg.body or if_match is None:
                continue
            owner = etag_pres.get(if_match, pres)
            when = f"{(r.time - self.origin) / SECOND:.3f} s"
            if owner != pres and pres not in self.ids:
                shared = self.ids.setdefault(owner, "not-visible-" + owner)
                self.ids[pres] = shared
                self.report.notes.append(
                    f"not visible in the capture: the publication ids of {owner} and {pres}; the modify of {pres} "
                    f"at {when} sends the ETag of {owner}'s publication, so both were given one id (db_mode 2 "
                    f"finds records by id only, §11.1); the model uses one id for both (--id overrides)"
                )
                continue
            if pres in self.ids:
                continue
            self.ids[pres] = "not-visible-" + pres
            self.report.notes.append(
                f"not visible in the capture: the publication id of {pres}; the modify at "
                f"{when} shows one was given (db_mode 2 finds records "
                f"by id only), so the model uses one id for all of {pres}'s publications (--id overrides)"
            )

    def _plan_threads(self, records: list) -> None:
        """Presentities the real PUA held several publications of at once get one id per
        publication (:func:`~puasim.capture.infer.publication_chains`); db_mode 2 and
        presentities given in ``ids`` are left to :meth:`_infer_ids`."""
        if self.cfg.db_mode == 2:
            return
        for msg_id, (pres, chain) in publication_chains(
                records, self.pua_addr, self.host.endpoint.layer.timers.f).items():
            if pres not in self.ids:
                self.thread_ids[msg_id] = f"not-visible-{chain}"

    def _find_changes(self, records: list) -> None:
        """In-dialog SUBSCRIBEs whose Expires does not fit §5.3's refresh formula
        (``desired − now + 10``, or ``default_expires + 10`` for an indefinite one) given
        the dialog's last API SUBSCRIBE: API calls on the existing dialog."""
        last: dict[str, tuple[int, int]] = {}  # Call-ID -> (time, asked expires) of the last API SUBSCRIBE
        for r in records:
            msg = r.event.message
            if r.event.src != self.pua_addr or not isinstance(msg, Request) or r.event.retransmission:
                continue
            kind = infer_kind(msg)
            cid = msg.get("Call-ID") or ""
            exp = H.expires_or_none(msg)
            if kind == "subscribe" and exp is not None:
                last[cid] = (r.time, exp - 10)
            elif kind == "resubscribe" and exp is not None and cid in last:
                t_api, asked = last[cid]
                indefinite = exp == self.cfg.default_expires + 10
                countdown = abs((t_api + asked * SECOND - r.time) / SECOND + 10 - exp) <= 1 + self.tolerance / SECOND
                if not (indefinite or countdown):
                    self.changes.add(id(msg))
                    last[cid] = (r.time, exp - 10)

    def _on_grid(self, t: int) -> bool:
        """Whether ``t`` is a sweep tick of the model (§5.1), give or take the tolerance.
        An in-dialog SUBSCRIBE off the grid cannot be the sweep's refresh (§5.3)."""
        clean = self.cfg.clean_period * SECOND
        if not clean:
            return False
        base = max((r for r in self.restart_times if r <= t), default=self.grid_start)
        off = (t - base) % clean
        return off <= self.tolerance or clean - off <= self.tolerance

    def _recovers(self, msg: Request, now: int) -> tuple[int, int] | None:
        """A SUBSCRIBE without To-tag right after an error reply to an in-dialog SUBSCRIBE
        of the same watcher, presentity and event is pua's own re-subscribe (§4.6 row 6,
        §4.6.1), not an API call: (row number, status) of the failed request, or None.
        Real Kamailio 5.6.3 sends it within a millisecond of the reply (the lab captures
        ``r*_subscribe_recovery_*``)."""
        to, frm = H.to(msg), H.from_(msg)
        key = (_uri(to), _uri(frm), msg.get("Event"))
        for real in self.by_branch.values():
            old = real.row.real
            if old is None or real.method != "SUBSCRIBE" or infer_kind(old) == "subscribe":
                continue
            if (_uri(H.to(old)), _uri(H.from_(old)), old.get("Event")) != key:
                continue
            for t, reply in real.replies:
                if 300 <= reply.status and t <= now <= t + self.tolerance:
                    return real.row.n, reply.status
        return None

    def _hints(self, records: list) -> None:
        if self.real_retrans:
            self.report.notes.append(f"{self.real_retrans} retransmission(s) of the real PUA not compared")
        self._flush_hint()
        if self.given_restarts is None:
            return
        for f in self.detected:  # restarts given: say where the capture shows one they leave out
            if not any(f.after < t < f.before for t in self.restart_times):
                self.report.notes.append(
                    f"the Call-ID numbering starts afresh at {(f.before - self.origin) / SECOND:.3f} s ({f.evidence}): "
                    f"the real PUA may have restarted between {(f.after - self.origin) / SECOND:.3f} and "
                    f"{(f.before - self.origin) / SECOND:.3f} s, which the given restarts leave out"
                )


    def _flush_hint(self) -> None:
        """After a restart the model's PUA knows what its last DB sync wrote (§5.7, B11: no
        flush at shutdown).  A real PUA sending an ETag a reply handed out after that sync
        kept it: its module destroy flushed the table -- repair B11 -- which check models
        when told (``--params repairs=B11``)."""
        if not self.restart_times or self.cfg.repairs_("B11"):
            return
        for row in self.report.rows:
            if row.real is None or row.real_time is None or {d.field for d in row.diffs} != {"if_match"}:
                continue
            if not any(t <= row.real_time for t in self.restart_times):
                continue
            etag = row.real.get("SIP-If-Match") or ""
            before = max(t for t in self.restart_times if t <= row.real_time)
            given = next((r.row.n for r in self.by_branch.values() for t, rep in r.replies
                          if t < before and rep.status < 300 and H.sip_etag(rep) == etag), None)
            if given is None:
                continue
            self.report.notes.append(
                f"#{row.n} sends the ETag of the reply to #{given}, from before the restart, which the model's "
                f"restarted PUA lacks (Kamailio writes the pua table only every update_period and does not flush "
                f"at shutdown, §5.7 B11): the real PUA flushed it -- check it with --params repairs=B11"
            )


def _describe_input(kind: str, msg: Request) -> str:
    exp = H.expires_or_none(msg)
    if kind == "publish":
        return f"publish {_uri(H.to(msg))} expires={max((exp or 0) - 1, 0)} body={len(msg.body)}B"
    if kind == "remove":
        return f"publish {_uri(H.to(msg))} expires=0"
    return f"{kind} {msg.uri}"


def check_capture(
    source: str | Path | Trace,
    *,
    pua_port: int = 5070,
    pua_address: Address | None = None,
    params: Mapping[str, Any] | None = None,
    source_flag: int = int(Source.RPC_ASYN_PUBLISH),
    tolerance: float = 1.0,
    until: float | None = None,
    restarts: Iterable[float] | None = None,
    phase: str | float = "auto",
    ids: Mapping[str, str] | None = None,
    db_quirks: str = "db_sqlite-5.6",
    strict_sip: bool = False,
    server_address: Address | None = None,
) -> CheckReport:
    """Check a real PUA's capture against the model; see the module docstring.

    ``source`` is a pcap/pcapng path or a trace read from one; the PUA is the
    address ``pua_address`` or the first host sending requests from
    ``pua_port``; the server is ``server_address`` or the one the PUA's first
    request goes to, and only packets between those two are checked (a capture
    of several PUAs and servers is checked one pair at a time).  ``tolerance``, ``until``, ``restarts`` and ``phase`` are in
    seconds (``until`` and ``restarts`` counted from the first packet).
    Datagrams that are not SIP, and fragments that never complete or overlap,
    are left out of the comparison and listed in the report's notes;
    ``strict_sip=True`` makes a non-SIP datagram a :class:`CaptureError`.
    """
    trace = source if isinstance(source, Trace) else read_pcap(source, skip_non_sip=not strict_sip)
    name = str(trace.meta.get("source", source)) if isinstance(source, Trace) else str(source)
    if pua_address is None:
        pua_address = next(
            (r.event.src for r in trace if type(r.event) is MessageSent and r.event.src[1] == pua_port
             and isinstance(r.event.message, Request)),
            None,
        )
        if pua_address is None:
            raise CheckError(f"{name}: no request sent from port {pua_port} (give pua_port or pua_address)")
    checker = _Checker(
        trace, pua_address, params or {}, source_flag, int(tolerance * SECOND),
        None if until is None else int(until * SECOND), None if restarts is None else [int(r * SECOND) for r in restarts], phase, name,
        ids or {}, db_quirks, server_address,
    )
    report = checker.run()
    skipped = [r.event.text for r in trace if type(r.event) is Note and r.node == "capture"]
    report.notes[:0] = [f"capture: {text}" for text in skipped]
    checker.model_trace.add(checker.host.now, "check", Note("info", f"check of {name} finished"))
    return report
