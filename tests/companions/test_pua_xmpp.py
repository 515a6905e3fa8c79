"""pua_xmpp (pua-reference §9.6, §4.8, §10 B24): stanzas in, PUBLISH/SUBSCRIBE out, replies and NOTIFYs to stanzas."""

from __future__ import annotations

import pytest

from puasim.companions.usrloc import CompanionStartupError
from puasim.companions.xmpp import Presence, PuaXmpp, PuaXmppConfig
from puasim.effects import SECOND, Send
from puasim.pua.config import load_config
from puasim.pua.constants import Source
from puasim.pua.model import Pua
from puasim.sip.message import Request, Response

CFG = PuaXmppConfig(server_address="sip:gw@127.0.0.2", gateway_domain="127.0.0.2")
SERVER = ("127.0.0.1", 5060)


def gateway() -> PuaXmpp:
    pua = Pua(load_config({"outbound_proxy": "sip:127.0.0.1:5060"}), host="127.0.0.2", port=5060)
    pua.start(0)
    pua.outbox.take()
    return PuaXmpp(pua, CFG)


def sent(x: PuaXmpp) -> list:
    return [e.message for e in x.pua.outbox.take() if isinstance(e, Send)]


def test_mod_init_needs_server_address() -> None:
    with pytest.raises(CompanionStartupError, match="compulsory 'server_address' parameter not set!"):
        PuaXmppConfig.from_params({})
    with pytest.raises(CompanionStartupError, match="unknown parameter"):
        PuaXmppConfig.from_params({"server_address": "sip:gw@h", "bogus": "1"})
    assert PuaXmppConfig.from_params({"server_address": "sip:gw@h"}).domain_separator == "*"


def test_callback_registered_for_initial_subscribes_only() -> None:
    x = gateway()
    assert [types for types, _ in x.pua.callbacks] == [int(Source.XMPP_INITIAL_SUBS)]


def test_address_translation() -> None:
    assert CFG.encode_xmpp_sip("alice@jabber.org/home") == "sip:alice*jabber.org@127.0.0.2"
    assert CFG.decode_xmpp_sip("carol*example.com@xmpp2sip.example.net/r") == "sip:carol@example.com"
    assert CFG.encode_sip_xmpp("sip:carol@example.com") == "carol*example.com@xmpp2sip.example.net"
    assert CFG.decode_sip_xmpp("sip:alice*jabber.org@127.0.0.2") == "alice@jabber.org"


@pytest.mark.parametrize(("show", "status", "note", "person"), [
    (None, None, None, False),
    ("xa", None, "<note>Away</note>", True),
    ("chat", "hi", "<note>Online</note>", True),
    ("dnd", None, "<note>Busy (DND)</note>", True),
    ("away", None, "<note>away</note>", True),
    (None, "only status", "<note/>", False),
])
def test_available_stanza_publishes_pidf(show: str | None, status: str | None, note: str | None, person: bool) -> None:
    x = gateway()
    assert x.from_xmpp(Presence("alice@jabber.org/home", "gw@127.0.0.2", show=show, status=status), SECOND) == 0
    (pub,) = sent(x)
    assert pub.method == "PUBLISH" and pub.uri == "sip:alice*jabber.org@127.0.0.2"
    assert pub.get("expires") == "3601"  # expires −1: pua's default_expires (+1, §3.5)
    body = pub.body.decode()
    assert 'entity="pres:alice*jabber.org@127.0.0.2"' in body and "<basic>open</basic>" in body
    assert (note in body) if note else ("<note" not in body)
    assert ("<person" in body) is person  # pua gives it an id (§3.4.1)
    assert "only status" not in body and "hi" not in body


def test_unavailable_without_record_sends_nothing() -> None:
    x = gateway()
    x.from_xmpp(Presence("alice@jabber.org", "gw@127.0.0.2", "unavailable"), SECOND)
    assert sent(x) == []


def subscribe(x: PuaXmpp, kind: str = "subscribe") -> Request:
    x.from_xmpp(Presence("bob@jabber.org/pc", "carol*127.0.0.1@xmpp2sip.example.net", kind), SECOND)
    (sub,) = sent(x)
    return sub


def reply(sub: Request, status: int) -> Response:
    keep = [(n, v) for n, v in sub.headers if n.lower() in ("via", "from", "call-id", "cseq")]
    keep += [("To", sub.get("to") + ";tag=srv1"), ("Contact", "<sip:127.0.0.1:5060>"), ("Expires", "3600"),
             ("Content-Length", "0")]
    return Response(status, "OK" if status < 300 else "Nope", tuple(keep))


@pytest.mark.parametrize(("kind", "expires"), [("subscribe", "3610"), ("probe", "3610")])
def test_subscribe_and_probe(kind: str, expires: str) -> None:
    x = gateway()
    sub = subscribe(x, kind)
    assert sub.method == "SUBSCRIBE" and sub.uri == "sip:carol@127.0.0.1" and sub.get("event") == "presence"
    assert sub.get("contact") == "<sip:bob*jabber.org@127.0.0.2>" and sub.get("from").startswith("<sip:bob*jabber.org@127.0.0.2>")
    assert sub.get("expires") == expires


@pytest.mark.parametrize(("status", "stanza"), [
    (200, Presence("carol*127.0.0.1@xmpp2sip.example.net", "bob@jabber.org", "subscribed")),
    (404, Presence("carol*127.0.0.1@xmpp2sip.example.net", "bob@jabber.org", "error", error="item-not-found")),
    (486, Presence("carol*127.0.0.1@xmpp2sip.example.net", "bob@jabber.org", "error", error="not-acceptable")),
    (603, Presence("carol*127.0.0.1@xmpp2sip.example.net", "bob@jabber.org", "error", error="service-unavailable")),
])
def test_reply_to_initial_subscribe_becomes_a_stanza(status: int, stanza: Presence) -> None:
    x = gateway()
    sub = subscribe(x)
    x.pua.receive(reply(sub, status), SERVER, 2 * SECOND)
    assert x.sent == [stanza]


def established() -> tuple[PuaXmpp, Request]:
    x = gateway()
    sub = subscribe(x)
    x.pua.receive(reply(sub, 200), SERVER, 2 * SECOND)
    x.pua.outbox.take()
    x.sent.clear()
    return x, sub


def notify(sub: Request, *, event: str = "presence", state: str = "active;expires=3600", body: bytes = b"",
           ruri: str = "sip:bob*jabber.org@127.0.0.2", to_tag: str | None = None, branch: str = "n1") -> Request:
    tag = sub.get("from").partition(";tag=")[2] if to_tag is None else to_tag
    headers = [("Via", f"SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-{branch}"), ("From", "<sip:carol@127.0.0.1>;tag=srv1"),
               ("To", f"<sip:bob*jabber.org@127.0.0.2>;tag={tag}"), ("Call-ID", sub.get("call-id")),
               ("CSeq", "1 NOTIFY"), ("Event", event), ("Subscription-State", state),
               ("Content-Length", str(len(body)))]
    return Request("NOTIFY", ruri, tuple(headers), body)


def pidf(inner: str) -> bytes:
    return (f'<?xml version="1.0"?><presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:carol@127.0.0.1">'
            f'<tuple id="t"><status><basic>open</basic></status>{inner}</tuple></presence>').encode()


FROM, TO = "carol*127.0.0.1@xmpp2sip.example.net", "bob@jabber.org"


@pytest.mark.parametrize(("state", "body", "stanza"), [
    ("active;expires=3600", b"", Presence(FROM, TO, "unavailable")),
    ("terminated;reason=noresource", b"", Presence(FROM, TO, "unsubscribed")),
    ("terminated; reason=timeout", b"", Presence(FROM, TO, "unsubscribed")),  # not at offset 11
    ("active;expires=3600", pidf("<note>On the phone</note>"), Presence(FROM, TO, None, show="away")),
    ("active;expires=3600", pidf("<note>busy</note>"), Presence(FROM, TO, None, show="xa")),
    ("active;expires=3600", pidf("<note>Do Not Disturb</note>"), Presence(FROM, TO, None, show="dnd")),
    ("active;expires=3600", pidf('<contact priority="0.5">sip:c@h</contact><note>Lunch</note>'),
     Presence(FROM, TO, None, status="Lunch", priority="0.5")),
    ("active;expires=3600", pidf(""), Presence(FROM, TO, None)),
])
def test_notify_to_stanza(state: str, body: bytes, stanza: Presence) -> None:
    x, sub = established()
    assert x.pua_xmpp_notify(notify(sub, state=state, body=body), 3 * SECOND) == 1
    assert x.sent == [stanza]


def test_notify_terminated_by_timeout_sends_nothing() -> None:
    x, sub = established()
    assert x.pua_xmpp_notify(notify(sub, state="terminated;reason=timeout"), 3 * SECOND) == 1
    assert x.sent == []


def test_notify_checks() -> None:
    x, sub = established()
    assert x.pua_xmpp_notify(notify(sub, event="dialog"), 3 * SECOND) == 0
    assert x.pua_xmpp_notify(notify(sub, to_tag="other"), 3 * SECOND) == 0
    assert x.pua_xmpp_notify(notify(sub, body=b"<notxml"), 3 * SECOND) == 0
    assert x.sent == []


def test_winfo_notify_asks_xmpp_for_each_watcher() -> None:
    x, sub = established()
    body = (b'<?xml version="1.0"?><watcherinfo xmlns="urn:ietf:params:xml:ns:watcherinfo" version="0" state="full">'
            b'<watcher-list resource="sip:carol@127.0.0.1" package="presence">'
            b'<watcher id="w1" event="subscribe" status="pending">sip:dan@example.com</watcher>'
            b'<watcher id="w2" event="subscribe" status="pending">sip:eve@example.com</watcher>'
            b"</watcher-list></watcherinfo>")
    assert x.pua_xmpp_notify(notify(sub, event="presence.winfo", body=body), 3 * SECOND) == 1
    assert x.sent == [Presence("dan*example.com@xmpp2sip.example.net", TO, "subscribe"),
                      Presence("eve*example.com@xmpp2sip.example.net", TO, "subscribe")]
    assert x.pua_xmpp_notify(notify(sub, event="presence.winfo", state="terminated", body=body), 3 * SECOND) == 0


def test_script_branch_only_for_the_gateway_domain() -> None:
    x, sub = established()
    assert x.script_notify(notify(sub, ruri="sip:bob@elsewhere"), 3 * SECOND) is None
    assert x.script_notify(notify(sub), 3 * SECOND) is True
    assert x.script_notify(notify(sub, event="dialog"), 3 * SECOND) is False


def test_req_winfo_always_unlimited() -> None:
    x = gateway()
    assert x.pua_xmpp_req_winfo("sip:carol@127.0.0.1", "0", SECOND) == 1
    (sub,) = sent(x)
    assert sub.get("event") == "presence.winfo" and sub.get("contact") == "<sip:gw@127.0.0.2>"
    assert sub.get("expires") == "3610"  # B24: the "0" is not seen, expires −1
    assert x.pua_xmpp_req_winfo("sip:127.0.0.1", "0", SECOND) == 0


def test_unsubscribe_finds_no_dialog_under_check_remote_contact() -> None:
    # §9.6: without a remote target the default check_remote_contact = 1 never matches the dialog
    x, _ = established()
    assert x.from_xmpp(Presence("bob@jabber.org/pc", "carol*127.0.0.1@xmpp2sip.example.net", "unsubscribe"), 4 * SECOND) == 0
    assert sent(x) == []


def test_other_stanza_types_are_ignored() -> None:
    x = gateway()
    assert x.from_xmpp(Presence("bob@jabber.org", "carol*h@xmpp2sip.example.net", "subscribed"), SECOND) == 0
    assert sent(x) == [] and x.sent == []


def test_pua_runs_the_script_branch_before_answering() -> None:
    x, sub = established()
    x.pua.notify_hooks.append(x.script_notify)
    x.pua.receive(notify(sub), SERVER, 3 * SECOND)
    (ok,) = sent(x)
    assert ok.status == 200 and x.sent == [Presence(FROM, TO, "unavailable")]
    x.pua.receive(notify(sub, event="dialog", branch="n2"), SERVER, 4 * SECOND)  # pua_xmpp_notify() 0: exit, no reply
    assert sent(x) == []
    x.pua.receive(notify(sub, ruri="sip:bob@127.0.0.9", branch="n3"), SERVER, 5 * SECOND)  # not the branch: pua's own answer
    (other,) = sent(x)
    assert other.status == 200 and len(x.sent) == 1


def test_scenario_errors_name_the_field() -> None:
    from puasim.scenario.runner import scenario_from_text

    head = "refs: [x]\nduration: 5\nexpect: [{count: {match: {method: PUBLISH}, equals: 0}}]\n"
    with pytest.raises(ValueError, match=r"pua_xmpp: the module would not start: pua_xmpp: compulsory 'server_address'"):
        scenario_from_text(head + "pua_xmpp: {}\n")
    with pytest.raises(ValueError, match=r"steps\[0\]: xmpp.presence needs a pua_xmpp: block"):
        scenario_from_text(head + "steps: [{at: 1, do: xmpp.presence, with: {from: a@b, to: c@d}}]\n")
    with pytest.raises(ValueError, match=r"steps\[0\]\.with\.from: from must be a JID"):
        scenario_from_text(head + "pua_xmpp: {server_address: 'sip:gw@h'}\n"
                           "steps: [{at: 1, do: xmpp.presence, with: {from: nobody, to: c@d}}]\n")
    with pytest.raises(ValueError, match=r"pua_xmpp\.server_address: must be text \(a string\), got int"):
        scenario_from_text(head + "pua_xmpp: {server_address: 5}\n")
    with pytest.raises(ValueError, match=r"pua_xmpp\.domain_separator: the module would not start: .*one character"):
        scenario_from_text(head + "pua_xmpp: {server_address: 'sip:gw@h', domain_separator: '**'}\n")
    with pytest.raises(ValueError, match=r"steps\[0\]\.with\.uri: missing"):
        scenario_from_text(head + "pua_xmpp: {server_address: 'sip:gw@h'}\nsteps: [{at: 1, do: xmpp.req_winfo, with: {}}]\n")
    with pytest.raises(ValueError, match=r"steps\[0\]\.with\.to: longer than 512 characters"):
        scenario_from_text(head + "pua_xmpp: {server_address: 'sip:gw@h'}\n"
                           f"steps: [{{at: 1, do: xmpp.presence, with: {{from: a@b, to: {'c' * 600}@d}}}}]\n")
    with pytest.raises(ValueError, match=r"steps\[0\]\.with\.color: unknown field"):
        scenario_from_text(head + "pua_xmpp: {server_address: 'sip:gw@h'}\n"
                           "steps: [{at: 1, do: xmpp.presence, with: {from: a@b, to: c@d, color: red}}]\n")
