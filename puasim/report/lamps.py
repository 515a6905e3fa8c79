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
The rules themselves run on plain rows in :mod:`puasim.report.lamprows`;
this module turns the rows into frames and gathers the evidence from the
report's frames.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from puasim.report import sipinfo as S
from puasim.report.causes import CAUSES
from puasim.report.lamprows import (
    LAMPS,
    _Evidence,
    _Sent,
    lag_rows,
    lamp_of,
    notify_faults,
    read_dialogs,
    shown_rows,
    truth_rows,
    wrong_rows,
)

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



def lamp_truth(data: Any) -> pd.DataFrame:
    """The phones' call states per extension; see :data:`TRUTH_COLUMNS`."""
    return pd.DataFrame(truth_rows(data.trace), columns=list(TRUTH_COLUMNS))


def lamp_shown(data: Any) -> pd.DataFrame:
    """What every ``dialog`` NOTIFY told a watching phone; see :data:`SHOWN_COLUMNS`.

    A NOTIFY with a ``full`` document replaces the watcher's dialogs, a
    ``partial`` one updates them by dialog id (RFC 4235 §4.1); a NOTIFY
    without body (the server holds no state) leaves none.  Copies of a
    NOTIFY already applied (same branch) are skipped; versions are not
    compared, because each pua record numbers its own documents.
    """
    rows = shown_rows(data.trace)
    for row in rows:
        if row["version"] is None:
            row["version"] = pd.NA
    frame = pd.DataFrame(rows, columns=list(SHOWN_COLUMNS))
    frame["version"] = frame["version"].astype("Int64")
    return frame


# -- wrong intervals and their causes ----------------------------------------------------


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



def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return frame.to_dict("records") if len(frame) else []


def lamp_wrong(data: Any, truth: pd.DataFrame | None = None, shown: pd.DataFrame | None = None) -> pd.DataFrame:
    """Intervals where a watcher's lamp differs from the truth; see :data:`WRONG_COLUMNS`.

    Comparison starts at the watcher's first NOTIFY for the extension;
    events at the same instant are applied together before comparing.
    """
    truth = lamp_truth(data) if truth is None else truth
    shown = lamp_shown(data) if shown is None else shown
    sent = _notifies(data) if len(shown) else {}
    evidence = _evidence(data) if len(shown) else {}
    rows = wrong_rows(_records(truth), _records(shown), evidence, sent, notify_faults(data.trace), data.end_time)
    return pd.DataFrame(rows, columns=list(WRONG_COLUMNS))


def lamp_lag(data: Any, truth: pd.DataFrame | None = None, shown: pd.DataFrame | None = None) -> pd.DataFrame:
    """For every change of an extension's true lamp and every watcher of it, when the watcher saw it.

    See :data:`LAG_COLUMNS`.  Only changes after the watcher's first NOTIFY
    for the extension count.  A change is ``superseded`` when the truth
    changed again before the lamp showed it (no lag then).
    """
    truth = lamp_truth(data) if truth is None else truth
    shown = lamp_shown(data) if shown is None else shown
    return pd.DataFrame(lag_rows(_records(truth), _records(shown)), columns=list(LAG_COLUMNS))




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
