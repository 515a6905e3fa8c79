"""pytest plugin (entry point ``pytest11``): scenario files are tests.

Any ``*.yaml`` file under a folder named ``scenarios`` is collected as one
test item.  A failure shows each expectation that failed, its line in the
file, and the slice of the trace around it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


def _is_scenario(path: Path) -> bool:
    return path.suffix in (".yaml", ".yml") and "scenarios" in path.parts


def pytest_collect_file(file_path: Path, parent: Any) -> Any:
    if _is_scenario(file_path):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioFailed(Exception):
    pass


class ScenarioFile(pytest.File):
    def collect(self) -> Any:
        yield ScenarioItem.from_parent(self, name=self.path.stem)


class ScenarioItem(pytest.Item):
    def runtest(self) -> None:
        from puasim.scenario.runner import load_scenario, run_scenario

        scn = load_scenario(self.path)
        result = run_scenario(scn)
        self.user_properties.append(("virtual_time_s", result.virtual_time / 1_000_000))
        self.user_properties.append(("messages", result.messages))
        if not result.passed:
            parts = [f"scenario {result.name} failed ({len(result.failures)} expectation(s)):"]
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
