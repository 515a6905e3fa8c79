"""One-line text summaries of trace records (for terminals, failures and logs)."""

from __future__ import annotations

from collections.abc import Iterable

from puasim.effects import SECOND
from puasim.trace.events import (
    MessageDelivered,
    MessageDropped,
    MessageDuplicated,
    MessageSent,
    RecordChanged,
    TimerFired,
)
from puasim.trace.trace import Record

_KEY_HEADERS = ("Event", "Expires", "SIP-If-Match", "SIP-ETag", "Subscription-State", "Min-Expires")


def message_summary(message: object) -> str:
    from puasim.sip.message import Request, Response

    if isinstance(message, Request):
        head = f"{message.method} {message.uri}"
    elif isinstance(message, Response):
        head = f"{message.status} {message.reason}"
    else:
        return repr(message)
    cseq = message.get("cseq") or ""
    parts = [head, f"[{cseq}]"] if cseq else [head]
    for name in _KEY_HEADERS:
        value = message.get(name)
        if value is not None:
            parts.append(f"{name}: {value}")
    if message.body:
        parts.append(f"body {len(message.body)} B")
    return "  ".join(parts)


def seconds(t: int) -> str:
    return f"{t / SECOND:10.3f}"


def record_line(rec: Record, names: dict[tuple, str] | None = None) -> str:
    ev = rec.event
    where = names or {}

    def who(addr: tuple) -> str:
        return where.get(addr, f"{addr[0]}:{addr[1]}")

    if isinstance(ev, MessageSent):
        tag = " (retransmission)" if ev.retransmission else ""
        return f"{seconds(rec.time)}  {who(ev.src)} -> {who(ev.dst)}  {message_summary(ev.message)}{tag}"
    if isinstance(ev, MessageDropped):
        return f"{seconds(rec.time)}  {who(ev.src)} -x {who(ev.dst)}  DROPPED ({ev.reason}) {message_summary(ev.message)}"
    if isinstance(ev, MessageDuplicated):
        return f"{seconds(rec.time)}  {who(ev.src)} => {who(ev.dst)}  DUPLICATED {message_summary(ev.message)}"
    if isinstance(ev, MessageDelivered):
        return f"{seconds(rec.time)}  {rec.node}: delivered {message_summary(ev.message)}"
    if isinstance(ev, RecordChanged):
        return (
            f"{seconds(rec.time)}  {rec.node}: record {ev.action} {ev.kind} {ev.pres_uri} "
            f"etag={ev.etag or '-'} expires={ev.expires} desired={ev.desired_expires} v={ev.version}"
            + (f" ({ev.reason})" if ev.reason else "")
        )
    if isinstance(ev, TimerFired):
        return f"{seconds(rec.time)}  {rec.node}: timer {ev.name}"
    fields = ", ".join(f"{k}={getattr(ev, k)!r}" for k in getattr(ev, "__slots__", ()))
    return f"{seconds(rec.time)}  {rec.node}: {type(ev).__name__}({fields})"


def format_records(records: Iterable[Record], names: dict[tuple, str] | None = None, timers: bool = False) -> str:
    lines = []
    for rec in records:
        if isinstance(rec.event, MessageDelivered) or (isinstance(rec.event, TimerFired) and not timers):
            continue
        lines.append(record_line(rec, names))
    return "\n".join(lines)
