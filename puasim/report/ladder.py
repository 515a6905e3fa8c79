"""Ladder (sequence) diagrams, in the manner of sngrep or Wireshark's flow view.

One column per node with a vertical life line (phones on the left, then the
pua or edge node, then the presence server, then any other node); one row per message, drawn
as an arrow from sender to receiver and labelled with the method or status
and the key headers (Expires, SIP-If-Match / SIP-ETag shortened, body size).
Rows are evenly spaced, so the virtual time of each row is printed down the
left side, and a dotted rule marks every jump of more than ``break_s``
seconds.  Retransmissions are dashed and grey, drops end in a red cross
short of the receiver, duplicates carry ``x2``.  With ``notes`` the PUA's
record changes, the server's state changes and incidents (faults, crashes,
restarts, scenario steps) get rows of their own on the node they concern.

A page holds up to ``rows_per_page`` (default 60) rows; :func:`ladder_pages`
cuts a longer trace into pages and :func:`ladder` draws one page (a slice
chosen by time and/or row range).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties

from puasim.effects import SECOND
from puasim.report.figures import COLORS, drawing, new_figure
from puasim.report.sipinfo import short_etag
from puasim.trace.events import TransactionFinished

if TYPE_CHECKING:
    from puasim.report.frames import ReportData

ROWS_PER_PAGE = 60


def _user(uri: str) -> str:
    rest = uri.split(":", 1)[-1]
    return rest.split("@", 1)[0] if "@" in rest else rest


def message_label(m: Any) -> str:
    """The arrow label of one ``messages`` row."""
    if m.kind == "request":
        head = f"{m.method} {_user(m.to or m.ruri)}".strip()
        if m.event and m.event != "presence":
            head += f" ({m.event})"
    else:
        reason = m.reason if len(m.reason) <= 32 else m.reason[:31] + "…"
        who = _user(m.to) if m.to else ""
        head = f"{m.status} {reason}".strip() + (f" ({who})" if who else "")
    headers, fate = _optional_parts(m, detail=False)
    return "  ".join([head, *headers, *fate])


def message_detail(m: Any) -> str:
    """The start line and key headers of one ``messages`` row, one per line (the SVG ladder's hover text).

    A request's start line is ``METHOD Request-URI SIP/2.0``, a response's
    ``SIP/2.0 code reason`` (RFC 3261 section 7.1, 7.2); the headers are those
    the messages frame keeps.
    """
    if m.kind == "request":
        lines = [f"{m.method} {m.ruri} SIP/2.0"]
    else:
        lines = [f"SIP/2.0 {m.status} {m.reason}".rstrip()]
    if m.to:
        lines.append(f"To: {m.to}")
    if m.call_id:
        lines.append(f"Call-ID: {m.call_id}")
    if m.cseq is not pd.NA and m.cseq is not None:
        lines.append(f"CSeq: {m.cseq} {m.method}")
    if m.event:
        lines.append(f"Event: {m.event}")
    headers, fate = _optional_parts(m, detail=True)
    return "\n".join([*lines, *headers, f"{m.src} -> {m.dst} at {m.time:.6f} s", *fate])


def _optional_parts(m: Any, detail: bool) -> tuple[list[str], list[str]]:
    """The parts of a message row shown only when present, for the arrow label (short: ETags
    shortened, ``Exp``, ``(retx)``) or the hover text (``detail``: the header lines as sent).

    Two lists: the headers (Expires, SIP-If-Match, SIP-ETag, Subscription-State,
    body), then what became of the message (retransmitted, duplicated, lost).
    """
    headers: list[str] = []
    if m.expires is not pd.NA and m.expires is not None:
        headers.append(f"Expires: {m.expires}" if detail else f"Exp {m.expires}")
    if m.if_match:
        headers.append(f"SIP-If-Match: {m.if_match}" if detail else f"If-Match {short_etag(m.if_match)}")
    if m.etag:
        headers.append(f"SIP-ETag: {m.etag}" if detail else f"ETag {short_etag(m.etag)}")
    if m.sub_state:
        headers.append(f"Subscription-State: {m.sub_state}" if detail else f"State {m.sub_state}")
    if m.body_size:
        headers.append(
            f"Content-Type: {m.content_type} ({m.body_size} B)" if detail else f"body {m.body_size} B"
        )
    fate: list[str] = []
    if m.retransmission:
        fate.append("retransmission" if detail else "(retx)")
    if m.duplicates:
        fate.append(f"{'duplicated ' if detail else ''}x{m.duplicates + 1}")
    if m.dropped:
        fate.append(f"{'lost' if detail else 'LOST'}: {m.drop_reason}")
    return headers, fate


def _note_rows(data: ReportData) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for r in data.record_events.itertuples(index=False):
        exp = f" exp {r.expires:.0f}" if r.action not in ("deleted", "expired") else ""
        why = f" ({r.reason})" if r.reason else ""
        text = f"record {r.action} {_user(r.pres_uri)}{' ' + short_etag(r.etag) if r.etag else ''}{exp}{why}"
        rows.append({"seq": r.seq, "time": r.time, "kind": "note", "node": r.node, "text": text})
    for r in data.server_events.itertuples(index=False):
        if r.action == "crashed":  # the incident row says it
            continue
        exp = f" exp {r.expires:.3f}" if r.expires == r.expires else ""
        text = f"state {r.action} {_user(r.presentity)} {short_etag(r.etag)}{exp}"
        rows.append({"seq": r.seq, "time": r.time, "kind": "note", "node": r.node, "text": text})
    for rec in data.trace.iter_of(TransactionFinished):
        ev = rec.event
        if isinstance(ev, TransactionFinished) and ev.faked:
            text = f"{ev.method} timed out: local {ev.status} after {ev.retransmissions} retransmissions"
            rows.append(
                {
                    "seq": rec.seq,
                    "time": rec.time / SECOND,
                    "kind": "incident",
                    "node": rec.node,
                    "text": text,
                }
            )
    for r in data.incidents.itertuples(index=False):
        rows.append(
            {
                "seq": r.seq,
                "time": r.time,
                "kind": "incident",
                "node": r.node,
                "text": f"{r.node}: {r.text}",
            }
        )
    return rows


def ladder_rows(
    data: ReportData, start: float | None = None, end: float | None = None, notes: bool = True
) -> pd.DataFrame:
    """The rows a ladder draws, in trace order, between ``start`` and ``end`` seconds (inclusive).

    Columns: ``seq``, ``time``, ``kind`` (message, note, incident),
    ``src_node``, ``dst_node`` (messages), ``node`` (notes), ``text`` and the
    message flags ``retransmission``, ``dropped``, ``duplicates``, ``error``
    (status >= 300) and ``request``.
    """
    rows: list[dict[str, Any]] = []
    for m in data.messages.itertuples(index=False):
        status = m.status if m.status is not pd.NA else 0
        rows.append(
            {
                "seq": m.seq,
                "time": m.time,
                "kind": "message",
                "src_node": m.src_node,
                "dst_node": m.dst_node,
                "node": m.node,
                "text": message_label(m),
                "retransmission": m.retransmission,
                "dropped": m.dropped,
                "duplicates": m.duplicates,
                "error": bool(status and status >= 300),
                "request": m.kind == "request",
            }
        )
    if notes:
        rows += _note_rows(data)
    cols = [
        "seq",
        "time",
        "kind",
        "src_node",
        "dst_node",
        "node",
        "text",
        "retransmission",
        "dropped",
        "duplicates",
        "error",
        "request",
    ]
    frame = pd.DataFrame(rows, columns=cols)
    if start is not None:
        frame = frame[frame["time"] >= start]
    if end is not None:
        frame = frame[frame["time"] <= end]
    return frame.sort_values("seq", kind="stable").reset_index(drop=True)


def ladder_columns(data: ReportData, rows: pd.DataFrame) -> list[str]:
    """Columns in the order a reader follows the signalling: the phones (nodes that send
    REGISTERs) on the left, then the pua/edge node, the presence server, the other nodes."""
    cols = list(data.nodes())
    for col in ("src_node", "dst_node", "node"):
        for n in rows[col].dropna():
            if n and n not in cols and n != "scenario":
                cols.append(n)
    msgs = data.messages
    registering = msgs[(msgs["kind"] == "request") & (msgs["method"] == "REGISTER")]["src_node"]
    phones = {n for n in registering.dropna() if n not in ("pua", "server")}
    rank = {"pua": 1, "server": 2}
    order = sorted(enumerate(cols), key=lambda item: (0 if item[1] in phones else rank.get(item[1], 3), item[0]))
    return [n for _i, n in order] or ["pua", "server"]


def ladder(
    data: ReportData,
    start: float | None = None,
    end: float | None = None,
    *,
    first_row: int = 0,
    max_rows: int = ROWS_PER_PAGE,
    notes: bool = True,
    break_s: float = 1.0,
    title: str | None = None,
    rows: pd.DataFrame | None = None,
) -> Figure:
    """Draw rows ``first_row .. first_row+max_rows`` of the slice [start, end] as a ladder.

    When the slice holds more rows than fit, the page says how many follow
    (use :func:`ladder_pages` for all of them).
    """
    all_rows = ladder_rows(data, start, end, notes) if rows is None else rows
    page = all_rows.iloc[first_row : first_row + max_rows]
    cols = ladder_columns(data, all_rows)
    xpos = {n: i * 4.2 for i, n in enumerate(cols)}
    width_in = 3.2 + 4.2 * max(1, len(cols) - 1) + 1.6
    n = max(len(page), 1)
    fig = new_figure(width_in, 1.3 + 0.27 * n)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_axis_off()
    left, right = -2.9, xpos[cols[-1]] + 1.5
    ax.set_xlim(left, right)
    top = 2.6
    ax.set_ylim(-(n - 0.4), top)
    # header: node boxes and life lines
    addrs = {name: addr for addr, name in data.names.items()}
    for name, x in xpos.items():
        label = name + (f"\n{addrs[name]}" if name in addrs else "")
        ax.text(
            x,
            1.2,
            label,
            ha="center",
            va="center",
            fontsize=9,
            fontweight="bold",
            bbox={"boxstyle": "round,pad=0.3", "fc": "#eef2f8", "ec": "#6b7a90"},
        )
        # the life line stops a hair above the figure's bottom edge: nothing drawn touches the
        # edge, so figures.to_png can tell that no content runs past it
        ax.plot([x, x], [0.6, -(n - 0.5)], color="#9aa5b5", lw=1, zorder=0)
    ax.text(
        left + 0.1, 0.75, "virtual time (s)", ha="left", va="center", fontsize=8, color="#333333"
    )
    head = title or data.title
    total = len(all_rows)
    shown = f"rows {first_row + 1}-{first_row + len(page)} of {total}" if total else "no rows"
    ax.text(
        left + 0.1,
        top - 0.2,
        f"{head}  ({shown})",
        ha="left",
        va="top",
        fontsize=10,
        fontweight="bold",
    )
    prev_t: float | None = None if first_row == 0 else float(all_rows.iloc[first_row - 1]["time"])
    # times right-aligned where a 12-character monospace column ends: the same picture as
    # padding each to 12 characters, without drawing the blank glyphs (every glyph costs)
    time_right = left + 0.1 + _text_width(fig, "0" * 12, _TIME_FONT) * (right - left) / (width_in * fig.dpi)
    for i, r in enumerate(page.itertuples(index=False)):
        y = -i
        if prev_t is not None and r.time - prev_t > break_s:
            ax.plot(
                [left + 0.05, right - 0.1],
                [y + 0.5, y + 0.5],
                color="#bbbbbb",
                lw=0.8,
                ls=":",
                zorder=0,
            )
            ax.text(
                left + 1.45,
                y + 0.5,
                f"+{r.time - prev_t:.3f} s",
                fontsize=6.5,
                color="#888888",
                ha="left",
                va="center",
                bbox={"fc": "white", "ec": "none", "pad": 0.5},
            )
        prev_t = r.time
        ax.text(time_right, y, f"{r.time:.3f}", fontproperties=_TIME_FONT, ha="right", va="center")
        if r.kind == "message":
            _arrow(ax, r, xpos, y)
        else:
            _note(ax, r, xpos, cols, y)
    more = total - first_row - len(page)
    if more > 0:
        ax.text(
            right - 0.1,
            -(n - 0.4) + 0.05,
            f"… {more} more rows (ladder_pages)",
            ha="right",
            va="bottom",
            fontsize=7,
            color="#666666",
        )
    return fig


#: the font of the time column
_TIME_FONT = FontProperties(family="monospace", size=7.5)


def _text_width(fig: Figure, text: str, font: FontProperties) -> float:
    """Width of ``text`` in ``font`` on ``fig``'s canvas, pixels (as drawn by figures.to_png)."""
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    with drawing():
        width, _h, _d = renderer.get_text_width_height_descent(text, font, ismath=False)
    return float(width)


def _arrow(ax: Any, r: Any, xpos: dict[str, float], y: float) -> None:
    x0 = xpos.get(r.src_node)
    x1 = xpos.get(r.dst_node)
    if x0 is None or x1 is None:
        return
    if r.retransmission:
        color = COLORS["retransmission"]
    elif r.error:
        color = COLORS["error"]
    else:
        color = COLORS["request"] if r.request else COLORS["response"]
    style = "--" if r.retransmission else "-"
    end = x1
    if r.dropped:
        end = x0 + (x1 - x0) * 0.62
    ax.annotate(
        "",
        xy=(end, y - 0.1),
        xytext=(x0, y - 0.1),
        arrowprops={
            "arrowstyle": "-|>" if not r.dropped else "-",
            "color": color,
            "lw": 1.2,
            "linestyle": style,
            "shrinkA": 0,
            "shrinkB": 0,
        },
    )
    if r.dropped:
        ax.plot([end], [y - 0.14], marker="x", color=COLORS["dropped"], markersize=5.5, mew=1.8)
    ax.text((x0 + x1) / 2, y + 0.02, r.text, ha="center", va="bottom", fontsize=7.5, color=color)


def _note(ax: Any, r: Any, xpos: dict[str, float], cols: list[str], y: float) -> None:
    incident = r.kind == "incident"
    x = xpos.get(r.node)
    if x is None:  # scenario steps and other nodes: centred across the diagram
        x = (xpos[cols[0]] + xpos[cols[-1]]) / 2
    ax.text(
        x,
        y,
        r.text,
        ha="center",
        va="center",
        fontsize=6.8,
        color=COLORS["incident"] if incident else COLORS["note"],
        style="italic" if not incident else "normal",
        bbox={
            "boxstyle": "round,pad=0.2",
            "fc": "#f6effa" if incident else "#fbfbf3",
            "ec": COLORS["incident"] if incident else "#d8d8c0",
            "lw": 0.6,
        },
    )


def ladder_pages(
    data: ReportData,
    start: float | None = None,
    end: float | None = None,
    *,
    rows_per_page: int = ROWS_PER_PAGE,
    notes: bool = True,
    max_pages: int | None = None,
    title: str | None = None,
    rows: pd.DataFrame | None = None,
) -> list[Figure]:
    """The whole slice as ladder pages of ``rows_per_page`` rows (at most ``max_pages``).

    ``rows`` is ``ladder_rows(data, start, end, notes)`` when the caller has it already.
    """
    rows = ladder_rows(data, start, end, notes) if rows is None else rows
    return [
        ladder(data, first_row=first, max_rows=rows_per_page, notes=notes, title=title, rows=rows)
        for first in page_starts(len(rows), rows_per_page, max_pages)
    ]


def page_starts(n_rows: int, rows_per_page: int = ROWS_PER_PAGE, max_pages: int | None = None) -> range:
    """The first row of each ladder page: one page per ``rows_per_page`` rows (one page for no
    rows), at most ``max_pages``; the PNG and the SVG ladder split pages alike."""
    starts = range(0, max(n_rows, 1), rows_per_page)
    return starts if max_pages is None else starts[: max(max_pages, 0)]
