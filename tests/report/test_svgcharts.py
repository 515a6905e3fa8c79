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


def lines_of(root: etree._Element) -> dict[str, etree._Element]:
    """The chart's step lines by series name (from their hover titles)."""
    return {
        p.findtext(f"{SVG}title").split(":")[0]: p
        for p in root.iter(f"{SVG}polyline")
        if p.find(f"{SVG}title") is not None
    }


def test_load_chart_has_a_line_per_method_the_total_and_the_incidents():
    from puasim.report.metrics import load_curve
    from puasim.report.svgcharts import LOAD_HEIGHT, LOAD_WIDTH, load_chart_svg

    data = load(busy().trace)
    root = etree.fromstring(load_chart_svg(data).encode())
    assert root.get("aria-label") == "request rate"
    assert (root.get("width"), root.get("height")) == (str(LOAD_WIDTH), str(LOAD_HEIGHT))
    curve = load_curve(data, bin_s=1.0)
    names = sorted(set(curve["series"]))
    found = lines_of(root)
    assert set(found) == set(names) | ({"all requests"} if len(names) > 1 else set())
    for name in names:
        peak = curve.loc[curve["series"] == name, "rate"].max()
        assert found[name].findtext(f"{SVG}title") == f"{name}: peak {peak:g} requests/s"
        # one horizontal run per bin: two points each
        assert len(found[name].get("points").split()) == 2 * (curve["series"] == name).sum()
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "server restart" in texts  # the crash and restart at 80 s
    assert "(bins of 1 s)" in texts and "virtual time (s)" in texts


def test_load_chart_labels_and_legend_stay_inside_the_picture():
    from puasim.report.svgcharts import LOAD_WIDTH, load_chart_svg
    from puasim.report.svgladder import text_width

    data = load(busy().trace)
    root = etree.fromstring(load_chart_svg(data).encode())
    for t in root.iter(f"{SVG}text"):
        if t.get("x") is None or t.get("transform"):
            continue
        x, w = float(t.get("x")), text_width(t.text, float(t.get("font-size") or 13.9))
        start = {"start": x, None: x, "middle": x - w / 2, "end": x - w}[t.get("text-anchor")]
        assert 0 <= start and start + w <= LOAD_WIDTH, t.text


def test_tick_labels_share_one_number_of_decimals_and_a_true_minus():
    from puasim.report.svgcharts import tick_labels

    assert tick_labels([0.0, 0.0002, 0.001]) == ["0.0000", "0.0002", "0.0010"]
    assert tick_labels([0.0, 2.5, 5.0]) == ["0.0", "2.5", "5.0"]
    assert tick_labels([-2.0, 0.0, 2.0]) == ["\u22122", "0", "2"]
    assert tick_labels([]) == []
