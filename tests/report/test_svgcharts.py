"""The lead-time histogram as SVG: the bins and counts of the matplotlib one, well-formed, escaped."""

from __future__ import annotations

import re

import numpy as np
from lxml import etree

from puasim.report import load
from puasim.report.charts import histogram_edges
from puasim.report.metrics import refresh_lead_times
from puasim.report.svgcharts import HEIGHT, WIDTH, lead_histogram_svg
from tests.report.test_chart_layout import refreshes_with_lead
from tests.report.test_pictures import busy

SVG = "{http://www.w3.org/2000/svg}"


def bars(root: etree._Element) -> list[etree._Element]:
    return [r for r in root.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]


def test_bars_hold_every_refresh_in_the_bins_of_the_png_histogram():
    data = load(busy().trace)
    lead = refresh_lead_times(data)
    svg = lead_histogram_svg(lead, data.title)
    root = etree.fromstring(svg.encode())
    assert root.get("aria-label") == "refresh lead times"
    assert (root.get("width"), root.get("height")) == (str(WIDTH), str(HEIGHT))
    values = lead["lead"].dropna().to_numpy()
    edges, _step = histogram_edges(values, lead["server_lead"].dropna().to_numpy())
    counts = np.histogram(values, bins=edges)[0]
    drawn = [
        int(re.search(r": (\d+) refreshes", b.findtext(f"{SVG}title")).group(1)) for b in bars(root)
    ]
    assert drawn == [int(n) for n in counts if n] and sum(drawn) == len(values) > 0
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert f"PUA record expiry (n={len(values)})" in texts
    assert any(t and t.startswith("expiry (") for t in texts)


def test_one_value_far_from_the_expiry_is_a_bar_inside_the_axes():
    data = load(refreshes_with_lead(600.0).trace)
    root = etree.fromstring(lead_histogram_svg(refresh_lead_times(data), data.title).encode())
    (bar,) = bars(root)
    axes = [
        r for r in root.iter(f"{SVG}rect") if r.get("fill") == "none" and r.get("stroke") == "black"
    ][0]
    left, right = float(axes.get("x")), float(axes.get("x")) + float(axes.get("width"))
    x, w = float(bar.get("x")), float(bar.get("width"))
    assert left < x and x + w < right and w >= (right - left) / 70


def test_the_title_is_escaped_and_an_empty_histogram_says_so():
    data = load(refreshes_with_lead(5.0).trace)
    svg = lead_histogram_svg(refresh_lead_times(data).iloc[0:0], "a<b>&c")
    root = etree.fromstring(svg.encode())
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "a<b>&c: refresh lead times" in texts and "no refreshes in this trace" in texts
    assert not bars(root)
