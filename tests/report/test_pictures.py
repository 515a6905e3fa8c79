"""Every picture renders to PNG, on hand-made and empty traces, without pyplot."""

from __future__ import annotations

import pytest
from matplotlib import _pylab_helpers
from matplotlib.figure import Figure

from puasim.report import load
from puasim.report.charts import lead_histogram, load_chart
from puasim.report.figures import png_data_uri, save, to_png, to_svg
from puasim.report.ladder import ROWS_PER_PAGE, ladder, ladder_pages, ladder_rows, message_label
from puasim.report.timeline import presentities, timeline
from puasim.trace.trace import Trace
from tests.report.builders import BODY_CLOSED, BODY_OPEN, TraceBuilder, publish, reply

PNG = b"\x89PNG\r\n\x1a\n"


def busy() -> TraceBuilder:
    """Two presentities, a refresh, a lost modify with a retransmission, a server crash and a 412."""
    b = TraceBuilder()
    b.publish_ok(0.0, publish(branch="z9hG4bK1", body=BODY_OPEN), "a.1700000000.1903.1.0", 120)
    bob = "sip:bob@127.0.0.1"
    b.publish_ok(
        1.0,
        publish(bob, branch="z9hG4bKb", body=BODY_OPEN, call_id="cb"),
        "a.1700000000.1903.2.0",
        120,
    )
    b.publish_ok(
        60.0,
        publish(branch="z9hG4bK2", if_match="a.1700000000.1903.1.0"),
        "a.1700000000.1903.3.1",
        120,
        server_action="refreshed",
        record_action="refreshed",
    )
    mod = publish(branch="z9hG4bK3", if_match="a.1700000000.1903.3.1", body=BODY_CLOSED)
    b.send(70.0, "pua", "server", mod)
    b.drop(70.0, "pua", "server", mod)
    b.send(70.5, "pua", "server", mod, retx=True)
    b.deliver(70.501, "pua", "server", mod)
    b.server(70.501, "modified", "a.1700000000.1903.4.2", 190.501)
    b.hop(70.501, "server", "pua", reply(mod, 200, etag="a.1700000000.1903.4.2", expires=120))
    b.record(70.502, "updated", "a.1700000000.1903.4.2", 190)
    b.crash(80.0, "server", restart=True)
    ref = publish(bob, branch="z9hG4bK4", if_match="a.1700000000.1903.2.0", call_id="cb")
    b.hop(100.0, "pua", "server", ref)
    b.hop(100.001, "server", "pua", reply(ref, 412, "Conditional Request Failed"))
    b.record(100.002, "deleted", "a.1700000000.1903.2.0", 121, pres_uri=bob, reason="412 reply")
    return b


def assert_png(fig: Figure) -> None:
    assert isinstance(fig, Figure)
    data = to_png(fig)
    assert data.startswith(PNG) and len(data) > 2000


def test_no_pyplot_figure_managers_are_left_behind():
    data = load(busy().trace)
    for fig in (ladder(data), timeline(data), load_chart(data), lead_histogram(data)):
        assert_png(fig)
    assert _pylab_helpers.Gcf.get_num_fig_managers() == 0


def test_ladder_rows_and_labels():
    data = load(busy().trace)
    rows = ladder_rows(data)
    msgs = rows[rows["kind"] == "message"]
    assert len(msgs) == len(data.messages)
    assert (rows["seq"].diff().dropna() > 0).all()
    first = data.messages.iloc[0]
    assert message_label(first) == f"PUBLISH alice  Exp 3601  body {len(BODY_OPEN)} B"
    labels = list(msgs["text"])
    assert any("If-Match 1903.1.0" in t for t in labels)
    assert any(t.startswith("412 Conditional Request Failed") for t in labels)
    assert any("(retx)" in t for t in labels) and any("LOST: loss" in t for t in labels)
    notes = rows[rows["kind"] != "message"]
    assert any("record updated alice" in t for t in notes["text"])
    assert any(t.startswith("server: crashed") for t in notes["text"])
    sliced = ladder_rows(data, start=60.0, end=71.0, notes=False)
    assert sliced["time"].between(60.0, 71.0).all() and (sliced["kind"] == "message").all()


def test_ladder_renders_and_paginates():
    b = TraceBuilder()
    for i in range(40):  # 80 messages + 80 notes
        b.publish_ok(
            10.0 * i, publish(branch=f"z9hG4bK{i}", body=BODY_OPEN, call_id=f"c{i}"), f"e{i}", 3600
        )
    data = load(b.trace)
    assert_png(ladder(data))
    pages = ladder_pages(data)
    total = len(ladder_rows(data))
    assert total == 160 and len(pages) == -(-total // ROWS_PER_PAGE) == 3
    assert len(ladder_pages(data, max_pages=2)) == 2
    assert len(ladder_pages(data, notes=False, rows_per_page=40)) == 2
    for fig in pages:
        assert_png(fig)
    # a slice by time
    assert_png(ladder(data, 100.0, 150.0))


def test_pictures_of_an_empty_trace():
    data = load(Trace({"epoch": 0}))
    for fig in (ladder(data), timeline(data), load_chart(data), lead_histogram(data)):
        assert_png(fig)


def test_timeline_and_charts_render(tmp_path):
    data = load(busy().trace)
    fig = timeline(data)
    assert_png(fig)
    assert_png(timeline(data, start=50.0, end=110.0, keys=[("sip:alice@127.0.0.1", "presence")]))
    assert_png(load_chart(data, bin_s=10.0, by="direction"))
    assert_png(load_chart(data, by=None, start=60.0, end=80.0))
    assert_png(lead_histogram(data))
    assert save(fig, tmp_path / "t.png").read_bytes().startswith(PNG)
    assert to_svg(fig).lstrip().startswith("<?xml")
    assert png_data_uri(fig).startswith("data:image/png;base64,")
    keys = presentities(data)
    assert set(keys["presentity"]) == {"sip:alice@127.0.0.1", "sip:bob@127.0.0.1"}
    assert keys["gap_s"].is_monotonic_decreasing and keys["gap_s"].iloc[-1] > 0  # longest gap first


@pytest.mark.parametrize("n", [1, 6, 15])
def test_timeline_scales_with_the_number_of_presentities(n):
    b = TraceBuilder()
    for i in range(n):
        uri = f"sip:u{i}@127.0.0.1"
        b.publish_ok(
            float(i),
            publish(uri, branch=f"z9hG4bK{i}", body=BODY_OPEN, call_id=f"c{i}"),
            f"e{i}",
            60,
        )
    fig = timeline(load(b.trace))
    assert_png(fig)
    assert fig.get_figheight() < 1.5 + 1.05 * min(n, 12) + 1.2


def test_ladder_times_are_right_aligned_without_blank_glyphs():
    from matplotlib.text import Text

    b = TraceBuilder()
    for i, t in enumerate((1.0, 12.5, 123.25, 1234.125)):
        b.publish_ok(t, publish(branch=f"z9hG4bK{i}", body=BODY_OPEN, call_id=f"c{i}"), f"e{i}", 3600)
    fig = ladder(load(b.trace))
    fig.canvas.draw()
    times = [t for t in fig.findobj(Text) if t.get_fontfamily() == ["monospace"] and t.get_text()]
    assert {t.get_text() for t in times} >= {"1.000", "12.500", "123.250", "1234.125"}
    # no padding: every glyph drawn costs time, blanks included
    assert all(t.get_text() == t.get_text().strip() for t in times)
    right = [t.get_window_extent().x1 for t in times]
    assert max(right) - min(right) <= 1.0  # one column, read like padded monospace


def test_timeline_marks_each_publish_on_its_own_band():
    """The band of bob shows his initial PUBLISH and the 412 of his refresh; alice's has none."""
    data = load(busy().trace)
    ax = timeline(data).axes[0]
    # bands from the bottom: the last key (bob) at 0..1, alice at 1..2
    marks = {}
    for line in ax.get_lines():
        ys = set(line.get_ydata())
        if len(ys) == 1 and line.get_marker() in ("^", "|", "D", "x"):
            marks.setdefault((line.get_marker(), round(ys.pop(), 2)), []).extend(line.get_xdata())
    assert marks[("^", 0.72)] == [1.0] and marks[("^", 1.72)] == [0.0]  # initial PUBLISHes
    assert marks[("x", 0.9)] == [data.transactions.set_index("seq")["end"].max()]  # bob's 412
    assert ("x", 1.9) not in marks  # alice got no 412
    assert marks[("D", 1.72)] == [70.0]  # alice's modify
