"""Figure helpers shared by the pictures: creation, colours, PNG/SVG output.

Figures are made with :class:`matplotlib.figure.Figure` and the Agg canvas
directly, never through ``pyplot``: nothing is registered in a global figure
manager, so nothing leaks and nothing needs closing (a figure is freed with
its last reference).  In a notebook, show one with
:func:`show` (or :func:`image`, a PNG ``IPython.display.Image``).
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

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


def new_figure(width: float, height: float, dpi: int = 100) -> Figure:
    """A Figure with an Agg canvas attached (no pyplot)."""
    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def to_png(fig: Figure, dpi: int | None = None) -> bytes:
    """PNG bytes of ``fig``."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi or fig.dpi, bbox_inches="tight")
    return buf.getvalue()


def to_svg(fig: Figure) -> str:
    """SVG text of ``fig`` (for inline embedding)."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    return buf.getvalue()


def png_data_uri(fig: Figure, dpi: int | None = None) -> str:
    """``data:image/png;base64,...`` for an ``<img src=...>``."""
    return "data:image/png;base64," + base64.b64encode(to_png(fig, dpi)).decode("ascii")


def save(fig: Figure, path: str | Path, dpi: int | None = None) -> Path:
    """Write ``fig`` to ``path`` (format from the suffix); return the path."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
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
