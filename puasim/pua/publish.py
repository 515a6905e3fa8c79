"""send_publish and its reply handler (pua-reference §3).

Every function takes the :class:`~puasim.pua.model.Pua` it works for and the
current time in epoch seconds (``now``) or microseconds (``now_us``) as named.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from puasim.pua.constants import (
    ERR_PUBLISH_NO_BODY,
    INSERT_TYPE,
    MAX_FORWARDS,
    REQ_ME,
    REQ_OTHER,
    UPDATE_TYPE,
    Source,
)
from puasim.pua.events import NullProcessorCrash
from puasim.pua.info import Hentity, PublInfo
from puasim.pua.policy import TIMER
from puasim.sip import headers as H
from puasim.sip.message import Response
from puasim.store.record import PuaRecord

if TYPE_CHECKING:
    from puasim.pua.model import Pua

#: the two pua_rpc source flags that never get 412 recovery (§3.8 row 3, D4)
RPC_SOURCES = (int(Source.RPC_PUBLISH), int(Source.RPC_ASYN_PUBLISH))


def publish_expires_header(pua: Pua, expires: int) -> int:
    """§3.5: ``E = expires`` (or default_expires when < 0); ``min_expires`` if E <= 0 else E + 1."""
    e = expires if expires >= 0 else pua.cfg.default_expires
    if e == 0 and pua.cfg.repairs_("B4"):  # repair B4 (§10.2): a removal stays a removal
        return 0
    client = pua.cfg.client
    if client is not None and client.exact_expires:  # the lifetime as asked (puasim.pua.policy)
        return e
    return pua.cfg.min_expires if e <= 0 else e + 1


def publication_key(pres_uri: str, event: int, flag: int, id: str) -> tuple[str, int, int, str]:
    """The key a repaired or client-policy PUA serialises PUBLISHes by (B8)."""
    return (pres_uri, event, flag, id)


def send_publish(pua: Pua, publ: PublInfo, now_us: int, *, process: str = "worker") -> int:
    """§3.3 decision table; returns Kamailio's send_publish value (§3.9)."""
    now = pua.seconds(now_us)
    ev = pua.events.get(publ.event)
    if ev is None:  # row 1
        pua.log("error", f"send_publish: event {publ.event} not registered")
        return -1
    if pua.cfg.repairs_("B8"):  # repair B8 (§10.2, D9): wait for the PUBLISH in flight
        waiting = pua.publish_queue.get(publication_key(publ.pres_uri, publ.event, publ.source_flag, publ.id))
        if waiting is not None:
            waiting.append(publ)
            return 0
    rec = pua.store.find_publication(
        pres_uri=publ.pres_uri, flag=publ.source_flag, event=publ.event, id=publ.id, etag=publ.etag
    )
    if publ.etag and rec is None:  # row 2
        return 418
    flag = publ.flag
    if flag & INSERT_TYPE or rec is None:  # rows 3, 4 -> new publication (row 5)
        if flag & UPDATE_TYPE:
            flag = INSERT_TYPE
        if publ.expires == 0:  # 5b
            return 0
        if publ.body is None:  # 5c
            return ERR_PUBLISH_NO_BODY
        version, stored_tuple, etag_sent, h_etag = 0, "", "", publ.etag
        found = None
    else:  # row 6
        flag = UPDATE_TYPE
        found = rec
        etag_sent = h_etag = rec.etag
        stored_tuple = rec.tuple_id
        version = rec.version
        if publ.expires != 0:  # 6b
            rec.version += 1
            version = rec.version
            pua.store.bump_version(rec)
    body: bytes | None = None
    tuple_id = stored_tuple
    if not (found is not None and publ.expires == 0) and publ.body:  # 6a sends no body
        if ev.processor is None:
            raise NullProcessorCrash(f"PUBLISH with a body for event {ev.name!r}: NULL processor (B14)")
        rc, body, tuple_id = ev.processor(publ.body, version, stored_tuple, pua.make_tuple_id)
        if rc < 0:
            pua.log("error", f"send_publish: body processing failed for {publ.pres_uri} ({ev.name})")
            return -1
    block: list[tuple[str, str]] = [
        ("Max-Forwards", str(MAX_FORWARDS)),
        ("Event", ev.name),
        ("Expires", str(publish_expires_header(pua, publ.expires))),
    ]
    if flag == UPDATE_TYPE:
        block.append(("SIP-If-Match", etag_sent))
    if body:
        block.append(("Content-Type", publ.content_type or ev.content_type))
    try:
        block.extend(pua.extra_header_fields(publ.extra_headers))
    except ValueError as exc:
        pua.log("error", f"send_publish: {exc}")
        return -1
    h = Hentity(
        method="PUBLISH",
        pres_uri=publ.pres_uri,
        event=publ.event,
        flag=publ.source_flag,
        ua_flag=REQ_OTHER,
        desired_expires=0 if publ.expires < 0 else now + publ.expires,
        id=publ.id,
        body=body,
        content_type=publ.content_type,
        etag=h_etag,
        tuple_id=tuple_id,
        extra_headers=publ.extra_headers,
        outbound_proxy=publ.outbound_proxy,
        cb_param=publ.cb_param,
        sent_at=now,
    )
    sent = pua.send_out_of_dialog(
        h, tuple(block), body or b"", publ.outbound_proxy or pua.cfg.outbound_proxy, now_us, process
    )
    if sent is not None and pua.cfg.repairs_("B8"):
        pua.publish_queue[publication_key(h.pres_uri, h.event, h.flag, h.id)] = []
    return 0 if sent is not None else -1


def refresh_publication(pua: Pua, p: PuaRecord, now_us: int) -> int:
    """§5.3 ``update_pua`` for a publication: body-less refresh with SIP-If-Match."""
    now = pua.seconds(now_us)
    ev = pua.events.get(p.event)
    if ev is None:
        return -1
    key = publication_key(p.pres_uri, p.event, p.flag, p.id)
    if pua.cfg.repairs_("B8") and key in pua.publish_queue:  # repair B8: the PUBLISH in flight refreshes
        return 0
    e = pua.cfg.default_expires if p.desired_expires == 0 else p.desired_expires - now
    exact = pua.cfg.client is not None and pua.cfg.client.exact_expires
    block = [
        ("Max-Forwards", str(MAX_FORWARDS)),
        ("Event", ev.name),
        ("Expires", str(e if exact else pua.cfg.min_expires if e <= 0 else e + 1)),
        ("SIP-If-Match", p.etag),
    ]
    try:
        block.extend(pua.extra_header_fields(p.extra_headers))
    except ValueError:
        return -1
    desired = 0 if (p.desired_expires == 0 or p.desired_expires < now) else p.desired_expires
    h = Hentity(
        method="PUBLISH",
        pres_uri=p.pres_uri,
        event=p.event,
        flag=p.flag,
        ua_flag=REQ_ME,
        desired_expires=desired,
        id=p.id,
        etag=p.etag,
        tuple_id=p.tuple_id,
        extra_headers=p.extra_headers,
        sent_at=now,
    )
    sent = pua.send_out_of_dialog(h, tuple(block), b"", pua.cfg.outbound_proxy, now_us, "timer")
    if sent is not None and pua.cfg.repairs_("B8"):
        pua.publish_queue[key] = []
    return 0 if sent is not None else -1


def on_publish_reply(pua: Pua, h: Hentity, reply: Response, faked: bool, now_us: int) -> None:
    """§3.8 ``publ_cback_func``; with repair B8 the next waiting PUBLISH of the key follows."""
    waiting = pua.publish_queue.pop(publication_key(h.pres_uri, h.event, h.flag, h.id), None)
    _handle_publish_reply(pua, h, reply, faked, now_us)
    for i, publ in enumerate(waiting or ()):
        rc = send_publish(pua, publ, now_us)
        pua.api_event("send_publish(queued)", publ, rc)
        later = pua.publish_queue.get(publication_key(publ.pres_uri, publ.event, publ.source_flag, publ.id))
        if later is not None:  # in flight again: the rest waits for its reply
            later.extend(waiting[i + 1 :])  # type: ignore[index]
            break


def _handle_publish_reply(pua: Pua, h: Hentity, reply: Response, faked: bool, now_us: int) -> None:
    now = pua.seconds(now_us)
    key: dict[str, Any] = dict(pres_uri=h.pres_uri, flag=h.flag, event=h.event, id=h.id, etag=h.etag)
    if faked:  # row 2: a local timeout keeps every record as it is
        pua.run_callbacks(h, reply, faked, now_us)
        return
    if reply.status >= 300:  # row 3
        # repair B7 (§10.2): an initial PUBLISH made no record, so its failure deletes none
        gone = [] if not h.etag and pua.cfg.repairs_("B7") else pua.store.delete_publication(**key)
        for rec in gone:
            pua.record_changed("deleted", rec, now_us, f"{reply.status} reply")
        if reply.status == 412 and h.body and h.flag not in RPC_SOURCES:
            _republish_after_412(pua, h, now, now_us)
        elif reply.status == 412 and h.ua_flag == REQ_ME and pua.cfg.repairs_("B9"):
            _republish_refresh_after_412(pua, h, now, now_us)
        elif reply.status == 423 and h.body and h.ua_flag == REQ_OTHER and pua.cfg.repairs_("D1"):
            _retry_after_423(pua, h, reply, now, now_us)
        elif reply.status == 423 and h.body and pua.cfg.client is not None:
            _schedule_423_retry(pua, h, reply, now_us)
        pua.run_callbacks(h, reply, faked, now_us)
        return
    lexpire = H.expires_or_none(reply)
    if lexpire is None:  # row 4
        pua.log("error", "2xx to PUBLISH without a usable Expires: reply ignored")
        return
    etag = H.sip_etag_raw(reply)  # the raw header body, token or not, as publ_cback_func takes it
    if etag is None:  # row 5
        pua.log("error", "2xx to PUBLISH without SIP-ETag: reply ignored")
        return
    if lexpire == 0:  # row 6
        for rec in pua.store.delete_publication(**key):
            pua.record_changed("deleted", rec, now_us, "Expires 0 in 2xx")
        pua.run_callbacks(h, reply, faked, now_us)
        return
    if h.body and pua.cfg.repairs_("B9"):  # repair B9: remember the body a refresh may have to re-publish
        pua.last_bodies[(h.pres_uri, h.event, h.flag, h.id)] = (h.body, h.content_type)
    rec = pua.store.update_publication(key, etag, now + lexpire, h.desired_expires) if h.etag else None
    if rec is not None:  # row 7
        pua.record_changed("refreshed" if h.ua_flag == REQ_ME else "updated", rec, now_us)
    else:  # row 8
        rec = PuaRecord(
            pres_uri=h.pres_uri,
            id=h.id,
            tuple_id=h.tuple_id,
            extra_headers=h.extra_headers,
            desired_expires=h.desired_expires,
            expires=now + lexpire,
            flag=h.flag,
            event=h.event,
            etag=etag,
            version=0,
        )
        pua.insert_record(rec, now_us)
    client = pua.cfg.client
    if client is not None:  # the stack's own refresh timer replaces the sweep (puasim.pua.policy)
        timer = (TIMER, "refresh", h.pres_uri, h.event, h.flag, h.id)
        pua.outbox.set_timer(timer, now_us + client.refresh_delay_ms(lexpire) * 1000)
    pua.run_callbacks(h, reply, faked, now_us)


def _initial_again(h: Hentity, expires: int) -> PublInfo:
    """The publication ``h`` belongs to, as a new initial PUBLISH asking for ``expires``."""
    return PublInfo(
        pres_uri=h.pres_uri,
        event=h.event,
        source_flag=h.flag,
        expires=expires,
        body=h.body,
        content_type=h.content_type,
        id=h.id,
        outbound_proxy=h.outbound_proxy,
        extra_headers=h.extra_headers,
        cb_param=h.cb_param,
    )


def _republish_after_412(pua: Pua, h: Hentity, now: int, now_us: int) -> None:
    """§3.8.1: a fresh initial PUBLISH with the already processed body."""
    if h.desired_expires == 0:
        expires = -1
    elif h.desired_expires <= now:
        expires = 0
    else:
        expires = h.desired_expires - now + 3
    publ = _initial_again(h, expires)
    rc = send_publish(pua, publ, now_us)
    pua.api_event("send_publish(412 recovery)", publ, rc)


def _republish_refresh_after_412(pua: Pua, h: Hentity, now: int, now_us: int) -> None:
    """Repair B9 (§10.2, D4): a 412 to a timer refresh re-publishes the last body.

    Kamailio only deletes the record (§3.8 row 3); repaired, the body last sent
    for the key goes out as a fresh initial PUBLISH, as §3.8.1 does for
    application PUBLISHes.
    """
    saved = pua.last_bodies.get((h.pres_uri, h.event, h.flag, h.id))
    if saved is None:
        return
    body, ctype = saved
    _republish_after_412(pua, replace(h, body=body, content_type=ctype), now, now_us)


def _retry_after_423(pua: Pua, h: Hentity, reply: Response, now: int, now_us: int) -> None:
    """Repair D1 (§10.1; RFC 3903 §4.1, RFC 3261 §21.4.17): retry a 423 with the reply's Min-Expires.

    Kamailio never reads Min-Expires and drops the publication.  Repaired, an
    application PUBLISH whose requested lifetime was too brief is sent once more
    as a new initial PUBLISH asking for Min-Expires seconds; a 423 without a
    larger Min-Expires is not retried (no loop).
    """
    minimum = H.min_expires(reply)
    asked = h.desired_expires - h.sent_at if h.desired_expires else pua.cfg.default_expires
    if minimum is None or minimum <= asked:
        pua.log("error", f"423 to PUBLISH for {h.pres_uri} without a usable Min-Expires: not retried")
        return
    publ = _initial_again(h, minimum)
    rc = send_publish(pua, publ, now_us)
    pua.api_event("send_publish(423 retry)", publ, rc)


def _schedule_423_retry(pua: Pua, h: Hentity, reply: Response, now_us: int) -> None:
    """sipsimple (``Publisher._CH_publish``): retry a 423 later, with Min-Expires if larger."""
    client = pua.cfg.client
    if client is None or client.retry_423_after is None:
        return  # pjsua: publish_cb gives up
    asked = h.desired_expires - h.sent_at if h.desired_expires else pua.cfg.default_expires
    minimum = H.min_expires(reply)
    publ = _initial_again(
        h, minimum if minimum is not None and minimum > asked else (asked if h.desired_expires else -1)
    )
    low, high = client.retry_423_after
    delay_us = int(pua.rng.uniform(low, high) * 1_000_000)
    pua.policy_retries[(h.pres_uri, h.event, h.flag, h.id)] = publ
    pua.outbox.set_timer((TIMER, "retry", h.pres_uri, h.event, h.flag, h.id), now_us + delay_us)


def on_policy_timer(pua: Pua, key: tuple, now_us: int) -> None:
    """A client policy's refresh or 423-retry timer fired (:mod:`puasim.pua.policy`)."""
    _, kind, pres_uri, event, flag, id_ = key
    if kind == "retry":
        publ = pua.policy_retries.pop((pres_uri, event, flag, id_), None)
        if publ is not None:
            rc = send_publish(pua, publ, now_us)
            pua.api_event("send_publish(423 retry)", publ, rc)
        return
    rec = pua.store.find_publication(pres_uri=pres_uri, flag=flag, event=event, id=id_, etag="")
    if rec is None:
        return
    if rec.desired_expires == 0 or rec.desired_expires > rec.expires:
        refresh_publication(pua, rec, now_us)
