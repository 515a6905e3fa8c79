"""The plugin's opt-in seed range: --puasim-seeds and the ini option puasim_seeds."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

#: publish_requests is 12 with seeds 1 and 4, 26, 17 and 22 with seeds 2, 3 and 5
SEEDY = """\
name: seedy
refs: ["docs/scenarios.md Scenario files as pytest tests"]
seed: 1
duration: 60
population:
  users: 3
  arrival: {uniform: [0, 10]}
  publish: {expires: 600, modify: {exponential: 10}}
expect:
  - stat: {metric: publish_requests, equals: 12}
"""


def _pytest(root: Path, *args: str, ini: str = "") -> subprocess.CompletedProcess:
    (root / "pytest.ini").write_text("[pytest]\n" + ini)
    (root / "scenarios").mkdir(exist_ok=True)
    (root / "scenarios" / "seedy.yaml").write_text(SEEDY)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", *args],
                          cwd=root, capture_output=True, text=True, env=env, timeout=300)


def test_without_the_option_each_file_runs_once_with_its_own_seed(tmp_path: Path) -> None:
    out = _pytest(tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "scenarios/seedy.yaml::seedy PASSED" in out.stdout


def test_the_option_runs_every_seed_and_names_the_failing_ones(tmp_path: Path) -> None:
    out = _pytest(tmp_path, "--puasim-seeds", "1-5")
    assert out.returncode == 1, out.stdout + out.stderr
    for seed, verdict in ((1, "PASSED"), (2, "FAILED"), (3, "FAILED"), (4, "PASSED"), (5, "FAILED")):
        assert f"seedy.yaml::seedy[seed={seed}] {verdict}" in out.stdout, out.stdout
    assert "failed with seed 2" in out.stdout and "publish_requests = 26" in out.stdout


def test_the_ini_option_and_the_command_line_winning_over_it(tmp_path: Path) -> None:
    out = _pytest(tmp_path, ini="puasim_seeds = 1,4\n")
    assert out.returncode == 0 and "2 passed" in out.stdout, out.stdout + out.stderr
    out = _pytest(tmp_path, "--puasim-seeds", "2", ini="puasim_seeds = 1,4\n")
    assert out.returncode == 1 and "seedy[seed=2] FAILED" in out.stdout, out.stdout + out.stderr


def test_a_bad_range_is_a_usage_error(tmp_path: Path) -> None:
    out = _pytest(tmp_path, "--puasim-seeds", "5-1")
    assert out.returncode == 4, out.stdout + out.stderr
    assert "--puasim-seeds: seed range '5-1' runs backwards" in out.stderr
