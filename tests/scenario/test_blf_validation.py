"""BLF watchers and lamp stats: bad fields fail before the run with file, line and field."""

from __future__ import annotations

import pytest

from puasim.scenario import ScenarioError, run_scenario, scenario_from_text

GOOD = """\
name: t
refs: ["RFC 4235 §3.7"]
duration: 10
pua:
  address: 127.0.0.1:5080
  params: {outbound_proxy: "sip:127.0.0.1:5060"}
node:
  modules:
    registrar: {min_expires: 0}
    dialog: {}
    pua_dialoginfo: {}
script:
  invite: [dlg_manage()]
phones:
  - {name: alice, aor: "sip:alice@127.0.0.1", address: 127.0.0.1:5090, refresh: none}
  - {name: bob, aor: "sip:bob@127.0.0.1", address: 127.0.0.1:5092, refresh: none,
     calls: {answer: ring, answer_after: 1}}
  - {name: carol, aor: "sip:carol@127.0.0.1", address: 127.0.0.1:5094, refresh: none, watch: [bob, "sip:alice@127.0.0.1"]}
steps:
  - {at: 0, do: phone.register, with: {phone: alice}}
  - {at: 0, do: phone.register, with: {phone: bob}}
  - {at: 1, do: phone.call, with: {phone: alice, to: bob, hold: 2}}
expect:
  - stat: {metric: lamp_lag_s, watcher: carol, agg: count, equals: 6}
  - stat: {metric: lamp_wrong_s, cause: lost_notify, agg: count, equals: 0}
"""


def error_for(text: str) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        scenario_from_text(text, "f.yaml")
    return info.value


def test_good_document_watches_and_judges_the_lamps() -> None:
    result = run_scenario(scenario_from_text(GOOD, "f.yaml"))
    assert result.passed, result.failures


def test_a_failing_lamp_stat_says_what_it_measured() -> None:
    result = run_scenario(scenario_from_text(GOOD.replace("count, equals: 6}", "count, equals: 5}"), "f.yaml"))
    assert not result.passed
    assert any("count of 6 lamp_lag_s values" in str(f) for f in result.failures)


@pytest.mark.parametrize(("old", "new", "field", "words"), [
    ("watch: [bob,", "watch: [nobody,", "phones[2].watch[0]", "neither a phone name nor a SIP URI"),
    ('watch: [bob, "sip:alice@127.0.0.1"]', "watch: bob", "phones[2].watch", "list of phone names or AORs"),
    ('"sip:alice@127.0.0.1"]}', '"sip:alice@127.0.0.1"], watch_expires: 0}', "phones[2].watch_expires", ">= 1"),
    ("cause: lost_notify,", "cause: gremlins,", "expect[1].stat.cause", "cause must be one of"),
    ("watcher: carol,", "watcher: 7,", "expect[0].stat.watcher", "phone name or"),
    ("lamp_lag_s, watcher: carol,", "lamp_lag_s, cause: lost_notify,", "expect[0].stat.cause", "takes no cause"),
])
def test_blf_fields_are_checked(old: str, new: str, field: str, words: str) -> None:
    err = error_for(GOOD.replace(old, new))
    assert err.field == field and words in str(err), str(err)
    assert err.line is not None and err.line > 0
