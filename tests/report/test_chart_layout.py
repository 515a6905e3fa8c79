"""Issue 16: nothing a chart draws sits on or past its axis edge, and no label hides under the legend."""

from __future__ import annotations

import pytest

from puasim.report import load
from puasim.report.charts import lead_histogram, load_chart
from puasim.report.timeline import timeline
from tests.report.builders import BODY_OPEN, TraceBuilder, publish, reply


def refreshes_with_lead(lead: float, n: int = 3) -> TraceBuilder:
    """``n`` refreshes that all leave ``lead`` seconds before the record expires (one histogram value).

    The server reports no state, so the histogram holds the PUA's view only.
    """
    b = TraceBuilder()
    etag = "a.1700000000.1.0.0"
    for i in range(n):
        t = 100.0 * (i + 1)
        b.record(t - 1.0, "created" if i == 0 else "refreshed", etag, t + lead)
        req = publish(branch=f"z9hG4bK{i + 1}", if_match=etag)
        etag = f"a.1700000000.1.{i + 1}.0"
        at_pua = b.hop(
            b.hop(t, "pua", "server", req),
            "server",
            "pua",
            reply(req, 200, etag=etag, expires=3600),
        )
        b.finished(at_pua, req, 200, started=t)
    return b


@pytest.mark.parametrize("lead", [-495.0, 0.0, 600.0])
def test_histogram_bars_of_one_value_sit_inside_the_axes(lead):
    data = load(refreshes_with_lead(lead).trace)
    fig = lead_histogram(data)
    ax = fig.axes[0]
    values = sorted(set(ax.containers[0].datavalues)) if ax.containers else []
    assert values and values[-1] == 3  # the three refreshes fall in one bar
    lo, hi = ax.get_xlim()
    span = hi - lo
    bars = [p for p in ax.containers[0] if p.get_height() > 0]
    assert bars
    for bar in bars:
        x0, x1 = bar.get_x(), bar.get_x() + bar.get_width()
        # inside, clear of both edges, and wide enough to see
        assert lo + 0.01 * span <= x0 and x1 <= hi - 0.01 * span, (x0, x1, lo, hi)
        assert bar.get_width() >= 0.005 * span
        assert bar.get_height() < ax.get_ylim()[1]  # the top of the bar is inside too
    assert all(float(t).is_integer() for t in ax.get_yticks())  # counts of refreshes


def restart_near_the_end() -> TraceBuilder:
    b = TraceBuilder()
    for i in range(5):
        b.publish_ok(
            20.0 * i, publish(branch=f"z9hG4bK{i}", body=BODY_OPEN, call_id=f"c{i}"), f"e{i}", 3600
        )
    b.crash(96.0, "pua", restart=True)
    b.crash(97.0, "server", restart=True)
    return b


def test_incident_labels_stay_clear_of_the_legend_and_each_other():
    data = load(restart_near_the_end().trace)
    fig = load_chart(data, by="direction")  # two series and the total: a three-row legend
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    legend = ax.get_legend().get_window_extent(renderer)
    labels = [t for t in ax.texts if "restart" in t.get_text()]
    assert len(labels) == 2
    boxes = [t.get_window_extent(renderer) for t in labels]
    figure = fig.bbox
    for box in boxes:
        assert not box.overlaps(legend), (box, legend)
        assert figure.x0 <= box.x0 and box.x1 <= figure.x1
    assert not boxes[0].overlaps(boxes[1])


@pytest.mark.parametrize("draw", [load_chart, timeline])
def test_what_happens_at_the_first_and_last_instant_is_not_drawn_on_the_spine(draw):
    b = TraceBuilder()
    b.publish_ok(0.0, publish(branch="z9hG4bK0", body=BODY_OPEN), "e0", 3600)
    end = b.publish_ok(50.0, publish(branch="z9hG4bK1", body=BODY_OPEN, call_id="c1"), "e1", 3600)
    ax = draw(load(b.trace)).axes[0]
    lo, hi = ax.get_xlim()
    assert lo < 0.0 - 0.005 * (hi - lo) and hi > end + 0.005 * (hi - lo)


def test_the_total_request_rate_stays_below_the_top_of_the_axes():
    b = TraceBuilder()
    b.publish_ok(10.0, publish(branch="z9hG4bK0", body=BODY_OPEN), "e0", 3600)
    b.publish_ok(10.2, publish(branch="z9hG4bK1", body=BODY_OPEN, call_id="c1"), "e1", 3600)
    b.crash(40.0, "server")
    ax = load_chart(load(b.trace), by="call_id").axes[0]  # two series, one request each in one bin
    total = ax.get_lines()[0]  # "all requests", drawn first
    assert total.get_label() == "all requests"
    assert max(total.get_ydata()) < ax.get_ylim()[1]
