"""The report's pictures as PNG files beside its ``report.html`` (``puasim report --png``).

The HTML report draws its timeline, load chart, lead-time histogram,
busy-lamp timeline and ladder pages as inline SVG
(:mod:`~puasim.report.svgtimeline`, :mod:`~puasim.report.svgcharts`,
:mod:`~puasim.report.svglamps`, :mod:`~puasim.report.svgladder`).  Asked
for PNG files too, :func:`~puasim.report.html.write_report` draws the same
pictures with the matplotlib functions (same data, same keys, same lamp
bands, same ladder page split) and writes them here as
``pictures/<name>.png``; each picture in the page gets a small "PNG" link to
its file.
"""

from __future__ import annotations

import html
from pathlib import Path

from matplotlib.figure import Figure

from puasim.report.figures import to_png

#: the folder beside ``report.html`` the PNG files go in
PICTURES_DIR = "pictures"


class PngFiles:
    """Writes the PNG files of one report into ``folder`` and gives the link to each."""

    __slots__ = ("folder", "written")

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.written: list[Path] = []
        folder.mkdir(parents=True, exist_ok=True)
        # files of an earlier report (more ladder pages, lamps since gone) must not linger
        for old in folder.glob("*.png"):
            old.unlink()

    def add(self, name: str, picture: Figure) -> str:
        """Write ``picture`` as ``<name>.png``; the link HTML."""
        path = self.folder / f"{name}.png"
        path.write_bytes(to_png(picture))
        self.written.append(path)
        href = html.escape(f"{self.folder.name}/{path.name}")
        return f"<p class='png'><a href='{href}'>PNG</a></p>"
