"""Derived metrics over the frames of a :class:`~puasim.report.frames.ReportData`.

Each function takes a ``ReportData`` and returns a DataFrame (or, for
:func:`summary`, a dict).  Definitions are in ``docs/metrics.md``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from puasim.report.coverage import gaps_frame

if TYPE_CHECKING:
    from puasim.report.frames import ReportData

LEAD_COLUMNS: dict[str, str] = {
    "seq": "sequence number of the refresh request",
    "time": "time the refresh left (first transmission), seconds",
    "node": "sending node",
    "method": "PUBLISH or SUBSCRIBE",
    "presentity": "sip:user@host",
    "event": "event package",
    "etag": "SIP-If-Match of the refresh ('' for SUBSCRIBE)",
    "record_expires": "the PUA record's expiry when the refresh left, seconds (NaN: unknown)",
    "lead": "record_expires - time, seconds (negative: the refresh left after expiry)",
    "server_expires": "the server's expiry of that ETag when the refresh left (NaN: not held)",
    "server_lead": "server_expires - time, seconds",
    "status": "final status of the refresh",
    "outcome": "transaction outcome",
}

ROUND_COLUMNS: dict[str, str] = {
    "seq": "sequence number of the PUBLISH answered 412",
    "time": "time that PUBLISH left",
    "answered": "time the 412 reached the PUA",
    "node": "the PUA node",
    "presentity": "sip:user@host",
    "event": "event package",
    "op": "refresh, modify or remove",
    "if_match": "the unknown ETag",
    "recovered": "time a later PUBLISH for the key got a 2xx (NaN: never in the trace)",
    "recovery": "recovered - answered, seconds",
    "attempts": "PUBLISH transactions after the 412 up to and including the 2xx",
}


def refresh_lead_times(data: ReportData, ops: tuple[str, ...] = ("refresh",)) -> pd.DataFrame:
    """How long before expiry each refresh left; see :data:`LEAD_COLUMNS`.

    One row per client transaction whose ``op`` is in ``ops`` (PUBLISH
    refresh: SIP-If-Match and no body; SUBSCRIBE refresh: in-dialog).  The
    record is the PUA record holding the If-Match ETag (PUBLISH) or the
    Call-ID (SUBSCRIBE) in its latest ``RecordChanged`` before the refresh.
    """
    tx = data.transactions
    tx = tx[tx["op"].isin(ops) & tx["method"].isin(["PUBLISH", "SUBSCRIBE"])]
    rec_by_etag: dict[str, list[tuple[int, float]]] = {}
    rec_by_call: dict[str, list[tuple[int, float]]] = {}
    for r in data.record_events.itertuples(index=False):
        if r.etag and r.kind == "publication":
            rec_by_etag.setdefault(r.etag, []).append((r.seq, r.expires))
        if r.call_id and r.kind != "publication":
            rec_by_call.setdefault(r.call_id, []).append((r.seq, r.expires))
    srv_by_etag: dict[str, list[tuple[int, float]]] = {}
    for r in data.server_events.itertuples(index=False):
        if r.etag:
            gone = r.action in ("removed", "expired", "forgotten", "crashed")
            srv_by_etag.setdefault(r.etag, []).append((r.seq, float("nan") if gone else r.expires))

    def before(hist: list[tuple[int, float]] | None, seq: int) -> float:
        best = float("nan")
        for s, value in hist or ():
            if s < seq:
                best = value
        return best

    rows = []
    for t in tx.itertuples(index=False):
        if t.method == "PUBLISH":
            rexp = before(rec_by_etag.get(t.if_match), t.seq)
            sexp = before(srv_by_etag.get(t.if_match), t.seq)
        else:
            rexp, sexp = before(rec_by_call.get(t.call_id), t.seq), float("nan")
        rows.append(
            {
                "seq": t.seq,
                "time": t.start,
                "node": t.node,
                "method": t.method,
                "presentity": t.presentity,
                "event": t.event,
                "etag": t.if_match if t.method == "PUBLISH" else "",
                "record_expires": rexp,
                "lead": round(rexp - t.start, 6),
                "server_expires": sexp,
                "server_lead": round(sexp - t.start, 6),
                "status": t.status,
                "outcome": t.outcome,
            }
        )
    frame = pd.DataFrame(rows, columns=list(LEAD_COLUMNS))
    frame["status"] = frame["status"].astype("Int64")
    return frame


def rounds_412(data: ReportData) -> pd.DataFrame:
    """Every PUBLISH answered 412 and how the key recovered; see :data:`ROUND_COLUMNS`.

    A *412 round* is one conditional PUBLISH answered 412 Conditional Request
    Failed (RFC 3903 §6 step 3: the server does not know the ETag).  The key
    counts as recovered at the end of the next PUBLISH transaction of the
    same node, presentity and event that got a 2xx.
    """
    tx = data.transactions
    pub = tx[tx["method"] == "PUBLISH"].sort_values("seq", kind="stable")
    cols = ["node", "presentity", "event"]
    # only the keys that got a 412 are walked (turning every key's rows into tuples was
    # most of the time this took, and most keys never see a 412)
    rejected = (pub["status"] == 412).fillna(False).to_numpy(dtype=bool)
    keys = pd.MultiIndex.from_frame(pub[cols])
    pub = pub[keys.isin(keys[rejected])]
    rows = []
    for key, group in pub.groupby(cols, sort=False):
        g = list(group.itertuples(index=False))
        for i, t in enumerate(g):
            if t.status is pd.NA or t.status != 412:
                continue
            recovered, attempts = float("nan"), 0
            for later in g[i + 1 :]:
                attempts += 1
                if later.outcome == "success":
                    recovered = later.end
                    break
            else:
                attempts = len(g) - i - 1
            rows.append(
                {
                    "seq": t.seq,
                    "time": t.start,
                    "answered": t.end,
                    "node": key[0],
                    "presentity": key[1],
                    "event": key[2],
                    "op": t.op,
                    "if_match": t.if_match,
                    "recovered": recovered,
                    "recovery": round(recovered - t.end, 6),
                    "attempts": attempts,
                }
            )
    frame = pd.DataFrame(rows, columns=list(ROUND_COLUMNS))
    return frame.sort_values("seq", kind="stable").reset_index(drop=True)


def rounds_per_publication(data: ReportData) -> pd.DataFrame:
    """Per (node, presentity, event): PUBLISH transactions, 412 rounds, recovered rounds."""
    tx = data.transactions
    pub = tx[tx["method"] == "PUBLISH"]
    rounds = rounds_412(data)
    cols = ["node", "presentity", "event"]
    base = pub.groupby(cols, sort=True).size().rename("publishes").reset_index()
    if rounds.empty:
        base["rounds_412"] = 0
        base["recovered"] = 0
        base["mean_recovery"] = float("nan")
        return base
    agg = (
        rounds.groupby(cols)
        .agg(
            rounds_412=("seq", "size"),
            recovered=("recovered", "count"),
            mean_recovery=("recovery", "mean"),
        )
        .reset_index()
    )
    out = base.merge(agg, on=cols, how="left")
    out["rounds_412"] = out["rounds_412"].fillna(0).astype(int)
    out["recovered"] = out["recovered"].fillna(0).astype(int)
    return out


def load_curve(
    data: ReportData,
    bin_s: float = 1.0,
    by: str | None = "method",
    requests_only: bool = True,
    start: float | None = None,
    end: float | None = None,
) -> pd.DataFrame:
    """Messages per second over time, as a tidy frame (``time``, ``series``, ``messages``, ``rate``).

    Transmissions (retransmissions included) are counted in bins of
    ``bin_s`` seconds covering [``start``, ``end``] (default: 0 to the end of
    the trace; a message at ``end`` itself falls in the last bin); ``by`` names a
    ``messages`` column to split the series (``method``, ``node``,
    ``direction``, ``op``...) or ``None`` for one series ``all``;
    ``requests_only`` leaves responses out.  Every bin appears for every
    series, with zeros, so the curve can be drawn as steps.
    """
    m = data.messages
    if requests_only:
        m = m[m["kind"] == "request"]
    t0 = 0.0 if start is None else start
    t1 = data.end_time if end is None else end
    nbins = max(1, math.ceil((t1 - t0) / bin_s - 1e-9))
    m = m[(m["time"] >= t0) & (m["time"] <= t1)]
    series = m[by].astype(str) if by else pd.Series("all", index=m.index)
    names = sorted(series.unique()) or ["all"]
    idx = ((m["time"] - t0) // bin_s).astype(int).clip(upper=nbins - 1)
    counts = pd.crosstab(idx, series).reindex(index=range(nbins), columns=names, fill_value=0)
    times = t0 + np.arange(nbins) * bin_s
    out = pd.DataFrame(
        {
            "time": np.repeat(times, len(names)),
            "series": np.tile(names, nbins),
            "messages": counts.to_numpy().reshape(-1),
        }
    )
    out["messages"] = out["messages"].astype(int)
    out["rate"] = out["messages"] / bin_s
    return out


STATES = ("ok", "none", "stale", "orphan", "idle")


def state_counts(data: ReportData) -> pd.DataFrame:
    """How many (presentity, event) keys are in each coverage state over time.

    A step function as a wide frame: ``time`` (s) and one column per state
    of :data:`STATES`, each row holding the counts from that time until the
    next row.  Keys count from their first interval on.
    """
    cov = data.coverage
    if cov.empty:
        return pd.DataFrame({"time": [0.0], **{s: [0] for s in STATES}})
    changes = pd.concat(
        [
            pd.DataFrame({"time": cov["start"], "state": cov["state"], "delta": 1}),
            pd.DataFrame({"time": cov["end"], "state": cov["state"], "delta": -1}),
        ]
    )
    table = changes.pivot_table(
        index="time", columns="state", values="delta", aggfunc="sum", fill_value=0
    )
    table = table.reindex(columns=list(STATES), fill_value=0).sort_index().cumsum()
    out = table.reset_index()
    out.columns.name = None
    return out.astype({s: int for s in STATES})


def latency_percentiles(
    data: ReportData, by: str = "method", q: tuple[float, ...] = (50, 90, 99)
) -> pd.DataFrame:
    """Transaction latency (final reply time - first send) per ``by``, in milliseconds.

    Only transactions that got a final reply over the wire count toward the
    percentiles; ``timeouts`` and ``unanswered`` are counted beside them.
    """
    tx = data.transactions
    rows = []
    for name, g in tx.groupby(by, sort=True):
        wire = g[g["outcome"].isin(["success", "failure"])]["latency"].dropna() * 1000.0
        row: dict[str, Any] = {
            by: name,
            "count": len(g),
            "answered": len(wire),
            "timeouts": int((g["outcome"] == "timeout").sum()),
            "unanswered": int((g["outcome"] == "unanswered").sum()),
        }
        for p in q:
            row[f"p{p:g}_ms"] = float(np.percentile(wire, p)) if len(wire) else float("nan")
        row["max_ms"] = float(wire.max()) if len(wire) else float("nan")
        row["mean_ms"] = float(wire.mean()) if len(wire) else float("nan")
        rows.append(row)
    cols = [
        by,
        "count",
        "answered",
        "timeouts",
        "unanswered",
        *[f"p{p:g}_ms" for p in q],
        "max_ms",
        "mean_ms",
    ]
    return pd.DataFrame(rows, columns=cols)


def summary(
    data: ReportData,
    min_gap: float = 0.0,
    *,
    lead: pd.DataFrame | None = None,
    rounds: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Headline numbers of a run (a flat dict, for tables and sweeps).

    ``lead`` and ``rounds`` are :func:`refresh_lead_times` and
    :func:`rounds_412` of ``data`` when the caller has them already (the
    report draws and tabulates them too); they are computed otherwise.
    """
    m, tx = data.messages, data.transactions
    lead = refresh_lead_times(data) if lead is None else lead
    gaps = gaps_frame(data.coverage, min_gap)
    rounds = rounds_412(data) if rounds is None else rounds
    curve = load_curve(data, by=None) if len(m) else None
    wire = tx[tx["outcome"].isin(["success", "failure"])]["latency"].dropna() * 1000.0

    def stat(series: pd.Series, fn: str) -> float:
        s = series.dropna()
        return float(getattr(s, fn)()) if len(s) else float("nan")

    return {
        "duration_s": data.end_time,
        "messages": len(m),
        "requests": int((m["kind"] == "request").sum()),
        "retransmissions": int(m["retransmission"].sum()),
        "dropped": int(m["dropped"].sum()),
        "transactions": len(tx),
        "timeouts": int((tx["outcome"] == "timeout").sum()),
        "failures": int((tx["outcome"] == "failure").sum()),
        "refreshes": len(lead),
        "lead_min_s": stat(lead["lead"], "min"),
        "lead_median_s": stat(lead["lead"], "median"),
        "lead_max_s": stat(lead["lead"], "max"),
        "late_refreshes": int((lead["lead"] < 0).sum()),
        "gaps": len(gaps),
        "gap_none_s": float(gaps.loc[gaps["state"] == "none", "duration"].sum()),
        "gap_stale_s": float(gaps.loc[gaps["state"] == "stale", "duration"].sum()),
        "longest_gap_s": stat(gaps["duration"], "max") if len(gaps) else 0.0,
        "orphan_s": float(data.coverage.loc[data.coverage["state"] == "orphan", "duration"].sum()),
        "rounds_412": len(rounds),
        "latency_p50_ms": float(np.percentile(wire, 50)) if len(wire) else float("nan"),
        "latency_p99_ms": float(np.percentile(wire, 99)) if len(wire) else float("nan"),
        "peak_rate": float(curve["rate"].max()) if curve is not None and len(curve) else 0.0,
    }


__all__ = [
    "LEAD_COLUMNS",
    "STATES",
    "ROUND_COLUMNS",
    "latency_percentiles",
    "load_curve",
    "refresh_lead_times",
    "rounds_412",
    "rounds_per_publication",
    "state_counts",
    "summary",
]
