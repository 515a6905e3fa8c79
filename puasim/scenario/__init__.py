"""Scenario files: a declarative YAML format, its runner and its pytest plugin."""

from puasim.scenario.loader import ScenarioError
from puasim.scenario.runner import (
    ScenarioResult,
    discover,
    load_scenario,
    run_scenario,
    scenario_from_text,
)

__all__ = ["ScenarioError", "ScenarioResult", "discover", "load_scenario", "run_scenario", "scenario_from_text"]
