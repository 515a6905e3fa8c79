"""The busy-lamp timeline as SVG text written directly (no matplotlib drawing).

The picture :func:`puasim.report.lampchart.lamp_timeline` draws, from the
same bands (:func:`~puasim.report.lampchart.lamp_bands`): per watcher and
watched extension the true lamp (upper lane) and the lamp the watcher's last
NOTIFY showed (lower lane), grey idle, orange ringing, red busy; wrong
intervals shaded behind the band in their cause's colour (at least about two
pixels wide) and labelled with the cause when wide enough; the legend beside
the axes names the lamps and every cause drawn.  The axes are as tall as the
PNG's (:func:`~puasim.report.lampchart.axes_inches` at 100 dpi), so the
picture keeps its size.

Every span's ``<title>`` says which lamp it is and when (the band's label,
the lamp, start and end), every wrong interval its cause and times, shown on
hover.  Text from the trace (watcher and extension names) is escaped.  The
lanes are ``<rect class='truth'>`` and ``<rect class='shown'>``, the wrong
intervals ``<rect class='wrong'>``, each band a ``<g class='lamp-band'>``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from puasim.report.lampchart import (
    CAUSE_COLORS,
    LAMP_COLORS,
    MIN_END,
    TITLE,
    axes_inches,
    lamp_bands,
)
from puasim.report.lamps import CAUSES
from puasim.report.svgcharts import axes_frame, axis_ticks, linear, svg_open, x_tick_reach
from puasim.report.svgladder import esc, text_width

if TYPE_CHECKING:
    from collections.abc import Callable

    from puasim.report.lampchart import LampBand
    from puasim.report.lamps import LampFrames

#: plot area's left edge and width, pixels (the PNG's axes at 100 dpi)
_AX_LEFT, _AX_W = 220, 682
#: top of the plot area (the title above it), pixels
_TOP = 26
#: font sizes, pixels (the PNG's 9, 8, 7 and 6 points at 100 dpi)
_TITLE_PX, _BAND_PX, _SMALL_PX, _LANE_PX = 12.5, 11.1, 9.7, 8.3
#: a band's label ends this far left of the axes (28 points)
_LABEL_GAP = 38.9
#: legend: rows apart, key width and where the text starts, pixels
_ROW, _KEY_W, _KEY_TEXT = 14.5, 19, 27
_WRONG_OPACITY = 0.35


def lamp_timeline_svg(
    frames: LampFrames,
    end_time: float,
    pairs: list[tuple[str, str, str]] | None = None,
    *,
    label: str = "busy lamp timeline",
) -> str:
    """The busy-lamp timeline of ``pairs`` (default: :func:`~puasim.report.lampchart.chosen_pairs`) as one ``<svg>``.

    ``label`` names the picture (``aria-label`` and the SVG's ``<title>``).
    """
    bands = lamp_bands(frames, end_time, pairs)
    n = len(bands)
    end = max(end_time, MIN_END)
    axes_in, _under = axes_inches(n)
    bottom = _TOP + round(axes_in * 100)
    height = bottom + 50
    unit = (bottom - _TOP) / (n + 0.1)
    x0, x1 = -end * 0.01, end * 1.01
    right = _AX_LEFT + _AX_W

    px = linear(x0, x1, _AX_LEFT, _AX_LEFT + _AX_W)

    def py(y: float) -> float:  # y in bands, 0 at the bottom
        return bottom - y * unit

    out = [
        f"<text x='{_AX_LEFT + _AX_W / 2}' y='{_TOP - 8}' text-anchor='middle' font-size='{_TITLE_PX}'>"
        f"{esc(TITLE)}</text>"
    ]
    if not bands:
        out.append(
            f"<text x='{_AX_LEFT + _AX_W / 2}' y='{(_TOP + bottom) / 2 + 5:.1f}' text-anchor='middle'>"
            "no phone watches an extension in this trace</text>"
        )
        left, width = _AX_LEFT - 10, _AX_W + 20
        return svg_open(label, width, height, left=left) + "".join(out) + "</svg>"
    used: set[str] = set()
    lane_x = px(-end * 0.012)
    reach = [_AX_LEFT - _LABEL_GAP - text_width(b.label, _BAND_PX) for b in bands]
    for row, band in enumerate(bands):
        y = n - 1 - row
        used.update(cause for _s, _e, cause in band.wrong)
        # crisp edges: neighbouring spans of one lamp show no seam between them
        out.append("<g class='lamp-band' shape-rendering='crispEdges'>")
        out += _wrong(band, y, end, px, py, unit)
        out += _lane(band, "truth", band.truth, py(y + 0.82), unit, px)
        out += _lane(band, "shown", band.shown, py(y + 0.42), unit, px)
        out.append(
            f"<text x='{_AX_LEFT - _LABEL_GAP:.1f}' y='{py(y + 0.47) + 4:.1f}' text-anchor='end' "
            f"font-size='{_BAND_PX}'>{esc(band.label)}</text>"
            f"<g font-size='{_LANE_PX}' fill='#555555' text-anchor='end'>"
            f"<text x='{lane_x:.1f}' y='{py(y + 0.67) + 3:.1f}'>truth</text>"
            f"<text x='{lane_x:.1f}' y='{py(y + 0.27) + 3:.1f}'>shown</text></g></g>"
        )
    xticks = axis_ticks(x0, x1)
    out += axes_frame(
        xticks,
        [],
        x0,
        x1,
        0.0,
        1.0,
        box=(_AX_LEFT, right, _TOP, bottom),
        xlabel_y=bottom + 37,
        xlabel="virtual time (s)",
        ylabel=(),
    )
    entries = [(f"lamp {k}", c, 1.0) for k, c in LAMP_COLORS.items()]
    entries += [(f"wrong: {c}", CAUSE_COLORS[c], _WRONG_OPACITY) for c in CAUSES if c in used]
    out.append(_legend(entries, right + 12))
    edge = right + 12 + _KEY_TEXT + max(text_width(t, _SMALL_PX) for t, _c, _o in entries)
    if xticks:
        first, last = x_tick_reach(xticks, px)
        reach.append(first)
        edge = max(edge, last)
    left = int(min(reach)) - 10
    width = int(edge) + 10 - left
    return svg_open(label, width, height, left=left) + "".join(out) + "</svg>"


def _lane(
    band: LampBand,
    kind: str,
    spans: tuple[tuple[float, float, str], ...],
    top: float,
    unit: float,
    px: Callable[[float], float],
) -> list[str]:
    """One lane's spans as rectangles 0.3 band high from ``top``, each with its hover text."""
    what = "true lamp" if kind == "truth" else "lamp shown"
    return [
        f"<rect class='{kind}' x='{px(a):.1f}' y='{top:.1f}' width='{max(px(b) - px(a), 0.5):.1f}' "
        f"height='{0.3 * unit:.1f}' fill='{LAMP_COLORS[lamp]}'>"
        f"<title>{esc(f'{band.label}: {what} {lamp} {a:.3f}-{b:.3f} s')}</title></rect>"
        for a, b, lamp in spans
    ]


def _wrong(
    band: LampBand,
    y: float,
    end: float,
    px: Callable[[float], float],
    py: Callable[[float], float],
    unit: float,
) -> list[str]:
    """The band's wrong intervals, shaded behind it (at least ``end``/400 wide), labelled when wide."""
    out = []
    for start, stop, cause in band.wrong:
        width = max(stop - start, end / 400.0)
        color = CAUSE_COLORS.get(cause, "#000000")
        out.append(
            f"<rect class='wrong' x='{px(start):.1f}' y='{py(y + 0.92):.1f}' "
            f"width='{px(start + width) - px(start):.1f}' height='{0.9 * unit:.1f}' fill='{color}' "
            f"fill-opacity='{_WRONG_OPACITY}'>"
            f"<title>{esc(f'{band.label}: wrong ({cause}) {start:.3f}-{stop:.3f} s')}</title></rect>"
        )
        if stop - start > end / 12:
            # centred on the interval, but kept inside the axes (the PNG clips it there)
            half = text_width(cause, _SMALL_PX) / 2
            x = min(max(px(start + width / 2), _AX_LEFT + half), _AX_LEFT + _AX_W - half)
            out.append(
                f"<text x='{x:.1f}' y='{py(y + 0.94) - 2:.1f}' text-anchor='middle' "
                f"font-size='{_SMALL_PX}' fill='{color}'>{esc(cause)}</text>"
            )
    return out


def _legend(entries: list[tuple[str, str, float]], x: float) -> str:
    """The keys beside the axes, from the top: a coloured block and its text per entry."""
    out = [f"<g font-size='{_SMALL_PX}'>"]
    for i, (text, color, opacity) in enumerate(entries):
        y = _TOP + 9 + _ROW * i
        alpha = f" fill-opacity='{opacity}'" if opacity < 1 else ""
        out.append(
            f"<rect x='{x}' y='{y - 3.5:.1f}' width='{_KEY_W}' height='7' fill='{color}'{alpha}/>"
            f"<text x='{x + _KEY_TEXT}' y='{y + 3.5:.1f}'>{esc(text)}</text>"
        )
    out.append("</g>")
    return "".join(out)


__all__ = ["lamp_timeline_svg"]
