"""The report's load chart and lead-time histogram as SVG text written directly (no matplotlib drawing).

:func:`lead_histogram_svg`
    the picture :func:`puasim.report.charts.lead_histogram` draws, with the
    same bins (:func:`~puasim.report.charts.histogram_edges`), limits and
    legend: the PUA record's lead times as filled bars, the server's as an
    outline, the median dotted and the expiry (0) in red; each bar's
    ``<title>`` gives its range and count when hovered.
:func:`load_chart_svg`
    the picture :func:`puasim.report.charts.load_chart` draws: requests per
    second per method as step lines (and the total when there are several),
    restarts, crashes and faults as dashed lines with labels kept inside the
    axes and clear of each other, the legend beside the axes; each line's
    ``<title>`` names its series and peak rate.

Text is SVG ``<text>`` the browser renders.  Tick positions come from
matplotlib's ``MaxNLocator`` (a calculation, nothing is drawn).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from puasim.report.charts import _SERIES_COLORS, _auto_bin, histogram_edges, incident_marks
from puasim.report.figures import COLORS
from puasim.report.metrics import load_curve
from puasim.report.svgladder import esc, text_width

if TYPE_CHECKING:
    from puasim.report.frames import ReportData

#: picture size in pixels: the size of the PNG the report embedded before
WIDTH, HEIGHT = 741, 350
#: the plot area
_LEFT, _RIGHT, _TOP, _BOTTOM = 62, 731, 31, 306
_FONT = "DejaVu Sans, Verdana, Helvetica, Arial, sans-serif"


def tick_labels(ticks: list[float]) -> list[str]:
    """Tick labels with as many decimals as the finest tick needs, all alike (as matplotlib
    writes them: 0.0000 ... 0.0010, or 0.0 2.5 5.0), a true minus sign."""
    decimals = 0
    for t in ticks:
        frac = f"{abs(t):.6f}".rstrip("0").split(".")[1]
        decimals = max(decimals, len(frac))
    out = []
    for t in ticks:
        text = f"{t:.{decimals}f}"
        out.append(text.lstrip("-") if float(text) == 0 else text.replace("-", "\u2212"))
    return out


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
        svg_open(label, WIDTH, HEIGHT),
        f"<text x='{(_LEFT + _RIGHT) / 2}' y='{_TOP - 9}' text-anchor='middle' font-size='15.3'>"
        f"{esc(f'{title}: refresh lead times')}</text>",
    ]
    values = lead["lead"].dropna().to_numpy()
    server = lead["server_lead"].dropna().to_numpy()
    if not len(values):
        out += axes_frame([], [], 0.0, 1.0, 0.0, 1.0)
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

    px, py = linear(x0, x1, _LEFT, _RIGHT), linear(0.0, y1, _BOTTOM, _TOP)

    xticks, yticks = axis_ticks(x0, x1), axis_ticks(0, y1, integer=True)
    out += grid_lines(xticks, yticks, px, py, (_LEFT, _RIGHT, _TOP, _BOTTOM))
    for a, b, n in zip(edges[:-1], edges[1:], counts, strict=True):
        if n:
            out.append(
                f"<rect x='{px(a):.1f}' y='{py(n):.1f}' width='{px(b) - px(a):.1f}' "
                f"height='{py(0) - py(n):.1f}' fill='{COLORS['pua']}' fill-opacity='0.8' "
                "shape-rendering='crispEdges'>"
                f"<title>{esc(f'{a:g} to {b:g} s before expiry: {n} refreshes')}</title></rect>"
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
    out += axes_frame(xticks, yticks, x0, x1, 0.0, y1)
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


def linear(lo: float, hi: float, start: float, stop: float) -> Callable[[float], float]:
    """The pixel of a value on an axis that runs from ``lo`` at pixel ``start`` to ``hi`` at
    pixel ``stop`` (a y axis: ``stop`` above ``start``, a smaller pixel)."""
    span, pixels = hi - lo, stop - start
    return lambda v: start + (v - lo) / span * pixels


def axis_ticks(lo: float, hi: float, *, integer: bool = False) -> list[float]:
    """The ticks matplotlib's AutoLocator puts on an axis from ``lo`` to ``hi`` (a calculation,
    nothing is drawn): at most 9 intervals of 1, 2, 2.5 or 5 times a power of ten (with
    ``integer``, MaxNLocator's whole-number steps), only those inside the axis."""
    locator = MaxNLocator(nbins=9, integer=True) if integer else MaxNLocator(nbins=9, steps=_STEPS)
    return [t for t in locator.tick_values(lo, hi) if lo <= t <= hi]


def grid_lines(
    xticks: list[float], yticks: list[float], px: Any, py: Any, box: tuple[int, int, int, int]
) -> list[str]:
    """Light grid lines across the plot area ``box`` (left, right, top, bottom pixels) at the ticks."""
    left, right, top, bottom = box
    return [
        f"<line x1='{px(t):.1f}' y1='{top}' x2='{px(t):.1f}' y2='{bottom}' stroke='#eeeeee'/>"
        for t in xticks
    ] + [
        f"<line x1='{left}' y1='{py(t):.1f}' x2='{right}' y2='{py(t):.1f}' stroke='#eeeeee'/>"
        for t in yticks
    ]


def svg_open(label: str, width: float, height: float, *, left: float = 0) -> str:
    """The ``<svg>`` start tag of a chart (``left``: the view box's left edge), its ``<title>``
    and a white background."""
    x = f"x='{left}' " if left else ""
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' class='chart' role='img' aria-label='{esc(label)}' "
        f"width='{width}' height='{height}' viewBox='{left} 0 {width} {height}' "
        f"font-family='{_FONT}' font-size='13.9'><title>{esc(label)}</title>"
        f"<rect {x}width='{width}' height='{height}' fill='white'/>"
    )


def x_tick_reach(xticks: list[float], px: Any) -> tuple[float, float]:
    """Left and right pixel of the first and last x tick label (they reach past the axes' ends)."""
    labels = tick_labels(xticks)
    return (
        px(xticks[0]) - text_width(labels[0], 13.9) / 2,
        px(xticks[-1]) + text_width(labels[-1], 13.9) / 2,
    )


def axes_frame(
    xticks: list[float],
    yticks: list[float],
    x0: float,
    x1: float,
    y0: float,
    y1: float,
    *,
    box: tuple[int, int, int, int] = (_LEFT, _RIGHT, _TOP, _BOTTOM),
    xlabel_y: float = HEIGHT - 8,
    xlabel: str = "lead time: seconds before expiry the refresh left",
    ylabel: tuple[str, ...] = ("refreshes",),
) -> list[str]:
    """Axes box (left, right, top, bottom pixels) over [x0, x1] x [y0, y1], ticks with labels,
    the x label's baseline at ``xlabel_y``, the y label's lines rotated at the left edge."""
    left, right, top, bottom = box

    px, py = linear(x0, x1, left, right), linear(y0, y1, bottom, top)

    out = [
        f"<rect x='{left}' y='{top}' width='{right - left}' height='{bottom - top}' "
        "fill='none' stroke='black' stroke-width='1.1'/>"
    ]
    for t, text in zip(xticks, tick_labels(xticks), strict=True):
        x = px(t)
        out.append(
            f"<line x1='{x:.1f}' y1='{bottom}' x2='{x:.1f}' y2='{bottom + 5}' stroke='black'/>"
            f"<text x='{x:.1f}' y='{bottom + 19}' text-anchor='middle'>{text}</text>"
        )
    for t, text in zip(yticks, tick_labels(yticks), strict=True):
        y = py(t)
        out.append(
            f"<line x1='{left - 5}' y1='{y:.1f}' x2='{left}' y2='{y:.1f}' stroke='black'/>"
            f"<text x='{left - 8}' y='{y + 5:.1f}' text-anchor='end'>{text}</text>"
        )
    out.append(
        f"<text x='{(left + right) / 2}' y='{xlabel_y}' text-anchor='middle'>{esc(xlabel)}</text>"
    )
    for i, line in enumerate(ylabel):
        x = 16 + 16 * i
        out.append(
            f"<text transform='translate({x} {(top + bottom) / 2}) rotate(-90)' "
            f"text-anchor='middle'>{esc(line)}</text>"
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
        out.append(f"{key}<text x='{x + 38}' y='{y + 4}'>{esc(text)}</text>")
    out.append("</g>")
    return "".join(out)


#: load chart size in pixels (the PNG's before) and its plot area (the right edge leaves
#: room for the legend)
LOAD_WIDTH, LOAD_HEIGHT = 1089, 369
_LOAD_BOX = (72, LOAD_WIDTH - 8, 27, 317)
#: incident labels: font size in pixels (7.5 pt)
_MARK_PX = 10.4


def load_chart_svg(
    data: ReportData,
    *,
    label: str = "request rate",
    by: str | None = "method",
    incidents: bool = True,
) -> str:
    """Requests per second over the whole run as one ``<svg>`` (see :func:`puasim.report.charts.load_chart`).

    Bins as ``load_chart``'s default: the narrowest of 1, 2, 5, 10 ... s
    giving at most about 2000 bins, at least 1 s.
    """
    t0, t1 = 0.0, max(data.end_time, 1.0)
    width = max(1.0, _auto_bin(t1 - t0))
    curve = load_curve(data, bin_s=width, by=by, start=t0, end=t1)
    names = list(dict.fromkeys(curve["series"]))
    keys = (["all requests"] if len(names) > 1 else []) + names
    left, edge, top, bottom = _LOAD_BOX
    # the legend sits beside the axes, where nothing runs under it; the axes give it room
    right = edge - (int(max(text_width(k, _LEGEND_PX) for k in keys)) + 50 if keys else 0)
    box = (left, right, top, bottom)
    out = [
        svg_open(label, LOAD_WIDTH, LOAD_HEIGHT),
        f"<text x='{(left + right) / 2}' y='{top - 9}' text-anchor='middle' font-size='15.3'>"
        f"{esc(f'{data.title}: request rate')}</text>",
    ]
    times = np.asarray(curve["time"], dtype=float)
    rates = np.asarray(curve["rate"], dtype=float)
    series = {n: rates[(curve["series"] == n).to_numpy()] for n in names}
    starts = times[(curve["series"] == names[0]).to_numpy()] if names else np.array([])
    lines: list[tuple[str, str, float, float, np.ndarray]] = []
    if len(names) > 1:
        total = np.sum(list(series.values()), axis=0)
        lines.append(("all requests", "#222222", 1.0, 0.6, total))
    for i, n in enumerate(names):
        lines.append((n, _SERIES_COLORS[i % len(_SERIES_COLORS)], 1.4, 1.0, series[n]))
    ymax = max((float(v.max()) for *_rest, v in lines if len(v)), default=1.0)
    y1 = max(1.0, ymax) * 1.18
    margin = 0.01 * (t1 - t0)
    x0, x1 = t0 - margin, t1 + margin

    px, py = linear(x0, x1, left, right), linear(0.0, y1, bottom, top)

    xticks, yticks = axis_ticks(x0, x1), axis_ticks(0, y1)
    out += grid_lines(xticks, yticks, px, py, box)
    for name, color, lw, alpha, values in lines:
        # steps drawn "post": each bin's level from its start to the next, the last to the end
        d = []
        for k, (t, v) in enumerate(zip(starts, values, strict=True)):
            nxt = starts[k + 1] if k + 1 < len(starts) else t1
            d.append(f"{px(t):.1f},{py(v):.1f} {px(nxt):.1f},{py(v):.1f}")
        peak = float(values.max()) if len(values) else 0.0
        opacity = f" stroke-opacity='{alpha}'" if alpha < 1 else ""
        out.append(
            f"<polyline points='{' '.join(d)}' fill='none' stroke='{color}' stroke-width='{lw * 1.39:.2f}'"
            f"{opacity}><title>{esc(f'{name}: peak {peak:g} requests/s')}</title></polyline>"
        )
    if incidents:
        out += _incident_marks(incident_marks(data, t0, t1), px, box)
    out += axes_frame(
        xticks,
        yticks,
        x0,
        x1,
        0.0,
        y1,
        box=box,
        xlabel_y=LOAD_HEIGHT - 8,
        xlabel="virtual time (s)",
        ylabel=("requests per second", f"(bins of {width:g} s)"),
    )
    if names:
        out.append(f"<g font-size='{_LEGEND_PX}'>")
        for i, (name, color, lw, alpha, _v) in enumerate(lines):
            y = top + 10 + 17 * i
            opacity = f" stroke-opacity='{alpha}'" if alpha < 1 else ""
            out.append(
                f"<line x1='{right + 8}' y1='{y}' x2='{right + 35}' y2='{y}' stroke='{color}' "
                f"stroke-width='{lw * 1.39:.2f}'{opacity}/>"
                f"<text x='{right + 42}' y='{y + 4}'>{esc(name)}</text>"
            )
        out.append("</g>")
    out.append("</svg>")
    return "".join(out)


def _incident_marks(
    marks: list[tuple[float, str, str]], px: Any, box: tuple[int, int, int, int]
) -> list[str]:
    """A dashed line and a label per incident, the labels kept apart and inside the axes.

    A label reads to the right of its line, or to the left when it would
    run past the axes' right edge; a label that would overlap one already
    placed goes one line lower (as :func:`puasim.report.charts.load_chart`).
    """
    _left, right, top, bottom = box
    color = COLORS["incident"]
    placed: list[tuple[float, float, int]] = []
    out = []
    for t, node, label in marks:
        x = px(t)
        text = f"{node} {label}"
        w = text_width(text, _MARK_PX) + 6
        start, end = (x, x + w) if x + w <= right else (x - w, x)
        level = 0
        while any(lv == level and s < end and start < e for s, e, lv in placed):
            level += 1
        placed.append((start, end, level))
        y = top + 12 + level * 0.075 * (bottom - top)
        anchor, tx = ("start", x + 3) if start == x else ("end", x - 3)
        out.append(
            f"<line x1='{x:.1f}' y1='{top}' x2='{x:.1f}' y2='{bottom}' stroke='{color}' "
            "stroke-width='1.4' stroke-dasharray='5 2'/>"
            f"<text x='{tx:.1f}' y='{y:.1f}' text-anchor='{anchor}' font-size='{_MARK_PX}' "
            f"fill='{color}'>{esc(text)}</text>"
        )
    return out
