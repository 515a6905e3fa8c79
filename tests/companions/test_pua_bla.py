"""pua_bla (pua-reference §9.3, §11.2): mod_init, the usrloc callback, bla_handle_notify()'s steps."""

from __future__ import annotations

import pytest

from puasim.companions.bla import PuaBlaConfig
from puasim.companions.usrloc import CompanionStartupError
from puasim.edge import Call, EdgeProxy, NodeConfig, Script
from puasim.effects import SECOND, Emit, Send
from puasim.node.registrar import RegistrarConfig
from puasim.pua.config import load_config
from puasim.pua.model import Pua
from puasim.sip.message import Request, Response
from tests.node.helpers import register

SRC = ("127.0.0.1", 5098)
PHONE = ("127.0.0.1", 5094)
BLA = PuaBlaConfig(server_address="sip:bla@127.0.0.1:5080", default_domain="127.0.0.1", header_name="Sender")
BODY = b'<?xml version="1.0"?>\n<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="7" state="full"' \
       b' entity="sip:alice@127.0.0.1"/>\n'


@pytest.mark.parametrize(("params", "reason"), [
    ({}, "compulsory 'server_address' parameter not set!"),
    ({"server_address": "sip:bla@h"}, "default domain not found"),
    ({"server_address": "sip:bla@h", "default_domain": "h"}, "header_name parameter not set"),
    ({"server_address": "sip:bla@h", "default_domain": "h", "header_name": "Sender", "bogus": "x"}, "unknown parameter"),
    ({"server_address": 5}, "server_address must be a string"),
])
def test_mod_init_refuses_with_kamailios_reason(params: dict, reason: str) -> None:
    with pytest.raises(CompanionStartupError, match=reason.replace("(", r"\(")):
        PuaBlaConfig.from_params(params)


def test_outbound_proxy_is_optional() -> None:
    cfg = PuaBlaConfig.from_params({"server_address": "sip:bla@h", "default_domain": "h", "header_name": "Sender"})
    assert cfg.outbound_proxy == ""


def edge(profile: str = "kamailio-5.6", cfg: PuaBlaConfig = BLA, script: Script | None = None) -> EdgeProxy:
    pua = Pua(load_config({"outbound_proxy": "sip:127.0.0.1:5060"}, profile=profile), host="127.0.0.1", port=5080)
    script = script or Script((Call("bla_set_flag"), Call("save", ("location",))), (Call("bla_handle_notify"),))
    node = EdgeProxy(pua, NodeConfig(registrar=RegistrarConfig(min_expires=0), pua_bla=cfg, profile=profile), script)
    node.start(0)
    node.outbox.take()
    return node


def texts(events: list) -> list[str]:
    return [getattr(e.event, "text", "") for e in events if isinstance(e, Emit)]


def sent(node: EdgeProxy) -> list:
    return [e.message for e in node.outbox.take() if isinstance(e, Send)]


def subscribed(node: EdgeProxy) -> Request:
    """REGISTER alice, answer the SUBSCRIBE with 200 (To-tag ph1); return the SUBSCRIBE."""
    node.receive(register(["<sip:alice@127.0.0.1:5094>"]), SRC, SECOND)
    out = sent(node)
    assert [getattr(m, "method", None) or m.status for m in out] == ["SUBSCRIBE", 200]
    sub = out[0]
    keep = [(n, v) for n, v in sub.headers if n.lower() in ("via", "from", "call-id", "cseq")]
    keep += [("To", sub.get("to") + ";tag=ph1"), ("Contact", "<sip:alice@127.0.0.1:5094>"), ("Expires", "70"),
             ("Content-Length", "0")]
    node.receive(Response(200, "OK", tuple(keep)), PHONE, SECOND + 1000)
    node.outbox.take()
    return sub


def notify(sub: Request, *, state: str | None = "active;expires=70", body: bytes = BODY,
           contact: str | None = "<sip:alice@127.0.0.1:5094>", to_tag: str | None = None) -> Request:
    tag = sub.get("from").partition(";tag=")[2] if to_tag is None else to_tag
    headers = [("Via", "SIP/2.0/UDP 127.0.0.1:5094;branch=z9hG4bK-n1"), ("Max-Forwards", "70"),
               ("From", "<sip:alice@127.0.0.1>;tag=ph1"), ("To", f"<sip:alice@127.0.0.1>;tag={tag}"),
               ("Call-ID", sub.get("call-id")), ("CSeq", "1 NOTIFY")]
    if contact is not None:
        headers.append(("Contact", contact))
    headers.append(("Event", "dialog;sla"))
    if state is not None:
        headers.append(("Subscription-State", state))
    headers += [("Content-Type", "application/dialog-info+xml"), ("Content-Length", str(len(body)))]
    return Request("NOTIFY", "sip:bla@127.0.0.1:5080", tuple(headers), body)


def test_register_subscribes_dialog_sla_to_the_contact_before_the_reply() -> None:
    node = edge()
    node.receive(register(["<sip:alice@127.0.0.1:5094>"]), SRC, SECOND)
    sub, ok = sent(node)
    assert (sub.method, sub.uri, sub.get("event"), sub.get("contact"), sub.get("expires")) == (
        "SUBSCRIBE", "sip:alice@127.0.0.1:5094", "dialog;sla", "<sip:bla@127.0.0.1:5080>", "70")
    assert sub.get("to") == "<sip:alice@127.0.0.1>" and ok.status == 200


def test_without_bla_set_flag_no_subscribe_and_the_flag_is_consumed() -> None:
    node = edge(script=Script((Call("bla_set_flag", (), "^bob"), Call("save", ("location",)))))
    node.receive(register(["<sip:alice@127.0.0.1:5094>"]), SRC, SECOND)
    assert [getattr(m, "method", None) or m.status for m in sent(node)] == [200]


def test_a_flag_left_set_by_a_423_is_used_by_the_next_register_with_a_stale_from() -> None:
    """No post-script callback clears the flag (B25): the next REGISTER's callback subscribes."""
    pua = Pua(load_config({"outbound_proxy": "sip:127.0.0.1:5060"}), host="127.0.0.1", port=5080)
    script = Script((Call("bla_set_flag", (), "^alice"), Call("save", ("location",))))
    node = EdgeProxy(pua, NodeConfig(registrar=RegistrarConfig(min_expires=120, min_expires_mode=1),
                                       pua_bla=BLA), script)
    node.start(0)
    node.outbox.take()
    node.receive(register(["<sip:alice@127.0.0.1:5094>"], expires=60), SRC, SECOND)
    assert [m.status for m in sent(node)] == [423]
    node.receive(register(["<sip:bob@127.0.0.1:5095>"], expires=300, user="bob", call_id="b-1",
                          branch="z9hG4bK-2"), SRC, 2 * SECOND)
    events = node.outbox.take()
    msgs = [e.message for e in events if isinstance(e, Send)]
    assert msgs[0].method == "SUBSCRIBE" and msgs[0].uri == "sip:bob@127.0.0.1:5095"
    assert any("earlier request" in t for t in texts(events))


def test_handle_notify_publishes_the_shared_publication_and_replies() -> None:
    node = edge()
    sub = subscribed(node)
    node.receive(notify(sub), PHONE, 2 * SECOND)
    pub, ok = sent(node)
    assert (pub.method, pub.uri, pub.get("event"), pub.get("expires"), pub.get("sender")) == (
        "PUBLISH", "sip:alice@127.0.0.1", "dialog;sla", "71", "sip:alice@127.0.0.1:5094")
    assert b'version="0"' in pub.body and pub.get("sip-if-match") is None
    assert ok.status == 200


@pytest.mark.parametrize(("kwargs", "why"), [
    ({"to_tag": "other"}, "Notify in a non existing dialog"),
    ({"state": None}, "No Subscription-State header found"),
    ({"state": "active"}, "No expires found in Notify"),
    ({"state": "active; expires=70"}, "No expires found in Notify"),
    ({"state": "active;expires=99999999999"}, "while parsing int"),
    ({"body": b""}, "content length= 0"),
    ({"contact": None}, "no contact header found"),
])
def test_each_failing_step_returns_0_no_publish_no_reply(kwargs: dict, why: str) -> None:
    node = edge()
    sub = subscribed(node)
    node.receive(notify(sub, **kwargs), PHONE, 2 * SECOND)
    events = node.outbox.take()
    assert not [e for e in events if isinstance(e, Send)]
    assert f"pua_bla: {why}" in texts(events)


@pytest.mark.parametrize(("state", "expires"), [("terminated;reason=timeout", None), ("pending;expires=40", "41"),
                                                ("active;expires=", None), ("other;expires=40", None)])
def test_subscription_state_gives_the_expires(state: str, expires: str | None) -> None:
    """terminated / unknown states and empty digits mean 0: with no publication yet pua sends nothing."""
    node = edge()
    sub = subscribed(node)
    node.receive(notify(sub, state=state), PHONE, 2 * SECOND)
    out = sent(node)
    assert [m.get("expires") for m in out if getattr(m, "method", "") == "PUBLISH"] == ([expires] if expires else [])
    assert out[-1].status == 200


@pytest.mark.parametrize(("profile", "published"), [("kamailio-5.6", True), ("kamailio-master", False)])
def test_sender_header_longer_than_255_bytes(profile: str, published: bool) -> None:
    cfg = PuaBlaConfig(BLA.server_address, BLA.default_domain, "X-" + "s" * 240)
    node = edge(profile, cfg)
    sub = subscribed(node)
    node.receive(notify(sub), PHONE, 2 * SECOND)
    events = node.outbox.take()
    methods = [getattr(e.message, "method", None) for e in events if isinstance(e, Send)]
    assert ("PUBLISH" in methods) is published
    notes = texts(events)
    assert any("overruns" in t for t in notes) is published
    assert ("pua_bla: extra headers too long" in notes) is not published
