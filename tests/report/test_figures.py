"""figures.to_png: one draw, cropped like ``savefig(bbox_inches="tight")``."""

from __future__ import annotations

import io

import numpy as np
import PIL.Image
import pytest

from puasim.report import load
from puasim.report.charts import lead_histogram, load_chart
from puasim.report.figures import drawing, new_figure, to_png
from puasim.report.ladder import ladder
from puasim.report.timeline import timeline
from tests.report.test_pictures import busy


def tight_png(fig) -> bytes:
    buf = io.BytesIO()
    with drawing():  # the text settings to_png draws with
        fig.savefig(buf, format="png", dpi=fig.dpi, bbox_inches="tight")
    return buf.getvalue()


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(PIL.Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


@pytest.mark.parametrize("draw", [ladder, timeline, load_chart, lead_histogram])
def test_to_png_matches_a_tight_savefig(draw):
    fig = draw(load(busy().trace))
    ours, tight = pixels(to_png(fig)), pixels(tight_png(fig))
    # the crop box is read off the pixels rather than the text boxes: a few pixels apart
    assert abs(ours.shape[0] - tight.shape[0]) <= 4 and abs(ours.shape[1] - tight.shape[1]) <= 4
    # the same drawing: the ink (non-white pixels) covers the same area, give or take antialiasing
    ink_ours, ink_tight = (ours < 250).any(axis=2).sum(), (tight < 250).any(axis=2).sum()
    assert abs(ink_ours - ink_tight) <= 0.02 * ink_tight


def test_content_past_the_edge_is_not_cut():
    fig = new_figure(3.0, 1.0)
    ax = fig.add_axes((0.1, 0.2, 0.8, 0.6))
    ax.text(0.0, 0.5, "a label running well past the right edge of the figure", fontsize=12)
    ours, tight = pixels(to_png(fig)), pixels(tight_png(fig))
    assert ours.shape == tight.shape and ours.shape[1] > 3.0 * fig.dpi


def test_empty_figure_and_other_resolution():
    fig = new_figure(2.0, 1.0)
    assert to_png(fig).startswith(b"\x89PNG")
    fig.add_subplot(1, 1, 1).plot([0, 1], [0, 1])
    assert pixels(to_png(fig, dpi=50)).shape[1] < pixels(to_png(fig)).shape[1]


def test_text_is_drawn_without_font_hinting_and_the_settings_are_restored(monkeypatch):
    import matplotlib
    from matplotlib.backends import backend_agg
    from matplotlib.ft2font import LoadFlags

    seen = []
    real = backend_agg.get_hinting_flag

    def spy():
        seen.append(real())
        return seen[-1]

    monkeypatch.setattr(backend_agg, "get_hinting_flag", spy)
    before = matplotlib.rcParams["text.hinting"]
    to_png(ladder(load(busy().trace)))
    # FreeType's hinting runs the font's instructions per glyph: most of a picture's time
    assert seen and set(seen) == {LoadFlags.NO_HINTING}
    assert matplotlib.rcParams["text.hinting"] == before


def test_long_band_names_get_room_so_the_picture_is_drawn_once(monkeypatch):
    """A timeline or lamp band whose name is longer than the left margin widens the canvas.

    Before, such a name ran past the left edge and to_png fell back to a
    second layout and draw (savefig); the picture is the same, only wider.
    """
    import puasim.report.figures as figures
    from puasim.report.lampchart import lamp_timeline
    from puasim.report.lamps import lamps
    from tests.report.builders import BODY_OPEN, TraceBuilder, publish

    def no_fallback(fig, dpi):
        raise AssertionError("to_png fell back to savefig")

    monkeypatch.setattr(figures, "_savefig_png", no_fallback)
    long_uri = "sip:" + "a-very-long-presentity-name" * 2 + "@example.com"
    b = TraceBuilder()
    b.publish_ok(1.0, publish(long_uri, branch="z9hG4bK1", body=BODY_OPEN), "e1", 60)
    data = load(b.trace)
    short = timeline(load(busy().trace))
    wide = timeline(data)
    assert wide.get_figwidth() > short.get_figwidth() == 11.0
    # the axes keep their size in inches
    assert wide.axes[0].get_position().width * wide.get_figwidth() == pytest.approx(0.78 * 11.0)
    assert pixels(to_png(wide)).shape[1] > pixels(to_png(short)).shape[1]
    pair = ("carol", "sip:carol@127.0.0.1", "sip:" + "extension-with-a-long-name" * 3 + "@example.com")
    lamp = lamp_timeline(lamps(data), data.end_time, pairs=[pair])
    assert lamp.get_figwidth() > 11.0
    assert to_png(lamp).startswith(b"\x89PNG")
