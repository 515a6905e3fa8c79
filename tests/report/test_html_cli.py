"""The HTML report, the batch writer and ``puasim report``."""

from __future__ import annotations

import json
import re
from pathlib import Path

from puasim.cli import main
from puasim.report.batch import read_verdicts, write_reports
from puasim.report.html import REPORT_FILE, write_report
from puasim.trace.codec import write_jsonl
from tests.report.builders import BODY_OPEN, TraceBuilder, publish
from tests.report.test_pictures import busy

#: a chart as an embedded PNG, or a picture as inline SVG that draws lines (life lines, axes)
PICTURE = re.compile(
    r"<img alt='([^']*)' src='data:image/png;base64,[A-Za-z0-9+/=]{500,}'>"
    r"|<svg [^>]*aria-label='([^']*)'[^>]*>(?=(?:(?!</svg>).)*<line )"
)


def pictures(text: str) -> list[str]:
    """The names (alt text or aria-label) of the pictures of one report page, in order."""
    return [png or svg for png, svg in PICTURE.findall(text)]


def test_write_report_is_self_contained_and_embeds_images(tmp_path):
    path = write_report(busy().trace, tmp_path / "busy", title="busy run")
    assert path == tmp_path / "busy" / REPORT_FILE and path.is_file()
    text = path.read_text(encoding="utf-8")
    alts = pictures(text)
    assert {"timeline", "request rate", "refresh lead times", "ladder page 1"} <= set(alts)
    assert "<title>busy run – puasim report</title>" in text
    # the SVG namespace is a name, not a resource: nothing else may point outside the file
    fetched = text.replace("xmlns='http://www.w3.org/2000/svg'", "")
    assert "http://" not in fetched and "https://" not in fetched and "<script" not in text
    assert "Presence gaps" in text and "412 rounds" in text
    data = tmp_path / "busy" / "data"
    for name in ("messages", "transactions", "records", "server_state", "coverage"):
        assert (data / f"{name}.csv").is_file()
        assert (data / f"{name}.parquet").is_file()
    assert "data/messages.csv" in text


def test_write_report_with_a_verdict_and_without_data(tmp_path):
    verdict = {
        "scenario": "x",
        "result": "fail",
        "failures": ["count: expected 3, got 2"],
        "refs": ["§5.2"],
    }
    path = write_report(busy().trace, tmp_path, verdict=verdict, write_data=False)
    text = path.read_text(encoding="utf-8")
    assert "<span class='fail'>FAIL</span>" in text and "count: expected 3, got 2" in text
    assert not (tmp_path / "data").exists()


def test_long_ladders_are_cut_to_the_page_limit(tmp_path):
    b = TraceBuilder()
    for i in range(50):
        b.publish_ok(
            10.0 * i, publish(branch=f"z9hG4bK{i}", body=BODY_OPEN, call_id=f"c{i}"), f"e{i}", 3600
        )
    text = write_report(b.trace, tmp_path, ladder_page_limit=2, write_data=False).read_text(
        encoding="utf-8"
    )
    assert sum(1 for a in pictures(text) if a.startswith("ladder page")) == 2
    assert "first 2 of 4 pages (200 rows)" in text


def run_folder(tmp_path):
    out = tmp_path / "run"
    (out / "traces").mkdir(parents=True)
    a, c = busy().trace, busy().trace
    a.meta["scenario"], c.meta["scenario"] = "alpha", "beta"
    write_jsonl(a, out / "traces" / "alpha.jsonl")
    write_jsonl(c, out / "traces" / "beta.jsonl")
    rows = [
        {"scenario": "alpha", "result": "pass", "failures": []},
        {"scenario": "beta", "result": "fail", "failures": ["sequence: no match"]},
    ]
    (out / "summary.json").write_text(json.dumps(rows))
    return out


def test_batch_reads_verdicts_and_writes_an_index(tmp_path):
    run = run_folder(tmp_path)
    assert set(read_verdicts(run / "traces")) == {"alpha", "beta"}
    entries = write_reports(run / "traces", tmp_path / "reports", write_data=False)
    assert [e["name"] for e in entries] == ["alpha", "beta"]
    assert [e["result"] for e in entries] == ["pass", "fail"]
    index = (tmp_path / "reports" / "index.html").read_text(encoding="utf-8")
    assert "href='alpha/report.html'" in index and "href='beta/report.html'" in index
    beta = (tmp_path / "reports" / "beta" / "report.html").read_text(encoding="utf-8")
    assert "sequence: no match" in beta


def test_cli_report_on_a_trace_file(tmp_path, capsys):
    trace = tmp_path / "one.jsonl"
    write_jsonl(busy().trace, trace)
    rc = main(["report", str(trace), "--out", str(tmp_path / "reports")])
    assert rc == 0
    report = tmp_path / "reports" / "handmade" / "report.html"
    assert report.is_file() and len(pictures(report.read_text(encoding="utf-8"))) >= 4
    assert (tmp_path / "reports" / "handmade" / "data" / "messages.csv").is_file()
    assert str(report) in capsys.readouterr().out


def test_cli_report_on_a_run_folder(tmp_path):
    run = run_folder(tmp_path)
    assert (
        main(["report", str(run), "--out", str(tmp_path / "out"), "--no-data", "--pages", "1"]) == 0
    )
    assert (tmp_path / "out" / "index.html").is_file()
    assert not (tmp_path / "out" / "alpha" / "data").exists()


def test_cli_report_errors(tmp_path, capsys):
    assert main(["report", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "no trace files" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n")
    assert main(["report", str(bad), "--out", str(tmp_path / "o")]) == 1
    assert "line 1" in capsys.readouterr().out


def test_unchanged_reports_are_kept_and_changed_ones_rewritten(tmp_path):
    run = run_folder(tmp_path)
    out = tmp_path / "reports"
    first = write_reports(run / "traces", out, write_data=False, jobs=1)
    alpha, beta = out / "alpha" / "report.html", out / "beta" / "report.html"
    stamp = alpha.stat().st_mtime_ns, beta.stat().st_mtime_ns
    seen: list[str] = []
    again = write_reports(run / "traces", out, write_data=False, jobs=1, progress=seen.append)
    assert again == first and (alpha.stat().st_mtime_ns, beta.stat().st_mtime_ns) == stamp
    assert sum("(unchanged)" in line for line in seen) == 2
    # a changed trace is drawn again, the other is kept
    changed = busy()
    changed.publish_ok(150.0, publish(branch="z9hG4bKnew", body=BODY_OPEN, call_id="cn"), "en", 60)
    changed.trace.meta["scenario"] = "beta"
    write_jsonl(changed.trace, run / "traces" / "beta.jsonl")
    third = write_reports(run / "traces", out, write_data=False, jobs=1)
    assert alpha.stat().st_mtime_ns == stamp[0] and beta.stat().st_mtime_ns != stamp[1]
    assert third[1]["messages"] > first[1]["messages"]
    # other options, or no cache: drawn again
    write_reports(run / "traces", out, write_data=False, jobs=1, ladder_page_limit=1)
    assert alpha.stat().st_mtime_ns != stamp[0]


def test_reports_in_worker_processes_equal_those_in_one(tmp_path):
    run = run_folder(tmp_path)
    one = write_reports(run / "traces", tmp_path / "one", write_data=False, jobs=1, cache=False)
    two = write_reports(run / "traces", tmp_path / "two", write_data=False, jobs=2, cache=False)
    strip = [{k: v for k, v in e.items() if k != "report"} for e in one]
    assert strip == [{k: v for k, v in e.items() if k != "report"} for e in two]
    a = (tmp_path / "one" / "alpha" / "report.html").read_text(encoding="utf-8")
    b = (tmp_path / "two" / "alpha" / "report.html").read_text(encoding="utf-8")
    assert a == b


def test_cli_report_jobs_must_be_a_positive_number(tmp_path, capsys):
    run = run_folder(tmp_path)
    for bad in ("0", "-1", "two"):
        try:
            main(["report", str(run), "--jobs", bad])
        except SystemExit as exc:
            assert exc.code == 2
        assert "--jobs" in capsys.readouterr().err


def test_workers_take_the_largest_traces_first(tmp_path):
    from puasim.report.batch import largest_first

    files = []
    for name, size in [("a", 10), ("b", 300), ("c", 10), ("d", 50)]:
        (tmp_path / f"{name}.jsonl").write_text("x" * size)
        files.append(tmp_path / f"{name}.jsonl")
    assert [f.stem for f in largest_first(files)] == ["b", "d", "a", "c"]


def test_small_traces_are_decoded_once_large_ones_read_lazily(tmp_path, monkeypatch):
    import puasim.report.batch as batch
    import puasim.trace.levels as levels

    run = run_folder(tmp_path)
    walks: list[str] = []
    real = levels.iter_jsonl

    def counting(path, *args, **kwargs):
        walks.append(str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(levels, "iter_jsonl", counting)
    small = write_reports(run / "traces", tmp_path / "small", write_data=False, jobs=1, cache=False)
    assert walks == []  # read into memory once, never walked from the file
    monkeypatch.setattr(batch, "IN_MEMORY_BYTES", 0)
    large = write_reports(run / "traces", tmp_path / "large", write_data=False, jobs=1, cache=False)
    assert len(walks) > 2 * len(large)  # every pass reads the file again
    for a, b in zip(small, large, strict=True):
        assert {k: v for k, v in a.items() if k != "report"} == {
            k: v for k, v in b.items() if k != "report"
        }
        assert Path(a["report"]).read_text() == Path(b["report"]).read_text()
