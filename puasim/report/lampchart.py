"""The busy-lamp timeline: per watcher and watched extension, the true lamp against the lamp shown.

Each (watcher, extension) pair gets a band of two lanes over virtual time:
the upper lane (``truth``) is the extension's lamp from the phones' own call
states, the lower lane (``shown``) the lamp the watcher shows after each
NOTIFY (grey idle, orange ringing, red busy; blank before the watcher's
first NOTIFY).  Wrong intervals (:func:`puasim.report.lamps.lamp_wrong`) are
shaded behind the band in their cause's colour, widened to a few pixels so
that millisecond lags stay visible, and labelled with the cause when the
interval is wide enough for the text; the legend names every cause drawn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from puasim.report.figures import new_figure, text_inches
from puasim.report.lamps import CAUSES, LampFrames

LAMP_COLORS = {"idle": "#d9d9d9", "ringing": "#f39c12", "busy": "#c0392b"}
CAUSE_COLORS = dict(zip(CAUSES, (
    "#8e24aa", "#1565c0", "#00838f", "#ad1457", "#6d4c41", "#5d4037",
    "#9ccc65", "#4db6ac", "#ffb74d", "#90a4ae"), strict=True))
#: pairs drawn at most (the wrong intervals of every pair are in the table)
MAX_PAIRS = 16
#: the shortest time axis drawn, seconds (a run that ends at 0 still gets readable ticks)
MIN_END = 1e-3


def chosen_pairs(frames: LampFrames, limit: int = MAX_PAIRS) -> list[tuple[str, str, str]]:
    """The (watcher, watcher_uri, extension) bands drawn: the ``limit`` with the most wrong time, in sorted order."""
    pairs = list(dict.fromkeys(zip(frames.shown["watcher"], frames.shown["watcher_uri"], frames.shown["extension"],
                                   strict=True)))
    wrong = frames.wrong.groupby(["watcher", "watcher_uri", "extension"])["duration"].sum().to_dict() \
        if len(frames.wrong) else {}
    ranked = sorted(pairs, key=lambda p: (-wrong.get(p, 0.0), p))
    return sorted(ranked[:limit])


def _steps(times: list[float], lamps: list[str], end: float) -> list[tuple[float, float, str]]:
    """(start, end, lamp) spans of a step function given by its change points."""
    spans = []
    for i, (t, lamp) in enumerate(zip(times, lamps, strict=True)):
        stop = min(times[i + 1], end) if i + 1 < len(times) else end
        if stop > t:
            spans.append((t, stop, lamp))
    return spans


def _clipped(intervals: list[tuple[float, float, str]], end: float) -> tuple[tuple[float, float, str], ...]:
    """Wrong intervals cut at ``end`` (a report may be asked to end before the lamp data does)."""
    return tuple((a, min(b, end), cause) for a, b, cause in intervals if a < end)


@dataclass(frozen=True, slots=True)
class LampBand:
    """One (watcher, extension) band of the lamp timeline, as both drawings draw it.

    ``truth`` and ``shown`` are the lanes' (start, stop, lamp) spans in
    seconds; ``wrong`` the pair's wrong intervals as (start, end, cause).
    """

    label: str
    truth: tuple[tuple[float, float, str], ...]
    shown: tuple[tuple[float, float, str], ...]
    wrong: tuple[tuple[float, float, str], ...]


def lamp_bands(frames: LampFrames, end_time: float, pairs: list[tuple[str, str, str]] | None = None) -> list[LampBand]:
    """The bands of ``pairs`` ((watcher, watcher_uri, extension) triples; default :func:`chosen_pairs`), top first.

    A band is labelled with the watcher's node name, or its subscriber URI
    when that node holds several; the truth lane starts idle at 0, the
    shown lane at the watcher's first NOTIFY; both end at ``end_time``.
    """
    if pairs is None:
        pairs = chosen_pairs(frames)
    hosts: dict[str, set[str]] = {}
    for watcher, subscriber, _ext in pairs:
        hosts.setdefault(watcher, set()).add(subscriber)
    end = max(end_time, MIN_END)
    # the frames' rows grouped once (a mask per pair and frame cost more than the drawing)
    pair = ("watcher", "watcher_uri", "extension")
    truth = _rows_by(frames.truth, ("extension",), ("time", "lamp"))
    shown = _rows_by(frames.shown, pair, ("time", "lamp"))
    wrong = _rows_by(frames.wrong, pair, ("start", "end", "cause"))
    bands = []
    for watcher, subscriber, ext in pairs:
        who = watcher if len(hosts[watcher]) == 1 else subscriber.removeprefix("sip:")
        true = truth.get((ext,), [])
        seen = shown.get((watcher, subscriber, ext), [])
        bands.append(LampBand(
            label=f"{who} ← {ext.removeprefix('sip:')}",
            truth=tuple(_steps([0.0, *(t for t, _l in true)], ["idle", *(lamp for _t, lamp in true)], end)),
            shown=tuple(_steps([t for t, _l in seen], [lamp for _t, lamp in seen], end)),
            wrong=_clipped(wrong.get((watcher, subscriber, ext), []), end),
        ))
    return bands


def _rows_by(frame: pd.DataFrame, keys: tuple[str, ...], columns: tuple[str, ...]) -> dict[tuple[Any, ...], list[Any]]:
    """The ``columns`` of ``frame``'s rows as tuples, in row order, grouped by the values of ``keys``."""
    out: dict[tuple[Any, ...], list[Any]] = {}
    n = len(keys)
    for row in zip(*(frame[c].tolist() for c in (*keys, *columns)), strict=True):
        out.setdefault(row[:n], []).append(row[n:])
    return out


def axes_inches(n_bands: int) -> tuple[float, float]:
    """Height of the picture's axes and the room under them, inches, for ``n_bands`` bands
    (before the room the tick labels need: :data:`_BELOW`)."""
    height = 0.9 + 0.75 * max(n_bands, 1)
    return (0.8 if n_bands > 2 else 0.6) * height, (0.12 if n_bands > 2 else 0.25) * height


def lamp_timeline(frames: LampFrames, end_time: float, pairs: list[tuple[str, str, str]] | None = None) -> Figure:
    """The picture described in the module docstring (empty note when nobody watches).

    ``pairs`` are (watcher, watcher_uri, extension) triples (default:
    :func:`chosen_pairs`, the :data:`MAX_PAIRS` with the most wrong time);
    the bands are :func:`lamp_bands`.
    """
    bands = lamp_bands(frames, end_time, pairs)
    end = max(end_time, MIN_END)
    height = 0.9 + 0.75 * max(len(bands), 1)
    axes_in, bottom_in = axes_inches(len(bands))
    # the tick labels and the axis label need about half an inch under the axes: with few
    # pairs the figure grows downwards (the axes keep their size) rather than cut them off
    below = max(0.0, _BELOW - bottom_in)
    height += below
    fig = new_figure(_WIDTH, height)
    labels = [band.label for band in bands]
    # a band's label ends 28 points left of the axes; long labels get more canvas on the left
    # (the axes keep their size), so nothing is cut off and to_png draws the figure once
    extra = max(0.0, text_inches(fig, labels, 8) + 28 / 72 + 0.02 - _AX_LEFT)
    width = _WIDTH + extra
    if extra:
        fig.set_size_inches(width, height)
    ax = fig.add_axes(((_AX_LEFT + extra) / width, (bottom_in + below) / height, _AX_W / width,
                       axes_in / height))
    if not bands:
        ax.text(0.5, 0.5, "no phone watches an extension in this trace", ha="center", va="center",
                transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    min_w = end / 400.0  # ~2 pixels on this axis
    used: set[str] = set()
    for row, band in enumerate(bands):
        y = len(bands) - 1 - row
        # one collection per lane: thousands of Rectangle patches each updated the data limits
        _lane(ax, band.truth, y + 0.52)
        _lane(ax, band.shown, y + 0.12)
        spans, colors = [], []
        for start, stop, cause in band.wrong:
            width = max(stop - start, min_w)
            color = CAUSE_COLORS.get(cause, "#000000")
            used.add(cause)
            spans.append((start, width))
            colors.append(color)
            if stop - start > end / 12:
                ax.text(start + width / 2, y + 0.94, cause, ha="center", va="bottom", fontsize=7,
                        color=color, clip_on=True)
        if spans:
            ax.broken_barh(spans, (y + 0.02, 0.9), facecolors=colors, alpha=0.35, lw=0, zorder=0)
    n = len(bands)
    ax.set_xlim(-end * 0.01, end * 1.01)
    ax.set_ylim(0, n + 0.1)
    ax.set_yticks([n - 1 - i + 0.47 for i in range(n)], labels, fontsize=8)
    for i in range(n):
        ax.text(-end * 0.012, n - 1 - i + 0.67, "truth", ha="right", va="center", fontsize=6, color="#555")
        ax.text(-end * 0.012, n - 1 - i + 0.27, "shown", ha="right", va="center", fontsize=6, color="#555")
    ax.tick_params(axis="y", length=0, pad=28)
    ax.set_xlabel("virtual time (s)")
    ax.set_title(TITLE, fontsize=9)
    handles: list[Any] = [Patch(color=c, label=f"lamp {k}") for k, c in LAMP_COLORS.items()]
    handles += [Patch(color=CAUSE_COLORS[c], alpha=0.35, label=f"wrong: {c}") for c in CAUSES if c in used]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    return fig


#: the picture's title
TITLE = "Busy lamps: the phones' state (upper lane) against what each watcher was NOTIFYed (lower lane)"
#: figure width, axes left edge and axes width, inches (before room for long band labels)
_WIDTH, _AX_LEFT, _AX_W = 11.0, 0.2 * 11.0, 0.62 * 11.0
#: inches kept under the axes for the tick labels and the axis label
_BELOW = 0.55


def _lane(ax: Any, spans: tuple[tuple[float, float, str], ...], y: float) -> None:
    """One lane of lamp spans (start, stop, lamp) as a single collection of bars 0.3 high."""
    if spans:
        ax.broken_barh([(a, b - a) for a, b, _lamp in spans], (y, 0.3),
                       facecolors=[LAMP_COLORS[lamp] for _a, _b, lamp in spans], lw=0)


def wrong_by_cause(wrong: pd.DataFrame) -> pd.DataFrame:
    """Wrong intervals per cause: count, total, longest and median seconds (cause order of CAUSES)."""
    if wrong.empty:
        return pd.DataFrame(columns=["cause", "intervals", "total_s", "longest_s", "median_s"])
    g = wrong.groupby("cause")["duration"]
    out = pd.DataFrame({"intervals": g.size(), "total_s": g.sum(), "longest_s": g.max(), "median_s": g.median()})
    out = out.reindex([c for c in CAUSES if c in out.index])
    return out.rename_axis("cause").reset_index()


__all__ = [
    "CAUSE_COLORS", "LAMP_COLORS", "MAX_PAIRS", "TITLE", "LampBand", "axes_inches", "chosen_pairs", "lamp_bands",
    "lamp_timeline", "wrong_by_cause",
]
