"""The edge node: module order, the script's routes and their reply."""

from __future__ import annotations

from puasim.companions.reginfo import PuaReginfoConfig
from puasim.companions.usrloc import PuaUsrlocConfig
from puasim.edge import Call, EdgeProxy, NodeConfig, Script
from puasim.effects import SECOND, Send
from puasim.node.registrar import RegistrarConfig
from puasim.pua.config import load_config
from puasim.pua.model import Pua
from puasim.sip.message import Request
from tests.node.helpers import register

SRC = ("127.0.0.1", 5098)
REGINFO = PuaReginfoConfig(default_domain="127.0.0.1", server_address="sip:reginfo@127.0.0.1:5080")


def edge(script: Script, reginfo: bool = True) -> EdgeProxy:
    pua = Pua(load_config({"outbound_proxy": "sip:127.0.0.1:5060"}), host="127.0.0.1", port=5080)
    cfg = NodeConfig(registrar=RegistrarConfig(min_expires=0), pua_usrloc=PuaUsrlocConfig("127.0.0.1"),
                     pua_reginfo=REGINFO if reginfo else None, server_header="edge")
    node = EdgeProxy(pua, cfg, script)
    node.start(0)
    node.outbox.take()
    return node


def sent(node: EdgeProxy) -> list:
    return [e.message for e in node.outbox.take() if isinstance(e, Send)]


def test_reginfo_callback_runs_before_pua_usrloc_and_both_before_the_reply() -> None:
    node = edge(Script((Call("pua_set_publish"), Call("save", ("location",)))))
    node.receive(register(["<sip:alice@127.0.0.1:5090>"]), SRC, SECOND)
    out = sent(node)
    assert [(getattr(m, "method", None) or m.status, m.get("event")) for m in out] == [
        ("PUBLISH", "reg"), ("PUBLISH", "presence"), (200, None)]
    assert out[2].get("server") == "edge"


def test_calls_after_save_run_after_the_reply_with_pseudo_variables() -> None:
    node = edge(Script((Call("save", ("location",)), Call("reginfo_subscribe", ("$tu", "60")))))
    node.receive(register(["<sip:alice@127.0.0.1:5090>"]), SRC, SECOND)
    out = sent(node)
    kinds = [getattr(m, "method", None) or m.status for m in out]
    assert kinds == ["PUBLISH", 200, "SUBSCRIBE"]
    assert (out[2].uri, out[2].get("expires")) == ("sip:alice@127.0.0.1", "70")


def test_if_user_condition_and_a_route_without_save_sends_no_reply() -> None:
    node = edge(Script((Call("pua_set_publish", (), "^bob"),)), reginfo=False)
    node.receive(register(["<sip:alice@127.0.0.1:5090>"]), SRC, SECOND)
    effects = node.outbox.take()
    assert not [e for e in effects if isinstance(e, Send)]
    assert any("sent no reply" in getattr(getattr(e, "event", None), "text", "") for e in effects)


def test_notify_route_replies_with_the_script_reply_and_other_notifies_go_to_pua() -> None:
    node = edge(Script((Call("save", ("location",)),), (Call("reginfo_handle_notify", ("location",)),), (202, "Taken")))

    def notify(event: str, branch: str) -> Request:
        return Request("NOTIFY", "sip:reginfo@127.0.0.1:5080", (
            ("Via", f"SIP/2.0/UDP 127.0.0.1:5060;branch={branch}"), ("To", "<sip:reginfo@127.0.0.1>;tag=a"),
            ("From", "<sip:alice@127.0.0.1>;tag=b"), ("CSeq", "2 NOTIFY"), ("Call-ID", "n1"), ("Event", event),
            ("Content-Length", "0")))

    node.receive(notify("reg", "z9hG4bK-1"), ("127.0.0.1", 5060), SECOND)
    reply = sent(node)[0]
    assert (reply.status, reply.reason) == (202, "Taken")
    assert [n for n, _ in reply.headers][:5] == ["Via", "To", "From", "CSeq", "Call-ID"]  # the request's order
    node.receive(notify("presence", "z9hG4bK-2"), ("127.0.0.1", 5060), SECOND)
    assert sent(node)[0].status == 200
