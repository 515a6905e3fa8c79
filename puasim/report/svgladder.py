"""Ladder pages as SVG text written directly (no matplotlib): what the HTML report shows.

The same rows, columns and pages as :mod:`puasim.report.ladder` (60 rows a
page, phones left, then pua/edge, server, other nodes), drawn as SVG
elements: life lines and arrows as lines and paths, every label as an SVG
``<text>`` the browser renders, so the ladder is selectable and searchable
in the page.  Each message row is a group whose ``<title>`` holds the
message's start line and key headers (:func:`~puasim.report.ladder.message_detail`):
hovering an arrow or its label shows it.  Retransmissions are dashed grey,
drops end in a red cross short of the receiver, record and server state
changes and incidents sit in boxes on their node.

Nothing here is drawn with a font: a browser lays the text out itself.
Boxes around text, and the page's width when a label or note reaches past
the columns, come from DejaVu Sans' advance widths (:func:`text_width`).

Text from the trace (URIs, reason phrases, incident notes) is escaped for
XML and HTML alike, so the SVG is well-formed on its own and inline in the
report.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import pandas as pd

from puasim.report.figures import COLORS
from puasim.report.ladder import (
    ROWS_PER_PAGE,
    ladder_columns,
    ladder_rows,
    message_detail,
    page_starts,
)

if TYPE_CHECKING:
    from puasim.report.frames import ReportData

#: pixels between two node columns, and from the left edge to the first column
COLUMN_STEP = 420
LEFT = 310
#: pixels right of the last column
RIGHT = 190
#: pixels between two rows, and from the top edge to the first row
ROW_STEP = 27
FIRST_ROW = 112
#: right edge of the time column
TIME_RIGHT = 98
#: font sizes, pixels (the PNG ladder's 7.5 pt at 100 dpi is 10.4 px)
LABEL_PX = 10.4
NOTE_PX = 9.4
NODE_PX = 12.5
TITLE_PX = 13.9
#: advance of a character not in the tables below, in ems
EM_ADVANCE = 0.6
#: advance widths of the printable ASCII characters (space to ~) in DejaVu Sans, the font
#: matplotlib draws with and the first one the pages ask for, in thousandths of an em
# fmt: off
_ADVANCE = {
    False: (
        318, 401, 460, 838, 636, 950, 780, 275, 390, 390, 500, 838, 318, 361, 318, 337, 636, 636,
        636, 636, 636, 636, 636, 636, 636, 636, 337, 337, 838, 838, 838, 531, 1000, 684, 686, 698,
        770, 632, 575, 775, 752, 295, 295, 656, 557, 863, 748, 787, 603, 787, 695, 635, 611, 732,
        684, 989, 685, 611, 685, 390, 337, 390, 838, 500, 500, 613, 635, 550, 635, 615, 352, 635,
        634, 278, 278, 579, 278, 974, 634, 612, 635, 635, 411, 521, 392, 634, 592, 818, 592, 592,
        525, 636, 337, 636, 838,
    ),
    True: (
        348, 456, 521, 838, 696, 1002, 872, 306, 457, 457, 523, 838, 380, 415, 380, 365, 696, 696,
        696, 696, 696, 696, 696, 696, 696, 696, 400, 400, 838, 838, 838, 580, 1000, 774, 762, 734,
        830, 683, 683, 821, 837, 372, 372, 775, 637, 995, 837, 850, 733, 850, 770, 720, 682, 812,
        774, 1103, 771, 724, 725, 457, 365, 457, 838, 500, 500, 675, 716, 593, 716, 678, 435, 716,
        712, 343, 343, 665, 343, 1042, 712, 687, 716, 716, 493, 595, 478, 712, 652, 924, 645, 652,
        582, 712, 365, 712, 838,
    ),
}
# fmt: on

_FONT = "DejaVu Sans, Verdana, Helvetica, Arial, sans-serif"
_MONO = "DejaVu Sans Mono, Menlo, Consolas, monospace"


def esc(text: Any) -> str:
    """``text`` escaped for XML and HTML alike (attribute values too)."""
    return html.escape(str(text), quote=True)


def _num(v: float) -> str:
    """A coordinate with at most one decimal (SVG text stays short)."""
    return f"{v:.1f}".rstrip("0").rstrip(".")


def text_width(text: str, px: float, bold: bool = False) -> float:
    """Width of ``text`` in DejaVu Sans of ``px`` pixels (other characters than ASCII: 0.6 em).

    A browser with another font draws a little wider or narrower: boxes get
    a few pixels to spare.
    """
    table = _ADVANCE[bold]
    units = 0
    for ch in text:
        code = ord(ch) - 32
        units += table[code] if 0 <= code < len(table) else round(EM_ADVANCE * 1000)
    return units * px / 1000


def page_size(n_columns: int, n_rows: int) -> tuple[int, int]:
    """Width and height in pixels of a page of ``n_rows`` rows over ``n_columns`` node columns.

    The size of the PNG page :func:`puasim.report.ladder.ladder` draws for
    the same rows (its figure at 100 dpi plus 0.1 inch each side).
    """
    width = LEFT + COLUMN_STEP * max(1, n_columns - 1) + RIGHT
    height = 150 + ROW_STEP * max(n_rows, 1)
    return width, height


def ladder_svg(
    data: ReportData,
    start: float | None = None,
    end: float | None = None,
    *,
    first_row: int = 0,
    max_rows: int = ROWS_PER_PAGE,
    notes: bool = True,
    break_s: float = 1.0,
    title: str | None = None,
    label: str = "ladder",
    rows: pd.DataFrame | None = None,
) -> str:
    """Rows ``first_row .. first_row+max_rows`` of the slice [start, end] as one ``<svg>`` element.

    ``label`` names the picture (``aria-label`` and the SVG's own
    ``<title>``); ``rows`` is ``ladder_rows(data, start, end, notes)`` when
    the caller has it already.  When the slice holds more rows than fit,
    the page says how many follow.
    """
    all_rows = ladder_rows(data, start, end, notes) if rows is None else rows
    page = all_rows.iloc[first_row : first_row + max_rows]
    cols = ladder_columns(data, all_rows)
    xpos = {name: LEFT + COLUMN_STEP * i for i, name in enumerate(cols)}
    n = max(len(page), 1)
    width, height = page_size(len(cols), n)
    bottom = FIRST_ROW + ROW_STEP * (n - 1) + 12
    out: list[str] = []
    head = title or data.title
    total = len(all_rows)
    shown = f"rows {first_row + 1}-{first_row + len(page)} of {total}" if total else "no rows"
    heading = f"{head}  ({shown})"
    # what the text reaches: a long label or note widens the page rather than being cut off
    reach = [0.0, 12 + text_width(heading, TITLE_PX, bold=True)]
    out.append(
        f"<text x='12' y='22' font-size='{TITLE_PX}' font-weight='bold'>{esc(heading)}</text>"
    )
    # header: node boxes and life lines
    addrs = {name: addr for addr, name in data.names.items()}
    for name, x in xpos.items():
        lines = [name] + ([addrs[name]] if name in addrs else [])
        box_w = max(text_width(s, NODE_PX, bold=True) for s in lines) + 14
        reach += [x - box_w / 2, x + box_w / 2]
        box_h = 17 * len(lines) + 6
        top = 56 - box_h / 2
        out.append(
            f"<line x1='{x}' y1='{_num(top + box_h)}' x2='{x}' y2='{bottom}' stroke='#9aa5b5'/>"
            f"<rect x='{_num(x - box_w / 2)}' y='{_num(top)}' width='{_num(box_w)}' height='{box_h}' "
            "rx='5' fill='#eef2f8' stroke='#6b7a90'/>"
        )
        for j, s in enumerate(lines):
            weight = " font-weight='bold'" if j == 0 else ""
            out.append(
                f"<text x='{x}' y='{_num(top + 18 + 17 * j)}' text-anchor='middle' "
                f"font-size='{NODE_PX}'{weight}>{esc(s)}</text>"
            )
    out.append(
        f"<text x='12' y='{FIRST_ROW - 22}' font-size='11' fill='#333333'>virtual time (s)</text>"
    )
    details = _details(data, page)
    prev_t: float | None = None if first_row == 0 else float(all_rows.iloc[first_row - 1]["time"])
    for i, r in enumerate(page.itertuples(index=False)):
        y = FIRST_ROW + ROW_STEP * i
        if prev_t is not None and r.time - prev_t > break_s:
            rule = y - ROW_STEP / 2
            out.append(
                f"<line x1='5' y1='{_num(rule)}' x2='{width - 10}' y2='{_num(rule)}' stroke='#bbbbbb' "
                "stroke-width='0.8' stroke-dasharray='1 2'/>"
                f"<text x='155' y='{_num(rule + 3)}' font-size='9' fill='#888888' stroke='white' "
                f"stroke-width='3' paint-order='stroke'>+{r.time - prev_t:.3f} s</text>"
            )
        prev_t = r.time
        out.append(
            f"<text x='{TIME_RIGHT}' y='{y + 4}' text-anchor='end' font-family='{_MONO}'>{r.time:.3f}</text>"
        )
        if r.kind == "message":
            out.append(_arrow(r, xpos, y, details.get(int(r.seq), r.text)))
            if r.src_node in xpos and r.dst_node in xpos:
                half = text_width(r.text, LABEL_PX) / 2
                mid = (xpos[r.src_node] + xpos[r.dst_node]) / 2
                reach += [mid - half, mid + half]
        else:
            out.append(_note(r, xpos, cols, y))
            x, half = _note_x(r, xpos, cols), (text_width(r.text, NOTE_PX) + 8) / 2
            reach += [x - half, x + half]
    more = total - first_row - len(page)
    if more > 0:
        out.append(
            f"<text x='{width - 10}' y='{height - 4}' text-anchor='end' font-size='9.7' fill='#666666'>"
            f"… {more} more rows (ladder_pages)</text>"
        )
    left = min(0, int(min(reach)) - 8)
    full = max(width, int(max(reach)) + 9) - left
    root = (
        f"<svg xmlns='http://www.w3.org/2000/svg' class='ladder' role='img' aria-label='{esc(label)}' "
        f"width='{full}' height='{height}' viewBox='{left} 0 {full} {height}' "
        f"font-family='{_FONT}' font-size='{LABEL_PX}' xml:space='preserve' style='white-space:pre'>"
        f"<title>{esc(label)}</title>"
        f"<rect x='{left}' width='{full}' height='{height}' fill='white'/>"
    )
    return root + "".join(out) + "</svg>"


def _details(data: ReportData, page: pd.DataFrame) -> dict[int, str]:
    """Hover text of the page's message rows, by trace sequence number."""
    seqs = page.loc[page["kind"] == "message", "seq"]
    msgs = data.messages
    if seqs.empty or msgs.empty:
        return {}
    # only the columns message_detail reads: itertuples costs a column look-up per column
    chosen = msgs.loc[msgs["seq"].isin(seqs), list(_DETAIL_COLUMNS)]
    return {int(m.seq): message_detail(m) for m in chosen.itertuples(index=False)}


#: the messages columns :func:`~puasim.report.ladder.message_detail` reads
_DETAIL_COLUMNS = (
    "seq",
    "time",
    "kind",
    "method",
    "ruri",
    "status",
    "reason",
    "to",
    "call_id",
    "cseq",
    "event",
    "expires",
    "if_match",
    "etag",
    "sub_state",
    "content_type",
    "body_size",
    "src",
    "dst",
    "retransmission",
    "duplicates",
    "dropped",
    "drop_reason",
)


def _arrow(r: Any, xpos: dict[str, int], y: int, detail: str) -> str:
    x0 = xpos.get(r.src_node)
    x1 = xpos.get(r.dst_node)
    if x0 is None or x1 is None:
        return ""
    if r.retransmission:
        color = COLORS["retransmission"]
    elif r.error:
        color = COLORS["error"]
    else:
        color = COLORS["request"] if r.request else COLORS["response"]
    dash = " stroke-dasharray='5 3'" if r.retransmission else ""
    line_y = y + 3
    end = x1 + (x0 - x1) * 0.38 if r.dropped else x1
    parts = [
        f"<g><title>{esc(detail)}</title>",
        f"<line x1='{x0}' y1='{line_y}' x2='{_num(end)}' y2='{line_y}' stroke='{color}' "
        f"stroke-width='1.6'{dash}/>",
    ]
    if r.dropped:
        c = COLORS["dropped"]
        parts.append(
            f"<path d='M{_num(end - 4)} {line_y - 4}l8 8m0 -8l-8 8' stroke='{c}' stroke-width='2.2'/>"
        )
    else:
        sign = 1 if x1 >= x0 else -1
        parts.append(f"<path d='M{x1} {line_y}l{-10 * sign} -4v8z' fill='{color}'/>")
    parts.append(
        f"<text x='{_num((x0 + x1) / 2)}' y='{y - 1}' text-anchor='middle' fill='{color}'>{esc(r.text)}</text></g>"
    )
    return "".join(parts)


def _note(r: Any, xpos: dict[str, int], cols: list[str], y: int) -> str:
    incident = r.kind == "incident"
    x = _note_x(r, xpos, cols)
    w = text_width(r.text, NOTE_PX) + 8
    fill, edge = ("#f6effa", COLORS["incident"]) if incident else ("#fbfbf3", "#d8d8c0")
    color = COLORS["incident"] if incident else COLORS["note"]
    style = "" if incident else " font-style='italic'"
    return (
        f"<g><title>{esc(r.text)}</title>"
        f"<rect x='{_num(x - w / 2)}' y='{y - 8}' width='{_num(w)}' height='16' rx='3' fill='{fill}' "
        f"stroke='{edge}' stroke-width='0.6'/>"
        f"<text x='{x}' y='{y + 3}' text-anchor='middle' font-size='{NOTE_PX}' fill='{color}'{style}>"
        f"{esc(r.text)}</text></g>"
    )


def _note_x(r: Any, xpos: dict[str, int], cols: list[str]) -> int:
    """Where a note is centred: on its node, or across the diagram (scenario steps, other nodes)."""
    x = xpos.get(r.node)
    return (xpos[cols[0]] + xpos[cols[-1]]) // 2 if x is None else x


def ladder_svg_pages(
    data: ReportData,
    start: float | None = None,
    end: float | None = None,
    *,
    rows_per_page: int = ROWS_PER_PAGE,
    notes: bool = True,
    max_pages: int | None = None,
    title: str | None = None,
    rows: pd.DataFrame | None = None,
) -> list[str]:
    """The whole slice as SVG ladder pages of ``rows_per_page`` rows (at most ``max_pages``).

    Page ``k`` (from 1) is labelled ``ladder page k``, as in the report.
    """
    rows = ladder_rows(data, start, end, notes) if rows is None else rows
    return [
        ladder_svg(
            data,
            first_row=first,
            max_rows=rows_per_page,
            notes=notes,
            title=title,
            label=f"ladder page {k}",
            rows=rows,
        )
        for k, first in enumerate(page_starts(len(rows), rows_per_page, max_pages), start=1)
    ]
