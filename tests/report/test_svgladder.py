"""The report's ladder pages as SVG: well-formed, one arrow per message row, escaped SIP text, pages."""

from __future__ import annotations

import math

from lxml import etree

from puasim.report import load
from puasim.report.html import write_report
from puasim.report.ladder import ROWS_PER_PAGE, ladder_rows
from puasim.report.svgladder import ladder_svg, ladder_svg_pages, page_size
from puasim.trace.trace import Trace
from tests.report.builders import BODY_OPEN, TraceBuilder, publish, reply
from tests.report.test_pictures import busy

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> etree._Element:
    """The page as XML (raises on anything not well-formed)."""
    return etree.fromstring(svg.encode("utf-8"))


def groups(root: etree._Element) -> list[etree._Element]:
    """One group per drawn row: an arrow (a line in it) or a note (a rect in it)."""
    return list(root.iter(f"{SVG}g"))


def arrows(root: etree._Element) -> list[etree._Element]:
    return [g for g in groups(root) if g.find(f"{SVG}line") is not None]


def test_a_page_is_well_formed_with_one_arrow_per_message_row():
    data = load(busy().trace)
    rows = ladder_rows(data)
    root = parse(ladder_svg(data, rows=rows, label="ladder page 1"))
    assert root.tag == f"{SVG}svg" and root.get("aria-label") == "ladder page 1"
    assert root.findtext(f"{SVG}title") == "ladder page 1"
    messages = rows[rows["kind"] == "message"]
    assert len(arrows(root)) == len(messages) > 0
    # the rest of the rows are notes in boxes, and every row has its time down the left
    assert len(groups(root)) == len(rows)
    times = [t.text for t in root.iter(f"{SVG}text") if t.get("text-anchor") == "end"]
    assert [f"{t:.3f}" for t in rows["time"]] == times[: len(rows)]
    # an arrow's label is the row's text; its hover title the message's start line and headers
    first = arrows(root)[0]
    assert first.findtext(f"{SVG}text") == messages.iloc[0]["text"]
    title = first.findtext(f"{SVG}title")
    assert title.startswith("PUBLISH sip:alice@127.0.0.1 SIP/2.0\n")
    assert "Call-ID: call-1" in title and "Expires: 3601" in title and "CSeq: 10 PUBLISH" in title


def test_drops_retransmissions_and_errors_are_drawn_as_such():
    root = parse(ladder_svg(load(busy().trace)))
    lines = [g.find(f"{SVG}line") for g in arrows(root)]
    assert any(line.get("stroke-dasharray") for line in lines)  # the retransmission
    assert any(line.get("stroke") == "#b3261e" for line in lines)  # the 412
    lost = [g for g in arrows(root) if "LOST: loss" in (g.findtext(f"{SVG}text") or "")]
    assert len(lost) == 1
    cross = lost[0].find(f"{SVG}path")
    assert cross.get("stroke") == "#d62728" and cross.get("fill") is None  # a cross, no head


def test_sip_text_is_escaped():
    b = TraceBuilder()
    req = publish(branch="z9hG4bK1", body=BODY_OPEN, call_id="a<b>&c")
    b.hop(0.0, "pua", "server", req)
    b.hop(0.001, "server", "pua", reply(req, 400, 'Bad <Event> & "so" on'))
    svg = ladder_svg(load(b.trace))
    assert "<Event>" not in svg and "a<b>&c" not in svg
    root = parse(svg)
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert any(t and t.startswith('400 Bad <Event> & "so" on') for t in texts)
    titles = [g.findtext(f"{SVG}title") for g in arrows(root)]
    assert all("Call-ID: a<b>&c" in t for t in titles)


def test_pages_of_sixty_rows_as_the_png_ladder():
    b = TraceBuilder()
    for i in range(40):  # 80 messages + 80 notes
        b.publish_ok(
            10.0 * i, publish(branch=f"z9hG4bK{i}", body=BODY_OPEN, call_id=f"c{i}"), f"e{i}", 3600
        )
    data = load(b.trace)
    rows = ladder_rows(data)
    pages = ladder_svg_pages(data)
    assert len(rows) == 160 and len(pages) == math.ceil(160 / ROWS_PER_PAGE) == 3
    drawn = [len(groups(parse(p))) for p in pages]
    assert drawn == [60, 60, 40]
    labels = [parse(p).get("aria-label") for p in pages]
    assert labels == ["ladder page 1", "ladder page 2", "ladder page 3"]
    first = "".join(parse(pages[0]).itertext())
    assert "rows 1-60 of 160" in first and "100 more rows" in first
    assert "rows 121-160 of 160" in "".join(parse(pages[2]).itertext())
    assert len(ladder_svg_pages(data, max_pages=2)) == 2
    assert len(ladder_svg_pages(data, notes=False, rows_per_page=40)) == 2
    # the page is as tall as its rows need
    assert parse(pages[2]).get("height") == str(page_size(2, 40)[1]) < parse(pages[0]).get("height")


def test_an_empty_trace_gives_one_page_without_rows():
    pages = ladder_svg_pages(load(Trace({"epoch": 0})))
    assert len(pages) == 1 and "no rows" in "".join(parse(pages[0]).itertext())


def test_the_report_embeds_the_pages_inline(tmp_path):
    text = write_report(busy().trace, tmp_path, write_data=False).read_text(encoding="utf-8")
    start = text.index("<h2>Ladder</h2>")
    svg = text[text.index("<svg", start) : text.index("</svg>", start) + len("</svg>")]
    assert len(arrows(parse(svg))) == (ladder_rows(load(busy().trace))["kind"] == "message").sum()


def test_a_long_note_widens_the_page_instead_of_being_cut_off():
    b = TraceBuilder()
    b.publish_ok(0.0, publish(branch="z9hG4bK1", body=BODY_OPEN), "e1", 60)
    b.record(1.0, "deleted", "e1", 0, reason="a reason long enough to reach well past the page " * 3)
    data = load(b.trace)
    root = parse(ladder_svg(data))
    x0, _y0, width, _h = (float(v) for v in root.get("viewBox").split())
    assert width == float(root.get("width")) > page_size(2, len(ladder_rows(data)))[0]
    note = [g for g in groups(root) if "a reason long" in (g.findtext(f"{SVG}text") or "")][0]
    box = note.find(f"{SVG}rect")
    left, right = float(box.get("x")), float(box.get("x")) + float(box.get("width"))
    assert x0 <= left and right <= x0 + width
