"""Bad node:/script:/phones: blocks fail before the run with file, line and field."""

from __future__ import annotations

import pytest

from puasim.scenario import ScenarioError, run_scenario, scenario_from_text

GOOD = """\
name: t
refs: ["§9.2"]
duration: 10
pua:
  address: 127.0.0.1:5080
  params: {outbound_proxy: "sip:127.0.0.1:5060"}
node:
  modules:
    registrar: {min_expires: 0}
    pua_usrloc: {default_domain: 127.0.0.1}
script:
  register: [pua_set_publish(), save("location")]
phones:
  - {name: alice, aor: "sip:alice@127.0.0.1", address: 127.0.0.1:5090, expires: 60}
steps:
  - {at: 0, do: phone.register, with: {phone: alice}}
expect:
  - count: {match: {from: pua, method: PUBLISH}, equals: 1}
"""


def error_for(text: str) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        scenario_from_text(text, "f.yaml")
    return info.value


def test_good_document_loads_and_runs() -> None:
    scn = scenario_from_text(GOOD, "f.yaml")
    assert scn.registrations is not None and [p.name for p in scn.registrations.phones] == ["alice"]
    assert run_scenario(scn).passed


@pytest.mark.parametrize(
    ("old", "new", "line", "field", "words"),
    [
        ("pua_set_publish(), save", "pua_set_publsh(), save", 12, "script.register[0]", "unknown script function 'pua_set_publsh'"),
        ("{default_domain: 127.0.0.1}", "{entity_prefix: pres}", 10, "node.modules.pua_usrloc",
         "the node would not start: pua_usrloc: default domain parameter not set"),
        ("{default_domain: 127.0.0.1}", "{default_domain: 127.0.0.1, branch_flag: 40}", 10,
         "node.modules.pua_usrloc.branch_flag", "branch_flag must be -1"),
        ("    pua_usrloc: {default_domain: 127.0.0.1}\n", "", 11, "script.register[0]",
         "exported by pua_usrloc, which the node does not load"),
        ('[pua_set_publish(), save("location")]', "[pua_set_publish()]", 12, "script.register", "must call save"),
        ("{phone: alice}", "{phone: bob}", 16, "steps[0].with.phone", "no phone named 'bob'"),
        ("{phone: alice}", "{phone: alice, expires: soon}", 16, "steps[0].with.expires", "integer"),
        ("address: 127.0.0.1:5090", "address: 127.0.0.1:5060", 14, "phones[0].address", "used by another node"),
        ("name: alice", "name: server", 14, "phones[0].name", "already used"),
        ("expires: 60}", "expires: 60, refresh: {fraction: 2}}", 14, "phones[0].refresh.fraction", "between 0 and 1"),
        ("registrar: {min_expires: 0}", "registrar: {min_expire: 0}", 9, "node.modules.registrar.min_expire",
         "unknown registrar parameter"),
        ("registrar: {min_expires: 0}", "usrloc: {db_mode: 2}", 9, "node.modules.usrloc.db_mode", "not modelled"),
        ('save("location")]', 'save("location"), bla_set_flag()]', 12, "script.register[2]",
         "exported by pua_bla, which the node does not load"),
        ("    pua_usrloc: {default_domain: 127.0.0.1}\n",
         "    pua_usrloc: {default_domain: 127.0.0.1}\n    pua_reginfo: {default_domain: 127.0.0.1}\n", 11,
         "node.modules.pua_reginfo", "pua_reginfo: server_address parameter not set"),
        ('save("location")]', 'save("location"), reginfo_subscribe("$tu", 60)]', 12, "script.register[2]",
         "must be quoted"),
        ("    pua_usrloc: {default_domain: 127.0.0.1}\n",
         "    pua_usrloc: {default_domain: 127.0.0.1}\n    pua_bla: {default_domain: 127.0.0.1, header_name: Sender}\n", 11,
         "node.modules.pua_bla", "pua_bla: compulsory 'server_address' parameter not set!"),
        ("    pua_usrloc: {default_domain: 127.0.0.1}\n",
         "    pua_usrloc: {default_domain: 127.0.0.1}\n    pua_bla: {server_address: 'sip:b@h', default_domain: h}\n", 11,
         "node.modules.pua_bla", "pua_bla: header_name parameter not set"),
        ("phone.register, with: {phone: alice}}", "phone.line_state, with: {phone: alice, state: early}}", 16,
         "steps[0].with.phone", "not a BLA phone"),
        ("expires: 60}", "expires: 60, bla: yes-please}", 14, "phones[0].bla", "true or false"),
        ('save("location")]', 'save("location"), \'reginfo_subscribe("$tu", soon)\']', 12, "script.register[2]",
         "expires must be a number of seconds"),
        ('save("location")]', 'save("location"), \'reginfo_subscribe("$tu", 60)\']', 12, "script.register[2]",
         "exported by pua_reginfo, which the node does not load"),
        ("script:\n", "script:\n  notify: [reginfo_handle_notify()]\n", 12, "script.notify[0]", "takes 1..1 arguments"),
        ("{phone: alice}}", "{phone: alice}}\n  - {at: 1, do: node.call, with: {call: save(\"location\")}}", 17,
         "steps[1].with.call", "cannot be called from the request route"),
    ],
)
def test_bad_field(old: str, new: str, line: int, field: str, words: str) -> None:
    assert old in GOOD
    err = error_for(GOOD.replace(old, new, 1))
    assert (err.file, err.line, err.field) == ("f.yaml", line, field), str(err)
    assert words in err.problem, str(err)


def test_disable_publish_exists_in_master() -> None:
    text = GOOD.replace("    pua_usrloc: {default_domain: 127.0.0.1}\n",
                        "    pua_usrloc: {default_domain: 127.0.0.1}\n    pua_reginfo: {default_domain: d, server_address: \"sip:r@h\"}\n")
    text = text.replace("register: [pua_set_publish()", "register: [reginfo_disable_publish(), pua_set_publish()")
    assert "not exported" in error_for(text).problem
    scn = scenario_from_text(text.replace("pua:\n", "pua:\n  profile: kamailio-master\n"), "f.yaml")
    assert scn.registrations is not None and scn.registrations.script.register[0].function == "reginfo_disable_publish"


def test_phones_need_a_node() -> None:
    text = GOOD.replace("node:\n  modules:\n    registrar: {min_expires: 0}\n    pua_usrloc: {default_domain: 127.0.0.1}\n", "")
    err = error_for(text.replace("script:\n  register: [pua_set_publish(), save(\"location\")]\n", ""))
    assert err.field == "phones" and "need a node" in err.problem


def test_bla_functions_parse_when_pua_bla_is_loaded() -> None:
    from puasim.edge.script import Call, ScriptError, parse_call

    assert parse_call("bla_set_flag()", "register", {"pua_bla", "registrar"}) == Call("bla_set_flag")
    assert parse_call("bla_handle_notify()", "notify", {"pua_bla"}) == Call("bla_handle_notify")
    with pytest.raises(ScriptError, match="cannot be called from the register route"):
        parse_call("bla_handle_notify()", "register", {"pua_bla", "registrar"})


BLA_GOOD = GOOD.replace("expires: 60}", "expires: 60, bla: true}").replace(
    "phone.register, with: {phone: alice}}", "phone.line_state, with: {phone: alice, state: early}}")


@pytest.mark.parametrize(("old", "new", "field", "words"), [
    ("state: early", "state: ringing", "steps[0].with.state", "state must be one of"),
    ("state: early", "state: early, omit: [via]", "steps[0].with.omit", "omit is a list of"),
    ("state: early", "state: early, subscription_state: 5", "steps[0].with.subscription_state", "must be text"),
    ("bla: true}", "bla: true, bla_version: -1}", "phones[0].bla_version", "integer >= 0"),
])
def test_bla_phone_fields_are_checked(old: str, new: str, field: str, words: str) -> None:
    scenario_from_text(BLA_GOOD, "f.yaml")
    err = error_for(BLA_GOOD.replace(old, new))
    assert err.field == field and words in err.problem
