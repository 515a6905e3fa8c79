"""pua_usrloc (pua-reference §9.2): the gate, the PUBLISH it builds, the −10 → INSERT re-run, mod_init."""

from __future__ import annotations

import pytest

from puasim.companions.usrloc import CompanionStartupError, PuaUsrloc, PuaUsrlocConfig
from puasim.effects import SECOND, Emit, Send
from puasim.node.usrloc import ContactInfo, Record, Usrloc
from puasim.pua.config import load_config
from puasim.pua.model import Pua
from puasim.sip.message import Request, Response
from puasim.trace.events import Note

EPOCH = 1_700_000_000
SERVER = ("127.0.0.1", 5060)


def make(cfg: PuaUsrlocConfig | None = None, profile: str = "kamailio-5.6") -> tuple[Pua, Usrloc, PuaUsrloc]:
    pua = Pua(load_config({"outbound_proxy": "sip:127.0.0.1:5060", "profile": profile}), epoch=EPOCH)
    ul = Usrloc(epoch=EPOCH)
    ul.register_domain("location")
    return pua, ul, PuaUsrloc(pua, ul, cfg or PuaUsrlocConfig("example.com"))


def sent(pua: Pua) -> list[Request]:
    return [e.message for e in pua.outbox.take() if isinstance(e, Send) and isinstance(e.message, Request)]


def notes(effects: list) -> list[Note]:
    return [e.event for e in effects if isinstance(e, Emit) and isinstance(e.event, Note)]


def ok(pua: Pua, req: Request, etag: str, now: int) -> None:
    headers = [(n, v) for n, v in req.headers if n.lower() in ("via", "from", "call-id", "cseq")]
    headers += [("To", f"{req.get('to')};tag=srv"), ("Expires", req.get("expires") or "0"), ("SIP-ETag", etag)]
    pua.receive(Response(200, "OK", tuple(headers)), SERVER, now)
    pua.outbox.take()


def contact(ul: Usrloc, aor: str = "alice", uri: str = "sip:alice@10.0.0.1", expires: int = EPOCH + 60,
            call_id: str = "c1", cflags: int = 0, now: int = 0) -> tuple[Record, object]:
    rec = ul.insert_urecord("location", aor)
    return rec, ul.insert_ucontact(rec, uri, ContactInfo(expires, call_id, 1, cflags=cflags), now)


def test_without_pua_set_publish_nothing_is_sent_and_the_reason_is_logged_at_info() -> None:
    pua, ul, _pu = make()
    contact(ul)
    effects = pua.outbox.take()
    assert not [e for e in effects if isinstance(e, Send)]
    assert [(n.level, n.text) for n in notes(effects)] == [("info", "pua_usrloc: should not send ul publish")]


def test_master_logs_the_skip_at_debug() -> None:
    """§11.2: the only pua_usrloc difference between 5.6.3 and master."""
    pua, ul, _pu = make(profile="kamailio-master")
    contact(ul)
    assert [n.level for n in notes(pua.outbox.take())] == ["debug"]


def test_insert_publishes_pidf_with_default_domain_and_one_callback_only() -> None:
    pua, ul, pu = make()
    pu.pua_set_publish()
    rec, _c = contact(ul)
    ul.insert_ucontact(rec, "sip:alice@10.0.0.2", ContactInfo(EPOCH + 60, "c1", 1), 0)  # second contact, same request
    reqs = sent(pua)
    assert len(reqs) == 1, "the flag is cleared by the first callback (§9.2)"
    req = reqs[0]
    assert (req.uri, req.get("event"), req.get("expires"), req.get("content-type")) == (
        "sip:alice@example.com", "presence", "61", "application/pidf+xml")
    body = req.body.decode()
    assert 'entity="alice@example.com"' in body and "<basic>open</basic>" in body and '<tuple id="0x7f' in body


def test_entity_prefix_and_an_aor_with_a_domain() -> None:
    pua, ul, pu = make(PuaUsrlocConfig("example.com", entity_prefix="pres"))
    pu.pua_set_publish()
    contact(ul, aor="bob@other.net", uri="sip:bob@10.0.0.3")
    req = sent(pua)[0]
    assert req.uri == "sip:bob@other.net"
    assert 'entity="pres:bob@other.net"' in req.body.decode()


def test_update_refreshes_without_body_and_delete_removes() -> None:
    pua, ul, pu = make()
    pu.pua_set_publish()
    rec, c = contact(ul)
    ok(pua, sent(pua)[0], "e1", 1000)
    pu.post_script()
    pu.pua_set_publish()
    ul.update_ucontact(rec, c, ContactInfo(EPOCH + 90, "c1", 2), 10 * SECOND)  # type: ignore[arg-type]
    refresh = sent(pua)[0]
    assert (refresh.get("expires"), refresh.get("sip-if-match"), refresh.body) == ("81", "e1", b"")
    ok(pua, refresh, "e2", 10 * SECOND + 1000)
    pu.pua_set_publish()
    ul.delete_ucontact(rec, c, 20 * SECOND)  # type: ignore[arg-type]
    removal = sent(pua)[0]
    assert (removal.get("expires"), removal.get("sip-if-match")) == ("0", "e2")


def test_update_without_a_publication_reruns_as_insert() -> None:
    """−10 from pua (no record, no body) → a new initial PUBLISH with PIDF (lab 01 #10)."""
    pua, ul, pu = make()
    rec, c = contact(ul)  # inserted without the flag: no publication exists
    pua.outbox.take()
    pu.pua_set_publish()
    ul.update_ucontact(rec, c, ContactInfo(EPOCH + 60, "c2", 1), SECOND)  # type: ignore[arg-type]
    effects = pua.outbox.take()
    reqs = [e.message for e in effects if isinstance(e, Send)]
    assert len(reqs) == 1 and reqs[0].get("sip-if-match") is None and b"<basic>open</basic>" in reqs[0].body
    assert any("invoking INSERT action" in n.text for n in notes(effects))


def test_flag_mode_sends_nothing_on_timer_expiry() -> None:
    pua, ul, pu = make()
    pu.pua_set_publish()
    contact(ul, expires=EPOCH + 20)
    ok(pua, sent(pua)[0], "e1", 1000)
    pu.post_script()
    ul.timer(30 * SECOND)
    assert sent(pua) == []


def test_branch_flag_mode_publishes_marked_contacts_only_and_on_expiry() -> None:
    pua, ul, pu = make(PuaUsrlocConfig("example.com", branch_flag=3))
    rc, flags = pu.pua_set_publish()
    assert (rc, flags) == (1, 8)
    rec, _ = contact(ul, expires=EPOCH + 20, cflags=flags)
    ul.insert_ucontact(rec, "sip:alice@10.0.0.9", ContactInfo(EPOCH + 20, "c1", 1, cflags=flags), 0)
    first = sent(pua)
    assert len(first) == 2, "branch-flag mode: every marked contact publishes (lab 03 #20/#21)"
    ok(pua, first[0], "e1", 1000)
    ok(pua, first[1], "e2", 1000)
    pu.post_script()
    contact(ul, aor="nopub", uri="sip:nopub@10.0.0.5", cflags=0)
    assert sent(pua) == []
    pu.process = "timer"  # as the edge node runs usrloc's timer
    ul.timer(25 * SECOND)
    removals = sent(pua)
    assert [r.get("expires") for r in removals] == ["0", "0"]
    assert all((r.get("call-id") or "").split("-")[1].startswith("4107") for r in removals)  # timer process pid


def test_permanent_contact_makes_no_body_so_nothing_is_sent() -> None:
    pua, ul, pu = make()
    pu.pua_set_publish()
    contact(ul, expires=0)
    assert sent(pua) == []


def test_callbacks_are_ignored_while_usrloc_is_destroyed() -> None:
    pua, ul, pu = make()
    ul.destroying = True
    pu.pua_set_publish()
    contact(ul)
    assert sent(pua) == []


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({}, "pua_usrloc: default domain parameter not set"),
        ({"default_domain": ""}, "pua_usrloc: default domain parameter not set"),
        ({"default_domain": "d", "branch_flag": 32}, "branch_flag must be -1 or a flag number"),
        ({"default_domain": "d", "prefix": "x"}, "unknown parameter 'prefix'"),
    ],
)
def test_mod_init_refuses(params: dict, reason: str) -> None:
    with pytest.raises(CompanionStartupError, match=reason):
        PuaUsrlocConfig.from_params(params)
