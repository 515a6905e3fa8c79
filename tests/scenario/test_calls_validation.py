"""Bad calls: policies and call steps fail before the run with file, line and field."""

from __future__ import annotations

import pytest

from puasim.scenario import ScenarioError, run_scenario, scenario_from_text

GOOD = """\
name: t
refs: ["RFC 3261 §16"]
duration: 20
pua:
  address: 127.0.0.1:5080
  params: {outbound_proxy: "sip:127.0.0.1:5060"}
node:
  modules:
    registrar: {min_expires: 0}
phones:
  - {name: alice, aor: "sip:alice@127.0.0.1", address: 127.0.0.1:5090, refresh: none}
  - {name: bob, aor: "sip:bob@127.0.0.1", address: 127.0.0.1:5092, refresh: none,
     calls: {answer: ring, answer_after: 1}}
steps:
  - {at: 0, do: phone.register, with: {phone: alice}}
  - {at: 0, do: phone.register, with: {phone: bob}}
  - {at: 1, do: phone.call, with: {phone: alice, to: bob, hold: 2}}
expect:
  - count: {match: {from: alice, method: BYE}, equals: 1}
"""


def error_for(text: str) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        scenario_from_text(text, "f.yaml")
    return info.value


def test_good_document_runs_a_call() -> None:
    assert run_scenario(scenario_from_text(GOOD, "f.yaml")).passed


@pytest.mark.parametrize(("old", "new", "field", "words"), [
    ("answer: ring,", "answer: maybe,", "phones[1].calls.answer", "answer must be one of"),
    ("answer_after: 1}", "answer_after: -1}", "phones[1].calls.answer_after", "must be seconds in 0..2.592e+06"),
    ("answer_after: 1}", "answer_after: .inf}", "phones[1].calls.answer_after", "finite"),
    ("answer_after: 1}", "answer_after: 1, reject_status: 200}", "phones[1].calls.reject_status", "300-699"),
    ("answer_after: 1}", "answer_after: 1, ring: yes}", "phones[1].calls.ring", "unknown field"),
    ("answer_after: 1}", "answer_after: 1, rel100: 1}", "phones[1].calls.rel100", "true or false"),
    ("to: bob, hold: 2", "to: carol, hold: 2", "steps[2].with.to", "neither a phone name nor a SIP URI"),
    ("to: bob, hold: 2", "hold: 2", "steps[2].with.to", "needs to:"),
    ("to: bob, hold: 2", "to: bob, hold: soon", "steps[2].with.hold", "must be seconds"),
    ("to: bob, hold: 2", "to: bob, hold: 1e9", "steps[2].with.hold", "must be seconds in 0..2.592e+06"),
    ("to: bob, hold: 2", "to: bob, when: 2", "steps[2].with.when", "unknown field"),
    ("do: phone.call, with: {phone: alice, to: bob, hold: 2}", "do: phone.reject, with: {phone: bob, status: 99}",
     "steps[2].with.status", "300-699"),
    ("do: phone.call, with: {phone: alice, to: bob, hold: 2}", "do: phone.answer, with: {phone: carol}",
     "steps[2].with.phone", "no phone named"),
])
def test_call_fields_are_checked(old: str, new: str, field: str, words: str) -> None:
    err = error_for(GOOD.replace(old, new))
    assert err.field == field and words in str(err), str(err)
    assert err.line is not None and err.line > 0


def test_a_call_to_an_aor_nobody_registered_gets_404() -> None:
    text = GOOD.replace("to: bob, hold: 2", "to: \"sip:carol@127.0.0.1\"").replace(
        "count: {match: {from: alice, method: BYE}, equals: 1}", "count: {match: {to: alice, status: 404}, equals: 1}")
    assert run_scenario(scenario_from_text(text, "f.yaml")).passed


DIALOG = GOOD.replace("    registrar: {min_expires: 0}\n", "    registrar: {min_expires: 0}\n    dialog: {default_timeout: 60}\n"
                      ).replace("phones:\n", "script:\n  invite: [dlg_manage()]\n", 1).replace(
    "script:\n  invite: [dlg_manage()]\n", "script:\n  invite: [dlg_manage()]\nphones:\n", 1)


def test_dialog_document_tracks_the_call() -> None:
    result = run_scenario(scenario_from_text(DIALOG, "f.yaml"))
    assert result.passed
    texts = [r.event.text for r in result.trace.records if type(r.event).__name__ == "Note" and r.node == "pua"
             and r.event.text.startswith("dialog ")]
    assert [t.split(": ")[1].split(" ")[0] for t in texts] == ["CREATED", "EARLY", "CONFIRMED_NA", "CONFIRMED",
                                                               "TERMINATED"]


@pytest.mark.parametrize(("old", "new", "field", "words"), [
    ("dialog: {default_timeout: 60}", "dialog: {default_timeout: 0}", "node.modules.dialog.default_timeout",
     "the node would not start: 0 default_timeout not accepted!!"),
    ("dialog: {default_timeout: 60}", "dialog: {dlg_flag: 32}", "node.modules.dialog.dlg_flag", "invalid dlg flag 32!!"),
    ("    dialog: {default_timeout: 60}\n", "", "script.invite[0]", "exported by dialog, which the node does not load"),
    ("invite: [dlg_manage()]", "invite: [setflag(40)]", "script.invite[0]", "flag number 0..31"),
    ("invite: [dlg_manage()]", "invite: [save(\"location\")]", "script.invite[0]", "cannot be called from the invite route"),
    ("invite: [dlg_manage()]", "invite: ['$avp(x) = sip:a@b', dlg_manage()]", "script.invite[0]",
     "$avp(x) takes a quoted string or one of $fu, $tu, $ru, got 'sip:a@b'"),
    ("invite: [dlg_manage()]", "invite: ['$avp(1x) = $fu', dlg_manage()]", "script.invite[0]", "not an AVP name: $avp(1x)"),
    ("invite: [dlg_manage()]", "invite: [{call: '$avp(x) = $du', if_user: a}]", "script.invite[0].call",
     "$avp(x) takes a quoted string or one of $fu, $tu, $ru, got '$du'"),
    ("invite: [dlg_manage()]", "invite: [dlg_manage()]\n  register: ['$avp(x) = $fu', save(location)]",
     "script.register[0]", "AVP assignments are modelled in the invite route only, not in the register route"),
    ("dialog: {default_timeout: 60}", "dialog: {default_timeout: 60}\n    pua_dialoginfo: {use_pubruri_avps: 1}",
     "node.modules.pua_dialoginfo.use_pubruri_avps", "pubruri_caller_avp and pubruri_callee_avp must be set, if use_pubruri_avps is enabled"),
    ("dialog: {default_timeout: 60}",
     "dialog: {default_timeout: 60}\n    pua_dialoginfo: {use_pubruri_avps: 1, pubruri_caller_avp: x, pubruri_callee_avp: $avp(b)}",
     "node.modules.pua_dialoginfo.pubruri_caller_avp", "malformed or non AVP x AVP definition"),
])
def test_dialog_fields_are_checked(old: str, new: str, field: str, words: str) -> None:
    scenario_from_text(DIALOG, "f.yaml")
    err = error_for(DIALOG.replace(old, new))
    assert err.field == field and words in str(err), str(err)


def test_avp_assignments_parse_into_dollar_avp_calls() -> None:
    from puasim.edge.script import Call, ScriptError, parse_avp_set, parse_call

    assert parse_avp_set('$avp(s:pub) = "sip:a@h";', "invite") == Call("$avp", ("pub", "sip:a@h", "text"))
    assert parse_avp_set("$avp(i:7)='x'", "invite") == Call("$avp", ("i:7", "x", "text"))
    assert parse_avp_set("$avp(pub) = $tu", "invite") == Call("$avp", ("pub", "$tu", "pv"))
    assert parse_avp_set("dlg_manage()", "invite") is None
    assert parse_call("$avp(pub) = $ru", "invite", {"dialog"}).text() == "$avp(pub) = $ru"
    with pytest.raises(ScriptError, match="not in the request route"):
        parse_call("$avp(pub) = $ru", "request", {"dialog"})
