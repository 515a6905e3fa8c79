"""Busy-lamp-field (BLF) accuracy: the phones' true call state against what each watcher was NOTIFYed.

=================  ============================================================
frame              one row per
=================  ============================================================
``lamp_truth``     call state change of a phone (its ``call <id>: <state>``
                   Note), with the extension's lamp after it
``lamp_shown``     ``dialog`` NOTIFY a watching phone received, with the lamp
                   it shows after it
``lamp_wrong``     maximal interval in which a watcher's lamp for an
                   extension differs from the truth, with its cause
``lamp_lag``       change of an extension's true lamp, per watcher: when the
                   watcher's lamp showed it
=================  ============================================================

The lamp (RFC 4235 §3.7.1 states aggregated as a BLF key shows them): an
extension is ``busy`` when any of its dialogs is ``confirmed``, else
``ringing`` when any is ``early``, else ``idle`` (``trying``,
``proceeding``, ``terminated`` and no dialog at all).  The same rule reads
the phones' own states (truth) and the dialog-info documents of the NOTIFYs
(shown).  RFC 4235 leaves aggregating several dialogs to the watcher
(Kamailio's presence_dialoginfo passes them all on, and only with
``force_single_dialog`` picks one, preferring early over confirmed).

Everything is read from the trace: the phones' state Notes
(:mod:`puasim.phones.calls`), the INVITEs that tell which AOR a call
belongs to (caller: From URI; callee: To URI, the entity pua_dialoginfo
publishes for, pua-reference §9.4.2), the NOTIFYs delivered to phones, and
for the causes the ``messages``, ``server_events`` and ``record_events``
frames.  Definitions and the cause rules: ``docs/metrics.md``, "Busy lamps".
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from puasim.bodies.errors import BodyError
from puasim.bodies.xml import parse_xml
from puasim.effects import SECOND
from puasim.report import sipinfo as S
from puasim.report.causes import CAUSES
from puasim.trace.events import FaultInjected, MessageDelivered, MessageSent, Note

LAMPS = ("idle", "ringing", "busy")
#: the phone's call states (puasim.phones.calls) as RFC 4235 §3.7.1 dialog states
PHONE_STATES = {"calling": "trying", "ringing": "trying", "early": "early", "confirmed": "confirmed",
                "terminated": "terminated"}
PHASES = ("not_published", "publish_in_flight", "server_delay", "notify_in_flight")

_NOTE = re.compile(r"^(?P<phone>[^:]+): call (?P<call>\S+): (?P<state>calling|ringing|early|confirmed|terminated)\b")

TRUTH_COLUMNS: dict[str, str] = {
    "seq": "trace sequence number of the phone's state Note",
    "time": "seconds of virtual time",
    "extension": "sip:user@host the call belongs to (caller: From, callee: To of the INVITE)",
    "phone": "the phone node whose state changed",
    "call_id": "Call-ID of the call",
    "call_state": "the phone's call state (calling, ringing, early, confirmed, terminated)",
    "dialog_state": "that state as an RFC 4235 dialog state (trying, early, confirmed, terminated)",
    "dialogs": "the extension's dialogs not terminated after the change",
    "lamp": "the extension's true lamp after the change: idle, ringing or busy",
    "changed": "the lamp differs from before the change",
}

SHOWN_COLUMNS: dict[str, str] = {
    "seq": "trace sequence number of the NOTIFY's delivery",
    "time": "delivery time, seconds",
    "sent": "time the NOTIFY's first transmission left the server",
    "watcher": "the node that received it (a watching phone)",
    "watcher_uri": "sip:user@host of the subscriber (the NOTIFY's To URI)",
    "extension": "sip:user@host the NOTIFY is about (its From URI)",
    "sub_state": "Subscription-State value (active, pending, terminated)",
    "doc_state": "dialog-info state attribute (full, partial), none without a body, unreadable",
    "version": "dialog-info version (NA without a body)",
    "dialogs": "dialog id:state pairs the watcher holds after it, comma-separated",
    "calls": "call-id:state of those dialogs that carry a call-id attribute, comma-separated",
    "lamp": "the lamp the watcher shows after it",
    "changed": "the lamp differs from before (true for the first NOTIFY of a watcher and extension)",
}

WRONG_COLUMNS: dict[str, str] = {
    "watcher": "the watching node (a phone, or `pua` for watchers subscribed through pua)",
    "watcher_uri": "sip:user@host of the subscriber",
    "extension": "sip:user@host watched",
    "start": "interval start, seconds",
    "end": "interval end, seconds (the end of the trace when still wrong)",
    "duration": "end - start, seconds",
    "truth": "true lamp at the start",
    "shown": "lamp shown at the start",
    "opened_by": "truth (the phones changed) or notify (a NOTIFY changed the lamp)",
    "closed_by": "notify, truth or end",
    "cause": "why the lamp was wrong (docs/metrics.md, Busy lamps: causes)",
    "detail": "the evidence the cause was read from",
}

LAG_COLUMNS: dict[str, str] = {
    "watcher": "the watching node (a phone, or `pua` for watchers subscribed through pua)",
    "watcher_uri": "sip:user@host of the subscriber",
    "extension": "sip:user@host watched",
    "time": "time the true lamp changed, seconds",
    "lamp": "the new true lamp",
    "shown_at": "time the watcher's lamp first showed it (NaN: superseded or never)",
    "lag": "shown_at - time, seconds (0 when the lamp already showed it)",
    "superseded": "the truth changed again before the lamp showed this state",
}

LAMP_COLUMNS = {"lamp_truth": TRUTH_COLUMNS, "lamp_shown": SHOWN_COLUMNS, "lamp_wrong": WRONG_COLUMNS,
                "lamp_lag": LAG_COLUMNS}


def lamp_of(states: Iterable[str]) -> str:
    """The lamp of a set of RFC 4235 dialog states: busy > ringing > idle (module docstring)."""
    seen = {s.lower() for s in states}
    if "confirmed" in seen:
        return "busy"
    if "early" in seen:
        return "ringing"
    return "idle"


def lamp_truth(data: Any) -> pd.DataFrame:
    """The phones' call states per extension; see :data:`TRUTH_COLUMNS`."""
    entity: dict[tuple[str, str], str] = {}
    rows: list[dict[str, Any]] = []
    calls: dict[str, dict[tuple[str, str], str]] = {}
    for rec in data.trace.iter_of(MessageSent, MessageDelivered, Note):
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
    return pd.DataFrame(rows, columns=list(TRUTH_COLUMNS))


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


def lamp_shown(data: Any) -> pd.DataFrame:
    """What every ``dialog`` NOTIFY told a watching phone; see :data:`SHOWN_COLUMNS`.

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
    for rec in data.trace.iter_of(MessageSent, MessageDelivered):
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
                     "doc_state": doc, "version": pd.NA if version is None else version,
                     "dialogs": ",".join(f"{i}:{s}" for i, s in dialogs.items()),
                     "calls": ",".join(f"{c}:{dialogs[i]}" for i, c in callids.items() if i in dialogs),
                     "lamp": lamp, "changed": lamp != before})
        last[key] = lamp
    frame = pd.DataFrame(rows, columns=list(SHOWN_COLUMNS))
    frame["version"] = frame["version"].astype("Int64")
    return frame


# -- wrong intervals and their causes ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Evidence:
    """What happened around one extension, as sorted arrays of times."""

    publishes: list[float]        # PUBLISHes with a body for the extension (first transmissions)
    rounds_412: list[float]       # 412s to PUBLISHes for it reaching the PUA
    server: list[tuple[float, str]]  # server_events (time, action)
    sweeps: list[float]           # the PUA's publication records for it expired by the sweep


def _evidence(data: Any) -> dict[str, _Evidence]:
    """The evidence of every extension with ``dialog`` state, from the frames (one pass each)."""
    m = data.messages
    pub = m.loc[(m["method"] == "PUBLISH") & (m["event"] == "dialog") & (m["kind"] == "request")
                & ~m["retransmission"].astype(bool) & (m["body_size"] > 0), ["presentity", "time"]]
    tx = data.transactions
    r412 = tx.loc[(tx["method"] == "PUBLISH") & (tx["event"] == "dialog") & (tx["status"] == 412),
                  ["presentity", "end"]].dropna()
    se = data.server_events
    se = se.loc[se["event"] == "dialog", ["presentity", "time", "action"]]
    re_ = data.record_events
    re_ = re_.loc[(re_["kind"] == "publication") & (re_["event"] == "dialog") & (re_["action"] == "expired"),
                  ["presentity", "time"]]
    out: dict[str, _Evidence] = {}

    def get(ext: Any) -> _Evidence:
        return out.setdefault(str(ext), _Evidence([], [], [], []))

    for ext, t in zip(pub["presentity"], pub["time"], strict=True):
        get(ext).publishes.append(float(t))
    for ext, t in zip(r412["presentity"], r412["end"], strict=True):
        get(ext).rounds_412.append(float(t))
    for ext, t, action in zip(se["presentity"], se["time"], se["action"], strict=True):
        get(ext).server.append((float(t), str(action)))
    for ext, t in zip(re_["presentity"], re_["time"], strict=True):
        get(ext).sweeps.append(float(t))
    for ev in out.values():
        ev.publishes.sort()
        ev.rounds_412.sort()
        ev.sweeps.sort()
    return out


#: NOTIFY transmissions to one subscriber about one extension: (time sent, lost, drop reason), in time order
_Sent = list[tuple[float, bool, str]]


def _notifies(data: Any) -> dict[tuple[str, str, str], _Sent]:
    """Every NOTIFY transmission by (receiving node, subscriber AOR, extension)."""
    m = data.messages
    m = m.loc[(m["method"] == "NOTIFY") & (m["kind"] == "request"),
              ["time", "dst_node", "to", "presentity", "dropped", "drop_reason"]]
    out: dict[tuple[str, str, str], _Sent] = {}
    for t, node, to, ext, dropped, reason in zip(m["time"], m["dst_node"], m["to"], m["presentity"], m["dropped"],
                                                 m["drop_reason"], strict=True):
        out.setdefault((str(node), S.aor(str(to)), str(ext)), []).append((float(t), bool(dropped), str(reason)))
    return out


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


def lamp_wrong(data: Any, truth: pd.DataFrame | None = None, shown: pd.DataFrame | None = None) -> pd.DataFrame:
    """Intervals where a watcher's lamp differs from the truth; see :data:`WRONG_COLUMNS`.

    Comparison starts at the watcher's first NOTIFY for the extension;
    events at the same instant are applied together before comparing.
    """
    truth = lamp_truth(data) if truth is None else truth
    shown = lamp_shown(data) if shown is None else shown
    faults = [rec.time / SECOND for rec in data.trace.iter_of(FaultInjected)
              if isinstance(rec.event, FaultInjected) and "notify" in rec.event.kind.replace("_", "-")]
    rows: list[dict[str, Any]] = []
    sent = _notifies(data) if len(shown) else {}
    evidence = _evidence(data) if len(shown) else {}
    nothing = _Evidence([], [], [], [])
    for (watcher, subscriber, ext), seen in shown.groupby(["watcher", "watcher_uri", "extension"], sort=True):
        ev = evidence.get(ext, nothing)
        t_rows = truth[truth["extension"] == ext]
        rows += _compare((watcher, subscriber, ext), t_rows, seen, ev, sent.get((watcher, subscriber, ext), []),
                         faults, data.end_time)
    return pd.DataFrame(rows, columns=list(WRONG_COLUMNS))


def _compare(pair: tuple[str, str, str], truth: pd.DataFrame, seen: pd.DataFrame, ev: _Evidence,
             notifies: _Sent, faults: list[float], end_time: float) -> list[dict[str, Any]]:
    watcher, subscriber, ext = pair
    events: list[tuple[float, int, str, str, dict[str, Any]]] = []
    for r in truth.itertuples(index=False):
        events.append((r.time, r.seq, "truth", r.lamp, {}))
    for r in seen.itertuples(index=False):
        events.append((r.time, r.seq, "notify", r.lamp, {"sent": r.sent, "seq": r.seq, "calls": r.calls}))
    phone_of = {r.seq: (r.phone, r.call_id, r.dialog_state) for r in truth.itertuples(index=False)}
    phones: dict[tuple[str, str], str] = {}
    events.sort(key=lambda e: (e[0], e[1]))
    first = float(seen["time"].min())
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


def lamp_lag(data: Any, truth: pd.DataFrame | None = None, shown: pd.DataFrame | None = None) -> pd.DataFrame:
    """For every change of an extension's true lamp and every watcher of it, when the watcher saw it.

    See :data:`LAG_COLUMNS`.  Only changes after the watcher's first NOTIFY
    for the extension count.  A change is ``superseded`` when the truth
    changed again before the lamp showed it (no lag then).
    """
    truth = lamp_truth(data) if truth is None else truth
    shown = lamp_shown(data) if shown is None else shown
    rows: list[dict[str, Any]] = []
    for (watcher, subscriber, ext), seen in shown.groupby(["watcher", "watcher_uri", "extension"], sort=True):
        first = float(seen["time"].min())
        changes = truth[(truth["extension"] == ext) & truth["changed"]]
        changes = changes[~changes["time"].duplicated(keep="last")]  # same instant: the state it settled in
        changes = changes[changes["lamp"] != changes["lamp"].shift()]
        times = list(changes["time"])
        s_times, s_lamps = list(seen["time"]), list(seen["lamp"])
        for k, (t, lamp) in enumerate(zip(changes["time"], changes["lamp"], strict=True)):
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
            rows.append({"watcher": watcher, "watcher_uri": subscriber, "extension": ext, "time": t, "lamp": lamp, "shown_at": shown_at,
                         "lag": round(shown_at - t, 6) if not math.isnan(shown_at) else math.nan,
                         "superseded": bool(superseded)})
    return pd.DataFrame(rows, columns=list(LAG_COLUMNS))


def lag_percentiles(lag: pd.DataFrame, by: str | list[str] | None = "watcher",
                    q: tuple[int, ...] = (50, 90, 99)) -> pd.DataFrame:
    """Lamp lag percentiles (seconds) per ``by`` (a column or columns of ``lamp_lag``; None: the run)."""
    import numpy as np

    keys = [] if by is None else [by] if isinstance(by, str) else list(by)
    groups: list[tuple[Any, pd.DataFrame]] = [(("all",), lag)] if not keys else [
        (name if isinstance(name, tuple) else (name,), g) for name, g in lag.groupby(keys, sort=True)]
    rows = []
    for name, g in groups:
        vals = g["lag"].dropna().to_numpy(dtype=float)
        row: dict[str, Any] = dict(zip(keys or ["group"], name, strict=True))
        row.update(changes=len(g), shown=len(vals), superseded=int(g["superseded"].sum()))
        for p in q:
            row[f"p{p}_s"] = float(np.percentile(vals, p)) if len(vals) else math.nan
        row["max_s"] = float(vals.max()) if len(vals) else math.nan
        row["mean_s"] = float(vals.mean()) if len(vals) else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


@dataclass(slots=True)
class LampFrames:
    """The four lamp frames of one trace, computed once."""

    truth: pd.DataFrame
    shown: pd.DataFrame
    wrong: pd.DataFrame
    lag: pd.DataFrame

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"lamp_truth": self.truth, "lamp_shown": self.shown, "lamp_wrong": self.wrong, "lamp_lag": self.lag}

    @property
    def empty(self) -> bool:
        return self.shown.empty


def lamps(data: Any) -> LampFrames:
    """Every lamp frame of ``data`` (a :class:`~puasim.report.frames.ReportData`)."""
    m = data.messages
    if not ((m["method"] == "NOTIFY") & (m["event"] == "dialog")).any():  # nobody watches: no pass over the trace
        empty = {name: pd.DataFrame(columns=list(cols)) for name, cols in LAMP_COLUMNS.items()}
        return LampFrames(empty["lamp_truth"], empty["lamp_shown"], empty["lamp_wrong"], empty["lamp_lag"])
    truth, shown = lamp_truth(data), lamp_shown(data)
    return LampFrames(truth, shown, lamp_wrong(data, truth, shown), lamp_lag(data, truth, shown))


def lamp_summary(frames: LampFrames, end_time: float) -> dict[str, Any]:
    """Headline BLF numbers: watched pairs, wrong intervals and time, lag percentiles (docs/metrics.md)."""
    import numpy as np

    shown, wrong, lag = frames.shown, frames.wrong, frames.lag
    pairs = (shown.groupby(["watcher", "watcher_uri", "extension"])["time"].min() if len(shown)
             else pd.Series(dtype=float))
    watched = float(sum(max(end_time - t, 0.0) for t in pairs))
    wrong_s = float(wrong["duration"].sum()) if len(wrong) else 0.0
    vals = lag["lag"].dropna().to_numpy(dtype=float)

    def pct(p: float) -> float:
        return float(np.percentile(vals, p)) if len(vals) else math.nan

    return {
        "lamp_pairs": len(pairs),
        "lamp_changes": len(lag),
        "lamp_wrong": len(wrong),
        "lamp_wrong_s": round(wrong_s, 6),
        "lamp_wrong_share": wrong_s / watched if watched > 0 else math.nan,
        "lamp_longest_wrong_s": float(wrong["duration"].max()) if len(wrong) else 0.0,
        "lamp_lag_p50_s": pct(50),
        "lamp_lag_p90_s": pct(90),
        "lamp_lag_p99_s": pct(99),
        "lamp_lag_max_s": float(vals.max()) if len(vals) else math.nan,
        "lamp_superseded": int(lag["superseded"].sum()) if len(lag) else 0,
    }


__all__ = ["CAUSES", "LAMPS", "LAMP_COLUMNS", "LampFrames", "lag_percentiles", "lamp_lag", "lamp_of",
           "lamp_shown", "lamp_summary", "lamp_truth", "lamp_wrong", "lamps", "read_dialogs"]
