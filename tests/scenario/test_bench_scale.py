"""The scale benchmark stays runnable: its workload goes through the scenario runner."""

from __future__ import annotations

import contextlib
import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_scale.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_scale", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_workload_publishes_refreshes_and_subscribes():
    bench = load_bench()
    row = bench.child(20, None, 7200)
    assert row["error"] is None
    # 20 initial PUBLISHes and 2 SUBSCRIBEs, then hourly refreshes of both, and the server's NOTIFYs
    assert 20 * 2 + 2 * 2 < row["requests"] < 20 * 4 + 2 * 10
    assert row["cpu"] > 0 and row["rss_kib"] > 0


def test_the_parent_runs_a_child_and_prints_its_rate(capsys):
    bench = load_bench()
    bench.main(["--sizes", "10", "--duration", "600", "--no-baseline"])
    out = capsys.readouterr().out
    assert "N=10 " in out and "req/CPU-s" in out and "ratio" not in out


def test_trace_levels_are_passed_to_the_run_and_leave_no_file(tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    bench = load_bench()
    rows = {level: bench.child(10, level, 3600) for level in ("full", "stream", "metrics")}
    assert {row["requests"] for row in rows.values()} == {rows["full"]["requests"]}
    assert all(row["error"] is None for row in rows.values())
    assert list(tmp_path.iterdir()) == []


def test_the_digest_is_taken_in_the_measured_run_when_asked(monkeypatch):
    from puasim.trace.levels import MetricsTrace
    from puasim.trace.trace import Trace

    bench = load_bench()
    taken: list[str] = []
    for cls in (Trace, MetricsTrace):
        real = cls.digest
        monkeypatch.setattr(cls, "digest", lambda self, real=real: taken.append(self.level) or real(self))
    bench.child(10, "full", 600)
    assert taken == []
    for level in ("full", "metrics"):
        assert bench.child(10, level, 600, digest=True)["error"] is None
    assert taken == ["full", "metrics"]


def test_compile_tree_writes_the_bytecode_even_when_the_environment_forbids_it(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    (tmp_path / "puasim").mkdir()
    (tmp_path / "puasim" / "mod.py").write_text("X = 1\n")
    load_bench().compile_tree(tmp_path)
    assert [p.name.split(".")[0] for p in (tmp_path / "puasim" / "__pycache__").iterdir()] == ["mod"]


def test_both_trees_are_compiled_before_any_run_is_measured(monkeypatch, capsys):
    bench = load_bench()
    events: list[tuple[str, str]] = []

    @contextlib.contextmanager
    def fake_tree(rev):
        yield Path("/baseline")

    def fake_measure(tree, n, level, duration, digest=False):
        events.append(("measure", str(tree)))
        return {"n": n, "requests": 10, "cpu": 1.0, "wall": 1.0, "rss_kib": 1024, "error": None}

    monkeypatch.setattr(bench, "baseline_tree", fake_tree)
    monkeypatch.setattr(bench, "compile_tree", lambda tree: events.append(("compile", str(tree))))
    monkeypatch.setattr(bench, "measure", fake_measure)
    bench.main(["--sizes", "10", "--rounds", "2"])
    assert events[:2] == [("compile", str(bench.REPO)), ("compile", "/baseline")]
    assert {kind for kind, _ in events[2:]} == {"measure"} and len(events) == 6
    assert "ratio current/baseline: 1.00x" in capsys.readouterr().out
