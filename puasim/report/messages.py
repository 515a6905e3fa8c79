"""The ``messages`` and ``transactions`` frames.

``messages``: one row per transmission (a ``MessageSent`` record), with what
the network did to it (delivered, dropped, duplicated) joined in.
``transactions``: one row per client transaction (first request of a branch),
with its final reply; ``TransactionFinished`` records, when the trace has
them, supply local timeouts and the transaction layer's own counts.

Columns are listed in :data:`MESSAGE_COLUMNS` / :data:`TRANSACTION_COLUMNS`
and in ``docs/metrics.md``.  Times are seconds of virtual time (float).
"""

from __future__ import annotations

from collections import defaultdict, deque
from typing import Any

import pandas as pd

from puasim.effects import SECOND
from puasim.report import sipinfo as S
from puasim.trace.events import (
    MessageDelivered,
    MessageDropped,
    MessageDuplicated,
    MessageSent,
    TransactionFinished,
)
from puasim.trace.trace import Trace

#: drops recorded by the sender at send time (the copy just sent); the others happen at delivery
_SEND_TIME_DROPS = frozenset({"partition", "fault", "loss"})

MESSAGE_COLUMNS: dict[str, str] = {
    "seq": "trace sequence number of the MessageSent record",
    "time": "send time, seconds of virtual time",
    "time_us": "send time, integer microseconds",
    "node": "sending node",
    "src": "source address host:port",
    "dst": "destination address host:port",
    "src_node": "sending node (same as node)",
    "dst_node": "receiving node (host:port when no node listens there)",
    "direction": "src_node>dst_node, e.g. pua>server",
    "kind": "request or response",
    "method": "request method, or the CSeq method of a response",
    "status": "response status code (NA for requests)",
    "reason": "response reason phrase",
    "ruri": "Request-URI (requests)",
    "to": "To URI",
    "presentity": "sip:user@host the message is about (PUBLISH: Request-URI; SUBSCRIBE: To; NOTIFY: From)",
    "call_id": "Call-ID",
    "cseq": "CSeq number",
    "branch": "top Via branch",
    "event": "Event header without id parameter",
    "expires": "Expires header (NA when absent)",
    "etag": "SIP-ETag",
    "if_match": "SIP-If-Match",
    "sub_state": "Subscription-State (NOTIFY)",
    "content_type": "Content-Type",
    "body_size": "body length in bytes",
    "body_id": "8-hex digest naming the body content ('' without body)",
    "op": "PUBLISH initial/refresh/modify/remove, SUBSCRIBE initial/refresh/unsubscribe",
    "retransmission": "sent by a retransmission timer (timer A/E/G)",
    "duplicates": "extra copies the network made",
    "delivered": "time the first copy reached dst (NaN: never, or not recorded)",
    "dropped": "no copy was delivered and the network recorded a drop",
    "drop_reason": "loss, partition, fault, crashed, no-listener ('' when not dropped)",
}

TRANSACTION_COLUMNS: dict[str, str] = {
    "seq": "sequence number of the first request",
    "node": "client node (sent the request)",
    "peer": "server node",
    "method": "request method",
    "op": "operation (see messages.op)",
    "start": "time the first request left",
    "end": "time the final reply reached the client, or the local timeout (NaN: none)",
    "latency": "end - start, seconds",
    "status": "final status (NA when none)",
    "outcome": "success (2xx), failure (>=300 on the wire), timeout (local 408), unanswered",
    "faked": "the final reply was generated locally (transaction timeout)",
    "retransmissions": "request retransmissions",
    "requests_dropped": "copies of the request lost on the way",
    "call_id": "Call-ID",
    "cseq": "CSeq number",
    "branch": "top Via branch",
    "ruri": "Request-URI",
    "presentity": "sip:user@host the request is about (see messages.presentity)",
    "event": "Event package",
    "expires": "requested Expires",
    "granted": "Expires in the final reply",
    "if_match": "SIP-If-Match of the request",
    "etag": "SIP-ETag of the final reply",
    "body_id": "body digest of the request",
}


def _addr(a: Any) -> str:
    try:
        return f"{a[0]}:{a[1]}"
    except (TypeError, IndexError):
        return str(a)


def node_names(trace: Trace) -> dict[str, str]:
    """``host:port`` -> node name, learnt from who sends and who receives."""
    names: dict[str, str] = {}
    for rec in trace.iter_of(MessageSent, MessageDelivered):
        ev = rec.event
        if isinstance(ev, MessageSent):
            names.setdefault(_addr(ev.src), rec.node)
        elif isinstance(ev, MessageDelivered):
            names.setdefault(_addr(ev.dst), rec.node)
    return names


def _message_row(rec: Any, names: dict[str, str]) -> dict[str, Any]:
    ev = rec.event
    msg = ev.message
    src, dst = _addr(ev.src), _addr(ev.dst)
    dst_node = names.get(dst, dst)
    number, cseq_method = S.cseq(msg)
    request = S.is_request(msg)
    body = getattr(msg, "body", b"") or b""
    return {
        "seq": rec.seq,
        "time": rec.time / SECOND,
        "time_us": rec.time,
        "node": rec.node,
        "src": src,
        "dst": dst,
        "src_node": rec.node,
        "dst_node": dst_node,
        "direction": f"{rec.node}>{dst_node}",
        "kind": "request" if request else "response",
        "method": msg.method if request else cseq_method,
        "status": None if request else getattr(msg, "status", None),
        "reason": "" if request else getattr(msg, "reason", ""),
        "ruri": msg.uri if request else "",
        "to": S.to_uri(msg),
        "presentity": S.presentity_of(msg),
        "call_id": S.header(msg, "Call-ID"),
        "cseq": number,
        "branch": S.branch(msg),
        "event": S.event_package(msg),
        "expires": S.expires(msg),
        "etag": S.header(msg, "SIP-ETag"),
        "if_match": S.header(msg, "SIP-If-Match"),
        "sub_state": S.header(msg, "Subscription-State"),
        "content_type": S.header(msg, "Content-Type"),
        "body_size": len(body),
        "body_id": S.body_id(body),
        "op": S.operation(msg),
        "retransmission": bool(getattr(ev, "retransmission", False)),
        "duplicates": 0,
        "delivered": float("nan"),
        "dropped": False,
        "drop_reason": "",
    }


def messages_frame(trace: Trace, names: dict[str, str] | None = None) -> pd.DataFrame:
    """One row per transmission; see :data:`MESSAGE_COLUMNS`.

    Network events are matched to the transmission they concern by
    (src, dst, message) in FIFO order; a drop at send time (loss, partition,
    fault) belongs to the copy just sent.
    """
    names = node_names(trace) if names is None else names
    rows: list[dict[str, Any]] = []
    pending: dict[tuple, deque[int]] = defaultdict(deque)
    for rec in trace.iter_of(MessageSent, MessageDuplicated, MessageDelivered, MessageDropped):
        ev = rec.event
        if isinstance(ev, MessageSent):
            rows.append(_message_row(rec, names))
            pending[(ev.src, ev.dst, ev.message)].append(len(rows) - 1)
        elif isinstance(ev, MessageDuplicated):
            queue = pending.get((ev.src, ev.dst, ev.message))
            if queue:
                idx = queue[-1]
                rows[idx]["duplicates"] += 1
                queue.append(idx)
        elif isinstance(ev, MessageDelivered | MessageDropped):
            queue = pending.get((ev.src, ev.dst, ev.message))
            if not queue:
                continue
            at_send = isinstance(ev, MessageDropped) and ev.reason in _SEND_TIME_DROPS
            idx = queue.pop() if at_send else queue.popleft()
            row = rows[idx]
            if isinstance(ev, MessageDelivered):
                if row["delivered"] != row["delivered"]:  # NaN: first copy
                    row["delivered"] = rec.time / SECOND
                row["dropped"], row["drop_reason"] = False, ""
            elif row["delivered"] != row["delivered"]:
                row["dropped"], row["drop_reason"] = True, ev.reason
    frame = pd.DataFrame(rows, columns=list(MESSAGE_COLUMNS))
    return _typed(
        frame,
        ints=("seq", "time_us", "body_size", "duplicates"),
        nullable=("status", "cseq", "expires"),
        bools=("retransmission", "dropped"),
    )


def _typed(frame: pd.DataFrame, ints=(), nullable=(), bools=()) -> pd.DataFrame:
    for c in ints:
        frame[c] = frame[c].astype("int64")
    for c in nullable:
        frame[c] = frame[c].astype("Int64")
    for c in bools:
        frame[c] = frame[c].astype(bool)
    return frame


def transactions_frame(trace: Trace, messages: pd.DataFrame) -> pd.DataFrame:
    """One row per client transaction; see :data:`TRANSACTION_COLUMNS`.

    A transaction is keyed by (client node, branch, method).  Its final reply
    is the first response with status >= 200 sent back to the client; its
    end is that reply's delivery (or send time when deliveries are not
    recorded, as in a capture).  ``TransactionFinished`` records override
    status, end and retransmission count and mark local timeouts.
    """
    txns: dict[tuple, dict[str, Any]] = {}
    for m in messages.itertuples(index=False):
        if m.kind == "request":
            if m.method == "ACK":
                continue
            key = (m.node, m.branch, m.method)
            t = txns.get(key)
            if t is None:
                txns[key] = {
                    "seq": m.seq,
                    "node": m.node,
                    "peer": m.dst_node,
                    "method": m.method,
                    "op": m.op,
                    "start": m.time,
                    "end": float("nan"),
                    "latency": float("nan"),
                    "status": None,
                    "outcome": "unanswered",
                    "faked": False,
                    "retransmissions": 0,
                    "requests_dropped": int(m.dropped),
                    "call_id": m.call_id,
                    "cseq": m.cseq,
                    "branch": m.branch,
                    "ruri": m.ruri,
                    "presentity": m.presentity,
                    "event": m.event,
                    "expires": m.expires,
                    "granted": None,
                    "if_match": m.if_match,
                    "etag": "",
                    "body_id": m.body_id,
                }
            else:
                t["retransmissions"] += 1
                t["requests_dropped"] += int(m.dropped)
        else:
            t = txns.get((m.dst_node, m.branch, m.method))
            if t is None or t["status"] is not None or m.status is pd.NA or m.status < 200:
                continue
            end = (
                m.delivered
                if m.delivered == m.delivered
                else (m.time if not m.dropped else float("nan"))
            )
            if end != end:
                continue  # the final reply was lost: the client never saw it
            t.update(status=int(m.status), end=end, granted=m.expires, etag=m.etag)
    for rec in trace.iter_of(TransactionFinished):
        ev = rec.event
        if isinstance(ev, TransactionFinished):
            t = txns.get((rec.node, ev.branch, ev.method))
            if t is None:
                continue
            t.update(
                status=ev.status,
                end=rec.time / SECOND,
                faked=bool(ev.faked),
                retransmissions=ev.retransmissions,
            )
    for t in txns.values():
        if t["status"] is not None:
            t["latency"] = round(t["end"] - t["start"], 6)
            if t["faked"]:
                t["outcome"] = "timeout"
            else:
                t["outcome"] = "success" if 200 <= t["status"] < 300 else "failure"
    frame = pd.DataFrame(list(txns.values()), columns=list(TRANSACTION_COLUMNS))
    frame = frame.sort_values("seq", kind="stable").reset_index(drop=True)
    return _typed(
        frame,
        ints=("seq", "retransmissions", "requests_dropped"),
        nullable=("status", "cseq", "expires", "granted"),
        bools=("faked",),
    )
