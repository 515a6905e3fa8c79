"""The busy-lamp timeline as inline SVG (``svglamps``): in the reports of the shipped lamp scenarios,
checked against their lamp frames; escaping of names from the trace; ``--png`` still drawing the PNG."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd
import pytest

from puasim.cli import main
from puasim.report.frames import load
from puasim.report.html import write_report
from puasim.report.lampchart import MAX_PAIRS
from puasim.report.lamps import CAUSES, LampFrames, lamps
from puasim.report.svgladder import text_width
from puasim.report.svglamps import _AX_LEFT, _AX_W, lamp_timeline_svg
from puasim.scenario.runner import run_scenario
from puasim.trace.codec import write_jsonl
from tests.report.builders import TraceBuilder
from tests.report.test_lamps import Calls, ringing_then_busy
from tests.report.test_png_files import assert_png, png_links

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
SVG = "{http://www.w3.org/2000/svg}"
SPAN = re.compile(r": (?:true lamp|lamp shown|wrong \((\w+)\)) ?(\w*) (-?[\d.]+)-(-?[\d.]+) s$")


def lamp_svg(text: str) -> ET.Element:
    """The report's busy-lamp picture, parsed (so it must be well-formed XML)."""
    found = re.findall(r"<svg [^>]*aria-label='busy lamp timeline'.*?</svg>", text, re.S)
    assert len(found) == 1
    return ET.fromstring(found[0])


def spans(band: ET.Element, kind: str) -> list[tuple[str, float, float]]:
    """(lamp or cause, start, end) of the band's rectangles of class ``kind``, read from their hover titles."""
    out = []
    for rect in band.iter(f"{SVG}rect"):
        if rect.get("class") == kind:
            title = rect.find(f"{SVG}title")
            assert title is not None and title.text
            m = SPAN.search(title.text)
            assert m, title.text
            out.append((m.group(1) or m.group(2), float(m.group(3)), float(m.group(4))))
    return out


def lamp_at(changes: pd.DataFrame, t: float, before: str | None) -> str | None:
    """The lamp after the last change at or before ``t`` (``before`` when there is none)."""
    earlier = changes[changes["time"] <= t + 1e-9]
    return str(earlier["lamp"].iloc[-1]) if len(earlier) else before


def check_against_frames(svg: ET.Element, frames: LampFrames, end: float) -> int:
    """Every band's lanes and wrong intervals are those of the frames; the number of bands drawn."""
    bands = [g for g in svg.iter(f"{SVG}g") if g.get("class") == "lamp-band"]
    pairs = frames.shown.groupby(["watcher", "watcher_uri", "extension"]).ngroups
    assert len(bands) == min(pairs, MAX_PAIRS)
    for band in bands:
        label = next(t.text for t in band.iter(f"{SVG}text") if t.text and " ← " in t.text)
        watcher, ext = label.split(" ← ")
        ext = f"sip:{ext}"
        truth = frames.truth[frames.truth["extension"] == ext]
        shown = frames.shown[(frames.shown["watcher"] == watcher) & (frames.shown["extension"] == ext)]
        wrong = frames.wrong[(frames.wrong["watcher"] == watcher) & (frames.wrong["extension"] == ext)]
        assert len(shown), label
        for kind, changes, first, before in [
            ("truth", truth, 0.0, "idle"),
            ("shown", shown, float(shown["time"].iloc[0]), None),
        ]:
            lane = spans(band, kind)
            # the lane runs without a hole from its first instant to the end of the run ...
            assert lane[0][1] == pytest.approx(first, abs=1e-3) and lane[-1][2] == pytest.approx(end, abs=1e-3)
            for (_l, _a, b), (_m, c, _d) in zip(lane, lane[1:], strict=False):
                assert b == pytest.approx(c, abs=1e-3)
            # ... and each span shows the lamp of the frame's last change before it
            for lamp, a, b in lane:
                assert lamp == lamp_at(changes, (a + b) / 2, before), (label, kind, a, b)
        drawn = spans(band, "wrong")
        assert len(drawn) == len(wrong), label
        assert sorted(c for c, _a, _b in drawn) == sorted(wrong["cause"])
        assert sum(b - a for _c, a, b in drawn) == pytest.approx(float(wrong["duration"].sum()), abs=2e-3)
    return len(bands)


@pytest.mark.parametrize(
    ("scenario", "bands"),
    [("calls/blf_lost_notify.yaml", 1), ("population/blf_phones_watch_calls.yaml", MAX_PAIRS)],
)
def test_the_report_of_a_lamp_scenario_draws_its_lamp_frames_as_svg(tmp_path, scenario, bands):
    result = run_scenario(SCENARIOS / scenario)
    assert result.passed, result.failures
    data = load(result.trace)
    frames = lamps(data)
    assert not frames.wrong.empty  # both scenarios have wrong intervals to draw
    text = write_report(data, tmp_path / "r", write_data=False).read_text(encoding="utf-8")
    assert "data:image/png" not in text  # no picture of the report is a PNG any more
    svg = lamp_svg(text)
    assert check_against_frames(svg, frames, data.end_time) == bands
    # the legend names every cause drawn, in the order of CAUSES, and no other
    legend = [t.text for t in svg.iter(f"{SVG}text") if t.text and t.text.startswith("wrong: ")]
    drawn = {c for band in svg.iter(f"{SVG}g") if band.get("class") == "lamp-band" for c, _a, _b in spans(band, "wrong")}
    assert legend == [f"wrong: {c}" for c in CAUSES if c in drawn]


def renamed(frames: LampFrames, old: str, new: str) -> LampFrames:
    for name in ("shown", "wrong", "lag"):
        frame = getattr(frames, name)
        if "watcher" in frame:
            setattr(frames, name, frame.assign(watcher=frame["watcher"].replace(old, new)))
    return frames


def test_names_from_the_trace_are_escaped():
    b = ringing_then_busy(Calls())
    data = load(b.trace)
    evil = "carol</svg><script>alert(1)</script>"
    svg = lamp_timeline_svg(renamed(lamps(data), "carol", evil), data.end_time)
    assert "<script>" not in svg and "</svg><script>" not in svg
    assert "carol&lt;/svg&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in svg
    root = ET.fromstring(svg)  # well-formed: the name did not close the picture
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert f"{evil} ← bob@127.0.0.1" in texts
    titles = [t.text or "" for t in root.iter(f"{SVG}title")]
    assert f"{evil} ← bob@127.0.0.1: true lamp ringing 1.000-2.000 s" in titles


def test_without_watchers_the_svg_says_so():
    svg = lamp_timeline_svg(lamps(load(TraceBuilder().trace)), 1.0)
    assert "no phone watches an extension in this trace" in svg
    ET.fromstring(svg)


def test_png_option_still_writes_the_lamp_png_beside_the_svg(tmp_path):
    result = run_scenario(SCENARIOS / "calls" / "blf_lost_notify.yaml")
    trace = tmp_path / "blf_lost_notify.jsonl"
    write_jsonl(result.trace, trace)
    assert main(["report", str(trace), "--out", str(tmp_path / "out"), "--no-data", "--png"]) == 0
    page = next((tmp_path / "out").rglob("report.html"))
    text = page.read_text(encoding="utf-8")
    lamp_svg(text)
    assert "pictures/lamps.png" in png_links(text)
    at = text.index("aria-label='busy lamp timeline'")
    assert text.index("pictures/lamps.png", at) < text.index("</svg>", at) + 60
    assert_png(page.parent / "pictures" / "lamps.png")


def drawn_extent(svg: ET.Element) -> tuple[float, float]:
    """Leftmost and rightmost x of the lamp rectangles and cause labels inside the bands."""
    xs: list[float] = []
    for band in svg.iter(f"{SVG}g"):
        if band.get("class") != "lamp-band":
            continue
        for rect in band.iter(f"{SVG}rect"):
            x = float(rect.get("x", "0"))
            xs += [x, x + float(rect.get("width", "0"))]
        for text in band.iter(f"{SVG}text"):
            if text.text in CAUSES:
                half = text_width(text.text, 9.7) / 2
                xs += [float(text.get("x", "0")) - half, float(text.get("x", "0")) + half]
    return min(xs), max(xs)


@pytest.mark.parametrize("end_time", [5.0, 0.0, -3.0])
def test_a_report_ending_before_the_lamp_data_stays_inside_its_axes(end_time):
    """A report asked to end early (``load(..., end_time=)``) cuts the lanes and wrong intervals at the end,
    as the PNG's clipping does, instead of drawing them over the legend; tiny axes still get distinct ticks."""
    result = run_scenario(SCENARIOS / "calls" / "blf_lost_notify.yaml")
    data = load(result.trace, end_time=end_time)
    frames = lamps(data)
    assert frames.truth["time"].max() > 5.0  # the lamp data go on past the requested end
    svg = ET.fromstring(lamp_timeline_svg(frames, end_time))
    left, right = drawn_extent(svg)
    assert left >= _AX_LEFT - 1 and right <= _AX_LEFT + _AX_W + 1, (left, right)
    ticks = [t.text for t in svg.iter(f"{SVG}text") if t.text and re.fullmatch(r"[−\d.]+", t.text)]
    assert len(ticks) >= 3 and len(ticks) == len(set(ticks)), ticks


def test_a_cause_label_at_the_end_of_the_run_stays_inside_the_axes():
    """A wide enough wrong interval ending at the run's end gets its cause written inside the axes."""
    frames = lamps(load(ringing_then_busy(Calls()).trace))
    end = 12.0
    wrong = frames.wrong.iloc[:1].assign(start=end - end / 11, end=end, duration=end / 11, cause="expired_publication")
    frames.wrong = wrong
    svg = ET.fromstring(lamp_timeline_svg(frames, end))
    labels = [t for t in svg.iter(f"{SVG}text") if t.text == "expired_publication"]
    assert len(labels) == 1
    _left, right = drawn_extent(svg)
    assert right <= _AX_LEFT + _AX_W + 1, right
