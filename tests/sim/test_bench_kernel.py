"""The kernel benchmark stays runnable, and puasim and SimPy agree on its workload."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import pytest

pytest.importorskip("simpy")

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_kernel.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_kernel", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("cancel", [False, True])
def test_puasim_and_simpy_fire_the_same_timers(cancel):
    bench = load_bench()
    best = bench.bench(events=3_000, endpoints=50, rounds=1, seed=3, cancel=cancel, clock=time.perf_counter)
    counts = {fired for fired, _ in best.values()}
    assert len(counts) == 1 and counts.pop() > 2_000


def test_the_script_runs(capsys):
    load_bench().main(["--events", "2000", "--endpoints", "20", "--rounds", "1"])
    out = capsys.readouterr().out
    assert "ratio puasim/simpy-callback" in out and "cancel" in out
