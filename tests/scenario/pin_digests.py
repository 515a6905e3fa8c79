"""Write the trace digest of every scenario file to ``tests/data/scenario_digests.json``.

Run it from the repository root only when a scenario file is added or a change
of behaviour is intended and understood; an optimisation must never need it:

    python tests/scenario/pin_digests.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PINS = ROOT / "tests" / "data" / "scenario_digests.json"


def scenario_files() -> list[Path]:
    return sorted((ROOT / "scenarios").rglob("*.yaml"))


def current_digests() -> dict[str, str]:
    from puasim.scenario import run_scenario

    return {p.relative_to(ROOT).as_posix(): run_scenario(str(p)).trace.digest() for p in scenario_files()}


if __name__ == "__main__":
    digests = current_digests()
    PINS.write_text(json.dumps(digests, indent=1, sort_keys=True) + "\n")
    print(f"pinned {len(digests)} digests in {PINS.relative_to(ROOT)}", file=sys.stderr)
