"""pua_reginfo (pua-reference §9.5, §11.2): the document, Expires by profile, subscribe, handle_notify."""

from __future__ import annotations

import pytest

from puasim.companions.reginfo import PuaReginfo, PuaReginfoConfig
from puasim.companions.usrloc import CompanionStartupError
from puasim.effects import SECOND, Send
from puasim.node.usrloc import ContactInfo, Usrloc, UsrlocConfig
from puasim.pua.config import load_config
from puasim.pua.model import Pua
from puasim.sip.message import Request

EPOCH = 1_700_000_000
CFG = PuaReginfoConfig(default_domain="example.com", server_address="sip:reginfo@10.0.0.1:5080")


def make(profile: str = "kamailio-5.6", use_domain: int = 0, **params: int) -> tuple[Pua, Usrloc, PuaReginfo]:
    pua = Pua(load_config({"outbound_proxy": "sip:127.0.0.1:5060", "profile": profile, **params}), epoch=EPOCH)
    ul = Usrloc(UsrlocConfig(use_domain=use_domain), epoch=EPOCH)
    ul.register_domain("location")
    return pua, ul, PuaReginfo(pua, ul, CFG)


def sent(pua: Pua) -> list[Request]:
    return [e.message for e in pua.outbox.take() if isinstance(e, Send) and isinstance(e.message, Request)]


def notify(body: str) -> Request:
    return Request("NOTIFY", "sip:reginfo@10.0.0.1:5080", (
        ("Via", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-1"), ("From", "<sip:alice@example.com>;tag=a"),
        ("To", "<sip:reginfo@10.0.0.1:5080>;tag=b"), ("Call-ID", "n"), ("CSeq", "2 NOTIFY"), ("Event", "reg"),
        ("Content-Length", str(len(body)))), body.encode())


def reginfo(state: str, *contacts: tuple[str, str, int]) -> str:
    inner = "".join(f'<contact id="x{i}" state="active" event="{ev}" expires="{exp}" callid="c{i}" cseq="3">'
                    f"<uri>{uri}</uri></contact>" for i, (uri, ev, exp) in enumerate(contacts))
    return (f'<?xml version="1.0"?><reginfo xmlns="urn:ietf:params:xml:ns:reginfo" version="1" state="full">'
            f'<registration aor="sip:alice@example.com" id="r" state="{state}">{inner}</registration></reginfo>')


def test_insert_publishes_full_document_with_expires_3600_in_5_6() -> None:
    pua, ul, _ri = make()
    rec = ul.insert_urecord("location", "alice")
    ul.insert_ucontact(rec, "sip:alice@10.0.0.9", ContactInfo(EPOCH + 25, "c1", 1, user_agent="ua"), 0)
    req = sent(pua)[0]
    assert (req.uri, req.get("event"), req.get("expires"), req.get("content-type")) == (
        "sip:alice@example.com", "reg", "3601", "application/reginfo+xml")
    body = req.body.decode()
    assert '<registration aor="sip:alice@example.com" id="0x' in body and 'state="active">' in body
    assert 'state="active" event="created" expires="25" callid="c1" cseq="1" received="" path="" user_agent="ua"' in body


def test_master_asks_for_the_largest_remaining_lifetime() -> None:
    """§11.2 (0e284b0632)."""
    pua, ul, _ri = make("kamailio-master")
    rec = ul.insert_urecord("location", "alice")
    ul.insert_ucontact(rec, "sip:a@1", ContactInfo(EPOCH + 25, "c1", 1), 0)
    ul.insert_ucontact(rec, "sip:a@2", ContactInfo(EPOCH + 120, "c2", 1), 0)
    assert [r.get("expires") for r in sent(pua)] == ["26", "121"]


def test_expired_contact_is_not_listed_and_the_registration_terminates() -> None:
    pua, ul, _ri = make()
    rec = ul.insert_urecord("location", "alice")
    ul.insert_ucontact(rec, "sip:a@1", ContactInfo(EPOCH + 5, "c1", 1), 0)
    sent(pua)
    ul.timer(10 * SECOND)
    body = sent(pua)[0].body.decode()
    assert "<contact" not in body and 'state="terminated"/>' in body


def test_version_follows_dlginfo_increase_version_in_5_6_only() -> None:
    """§11.1: 5.6.3 picks the reg processor by dlginfo_increase_version."""
    for profile, params, versions in (
        ("kamailio-5.6", {"dlginfo_increase_version": 1}, ["0", "1"]),
        ("kamailio-5.6", {"reginfo_increase_version": 1}, ["0", "0"]),
        ("kamailio-master", {"reginfo_increase_version": 1}, ["0", "1"]),
    ):
        pua, ul, _ri = make(profile, **params)
        rec = ul.insert_urecord("location", "alice")
        c = ul.insert_ucontact(rec, "sip:a@1", ContactInfo(EPOCH + 60, "c1", 1), 0)
        first = sent(pua)[0]
        headers = [(n, v) for n, v in first.headers if n.lower() in ("via", "from", "call-id", "cseq")]
        from puasim.sip.message import Response

        pua.receive(Response(200, "OK", (*headers, ("To", "<x>;tag=s"), ("Expires", "3600"), ("SIP-ETag", "e1"))),
                    ("127.0.0.1", 5060), 1000)
        pua.outbox.take()
        ul.update_ucontact(rec, c, ContactInfo(EPOCH + 60, "c1", 2), SECOND)
        second = sent(pua)[0]
        got = [m.body.decode().split('<reginfo')[1].split('version="')[1].split('"')[0] for m in (first, second)]
        assert got == versions, (profile, params)


def test_subscribe_uses_server_address_and_returns_1() -> None:
    pua, _ul, ri = make()
    assert ri.reginfo_subscribe("sip:alice@127.0.0.1", 120, 0) == 1
    req = sent(pua)[0]
    assert (req.method, req.uri, req.get("event"), req.get("expires"), req.get("contact")) == (
        "SUBSCRIBE", "sip:alice@127.0.0.1", "reg", "130", "<sip:reginfo@10.0.0.1:5080>")
    assert (req.get("from") or "").startswith("<sip:reginfo@10.0.0.1:5080>")


def test_handle_notify_5_6_key_is_the_aor_from_the_user_part_and_suppresses_publishing() -> None:
    pua, ul, ri = make()
    rc = ri.reginfo_handle_notify(notify(reginfo("active", ("sip:alice@10.0.0.9", "created", 60))), "location", 0)
    assert rc == 1
    assert [r.aor for r in ul.records()] == ["alice@example.com"]
    c = ul.get_urecord("location", "alice@example.com").contacts[0]  # type: ignore[union-attr]
    assert (c.call_id, c.cseq, c.user_agent, c.expires) == ("c0", 3, "n/a", EPOCH + 60)
    assert sent(pua) == []
    rec = ul.insert_urecord("location", "bob")  # a later REGISTER in the same process: still suppressed (B22)
    ul.insert_ucontact(rec, "sip:bob@1", ContactInfo(EPOCH + 60, "b", 1), SECOND)
    assert sent(pua) == []
    ri.process = "timer"  # another process has its own flag
    ul.insert_ucontact(rec, "sip:bob@2", ContactInfo(EPOCH + 60, "b", 1), SECOND)
    assert len(sent(pua)) == 1


def test_handle_notify_master_key_is_the_user_part() -> None:
    _pua, ul, ri = make("kamailio-master")
    ri.reginfo_handle_notify(notify(reginfo("active", ("sip:alice@10.0.0.9", "registered", 60))), "location", 0)
    assert [r.aor for r in ul.records()] == ["alice"]


def test_handle_notify_results() -> None:
    pua, ul, ri = make()
    empty = notify("")
    assert ri.reginfo_handle_notify(empty, "location", 0) == 1
    assert ri.reginfo_handle_notify(notify("<reginfo"), "location", 0) == -1
    assert ri.reginfo_handle_notify(notify(reginfo("terminated")), "location", 0) == -1  # unknown AOR
    # an unregistered contact of an unknown AOR is ignored: no contacts
    assert ri.reginfo_handle_notify(notify(reginfo("active", ("sip:a@1", "unregistered", 0))), "location", 0) == 2
    assert ri.reginfo_handle_notify(notify(reginfo("active", ("sip:a@1", "created", 0))), "location", 0) == 2
    assert ri.reginfo_handle_notify(notify(reginfo("active", ("sip:a@1", "created", 30))), "location", 0) == 1
    assert ri.reginfo_handle_notify(notify(reginfo("terminated")), "location", SECOND) == 2
    assert ul.get_urecord("location", "alice@example.com") is None


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"server_address": "sip:r@h"}, "pua_reginfo: default domain parameter not set"),
        ({"default_domain": "d"}, "pua_reginfo: server_address parameter not set"),
        ({"server_address": "sip:r@h", "publish_reginfo": 0}, None),
        ({"default_domain": "d", "server_address": "sip:r@h", "publish_reginfo": "1"}, "must be an integer"),
    ],
)
def test_mod_init(params: dict, reason: str | None) -> None:
    if reason is None:
        assert PuaReginfoConfig.from_params(params).publish_reginfo == 0
        return
    with pytest.raises(CompanionStartupError, match=reason):
        PuaReginfoConfig.from_params(params)


def test_publish_reginfo_0_registers_no_callbacks() -> None:
    pua = Pua(load_config({"outbound_proxy": "sip:127.0.0.1:5060"}), epoch=EPOCH)
    ul = Usrloc(epoch=EPOCH)
    PuaReginfo(pua, ul, PuaReginfoConfig(server_address="sip:r@h", publish_reginfo=0))
    assert ul.callbacks == []


def test_disable_publish_skips_the_next_callback_of_its_process_only() -> None:
    """master's reginfo_disable_publish() (§9.5.1, §11.2): consumed by the first callback it suppresses."""
    pua, ul, ri = make("kamailio-master")
    assert ri.reginfo_disable_publish() == 1
    rec = ul.insert_urecord("location", "alice")
    c = ul.insert_ucontact(rec, "sip:a@1", ContactInfo(EPOCH + 60, "c1", 1), 0)
    assert sent(pua) == []
    ul.update_ucontact(rec, c, ContactInfo(EPOCH + 60, "c1", 2), SECOND)
    assert len(sent(pua)) == 1
    ri.process = "timer"
    ri.reginfo_disable_publish()
    ri.process = "worker"
    ul.update_ucontact(rec, c, ContactInfo(EPOCH + 60, "c1", 3), 2 * SECOND)
    assert len(sent(pua)) == 1, "the timer process's flag does not touch the worker"
