"""Coverage: what the server holds for each presentity compared with what the PUA believes.

For every (presentity, event) the trace is cut into intervals of constant
state (see ``docs/metrics.md``, "Presence gaps"):

``ok``      the PUA holds a publication record and every publication the
            server holds carries the PUA's latest body
``none``    the PUA holds a publication record, the server holds nothing
``stale``   the PUA holds a publication record and the server holds at least
            one publication whose body is not the latest body the PUA sent
``orphan``  the server holds state the PUA holds no record for
``idle``    neither holds anything

"The PUA's latest body" is the body of the last PUBLISH carrying a body that
the PUA sent for the presentity and event (retransmissions aside), whatever
its outcome.  Bodies are compared by content digest.  ``none`` and ``stale``
are the *presence gaps*.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from puasim.trace.events import NodeCrashed
from puasim.trace.trace import Trace

COVERAGE_COLUMNS: dict[str, str] = {
    "presentity": "sip:user@host",
    "event": "event package",
    "start": "interval start, seconds",
    "end": "interval end, seconds",
    "duration": "end - start, seconds",
    "state": "ok, none, stale, orphan or idle",
    "pua_records": "publication records the PUA holds",
    "server_pubs": "publications the server holds",
    "server_bodies": "digests of the bodies the server holds at the start (comma-separated)",
    "latest_body": "digest of the PUA's latest body at the start ('' when none seen)",
    "opened_by": "what started the interval (e.g. server:expired, pua:restored, publish:body)",
}

GAP_STATES = ("none", "stale")
#: an interval ends when one of these changes (bodies are those at its start)
_SPLIT = ("state", "pua_records", "server_pubs")


def _state(pua: set, srv: dict[str, str], latest: str) -> str:
    if pua:
        if not srv:
            return "none"
        if latest and any(body and body != latest for body in srv.values()):
            return "stale"
        return "ok"
    return "orphan" if srv else "idle"


def coverage_frame(
    trace: Trace,
    messages: pd.DataFrame,
    record_events: pd.DataFrame,
    server_events: pd.DataFrame,
    end_time: float,
) -> pd.DataFrame:
    """Intervals of constant state per (presentity, event); see :data:`COVERAGE_COLUMNS`."""
    items: list[tuple[int, str, Any]] = []
    pubs = record_events[record_events["kind"] == "publication"]
    pua_nodes = set(record_events["node"])
    items += [(r.seq, "pua", r) for r in pubs.itertuples(index=False)]
    items += [(r.seq, "server", r) for r in server_events.itertuples(index=False)]
    sent = messages[
        (messages["kind"] == "request")
        & (messages["method"] == "PUBLISH")
        & ~messages["retransmission"]
        & (messages["body_id"] != "")
    ]
    items += [(r.seq, "publish", r) for r in sent.itertuples(index=False)]
    items += [
        (rec.seq, "crash", rec)
        for rec in trace.iter_of(NodeCrashed)
        if rec.node in pua_nodes
    ]
    items.sort(key=lambda x: x[0])

    from puasim.report.sipinfo import aor

    pua: dict[tuple[str, str], set[tuple[str, str]]] = {}
    srv: dict[tuple[str, str], dict[str, str]] = {}
    latest: dict[tuple[str, str], str] = {}
    current: dict[tuple[str, str], dict[str, Any]] = {}
    rows: list[dict[str, Any]] = []

    def update(k: tuple[str, str], t: float, why: str) -> None:
        p, s, lb = pua.get(k, set()), srv.get(k, {}), latest.get(k, "")
        snap = {
            "state": _state(p, s, lb),
            "pua_records": len(p),
            "server_pubs": len(s),
            "server_bodies": ",".join(sorted(set(s.values()))),
            "latest_body": lb,
        }
        cur = current.get(k)
        if cur is not None and all(cur[c] == snap[c] for c in _SPLIT):
            return
        if cur is not None:
            cur["end"] = t
            rows.append(cur)
        current[k] = {
            "presentity": k[0],
            "event": k[1],
            "start": t,
            "end": float("nan"),
            **snap,
            "opened_by": why,
        }

    for _seq, what, r in items:
        if what == "crash":
            t = r.time / 1e6
            for k, held in pua.items():
                lost = {x for x in held if x[0] == r.node}
                if lost:
                    held -= lost
                    update(k, t, f"{r.node}:crashed")
            continue
        if what == "pua":
            k = (r.presentity, r.event)
            held = pua.setdefault(k, set())
            if r.action in ("deleted", "expired"):
                held.discard((r.node, r.key))
            else:
                held.add((r.node, r.key))
            update(k, r.time, f"{r.node}:{r.action}")
        elif what == "server":
            k = (r.presentity, r.event)
            held_s = srv.setdefault(k, {})
            if r.action in ("removed", "expired", "forgotten", "crashed"):
                held_s.pop(r.etag, None)
            else:
                if r.prev_etag:
                    held_s.pop(r.prev_etag, None)
                held_s[r.etag] = r.body_id
            update(k, r.time, f"{r.node}:{r.action}")
        else:
            k = (aor(r.ruri), r.event)
            latest[k] = r.body_id
            update(k, r.time, f"publish:{r.op or 'body'}")
    for cur in current.values():
        cur["end"] = max(end_time, cur["start"])
        rows.append(cur)
    frame = pd.DataFrame(rows, columns=[c for c in COVERAGE_COLUMNS if c != "duration"])
    frame.insert(4, "duration", (frame["end"] - frame["start"]).round(6))
    frame = frame[frame["duration"] > 0]
    frame = _merge_adjacent(frame)
    return frame.sort_values(["presentity", "event", "start"], kind="stable").reset_index(drop=True)


def _merge_adjacent(frame: pd.DataFrame) -> pd.DataFrame:
    """Join neighbouring intervals whose state and counts are equal (after zero-length ones went)."""
    same = ["presentity", "event", *_SPLIT]
    out: list[dict[str, Any]] = []
    for row in frame.sort_values(["presentity", "event", "start"], kind="stable").to_dict(
        "records"
    ):
        prev = out[-1] if out else None
        if (
            prev is not None
            and all(prev[c] == row[c] for c in same)
            and prev["end"] == row["start"]
        ):
            prev["end"] = row["end"]
            prev["duration"] = round(prev["end"] - prev["start"], 6)
        else:
            out.append(row)
    return pd.DataFrame(out, columns=list(COVERAGE_COLUMNS))


def gaps_frame(coverage: pd.DataFrame, min_duration: float = 0.0) -> pd.DataFrame:
    """The presence gaps: maximal runs of coverage intervals in state ``none`` or ``stale``.

    Neighbouring intervals of one key in the same gap state are joined (the
    server may stay empty while the PUA sends new bodies); a ``none`` run
    followed by a ``stale`` run stays two gaps.  ``min_duration`` (seconds)
    leaves out shorter gaps, e.g. the network transit of a modify (the server
    is stale until it arrives).  Columns: those of the coverage frame.
    """
    cov = coverage[coverage["state"].isin(GAP_STATES)].sort_values(
        ["presentity", "event", "start"], kind="stable"
    )
    out: list[dict[str, Any]] = []
    for row in cov.to_dict("records"):
        prev = out[-1] if out else None
        if (
            prev is not None
            and prev["end"] == row["start"]
            and prev["state"] == row["state"]
            and prev["presentity"] == row["presentity"]
            and prev["event"] == row["event"]
        ):
            prev.update(
                end=row["end"],
                duration=round(row["end"] - prev["start"], 6),
                pua_records=row["pua_records"],
                server_pubs=row["server_pubs"],
                server_bodies=row["server_bodies"],
                latest_body=row["latest_body"],
            )
        else:
            out.append(row)
    gaps = pd.DataFrame(out, columns=list(COVERAGE_COLUMNS))
    gaps = gaps[gaps["duration"] >= min_duration]
    return gaps.sort_values(["start", "presentity", "event"], kind="stable").reset_index(drop=True)
