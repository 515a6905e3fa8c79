"""The pytest plugin's collection rule: folders from the ini option, and the .scenario.yaml suffix."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SOURCE = REPO / "scenarios" / "publish" / "initial_publish.yaml"


def _scenario(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(SOURCE.read_text().replace("../bodies/", f"{SOURCE.parents[1] / 'bodies'}/"))


def _collect(root: Path, ini: str = "") -> list[str]:
    (root / "pytest.ini").write_text("[pytest]\n" + ini)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
                         cwd=root, capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode in (0, 5), out.stdout + out.stderr  # 5: nothing collected
    return sorted(line.split("::")[0] for line in out.stdout.splitlines() if "::" in line)


def _tree(root: Path) -> None:
    _scenario(root / "scenarios" / "a.yaml")
    _scenario(root / "conformance" / "deep" / "b.yaml")
    _scenario(root / "tests" / "flows" / "c.yml")
    _scenario(root / "elsewhere" / "d.scenario.yaml")
    (root / "elsewhere" / "config.yaml").write_text("not: a scenario\n")


def test_default_is_folders_named_scenarios_and_the_suffix(tmp_path: Path) -> None:
    _tree(tmp_path)
    assert _collect(tmp_path) == ["elsewhere/d.scenario.yaml", "scenarios/a.yaml"]


def test_the_ini_option_names_folders_and_rootdir_paths(tmp_path: Path) -> None:
    _tree(tmp_path)
    ini = "puasim_scenario_dirs =\n    conformance\n    tests/flows\n"
    assert _collect(tmp_path, ini) == [
        "conformance/deep/b.yaml", "elsewhere/d.scenario.yaml", "tests/flows/c.yml",
    ]


def test_a_collected_file_runs_and_passes(tmp_path: Path) -> None:
    _scenario(tmp_path / "x" / "only.scenario.yaml")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider"],
                         cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0 and "1 passed" in out.stdout, out.stdout + out.stderr
    assert "x/only.scenario.yaml::only PASSED" in out.stdout, out.stdout  # the item is named without the suffix
