"""The bodies a population publishes are the PIDF documents the bodies layer builds."""

from __future__ import annotations

import json

from puasim.bodies.pidf import Pidf, Tuple, build_pidf
from puasim.scenario import scenario_from_text
from puasim.scenario.feed import PopulationFeed
from puasim.scenario.runner import ScenarioRun


def test_template_bodies_equal_freshly_built_ones():
    doc = {
        "name": "x", "refs": ["x"], "duration": 1, "server": {"address": "[::1]:5080"},
        "population": {"users": 12, "name": "desk.a-b_", "publish": {}},
        "expect": [{"stat": {"metric": "requests", "min": 0}}],
    }
    scn = scenario_from_text(json.dumps(doc))
    feed = PopulationFeed(ScenarioRun(scn), scn.populations[0])
    for user in ("desk.a-b_01", "desk.a-b_12"):
        for state in ("open", "closed", "open"):
            want = build_pidf(Pidf(f"sip:{user}@[::1]:5080", (Tuple(f"t-{user}", state, note=state),)))  # type: ignore[arg-type]
            assert feed._body(user, state) == want
