"""pua_dialoginfo (pua-reference §9.4): parameters, the body, locality, the publications per callback."""

from __future__ import annotations

import pytest

from puasim.companions.dialoginfo import DlgInfo, PuaDialoginfo, PuaDialoginfoConfig
from puasim.companions.usrloc import CompanionStartupError
from puasim.effects import SECOND, Send
from puasim.node.dialog import DialogConfig, DialogModule
from puasim.pua.config import load_config
from puasim.pua.model import Pua
from puasim.scenario import ScenarioError, scenario_from_text
from puasim.sip.message import Request, Response

INVITE = Request("INVITE", "sip:bob@127.0.0.1", (
    ("Via", "SIP/2.0/UDP 127.0.0.1:5090;branch=z9hG4bKa"), ("From", "<sip:alice@127.0.0.1>;tag=at"),
    ("To", "<sip:bob@127.0.0.1>"), ("Call-ID", "c1"), ("CSeq", "1 INVITE"),
    ("Contact", "<sip:alice@127.0.0.1:5090>")))
RINGING = Response(180, "Ringing", (("From", "<sip:alice@127.0.0.1>;tag=at"), ("To", "<sip:bob@127.0.0.1>;tag=bt"),
                                    ("Call-ID", "c1"), ("Contact", "<sip:bob@127.0.0.1:5092>")))


def node(**params) -> tuple[Pua, DialogModule, PuaDialoginfo]:
    pua = Pua(load_config({"outbound_proxy": "sip:127.0.0.1:5060"}), host="127.0.0.1", port=5080)
    pua.start(0)
    pua.outbox.take()
    timers: dict = {}
    mod = DialogModule(DialogConfig(), timers.__setitem__, lambda k: timers.pop(k, None), lambda t: None)
    return pua, mod, PuaDialoginfo(pua, mod, PuaDialoginfoConfig.from_params(params))


def publishes(pua: Pua) -> list[Request]:
    return [e.message for e in pua.outbox.take() if isinstance(e, Send) and getattr(e.message, "method", "") == "PUBLISH"]


def state(m: Request) -> str:
    return m.body.decode().split("<state>")[1].split("<")[0]


def test_created_publishes_trying_for_the_caller_only_then_early_for_both_with_tags_and_contact():
    pua, mod, _ = node()
    dlg = mod.create(INVITE, SECOND)
    (trying,) = publishes(pua)
    assert (trying.uri, trying.get("expires"), trying.get("event"), state(trying)) == (
        "sip:alice@127.0.0.1", "43201", "dialog", "Trying")
    body = trying.body.decode()
    assert '<dialog id="padi-' in body and 'call-id="c1" direction="initiator"' in body
    assert '<target uri="sip:bob@127.0.0.1"/>' in body and '<target uri="sip:alice@127.0.0.1"/>' in body
    assert body.index("<remote>") < body.index("<local>")
    mod.on_reply(dlg, 180, RINGING, 2 * SECOND)
    alice, bob = publishes(pua)
    assert [(m.uri, state(m)) for m in (alice, bob)] == [("sip:alice@127.0.0.1", "early"), ("sip:bob@127.0.0.1", "early")]
    assert 'local-tag="at" remote-tag="bt" direction="initiator"' in alice.body.decode()
    b = bob.body.decode()
    assert 'local-tag="bt" remote-tag="at" direction="recipient"' in b
    assert b.index('<target uri="sip:alice@127.0.0.1:5090"/>') < b.index('<target uri="sip:bob@127.0.0.1:5092"/>')


def test_terminated_asks_10_and_prack_publishes_nothing():
    pua, mod, _ = node()
    dlg = mod.create(INVITE, SECOND)
    mod.on_reply(dlg, 183, RINGING, SECOND)
    publishes(pua)
    prack = Request("PRACK", "sip:bob@127.0.0.1:5092", (("From", "<sip:alice@127.0.0.1>;tag=at"),
                                                        ("To", "<sip:bob@127.0.0.1>;tag=bt"), ("Call-ID", "c1")))
    mod.on_request(prack, SECOND)
    assert publishes(pua) == []
    mod.on_reply(dlg, 486, None, SECOND)
    assert [(m.get("expires"), state(m)) for m in publishes(pua)] == [("11", "terminated"), ("11", "terminated")]


def test_send_publish_flag_needs_the_flag_and_lifts_the_locality_check():
    pua, mod, _ = node(send_publish_flag=4)
    mod.create(INVITE, SECOND)
    assert publishes(pua) == []
    mod.create(INVITE.with_header("From", "<sip:alice@10.9.9.9>;tag=x").with_header("Call-ID", "c2"), SECOND, 1 << 4)
    assert [m.uri for m in publishes(pua)] == ["sip:alice@10.9.9.9"]
    pua, mod, _ = node()
    mod.create(INVITE.with_header("From", "<sip:alice@10.9.9.9>;tag=x"), SECOND)
    assert publishes(pua) == []  # −1: only local URIs (check_self)


def test_override_lifetime_callee_trying_caller_confirmed_display():
    pua, mod, _ = node(override_lifetime=120, callee_trying=1, caller_confirmed=1, attribute_display=1,
                       include_callid=0, include_localremote=1)
    dlg = mod.create(INVITE, SECOND)
    out = publishes(pua)
    assert [(m.uri, m.get("expires"), state(m)) for m in out] == [
        ("sip:alice@127.0.0.1", "121", "Trying"), ("sip:bob@127.0.0.1", "121", "Trying")]
    assert 'display="bob" uri="sip:bob@127.0.0.1"' in out[0].body.decode() and "call-id" not in out[0].body.decode()
    mod.on_reply(dlg, 180, RINGING, SECOND)
    assert [state(m) for m in publishes(pua)] == ["confirmed", "early"]


def test_no_localremote_and_no_req_within_callback():
    pua, mod, info = node(include_localremote=0, publish_dialog_req_within=0)
    dlg = mod.create(INVITE, SECOND)
    assert "<remote>" not in publishes(pua)[0].body.decode()
    mod.on_reply(dlg, 200, RINGING, SECOND)
    publishes(pua)
    ack = Request("ACK", "sip:bob@127.0.0.1:5092", (("From", "<sip:alice@127.0.0.1>;tag=at"),
                                                    ("To", "<sip:bob@127.0.0.1>;tag=bt"), ("Call-ID", "c1")))
    mod.on_request(ack, SECOND)
    info_req = Request("INFO", ack.uri, ack.headers)
    mod.on_request(info_req, 2 * SECOND)
    assert publishes(pua) == []


def test_a_value_beyond_max_uri_size_builds_no_body():
    pua, _, info = node()
    cell = DlgInfo("padi-1", "sip:a@127.0.0.1", "sip:b@127.0.0.1", "sip:b@127.0.0.1", "c" * 1025, "t", "", 60)
    assert info.build_body("early", "sip:a@127.0.0.1", "sip:b@127.0.0.1", cell, True, None, "", "") is None


@pytest.mark.parametrize(("params", "reason"), [
    ({"use_pubruri_avps": 1}, "pubruri_caller_avp and pubruri_callee_avp must be set, if use_pubruri_avps is enabled"),
    ({"use_pubruri_avps": 1, "pubruri_caller_avp": "$avp(a)", "pubruri_callee_avp": "$var(b)"},
     r"malformed or non AVP \$var\(b\) AVP definition"),
    ({"pubruri_caller_dlg_var": "x"}, "pubruri_caller_dlg_var is not modelled"),
    ({"caller_entity_when_publish_disabled": "not a uri"}, "caller_entity_when_publish_disabled is not a valid SIP uri"),
    ({"include_tags": "yes"}, "include_tags must be an integer"),
    ({"bogus": 1}, "unknown parameter 'bogus'"),
])
def test_mod_init_refusals(params, reason):
    with pytest.raises(CompanionStartupError, match=reason):
        PuaDialoginfoConfig.from_params(params)


DOC = """\
name: t
refs: ["§9.4"]
duration: 5
pua:
  address: 127.0.0.1:5080
  params: {outbound_proxy: "sip:127.0.0.1:5060"}
node:
  modules:
    dialog: {}
    pua_dialoginfo: {use_uuid: 1}
script:
  invite: [dlg_manage()]
expect:
  - count: {match: {method: PUBLISH}, equals: 0}
"""


def test_use_uuid_exists_in_master_only_and_dialog_must_be_loaded():
    with pytest.raises(ScenarioError) as info:
        scenario_from_text(DOC, "f.yaml")
    assert info.value.field == "node.modules.pua_dialoginfo.use_uuid" and "kamailio-master only" in str(info.value)
    scenario_from_text(DOC.replace("  address: 127.0.0.1:5080", "  address: 127.0.0.1:5080\n  profile: kamailio-master"),
                       "f.yaml")
    with pytest.raises(ScenarioError) as info:
        scenario_from_text(DOC.replace("    dialog: {}\n", "").replace("{use_uuid: 1}", "{}").replace(
            "invite: [dlg_manage()]", "register: [save(\"location\")]"), "f.yaml")
    assert "is dialog module loaded?" in str(info.value)


def test_use_uuid_gives_a_random_uuid_as_dialog_id():
    import re

    pua, mod, _ = node(use_uuid=1)
    mod.create(INVITE, SECOND)
    (trying,) = publishes(pua)
    assert re.search(r'<dialog id="[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}" ',
                     trying.body.decode())


AVPS = {"use_pubruri_avps": 1, "pubruri_caller_avp": "$avp(c)", "pubruri_callee_avp": "$avp(s:d)"}
OK = Response(200, "OK", RINGING.headers)


def test_pubruri_avps_give_one_publish_per_value_with_the_from_to_identities():
    pua, mod, _ = node(**AVPS)
    dlg = mod.create(INVITE, SECOND, 0, {"c": ["sip:desk@127.0.0.1", "not a uri", "sip:alice@127.0.0.1"],
                                         "d": ["sip:bob-blf@127.0.0.1", "sip:far@10.1.1.1"]})
    trying = publishes(pua)
    assert [m.uri for m in trying] == ["sip:desk@127.0.0.1", "sip:alice@127.0.0.1"]  # bad URI skipped
    assert all('entity="sip:alice@127.0.0.1"' in m.body.decode() for m in trying)
    mod.on_reply(dlg, 200, OK, 2 * SECOND)
    out = publishes(pua)
    assert [(m.uri, state(m)) for m in out] == [("sip:desk@127.0.0.1", "confirmed"), ("sip:alice@127.0.0.1", "confirmed"),
                                                ("sip:bob-blf@127.0.0.1", "confirmed")]  # 10.1.1.1 is not local
    assert 'entity="sip:bob@127.0.0.1"' in out[2].body.decode()
    assert len({m.get("call-id") for m in out}) == 3  # three pua records, one per Request-URI


def test_pubruri_avps_without_values_keep_no_cell():
    pua, mod, info = node(**AVPS)
    dlg = mod.create(INVITE, SECOND, 0, {"other": ["sip:x@127.0.0.1"]})
    mod.on_reply(dlg, 200, OK, 2 * SECOND)
    assert publishes(pua) == [] and info.cells == {}
    pua, mod, info = node(**AVPS)  # only the callee AVP: callee-side publishes only
    dlg = mod.create(INVITE, SECOND, 0, {"d": ["sip:bob@127.0.0.1"]})
    assert publishes(pua) == []
    mod.on_reply(dlg, 180, RINGING, 2 * SECOND)
    assert [(m.uri, state(m)) for m in publishes(pua)] == [("sip:bob@127.0.0.1", "early")]


def test_disable_flag_without_entity_is_read_from_each_callbacks_request():
    pua, mod, _ = node(disable_caller_publish_flag=2)
    dlg = mod.create(INVITE, SECOND, 1 << 2)
    assert publishes(pua) == []  # Trying: the INVITE carries the flag
    mod.on_reply(dlg, 180, RINGING, SECOND)
    mod.on_reply(dlg, 200, OK, SECOND)
    assert [m.uri for m in publishes(pua)] == ["sip:bob@127.0.0.1"] * 2  # replies: request = the INVITE
    reinvite = Request("INVITE", "sip:bob@127.0.0.1:5092", (("From", "<sip:alice@127.0.0.1>;tag=at"),
                                                             ("To", "<sip:bob@127.0.0.1>;tag=bt"), ("Call-ID", "c1"),
                                                             ("CSeq", "2 INVITE")))
    mod.on_request(Request("ACK", reinvite.uri, reinvite.headers), SECOND)  # the confirming ACK: CONFIRMED
    assert publishes(pua) == []
    mod.on_request(reinvite, 3 * SECOND)  # REQ_WITHIN: the re-INVITE carries no flag, both sides publish
    assert [(m.uri, state(m)) for m in publishes(pua)] == [("sip:alice@127.0.0.1", "confirmed"),
                                                          ("sip:bob@127.0.0.1", "confirmed")]
