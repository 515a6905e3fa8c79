"""The per-presentity timeline as SVG text written directly (no matplotlib drawing).

The picture :func:`puasim.report.timeline.timeline` draws, from the same
rows (:func:`~puasim.report.timeline._by_key`): per (presentity, event) a
PUA lane (record lives in blue; ▲ initial, ◆ modify, | refresh, ▼ remove
PUBLISH; a red × where a 412 came back, a purple × for a local timeout)
and a server lane (publications in green, one sub-lane per publication
alive at the same time, white ticks at accepted refreshes and modifies);
gaps shaded red (``none``) and orange (``stale``), orphans hatched.  Every
shape's ``<title>`` says what it is and when, shown on hover.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from puasim.report.figures import COLORS
from puasim.report.svgcharts import (
    axes_frame,
    axis_ticks,
    grid_lines,
    linear,
    svg_open,
    x_tick_reach,
)
from puasim.report.svgladder import esc, text_width
from puasim.report.timeline import _band_name, _by_key, _clip, _columns, _keys, _sublanes

if TYPE_CHECKING:
    from puasim.report.frames import ReportData

#: plot area's left edge and width, pixels (the PNG's axes at 100 dpi)
_AX_LEFT, _AX_W = 209, 858
_TOP = 30
_NAME_PX, _LANE_PX = 11.8, 11.1
_MARK = "#1b2a49"


def timeline_svg(
    data: ReportData,
    keys: list[tuple[str, str]] | None = None,
    *,
    max_keys: int = 12,
    label: str = "timeline",
) -> str:
    """The timeline of ``keys`` ((presentity, event) pairs; default all, at most ``max_keys``) as one ``<svg>``."""
    keys = (keys if keys is not None else _keys(data))[:max_keys]
    t0, t1 = 0.0, max(data.end_time, 1e-3)
    span = t1 - t0
    nk = max(len(keys), 1)
    band = round(100 * (1.05 if nk <= 4 else max(0.6, 4.2 / nk)))
    x0, x1 = t0 - 0.01 * span, t1 + 0.01 * span
    bottom = _TOP + band * nk
    names = [_band_name(k) for k in keys]
    name_right = _AX_LEFT - 0.065 * _AX_W
    # the band names reach left of the axes (the PNG's crop held them); no bands: the axes
    reach = [name_right - text_width(n, _NAME_PX, bold=True) for n in names]
    left = int(min(reach + [130.0])) - 10 if names else _AX_LEFT - 12
    width = _AX_LEFT + _AX_W + 12 - left
    height = bottom + 106

    px = linear(x0, x1, _AX_LEFT, _AX_LEFT + _AX_W)

    def py(y: float) -> float:  # y in bands, 0 at the bottom
        return bottom - y * band

    out = [
        f"<text x='{_AX_LEFT + _AX_W / 2}' y='{_TOP - 8}' text-anchor='middle' font-size='15.3'>"
        f"{esc(f'{data.title}: PUA records and server state per presentity')}</text>",
        "<defs><pattern id='puasim-orphan' width='8' height='8' patternUnits='userSpaceOnUse'>"
        f"<path d='M0 8L8 0M-2 2L2 -2M6 10L10 6' stroke='{COLORS['orphan']}'/></pattern></defs>",
    ]
    xticks = axis_ticks(x0, x1)
    box = (_AX_LEFT, _AX_LEFT + _AX_W, _TOP, bottom)
    out += grid_lines(xticks, [], px, py, box)
    frames = _by_key(data, set(keys))
    for k, key in enumerate(reversed(keys)):
        out += _band(frames.get(key, {}), float(k), t1, span, px, py, band)
        out.append(
            f"<text x='{name_right:.1f}' y='{py(k + 0.5) + 4:.1f}' text-anchor='end' "
            f"font-size='{_NAME_PX}' font-weight='bold'>{esc(_band_name(key))}</text>"
            f"<text x='{_AX_LEFT - 8}' y='{py(k + 0.72) + 4:.1f}' text-anchor='end' "
            f"font-size='{_LANE_PX}'>PUA</text>"
            f"<text x='{_AX_LEFT - 8}' y='{py(k + 0.28) + 4:.1f}' text-anchor='end' "
            f"font-size='{_LANE_PX}'>server</text>"
        )
        if k:
            out.append(
                f"<line x1='{_AX_LEFT}' y1='{py(k):.1f}' x2='{_AX_LEFT + _AX_W}' y2='{py(k):.1f}' "
                "stroke='#999999' stroke-width='1.1'/>"
            )
    if not keys:
        out.append(
            f"<text x='{px((t0 + t1) / 2):.1f}' y='{py(0.5) + 5:.1f}' text-anchor='middle' "
            "fill='#666666'>no publications in this trace</text>"
        )
    out += axes_frame(
        xticks, [], x0, x1, 0.0, 1.0, box=box, xlabel_y=bottom + 37, xlabel="virtual time (s)", ylabel=()
    )
    # tick labels at the axis ends reach past it (the PNG's crop held them)
    if xticks:
        first, last = x_tick_reach(xticks, px)
        left = min(left, int(first) - 10)
        width = max(_AX_LEFT + _AX_W + 12, int(last) + 10) - left
    out.append(_legend(bottom + 62))
    return svg_open(label, width, height, left=left) + "".join(out) + "</svg>"


def _marker(kind: str, x: float, y: float, color: str) -> str:
    """One PUBLISH marker: ^ initial, D modify, | refresh, v remove, x 412 or timeout."""
    if kind == "^":
        return f"<path d='M{x:.1f} {y - 4:.1f}l4 7h-8z' fill='{color}'/>"
    if kind == "v":
        return f"<path d='M{x:.1f} {y + 4:.1f}l4 -7h-8z' fill='{color}'/>"
    if kind == "D":
        return f"<path d='M{x:.1f} {y - 5:.1f}l5 5l-5 5l-5 -5z' fill='{color}'/>"
    if kind == "|":
        return f"<line x1='{x:.1f}' y1='{y - 7:.1f}' x2='{x:.1f}' y2='{y + 7:.1f}' stroke='{color}' stroke-width='1.4'/>"
    return f"<path d='M{x - 4:.1f} {y - 4:.1f}l8 8m0 -8l-8 8' stroke='{color}' stroke-width='2.8'/>"


_OPS = {"initial": "^", "modify": "D", "refresh": "|", "remove": "v"}


def _band(
    frames: dict[str, Any], base: float, t1: float, span: float, px: Any, py: Any, band: int
) -> list[str]:
    """One band, as :func:`puasim.report.timeline._band` draws it."""
    out: list[str] = []
    min_w = span * 0.003

    def rect(s: float, e: float, y0: float, h: float, attrs: str, tip: str) -> str:
        x, w = px(s), max(px(e) - px(s), 0.5)
        return (
            f"<rect x='{x:.1f}' y='{py(base + y0 + h):.1f}' width='{w:.1f}' height='{h * band:.1f}' "
            f"{attrs}><title>{esc(tip)}</title></rect>"
        )

    for state, start, end, duration in _columns(
        frames.get("coverage"), "state", "start", "end", "duration"
    ):
        if state in ("none", "stale"):
            color = COLORS["gap_none"] if state == "none" else COLORS["gap_stale"]
            alpha = 0.35 if state == "none" else 0.45
            w = max(end - start, min_w)
            out.append(
                rect(
                    start,
                    start + w,
                    0.02,
                    0.96,
                    f"fill='{color}' fill-opacity='{alpha}'",
                    f"gap: {state} {start:.3f}-{end:.3f} s",
                )
            )
        elif state == "orphan" and duration >= min_w:
            out.append(
                rect(
                    start,
                    end,
                    0.04,
                    0.44,
                    "fill='url(#puasim-orphan)'",
                    f"orphan {start:.3f}-{end:.3f} s",
                )
            )
    for start, end in _columns(frames.get("records"), "start", "end"):
        s, e = _clip(start, end, t1)
        out.append(
            rect(
                s,
                max(e, s + min_w / 3),
                0.6,
                0.24,
                f"fill='{COLORS['pua']}'",
                f"PUA record {s:.3f}-{e:.3f} s",
            )
        )
    spans = [_clip(s, e, t1) for s, e in _columns(frames.get("server_state"), "start", "end")]
    lanes = _sublanes(spans)
    h = 0.36 / (max(lanes, default=0) + 1)
    for (s, e), lane in zip(spans, lanes, strict=True):
        out.append(
            rect(
                s,
                max(e, s + min_w / 3),
                0.1 + lane * h,
                h * 0.8,
                f"fill='{COLORS['server']}'",
                f"server publication {s:.3f}-{e:.3f} s",
            )
        )
    sev = frames.get("server_events")
    if sev is not None and len(sev):
        y = py(base + 0.28)
        out += [
            f"<line x1='{px(t):.1f}' y1='{y - 6:.1f}' x2='{px(t):.1f}' y2='{y + 6:.1f}' "
            "stroke='white' stroke-width='2'/>"
            for t in sev["time"].tolist()
        ]
    pub = frames.get("publish")
    if pub is None:
        return out
    y = py(base + 0.72)
    for op, start in zip(pub["op"].tolist(), pub["start"].tolist(), strict=True):
        kind = _OPS.get(op)
        if kind:
            out.append(
                f"<g><title>{esc(f'{op} PUBLISH at {start:.3f} s')}</title>"
                f"{_marker(kind, px(start), y, _MARK)}</g>"
            )
    yx = py(base + 0.9)
    rejected = (pub["status"] == 412).fillna(False).tolist()
    timed_out = (pub["outcome"] == "timeout").tolist()
    for end, r412, tout in zip(pub["end"].tolist(), rejected, timed_out, strict=True):
        if r412 or tout:
            color = COLORS["error"] if r412 else COLORS["incident"]
            what = "412" if r412 else "local timeout"
            out.append(
                f"<g><title>{esc(f'{what} at {end:.3f} s')}</title>{_marker('x', px(end), yx, color)}</g>"
            )
    return out


def _legend(y: float) -> str:
    """The ten keys below the axes, five columns of two."""
    entries = [
        ("rect", f"fill='{COLORS['pua']}'", "PUA record"),
        ("rect", f"fill='{COLORS['server']}'", "server publication"),
        ("rect", f"fill='{COLORS['gap_none']}' fill-opacity='0.35'", "gap: none"),
        ("rect", f"fill='{COLORS['gap_stale']}' fill-opacity='0.45'", "gap: stale"),
        ("rect", f"fill='url(#puasim-orphan)' stroke='{COLORS['orphan']}'", "orphan"),
        ("^", _MARK, "initial PUBLISH"),
        ("|", _MARK, "refresh"),
        ("D", _MARK, "modify"),
        ("x", COLORS["error"], "412"),
        ("x", COLORS["incident"], "local timeout"),
    ]
    out = ["<g font-size='11.1'>"]
    x = 306.0
    for col in range(5):
        pair = entries[2 * col : 2 * col + 2]
        for row, (kind, attrs, text) in enumerate(pair):
            yy = y + 17 * row
            if kind == "rect":
                key = f"<rect x='{x:.1f}' y='{yy - 5:.1f}' width='27' height='10' {attrs}/>"
            else:
                key = _marker(kind, x + 13, yy, attrs)
            out.append(f"{key}<text x='{x + 35:.1f}' y='{yy + 4:.1f}'>{esc(text)}</text>")
        x += 35 + max(text_width(t, 11.1) for _k, _a, t in pair) + 22
    out.append("</g>")
    return "".join(out)
