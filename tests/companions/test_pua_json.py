"""pua_json (pua-reference §9.7, §11.2): the document's fields, the bodies, defaults, return codes, the server write."""

from __future__ import annotations

import random

import pytest

from puasim.companions.puajson import EMPTY_DIALOG_CALL_ID, PuaJsonConfig, pua_json_publish
from puasim.companions.usrloc import CompanionStartupError
from puasim.effects import SECOND
from puasim.scenario.runner import scenario_from_text
from puasim.server.compositor import EventStateCompositor
from puasim.server.profiles import get_profile

PRESENCE = {"Event-Name": "update", "Event-Package": "presence", "From": "sip:alice@example.com",
            "From-User": "alice", "From-Realm": "example.com", "To-User": "bob", "State": "early",
            "Call-ID": "c1", "Expires": 60}
DIALOG = {"Event-Name": "update", "Event-Package": "dialog", "From": "sip:alice@example.com", "From-User": "alice",
          "From-Realm": "example.com", "To": "sip:bob@example.com", "To-User": "bob", "State": "confirmed",
          "Call-ID": "k9", "From-Tag": "ft", "To-Tag": "tt", "Direction": "recipient", "Expires": 30}


def test_mod_init_parameters() -> None:
    assert PuaJsonConfig.from_params({}).pua_include_entity == 1
    assert PuaJsonConfig.from_params({"pua_include_entity": 0}).pua_include_entity == 0
    with pytest.raises(CompanionStartupError, match="must be an integer"):
        PuaJsonConfig.from_params({"pua_include_entity": "yes"})
    with pytest.raises(CompanionStartupError, match="unknown parameter"):
        PuaJsonConfig.from_params({"include_entity": 1})


@pytest.mark.parametrize(("state", "basic", "note", "activity"), [
    ("early", "open", "Busy", "<rpid:busy/>"),
    ("confirmed", "open", "On the Phone", "<rpid:on-the-phone/>"),
    ("offline", "closed", "Offline", ""),
    ("terminated", "open", "Available", ""),
])
def test_presence_states(state: str, basic: str, note: str, activity: str) -> None:
    r = pua_json_publish({**PRESENCE, "State": state})
    assert r.rc == 1 and r.update is not None
    u = r.update
    assert (u.event, u.realm, u.user, u.etag, u.sender, u.expires) == ("presence", "example.com", "alice", "c1",
                                                                       "sip:alice@example.com", 60)
    body = u.body.decode()
    assert 'entity="alice"' in body and 'id="c1"' in body
    assert f"<basic>{basic}</basic>" in body and f"<dm:note>{note}</dm:note>" in body
    assert f"<rpid:activities>{activity}</rpid:activities>" in body


def test_dialog_body_with_and_without_targets() -> None:
    body = pua_json_publish(DIALOG).update.body.decode()  # type: ignore[union-attr]
    assert '<dialog id="k9" call-id="k9" local-tag="ft" remote-tag="tt" direction="recipient">' in body
    assert '<local><identity display="alice">sip:alice@example.com</identity><target uri="sip:alice@example.com"/>' in body
    assert 'entity="sip:alice@example.com"' in body and 'version="1" state="full"' in body
    plain = pua_json_publish(DIALOG, PuaJsonConfig(0)).update.body.decode()  # type: ignore[union-attr]
    assert "<target" not in plain and '<remote><identity display="bob">sip:bob@example.com</identity></remote>' in plain


def test_dialog_presentity_fields_and_sender() -> None:
    doc = {**DIALOG, "Presentity": "sip:100@pbx", "Presentity-User": "100", "Presentity-Realm": "pbx"}
    u = pua_json_publish(doc).update
    assert u is not None and (u.presentity, u.etag, u.sender) == ("sip:100@pbx", "k9", "sip:k9")
    partial = pua_json_publish({**DIALOG, "Presentity-User": "100"}).update  # all three or From's
    assert partial is not None and partial.presentity == "sip:alice@example.com"


def test_dialog_without_call_id_writes_nothing_but_builds_the_fixed_document() -> None:
    # etag = Call-ID is empty, so the module's wrapper refuses the write (rc still 1)
    r = pua_json_publish({k: v for k, v in DIALOG.items() if k != "Call-ID"})
    assert r.rc == 1 and r.update is None and "empty etag" in r.reason
    assert EMPTY_DIALOG_CALL_ID == "76001e23e09704ea9e1257ebea85e1f3"


def test_message_summary_bodies() -> None:
    base = {"Event-Name": "update", "Event-Package": "message-summary", "From": "sip:vm@example.com",
            "From-User": "alice", "From-Realm": "example.com", "Call-ID": "m1", "Messages-Waiting": "yes",
            "Message-Account": "sip:alice@example.com"}
    assert pua_json_publish(base).update.body == (  # type: ignore[union-attr]
        b"Messages-Waiting: yes\r\nMessage-Account: sip:alice@example.com\r\n")
    counts = {**base, "Messages-New": 2, "Messages-Saved": 1, "Messages-Urgent": 0, "Messages-Urgent-Saved": 0}
    assert pua_json_publish(counts).update.body.endswith(b"Voice-Message: 2/1 (0/0)\r\n")  # type: ignore[union-attr]
    voice = {**base, "MWI-Voice-Message": "3/4"}
    assert pua_json_publish(voice).update.body.endswith(b"Voice-Message: 3/4\r\n")  # type: ignore[union-attr]


def test_return_codes_and_ignored_documents() -> None:
    assert pua_json_publish("{broken").rc == -1
    assert pua_json_publish("[1, 2]").rc == -1
    assert pua_json_publish({**PRESENCE, "Event-Name": "Update"}) .update is None
    missing = pua_json_publish({k: v for k, v in PRESENCE.items() if k != "State"})
    assert missing.rc == 1 and missing.update is None and "required" in missing.reason
    assert pua_json_publish({**PRESENCE, "Event-Package": "reg"}).update is None


def test_expires_defaults_to_zero_and_numeric_text_counts() -> None:
    assert pua_json_publish({k: v for k, v in PRESENCE.items() if k != "Expires"}).update.expires == 0  # type: ignore[union-attr]
    assert pua_json_publish({**PRESENCE, "Expires": "45"}).update.expires == 45  # type: ignore[union-attr]


def test_as_feature_event_only_in_master() -> None:
    doc = {"Event-Name": "update", "Event-Package": "as-feature-event", "From": "sip:alice@example.com",
           "From-User": "alice", "From-Realm": "example.com", "DND-Status": "true", "Call-ID": "d1"}
    assert pua_json_publish(doc, profile="kamailio-5.6").update is None
    u = pua_json_publish(doc, profile="kamailio-master").update
    assert u is not None and u.content_type == "application/x-as-feature-event+xml"
    assert b"<device>alice</device><doNotDisturbOn>true</doNotDisturbOn>" in u.body


def test_update_presentity_inserts_then_replaces_by_etag() -> None:
    comp = EventStateCompositor(get_profile("kamailio"), random.Random(1))
    comp.update_presentity("sip:a@h", "presence", "e1", b"one", "application/pidf+xml", 60, 0)
    comp.update_presentity("sip:a@h", "presence", "e1", b"two", "application/pidf+xml", 90, SECOND)
    comp.update_presentity("sip:a@h", "presence", "e2", b"three", "application/pidf+xml", 60, SECOND)
    pubs = comp.get("sip:a@h", "presence")
    assert [(p.etag, p.body) for p in pubs] == [("e1", b"two"), ("e2", b"three")]
    assert pubs[0].expires == SECOND + 90 * SECOND


def test_scenario_errors_name_the_field() -> None:
    head = "refs: [x]\nduration: 5\nexpect: [{count: {match: {method: PUBLISH}, equals: 0}}]\n"
    with pytest.raises(ValueError, match=r"<string>:\d+: steps\[0\]: json.publish needs a pua_json: block"):
        scenario_from_text(head + "steps: [{at: 1, do: json.publish, with: {document: {}}}]\n")
    with pytest.raises(ValueError, match=r"pua_json\.pua_include_entity: must be an integer in -2147483648\.\.2147483647"):
        scenario_from_text(head + "pua_json: {pua_include_entity: x}\n")
    with pytest.raises(ValueError, match=r"pua_json\.pua_include_entity: must be an integer"):
        scenario_from_text(head + "pua_json: {pua_include_entity: 99999999999}\n")
    with pytest.raises(ValueError, match=r"pua_json\.bogus: the module would not start: pua_json: unknown parameter"):
        scenario_from_text(head + "pua_json: {bogus: 1}\n")
    with pytest.raises(ValueError, match=r"steps\[0\]\.with\.document: must be a mapping or JSON text, got int"):
        scenario_from_text(head + "pua_json: {}\nsteps: [{at: 1, do: json.publish, with: {document: 5}}]\n")
    big = "x" * 70000
    with pytest.raises(ValueError, match=r"steps\[0\]\.with\.document: longer than 65535 characters"):
        scenario_from_text(head + f"pua_json: {{}}\nsteps: [{{at: 1, do: json.publish, with: {{document: {big}}}}}]\n")
    with pytest.raises(ValueError, match=r"steps\[0\]\.with: give document"):
        scenario_from_text(head + "pua_json: {}\nsteps: [{at: 1, do: json.publish, with: {}}]\n")


def test_document_file_step_runs_and_a_missing_file_is_named(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    from puasim.scenario.loader import load_file
    from puasim.scenario.runner import run_scenario
    from puasim.scenario.spec import build

    (tmp_path / "doc.json").write_text(json.dumps({**PRESENCE, "From-Realm": "127.0.0.1"}))
    text = ("refs: [x]\nduration: 5\npua_json: {}\nsteps: [{at: 1, do: json.publish, with: {document_file: doc.json}}]\n"
            "expect: [{event: {type: ServerStateChanged, where: {action: created, etag: c1}, equals: 1}}]\n")
    (tmp_path / "s.yaml").write_text(text)
    assert run_scenario(build(load_file(tmp_path / "s.yaml"))).passed
    (tmp_path / "s.yaml").write_text(text.replace("doc.json", "nope.json"))
    with pytest.raises(ValueError, match=r"s.yaml:4: steps\[0\]\.with\.document_file: cannot read"):
        build(load_file(tmp_path / "s.yaml"))
