"""Reading and validating the scenario files, against PyYAML's own loader.

Usage::

    python benchmarks/bench_scenario_load.py [--rounds 7]

The baseline is ``yaml.load`` with the pure-Python ``SafeLoader`` on the
same texts (values only: no line numbers, no validation), measured in the
same run; puasim's loader (one pass, line numbers included, libyaml's parser
where PyYAML has it) and the full validation are printed as ratios to it.
Best of ``--rounds`` rounds, process CPU time.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import yaml

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from puasim.scenario.loader import LOADER, load_text  # noqa: E402
from puasim.scenario.runner import discover  # noqa: E402
from puasim.scenario.spec import build  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def best(fn: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.process_time()
        fn()
        times.append(time.process_time() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    files = discover([ROOT / "scenarios"])
    texts = [(str(f), f.read_text(encoding="utf-8")) for f in files]

    base = best(lambda: [yaml.load(t, Loader=yaml.SafeLoader) for _, t in texts], args.rounds)
    load = best(lambda: [load_text(t, f) for f, t in texts], args.rounds)
    full = best(lambda: [build(load_text(t, f)) for f, t in texts], args.rounds)
    print(f"{len(texts)} scenario files, parser {LOADER.__name__}")
    print(f"  yaml.load (SafeLoader, baseline)  {base * 1000:8.1f} ms   1.00")
    print(f"  puasim load_text (values + lines) {load * 1000:8.1f} ms   {load / base:.2f}")
    print(f"  load_text + validation            {full * 1000:8.1f} ms   {full / base:.2f}")


if __name__ == "__main__":
    main()
