"""The self-contained HTML report of one trace, and the index of a folder of them.

:func:`write_report` writes ``OUT/report.html`` (the timeline, load chart,
lead-time histogram, busy-lamp timeline and ladder pages as inline SVG; CSS
inline, no external resource) and the frames as ``OUT/data/*.csv``
(plus Parquet when pyarrow is installed); with ``png=True`` also each picture
drawn with matplotlib as ``OUT/pictures/<name>.png``, linked under the picture
(:mod:`~puasim.report.pngfiles`).  :func:`write_index` writes
``OUT/index.html`` linking several reports with their verdicts.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from puasim.report.charts import lead_histogram, load_chart
from puasim.report.frames import ReportData, load, write_frames
from puasim.report.ladder import ladder_pages, ladder_rows, page_starts
from puasim.report.lampchart import MAX_PAIRS, lamp_timeline, wrong_by_cause
from puasim.report.lamps import LampFrames, lag_percentiles, lamp_summary, lamps
from puasim.report.metrics import latency_percentiles, refresh_lead_times, rounds_412, summary
from puasim.report.pngfiles import PICTURES_DIR, PngFiles
from puasim.report.source import TraceSource
from puasim.report.svgcharts import lead_histogram_svg, load_chart_svg
from puasim.report.svgladder import ladder_svg_pages
from puasim.report.svglamps import lamp_timeline_svg
from puasim.report.svgtimeline import timeline_svg
from puasim.report.timeline import natural_key, presentities, timeline

REPORT_FILE = "report.html"
#: presentities drawn in the report's timeline
TIMELINE_KEYS = 12

_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1180px;
       color: #1d1d1f; line-height: 1.4; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { font-size: 1.25em; border-bottom: 1px solid #ddd;
     padding-bottom: 0.2em; margin-top: 2em; } h3 { font-size: 1.05em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #d5d9e0; padding: 2px 7px; text-align: right; }
th { background: #eef2f8; } td.l, th.l { text-align: left; }
table.meta td { text-align: left; } table.meta th { text-align: left; }
.pass { color: #1b7f3b; font-weight: bold; } .fail { color: #b3261e; font-weight: bold; }
.note { color: #555; font-size: 0.9em; } p.png { font-size: 0.8em; margin: -0.3em 0 0.8em; } img { max-width: 100%; border: 1px solid #eee; margin: 0.5em 0; }
svg.ladder, svg.chart { display: block; max-width: 100%; height: auto; border: 1px solid #eee; margin: 0.5em 0; }
details { margin: 0.5em 0; } summary { cursor: pointer; font-weight: 600; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(260px, 1fr)); gap: 0 2em; }
"""


def _esc(value: Any) -> str:
    return html.escape(str(value))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        return f"{value:.3f}".rstrip("0").rstrip(".") if abs(value) < 1e6 else f"{value:.4g}"
    if value is None or value is pd.NA:
        return "–"
    return str(value)


def _table(frame: pd.DataFrame, max_rows: int = 200, caption: str = "") -> str:
    """An HTML table of ``frame`` (first ``max_rows`` rows), numbers right-aligned."""
    if frame.empty:
        return f"<p class='note'>{_esc(caption) + ': ' if caption else ''}none.</p>"
    shown = frame.head(max_rows)
    numeric = {
        c
        for c in shown.columns
        if pd.api.types.is_numeric_dtype(shown[c]) and shown[c].dtype != bool
    }
    head = "".join(
        f"<th class='{'' if c in numeric else 'l'}'>{_esc(c)}</th>" for c in shown.columns
    )
    body = []
    for row in shown.itertuples(index=False):
        cells = "".join(
            f"<td class='{'' if c in numeric else 'l'}'>{_esc(_fmt(v))}</td>"
            for c, v in zip(shown.columns, row, strict=True)
        )
        body.append(f"<tr>{cells}</tr>")
    more = (
        f"<p class='note'>first {max_rows} of {len(frame)} rows; all in the CSV files.</p>"
        if len(frame) > max_rows
        else ""
    )
    cap = f"<caption>{_esc(caption)}</caption>" if caption else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{more}"


def _kv(pairs: Iterable[tuple[str, Any]]) -> str:
    rows = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(_fmt(v))}</td></tr>" for k, v in pairs)
    return f"<table class='meta'>{rows}</table>"


def _verdict_html(verdict: dict[str, Any] | None) -> str:
    if not verdict:
        return ""
    result = str(verdict.get("result", "?"))
    cls = "pass" if result == "pass" else "fail"
    parts = [
        f"<h2>Verdict</h2><p>Scenario <b>{_esc(verdict.get('scenario', ''))}</b>: "
        f"<span class='{cls}'>{_esc(result.upper())}</span></p>"
    ]
    failures = verdict.get("failures") or []
    if verdict.get("error"):
        failures = [*failures, verdict["error"]]
    if failures:
        parts.append("<ul>" + "".join(f"<li>{_esc(f)}</li>" for f in failures) + "</ul>")
    if verdict.get("refs"):
        parts.append(f"<p class='note'>checks: {_esc(', '.join(map(str, verdict['refs'])))}</p>")
    return "".join(parts)


def render_html(
    data: ReportData,
    title: str | None = None,
    verdict: dict[str, Any] | None = None,
    ladder_page_limit: int = 3,
    rows_per_page: int = 60,
    data_files: list[Path] | None = None,
    min_gap: float = 0.0,
    *,
    metrics: dict[str, Any] | None = None,
    lamp_frames: LampFrames | None = None,
    pngs: PngFiles | None = None,
) -> str:
    """The report page of ``data`` as one HTML string.

    ``metrics`` is ``summary(data, min_gap)`` when the caller has it already,
    ``lamp_frames`` the :func:`~puasim.report.lamps.lamps` of the data.  With
    ``pngs`` each picture is also drawn with matplotlib and written there
    (``timeline``, ``load``, ``lead_times``, ``lamps``, ``ladder-1``..``ladder-K``:
    the pages shown), and the page links each file under its picture.
    """
    title = title or data.title
    meta: list[tuple[str, Any]] = [
        (k, data.meta[k]) for k in ("scenario", "seed", "epoch", "file", "source") if k in data.meta
    ]
    meta += [
        ("records in trace", len(data.trace)),
        ("virtual time covered (s)", data.end_time),
        ("trace digest", data.trace.digest()[:16] + "…"),
    ]
    lead, rounds = refresh_lead_times(data), rounds_412(data)
    s = summary(data, min_gap, lead=lead, rounds=rounds) if metrics is None else metrics
    out = [
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{_esc(title)} – puasim report</title>"
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{_esc(title)}</h1><p class='note'>puasim timing report; times are seconds of virtual time "
        f"since the start of the run. Metric definitions: docs/metrics.md.</p>",
        _kv(meta),
        _verdict_html(verdict),
    ]
    out.append("<h2>Metrics</h2><div class='grid'>")
    items = list(s.items())
    half = (len(items) + 1) // 2
    out += [_kv(items[:half]), _kv(items[half:]), "</div>"]
    out.append("<h2>Presentities: records, server state and gaps</h2>")
    keys = presentities(data)
    if len(keys) > TIMELINE_KEYS:
        out.append(
            f"<p class='note'>{TIMELINE_KEYS} of {len(keys)} presentities shown: those with the "
            "longest gaps, then the longest orphan time; every one is in the coverage table.</p>"
        )
    chosen = list(zip(keys["presentity"], keys["event"], strict=True))[:TIMELINE_KEYS]
    shown_keys = sorted(chosen, key=natural_key) or None
    out.append(timeline_svg(data, keys=shown_keys))
    if pngs is not None:
        out.append(pngs.add("timeline", timeline(data, keys=shown_keys)))
    gaps = data.gaps(min_gap)
    out.append("<h3>Presence gaps</h3>")
    out.append(
        _table(
            gaps,
            caption="intervals where the server holds no or stale state for a published presentity",
        )
    )
    out.append("<h2>Load</h2>")
    out.append(load_chart_svg(data))
    if pngs is not None:
        out.append(pngs.add("load", load_chart(data)))
    out.append("<h3>Transaction latency (ms)</h3>")
    out.append(_table(latency_percentiles(data)))
    out.append("<h2>Refresh timing</h2>")
    out.append(lead_histogram_svg(lead, data.title))
    if pngs is not None:
        out.append(pngs.add("lead_times", lead_histogram(data, lead=lead)))
    out.append(_table(lead, max_rows=60, caption="refreshes"))
    out.append("<h3>412 rounds</h3>")
    out.append(_table(rounds, caption="PUBLISHes answered 412"))
    out += _lamp_section(data, lamps(data) if lamp_frames is None else lamp_frames, pngs)
    rows = ladder_rows(data)
    out.append("<h2>Ladder</h2>")
    pages = ladder_svg_pages(
        data, rows_per_page=rows_per_page, max_pages=ladder_page_limit, rows=rows
    )
    total_pages = len(page_starts(len(rows), rows_per_page))
    if total_pages > len(pages):
        out.append(
            f"<p class='note'>first {len(pages)} of {total_pages} pages ({len(rows)} rows); draw the rest with "
            "<code>puasim.report.svgladder.ladder_svg_pages</code> (SVG) or "
            "<code>puasim.report.ladder.ladder_pages</code> / <code>ladder(data, start, end)</code> "
            "(matplotlib figures).</p>"
        )
    if pngs is not None:
        figs = ladder_pages(data, rows_per_page=rows_per_page, max_pages=ladder_page_limit, rows=rows)
        pages = [
            page + pngs.add(f"ladder-{i}", fig)
            for i, (page, fig) in enumerate(zip(pages, figs, strict=True), start=1)
        ]
    out += pages
    out.append("<h2>Tables</h2>")
    for name, frame in [
        ("transactions", data.transactions),
        ("records", data.records),
        ("server_state", data.server_state),
        ("coverage", data.coverage),
        ("incidents", data.incidents),
    ]:
        out.append(
            f"<details><summary>{name} ({len(frame)} rows)</summary>{_table(frame)}</details>"
        )
    if data_files:
        links = " ".join(f"<a href='data/{_esc(p.name)}'>{_esc(p.name)}</a>" for p in data_files)
        out.append(f"<p class='note'>data: {links}</p>")
    out.append("</body></html>")
    return "\n".join(out)


def _lamp_section(data: ReportData, frames: LampFrames, pngs: PngFiles | None = None) -> list[str]:
    """Busy lamps (docs/metrics.md): only when a phone watches an extension."""
    if frames.empty:
        return []
    out = ["<h2>Busy lamps</h2>",
           "<p class='note'>per watcher and watched extension: the phones' own call state against the lamp "
           "the last NOTIFY showed; wrong intervals shaded by cause.</p>",
           _kv(lamp_summary(frames, data.end_time).items())]
    pairs = frames.shown.groupby(["watcher", "watcher_uri", "extension"]).ngroups
    if pairs > MAX_PAIRS:
        out.append(f"<p class='note'>{MAX_PAIRS} of {pairs} watcher/extension pairs drawn: those with the most "
                   "wrong time; every interval is in data/lamp_wrong.csv.</p>")
    out.append(lamp_timeline_svg(frames, data.end_time))
    if pngs is not None:
        out.append(pngs.add("lamps", lamp_timeline(frames, data.end_time)))
    out += [
           "<h3>Wrong intervals by cause</h3>", _table(wrong_by_cause(frames.wrong)),
           "<h3>Lamp lag per watcher (s)</h3>", _table(lag_percentiles(frames.lag, by=["watcher", "watcher_uri"])),
           _table(frames.wrong, max_rows=60, caption="intervals where a lamp was wrong")]
    return out


def write_report(
    trace: TraceSource | ReportData,
    out_dir: str | Path,
    title: str | None = None,
    *,
    verdict: dict[str, Any] | None = None,
    ladder_page_limit: int = 3,
    write_data: bool = True,
    min_gap: float = 0.0,
    metrics: dict[str, Any] | None = None,
    png: bool = False,
) -> Path:
    """Write ``out_dir/report.html`` and ``out_dir/data/*`` for ``trace``; return the HTML path.

    ``trace`` is a :class:`~puasim.trace.trace.Trace`, a trace file path or
    an already loaded :class:`ReportData`; ``verdict`` a row of the
    ``summary.json`` ``puasim run`` writes (scenario, result, failures, refs);
    ``metrics`` the :func:`~puasim.report.metrics.summary` of the data when
    the caller has it already.  With ``png`` each picture is also written as
    ``out_dir/pictures/<name>.png`` (matplotlib; see :func:`render_html`) and
    linked from the page.
    """
    data = load(trace)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = data.write_tables(out / "data") if write_data else None
    lamp_frames = lamps(data)
    if files is not None and not lamp_frames.empty:
        files += write_frames(lamp_frames.tables(), out / "data")
    text = render_html(
        data,
        title=title,
        verdict=verdict,
        ladder_page_limit=ladder_page_limit,
        data_files=files,
        min_gap=min_gap,
        metrics=metrics,
        lamp_frames=lamp_frames,
        pngs=PngFiles(out / PICTURES_DIR) if png else None,
    )
    path = out / REPORT_FILE
    path.write_text(text, encoding="utf-8")
    return path


def write_index(
    entries: list[dict[str, Any]], out_dir: str | Path, title: str = "puasim reports"
) -> Path:
    """``out_dir/index.html``: one row per report (``name``, ``report`` path, ``result``, metrics)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cols = [
        "result",
        "messages",
        "gaps",
        "gap_none_s",
        "gap_stale_s",
        "rounds_412",
        "timeouts",
        "late_refreshes",
        "peak_rate",
    ]
    head = "<th class='l'>report</th>" + "".join(f"<th>{c}</th>" for c in cols)
    rows = []
    for e in entries:
        link = (
            Path(e["report"]).relative_to(out)
            if Path(e["report"]).is_relative_to(out)
            else Path(e["report"])
        )
        cells = []
        for c in cols:
            v = e.get(c, "")
            cls = (
                " class='pass'"
                if v == "pass"
                else " class='fail'"
                if c == "result" and v not in ("", "pass")
                else ""
            )
            cells.append(f"<td{cls}>{_esc(_fmt(v))}</td>")
        rows.append(
            f"<tr><td class='l'><a href='{_esc(link.as_posix())}'>{_esc(e['name'])}</a></td>{''.join(cells)}</tr>"
        )
    text = (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{_esc(title)}</title>"
        f"<style>{_CSS}</style></head><body><h1>{_esc(title)}</h1>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></body></html>"
    )
    path = out / "index.html"
    path.write_text(text, encoding="utf-8")
    return path
