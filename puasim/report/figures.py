"""Figure helpers shared by the pictures: creation, colours, PNG/SVG output.

Figures are made with :class:`matplotlib.figure.Figure` and the Agg canvas
directly, never through ``pyplot``: nothing is registered in a global figure
manager, so nothing leaks and nothing needs closing (a figure is freed with
its last reference).  In a notebook, show one with
:func:`show` (or :func:`image`, a PNG ``IPython.display.Image``).

Every output function draws under :data:`RC` (:func:`drawing`): text is
rendered without font hinting, which is what most of a picture's time goes
to (docs/metrics.md, "How the report is made fast").
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import PIL.Image
import PIL.PngImagePlugin
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties

#: colours used consistently across pictures
COLORS = {
    "request": "#1f4e9c",
    "response": "#2b7a3d",
    "error": "#b3261e",
    "retransmission": "#7a7a7a",
    "dropped": "#d62728",
    "pua": "#3b6fb6",
    "server": "#4c9a5b",
    "gap_none": "#e4572e",
    "gap_stale": "#f3a712",
    "orphan": "#9e9e9e",
    "note": "#555555",
    "incident": "#8e24aa",
}


#: matplotlib settings the pictures are drawn with.  FreeType's native hinting runs the
#: font's TrueType instructions for every glyph, each time it is measured and each time it
#: is drawn (matplotlib keeps no glyph cache): without it text draws about a third faster,
#: and at 100 dpi the letters read the same (a hair softer).
RC: dict[Any, Any] = {"text.hinting": "no_hinting"}


@contextmanager
def drawing() -> Iterator[None]:
    """Apply :data:`RC` while a picture is measured or drawn (restored afterwards)."""
    with matplotlib.rc_context(RC):
        yield


def new_figure(width: float, height: float, dpi: int = 100) -> Figure:
    """A Figure with an Agg canvas attached (no pyplot)."""
    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def text_inches(fig: Figure, texts: list[str], size: float, weight: str = "normal") -> float:
    """Width in inches of the widest of ``texts`` in the default font, as ``fig`` draws it (0 for none).

    Pictures whose labels sit left of the axes use it to make room for long
    labels, so nothing runs past the canvas edge and :func:`to_png` crops
    the single draw instead of falling back to ``savefig``.
    """
    if not texts:
        return 0.0
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    font = FontProperties(size=size, weight=weight)
    with drawing():
        widest = max(
            renderer.get_text_width_height_descent(t, font, ismath=False)[0] for t in texts
        )
    return float(widest) / fig.dpi


#: white space kept around the drawn content, inches (matplotlib's ``savefig.pad_inches``)
PAD_INCHES = 0.1
#: zlib level of :func:`to_png` (matplotlib uses 6): twice as fast, files within a few per cent
PNG_COMPRESSION = 3


def to_png(fig: Figure, dpi: int | None = None) -> bytes:
    """PNG bytes of ``fig``, cropped to its content plus :data:`PAD_INCHES` on each side.

    The picture ``savefig(bbox_inches="tight")`` gives, for a third of the
    work: that call lays the whole figure out once to measure it (every tick
    and text) and then draws it at the cropped size.  Here the figure is
    drawn once on its own canvas and the box to keep is read off the pixels:
    everything that is not background, joined with the boxes of the axes and
    legends (which the tight box holds too, frame drawn or not).  The two boxes differ by the
    blank margins inside text boxes, a pixel or two.  When the ink reaches
    the canvas edge (the content may run past the figure, and a crop cannot
    show what was not drawn) or another resolution is asked for,
    ``savefig`` does it.
    """
    if dpi is not None and dpi != fig.dpi:
        return _savefig_png(fig, dpi)
    canvas = fig.canvas
    if not isinstance(canvas, FigureCanvasAgg):
        canvas = FigureCanvasAgg(fig)
    with drawing():
        canvas.draw()
    pixels = np.asarray(canvas.buffer_rgba())
    rows, cols = pixels.shape[:2]
    background = np.round(np.array(to_rgba(fig.get_facecolor())) * 255).astype(np.uint8)
    if background[3] != 255:  # a see-through figure: keep savefig's handling of alpha
        return _savefig_png(fig, dpi)
    # one 32-bit word per pixel: a single comparison finds the ink
    ink = pixels.view(np.uint32)[:, :, 0] != background.view(np.uint32)[0]
    ink_rows, ink_cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if not len(ink_rows):
        return _savefig_png(fig, dpi)
    if ink_rows[0] == 0 or ink_cols[0] == 0 or ink_rows[-1] == rows - 1 or ink_cols[-1] == cols - 1:
        return _savefig_png(fig, dpi)
    # display coordinates: x from the left, y from the bottom (pixel rows count from the top)
    x0, x1 = float(ink_cols[0]), float(ink_cols[-1] + 1)
    y0, y1 = float(rows - 1 - ink_rows[-1]), float(rows - ink_rows[0])
    renderer = canvas.get_renderer()
    legends = [ax.get_legend() for ax in fig.axes] + list(fig.legends)
    boxes = [ax.get_window_extent() for ax in fig.axes]
    with drawing():
        boxes += [lg.get_window_extent(renderer) for lg in legends if lg is not None]
    for box in boxes:
        x0, x1 = min(x0, box.x0), max(x1, box.x1)
        y0, y1 = min(y0, box.y0), max(y1, box.y1)
    pad = PAD_INCHES * fig.dpi
    # the canvas savefig would give, at a whole-pixel offset; padding past the edge is background
    w, h = round(x1 - x0 + 2 * pad), round(y1 - y0 + 2 * pad)
    left, top = round(x0 - pad), rows - round(y1 + pad)
    # Agg composites onto the opaque background: every pixel is opaque, RGB says it all
    out = np.empty((h, w, 3), dtype=np.uint8)
    out[:] = background[:3]
    sx0, sy0 = max(left, 0), max(top, 0)
    sx1, sy1 = min(left + w, cols), min(top + h, rows)
    out[sy0 - top : sy1 - top, sx0 - left : sx1 - left] = pixels[sy0:sy1, sx0:sx1, :3]
    buf = io.BytesIO()
    dots = fig.dpi
    PIL.Image.fromarray(out, "RGB").save(
        buf, format="png", dpi=(dots, dots), pnginfo=_png_info(), compress_level=PNG_COMPRESSION
    )
    return buf.getvalue()


def _savefig_png(fig: Figure, dpi: int | None) -> bytes:
    buf = io.BytesIO()
    with drawing():
        fig.savefig(buf, format="png", dpi=dpi or fig.dpi, bbox_inches="tight")
    return buf.getvalue()


def _png_info() -> PIL.PngImagePlugin.PngInfo:
    info = PIL.PngImagePlugin.PngInfo()
    info.add_text("Software", f"Matplotlib version{matplotlib.__version__}, https://matplotlib.org/")
    return info


def to_svg(fig: Figure) -> str:
    """SVG text of ``fig`` (for inline embedding)."""
    buf = io.StringIO()
    with drawing():
        fig.savefig(buf, format="svg", bbox_inches="tight")
    return buf.getvalue()


def png_data_uri(fig: Figure, dpi: int | None = None) -> str:
    """``data:image/png;base64,...`` for an ``<img src=...>``."""
    return "data:image/png;base64," + base64.b64encode(to_png(fig, dpi)).decode("ascii")


def save(fig: Figure, path: str | Path, dpi: int | None = None) -> Path:
    """Write ``fig`` to ``path`` (format from the suffix); return the path."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    if p.suffix.lower() == ".png":
        p.write_bytes(to_png(fig, dpi))
    else:
        with drawing():
            fig.savefig(p, dpi=dpi or fig.dpi, bbox_inches="tight")
    return p


def image(fig: Figure, dpi: int | None = None) -> Any:
    """An ``IPython.display.Image`` of ``fig`` (notebooks)."""
    from IPython.display import Image

    return Image(data=to_png(fig, dpi), format="png")


def show(fig: Figure, dpi: int | None = None) -> None:
    """Display ``fig`` as a PNG in a notebook (figures made without pyplot are not shown by default)."""
    from IPython.display import display

    display(image(fig, dpi))
