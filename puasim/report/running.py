"""The report's summary metrics computed as a run goes, record by record.

:class:`RunningMetrics` is the observer of the ``metrics`` trace level
(:class:`puasim.trace.levels.MetricsTrace`): it sees every record once, keeps
only what is still open (messages in flight, transactions not finished, the
open coverage interval of each presentity, the latest expiry of each
ETag and Call-ID a live PUA record holds) and counters, and gives the same
numbers as :func:`puasim.report.metrics.summary` (with ``min_gap=0``) over
the frames of a full trace of the same run, every key of it, to the last bit.
Definitions: ``docs/metrics.md``.

Memory: counters; per (presentity, event) its open interval, the
publications the PUA and the server hold; one float per refresh (lead
times) and per answered transaction (latencies, for exact percentiles);
one counter per second of virtual time (the load curve); the latest expiry
of every ETag and Call-ID a live PUA record holds (see :class:`_Held`); one
entry per gap and per orphan interval (their durations are summed in the
frames' order).  Pure Python and numpy; no pandas frame is built.
"""

from __future__ import annotations

import functools
import math
from array import array
from collections import Counter, deque
from collections.abc import Iterable
from typing import Any

import numpy as np

from puasim.effects import SECOND
from puasim.report import sipinfo as S
from puasim.sip import headers as H
from puasim.sip.errors import SipParseError
from puasim.sip.message import Request
from puasim.trace.events import (
    MessageDelivered,
    MessageDropped,
    MessageDuplicated,
    MessageSent,
    NodeCrashed,
    RecordChanged,
    ServerStateChanged,
    TransactionFinished,
)
from puasim.trace.trace import Record

#: the keys of :meth:`RunningMetrics.summary`: those of ``metrics.summary``, in its order
RUNNING_KEYS = (
    "duration_s", "messages", "requests", "retransmissions", "dropped", "transactions",
    "timeouts", "failures", "refreshes", "lead_min_s", "lead_median_s", "lead_max_s",
    "late_refreshes", "gaps", "gap_none_s", "gap_stale_s", "longest_gap_s", "orphan_s",
    "rounds_412", "latency_p50_ms", "latency_p99_ms", "peak_rate",
)

# drops decided when a copy is sent (they concern the copy just sent), as in messages_frame
_SEND_TIME_DROPS = frozenset({"partition", "fault", "loss"})


def _addr(a: Any) -> str:
    try:
        return f"{a[0]}:{a[1]}"
    except (TypeError, IndexError):
        return str(a)


#: bounded memos of pure functions: a run repeats the same few values
_MEMO_SIZE = 4096
_aor = functools.lru_cache(maxsize=_MEMO_SIZE)(S.aor)
_body_id = functools.lru_cache(maxsize=_MEMO_SIZE)(S.body_id)
_event_package = S.event_package  # memoised per Event header text in sipinfo


_expires = S.expires
_top_via = H.top_via
_h_cseq = H.cseq


def _copies(held: _Copy | list[deque[_Copy]]) -> list[_Copy]:
    """The open copies of one ``_pending`` entry (see :meth:`RunningMetrics._sent`)."""
    return [held] if isinstance(held, _Copy) else [c for queue in held for c in queue]


def _same(a: Any, b: Any) -> bool:
    """Whether two messages are the same value (the frames match copies by value)."""
    return a is b or a == b


@functools.lru_cache(maxsize=64)
def _event_name(flag: int) -> str:
    from puasim.report.sipinfo import event_name

    return event_name(flag)


class _Copy:
    """One transmission still open: its fate is known once no network event can name it."""

    __slots__ = ("time", "status", "msg", "refs", "delivered", "dropped")

    def __init__(self, time: float, status: int | None, msg: Any) -> None:
        self.time = time
        self.status = status
        self.msg = msg
        self.refs = 1
        self.delivered = math.nan
        self.dropped = False

    def end(self) -> float:
        """When the client saw it: delivery, else the send time if not dropped (a capture)."""
        if self.delivered == self.delivered:
            return self.delivered
        return self.time if not self.dropped else math.nan


class _Held:
    """The latest expiry reported for each ETag (or Call-ID), forgotten once no PUA record holds it.

    A refresh's lead is taken from the last ``RecordChanged`` of the record
    holding its SIP-If-Match ETag (SUBSCRIBE: its Call-ID) before it left
    (``docs/metrics.md``).  The PUA builds a refresh from a record it holds
    at that moment (pua-reference §5.3 ``update_pua``, §5.1 ``send_publish``
    finds the record by its ETag), so a value no live record holds (the
    record refreshed to a new ETag, deleted, expired) is never looked up
    again and is dropped: memory follows the live records, not the run's
    length.

    Records are told apart by node and key (presentity, event, id, flag, or
    kind, watcher and Call-ID); a refresh or update replaces the value of a
    record holding exactly one.  When that is ambiguous (several records under one
    key) the new value is added and none is dropped, and the values of a
    crashed node's records are kept for good (a database may bring them back
    without a new report): both err on keeping.
    """

    __slots__ = ("expiry", "count", "by_record")

    def __init__(self) -> None:
        self.expiry: dict[str, float] = {}
        self.count: dict[str, int] = {}
        self.by_record: dict[tuple, list[str]] = {}

    def changed(self, ident: tuple, action: str, value: str, expires: float) -> None:
        self.expiry[value] = expires
        held = self.by_record.get(ident)
        if action in ("deleted", "expired"):
            if held is not None and value in held:
                held.remove(value)
                if not held:
                    del self.by_record[ident]
                self._release(value)
            elif value not in self.count:  # no record holds it
                del self.expiry[value]
            return
        if held is None:
            held = self.by_record[ident] = []
        elif value in held:
            return
        self.count[value] = self.count.get(value, 0) + 1
        if len(held) == 1 and action not in ("created", "restored"):
            old, held[0] = held[0], value
            self._release(old)
        else:
            held.append(value)

    def _release(self, value: str) -> None:
        left = self.count[value] - 1
        if left:
            self.count[value] = left
        else:
            del self.count[value]
            del self.expiry[value]

    def crashed(self, node: str) -> None:
        """A node crashed: its records' values stay held for good."""
        for ident in [i for i in self.by_record if i[0] == node]:
            del self.by_record[ident]


class _Txn:
    __slots__ = ("start", "method", "node", "replies", "seq", "presentity", "event")

    def __init__(self, start: float, method: str, node: str, seq: int = 0, presentity: str = "",
                 event: str = "") -> None:
        self.start = start
        self.method = method
        self.node = node
        self.replies: list[_Copy] = []
        self.seq = seq
        self.presentity = presentity
        self.event = event


class _Done:
    """A client transaction as a row of the transactions frame needs it for the ``stat`` series."""

    __slots__ = ("seq", "method", "node", "status", "end", "latency", "outcome", "presentity", "event")

    def __init__(self, t: _Txn, status: int | None, end: float, faked: bool) -> None:
        self.seq, self.method, self.node = t.seq, t.method, t.node
        self.presentity, self.event = t.presentity, t.event
        self.status, self.end = status, end
        self.latency = round(end - t.start, 6) if status is not None else math.nan
        if status is None:
            self.outcome = "unanswered"
        elif faked:
            self.outcome = "timeout"
        else:
            self.outcome = "success" if 200 <= status < 300 else "failure"


Key = tuple[str, str]

#: what a key without server publications reads (never written to)
_NOTHING: dict[str, str] = {}


class _Span:
    """One coverage interval of a key: start, state and the counts that split intervals."""

    __slots__ = ("start", "end", "state", "pua", "srv")

    def __init__(self, start: float, state: str, pua: int, srv: int) -> None:
        self.start = start
        self.end = math.nan
        self.state = state
        self.pua = pua
        self.srv = srv

    def same(self, other: _Span) -> bool:
        return self.state == other.state and self.pua == other.pua and self.srv == other.srv


class _Gap:
    __slots__ = ("start", "end", "state")

    def __init__(self, start: float, end: float, state: str) -> None:
        self.start, self.end, self.state = start, end, state


class _Totals:
    """What the summary keeps of the closed coverage intervals and gaps.

    Durations are kept with the sort keys of the frames (gaps by start, then
    key; coverage by key, then start) so their sums are added in the frames'
    order and come out equal to the last bit.
    """

    __slots__ = ("gaps", "none", "stale", "longest", "orphan")

    def __init__(self) -> None:
        self.gaps = 0
        self.none: list[tuple[float, str, str, float]] = []
        self.stale: list[tuple[float, str, str, float]] = []
        self.longest = math.nan
        self.orphan: list[tuple[str, str, float, float]] = []

    @staticmethod
    def total(items: list) -> float:
        """The durations (last field) summed in sort order, as pandas sums a column."""
        return float(np.sum(np.array([item[-1] for item in sorted(items)], dtype=float)))

    def copy(self) -> _Totals:
        t = _Totals()
        t.gaps, t.none, t.stale = self.gaps, list(self.none), list(self.stale)
        t.longest, t.orphan = self.longest, list(self.orphan)
        return t


class _Coverage:
    """The coverage intervals of ``coverage.coverage_frame`` and the gaps of ``gaps_frame``, kept per key
    as they close: only the open interval, the last closed one (it may still merge) and the open gap.

    Inputs arrive in trace order, as the frame code sorts them by sequence
    number: PUA publication record changes, server publication changes
    (replaying ``records.server_frames``: the last PUBLISH a server node
    received gives the If-Match and body of its next change), first
    transmissions of PUBLISH requests with a body, and crashes.
    """

    def __init__(self) -> None:
        self.pua: dict[Key, set[tuple[str, str]]] = {}
        self.srv: dict[Key, dict[str, str]] = {}
        self.latest: dict[Key, str] = {}
        self.current: dict[Key, _Span] = {}
        self.closed: dict[Key, _Span] = {}  # last closed interval of positive length
        self.gap: dict[Key, _Gap] = {}  # the gap run still open
        self.totals = _Totals()
        self.pua_nodes: set[str] = set()
        # server side, per node: (presentity, event, etag) -> body id; last PUBLISH (If-Match, body id)
        self.server_pubs: dict[str, dict[tuple[str, str, str], str]] = {}
        self.last_publish: dict[str, tuple[str, str]] = {}

    # -- inputs ----------------------------------------------------------------------------
    def record(self, node: str, t: float, ev: Any) -> None:
        self.pua_nodes.add(node)
        if ev.kind != "publication":
            return
        name = _event_name(ev.event)
        k = (_aor(ev.pres_uri), name)
        held = self.pua.get(k)
        if held is None:
            held = self.pua[k] = set()
        rkey = (node, f"{ev.pres_uri}|{name}|{ev.id}|{ev.flag}")  # records.record_key of a publication
        if ev.action in ("deleted", "expired"):
            held.discard(rkey)
        else:
            held.add(rkey)
        self._update(k, t)

    def published(self, msg: Any, t: float) -> None:
        raw = getattr(msg, "body", b"")
        if not raw:
            return
        body = _body_id(raw)
        k = (_aor(msg.uri), _event_package(msg))
        self.latest[k] = body
        self._update(k, t)

    def delivered_publish(self, node: str, msg: Any) -> None:
        value = msg.get("SIP-If-Match")  # sipinfo.header, inline
        self.last_publish[node] = (value.strip() if value else "", _body_id(msg.body))

    def crashed(self, node: str, t: float) -> None:
        pubs = self.server_pubs.get(node)
        if pubs is not None:
            for key in list(pubs):
                pubs.pop(key)
                self._server_change((key[0], key[1]), t, key[2], "", drop=True, body="")
        if node in self.pua_nodes:
            for k, held in self.pua.items():
                lost = {x for x in held if x[0] == node}
                if lost:
                    held -= lost
                    self._update(k, t)

    def server_state(self, node: str, t: float, ev: Any) -> None:
        pubs = self.server_pubs.get(node)
        if pubs is None:
            pubs = self.server_pubs[node] = {}
        prev, body = self.last_publish.get(node, ("", ""))
        key = (ev.presentity, ev.event, ev.etag)
        action = ev.action
        prev_etag = ""
        if action in ("refreshed", "modified"):
            old_key = (ev.presentity, ev.event, prev)
            if old_key not in pubs:  # no request seen: the only publication of the key
                same = [q for q in pubs if q[:2] == key[:2]]
                old_key = same[0] if len(same) == 1 else old_key
            held = pubs.pop(old_key, None)
            prev_etag = old_key[2] if held is not None else prev
            if action == "refreshed" and held is not None:
                body = held
            pubs[key] = body
        elif action in ("removed", "expired", "forgotten"):
            pubs.pop(key, None)
        else:
            pubs[key] = body
        gone = action in ("removed", "expired", "forgotten", "crashed")
        self._server_change((ev.presentity, ev.event), t, ev.etag, prev_etag, drop=gone, body=body)

    def _server_change(self, k: Key, t: float, etag: str, prev_etag: str, drop: bool, body: str) -> None:
        held = self.srv.get(k)
        if held is None:
            held = self.srv[k] = {}
        if drop:
            held.pop(etag, None)
        else:
            if prev_etag:
                held.pop(prev_etag, None)
            held[etag] = body
        self._update(k, t)

    # -- intervals ------------------------------------------------------------------------------
    def _update(self, k: Key, t: float) -> None:
        p, s = self.pua.get(k, ()), self.srv.get(k, _NOTHING)
        if p:
            if not s:
                state = "none"
            else:
                state = "ok"
                latest = self.latest.get(k, "")
                if latest:
                    for body in s.values():
                        if body and body != latest:
                            state = "stale"
                            break
        else:
            state = "orphan" if s else "idle"
        npua, nsrv = len(p), len(s)
        cur = self.current.get(k)
        if cur is not None:
            if cur.state == state and cur.pua == npua and cur.srv == nsrv:  # cur.same(span), nothing made
                return
            cur.end = t
            self._close(k, cur, self.closed, self.gap, self.totals)
        self.current[k] = _Span(t, state, npua, nsrv)

    @staticmethod
    def _close(k: Key, span: _Span, closed: dict, gaps: dict, totals: _Totals) -> None:
        """An interval ended: drop it if empty, merge it into the last one, or settle the last one."""
        if not round(span.end - span.start, 6) > 0:
            return
        last = closed.get(k)
        if last is not None and last.same(span) and last.end == span.start:
            last.end = span.end
            return
        if last is not None:
            _Coverage._settle(k, last, gaps, totals)
        closed[k] = span

    @staticmethod
    def _settle(k: Key, span: _Span, gaps: dict, totals: _Totals) -> None:
        """A coverage row is final: count orphan time, extend or start a gap run."""
        duration = round(span.end - span.start, 6)
        if span.state == "orphan":
            totals.orphan.append((k[0], k[1], span.start, duration))
        if span.state not in ("none", "stale"):
            return
        gap = gaps.get(k)
        if gap is not None and gap.end == span.start and gap.state == span.state:
            gap.end = span.end
            return
        if gap is not None:
            _Coverage._count_gap(k, gap, totals)
        gaps[k] = _Gap(span.start, span.end, span.state)

    @staticmethod
    def _count_gap(k: Key, gap: _Gap, totals: _Totals) -> None:
        duration = round(gap.end - gap.start, 6)
        totals.gaps += 1
        (totals.none if gap.state == "none" else totals.stale).append((gap.start, k[0], k[1], duration))
        if not duration <= totals.longest:  # NaN start
            totals.longest = duration

    def finish(self, end_time: float) -> _Totals:
        """Totals as if the trace ended at ``end_time`` (the state itself is left as it is)."""
        totals = self.totals.copy()
        closed = {k: _Span(s.start, s.state, s.pua, s.srv) for k, s in self.closed.items()}
        for k, s in self.closed.items():
            closed[k].end = s.end
        gaps = {k: _Gap(g.start, g.end, g.state) for k, g in self.gap.items()}
        for k, cur in self.current.items():
            span = _Span(cur.start, cur.state, cur.pua, cur.srv)
            span.end = max(end_time, cur.start)
            self._close(k, span, closed, gaps, totals)
        for k, last in closed.items():
            self._settle(k, last, gaps, totals)
        for k, gap in gaps.items():
            self._count_gap(k, gap, totals)
        return totals


class RunningMetrics:
    """Feed it every record (``observe``); read the numbers with :meth:`summary`.

    With ``series=True`` it also keeps one small row per client transaction,
    per refresh and per request-second, enough for :meth:`series` (the
    ``stat`` expectations' series metrics) without building a frame; the
    ``metrics`` trace level leaves it off, so its memory stays flat.
    """

    def __init__(self, epoch: int = 0, series: bool = False) -> None:
        self.epoch = epoch
        self.keep_series = series
        self.done: list[_Done] = []
        #: (seq, method, lead) of every refresh whose lead is known
        self.lead_rows: list[tuple[int, str, float]] = []
        #: requests sent per (method, whole second)
        self.method_seconds: Counter[tuple[str, int]] = Counter()
        self.last = 0
        self.messages = 0
        self.requests = 0
        self.retransmissions = 0
        self.dropped = 0
        self.transactions = 0
        self.timeouts = 0
        self.failures = 0
        self.rounds_412 = 0
        self.late_refreshes = 0
        self.refreshes = 0
        self.leads = array("d")
        self.latencies = array("d")
        self.per_second: dict[int, int] = {}
        #: finished transactions by (method, client node, final status)
        self.by_status: dict[tuple[str, str, int | None], int] = {}
        self._names: dict[str, str] = {}
        self._pending: dict[tuple, _Copy | list[deque[_Copy]]] = {}
        self._open: dict[tuple, _Txn] = {}
        self._by_etag = _Held()
        self._by_call = _Held()
        self._coverage = _Coverage()
        #: addresses already seen sending / receiving (their name is settled), and their texts
        self._senders: set[Any] = set()
        self._receivers: set[Any] = set()
        self._addresses: dict[Any, str] = {}
        self._handlers = {
            MessageSent: self._sent,
            MessageDelivered: self._delivered,
            MessageDropped: self._dropped,
            MessageDuplicated: self._duplicated,
            TransactionFinished: self._finished,
            RecordChanged: self._record_changed,
            ServerStateChanged: self._server_state,
            NodeCrashed: self._crashed,
        }

    # -- feeding -----------------------------------------------------------------------
    def observe(self, rec: Record) -> None:
        """Feed one record (the next one in trace order)."""
        self.last = rec.time
        handler = self._handlers.get(type(rec.event))
        if handler is not None:
            handler(rec, rec.event)

    def observe_batch(self, records: Iterable[Record]) -> None:
        """Feed the next records in trace order, in one loop (the ``metrics`` level calls it per batch).

        The same as :meth:`observe` on each; records of kinds no metric
        reads (timer firings, store writes, notes) cost one dictionary
        look-up.
        """
        get = self._handlers.get
        rec = None
        for rec in records:
            ev = rec.event
            handler = get(type(ev))
            if handler is not None:
                handler(rec, ev)
        if rec is not None:
            self.last = rec.time

    def _address(self, a: Any) -> str:
        text = self._addresses.get(a)
        if text is None:
            text = self._addresses[a] = _addr(a)
        return text

    # The copies in flight, matched to their network events by (src, dst, message value) in
    # first-in, first-out order as messages_frame matches them.  ``_pending`` is keyed by
    # (src, dst, the message's first header value), cheap to hash where a message is not (its
    # Via, with its branch: equal messages share it, distinct ones nearly never do); each entry
    # is the one open copy of one message, or, rarely, a list of queues (one per message value,
    # oldest copy first: retransmissions of one message, duplicates, two messages that share
    # the key).

    @staticmethod
    def _key(src: Any, dst: Any, msg: Any) -> tuple:
        try:
            headers = msg.headers
        except AttributeError:
            return (src, dst, msg)
        return (src, dst, headers[0][1] if headers else msg)

    def _queue(self, key: tuple, held: _Copy | list[deque[_Copy]], copy: _Copy) -> None:
        """Add ``copy`` to an entry that already holds copies."""
        if isinstance(held, _Copy):
            queues = self._pending[key] = [deque((held,))]
        else:
            queues = held  # type: ignore[assignment]
        for queue in queues:
            if _same(queue[0].msg, copy.msg):
                queue.append(copy)
                return
        queues.append(deque((copy,)))

    def _take(self, key: tuple, held: list[deque[_Copy]], msg: Any, last: bool) -> _Copy | None:
        """Take the oldest (``last``: the newest) open copy of ``msg`` from a list entry."""
        for i, queue in enumerate(held):
            if _same(queue[0].msg, msg):
                copy = queue.pop() if last else queue.popleft()
                if not queue:
                    del held[i]
                if not held:
                    del self._pending[key]
                elif len(held) == 1 and len(held[0]) == 1:
                    self._pending[key] = held[0][0]
                return copy
        return None

    def _duplicated(self, rec: Record, ev: Any) -> None:
        msg = ev.message
        key = self._key(ev.src, ev.dst, msg)
        held = self._pending.get(key)
        if held is None:
            return
        if isinstance(held, _Copy):
            if not _same(held.msg, msg):
                return
            copy = held
            self._pending[key] = [deque((held, held))]
        else:
            queue = next((q for q in held if _same(q[0].msg, msg)), None)
            if queue is None:
                return
            copy = queue[-1]
            queue.append(copy)
        copy.refs += 1

    def _delivered(self, rec: Record, ev: Any) -> None:
        msg = ev.message
        try:  # self._key, inline: a delivery is one of the two most frequent records
            headers = msg.headers
            key = (ev.src, ev.dst, headers[0][1] if headers else msg)
        except AttributeError:
            key = (ev.src, ev.dst, msg)
        pending = self._pending
        held = pending.get(key)
        if held is not None:
            copy: _Copy | None
            if isinstance(held, _Copy):
                copy = held if held.msg is msg or held.msg == msg else None
                if copy is not None:
                    del pending[key]
            else:
                copy = self._take(key, held, msg, False)
            if copy is not None:
                dst = ev.dst
                if dst not in self._receivers:  # the first node a message reaches at an address names it
                    self._receivers.add(dst)
                    self._names.setdefault(self._address(dst), rec.node)
                if copy.delivered != copy.delivered:
                    copy.delivered = rec.time / SECOND
                copy.dropped = False
                copy.refs -= 1
        if isinstance(msg, Request) and msg.method == "PUBLISH":
            self._coverage.delivered_publish(rec.node, msg)

    def _dropped(self, rec: Record, ev: Any) -> None:
        msg = ev.message
        key = self._key(ev.src, ev.dst, msg)
        held = self._pending.get(key)
        if held is None:
            return
        copy: _Copy | None
        if isinstance(held, _Copy):
            copy = held if _same(held.msg, msg) else None
            if copy is not None:
                del self._pending[key]
        else:  # a drop at send time (loss, partition, fault) concerns the copy just sent
            copy = self._take(key, held, msg, ev.reason in _SEND_TIME_DROPS)
        if copy is None:
            return
        if copy.delivered != copy.delivered:
            copy.dropped = True
        copy.refs -= 1
        if copy.refs == 0 and copy.dropped:
            self.dropped += 1

    def _finished(self, rec: Record, ev: Any) -> None:
        t = self._open.pop((rec.node, ev.branch, ev.method), None)
        if t is None:
            return
        status = ev.status
        key = (t.method, t.node, status)
        by_status = self.by_status
        by_status[key] = by_status.get(key, 0) + 1
        if self.keep_series:
            self.done.append(_Done(t, status, rec.time / SECOND, bool(ev.faked)))
        if ev.faked:
            self.timeouts += 1
        else:
            if not 200 <= status < 300:
                self.failures += 1
            latency = round(rec.time / SECOND - t.start, 6)
            if latency == latency:
                self.latencies.append(latency)
        if status == 412 and t.method == "PUBLISH":
            self.rounds_412 += 1

    def _record_changed(self, rec: Record, ev: Any) -> None:
        expires = float(ev.expires - self.epoch)
        if ev.kind == "publication":
            if ev.etag:
                self._by_etag.changed((rec.node, ev.pres_uri, ev.event, ev.id, ev.flag), ev.action, ev.etag, expires)
        elif ev.call_id:
            ident = (rec.node, ev.kind, ev.pres_uri, ev.event, ev.watcher_uri, ev.call_id)
            self._by_call.changed(ident, ev.action, ev.call_id, expires)
        self._coverage.record(rec.node, rec.time / SECOND, ev)

    def _server_state(self, rec: Record, ev: Any) -> None:
        self._coverage.server_state(rec.node, rec.time / SECOND, ev)

    def _crashed(self, rec: Record, ev: Any) -> None:
        self._by_etag.crashed(rec.node)
        self._by_call.crashed(rec.node)
        self._coverage.crashed(rec.node, rec.time / SECOND)

    def _sent(self, rec: Record, ev: Any) -> None:
        msg = ev.message
        src = ev.src
        if src not in self._senders:  # the first node seen sending from an address names it
            self._senders.add(src)
            self._names.setdefault(self._address(src), rec.node)
        now = rec.time / SECOND
        self.messages += 1
        retransmission = ev.retransmission
        if retransmission:
            self.retransmissions += 1
        request = type(msg) is Request or isinstance(msg, Request)
        copy = _Copy(now, None if request else getattr(msg, "status", None), msg)
        try:  # self._key, inline
            headers = msg.headers
            key = (src, ev.dst, headers[0][1] if headers else msg)
        except AttributeError:
            key = (src, ev.dst, msg)
        held = self._pending.setdefault(key, copy)
        if held is not copy:
            self._queue(key, held, copy)
        if not request:
            status = copy.status
            if status is None or status < 200:
                return
            dst = self._addresses.get(ev.dst) or self._address(ev.dst)
            try:  # sipinfo.branch and sipinfo.cseq, inline
                via = _top_via(msg)
                branch = (via.branch or "") if via is not None else ""
            except (SipParseError, ValueError):
                branch = ""
            try:
                cseq = _h_cseq(msg)
                method = cseq.method if cseq is not None else ""
            except (SipParseError, ValueError):
                method = ""
            t = self._open.get((self._names.get(dst, dst), branch, method))
            if t is not None:
                t.replies.append(copy)
            return
        self.requests += 1
        second = int(now // 1.0)
        per_second = self.per_second
        per_second[second] = per_second.get(second, 0) + 1
        method = msg.method
        if self.keep_series:
            self.method_seconds[(method, second)] += 1
        if method == "ACK":
            return
        if method == "PUBLISH" and not retransmission and msg.body:
            self._coverage.published(msg, now)
        try:  # sipinfo.branch, inline
            via = _top_via(msg)
            branch = (via.branch or "") if via is not None else ""
        except (SipParseError, ValueError):
            branch = ""
        tkey = (rec.node, branch, method)
        if tkey in self._open:
            return
        if self.keep_series and method == "PUBLISH":
            txn = _Txn(now, method, rec.node, rec.seq, S.presentity_of(msg), _event_package(msg))
        else:
            txn = _Txn(now, method, rec.node, rec.seq)
        self._open[tkey] = txn
        self.transactions += 1
        # a refresh (RFC 3903 §4.1, RFC 6665 §4.1.2.1; as sipinfo.operation tells): its lead
        if method == "PUBLISH":
            if not msg.body:
                value = msg.get("SIP-If-Match")
                etag = value.strip() if value else ""
                if etag and _expires(msg) != 0:
                    self._refresh(self._by_etag.expiry.get(etag, math.nan), method, now, rec.seq)
        elif method == "SUBSCRIBE" and _expires(msg) != 0 and S.to_tag(msg):
            self._refresh(self._by_call.expiry.get(S.header(msg, "Call-ID"), math.nan), method, now, rec.seq)

    def _refresh(self, expires: float, method: str, now: float, seq: int) -> None:
        lead = round(expires - now, 6)
        if lead == lead:
            self.leads.append(lead)
            if self.keep_series:
                self.lead_rows.append((seq, method, lead))
            if lead < 0:
                self.late_refreshes += 1
        self.refreshes += 1

    # -- reading -----------------------------------------------------------------------
    def _wire_reply(self, t: _Txn) -> _Copy | None:
        """The final reply of a transaction no TransactionFinished ended: the first one the client saw."""
        for reply in t.replies:
            if reply.end() == reply.end():
                return reply
        return None

    def transaction_count(self, method: str, node: str | None = None, status: int | None = None) -> int:
        """Client transactions of ``method`` (of one client ``node``, with one final ``status``),
        as ``len()`` of the filtered transactions frame (``stat`` counts such as ``publish_requests``)."""
        counts = Counter(self.by_status)
        for t in self._open.values():
            reply = self._wire_reply(t)
            counts[(t.method, t.node, reply.status if reply is not None else None)] += 1
        return sum(
            n for (m, nd, st), n in counts.items()
            if m == method and (node is None or nd == node) and (status is None or st == status)
        )

    # -- series (``series=True``) ------------------------------------------------------
    def transaction_rows(self) -> list[_Done]:
        """Every client transaction so far, in the transactions frame's order (first request's seq)."""
        rows = list(self.done)
        for t in self._open.values():
            reply = self._wire_reply(t)
            if reply is None:
                rows.append(_Done(t, None, math.nan, False))
            else:
                rows.append(_Done(t, reply.status, reply.end(), False))
        rows.sort(key=lambda r: r.seq)
        return rows

    def gap_rows(self) -> list[tuple[float, str, str, float, str]]:
        """The presence gaps as (start, presentity, event, duration, state), in the gaps frame's order."""
        cov = self._coverage.finish(self.last / SECOND)
        rows = [(*g, "none") for g in cov.none] + [(*g, "stale") for g in cov.stale]
        rows.sort(key=lambda g: g[:3])
        return rows

    def recoveries(self) -> list[float]:
        """Recovery time of each 412 round (412 reply to the next 2xx of the same node, presentity
        and event; NaN when none followed), in the order of the rounds_412 frame (docs/metrics.md)."""
        groups: dict[tuple[str, str, str], list[_Done]] = {}
        for r in self.transaction_rows():
            if r.method == "PUBLISH":
                groups.setdefault((r.node, r.presentity, r.event), []).append(r)
        rounds: list[tuple[int, float]] = []
        for group in groups.values():
            for i, t in enumerate(group):
                if t.status != 412:
                    continue
                recovered = next((later.end for later in group[i + 1:] if later.outcome == "success"), math.nan)
                rounds.append((t.seq, round(recovered - t.end, 6)))
        rounds.sort(key=lambda r: r[0])
        return [r[1] for r in rounds]

    def rates(self, method: str | None, start: float, end: float) -> list[float]:
        """Requests per second in 1 s bins over [start, end] (the load curve's ``rate``; one
        method or all); empty when that method sent nothing (the curve has no such series)."""
        nbins = max(1, math.ceil((end - start) / 1.0 - 1e-9))
        counts = [0] * nbins
        seen = False
        for (m, second), n in self.method_seconds.items():
            if method is not None and m != method:
                continue
            if second < start or second > end:  # whole seconds: records never pass the end
                continue
            seen = True
            counts[min(int((second - start) // 1.0), nbins - 1)] += n
        if method is not None and not seen:
            return []
        return [float(c) for c in counts]

    def summary(self) -> dict[str, Any]:
        """What :func:`puasim.report.metrics.summary` gives for a full trace of the run so far."""
        timeouts, failures, rounds = self.timeouts, self.failures, self.rounds_412
        latencies = list(self.latencies)
        for t in self._open.values():  # not finished by a TransactionFinished: the wire decides
            reply = self._wire_reply(t)
            if reply is not None:
                assert reply.status is not None
                if not 200 <= reply.status < 300:
                    failures += 1
                latency = round(reply.end() - t.start, 6)
                if latency == latency:
                    latencies.append(latency)
                if t.method == "PUBLISH" and reply.status == 412:
                    rounds += 1
        open_copies = {id(c): c for held in self._pending.values() for c in _copies(held)}
        dropped = self.dropped + sum(1 for c in open_copies.values() if c.dropped)
        leads = np.asarray(self.leads, dtype=float)
        wire = np.asarray(latencies, dtype=float) * 1000.0
        end_s = self.last / SECOND
        peak = 0.0
        if self.messages:
            nbins = max(1, math.ceil(end_s / 1.0 - 1e-9))
            bins: Counter[int] = Counter()
            for i, n in self.per_second.items():
                bins[min(i, nbins - 1)] += n
            peak = float(max(bins.values(), default=0))

        cov = self._coverage.finish(end_s)

        def stat(values: np.ndarray, fn: str) -> float:
            return float(getattr(np, fn)(values)) if len(values) else float("nan")

        return {
            "duration_s": end_s,
            "messages": self.messages,
            "requests": self.requests,
            "retransmissions": self.retransmissions,
            "dropped": dropped,
            "transactions": self.transactions,
            "timeouts": timeouts,
            "failures": failures,
            "refreshes": self.refreshes,
            "lead_min_s": stat(leads, "min"),
            "lead_median_s": stat(leads, "median"),
            "lead_max_s": stat(leads, "max"),
            "late_refreshes": self.late_refreshes,
            "gaps": cov.gaps,
            "gap_none_s": _Totals.total(cov.none),
            "gap_stale_s": _Totals.total(cov.stale),
            "longest_gap_s": cov.longest if cov.gaps else 0.0,
            "orphan_s": _Totals.total(cov.orphan),
            "rounds_412": rounds,
            "latency_p50_ms": float(np.percentile(wire, 50)) if len(wire) else float("nan"),
            "latency_p99_ms": float(np.percentile(wire, 99)) if len(wire) else float("nan"),
            "peak_rate": peak,
        }


__all__ = ["RUNNING_KEYS", "RunningMetrics"]
