"""benchmarks/bench_pcap.py keeps working (a tiny run; the numbers are for humans)."""

from __future__ import annotations

import importlib.util

from .conftest import REPO


def test_bench_pcap_prints_the_ratio(capsys) -> None:
    spec = importlib.util.spec_from_file_location("bench_pcap", REPO / "benchmarks" / "bench_pcap.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["bench_pcap.py", "40", "1"]) == 0
    out = capsys.readouterr().out
    assert "messages/s" in out and "ratio puasim/scapy" in out
