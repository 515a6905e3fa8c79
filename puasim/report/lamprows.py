"""Busy-lamp accuracy computed on plain rows: the engine of :mod:`puasim.report.lamps`, without pandas.

The lamp frames (``lamp_truth``, ``lamp_shown``, ``lamp_wrong``,
``lamp_lag``; docs/metrics.md, "Busy lamps") are built here as lists of
dicts, one per row, in the frames' order; :mod:`puasim.report.lamps` turns
them into DataFrames for the report.  ``stat`` expectations
(:mod:`puasim.scenario.stats`) read the rows directly: :func:`lamp_rows`
computes all four from the trace in plain Python, with the evidence for the
causes read from the trace and a
:class:`~puasim.report.running.RunningMetrics` pass instead of the
``messages``, ``transactions``, ``server_events`` and ``record_events``
frames.  The lamp rules themselves are those of the module docstring of
:mod:`puasim.report.lamps` (RFC 4235 §3.7.1 states aggregated as a BLF key
shows them).
"""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from puasim.bodies.errors import BodyError
from puasim.bodies.xml import parse_xml
from puasim.effects import SECOND
from puasim.report import sipinfo as S
from puasim.trace.events import (
    FaultInjected,
    MessageDelivered,
    MessageDropped,
    MessageDuplicated,
    MessageSent,
    NodeCrashed,
    Note,
    RecordChanged,
    ServerStateChanged,
)

LAMPS = ("idle", "ringing", "busy")
#: the phone's call states (puasim.phones.calls) as RFC 4235 §3.7.1 dialog states
PHONE_STATES = {"calling": "trying", "ringing": "trying", "early": "early", "confirmed": "confirmed",
                "terminated": "terminated"}
PHASES = ("not_published", "publish_in_flight", "server_delay", "notify_in_flight")

_NOTE = re.compile(r"^(?P<phone>[^:]+): call (?P<call>\S+): (?P<state>calling|ringing|early|confirmed|terminated)\b")


def lamp_of(states: Iterable[str]) -> str:
    """The lamp of a set of RFC 4235 dialog states: busy > ringing > idle (module docstring)."""
    seen = {s.lower() for s in states}
    if "confirmed" in seen:
        return "busy"
    if "early" in seen:
        return "ringing"
    return "idle"




def truth_rows(trace: Any) -> list[dict[str, Any]]:
    """The phones' call states per extension: the rows of ``lamp_truth``."""
    entity: dict[tuple[str, str], str] = {}
    rows: list[dict[str, Any]] = []
    calls: dict[str, dict[tuple[str, str], str]] = {}
    for rec in trace.iter_of(MessageSent, MessageDelivered, Note):
        ev = rec.event
        if isinstance(ev, MessageSent | MessageDelivered):
            msg = ev.message
            if not S.is_request(msg) or msg.method != "INVITE" or S.to_tag(msg):
                continue
            key = (rec.node, S.header(msg, "Call-ID"))
            if key in entity:
                continue
            uri = S.from_uri(msg) if isinstance(ev, MessageSent) else S.to_uri(msg)
            if uri:
                entity[key] = S.aor(uri)
            continue
        if not isinstance(ev, Note) or ev.level != "info":
            continue
        m = _NOTE.match(ev.text)
        if m is None or m["phone"] != rec.node:
            continue
        ext = entity.get((rec.node, m["call"]))
        if ext is None:
            continue
        dialogs = calls.setdefault(ext, {})
        before = lamp_of(dialogs.values())
        state = PHONE_STATES[m["state"]]
        if state == "terminated":
            dialogs.pop((rec.node, m["call"]), None)
        else:
            dialogs[(rec.node, m["call"])] = state
        lamp = lamp_of(dialogs.values())
        rows.append({"seq": rec.seq, "time": rec.time / SECOND, "extension": ext, "phone": rec.node,
                     "call_id": m["call"], "call_state": m["state"], "dialog_state": state,
                     "dialogs": len(dialogs), "lamp": lamp, "changed": lamp != before})
    return rows



def read_dialogs(body: bytes) -> tuple[str, int | None, dict[str, str], dict[str, str]] | None:
    """(document state, version, {dialog id: state}, {dialog id: call-id}) of a dialog-info body.

    None when unreadable.  The call-ids are those of dialogs with a
    ``call-id`` attribute (pua_dialoginfo's ``include_callid``, on by default).

    Tolerant as a phone is: state names in any case (pua_dialoginfo sends
    ``Trying``, pua-reference B23), unknown children ignored.
    """
    try:
        root = parse_xml(body, what="dialog-info")
    except BodyError:
        return None
    if etree_local(root.tag) != "dialog-info":
        return None
    try:
        version: int | None = int(root.get("version", ""))
    except ValueError:
        version = None
    dialogs: dict[str, str] = {}
    calls: dict[str, str] = {}
    for node in root:
        if etree_local(node.tag) != "dialog":
            continue
        state = next((c for c in node if etree_local(c.tag) == "state"), None)
        text = (state.text or "").strip().lower() if state is not None else ""
        dialogs[str(node.get("id", ""))] = text
        if node.get("call-id"):
            calls[str(node.get("id", ""))] = str(node.get("call-id"))
    return (root.get("state", "full") or "full").strip().lower(), version, dialogs, calls


def etree_local(tag: Any) -> str:
    """The local name of an lxml tag (``{ns}name`` -> ``name``)."""
    return str(tag).rpartition("}")[2]



def shown_rows(trace: Any) -> list[dict[str, Any]]:
    """What every ``dialog`` NOTIFY told a watching phone: the rows of ``lamp_shown`` (``version``
    None without one).

    A NOTIFY with a ``full`` document replaces the watcher's dialogs, a
    ``partial`` one updates them by dialog id (RFC 4235 §4.1); a NOTIFY
    without body (the server holds no state) leaves none.  Copies of a
    NOTIFY already applied (same branch) are skipped; versions are not
    compared, because each pua record numbers its own documents.
    """
    first_sent: dict[str, float] = {}
    held: dict[tuple[str, str, str], dict[str, str]] = {}
    held_calls: dict[tuple[str, str, str], dict[str, str]] = {}
    applied: set[tuple[str, str]] = set()
    last: dict[tuple[str, str, str], str] = {}
    rows: list[dict[str, Any]] = []
    for rec in trace.iter_of(MessageSent, MessageDelivered):
        ev = rec.event
        msg = ev.message
        if not S.is_request(msg) or msg.method != "NOTIFY" or S.event_package(msg) != "dialog":
            continue
        branch = S.branch(msg)
        if isinstance(ev, MessageSent):
            first_sent.setdefault(branch, rec.time / SECOND)
            continue
        if (rec.node, branch) in applied:
            continue
        applied.add((rec.node, branch))
        ext = S.presentity_of(msg)
        subscriber = S.aor(S.to_uri(msg))
        key = (rec.node, subscriber, ext)
        before = last.get(key)
        dialogs = held.setdefault(key, {})
        callids = held_calls.setdefault(key, {})
        version: int | None = None
        if not msg.body:
            doc = "none"
            dialogs.clear()
            callids.clear()
        else:
            read = read_dialogs(msg.body)
            if read is None:
                doc = "unreadable"
            else:
                doc, version, found, found_calls = read
                if doc != "partial":
                    dialogs.clear()
                    callids.clear()
                dialogs.update(found)
                callids.update(found_calls)
        lamp = lamp_of(dialogs.values())
        rows.append({"seq": rec.seq, "time": rec.time / SECOND, "sent": first_sent.get(branch, math.nan),
                     "watcher": rec.node, "watcher_uri": subscriber, "extension": ext,
                     "sub_state": S.header(msg, "Subscription-State").partition(";")[0].strip(),
                     "doc_state": doc, "version": version,
                     "dialogs": ",".join(f"{i}:{s}" for i, s in dialogs.items()),
                     "calls": ",".join(f"{c}:{dialogs[i]}" for i, c in callids.items() if i in dialogs),
                     "lamp": lamp, "changed": lamp != before})
        last[key] = lamp
    return rows


# -- wrong intervals and their causes ----------------------------------------------------



@dataclass(frozen=True, slots=True)
class _Evidence:
    """What happened around one extension, as sorted arrays of times."""

    publishes: list[float]        # PUBLISHes with a body for the extension (first transmissions)
    rounds_412: list[float]       # 412s to PUBLISHes for it reaching the PUA
    server: list[tuple[float, str]]  # server_events (time, action)
    sweeps: list[float]           # the PUA's publication records for it expired by the sweep




#: NOTIFY transmissions to one subscriber about one extension: (time sent, lost, drop reason), in time order
_Sent = list[tuple[float, bool, str]]


def _in(times: Iterable[float], lo: float, hi: float) -> list[float]:
    return [t for t in times if lo <= t <= hi]


#: RFC 4235 §3.7.1 dialog states in life-cycle order (to tell a lamp ahead of a phone from one behind it)
_ORDER = {"trying": 0, "proceeding": 1, "early": 2, "confirmed": 3, "terminated": 4}


def _call_states(text: str) -> dict[str, str]:
    """The ``calls`` column of ``lamp_shown`` as {call-id: state}."""
    out = {}
    for item in filter(None, text.split(",")):
        call, _, state = item.rpartition(":")
        out[call] = state
    return out


def _by_call(phones: dict[tuple[str, str], str]) -> dict[str, str]:
    """{call-id: state} of the extension's phones; a call live on any phone counts as its latest live state."""
    out: dict[str, str] = {}
    for (_phone, call), state in phones.items():
        old = out.get(call)
        live = state != "terminated"
        if old is None or live and (old == "terminated" or _ORDER.get(state, 0) > _ORDER.get(old, 0)):
            out[call] = state
    return out


def _dialog_cause(opening: dict[str, Any], truth_calls: dict[str, str]) -> tuple[str, str] | None:
    """ahead or stale_state from the call-ids of the NOTIFY that opened the interval (None: no call-ids)."""
    shown = _call_states(opening.get("calls", ""))
    if not shown:
        return None
    for call, state in shown.items():
        true = truth_calls.get(call)
        if true is not None and _ORDER.get(state, 0) > _ORDER.get(true, 0):
            return "ahead", f"call {call}: the lamp says {state}, the phone is still {true}"
    for call, true in truth_calls.items():
        if true in ("early", "confirmed") and call not in shown:
            return "stale_state", f"the NOTIFY lacks call {call} ({true})"
    for call, state in shown.items():
        true = truth_calls.get(call)
        if true is not None and _ORDER.get(state, 0) < _ORDER.get(true, 0):
            return "stale_state", f"call {call}: the lamp says {state}, the phone is already {true}"
    return "stale_state", "a NOTIFY carried state the phones do not have"


def _classify(iv: dict[str, Any], ev: _Evidence, notifies: _Sent, faults: list[float],
              truth_since: float, opening: dict[str, Any] | None, closing: dict[str, Any] | None,
              truth_calls: dict[str, str] | None = None) -> tuple[str, str]:
    """The cause of one wrong interval: the first rule of :data:`CAUSES` that holds (docs/metrics.md)."""
    start, end = iv["start"], iv["end"]
    t0 = start
    behind = ""  # the server change behind the NOTIFY that made the lamp wrong
    if opening is not None:
        before = [(t, a) for t, a in ev.server if t <= opening["sent"]]
        if before:
            t0, behind = min(start, before[-1][0]), before[-1][1]
    lost = [(t, why) for t, dropped, why in notifies if dropped and t0 <= t <= end]
    if lost:
        return "lost_notify", f"NOTIFY sent at {lost[0][0]:.6g} s lost ({lost[0][1]})"
    swallowed = _in(faults, t0, end)
    if swallowed:
        return "lost_notify", f"drop-notify fault at {swallowed[0]:.6g} s"
    # an expiry whose NOTIFY closed the interval put the lamp right; it did not make it wrong
    if opening is not None:  # only an expiry can have sent the NOTIFY that turned the lamp dark
        expired = [t0] if behind == "expired" else []
    else:  # an expiry whose NOTIFY closed the interval put the lamp right instead
        limit = closing["sent"] if closing is not None and not math.isnan(closing["sent"]) else end
        expired = [t for t, a in ev.server if a == "expired" and t0 <= t and (t < limit or t == limit == end)]
    if expired and iv["shown"] == "idle" and iv["truth"] != "idle":
        # pua gave the record up first (so nothing refreshed it), or the server's state simply ran out
        swept = [t for t in ev.sweeps if truth_since <= t < expired[0]]
        if swept:
            return "sweep_delete", (f"pua's sweep dropped the record at {swept[0]:.6g} s, "
                                    f"the server's publication expired at {expired[0]:.6g} s")
        return "expired_publication", f"server publication expired at {expired[0]:.6g} s"
    rounds = _in(ev.rounds_412, t0, end)
    if rounds:
        return "412_round", f"PUBLISH answered 412 at {rounds[0]:.6g} s"
    if opening is not None:
        by_dialog = _dialog_cause(opening, truth_calls or {})
        if by_dialog is not None:
            return by_dialog
        if iv["closed_by"] == "truth" and iv.get("truth_at_end") == iv["shown"]:
            return "ahead", "the lamp changed before the phones did"
        return "stale_state", "a NOTIFY carried state older than the phones'"
    return _phase(start, end, ev, notifies, closing)


def _phase(start: float, end: float, ev: _Evidence, notifies: _Sent,
           closing: dict[str, Any] | None) -> tuple[str, str]:
    """Normal propagation: the phase of phone -> edge -> PUBLISH -> server -> NOTIFY that took longest."""
    if closing is not None and not math.isnan(closing["sent"]):
        ts = closing["sent"]
        tv = max([t for t, _ in ev.server if t <= ts] or [start])
        tp = max([t for t in ev.publishes if t <= tv] or [start])
        marks = [start, max(tp, start), max(tv, start), max(ts, start), end]
    else:
        marks = [start]
        pubs = _in(ev.publishes, start, end)
        if pubs:
            marks.append(pubs[0])
            applied = [t for t, _ in ev.server if pubs[0] <= t <= end]
            if applied:
                marks.append(applied[0])
                sent = [t for t, _, _ in notifies if applied[0] <= t <= end]
                if sent:
                    marks.append(sent[0])
        marks.append(end)
    spans = [round(max(b - a, 0.0), 6) for a, b in zip(marks, marks[1:], strict=False)]
    best = max(range(len(spans)), key=lambda i: (spans[i], -i))
    text = ", ".join(f"{PHASES[i]} {spans[i] * 1000:.3f} ms" for i in range(len(spans)))
    return PHASES[best], text



def _compare(pair: tuple[str, str, str], truth: list[dict[str, Any]], seen: list[dict[str, Any]], ev: _Evidence,
             notifies: _Sent, faults: list[float], end_time: float) -> list[dict[str, Any]]:
    watcher, subscriber, ext = pair
    events: list[tuple[float, int, str, str, dict[str, Any]]] = []
    for r in truth:
        events.append((r["time"], r["seq"], "truth", r["lamp"], {}))
    for r in seen:
        events.append((r["time"], r["seq"], "notify", r["lamp"], {"sent": r["sent"], "seq": r["seq"], "calls": r["calls"]}))
    phone_of = {r["seq"]: (r["phone"], r["call_id"], r["dialog_state"]) for r in truth}
    phones: dict[tuple[str, str], str] = {}
    events.sort(key=lambda e: (e[0], e[1]))
    first = float(min(r["time"] for r in seen))
    cur_truth, cur_shown = "idle", None
    truth_since = 0.0
    out: list[dict[str, Any]] = []
    open_iv: dict[str, Any] | None = None
    opening: dict[str, Any] | None = None
    i = 0
    while i < len(events):
        t = events[i][0]
        group = []
        while i < len(events) and events[i][0] == t:
            group.append(events[i])
            i += 1
        kinds = set()
        last_notify = None
        for _t, seq, kind, lamp, extra in group:
            if kind == "truth":
                phone, call, state = phone_of[seq]
                phones[(phone, call)] = state
                if lamp != cur_truth:
                    truth_since = t
                cur_truth = lamp
            else:
                cur_shown = lamp
                last_notify = extra
            kinds.add(kind)
        if cur_shown is None or t < first:
            continue
        wrong = cur_truth != cur_shown
        if open_iv is not None and not wrong:
            closed_by = "notify" if "notify" in kinds else "truth"
            _close(open_iv, t, closed_by, cur_truth, ev, notifies, faults, opening,
                   last_notify if closed_by == "notify" else None, out)
            open_iv = None
        elif open_iv is None and wrong:
            opened_by = "truth" if "truth" in kinds and "notify" not in kinds else "notify"
            open_iv = {"watcher": watcher, "watcher_uri": subscriber, "extension": ext, "start": t, "truth": cur_truth, "shown": cur_shown,
                       "opened_by": opened_by, "truth_since": truth_since}
            opening = last_notify if opened_by == "notify" else None
            if opening is not None:
                opening = {**opening, "truth_calls": _by_call(phones)}
    if open_iv is not None:
        _close(open_iv, max(end_time, open_iv["start"]), "end", cur_truth, ev, notifies, faults, opening, None, out)
    return out


def _close(iv: dict[str, Any], t: float, closed_by: str, truth_now: str, ev: _Evidence, notifies: _Sent,
           faults: list[float], opening: dict[str, Any] | None, closing: dict[str, Any] | None,
           out: list[dict[str, Any]]) -> None:
    iv.update(end=t, duration=round(t - iv["start"], 6), closed_by=closed_by, truth_at_end=truth_now)
    since = iv.pop("truth_since")
    truth_calls = opening.get("truth_calls") if opening is not None else None
    cause, detail = _classify(iv, ev, notifies, faults, since, opening, closing, truth_calls)
    iv.pop("truth_at_end")
    iv.update(cause=cause, detail=detail)
    out.append(iv)




def _pairs(shown: list[dict[str, Any]]) -> list[tuple[tuple[str, str, str], list[dict[str, Any]]]]:
    """The shown rows by (watcher, subscriber, extension), pairs sorted, rows in their order."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in shown:
        groups.setdefault((r["watcher"], r["watcher_uri"], r["extension"]), []).append(r)
    return sorted(groups.items(), key=lambda item: item[0])


def wrong_rows(truth: list[dict[str, Any]], shown: list[dict[str, Any]], evidence: dict[str, _Evidence],
               sent: dict[tuple[str, str, str], _Sent], faults: list[float], end_time: float) -> list[dict[str, Any]]:
    """Intervals where a watcher's lamp differs from the truth: the rows of ``lamp_wrong``.

    Comparison starts at the watcher's first NOTIFY for the extension;
    events at the same instant are applied together before comparing.
    """
    by_ext: dict[str, list[dict[str, Any]]] = {}
    for r in truth:
        by_ext.setdefault(r["extension"], []).append(r)
    nothing = _Evidence([], [], [], [])
    rows: list[dict[str, Any]] = []
    for (watcher, subscriber, ext), seen in _pairs(shown):
        rows += _compare((watcher, subscriber, ext), by_ext.get(ext, []), seen, evidence.get(ext, nothing),
                         sent.get((watcher, subscriber, ext), []), faults, end_time)
    return rows


def lag_rows(truth: list[dict[str, Any]], shown: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """For every change of an extension's true lamp and every watcher of it, when the watcher saw it:
    the rows of ``lamp_lag``.

    Only changes after the watcher's first NOTIFY for the extension count.
    A change is ``superseded`` when the truth changed again before the lamp
    showed it (no lag then).  Changes at one instant count as the state
    they settled in.
    """
    rows: list[dict[str, Any]] = []
    for (watcher, subscriber, ext), seen in _pairs(shown):
        first = float(min(r["time"] for r in seen))
        changed = [r for r in truth if r["extension"] == ext and r["changed"]]
        last_at = {r["time"]: i for i, r in enumerate(changed)}
        settled = [r for i, r in enumerate(changed) if last_at[r["time"]] == i]
        changes = [r for i, r in enumerate(settled) if i == 0 or r["lamp"] != settled[i - 1]["lamp"]]
        times = [r["time"] for r in changes]
        s_times, s_lamps = [r["time"] for r in seen], [r["lamp"] for r in seen]
        for k, r in enumerate(changes):
            t, lamp = r["time"], r["lamp"]
            if t < first:
                continue
            nxt = times[k + 1] if k + 1 < len(times) else math.inf
            now_shown = [lp for st, lp in zip(s_times, s_lamps, strict=True) if st <= t]
            if now_shown and now_shown[-1] == lamp:
                shown_at = t
            else:
                later = [st for st, lp in zip(s_times, s_lamps, strict=True) if st > t and lp == lamp]
                shown_at = later[0] if later else math.nan
            superseded = not math.isnan(shown_at) and shown_at > nxt or math.isnan(shown_at) and nxt < math.inf
            if superseded:
                shown_at = math.nan
            rows.append({"watcher": watcher, "watcher_uri": subscriber, "extension": ext, "time": t, "lamp": lamp,
                         "shown_at": shown_at,
                         "lag": round(shown_at - t, 6) if not math.isnan(shown_at) else math.nan,
                         "superseded": bool(superseded)})
    return rows


def notify_faults(trace: Any) -> list[float]:
    """Times of the faults that swallow NOTIFYs (the ``lost_notify`` cause)."""
    return [rec.time / SECOND for rec in trace.iter_of(FaultInjected)
            if isinstance(rec.event, FaultInjected) and "notify" in rec.event.kind.replace("_", "-")]


# -- the evidence for the causes, read from the trace (the frames' values, without the frames) --------


def _addr(a: Any) -> str:
    try:
        return f"{a[0]}:{a[1]}"
    except (TypeError, IndexError):
        return str(a)


#: drops decided when a copy is sent (they concern the copy just sent), as in the messages frame
_SEND_TIME_DROPS = frozenset({"partition", "fault", "loss"})


def trace_evidence(trace: Any, transactions: Iterable[Any]) -> tuple[dict[str, _Evidence], dict[tuple[str, str, str], _Sent]]:
    """The evidence of every extension with ``dialog`` state and every NOTIFY transmission, from one
    pass over the trace; ``transactions`` are the client transactions in seq order (objects with
    ``method``, ``event``, ``status``, ``end``, ``presentity``, as
    :meth:`~puasim.report.running.RunningMetrics.transaction_rows` gives them).

    The same values as the frame-based evidence of :mod:`puasim.report.lamps`: PUBLISHes from
    the ``messages`` frame, 412s from ``transactions``, server changes from ``server_events``
    (its ``crashed`` rows included), sweep expiries from ``record_events``.
    """
    from puasim.report.sipinfo import event_name

    out: dict[str, _Evidence] = {}

    def get(ext: str) -> _Evidence:
        return out.setdefault(ext, _Evidence([], [], [], []))

    names: dict[str, str] = {}
    notifies: list[list[Any]] = []  # [time, dst address, subscriber, extension, dropped, reason, delivered]
    pending: dict[tuple, deque[int]] = {}
    last_publish: dict[str, Any] = {}
    pubs: dict[str, dict[tuple[str, str, str], None]] = {}
    for rec in trace.iter_of(MessageSent, MessageDuplicated, MessageDelivered, MessageDropped, NodeCrashed,
                             ServerStateChanged, RecordChanged):
        ev = rec.event
        kind = type(ev)
        t = rec.time / SECOND
        if kind is MessageSent:
            names.setdefault(_addr(ev.src), rec.node)
            msg = ev.message
            if not S.is_request(msg):
                continue
            if msg.method == "PUBLISH" and not ev.retransmission and msg.body and S.event_package(msg) == "dialog":
                get(S.presentity_of(msg)).publishes.append(t)
            elif msg.method == "NOTIFY":
                notifies.append([t, _addr(ev.dst), S.aor(S.to_uri(msg)), S.presentity_of(msg), False, "", False])
                pending.setdefault((ev.src, ev.dst, msg), deque()).append(len(notifies) - 1)
        elif kind is MessageDuplicated:
            queue = pending.get((ev.src, ev.dst, ev.message))
            if queue:
                queue.append(queue[-1])
        elif kind is MessageDelivered or kind is MessageDropped:
            if kind is MessageDelivered:
                names.setdefault(_addr(ev.dst), rec.node)
                msg = ev.message
                if S.is_request(msg) and msg.method == "PUBLISH":
                    last_publish[rec.node] = msg
            queue = pending.get((ev.src, ev.dst, ev.message))
            if not queue:
                continue
            at_send = kind is MessageDropped and ev.reason in _SEND_TIME_DROPS
            row = notifies[queue.pop() if at_send else queue.popleft()]
            if kind is MessageDelivered:
                row[4], row[5], row[6] = False, "", True
            elif not row[6]:  # a copy delivered earlier: the message was not lost
                row[4], row[5] = True, ev.reason
        elif kind is NodeCrashed:
            held = pubs.get(rec.node)
            if held is not None:
                for presentity, event, _etag in list(held):
                    if event == "dialog":
                        get(presentity).server.append((t, "crashed"))
                held.clear()
        elif kind is ServerStateChanged:
            held = pubs.setdefault(rec.node, {})
            key = (ev.presentity, ev.event, ev.etag)
            action = ev.action
            if action in ("refreshed", "modified"):
                req = last_publish.get(rec.node)
                old_key = (ev.presentity, ev.event, S.header(req, "SIP-If-Match") if req is not None else "")
                if old_key not in held:  # no request seen: the only publication of the key
                    same = [k for k in held if k[:2] == key[:2]]
                    old_key = same[0] if len(same) == 1 else old_key
                held.pop(old_key, None)
                held[key] = None
            elif action in ("removed", "expired", "forgotten"):
                held.pop(key, None)
            else:
                held.pop(key, None)
                held[key] = None
            if ev.event == "dialog":
                get(ev.presentity).server.append((t, action))
        elif kind is RecordChanged:
            if ev.kind == "publication" and ev.action == "expired" and event_name(ev.event) == "dialog":
                get(S.aor(ev.pres_uri)).sweeps.append(t)
    for tx in transactions:
        if tx.method == "PUBLISH" and tx.event == "dialog" and tx.status == 412 and tx.end == tx.end:
            get(tx.presentity).rounds_412.append(float(tx.end))
    for found in out.values():
        found.publishes.sort()
        found.rounds_412.sort()
        found.sweeps.sort()
    sent: dict[tuple[str, str, str], _Sent] = {}
    for t, dst, subscriber, ext, dropped, reason, _delivered in notifies:
        sent.setdefault((names.get(dst, dst), subscriber, ext), []).append((t, dropped, reason))
    return out, sent


@dataclass(frozen=True, slots=True)
class LampRows:
    """The four lamp tables of one trace as lists of row dicts."""

    truth: list[dict[str, Any]]
    shown: list[dict[str, Any]]
    wrong: list[dict[str, Any]]
    lag: list[dict[str, Any]]


def lamp_rows(trace: Any, transactions: Iterable[Any]) -> LampRows:
    """Every lamp table of ``trace`` without a frame; ``transactions`` as for :func:`trace_evidence`."""
    shown = shown_rows(trace)
    if not shown:  # nobody was told anything: no interval, no lag
        return LampRows(truth_rows(trace), shown, [], [])
    truth = truth_rows(trace)
    evidence, sent = trace_evidence(trace, transactions)
    end_time = trace.last_time() / SECOND
    return LampRows(truth, shown, wrong_rows(truth, shown, evidence, sent, notify_faults(trace), end_time),
                    lag_rows(truth, shown))
