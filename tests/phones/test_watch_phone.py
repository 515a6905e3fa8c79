"""A BLF phone subscribes to other extensions' dialog state (RFC 4235 §3, RFC 6665 §4.1)."""

from __future__ import annotations

import random

from puasim.effects import SECOND, Emit, Send, SetTimer
from puasim.phones import Phone, PhoneConfig
from puasim.sip.message import Request, Response

EDGE = ("127.0.0.1", 5080)
SERVER = ("127.0.0.1", 5060)
PHONE = ("127.0.0.1", 5094)
BOB = "sip:bob@127.0.0.1"


def phone(**kw: object) -> Phone:
    cfg = PhoneConfig(name="carol", aor="sip:carol@127.0.0.1", address=PHONE, registrar=EDGE,
                      contacts=("sip:carol@127.0.0.1:5094",), presence_server=SERVER, **kw)  # type: ignore[arg-type]
    return Phone(cfg, random.Random(1))


def effects(p: Phone) -> list:
    return p.outbox.take()


def sent(effs: list) -> list[Request]:
    return [e.message for e in effs if isinstance(e, Send)]


def answer(req: Request, status: int, expires: int | None = 600, tag: str = "srv1") -> Response:
    headers = [(n, v) for n, v in req.headers if n in ("Via", "From", "Call-ID", "CSeq")]
    to = req.get("to")
    headers.append(("To", to if ";tag=" in to else f"{to};tag={tag}"))
    if expires is not None:
        headers.append(("Expires", str(expires)))
    headers.append(("Content-Length", "0"))
    return Response(status, "OK" if status < 300 else "Call Does Not Exist", tuple(headers))


def notify(sub: Request, state: str) -> Request:
    return Request("NOTIFY", "sip:carol@127.0.0.1:5094", (
        ("Via", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-n1"), ("From", f"<{BOB}>;tag=srv1"),
        ("To", sub.get("from")), ("Call-ID", sub.get("call-id")), ("CSeq", "1 NOTIFY"), ("Event", "dialog"),
        ("Subscription-State", state), ("Content-Length", "0")))


def test_start_subscribes_to_every_watched_aor_at_the_presence_server() -> None:
    p = phone(watch=(BOB, "sip:dave@127.0.0.1"), watch_expires=600)
    p.start(0)
    effs = effects(p)
    subs = sent(effs)
    assert [s.uri for s in subs] == [BOB, "sip:dave@127.0.0.1"]
    assert all(e.dest == SERVER for e in effs if isinstance(e, Send))
    s = subs[0]
    assert (s.method, s.get("event"), s.get("accept"), s.get("expires")) == (
        "SUBSCRIBE", "dialog", "application/dialog-info+xml", "600")
    assert s.get("to") == f"<{BOB}>" and s.get("contact") == "<sip:carol@127.0.0.1:5094>"
    assert s.get("call-id") != subs[1].get("call-id")


def test_refresh_in_the_dialog_at_half_the_grant() -> None:
    p = phone(watch=(BOB,))
    p.start(0)
    sub = sent(effects(p))[0]
    p.receive(answer(sub, 200, expires=600), SERVER, SECOND)
    timers = [e for e in effects(p) if isinstance(e, SetTimer) and e.key == ("watch", BOB)]
    assert [t.at for t in timers] == [SECOND + 300 * SECOND]
    p.timer(("watch", BOB), timers[0].at)
    refresh = sent(effects(p))[0]
    assert refresh.get("to") == f"<{BOB}>;tag=srv1" and refresh.get("cseq") == "2 SUBSCRIBE"
    assert refresh.get("call-id") == sub.get("call-id")


def test_refresh_answered_481_starts_a_new_subscription() -> None:
    p = phone(watch=(BOB,))
    p.start(0)
    sub = sent(effects(p))[0]
    p.receive(answer(sub, 200), SERVER, SECOND)
    effects(p)
    p.timer(("watch", BOB), 301 * SECOND)
    refresh = sent(effects(p))[0]
    p.receive(answer(refresh, 481, expires=None), SERVER, 302 * SECOND)
    again = sent(effects(p))
    assert len(again) == 1 and again[0].get("to") == f"<{BOB}>" and again[0].get("call-id") != sub.get("call-id")


def test_terminated_notify_resubscribes_for_timeout_but_not_for_rejected() -> None:
    p = phone(watch=(BOB,))
    p.start(0)
    sub = sent(effects(p))[0]
    p.receive(answer(sub, 200), SERVER, SECOND)
    effects(p)
    p.receive(notify(sub, "terminated;reason=timeout"), SERVER, 2 * SECOND)
    out = sent(effects(p))
    assert out[0].status == 200
    assert [m.method for m in out[1:]] == ["SUBSCRIBE"] and out[1].get("call-id") != sub.get("call-id")
    second = out[1]
    p.receive(answer(second, 200, tag="srv2"), SERVER, 3 * SECOND)
    effects(p)
    p.receive(notify(second, "terminated;reason=rejected"), SERVER, 4 * SECOND)
    assert [m.status for m in sent(effects(p))] == [200]


def test_other_failures_stop_the_watch_with_a_note() -> None:
    p = phone(watch=(BOB,))
    p.start(0)
    sub = sent(effects(p))[0]
    p.receive(answer(sub, 403, expires=None), SERVER, SECOND)
    effs = effects(p)
    assert not sent(effs)
    assert any(isinstance(e, Emit) and "watch stops" in getattr(e.event, "text", "") for e in effs)


def test_a_phone_without_watch_has_no_subscriptions() -> None:
    p = Phone(PhoneConfig(name="x", aor="sip:x@h", address=PHONE, registrar=EDGE, contacts=("sip:x@h",)),
              random.Random(5))
    p.start(0)
    assert p.watches is None and not sent(effects(p))
