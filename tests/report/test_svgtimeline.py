"""The report's timeline as SVG: one band per presentity, gaps, records, markers, escaped names."""

from __future__ import annotations

from lxml import etree

from puasim.report import load
from puasim.report.svgtimeline import timeline_svg
from puasim.report.timeline import presentities
from puasim.trace.trace import Trace
from tests.report.builders import BODY_OPEN, TraceBuilder, publish
from tests.report.test_pictures import busy

SVG = "{http://www.w3.org/2000/svg}"


def titled(root: etree._Element, prefix: str) -> list[str]:
    """Hover titles starting with ``prefix``."""
    return [t.text for t in root.iter(f"{SVG}title") if t.text and t.text.startswith(prefix)]


def test_bands_gaps_records_and_markers_of_the_busy_trace():
    data = load(busy().trace)
    root = etree.fromstring(timeline_svg(data).encode())
    assert root.get("aria-label") == "timeline"
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert {"alice@127.0.0.1", "bob@127.0.0.1"} <= set(texts)
    assert texts.count("PUA") == texts.count("server") == 2
    cov = data.coverage
    gaps = cov[cov["state"].isin(["none", "stale"])]
    assert len(titled(root, "gap: ")) == len(gaps) > 0
    records = data.records[data.records["kind"] == "publication"]
    assert len(titled(root, "PUA record ")) == len(records)
    assert len(titled(root, "server publication ")) == len(data.server_state)
    pub = data.transactions[data.transactions["method"] == "PUBLISH"]
    assert len(titled(root, "412 at ")) == int((pub["status"] == 412).sum()) == 1
    assert len(titled(root, "initial PUBLISH at ")) == int((pub["op"] == "initial").sum())


def test_names_are_escaped_and_widen_the_picture():
    b = TraceBuilder()
    uri = "sip:" + "a<b>&c" * 8 + "@example.com"
    b.publish_ok(1.0, publish(uri, branch="z9hG4bK1", body=BODY_OPEN), "e1", 60)
    data = load(b.trace)
    root = etree.fromstring(timeline_svg(data).encode())
    name = uri.removeprefix("sip:")
    assert name in [t.text for t in root.iter(f"{SVG}text")]
    short = etree.fromstring(timeline_svg(load(busy().trace)).encode())
    assert int(root.get("width")) > int(short.get("width"))
    assert float(root.get("viewBox").split()[0]) < float(short.get("viewBox").split()[0])


def test_keys_limit_and_an_empty_trace():
    data = load(busy().trace)
    first = [tuple(k) for k in presentities(data)[["presentity", "event"]].to_numpy()[:1]]
    root = etree.fromstring(timeline_svg(data, keys=first).encode())
    assert [t.text for t in root.iter(f"{SVG}text")].count("PUA") == 1
    empty = etree.fromstring(timeline_svg(load(Trace({"epoch": 0}))).encode())
    assert "no publications in this trace" in [t.text for t in empty.iter(f"{SVG}text")]
