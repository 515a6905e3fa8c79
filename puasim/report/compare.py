"""One scenario under several PUA profiles, side by side (``puasim compare``).

The caller runs the scenario once per profile and hands the traces over;
this module reads only the traces (DESIGN: reports read the trace, never a
model's state) and builds

* :func:`compare_frame` — one row per metric, one column per profile, and a
  ``differs`` column: messages by method and PUBLISH operation, presence gaps
  and 412 rounds (definitions in ``docs/metrics.md``);
* :func:`first_divergence` — the first PUA request where a profile's trace
  parts from the first profile's;
* :func:`format_table` for the terminal and :func:`compare_section` /
  :func:`write_compare_report` for HTML.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from puasim.report.frames import ReportData, from_trace
from puasim.report.metrics import rounds_412, summary

if TYPE_CHECKING:
    from puasim.trace.trace import Trace

#: (row label, how it is computed) in table order
METRIC_ROWS: tuple[tuple[str, str], ...] = (
    ("messages", "every transmission in the trace, retransmissions included"),
    ("PUBLISH sent", "PUBLISH requests the PUA sent (first transmissions)"),
    ("PUBLISH initial", "PUBLISHes without SIP-If-Match and with a body"),
    ("PUBLISH refresh", "PUBLISHes with SIP-If-Match and no body"),
    ("PUBLISH modify", "PUBLISHes with SIP-If-Match and a body"),
    ("PUBLISH remove", "PUBLISHes with Expires 0"),
    ("SUBSCRIBE sent", "SUBSCRIBE requests the PUA sent (first transmissions)"),
    ("SUBSCRIBE initial", "SUBSCRIBEs without To-tag (a new dialog)"),
    ("SUBSCRIBE refresh", "in-dialog SUBSCRIBEs with Expires > 0"),
    ("SUBSCRIBE unsubscribe", "SUBSCRIBEs with Expires 0"),
    ("SUBSCRIBE failed", "SUBSCRIBE transactions ended by a reply >= 300 or a local timeout"),
    ("re-subscribe delay median (s)", "from a failed SUBSCRIBE or a NOTIFY terminated to the next new SUBSCRIBE for that presentity, median"),
    ("failed transactions", "transactions ended by a final reply >= 300"),
    ("timed-out transactions", "transactions ended by a local timeout"),
    ("refresh lead median (s)", "record expiry minus refresh send time, median"),
    ("presence gaps", "intervals where the server held no or stale state for a published presentity"),
    ("gap none (s)", "total time the server held no state"),
    ("gap stale (s)", "total time the server held a stale body"),
    ("longest gap (s)", "longest single gap"),
    ("412 rounds", "PUBLISHes answered 412 Conditional Request Failed"),
    ("412 rounds recovered", "412 rounds followed by a 2xx for the same key"),
)


def _requests(data: ReportData, method: str) -> pd.DataFrame:
    m = data.messages
    return m[(m["kind"] == "request") & (m["method"] == method) & (~m["retransmission"].astype(bool))]


def profile_metrics(data: ReportData) -> dict[str, Any]:
    """The :data:`METRIC_ROWS` values of one run."""
    s = summary(data)
    pub = _requests(data, "PUBLISH")
    ops = pub["op"].value_counts().to_dict() if len(pub) else {}
    rounds = rounds_412(data)
    recovered = int(rounds["recovered"].notna().sum()) if len(rounds) else 0
    sub = _requests(data, "SUBSCRIBE")
    sub_ops = sub["op"].value_counts().to_dict() if len(sub) else {}
    t = data.transactions
    sub_failed = int(((t["method"] == "SUBSCRIBE") & t["outcome"].isin(["failure", "timeout"])).sum()) if len(t) else 0
    values = [
        s["messages"], len(pub), ops.get("initial", 0), ops.get("refresh", 0), ops.get("modify", 0),
        ops.get("remove", 0), len(sub), sub_ops.get("initial", 0), sub_ops.get("refresh", 0),
        sub_ops.get("unsubscribe", 0), sub_failed, resubscribe_delay_median(data), s["failures"], s["timeouts"],
        s["lead_median_s"], s["gaps"], s["gap_none_s"], s["gap_stale_s"], s["longest_gap_s"],
        s["rounds_412"], recovered,
    ]
    return {label: v for (label, _), v in zip(METRIC_ROWS, values, strict=True)}


def resubscribe_delay_median(data: ReportData) -> float:
    """Median seconds from the end of a subscription to the next new SUBSCRIBE for its presentity.

    An end is a SUBSCRIBE transaction that failed or timed out, or a NOTIFY
    whose Subscription-State is ``terminated``; only ends followed by an
    initial SUBSCRIBE count.  NaN when there is none.
    """
    m = data.messages
    t = data.transactions
    ends: list[tuple[float, str]] = []
    if len(t):
        failed = t[(t["method"] == "SUBSCRIBE") & t["outcome"].isin(["failure", "timeout"]) & t["end"].notna()]
        ends += [(float(r.end), str(r.presentity)) for r in failed.itertuples(index=False)]
    if len(m):
        term = m[(m["kind"] == "request") & (m["method"] == "NOTIFY") & m["sub_state"].astype(str).str.startswith("terminated")]
        ends += [(float(r.time), str(r.presentity)) for r in term.itertuples(index=False)]
    news = _requests(data, "SUBSCRIBE")
    news = news[news["op"] == "initial"] if len(news) else news
    starts = sorted((float(r.time), str(r.presentity)) for r in news.itertuples(index=False))
    delays = []
    for end, who in sorted(ends):
        nxt = next((s for s, p in starts if p == who and s >= end), None)
        if nxt is not None:
            delays.append(nxt - end)
    return float(pd.Series(delays).median()) if delays else math.nan


def _same(values: list[Any]) -> bool:
    def norm(v: Any) -> Any:
        if isinstance(v, float):
            return "nan" if math.isnan(v) else round(v, 6)
        return v

    return len({norm(v) for v in values}) <= 1


def compare_frame(runs: dict[str, ReportData]) -> pd.DataFrame:
    """Metric rows × profile columns, plus ``differs`` (True where the profiles disagree)."""
    per = {name: profile_metrics(data) for name, data in runs.items()}
    rows = []
    for label, _ in METRIC_ROWS:
        values = [per[name][label] for name in runs]
        rows.append({"metric": label, **dict(zip(runs, values, strict=True)), "differs": not _same(values)})
    return pd.DataFrame(rows, columns=["metric", *runs, "differs"], dtype=object)


def _request_signature(data: ReportData) -> list[tuple[float, str]]:
    pub = data.messages
    req = pub[(pub["kind"] == "request") & (~pub["retransmission"].astype(bool)) & (pub["direction"].str.startswith("pua>"))]
    return [
        (float(r.time), f"{r.method} {r.op} {r.presentity} Expires={_plain(r.expires)}")
        for r in req.itertuples(index=False)
    ]


def _plain(v: Any) -> str:
    return "–" if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)) else str(v)


def first_divergence(runs: dict[str, ReportData]) -> pd.DataFrame:
    """Per profile after the first: the first PUA request that differs from the first profile's.

    Requests are compared by method, operation, presentity and Expires, in
    order; a profile that sent the same requests at other times differs at
    the first request whose time differs.
    """
    names = list(runs)
    rows = []
    if not names:
        return pd.DataFrame(columns=["profile", "index", "baseline", "this"])
    base = _request_signature(runs[names[0]])
    for name in names[1:]:
        other = _request_signature(runs[name])
        for i in range(max(len(base), len(other))):
            a = base[i] if i < len(base) else None
            b = other[i] if i < len(other) else None
            if a != b:
                rows.append({"profile": name, "index": i, "baseline": _sig(a), "this": _sig(b)})
                break
        else:
            rows.append({"profile": name, "index": -1, "baseline": "same requests", "this": "same requests"})
    return pd.DataFrame(rows, columns=["profile", "index", "baseline", "this"])


def _sig(item: tuple[float, str] | None) -> str:
    return "(none)" if item is None else f"{item[0]:.3f}s {item[1]}"


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return "–" if math.isnan(v) else f"{v:.1f}"
    return str(v)


def format_table(frame: pd.DataFrame) -> str:
    """The comparison as fixed-width text; rows where profiles differ are marked ``*``."""
    cols = [c for c in frame.columns if c not in ("metric", "differs")]
    width = max([len("metric"), *(len(m) for m in frame["metric"])])
    cells = [[_cell(v) for v in row] for row in frame[cols].itertuples(index=False)]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(cols)]
    lines = ["  " + f"{'metric':<{width}}  " + "  ".join(f"{c:>{w}}" for c, w in zip(cols, widths, strict=True))]
    for mark, metric, row in zip(frame["differs"], frame["metric"], cells, strict=True):
        lines.append(
            ("* " if mark else "  ") + f"{metric:<{width}}  "
            + "  ".join(f"{v:>{w}}" for v, w in zip(row, widths, strict=True))
        )
    return "\n".join(lines)


def compare_section(frame: pd.DataFrame, divergence: pd.DataFrame, title: str = "Profiles compared") -> str:
    """An HTML section: the metric table (differing rows marked) and the first divergences."""
    from puasim.report.html import _esc, _table

    shown = frame.assign(differs=frame["differs"].map({True: "yes", False: ""}))
    return "\n".join([
        f"<h2>{_esc(title)}</h2>",
        "<p class='note'>one scenario run under each PUA profile; rows marked 'yes' differ. "
        "Metric definitions: docs/metrics.md.</p>",
        _table(shown, caption="metrics per profile"),
        "<h3>First differing PUA request</h3>",
        _table(divergence, caption="compared with the first profile"),
    ])


def write_compare_report(
    runs: Mapping[str, Trace | ReportData], out: Path, title: str, verdicts: dict[str, str] | None = None
) -> Path:
    """Write ``out/compare.html`` with the comparison section; returns its path."""
    from puasim.report.html import _CSS, _esc, _kv

    data = {k: v if isinstance(v, ReportData) else from_trace(v) for k, v in runs.items()}
    frame, div = compare_frame(data), first_divergence(data)
    parts = [
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{_esc(title)} – profiles</title>"
        f"<style>{_CSS}</style></head><body><h1>{_esc(title)}</h1>",
    ]
    if verdicts:
        parts.append(_kv(verdicts.items()))
    parts += [compare_section(frame, div), "</body></html>"]
    out.mkdir(parents=True, exist_ok=True)
    path = out / "compare.html"
    path.write_text("\n".join(parts))
    return path


__all__ = [
    "METRIC_ROWS",
    "compare_frame",
    "compare_section",
    "first_divergence",
    "format_table",
    "profile_metrics",
    "write_compare_report",
]
