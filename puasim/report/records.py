"""Record life cycles: the PUA's records and the server's publications.

``record_events``   one row per ``RecordChanged`` (the PUA's hash table / DB rows)
``records``         one row per record life: created (or restored) until
                    deleted, expired or lost in a crash
``server_events``   one row per ``ServerStateChanged``, with the entity-tag it
                    replaced and the body it holds
``server_state``    one row per server publication (an ETag chain): from its
                    creation until removed, expired or forgotten

The server's events name only the new ETag of a refresh or modify; the one it
replaced and the body are read from the PUBLISH being handled (the last
``MessageDelivered`` PUBLISH at that node).  The PUA's ``expires`` fields
are absolute epoch seconds; they become seconds of virtual time here
(``expires - epoch``).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from puasim.effects import SECOND
from puasim.report import sipinfo as S
from puasim.report.sipinfo import event_name
from puasim.trace.events import MessageDelivered, NodeCrashed, RecordChanged, ServerStateChanged
from puasim.trace.trace import Trace

RECORD_EVENT_COLUMNS: dict[str, str] = {
    "seq": "trace sequence number",
    "time": "seconds of virtual time",
    "node": "the PUA node",
    "action": "created, updated, refreshed, deleted, expired, restored",
    "kind": "publication, temporary or dialog",
    "key": "record identity: pres_uri|event|id|flag (publications), pres_uri|event|watcher|call_id (dialogs)",
    "pres_uri": "presentity URI as given to the API",
    "presentity": "sip:user@host form of pres_uri (the server's key)",
    "event": "event package name (presence, dialog, reg, ...)",
    "event_flag": "pua's numeric event flag",
    "id": "record id",
    "flag": "source flag",
    "etag": "entity-tag held after the change (before it, for deletes)",
    "expires": "record expiry, seconds of virtual time",
    "desired_expires": "desired expiry, seconds of virtual time (NaN when 0 = indefinite)",
    "version": "body version counter",
    "watcher_uri": "watcher (dialogs)",
    "call_id": "Call-ID (dialogs)",
    "reason": "why (deletes)",
}

RECORD_COLUMNS: dict[str, str] = {
    "key": "record identity (see record_events.key)",
    "node": "the PUA node",
    "kind": "publication, temporary or dialog",
    "pres_uri": "presentity URI",
    "presentity": "sip:user@host form",
    "event": "event package name",
    "start": "created or restored, seconds",
    "start_action": "created or restored",
    "end": "deleted, expired or lost (NaN while still alive at the end of the trace)",
    "end_action": "deleted, expired, lost (node crash/restart) or open",
    "end_reason": "reason given with the delete",
    "refreshes": "refresh changes (timer-driven, 2xx to a refresh)",
    "updates": "update changes (2xx to a modify/API re-publish)",
    "etags": "distinct entity-tags held",
    "last_expires": "last known expiry, seconds",
}

SERVER_EVENT_COLUMNS: dict[str, str] = {
    "seq": "trace sequence number",
    "time": "seconds of virtual time",
    "node": "server node",
    "action": "created, modified, refreshed, removed, expired, forgotten; crashed (node lost all state)",
    "presentity": "sip:user@host",
    "event": "event package",
    "etag": "entity-tag after the change (the removed one for removals)",
    "prev_etag": "entity-tag replaced by a refresh/modify ('' otherwise)",
    "expires": "state expiry, seconds of virtual time (NaN when removed)",
    "body_id": "digest of the body the publication holds after the change",
}

SERVER_STATE_COLUMNS: dict[str, str] = {
    "node": "server node",
    "presentity": "sip:user@host",
    "event": "event package",
    "start": "creation time, seconds",
    "end": "removal/expiry/loss time (NaN: alive at the end of the trace)",
    "end_action": "removed, expired, forgotten, crashed or open",
    "first_etag": "entity-tag given at creation",
    "last_etag": "entity-tag at the end",
    "refreshes": "refreshes accepted",
    "modifies": "modifies accepted",
    "bodies": "distinct bodies held over the life",
    "last_body_id": "digest of the last body held",
    "last_expires": "last expiry granted, seconds",
}

def record_key(ev: RecordChanged) -> str:
    name = event_name(ev.event)
    if ev.kind == "publication":
        return f"{ev.pres_uri}|{name}|{ev.id}|{ev.flag}"
    return f"{ev.pres_uri}|{name}|{ev.watcher_uri}|{ev.call_id}"


def _virtual(epoch_s: int, epoch: int) -> float:
    return float(epoch_s - epoch)


def record_events_frame(trace: Trace) -> pd.DataFrame:
    """One row per ``RecordChanged``; see :data:`RECORD_EVENT_COLUMNS`."""
    epoch = int(trace.meta.get("epoch", 0) or 0)
    rows = []
    for rec in trace.iter_of(RecordChanged):
        ev = rec.event
        if not isinstance(ev, RecordChanged):
            continue
        rows.append(
            {
                "seq": rec.seq,
                "time": rec.time / SECOND,
                "node": rec.node,
                "action": ev.action,
                "kind": ev.kind,
                "key": record_key(ev),
                "pres_uri": ev.pres_uri,
                "presentity": S.aor(ev.pres_uri),
                "event": event_name(ev.event),
                "event_flag": ev.event,
                "id": ev.id,
                "flag": ev.flag,
                "etag": ev.etag,
                "expires": _virtual(ev.expires, epoch),
                "desired_expires": _virtual(ev.desired_expires, epoch)
                if ev.desired_expires
                else float("nan"),
                "version": ev.version,
                "watcher_uri": ev.watcher_uri,
                "call_id": ev.call_id,
                "reason": ev.reason,
            }
        )
    return pd.DataFrame(rows, columns=list(RECORD_EVENT_COLUMNS))


def records_frame(trace: Trace, record_events: pd.DataFrame) -> pd.DataFrame:
    """One row per record life; see :data:`RECORD_COLUMNS`.

    A life starts at ``created`` or ``restored`` and ends at ``deleted``,
    ``expired``, or a ``NodeCrashed`` of the PUA node (``lost``).
    """
    crashes = [
        (rec.seq, rec.time / SECOND, rec.node)
        for rec in trace.iter_of(NodeCrashed)
    ]
    events = list(record_events.itertuples(index=False))
    merged: list[tuple[int, str, Any]] = [(e.seq, "change", e) for e in events]
    merged += [(seq, "crash", (t, node)) for seq, t, node in crashes]
    merged.sort(key=lambda x: x[0])
    live: dict[tuple[str, str], dict[str, Any]] = {}
    done: list[dict[str, Any]] = []

    def close(life: dict[str, Any], t: float, action: str, reason: str = "") -> None:
        life.update(end=t, end_action=action, end_reason=reason, etags=len(life["etags"]))
        done.append(life)

    for _seq, what, item in merged:
        if what == "crash":
            t, node = item
            for k in [k for k in live if k[0] == node]:
                close(live.pop(k), t, "lost", "node crashed")
            continue
        e = item
        k = (e.node, e.key)
        life = live.get(k)
        if e.action in ("created", "restored") or life is None:
            if life is not None:
                close(live.pop(k), e.time, "replaced")
            life = live[k] = {
                "key": e.key,
                "node": e.node,
                "kind": e.kind,
                "pres_uri": e.pres_uri,
                "presentity": e.presentity,
                "event": e.event,
                "start": e.time,
                "start_action": e.action if e.action in ("created", "restored") else "seen",
                "end": float("nan"),
                "end_action": "open",
                "end_reason": "",
                "refreshes": 0,
                "updates": 0,
                "etags": set(),
                "last_expires": e.expires,
            }
        if e.etag:
            life["etags"].add(e.etag)
        life["last_expires"] = e.expires
        if e.action == "refreshed":
            life["refreshes"] += 1
        elif e.action == "updated":
            life["updates"] += 1
        elif e.action in ("deleted", "expired"):
            close(live.pop(k), e.time, e.action, e.reason)
    for life in live.values():
        life["etags"] = len(life["etags"])
        done.append(life)
    frame = pd.DataFrame(done, columns=list(RECORD_COLUMNS))
    return frame.sort_values(["start", "key"], kind="stable").reset_index(drop=True)


def server_frames(trace: Trace) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(``server_events``, ``server_state``); see the column tables above.

    A ``NodeCrashed`` of a node that has reported server state ends all its
    publications with ``crashed`` (the simulated server keeps no state over
    a restart).
    """
    events: list[dict[str, Any]] = []
    pubs: dict[str, dict[tuple[str, str, str], dict[str, Any]]] = {}
    done: list[dict[str, Any]] = []
    last_publish: dict[str, Any] = {}

    def end(node: str, key: tuple[str, str, str], t: float, action: str) -> dict[str, Any]:
        life = pubs[node].pop(key)
        life.update(end=t, end_action=action, bodies=len(life["bodies"]))
        done.append(life)
        return life

    for rec in trace.iter_of(MessageDelivered, NodeCrashed, ServerStateChanged):
        ev = rec.event
        t = rec.time / SECOND
        if (
            isinstance(ev, MessageDelivered)
            and S.is_request(ev.message)
            and ev.message.method == "PUBLISH"
        ):
            last_publish[rec.node] = ev.message
        elif isinstance(ev, NodeCrashed) and rec.node in pubs:
            for key in list(pubs[rec.node]):
                lost = end(rec.node, key, t, "crashed")
                events.append(
                    {
                        "seq": rec.seq,
                        "time": t,
                        "node": rec.node,
                        "action": "crashed",
                        "presentity": lost["presentity"],
                        "event": lost["event"],
                        "etag": lost["last_etag"],
                        "prev_etag": "",
                        "expires": float("nan"),
                        "body_id": lost["last_body_id"],
                    }
                )
        elif isinstance(ev, ServerStateChanged):
            node_pubs = pubs.setdefault(rec.node, {})
            req = last_publish.get(rec.node)
            prev = S.header(req, "SIP-If-Match") if req is not None else ""
            body = S.body_id(req.body) if req is not None else ""
            key = (ev.presentity, ev.event, ev.etag)
            expires = ev.expires / SECOND if ev.expires else float("nan")
            action = ev.action
            prev_etag = ""
            if action in ("refreshed", "modified"):
                old_key = (ev.presentity, ev.event, prev)
                if old_key not in node_pubs:  # no request seen: the only publication of the key
                    same = [k for k in node_pubs if k[:2] == key[:2]]
                    old_key = same[0] if len(same) == 1 else old_key
                life = node_pubs.pop(old_key, None)
                prev_etag = old_key[2] if life is not None else prev
                if life is None:
                    life = _new_pub(rec.node, ev, t, body)
                if action == "refreshed":
                    life["refreshes"] += 1
                    body = life["last_body_id"]
                else:
                    life["modifies"] += 1
                life.update(last_etag=ev.etag, last_body_id=body, last_expires=expires)
                life["bodies"].add(body)
                node_pubs[key] = life
            elif action in ("removed", "expired", "forgotten"):
                if key in node_pubs:
                    body = node_pubs[key]["last_body_id"]
                    end(rec.node, key, t, action)
            else:  # created, or any action that brings state into being
                if key in node_pubs:
                    end(rec.node, key, t, "replaced")
                node_pubs[key] = _new_pub(rec.node, ev, t, body)
                node_pubs[key]["last_expires"] = expires
            events.append(
                {
                    "seq": rec.seq,
                    "time": t,
                    "node": rec.node,
                    "action": action,
                    "presentity": ev.presentity,
                    "event": ev.event,
                    "etag": ev.etag,
                    "prev_etag": prev_etag,
                    "expires": expires,
                    "body_id": body,
                }
            )
    for node_pubs in pubs.values():
        for life in node_pubs.values():
            life["bodies"] = len(life["bodies"])
            done.append(life)
    ev_frame = pd.DataFrame(events, columns=list(SERVER_EVENT_COLUMNS))
    st_frame = pd.DataFrame(done, columns=list(SERVER_STATE_COLUMNS))
    st_frame = st_frame.sort_values(["start", "presentity"], kind="stable").reset_index(drop=True)
    return ev_frame, st_frame


def _new_pub(node: str, ev: ServerStateChanged, t: float, body: str) -> dict[str, Any]:
    return {
        "node": node,
        "presentity": ev.presentity,
        "event": ev.event,
        "start": t,
        "end": float("nan"),
        "end_action": "open",
        "first_etag": ev.etag,
        "last_etag": ev.etag,
        "refreshes": 0,
        "modifies": 0,
        "bodies": {body},
        "last_body_id": body,
        "last_expires": float("nan"),
    }
