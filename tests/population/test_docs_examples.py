"""The population and stat examples of docs/scenarios.md load, and the population one runs."""

from __future__ import annotations

import re
from pathlib import Path

from puasim.scenario import run_scenario, scenario_from_text

DOC = (Path(__file__).resolve().parents[2] / "docs" / "scenarios.md").read_text()
SECTION = DOC[DOC.index("## Populations") :]
YAML_BLOCKS = re.findall(r"```yaml\n(.*?)```", SECTION, re.S)


def test_the_documented_population_block_runs():
    population = YAML_BLOCKS[0]
    expect = next(b for b in YAML_BLOCKS if b.startswith("expect:"))
    assert population.startswith("population:")
    text = f"name: doc\nrefs: [docs]\nduration: 120\n{population}{expect}"
    scn = scenario_from_text(text, "doc.yaml")
    (pop,) = scn.populations
    assert (pop.name, pop.users, pop.publish.via) == ("desk", 40, (("api", 3.0), ("rpc", 1.0)))  # type: ignore[union-attr]
    result = run_scenario(scn)
    assert result.error is None and result.messages > 40


def test_the_documented_phone_population_runs():
    (block,) = [b for b in YAML_BLOCKS if b.startswith("node:")]
    text = (f"name: doc\nrefs: [docs]\nduration: 300\npua:\n  address: 127.0.0.1:5080\n"
            f"  params: {{outbound_proxy: \"sip:127.0.0.1:5060\"}}\n{block}"
            "expect:\n  - count: {match: {method: INVITE}, min: 1}\n")
    scn = scenario_from_text(text, "doc.yaml")
    (pop,) = scn.populations
    assert pop.register is not None and pop.calls is not None
    result = run_scenario(scn)
    assert result.error is None and result.passed


def test_the_documented_python_door_runs(tmp_path, monkeypatch):
    (snippet,) = re.findall(r"```python\n(.*?)```", SECTION, re.S)
    (tmp_path / "my.yaml").write_text("name: my\nrefs: [docs]\nduration: 30\nexpect:\n  - stat: {metric: publish_requests, min: 1}\n")
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(snippet, "docs/scenarios.md", "exec"), scope)
    assert scope["result"].passed and len(scope["scn"].populations) == 1
