"""Per-presentity timelines: PUA records against server state, with the gaps shaded.

Each (presentity, event) gets a band of two lanes over virtual time:

* the upper lane (``PUA``) shows the PUA's publication record lives as
  blue bars, with the PUBLISH transactions on them (▲ initial, ◆ modify,
  | refresh, ▼ remove; a red × where a 412 came back, a purple × for a
  local timeout);
* the lower lane (``server``) shows the server's publications as green
  bars, one sub-lane per publication alive at the same time (an orphan and
  its successor sit one above the other), with a white tick wherever the
  server accepted a refresh or modify;

and the band is shaded red where the server holds nothing the PUA
considers published (gap ``none``), orange where it holds a stale body
(gap ``stale``) and hatched grey where it holds state the PUA has no record
of (``orphan``).  Gaps narrower than a few pixels are widened to stay
visible.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

from puasim.report.figures import COLORS, new_figure, text_inches

if TYPE_CHECKING:
    from puasim.report.frames import ReportData

_OP_MARKERS = {"initial": "^", "modify": "D", "refresh": "|", "remove": "v"}


def _keys(data: ReportData) -> list[tuple[str, str]]:
    keys: list[tuple[str, str]] = []
    for frame in (data.coverage, data.server_state):
        for p, e in zip(frame["presentity"], frame["event"], strict=True):
            if (p, e) not in keys:
                keys.append((p, e))
    pub = data.records[data.records["kind"] == "publication"]
    for p, e in zip(pub["presentity"], pub["event"], strict=True):
        if (p, e) not in keys:
            keys.append((p, e))
    return sorted(keys, key=natural_key)


def natural_key(key: tuple[str, str]) -> list[object]:
    """Sort key putting u2 before u10."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", "\0".join(key))]


def _sublanes(intervals: list[tuple[float, float]]) -> list[int]:
    """Greedy lane per interval so that overlapping intervals never share one."""
    ends: list[float] = []
    lanes = []
    for s, e in intervals:
        for i, last in enumerate(ends):
            if last <= s:
                ends[i] = e
                lanes.append(i)
                break
        else:
            ends.append(e)
            lanes.append(len(ends) - 1)
    return lanes


def timeline(
    data: ReportData,
    keys: list[tuple[str, str]] | None = None,
    start: float | None = None,
    end: float | None = None,
    max_keys: int = 12,
    title: str | None = None,
) -> Figure:
    """Draw the timeline of ``keys`` ((presentity, event) pairs; default: all, at most ``max_keys``)."""
    keys = (keys if keys is not None else _keys(data))[:max_keys]
    t0 = 0.0 if start is None else start
    t1 = max(data.end_time, t0 + 1e-3) if end is None else end
    span = t1 - t0
    nk = max(len(keys), 1)
    band_in = 1.05 if nk <= 4 else max(0.6, 4.2 / nk)
    top_in, bottom_in = 0.45, 1.1
    height = top_in + band_in * nk + bottom_in
    names = [_band_name(key) for key in keys]
    fig = new_figure(_WIDTH, height)
    # a band's name ends 0.065 axes widths left of the axes; long names get more canvas on the
    # left (the axes keep their size), so nothing is cut off and to_png draws the figure once
    extra = max(0.0, text_inches(fig, names, 8.5, "bold") + 0.065 * _AX_W + 0.02 - _AX_LEFT)
    width = _WIDTH + extra
    if extra:
        fig.set_size_inches(width, height)
    ax = fig.add_axes(((_AX_LEFT + extra) / width, bottom_in / height, _AX_W / width, band_in * nk / height))
    # a margin on both sides: a marker at the first or last instant is not half hidden by the spine
    ax.set_xlim(t0 - 0.01 * span, t1 + 0.01 * span)
    ax.set_ylim(0, nk)
    ax.set_xlabel("virtual time (s)")
    ax.set_title(title or f"{data.title}: PUA records and server state per presentity", fontsize=11)
    ticks, labels = [], []
    frames = _by_key(data, set(keys))
    for k, key in enumerate(reversed(keys)):
        base = float(k)
        _band(ax, frames.get(key, {}), base, t0, t1, span)
        ticks += [base + 0.72, base + 0.28]
        labels += ["PUA", "server"]
        ax.text(
            -0.065,
            base + 0.5,
            _band_name(key),
            transform=ax.get_yaxis_transform(),
            ha="right",
            va="center",
            fontsize=8.5,
            fontweight="bold",
        )
        if k:
            ax.axhline(base, color="#999999", lw=0.8)
    ax.set_yticks(ticks, labels, fontsize=8)
    ax.tick_params(axis="y", length=0)
    ax.grid(axis="x", color="#eeeeee")
    ax.set_axisbelow(True)
    if not keys:
        ax.text(
            (t0 + t1) / 2,
            0.5,
            "no publications in this trace",
            ha="center",
            va="center",
            color="#666666",
        )
    handles = [
        Patch(color=COLORS["pua"], label="PUA record"),
        Patch(color=COLORS["server"], label="server publication"),
        Patch(color=COLORS["gap_none"], alpha=0.35, label="gap: none"),
        Patch(color=COLORS["gap_stale"], alpha=0.45, label="gap: stale"),
        Patch(facecolor="white", edgecolor=COLORS["orphan"], hatch="///", label="orphan"),
        Line2D([], [], ls="", marker="^", color="#1b2a49", label="initial PUBLISH"),
        Line2D([], [], ls="", marker="|", color="#1b2a49", markersize=10, label="refresh"),
        Line2D([], [], ls="", marker="D", color="#1b2a49", markersize=5, label="modify"),
        Line2D([], [], ls="", marker="x", color=COLORS["error"], mew=2, label="412"),
        Line2D([], [], ls="", marker="x", color=COLORS["incident"], mew=2, label="local timeout"),
    ]
    fig.legend(
        handles=handles,
        loc="lower center",
        bbox_to_anchor=((0.57 * _WIDTH + extra) / width, 0.02 / height * 4),
        ncol=5,
        fontsize=8,
        frameon=False,
    )
    return fig


#: figure width, axes left edge and axes width, inches (before room for long band names)
_WIDTH, _AX_LEFT, _AX_W = 11.0, 0.19 * 11.0, 0.78 * 11.0


def _band_name(key: tuple[str, str]) -> str:
    """The bold name left of a band: the presentity without ``sip:``, the event unless presence."""
    ev = "" if key[1] == "presence" else f"  ({key[1]})"
    return key[0].removeprefix("sip:") + ev


def _clip(s: float, e: float, t1: float) -> tuple[float, float]:
    return s, (t1 if e != e else e)


def _by_key(data: ReportData, keys: set[tuple[str, str]]) -> dict[tuple[str, str], dict[str, pd.DataFrame]]:
    """The rows of each frame a band draws, split by (presentity, event) in one pass per frame.

    Filtering every frame once per key (five boolean masks over whole frames per
    band) was most of the time a timeline took to build.
    """
    tx = data.transactions
    frames = {
        "coverage": data.coverage,
        "records": data.records[data.records["kind"] == "publication"],
        "server_state": data.server_state,
        "server_events": data.server_events[
            data.server_events["action"].isin(["refreshed", "modified"])
        ],
        "publish": tx[tx["method"] == "PUBLISH"],
    }
    out: dict[tuple[str, str], dict[str, pd.DataFrame]] = {}
    for name, frame in frames.items():
        if frame.empty:
            continue
        for key, rows in frame.groupby(["presentity", "event"], sort=False):
            pair = (str(key[0]), str(key[1]))
            if pair in keys:
                out.setdefault(pair, {})[name] = rows
    return out


def _columns(frame: pd.DataFrame | None, *names: str) -> Any:
    """Rows of ``frame`` as tuples of plain values of ``names`` (none when ``frame`` is None)."""
    if frame is None:
        return iter(())
    return zip(*(frame[n].tolist() for n in names), strict=True)


def _band(
    ax: Any, frames: dict[str, pd.DataFrame], base: float, t0: float, t1: float, span: float
) -> None:
    """One band: the rows of each frame for its (presentity, event), see :func:`_by_key`."""
    min_w = span * 0.003
    cov = frames.get("coverage")
    for state, start, end, duration in _columns(cov, "state", "start", "end", "duration"):
        if state in ("none", "stale"):
            color = COLORS["gap_none"] if state == "none" else COLORS["gap_stale"]
            w = max(end - start, min_w)
            ax.add_patch(
                Rectangle(
                    (start, base + 0.02),
                    w,
                    0.96,
                    color=color,
                    alpha=0.35 if state == "none" else 0.45,
                    lw=0,
                    zorder=1,
                )
            )
        elif state == "orphan" and duration >= min_w:
            ax.add_patch(
                Rectangle(
                    (start, base + 0.04),
                    end - start,
                    0.44,
                    facecolor="none",
                    edgecolor=COLORS["orphan"],
                    hatch="///",
                    lw=0,
                    zorder=1,
                )
            )
    for start, end in _columns(frames.get("records"), "start", "end"):
        s, e = _clip(start, end, t1)
        ax.add_patch(
            Rectangle(
                (s, base + 0.6), max(e - s, min_w / 3), 0.24, color=COLORS["pua"], lw=0, zorder=2
            )
        )
    spans = [_clip(s, e, t1) for s, e in _columns(frames.get("server_state"), "start", "end")]
    lanes = _sublanes(spans)
    nlanes = max(lanes, default=0) + 1
    h = 0.36 / nlanes
    for (s, e), lane in zip(spans, lanes, strict=True):
        ax.add_patch(
            Rectangle(
                (s, base + 0.1 + lane * h),
                max(e - s, min_w / 3),
                h * 0.8,
                color=COLORS["server"],
                lw=0,
                zorder=2,
            )
        )
    sev = frames.get("server_events")
    if sev is not None and len(sev):
        ax.plot(
            sev["time"],
            [base + 0.28] * len(sev),
            ls="",
            marker="|",
            color="white",
            markersize=9,
            mew=1.5,
            zorder=3,
        )
    pub = frames.get("publish")
    if pub is None:
        return
    # plain arrays: a boolean mask per marker kind over a few rows costs far less than
    # selecting rows of the frame (the selections were half the time a band took)
    ops = pub["op"].to_numpy(dtype=object)
    starts = pub["start"].to_numpy(dtype=float)
    ends = pub["end"].to_numpy(dtype=float)
    rejected = (pub["status"] == 412).fillna(False).to_numpy(dtype=bool)
    timed_out = (pub["outcome"] == "timeout").to_numpy(dtype=bool)
    for op, marker in _OP_MARKERS.items():
        sel = starts[ops == op]
        if len(sel):
            ax.plot(
                sel,
                [base + 0.72] * len(sel),
                ls="",
                marker=marker,
                color="#1b2a49",
                markersize=10 if marker == "|" else 5,
                zorder=3,
            )
    for mask, color in ((rejected, COLORS["error"]), (timed_out, COLORS["incident"])):
        sel = ends[mask]
        if len(sel):
            ax.plot(
                sel,
                [base + 0.9] * len(sel),
                ls="",
                marker="x",
                color=color,
                markersize=7,
                mew=2,
                zorder=4,
                clip_on=False,
            )


def presentities(data: ReportData) -> pd.DataFrame:
    """(presentity, event) pairs with their total gap and orphan time.

    Longest gap first, then longest orphan time, then by name (u2 before u10).
    """
    cov = data.coverage
    if cov.empty:
        return pd.DataFrame(columns=["presentity", "event", "gap_s", "orphan_s"])
    cov = cov.assign(
        gap=cov["duration"].where(cov["state"].isin(["none", "stale"]), 0.0),
        orphan=cov["duration"].where(cov["state"] == "orphan", 0.0),
    )
    out = cov.groupby(["presentity", "event"], as_index=False, sort=False).agg(
        gap_s=("gap", "sum"), orphan_s=("orphan", "sum")
    )
    order = sorted(
        range(len(out)),
        key=lambda i: (
            -out["gap_s"].iat[i],
            -out["orphan_s"].iat[i],
            natural_key((out["presentity"].iat[i], out["event"].iat[i])),
        ),
    )
    return out.iloc[order].reset_index(drop=True)
