"""The report's summary metrics computed as a run goes, record by record.

:class:`RunningMetrics` is the observer of the ``metrics`` trace level
(:class:`puasim.trace.levels.MetricsTrace`): it sees every record once, keeps
only what is still open (messages in flight, transactions not finished, the
latest expiry per ETag and per dialog) and counters, and gives the same
numbers as :func:`puasim.report.metrics.summary` over the frames of a full
trace of the same run.  Definitions: ``docs/metrics.md``.

Computed: ``duration_s``, ``messages``, ``requests``, ``retransmissions``,
``dropped``, ``transactions``, ``timeouts``, ``failures``, ``refreshes``,
``lead_min_s``, ``lead_median_s``, ``lead_max_s``, ``late_refreshes``,
``rounds_412``, ``latency_p50_ms``, ``latency_p99_ms``, ``peak_rate``.
Not computed (they need the coverage intervals of every presentity, which
this module does not build yet): ``gaps``, ``gap_none_s``, ``gap_stale_s``,
``longest_gap_s``, ``orphan_s``.

Memory: counters, one float per refresh (lead times) and per answered
transaction (latencies, for exact percentiles), one counter per second of
virtual time (the load curve), and the latest expiry of every ETag seen.
Pure Python and numpy; no pandas frame is built.
"""

from __future__ import annotations

import math
from array import array
from collections import Counter, deque
from typing import Any

import numpy as np

from puasim.effects import SECOND
from puasim.report import sipinfo as S
from puasim.trace.events import (
    MessageDelivered,
    MessageDropped,
    MessageDuplicated,
    MessageSent,
    RecordChanged,
    TransactionFinished,
)
from puasim.trace.trace import Record

#: summary keys :class:`RunningMetrics` computes (a subset of ``metrics.summary``)
RUNNING_KEYS = (
    "duration_s", "messages", "requests", "retransmissions", "dropped", "transactions",
    "timeouts", "failures", "refreshes", "lead_min_s", "lead_median_s", "lead_max_s",
    "late_refreshes", "rounds_412", "latency_p50_ms", "latency_p99_ms", "peak_rate",
)

# drops decided when a copy is sent (they concern the copy just sent), as in messages_frame
_SEND_TIME_DROPS = frozenset({"partition", "fault", "loss"})


def _addr(a: Any) -> str:
    try:
        return f"{a[0]}:{a[1]}"
    except (TypeError, IndexError):
        return str(a)


class _Copy:
    """One transmission still open: its fate is known once no network event can name it."""

    __slots__ = ("time", "status", "refs", "delivered", "dropped")

    def __init__(self, time: float, status: int | None) -> None:
        self.time = time
        self.status = status
        self.refs = 1
        self.delivered = math.nan
        self.dropped = False

    def end(self) -> float:
        """When the client saw it: delivery, else the send time if not dropped (a capture)."""
        if self.delivered == self.delivered:
            return self.delivered
        return self.time if not self.dropped else math.nan


class _Txn:
    __slots__ = ("start", "method", "replies")

    def __init__(self, start: float, method: str) -> None:
        self.start = start
        self.method = method
        self.replies: list[_Copy] = []


class RunningMetrics:
    """Feed it every record (``observe``); read the numbers with :meth:`summary`."""

    def __init__(self, epoch: int = 0) -> None:
        self.epoch = epoch
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
        self.per_second: Counter[int] = Counter()
        self._names: dict[str, str] = {}
        self._pending: dict[tuple, deque[_Copy]] = {}
        self._open: dict[tuple, _Txn] = {}
        self._by_etag: dict[str, float] = {}
        self._by_call: dict[str, float] = {}

    # -- feeding -----------------------------------------------------------------------
    def observe(self, rec: Record) -> None:
        self.last = rec.time
        ev = rec.event
        kind = type(ev)
        if kind is MessageSent:
            self._sent(rec, ev)
        elif kind is MessageDelivered or kind is MessageDropped:
            self._fate(rec, ev)
        elif kind is MessageDuplicated:
            queue = self._pending.get((ev.src, ev.dst, ev.message))
            if queue:
                copy = queue[-1]
                copy.refs += 1
                queue.append(copy)
        elif kind is TransactionFinished:
            t = self._open.pop((rec.node, ev.branch, ev.method), None)
            if t is not None:
                self._finish(t, ev.status, rec.time / SECOND, bool(ev.faked))
        elif kind is RecordChanged:
            expires = float(ev.expires - self.epoch)
            if ev.etag and ev.kind == "publication":
                self._by_etag[ev.etag] = expires
            if ev.call_id and ev.kind != "publication":
                self._by_call[ev.call_id] = expires

    def _sent(self, rec: Record, ev: Any) -> None:
        msg = ev.message
        self._names.setdefault(_addr(ev.src), rec.node)
        now = rec.time / SECOND
        self.messages += 1
        if ev.retransmission:
            self.retransmissions += 1
        request = S.is_request(msg)
        copy = _Copy(now, None if request else getattr(msg, "status", None))
        key = (ev.src, ev.dst, msg)
        queue = self._pending.get(key)
        if queue is None:
            queue = self._pending[key] = deque()
        queue.append(copy)
        if request:
            self.requests += 1
            self.per_second[int(now // 1.0)] += 1
            method = msg.method
            if method == "ACK":
                return
            tkey = (rec.node, S.branch(msg), method)
            if tkey not in self._open:
                self._open[tkey] = _Txn(now, method)
                self.transactions += 1
                if method in ("PUBLISH", "SUBSCRIBE") and S.operation(msg) == "refresh":
                    self._refresh(msg, method, now)
        else:
            status = copy.status
            if status is None or status < 200:
                return
            dst = _addr(ev.dst)
            t = self._open.get((self._names.get(dst, dst), S.branch(msg), S.cseq(msg)[1]))
            if t is not None:
                t.replies.append(copy)

    def _refresh(self, msg: Any, method: str, now: float) -> None:
        if method == "PUBLISH":
            expires = self._by_etag.get(S.header(msg, "SIP-If-Match"), math.nan)
        else:
            expires = self._by_call.get(S.header(msg, "Call-ID"), math.nan)
        lead = round(expires - now, 6)
        if lead == lead:
            self.leads.append(lead)
            if lead < 0:
                self.late_refreshes += 1
        self.refreshes += 1

    def _fate(self, rec: Record, ev: Any) -> None:
        key = (ev.src, ev.dst, ev.message)
        queue = self._pending.get(key)
        if not queue:
            return
        if type(ev) is MessageDelivered:
            self._names.setdefault(_addr(ev.dst), rec.node)
        at_send = type(ev) is MessageDropped and ev.reason in _SEND_TIME_DROPS
        copy = queue.pop() if at_send else queue.popleft()
        if not queue:
            del self._pending[key]
        if type(ev) is MessageDelivered:
            if copy.delivered != copy.delivered:
                copy.delivered = rec.time / SECOND
            copy.dropped = False
        elif copy.delivered != copy.delivered:
            copy.dropped = True
        copy.refs -= 1
        if copy.refs == 0 and copy.dropped:
            self.dropped += 1

    def _finish(self, t: _Txn, status: int, end: float, faked: bool) -> None:
        if faked:
            self.timeouts += 1
        else:
            if not 200 <= status < 300:
                self.failures += 1
            latency = round(end - t.start, 6)
            if latency == latency:
                self.latencies.append(latency)
        if t.method == "PUBLISH" and status == 412:
            self.rounds_412 += 1

    # -- reading -----------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """The computed keys of :func:`puasim.report.metrics.summary` (see :data:`RUNNING_KEYS`)."""
        timeouts, failures, rounds = self.timeouts, self.failures, self.rounds_412
        latencies = list(self.latencies)
        for t in self._open.values():  # not finished by a TransactionFinished: the wire decides
            for reply in t.replies:
                end = reply.end()
                if end == end:
                    assert reply.status is not None
                    if not 200 <= reply.status < 300:
                        failures += 1
                    latency = round(end - t.start, 6)
                    if latency == latency:
                        latencies.append(latency)
                    if t.method == "PUBLISH" and reply.status == 412:
                        rounds += 1
                    break
        open_copies = {id(c): c for q in self._pending.values() for c in q}
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
            "rounds_412": rounds,
            "latency_p50_ms": float(np.percentile(wire, 50)) if len(wire) else float("nan"),
            "latency_p99_ms": float(np.percentile(wire, 99)) if len(wire) else float("nan"),
            "peak_rate": peak,
        }


__all__ = ["RUNNING_KEYS", "RunningMetrics"]
