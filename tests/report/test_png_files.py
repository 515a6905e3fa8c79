"""``write_report(png=True)`` / ``puasim report --png``: the pictures as PNG files too."""

from __future__ import annotations

import re
from pathlib import Path

import PIL.Image

from puasim.cli import main
from puasim.report.batch import CACHE_FILE, write_reports
from puasim.report.html import write_report
from tests.report.builders import BODY_OPEN, TraceBuilder, publish
from tests.report.test_html_cli import run_folder
from tests.report.test_lamps import Calls, ringing_then_busy
from tests.report.test_pictures import busy

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_links(text: str) -> list[str]:
    """The PNG files a report page links, in page order."""
    return re.findall(r"<p class='png'><a href='(pictures/[^']+\.png)'>PNG</a></p>", text)


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and len(data) > 1000, path
    with PIL.Image.open(path) as im:
        im.verify()
    with PIL.Image.open(path) as im:
        assert im.format == "PNG" and im.width > 100 and im.height > 100


def test_png_files_are_written_and_linked_under_each_picture(tmp_path):
    path = write_report(busy().trace, tmp_path / "busy", write_data=False, png=True)
    text = path.read_text(encoding="utf-8")
    links = png_links(text)
    assert links == [
        "pictures/timeline.png",
        "pictures/load.png",
        "pictures/lead_times.png",
        "pictures/ladder-1.png",
    ]
    for link in links:
        assert_png(path.parent / link)
    assert sorted(p.name for p in (path.parent / "pictures").iterdir()) == sorted(
        Path(link).name for link in links
    )
    # each link follows its picture
    for svg_label, link in [
        ("timeline", "timeline.png"),
        ("request rate", "load.png"),
        ("refresh lead times", "lead_times.png"),
        ("ladder page 1", "ladder-1.png"),
    ]:
        at = text.index(f"aria-label='{svg_label}'")
        assert text.index(f"pictures/{link}", at) < text.index("</svg>", at) + 60


def test_without_png_no_files_and_no_links(tmp_path):
    path = write_report(busy().trace, tmp_path / "busy", write_data=False)
    assert png_links(path.read_text(encoding="utf-8")) == []
    assert not (tmp_path / "busy" / "pictures").exists()


def test_ladder_pngs_follow_the_html_page_split(tmp_path):
    b = TraceBuilder()
    for i in range(50):
        b.publish_ok(
            10.0 * i, publish(branch=f"z9hG4bK{i}", body=BODY_OPEN, call_id=f"c{i}"), f"e{i}", 3600
        )
    out = tmp_path / "long"
    text = write_report(b.trace, out, ladder_page_limit=3, write_data=False, png=True).read_text(
        encoding="utf-8"
    )
    ladders = [link for link in png_links(text) if "ladder" in link]
    assert ladders == ["pictures/ladder-1.png", "pictures/ladder-2.png", "pictures/ladder-3.png"]
    for link in ladders:
        assert_png(out / link)
    # written again with fewer pages: the extra page's file goes
    write_report(b.trace, out, ladder_page_limit=1, write_data=False, png=True)
    assert sorted(p.name for p in (out / "pictures").glob("ladder-*.png")) == ["ladder-1.png"]


def test_lamp_picture_only_where_there_are_watchers(tmp_path):
    path = write_report(
        ringing_then_busy(Calls()).trace, tmp_path / "blf", write_data=False, png=True
    )
    assert "pictures/lamps.png" in png_links(path.read_text(encoding="utf-8"))
    assert_png(tmp_path / "blf" / "pictures" / "lamps.png")
    plain = write_report(busy().trace, tmp_path / "plain", write_data=False, png=True)
    assert "pictures/lamps.png" not in png_links(plain.read_text(encoding="utf-8"))
    assert not (tmp_path / "plain" / "pictures" / "lamps.png").exists()


def test_cli_report_png_in_worker_processes(tmp_path):
    run = run_folder(tmp_path)
    out = tmp_path / "out"
    assert (
        main(
            ["report", str(run / "traces"), "--out", str(out), "--no-data", "--png", "--jobs", "2"]
        )
        == 0
    )
    for name in ("alpha", "beta"):
        report = out / name / "report.html"
        links = png_links(report.read_text(encoding="utf-8"))
        assert "pictures/timeline.png" in links and "pictures/ladder-1.png" in links
        for link in links:
            assert_png(report.parent / link)


def test_the_cache_does_not_reuse_a_report_without_pngs_when_pngs_are_asked(tmp_path):
    run = run_folder(tmp_path)
    out = tmp_path / "reports"
    write_reports(run / "traces", out, write_data=False, jobs=1)
    alpha = out / "alpha" / "report.html"
    assert not (out / "alpha" / "pictures").exists()
    seen: list[str] = []
    write_reports(run / "traces", out, write_data=False, jobs=1, png=True, progress=seen.append)
    assert not any("(unchanged)" in line for line in seen)
    assert png_links(alpha.read_text(encoding="utf-8"))
    assert_png(out / "alpha" / "pictures" / "timeline.png")
    # asked again with --png: kept
    seen.clear()
    write_reports(run / "traces", out, write_data=False, jobs=1, png=True, progress=seen.append)
    assert sum("(unchanged)" in line for line in seen) == 2
    # the PNG files removed: written again
    for p in (out / "alpha" / "pictures").glob("*.png"):
        p.unlink()
    seen.clear()
    write_reports(run / "traces", out, write_data=False, jobs=1, png=True, progress=seen.append)
    assert [("(unchanged)" in line) for line in seen[:2]] == [False, True]
    assert_png(out / "alpha" / "pictures" / "timeline.png")
    # and without --png a report with PNG links is not reused either
    seen.clear()
    write_reports(run / "traces", out, write_data=False, jobs=1, progress=seen.append)
    assert not any("(unchanged)" in line for line in seen)
    assert png_links(alpha.read_text(encoding="utf-8")) == []
    assert (out / CACHE_FILE).is_file()


def test_run_report_png_writes_the_pictures_of_each_scenario(tmp_path, capsys):
    from tests.report.test_streamed import SCENARIO

    out = tmp_path / "out"
    assert main(["run", str(SCENARIO), "--report", "--png", "--out", str(out), "--jobs", "1"]) == 0
    report = next(out.glob("*/report.html"))
    links = png_links(report.read_text(encoding="utf-8"))
    assert {"pictures/timeline.png", "pictures/load.png", "pictures/ladder-1.png"} <= set(links)
    for link in links:
        assert_png(report.parent / link)


def test_run_png_without_report_is_a_usage_error(tmp_path, capsys):
    from tests.report.test_streamed import SCENARIO

    assert main(["run", str(SCENARIO), "--png", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "--png needs --report" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()
