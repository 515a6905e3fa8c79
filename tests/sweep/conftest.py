"""A small, fast base scenario for sweep tests (a population of 3 for 30 s)."""

from __future__ import annotations

from pathlib import Path

import pytest

BASE = """\
name: tiny
refs: ["docs/sweeps.md"]
seed: 1
duration: 30
pua:
  params: {update_period: 60}
population:
  users: 3
  arrival: {uniform: [0, 5]}
  publish: {expires: 600, modify: {exponential: 10}}
expect:
  - stat: {metric: publish_requests, min: 3}
"""


@pytest.fixture
def base(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(BASE)
    return path
