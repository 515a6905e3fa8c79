"""Load curve and refresh lead-time histogram.

:func:`load_chart`
    requests per second over virtual time, one step line per series
    (method by default) and the total; restarts, crashes and injected
    faults are marked with dashed vertical lines.  After a restart this is
    the refresh-storm curve.
:func:`lead_histogram`
    the distribution of refresh lead times (seconds before the record's
    expiry each refresh left), with the expiry (0) in red and the median.
:func:`state_chart`
    how many presentities are ``ok``, in a gap (``none``, ``stale``),
    ``orphan`` or ``idle`` over time, as stacked areas: what the server shows
    watchers compared with what the PUA believes, for many presentities at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from puasim.report.figures import COLORS, drawing, new_figure
from puasim.report.metrics import STATES, load_curve, refresh_lead_times, state_counts

if TYPE_CHECKING:
    from puasim.report.frames import ReportData

_SERIES_COLORS = ["#1f4e9c", "#e07b00", "#2b7a3d", "#8e24aa", "#b3261e", "#00838f", "#6d4c41"]


def _auto_bin(span: float) -> float:
    """A bin width giving at most ~2000 bins, from 1 ms up (1, 2, 5 steps)."""
    for step in (
        0.001,
        0.002,
        0.005,
        0.01,
        0.02,
        0.05,
        0.1,
        0.2,
        0.5,
        1,
        2,
        5,
        10,
        20,
        30,
        60,
        120,
        300,
        600,
    ):
        if span / step <= 2000:
            return float(step)
    return 3600.0


def incident_marks(data: ReportData, t0: float, t1: float) -> list[tuple[float, str, str]]:
    """(time, node, label) of crashes, restarts and faults in [t0, t1], one per time and node.

    A crash and a start at the same instant read ``restart``; a fault reads its kind.
    """
    words: dict[tuple[float, str], list[str]] = {}
    for r in data.incidents.itertuples(index=False):
        if not t0 <= r.time <= t1:
            continue
        if r.type == "NodeCrashed":
            word = "crash"
        elif r.type == "NodeRestarted":
            word = "start"
        elif r.type == "FaultInjected":
            word = r.text.split(":", 1)[0]
        else:
            continue
        seen = words.setdefault((r.time, r.node), [])
        if word not in seen:
            seen.append(word)
    marks = []
    for (t, node), ws in sorted(words.items()):
        if "crash" in ws and "start" in ws:
            ws = ["restart"] + [w for w in ws if w not in ("crash", "start", "restart")]
        marks.append((t, node, " ".join(ws)))
    return marks


def _closed(steps: pd.DataFrame, end: float) -> pd.DataFrame:
    """``steps`` (time, rate; bin starts) with the last bin's level carried on to ``end``.

    A ``where="post"`` step line draws each level up to the next point, so
    without this the last bin would be drawn as a bare vertical line.
    """
    if steps.empty or float(steps["time"].iloc[-1]) >= end:
        return steps
    last = steps.iloc[[-1]].assign(time=end)
    return pd.concat([steps[["time", "rate"]], last[["time", "rate"]]], ignore_index=True)


def load_chart(
    data: ReportData,
    bin_s: float | None = None,
    by: str | None = "method",
    start: float | None = None,
    end: float | None = None,
    title: str | None = None,
    incidents: bool = True,
) -> Figure:
    """Requests per second over time (see :func:`~puasim.report.metrics.load_curve`).

    ``bin_s`` defaults to a width that gives at most ~2000 bins over the
    window, at least 1 s; the y axis is a rate, so bins of any width compare.
    """
    t0 = 0.0 if start is None else start
    t1 = max(data.end_time, t0 + 1.0) if end is None else end
    width = bin_s if bin_s is not None else max(1.0, _auto_bin(t1 - t0))
    curve = load_curve(data, bin_s=width, by=by, start=t0, end=t1)
    fig = new_figure(11.0, 3.8)
    ax = fig.add_subplot(1, 1, 1)
    series = list(dict.fromkeys(curve["series"]))
    if len(series) > 1:
        total = _closed(curve.groupby("time", as_index=False)["rate"].sum(), t1)
        ax.step(
            total["time"],
            total["rate"],
            where="post",
            color="#222222",
            lw=1.0,
            alpha=0.6,
            label="all requests",
        )
    for i, name in enumerate(series):
        s = _closed(curve[curve["series"] == name], t1)
        ax.step(
            s["time"],
            s["rate"],
            where="post",
            lw=1.4,
            color=_SERIES_COLORS[i % len(_SERIES_COLORS)],
            label=name,
        )
    ymax = float(curve["rate"].max()) if len(curve) else 1.0
    if len(series) > 1:  # the total rises above every series: it sets the scale
        ymax = max(ymax, float(curve.groupby("time")["rate"].sum().max()))
    ax.set_ylim(0, max(1.0, ymax) * 1.18)
    # a margin on both sides: a burst in the first or last bin is not drawn on the spine
    margin = 0.01 * (t1 - t0)
    ax.set_xlim(t0 - margin, t1 + margin)
    if incidents:
        _incident_labels(ax, incident_marks(data, t0, t1), fig.get_figwidth())
    ax.set_xlabel("virtual time (s)")
    ax.set_ylabel(f"requests per second\n(bins of {width:g} s)")
    ax.set_title(title or f"{data.title}: request rate", fontsize=11)
    ax.grid(color="#eeeeee")
    ax.set_axisbelow(True)
    if series:
        # beside the axes, where no incident label or curve can run under it (issue 16)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    with drawing():
        fig.tight_layout()
    return fig


#: incident labels: font size (points) and the width of one character as a share of it
_LABEL_POINTS, _CHAR_EM = 7.5, 0.62


def _incident_labels(ax: Axes, marks: list[tuple[float, str, str]], fig_width_in: float) -> None:
    """A dashed line and a label per incident, the labels kept apart and inside the axes.

    A label reads to the right of its line, or to the left when it would
    run past the axes' right edge; a label that would overlap one already
    placed goes one line lower.  Widths are estimated from the character
    count (the figure is not drawn yet), generously.
    """
    lo, hi = ax.get_xlim()
    top = ax.get_ylim()[1]
    axes_points = fig_width_in * 72.0 * 0.8  # the axes take about 80 % of the figure's width
    placed: list[tuple[float, float, int]] = []
    for t, node, label in marks:
        ax.axvline(t, color=COLORS["incident"], ls="--", lw=1)
        text = f" {node} {label} "
        width = len(text) * _LABEL_POINTS * _CHAR_EM / axes_points
        x = (t - lo) / (hi - lo)
        start, end = (x, x + width) if x + width <= 1.0 else (x - width, x)
        level = 0
        while any(lv == level and s < end and start < e for s, e, lv in placed):
            level += 1
        placed.append((start, end, level))
        ax.text(
            t,
            top * (0.97 - 0.075 * level),
            text,
            color=COLORS["incident"],
            fontsize=_LABEL_POINTS,
            va="top",
            ha="left" if start == x else "right",
        )


def bins_width(span: float, bins: int | None = None) -> float:
    """Histogram bin width: ``span / bins`` when given, else whole seconds giving at most ~30 bins."""
    if bins:
        return max(span / bins, 1e-3)
    return float(max(1, int(np.ceil(span / 30))))


def histogram_edges(
    values: np.ndarray, server: np.ndarray, bins: int | None = None
) -> tuple[list[float], float]:
    """Bin edges and width of the lead-time histogram over the PUA's and the server's leads.

    The axis always shows the expiry (0), so it can be far wider than the
    values: bars are at least 1/60 of it wide (issue 16).
    """
    both = np.concatenate([values, server]) if len(server) else values
    lo, hi = float(np.floor(both.min())), float(np.ceil(both.max()))
    view = max(hi, 0.0) - min(lo, 0.0)
    step = bins_width(hi - lo, bins if hi > lo else None)
    if not bins or hi == lo:
        step = max(step, float(np.ceil(view / 60)))
    return list(np.arange(lo - step / 2, hi + step, step)), step


def lead_histogram(
    data: ReportData,
    bins: int | None = None,
    title: str | None = None,
    *,
    lead: pd.DataFrame | None = None,
) -> Figure:
    """Histogram of refresh lead times (s), PUA record view; the server view as an outline.

    ``lead`` is :func:`~puasim.report.metrics.refresh_lead_times` of ``data``
    when the caller has it already.
    """
    lead = refresh_lead_times(data) if lead is None else lead
    fig = new_figure(7.5, 3.6)
    ax = fig.add_subplot(1, 1, 1)
    values = lead["lead"].dropna().to_numpy()
    server = lead["server_lead"].dropna().to_numpy()
    if len(values):
        edges, step = histogram_edges(values, server, bins)
        ax.hist(
            values,
            bins=edges,
            color=COLORS["pua"],
            alpha=0.8,
            label=f"PUA record expiry (n={len(values)})",
        )
        if len(server):
            ax.hist(
                server,
                bins=edges,
                histtype="step",
                color=COLORS["server"],
                lw=1.5,
                label="server expiry of the ETag",
            )
        med = float(np.median(values))
        ax.axvline(med, color="#222222", ls=":", lw=1.2, label=f"median {med:.1f} s")
        late = int((values < 0).sum())
        ax.axvline(0, color=COLORS["error"], lw=1.5, label=f"expiry ({late} late)")
        left, right = min(edges[0], 0.0), max(edges[-1], 0.0)
        pad = max(0.05 * (right - left), step)
        ax.set_xlim(left - pad, right + pad)
        # whole refreshes on the count axis, and room above the tallest bar
        tallest = max(float(np.histogram(values, bins=edges)[0].max()), 1.0)
        if len(server):
            tallest = max(tallest, float(np.histogram(server, bins=edges)[0].max()))
        ax.set_ylim(0, tallest * 1.12)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=8, frameon=False, loc="best")
    else:
        ax.text(
            0.5,
            0.5,
            "no refreshes in this trace",
            transform=ax.transAxes,
            ha="center",
            va="center",
            color="#666666",
        )
    ax.set_xlabel("lead time: seconds before expiry the refresh left")
    ax.set_ylabel("refreshes")
    ax.set_title(title or f"{data.title}: refresh lead times", fontsize=11)
    ax.grid(color="#eeeeee")
    ax.set_axisbelow(True)
    with drawing():
        fig.tight_layout()
    return fig


_STATE_COLORS = {
    "ok": COLORS["server"],
    "none": COLORS["gap_none"],
    "stale": COLORS["gap_stale"],
    "orphan": COLORS["orphan"],
    "idle": "#e6e6e6",
}


def state_chart(
    data: ReportData,
    start: float | None = None,
    end: float | None = None,
    title: str | None = None,
    ax: Axes | None = None,
    incidents: bool = True,
    legend: bool = True,
) -> Figure:
    """Stacked areas of the number of presentities per coverage state over virtual time.

    Pass ``ax`` (a matplotlib Axes) to draw into an existing figure (small
    multiples); the figure of ``ax`` is returned.
    """
    counts = state_counts(data)
    t1 = max(data.end_time, 1e-3) if end is None else end
    t0 = 0.0 if start is None else start
    if ax is None:
        fig = new_figure(11.0, 3.4)
        axes = fig.add_subplot(1, 1, 1)
    else:
        axes = ax
        root = ax.get_figure(root=True)
        assert isinstance(root, Figure)
        fig = root
    times = list(counts["time"]) + [t1]
    ys = [list(counts[s]) + [counts[s].iloc[-1]] for s in STATES]
    axes.stackplot(
        times,
        ys,
        labels=list(STATES),
        colors=[_STATE_COLORS[s] for s in STATES],
        step="post",
        alpha=0.9,
    )
    axes.set_xlim(t0, t1)
    total = int(counts[list(STATES)].sum(axis=1).max()) if len(counts) else 0
    axes.set_ylim(0, max(total, 1) * 1.05)
    if incidents:
        for t, _node, _label in incident_marks(data, t0, t1):
            axes.axvline(t, color=COLORS["incident"], ls="--", lw=1)
    axes.set_xlabel("virtual time (s)")
    axes.set_ylabel("presentities")
    axes.set_title(title or f"{data.title}: presentities by state", fontsize=10)
    if legend:
        axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    if ax is None:
        with drawing():
            fig.tight_layout()
    return fig
