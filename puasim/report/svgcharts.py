"""The refresh lead-time histogram as SVG text written directly (no matplotlib drawing).

The picture :func:`puasim.report.charts.lead_histogram` draws, with the same
bins (:func:`~puasim.report.charts.histogram_edges`), limits and legend:
the PUA record's lead times as filled bars, the server's as an outline, the
median dotted and the expiry (0) in red.  Text is SVG ``<text>`` the
browser renders, and each bar's ``<title>`` gives its range and count when
hovered.  Tick positions come from matplotlib's ``MaxNLocator`` (a
calculation, nothing is drawn).
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from puasim.report.charts import histogram_edges
from puasim.report.figures import COLORS
from puasim.report.svgladder import text_width

#: picture size in pixels: the size of the PNG the report embedded before
WIDTH, HEIGHT = 741, 350
#: the plot area
_LEFT, _RIGHT, _TOP, _BOTTOM = 62, 731, 31, 306
_FONT = "DejaVu Sans, Verdana, Helvetica, Arial, sans-serif"


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _tick(v: float) -> str:
    """A tick label as matplotlib writes it: shortest form, a true minus sign."""
    text = f"{v:.6g}"
    return "0" if text in ("0", "-0") else text.replace("-", "\u2212")


def lead_histogram_svg(
    lead: pd.DataFrame,
    title: str,
    *,
    label: str = "refresh lead times",
    bins: int | None = None,
) -> str:
    """The histogram of ``lead`` (:func:`~puasim.report.metrics.refresh_lead_times`) as one ``<svg>``.

    ``label`` names the picture (``aria-label`` and the SVG's ``<title>``).
    """
    out = [
        f"<svg xmlns='http://www.w3.org/2000/svg' class='chart' role='img' aria-label='{_esc(label)}' "
        f"width='{WIDTH}' height='{HEIGHT}' viewBox='0 0 {WIDTH} {HEIGHT}' font-family='{_FONT}' "
        f"font-size='13.9'><title>{_esc(label)}</title>"
        f"<rect width='{WIDTH}' height='{HEIGHT}' fill='white'/>",
        f"<text x='{(_LEFT + _RIGHT) / 2}' y='{_TOP - 9}' text-anchor='middle' font-size='15.3'>"
        f"{_esc(f'{title}: refresh lead times')}</text>",
    ]
    values = lead["lead"].dropna().to_numpy()
    server = lead["server_lead"].dropna().to_numpy()
    if not len(values):
        out += _frame([], [], 0.0, 1.0, 0.0, 1.0)
        out.append(
            f"<text x='{(_LEFT + _RIGHT) / 2}' y='{(_TOP + _BOTTOM) / 2 + 5}' text-anchor='middle' "
            "fill='#666666'>no refreshes in this trace</text></svg>"
        )
        return "".join(out)
    edges, step = histogram_edges(values, server, bins)
    left, right = min(edges[0], 0.0), max(edges[-1], 0.0)
    pad = max(0.05 * (right - left), step)
    x0, x1 = left - pad, right + pad
    counts = np.histogram(values, bins=edges)[0]
    outline = np.histogram(server, bins=edges)[0] if len(server) else None
    tallest = max(float(counts.max()), 1.0)
    if outline is not None:
        tallest = max(tallest, float(outline.max()))
    y1 = tallest * 1.12

    def px(x: float) -> float:
        return _LEFT + (x - x0) / (x1 - x0) * (_RIGHT - _LEFT)

    def py(y: float) -> float:
        return _BOTTOM - y / y1 * (_BOTTOM - _TOP)

    # matplotlib's AutoLocator on an axis this long: at most 9 intervals of 1, 2, 2.5 or 5
    xticks = [t for t in MaxNLocator(nbins=9, steps=_STEPS).tick_values(x0, x1) if x0 <= t <= x1]
    yticks = [t for t in MaxNLocator(nbins=9, integer=True).tick_values(0, y1) if 0 <= t <= y1]
    grid = [
        f"<line x1='{px(t):.1f}' y1='{_TOP}' x2='{px(t):.1f}' y2='{_BOTTOM}' stroke='#eeeeee'/>"
        for t in xticks
    ] + [
        f"<line x1='{_LEFT}' y1='{py(t):.1f}' x2='{_RIGHT}' y2='{py(t):.1f}' stroke='#eeeeee'/>"
        for t in yticks
    ]
    out += grid
    for a, b, n in zip(edges[:-1], edges[1:], counts, strict=True):
        if n:
            out.append(
                f"<rect x='{px(a):.1f}' y='{py(n):.1f}' width='{px(b) - px(a):.1f}' "
                f"height='{py(0) - py(n):.1f}' fill='{COLORS['pua']}' fill-opacity='0.8' "
                "shape-rendering='crispEdges'>"
                f"<title>{_esc(f'{a:g} to {b:g} s before expiry: {n} refreshes')}</title></rect>"
            )
    if outline is not None:
        points = [f"{px(edges[0]):.1f},{py(0):.1f}"]
        for a, b, n in zip(edges[:-1], edges[1:], outline, strict=True):
            points += [f"{px(a):.1f},{py(n):.1f}", f"{px(b):.1f},{py(n):.1f}"]
        points.append(f"{px(edges[-1]):.1f},{py(0):.1f}")
        out.append(
            f"<polyline points='{' '.join(points)}' fill='none' stroke='{COLORS['server']}' "
            "stroke-width='2'/>"
        )
    med = float(np.median(values))
    late = int((values < 0).sum())
    out.append(
        f"<line x1='{px(med):.1f}' y1='{_TOP}' x2='{px(med):.1f}' y2='{_BOTTOM}' stroke='#222222' "
        "stroke-width='1.6' stroke-dasharray='1.6 2.6'/>"
        f"<line x1='{px(0):.1f}' y1='{_TOP}' x2='{px(0):.1f}' y2='{_BOTTOM}' "
        f"stroke='{COLORS['error']}' stroke-width='2'/>"
    )
    out += _frame(xticks, yticks, x0, x1, 0.0, y1)
    entries = [
        ("bar", COLORS["pua"], f"PUA record expiry (n={len(values)})"),
        *([("outline", COLORS["server"], "server expiry of the ETag")] if len(server) else []),
        ("dotted", "#222222", f"median {med:.1f} s"),
        ("line", COLORS["error"], f"expiry ({late} late)"),
    ]
    # the legend goes in the upper corner where the bars under it are lowest
    box = _legend_width(entries)
    tops = np.maximum(counts, outline) if outline is not None else counts

    def under(a: float, b: float) -> float:
        return max(
            (
                float(n)
                for e0, e1, n in zip(edges[:-1], edges[1:], tops, strict=True)
                if px(e1) > a and px(e0) < b
            ),
            default=0.0,
        )

    right_side = under(_RIGHT - box - 6, _RIGHT) < under(_LEFT, _LEFT + box + 6)
    out.append(_legend(entries, box, right_side))
    out.append("</svg>")
    return "".join(out)


def _frame(
    xticks: list[float], yticks: list[float], x0: float, x1: float, y0: float, y1: float
) -> list[str]:
    """Axes box, ticks with labels, axis labels."""

    def px(x: float) -> float:
        return _LEFT + (x - x0) / (x1 - x0) * (_RIGHT - _LEFT)

    def py(y: float) -> float:
        return _BOTTOM - (y - y0) / (y1 - y0) * (_BOTTOM - _TOP)

    out = [
        f"<rect x='{_LEFT}' y='{_TOP}' width='{_RIGHT - _LEFT}' height='{_BOTTOM - _TOP}' "
        "fill='none' stroke='black' stroke-width='1.1'/>"
    ]
    for t in xticks:
        x = px(t)
        out.append(
            f"<line x1='{x:.1f}' y1='{_BOTTOM}' x2='{x:.1f}' y2='{_BOTTOM + 5}' stroke='black'/>"
            f"<text x='{x:.1f}' y='{_BOTTOM + 19}' text-anchor='middle'>{_tick(t)}</text>"
        )
    for t in yticks:
        y = py(t)
        out.append(
            f"<line x1='{_LEFT - 5}' y1='{y:.1f}' x2='{_LEFT}' y2='{y:.1f}' stroke='black'/>"
            f"<text x='{_LEFT - 8}' y='{y + 5:.1f}' text-anchor='end'>{_tick(t)}</text>"
        )
    out.append(
        f"<text x='{(_LEFT + _RIGHT) / 2}' y='{HEIGHT - 8}' text-anchor='middle'>"
        "lead time: seconds before expiry the refresh left</text>"
        f"<text transform='translate(16 {(_TOP + _BOTTOM) / 2}) rotate(-90)' "
        "text-anchor='middle'>refreshes</text>"
    )
    return out


_LEGEND_PX = 11.1
_STEPS = [1, 2, 2.5, 5, 10]


def _legend_width(entries: list[tuple[str, str, str]]) -> float:
    return 40 + max(text_width(text, _LEGEND_PX) for _k, _c, text in entries)


def _legend(entries: list[tuple[str, str, str]], width: float, right_side: bool) -> str:
    """The legend: a key and a label per entry, in an upper corner of the plot area."""
    x = _RIGHT - width - 6 if right_side else _LEFT + 6
    out = [f"<g font-size='{_LEGEND_PX}'>"]
    for i, (kind, color, text) in enumerate(entries):
        y = _TOP + 14 + 17 * i
        if kind == "bar":
            key = f"<rect x='{x + 4}' y='{y - 5}' width='27' height='10' fill='{color}' fill-opacity='0.8'/>"
        elif kind == "outline":
            key = (
                f"<rect x='{x + 4}' y='{y - 5}' width='27' height='10' fill='none' "
                f"stroke='{color}' stroke-width='2'/>"
            )
        else:
            dash = " stroke-dasharray='1.6 2.6'" if kind == "dotted" else ""
            key = f"<line x1='{x + 4}' y1='{y}' x2='{x + 31}' y2='{y}' stroke='{color}' stroke-width='2'{dash}/>"
        out.append(f"{key}<text x='{x + 38}' y='{y + 4}'>{_esc(text)}</text>")
    out.append("</g>")
    return "".join(out)
