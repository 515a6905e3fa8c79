"""The report reads streamed trace files lazily, chunk by chunk, and gets the same frames."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import puasim.trace.codec as codec
from puasim.cli import main
from puasim.report.frames import from_trace, load
from puasim.report.metrics import summary
from puasim.scenario.runner import run_scenario
from puasim.trace.levels import RecordFile, TraceFile
from tests.scenario.pin_digests import ROOT

SCENARIO = ROOT / "scenarios" / "publish" / "412_timer_refresh_drops.yaml"


@pytest.fixture
def small_chunks(monkeypatch):
    """Make one chunk 16 lines, so a scenario's trace spans many chunks."""
    monkeypatch.setattr(codec, "CHUNK_LINES", 16)
    seen: list[int] = []
    real = codec.islice

    def counting(it, n):
        chunk = list(real(it, n))
        seen.append(len(chunk))
        return iter(chunk)

    monkeypatch.setattr(codec, "islice", counting)
    return seen


def test_frames_of_a_streamed_file_equal_the_frames_of_the_run(tmp_path, small_chunks):
    path = tmp_path / "run.jsonl"
    streamed = run_scenario(SCENARIO, trace_level="stream", trace_path=path)
    full = run_scenario(SCENARIO)
    assert len(full.trace) > 10 * 16
    data = load(path)
    assert isinstance(data.trace, TraceFile) and isinstance(data.trace.records, RecordFile)
    assert max(small_chunks) == 16 and len(small_chunks) > 10  # read in many chunks, none larger
    want = from_trace(full.trace)
    for name, frame in want.tables().items():
        pd.testing.assert_frame_equal(getattr(data, name), frame, obj=name)
    assert data.end_time == want.end_time and data.meta["scenario"] == full.name
    a, b = summary(data), summary(want)
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    assert data.trace.digest() == streamed.trace.digest() == full.trace.digest()


def test_a_bad_line_in_a_streamed_file_is_named_when_reading(tmp_path):
    path = tmp_path / "run.jsonl"
    run_scenario(SCENARIO, trace_level="stream", trace_path=path)
    lines = path.read_text().splitlines()
    lines[5] = "{not json"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(codec.TraceFormatError, match=r"run.jsonl: line 6: not JSON"):
        load(path)


def test_run_trace_level_stream_writes_the_trace_and_reports_from_it(tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["run", str(SCENARIO), "--trace-level", "stream", "--report", "--out", str(out)])
    assert rc == 0
    row = json.loads((out / "summary.json").read_text())[0]
    trace = TraceFile(out / "traces" / f"{row['scenario']}.jsonl")
    assert row["trace_level"] == "stream" and trace.digest() == row["digest"]
    assert (out / row["scenario"] / "report.html").is_file()


def test_run_trace_level_metrics_puts_the_metrics_in_the_summary(tmp_path, capsys):
    from puasim.report.running import RUNNING_KEYS

    probe_only = tmp_path / "probe_only.yaml"
    text = SCENARIO.read_text()
    head = text.split("expect:")[0].replace("../bodies/", str(SCENARIO.parent.parent / "bodies") + "/")
    probe_only.write_text(head + "expect:\n  - server_state: {at: 1, presentity: sip:nobody@127.0.0.1, equals: 0}\n")
    out = tmp_path / "out"
    assert main(["run", str(probe_only), "--trace-level", "metrics", "--out", str(out)]) == 0
    row = json.loads((out / "summary.json").read_text())[0]
    assert not (out / "traces" / "probe_only.jsonl").exists()
    full = run_scenario(probe_only)
    assert row["digest"] == full.trace.digest()
    want = summary(from_trace(full.trace))
    assert set(row["metrics"]) == set(RUNNING_KEYS)
    assert {k: row["metrics"][k] for k in ("messages", "transactions", "refreshes", "peak_rate")} == {
        k: want[k] for k in ("messages", "transactions", "refreshes", "peak_rate")
    }
    # a trace expectation at the metrics level: refused before the run, file and line named
    rc = main(["run", str(SCENARIO), "--trace-level", "metrics", "--no-write"])
    text = capsys.readouterr().out
    assert rc == 1 and f"{SCENARIO}:" in text and "needs trace level 'full' or 'stream'" in text


def test_run_rejects_an_unknown_trace_level(capsys):
    assert main(["run", str(SCENARIO), "--trace-level", "huge"]) == 2
    err = capsys.readouterr().err
    assert "--trace-level: invalid choice: 'huge'" in err and len(err.strip().splitlines()) == 1


def test_run_stream_with_no_write_judges_from_a_scratch_file(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(SCENARIO), "--trace-level", "stream", "--no-write"]) == 0
    assert list(tmp_path.iterdir()) == []
