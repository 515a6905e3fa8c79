"""pytest plugin (entry point ``pytest11``): scenario files are tests.

A scenario file is collected as one test item when it is

* a ``*.yaml``/``*.yml`` file inside a folder named in the ini option
  ``puasim_scenario_dirs`` (default: ``scenarios``), at any depth.  An entry
  without ``/`` is a folder name matched anywhere in the path; an entry with
  ``/`` is a folder relative to pytest's rootdir (``tests/live/flows``); or
* a file named ``*.scenario.yaml`` or ``*.scenario.yml``, wherever it is.

For example, in ``pyproject.toml``::

    [tool.pytest.ini_options]
    puasim_scenario_dirs = ["scenarios", "conformance"]

A failure shows each expectation that failed, its line in the file, and the
slice of the trace around it.

Seed ranges (opt-in): ``--puasim-seeds 1-5`` (or the ini option
``puasim_seeds = 1-5``) collects each scenario file once per seed,
``name[seed=3]``, with the file's ``seed:`` replaced, so CI checks that its
expectations hold for every seed.  The command-line option wins over the ini
setting.  Without either, each file runs once with its own seed: many
files' expectations (exact counts, a race seen at one seed) are written for
that seed only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

#: collected wherever they are
SUFFIXES = (".scenario.yaml", ".scenario.yml")
INI_DIRS = "puasim_scenario_dirs"
INI_SEEDS = "puasim_seeds"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        INI_DIRS,
        type="linelist",
        default=["scenarios"],
        help="folders whose *.yaml/*.yml files are puasim scenario tests: names matched anywhere in the "
             "path, or paths relative to the rootdir (default: scenarios); *.scenario.yaml files are "
             "collected anywhere",
    )
    parser.addini(
        INI_SEEDS,
        default="",
        help="run each scenario file once per seed of this range (e.g. 1-5 or 1,3,7) instead of its own seed",
    )
    parser.addoption(
        "--puasim-seeds",
        default=None,
        metavar="RANGE",
        help="run each scenario file once per seed of RANGE (e.g. 1-5), overriding its seed: field "
             "(default: each file's own seed; ini option puasim_seeds)",
    )


def _seeds(config: Any) -> tuple[int, ...] | None:
    """The seed range asked for, or None (each file's own seed)."""
    from puasim.sweep.seeds import parse_seeds

    text = config.getoption("--puasim-seeds")
    source = "--puasim-seeds"
    if text is None:
        text = str(config.getini(INI_SEEDS) or "").strip()
        source = f"ini option {INI_SEEDS}"
    if not text:
        return None
    try:
        return parse_seeds(text)
    except ValueError as exc:
        raise pytest.UsageError(f"{source}: {exc}") from None


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_SEEDS] = _seeds(config)


def _is_scenario(path: Path, dirs: list[str], rootdir: Path) -> bool:
    name = path.name
    if name.endswith(SUFFIXES):
        return True
    if path.suffix not in (".yaml", ".yml"):
        return False
    folders = path.parent.parts
    try:
        relative = path.parent.relative_to(rootdir).parts
    except ValueError:
        relative = None
    for entry in dirs:
        entry = entry.strip().strip("/")
        if not entry:
            continue
        if "/" not in entry:
            if entry in folders:
                return True
        elif relative is not None and relative[: len(Path(entry).parts)] == Path(entry).parts:
            return True
    return False


def pytest_collect_file(file_path: Path, parent: Any) -> Any:
    config = parent.config
    if _is_scenario(file_path, config.getini(INI_DIRS), Path(config.rootpath)):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


_SEEDS = pytest.StashKey[tuple[int, ...] | None]()


class ScenarioFailed(Exception):
    pass


class ScenarioFile(pytest.File):
    def collect(self) -> Any:
        name = self.path.name
        for suffix in (*SUFFIXES, ".yaml", ".yml"):
            if name.endswith(suffix):
                name = name[: -len(suffix)]
                break
        seeds = self.config.stash.get(_SEEDS, None)
        if seeds is None:
            yield ScenarioItem.from_parent(self, name=name)
            return
        for seed in seeds:
            yield ScenarioItem.from_parent(self, name=f"{name}[seed={seed}]", seed=seed)


class ScenarioItem(pytest.Item):
    def __init__(self, *args: Any, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: the seed instead of the file's (``--puasim-seeds``), or None
        self.seed = seed

    def runtest(self) -> None:
        import dataclasses

        from puasim.scenario.runner import load_scenario, run_scenario

        scn = load_scenario(self.path)
        if self.seed is not None:
            scn = dataclasses.replace(scn, seed=self.seed)
        result = run_scenario(scn)
        self.user_properties.append(("virtual_time_s", result.virtual_time / 1_000_000))
        self.user_properties.append(("messages", result.messages))
        if not result.passed:
            at = f" with seed {self.seed}" if self.seed is not None else ""
            parts = [f"scenario {result.name} failed{at} ({len(result.failures)} expectation(s)):"]
            for f in result.failures:
                where = f"{self.path}:{f.line}" if f.line else str(self.path)
                parts.append(f"\n- {where}: {f.kind}: {f.message}")
                if f.context:
                    parts.append("  trace around it:\n" + "\n".join("    " + line for line in f.context.splitlines()))
            raise ScenarioFailed("\n".join(parts))

    def repr_failure(self, excinfo: Any, style: Any = None) -> Any:
        from puasim.scenario.loader import ScenarioError

        if isinstance(excinfo.value, ScenarioFailed | ScenarioError):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> Any:
        return self.path, 0, f"scenario: {self.name}"
