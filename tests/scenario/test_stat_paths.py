"""``stat:`` values computed in one pass without pandas equal those read from the report frames.

Every ``stat`` expectation of every scenario file is computed both ways,
and so is a battery of every metric, filter and aggregate on the same
runs (docs/metrics.md defines them); the values must be the same floats.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from puasim.report.causes import CAUSES
from puasim.scenario.expect import RunContext
from puasim.scenario.runner import SECOND, ScenarioRun, discover, load_scenario
from puasim.scenario.stats import METHOD_COUNTS, SERIES, SUMMARY, stat_value

REPO = Path(__file__).resolve().parents[2]
FILES = [f for f in discover([REPO / "scenarios"]) if "stat:" in f.read_text()]
NODES = ("pua", "server")


def _context(path: Path) -> tuple[RunContext, list[dict], float]:
    scn = load_scenario(path)
    run = ScenarioRun(scn)
    run.schedule()
    run.sim.run(until=scn.duration)
    run.sim.trace.close()
    names = {n.address: n.name for n in run.sim.nodes.values()}
    ctx = RunContext(run.sim.trace, names, scn.epoch, duration_s=scn.duration / SECOND)
    specs = [spec for kind, spec, *_ in scn.expectations if kind == "stat"]
    return ctx, specs, scn.duration / SECOND


def _battery() -> list[dict]:
    specs: list[dict] = [{"metric": m} for m in SUMMARY]
    specs += [{"metric": m, "per_second": True} for m in METHOD_COUNTS]
    for m in METHOD_COUNTS:
        specs += [{"metric": m}, *({"metric": m, "from": n} for n in NODES),
                  *({"metric": m, "status": s} for s in (200, 202, 412, 481, 489))]
    filters: dict[str, list[dict]] = {
        "latency_ms": [{}, {"method": "PUBLISH"}, {"method": "SUBSCRIBE"}, {"method": "NOTIFY"}, {"from": "pua"},
                       {"from": "server", "method": "NOTIFY"}],
        "lead_s": [{}, {"method": "PUBLISH"}, {"method": "SUBSCRIBE"}],
        "gap_s": [{}, {"state": "none"}, {"state": "stale"}],
        "recovery_s": [{}],
        "rate": [{}, {"method": "PUBLISH"}, {"method": "NOTIFY"}, {"method": "INFO"}],
        "lamp_wrong_s": [{}, *({"cause": c} for c in CAUSES), {"watcher": "carol"}, {"watcher": "pua"}],
        "lamp_lag_s": [{}, {"watcher": "carol"}, {"watcher": "bob"}],
    }
    for metric, variants in filters.items():
        assert metric in SERIES
        for extra in variants:
            specs += [{"metric": metric, **extra, "agg": a} for a in ("mean", "median", "min", "max", "count")]
            specs += [{"metric": metric, **extra, "percentile": p} for p in (0, 50, 90, 99, 100)]
    return specs


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def test_there_are_stat_scenarios() -> None:
    assert len(FILES) >= 5


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_stat_values_equal_the_frames(path: Path) -> None:
    ctx, specs, duration = _context(path)
    assert specs
    for spec in specs + _battery():
        online, what = stat_value(spec, ctx, duration)
        frames, what_frames = stat_value(spec, ctx, duration, frames=True)
        assert _same(online, frames), (spec, online, frames)
        assert what == what_frames
    assert "running" in ctx.cache  # the online path really ran
    if any(s["metric"].startswith("lamp_") for s in specs):
        assert ctx.cache["lamps"].wrong or ctx.cache["lamps"].lag


def test_stat_values_need_no_pandas() -> None:
    """A population with stat expectations (lamp series included) is judged without importing pandas."""
    import subprocess
    import sys

    code = (
        "import sys; from puasim.scenario import run_scenario; "
        "r = run_scenario(sys.argv[1]); assert r.passed, r.failures; "
        "print('pandas' in sys.modules)"
    )
    path = REPO / "scenarios" / "population" / "blf_phones_watch_calls.yaml"
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=300,
                         env={**__import__("os").environ, "PYTHONPATH": str(REPO)}, check=True)
    assert out.stdout.strip() == "False"
