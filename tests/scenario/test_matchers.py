"""Reason-phrase matcher and sequence items tied to the request they answer."""

from __future__ import annotations

import pytest

from puasim.scenario import ScenarioError, run_scenario, scenario_from_text

HEAD = """\
name: t
refs: ["RFC 3261 17.1.3"]
duration: 10
pua:
  params: {outbound_proxy: "sip:127.0.0.1:5060"}
steps:
  - {at: 0, do: publish, with: {pres_uri: "sip:a@127.0.0.1", expires: 60, body: &pidf '<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:a@127.0.0.1"><tuple id="t1"><status><basic>open</basic></status></tuple></presence>'}}
  - {at: 0, do: publish, with: {pres_uri: "sip:b@127.0.0.1", expires: 60, body: *pidf}}
expect:
"""


def run(expect: str):
    return run_scenario(scenario_from_text(HEAD + expect, "f.yaml"))


def messages(result):
    return [(r.node, getattr(r.event.message, "method", None) or r.event.message.status)
            for r in result.trace.records if type(r.event).__name__ == "MessageSent"]


def test_both_publishes_go_out_before_either_reply():
    # the order the other tests rely on
    result = run("  - count: {match: {from: pua, method: PUBLISH}, equals: 2}\n")
    assert messages(result)[:4] == [("pua", "PUBLISH"), ("pua", "PUBLISH"), ("server", 200), ("server", 200)]


def test_reply_tied_to_a_labelled_request_skips_the_reply_to_another():
    result = run("""\
  - sequence:
      - {from: pua, method: PUBLISH, ruri: "sip:a@127.0.0.1", label: a, save: {a_call: call_id}}
      - {from: pua, method: PUBLISH, ruri: "sip:b@127.0.0.1", label: b, save: {b_call: call_id}}
      - {from: server, status: 200, answers: b, call_id: $b_call}
""")
    assert result.passed, result.failures


def test_a_later_reply_to_another_request_does_not_match():
    # untied, the fourth item matches the reply to b; tied to a, whose reply
    # came before the reply to b, it finds nothing
    untied = """\
  - sequence:
      - {from: pua, method: PUBLISH, ruri: "sip:a@127.0.0.1", label: a}
      - {from: pua, method: PUBLISH, ruri: "sip:b@127.0.0.1"}
      - {from: server, status: 200}
      - {from: server, status: 200}
"""
    assert run(untied).passed
    tied = untied.replace("status: 200}\n      - {from: server, status: 200}", "status: 200, answers: previous}\n      - {from: server, status: 200, answers: a}")
    result = run(tied)
    assert not result.passed
    assert "sequence item 3" in result.failures[0].message


def test_reason_phrase_matcher():
    assert run("  - count: {match: {from: server, reason: OK}, equals: 2}\n").passed
    result = run("  - count: {match: {from: server, reason: {regex: '^Accepted'}}, min: 1}\n")
    assert not result.passed


@pytest.mark.parametrize("item, field, words", [
    ("{status: 200, answers: previous}", "expect[0].sequence[0].answers", "earlier item"),
    ("{method: PUBLISH}\n      - {status: 200, answers: nolabel}", "expect[0].sequence[1].answers", "labelled"),
    ("{method: PUBLISH}\n      - {method: PUBLISH, answers: 0}", "expect[0].sequence[1].method", "drop method"),
    ("{method: PUBLISH, label: x}\n      - {method: PUBLISH, label: x}", "expect[0].sequence[1].label", "already"),
])
def test_bad_answers_and_labels(item, field, words):
    with pytest.raises(ScenarioError) as info:
        scenario_from_text(HEAD + f"  - sequence:\n      - {item}\n", "f.yaml")
    assert info.value.field == field and words in info.value.problem


def test_answers_only_in_sequences():
    with pytest.raises(ScenarioError) as info:
        scenario_from_text(HEAD + "  - absent: {status: 500, answers: previous}\n", "f.yaml")
    assert info.value.field == "expect[0].absent.answers"


RECORDS = HEAD.replace('b@127.0.0.1", expires: 60', 'b@127.0.0.1", expires: 30')


def run_record(which: str):
    expect = f"  - record: {{at: 5, match: {{event: presence}}, count: 2, {which} fields: {{expires_in: {{min: 50}}}}}}\n"
    return run_scenario(scenario_from_text(RECORDS + expect, "f.yaml"))


def test_record_checks_the_chosen_or_every_matching_record():
    first, last = run_record("").passed, run_record("which: last,").passed
    assert run_record("which: first,").passed == first
    assert first != last  # one record has 60 s left, the other 30 s
    assert run_record("which: 0,").passed == first and run_record("which: 1,").passed == last
    result = run_record("which: all,")
    assert not result.passed
    assert "record 1 of 2" in result.failures[0].message or "record 0 of 2" in result.failures[0].message
    result = run_record("which: 2,")
    assert not result.passed and "record 2 asked for, 2 records match" in result.failures[0].message


def test_record_which_is_validated():
    with pytest.raises(ScenarioError) as info:
        run_record("which: every,")
    assert info.value.field == "expect[0].record.which" and "first, last, all" in info.value.problem
