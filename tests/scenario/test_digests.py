"""Every scenario file gives the trace digest pinned in ``tests/data/scenario_digests.json``.

Speed work must not change behaviour: a digest that moves means the trace
moved.  New scenario files are pinned with ``python tests/scenario/pin_digests.py``.
"""

from __future__ import annotations

import json

import pytest

from puasim.scenario import run_scenario
from tests.scenario.pin_digests import PINS, ROOT, scenario_files

PINNED: dict[str, str] = json.loads(PINS.read_text())
FILES = {p.relative_to(ROOT).as_posix(): p for p in scenario_files()}


def test_every_scenario_file_is_pinned_and_every_pin_has_a_file():
    assert sorted(FILES) == sorted(PINNED), "run tests/scenario/pin_digests.py after adding or removing a scenario"


@pytest.mark.parametrize("name", sorted(PINNED))
def test_trace_digest_is_unchanged(name: str):
    assert name in FILES, f"{name} is pinned but no longer exists"
    assert run_scenario(str(FILES[name])).trace.digest() == PINNED[name]
