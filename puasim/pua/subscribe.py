"""send_subscribe, its reply handler, refreshes and the NOTIFY-side helpers (pua-reference §4, §6, §7.2).

pua itself never answers NOTIFY (§4.11): the Kamailio script around it does.
:class:`NotifyPolicy` is that script; the default is the lab's ``pua.cfg``
(call ``pua_update_contact()`` and answer ``200 OK`` to every NOTIFY).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from puasim.pua import subpolicy
from puasim.pua.constants import (
    INSERT_TYPE,
    MAX_FORWARDS,
    REQ_ME,
    REQ_OTHER,
    TEMPORARY_DIALOG_LIFETIME,
    Source,
)
from puasim.pua.errors import KamailioCrash, StoreError
from puasim.pua.info import Hentity, SubsInfo
from puasim.pua.tm import NextHopError
from puasim.sip import headers as H
from puasim.sip.errors import SipParseError
from puasim.sip.message import Request, Response
from puasim.store.record import PuaRecord

if TYPE_CHECKING:
    from puasim.pua.model import Pua
    from puasim.txn.transactions import ServerTransaction

ALL_FLAGS = (1 << 18) - 1
MAX_ROUTES = 63


def subscribe_expires_header(pua: Pua, expires: int, subs: SubsInfo | None = None) -> int:
    """§4.2: ``E`` (default_expires when < 0); ``min_expires`` if E <= min_expires else E + 10."""
    client = pua.cfg.client
    if client is not None:  # another stack's Expires (puasim.pua.subpolicy)
        return subpolicy.expires_header(pua, client, expires, subs)
    e = expires if expires >= 0 else pua.cfg.default_expires
    if e == 0 and pua.cfg.repairs_("B4"):  # repair B4 (§10.2): an un-SUBSCRIBE stays one
        return 0
    return pua.cfg.min_expires if e <= pua.cfg.min_expires else e + 10


def _block(pua: Pua, event_name: str, contact: str, expires_hdr: int, extra: str) -> tuple[tuple[str, str], ...]:
    return (
        ("Max-Forwards", str(MAX_FORWARDS)),
        ("Event", event_name),
        ("Contact", f"<{contact}>"),
        ("Expires", str(expires_hdr)),
        *pua.extra_header_fields(extra),
    )


def send_subscribe(pua: Pua, subs: SubsInfo, now_us: int, *, process: str = "worker") -> int:
    """§4.3 decision table; returns Kamailio's send_subscribe value (§4.9)."""
    now = pua.seconds(now_us)
    flag_orig = subs.source_flag
    source_flag = int(Source.XMPP_SUBSCRIBE) if flag_orig & Source.XMPP_INITIAL_SUBS else flag_orig
    ev = pua.events.get(subs.event)
    if ev is None:  # row 1
        pua.log("error", f"send_subscribe: event {subs.event} not registered")
        return -1
    if subs.expires == 0 and pua.cfg.client is not None:  # the stack forgets a pending re-subscribe
        subpolicy.forget(pua, subs)
    try:
        block = _block(pua, ev.name, subs.contact, subscribe_expires_header(pua, subs.expires, subs), subs.extra_headers)
    except ValueError as exc:
        pua.log("error", f"send_subscribe: {exc}")
        return -1
    rec = pua.store.find_dialog_for_subscribe(
        pres_uri=subs.pres_uri,
        watcher_uri=subs.watcher_uri,
        flag=source_flag,
        event=subs.event,
        id=subs.id,
        remote_target=subs.remote_target,
        any_target=subs.remote_target is None and pua.cfg.repairs_("B2"),  # repair B2 (§2.5.2)
    )
    if subs.flag & INSERT_TYPE or rec is None:  # row 2
        if subs.expires == 0:  # 2a
            return 0
        h = Hentity(
            method="SUBSCRIBE",
            pres_uri=subs.pres_uri,
            watcher_uri=subs.watcher_uri,
            contact=subs.contact,
            outbound_proxy=subs.outbound_proxy,
            id=subs.id,
            extra_headers=subs.extra_headers,
            event=subs.event,
            flag=flag_orig,
            cb_param=subs.cb_param,
            ua_flag=REQ_OTHER,
            desired_expires=0 if subs.expires < 0 else now + subs.expires,
            sent_at=now,
        )
        sent = pua.send_out_of_dialog(
            h, block, b"", subs.outbound_proxy, now_us, process,
            ruri=subs.remote_target or subs.pres_uri, from_uri=subs.watcher_uri,
        )
        if sent is None:  # 2c: tm failure is not reported (B32)
            return 0
        call_id, from_tag = sent
        temp = PuaRecord(
            pres_uri=subs.pres_uri,
            watcher_uri=subs.watcher_uri,
            call_id=call_id,
            from_tag=from_tag,
            id=subs.id,
            event=subs.event,
            flag=source_flag,
            cseq=10,
            expires=now + TEMPORARY_DIALOG_LIFETIME,
            desired_expires=now + TEMPORARY_DIALOG_LIFETIME,
        )
        try:
            pua.insert_record(temp, now_us)
        except StoreError as exc:  # Kamailio ignores the insert's result
            pua.log("error", f"send_subscribe: temporary dialog not stored: {exc}")
        return 0
    if subs.internal_update_flag == 1:  # row 3
        return 0
    if not rec.to_tag:  # temporary (Kamailio tests to_tag.len == 0)
        if subs.expires > 0 or (subs.expires < 0 and pua.cfg.repairs_("B31")):  # row 4 (repair B31: -1 too)
            pua.log("warning", "send_subscribe: dialog still temporary, nothing sent")
            return 0
        for gone in pua.store.delete_dialog(  # row 5 (B31)
            pres_uri=rec.pres_uri, watcher_uri=rec.watcher_uri, call_id=rec.call_id,
            from_tag=rec.from_tag, to_tag=rec.to_tag,
        ):
            pua.record_changed("deleted", gone, now_us, "re-subscribe matched a temporary dialog")
        return 0
    # row 6: in-dialog SUBSCRIBE (§4.5)
    e = subs.expires if subs.expires >= 0 else pua.cfg.default_expires
    indefinite = subs.expires < 0 and pua.cfg.repairs_("B3")  # repair B3: -1 stays indefinite
    h = _in_dialog_hentity(rec, REQ_OTHER, desired=0 if indefinite else now + e, now=now)
    return _send_in_dialog(pua, rec, h, block, now_us)


def _in_dialog_hentity(rec: PuaRecord, ua_flag: int, desired: int, now: int) -> Hentity:
    """§4.5: copied from the record (cb_param is None: records keep none, B33)."""
    return Hentity(
        method="SUBSCRIBE",
        pres_uri=rec.pres_uri,
        watcher_uri=rec.watcher_uri,
        contact=rec.contact,
        id=rec.id,
        remote_contact=rec.remote_contact,
        extra_headers=rec.extra_headers,
        to_tag=rec.to_tag,
        from_tag=rec.from_tag,
        call_id=rec.call_id,
        flag=rec.flag,
        event=rec.event,
        ua_flag=ua_flag,
        desired_expires=desired,
        sent_at=now,
    )


def _send_in_dialog(pua: Pua, rec: PuaRecord, h: Hentity, block: tuple[tuple[str, str], ...], now_us: int) -> int:
    routes = [r.strip() for r in rec.record_route.split(",") if r.strip()] if rec.record_route else []
    try:
        pua.tm.request_within(
            method="SUBSCRIBE",
            call_id=rec.call_id,
            local_uri=rec.watcher_uri,
            local_tag=rec.from_tag,
            remote_uri=rec.pres_uri,
            remote_tag=rec.to_tag,
            remote_target=rec.remote_contact or rec.pres_uri,
            route_set=routes,
            cseq=rec.cseq + 1,
            block=block,
            body=b"",
            now=now_us,
            on_final=pua._on_final,
            context=h,
        )
    except NextHopError as exc:
        pua.log("error", f"tm: {exc}")
        return -1
    return 0


def refresh_dialog(pua: Pua, p: PuaRecord, now_us: int, expires_header: int | None = None) -> int:
    """§5.3 ``update_pua`` for a dialog: in-dialog SUBSCRIBE built from the record.

    ``expires_header``: a client policy's refresh (:mod:`puasim.pua.subpolicy`)
    asks for that and keeps the record's desired time as it is.
    """
    now = pua.seconds(now_us)
    ev = pua.events.get(p.event)
    if ev is None:
        return -1
    if expires_header is not None:
        try:
            block = _block(pua, ev.name, p.contact, expires_header, p.extra_headers)
        except ValueError:
            return -1
        return _send_in_dialog(pua, p, _in_dialog_hentity(p, REQ_ME, p.desired_expires, now), block, now_us)
    e = pua.cfg.default_expires if p.desired_expires == 0 else p.desired_expires - now
    x = pua.cfg.min_expires if e <= pua.cfg.min_expires else e + 10
    try:
        block = _block(pua, ev.name, p.contact, x, p.extra_headers)
    except ValueError:
        return -1
    if p.desired_expires == 0 and pua.cfg.repairs_("B3"):  # repair B3 (§10.2): stays indefinite
        desired = 0
    else:
        desired = now + e if e >= 0 else 0
    h = _in_dialog_hentity(p, REQ_ME, desired=desired, now=now)
    return _send_in_dialog(pua, p, h, block, now_us)


# -- replies (§4.6) ------------------------------------------------------------------


def _uri_of(value: Any) -> str:
    return value.uri if value is not None else ""


def on_subscribe_reply(pua: Pua, h: Hentity, reply: Response, faked: bool, request: Request, now_us: int) -> None:
    """§4.6 ``subs_cback_func``."""
    now = pua.seconds(now_us)
    flag_orig = h.flag
    if flag_orig & Source.XMPP_INITIAL_SUBS:
        h.flag = int(Source.XMPP_SUBSCRIBE)
    # §4.6: record operations use the converted flag, callbacks see the original one (§4.8)
    pua.defer_callbacks = []
    try:
        _handle_subscribe_reply(pua, h, reply, faked, request, now, now_us, flag_orig)
    finally:
        h.flag = flag_orig
        deferred, pua.defer_callbacks = pua.defer_callbacks, None
    for args in deferred:
        pua.run_callbacks(*args)


def _delete_by_ids(
    pua: Pua, h: Hentity, call_id: str, from_tag: str, reason: str, now_us: int, to_tag: str = ""
) -> None:
    for rec in pua.store.delete_dialog(
        pres_uri=h.pres_uri, watcher_uri=h.watcher_uri, call_id=call_id, from_tag=from_tag, to_tag=to_tag
    ):
        pua.record_changed("deleted", rec, now_us, reason)


def _handle_subscribe_reply(
    pua: Pua, h: Hentity, reply: Response, faked: bool, request: Request, now: int, now_us: int, flag_orig: int
) -> None:
    lexpire = H.expires_or_none(reply) or 0
    initial = not h.call_id
    if faked:  # row 2: ids from our own request; deletes temporary or established
        req_from = H.from_(request)
        req_tag = (req_from.tag if req_from is not None else None) or ""
        _delete_by_ids(pua, h, request.get("call-id") or "", req_tag, "local timeout", now_us)
        subpolicy.after_failure(pua, h, 408, initial, None, now_us)  # client policies only
        pua.run_callbacks(h, reply, faked, now_us)
        return
    try:
        call_id = H.call_id(reply)
        r_from = H.from_(reply)
        r_to = H.to(reply)
    except SipParseError:
        call_id, r_from, r_to = None, None, None
    if initial:
        if not call_id or r_from is None or not r_from.tag:  # row 3
            pua.log("error", "reply to initial SUBSCRIBE without Call-ID or From tag")
            return
        if reply.status >= 300 or lexpire == 0:  # row 4: no retry
            _delete_by_ids(pua, h, call_id, r_from.tag, f"{reply.status} to initial SUBSCRIBE", now_us)
            if reply.status >= 300:  # client policies retry later (puasim.pua.subpolicy)
                subpolicy.after_failure(pua, h, reply.status, True, H.min_expires(reply), now_us)
            pua.run_callbacks(h, reply, faked, now_us)
            return
        if r_to is None or not r_to.tag:  # row 5
            pua.log("error", "2xx to initial SUBSCRIBE without To tag")
            return
    else:
        if reply.status >= 300:  # row 6 (B6)
            ending = "policy" if pua.cfg.client is not None else _in_dialog_error(pua, h, reply.status)
            if ending != "keep":
                _delete_by_ids(pua, h, h.call_id, h.from_tag, f"{reply.status} to in-dialog SUBSCRIBE", now_us)
            if ending == "resubscribe":
                _resubscribe(pua, h, flag_orig, now, now_us)
            elif ending == "policy":
                subpolicy.after_failure(pua, h, reply.status, False, H.min_expires(reply), now_us)
            pua.run_callbacks(h, reply, faked, now_us)
            return
        if lexpire == 0:  # row 7
            _delete_by_ids(pua, h, h.call_id, h.from_tag, "Expires 0 in 2xx", now_us)
            pua.run_callbacks(h, reply, faked, now_us)
            return
    try:  # row 8
        contacts = H.contact_list(reply)
        cseq = H.cseq(reply)
    except SipParseError:
        contacts, cseq = [], None
    if not contacts or cseq is None:
        pua.log("error", "2xx to SUBSCRIBE without a parsable Contact or CSeq")
        return
    remote_contact = contacts[0].uri
    if not initial:  # row 9
        key = dict(
            pres_uri=h.pres_uri, watcher_uri=h.watcher_uri, call_id=h.call_id,
            to_tag=h.to_tag, from_tag=h.from_tag, flag=h.flag,
        )
        rec = pua.store.update_dialog(
            key, expires=now + lexpire, desired=h.desired_expires, reply_cseq=cseq.seq, remote_contact=remote_contact
        )
        if rec is not None:
            pua.record_changed("refreshed" if h.ua_flag == REQ_ME else "updated", rec, now_us)
            subpolicy.arm_refresh(pua, rec, lexpire, now_us)
        pua.run_callbacks(h, reply, faked, now_us)
        return
    # rows 10/11: temporary -> established (§4.7), searched in the bucket of the reply's To/From
    # only the initial 2xx is left here, and rows 3/5 checked its Call-ID and tags
    to_uri, from_uri = _uri_of(r_to), _uri_of(r_from)
    dialog_call_id = call_id or ""
    to_tag = (r_to.tag if r_to is not None else None) or ""
    from_tag = (r_from.tag if r_from is not None else None) or ""
    rr_values = []
    try:
        rr_values = [str(r) for r in H.record_route_list(reply)]
    except SipParseError:
        rr_values = []
    route = ",".join(reversed(rr_values)) if len(rr_values) <= MAX_ROUTES else ""
    rec = PuaRecord(
        pres_uri=to_uri,
        watcher_uri=from_uri,
        call_id=dialog_call_id,
        to_tag=to_tag,
        from_tag=from_tag,
        record_route=route,
        contact=h.contact,
        id=h.id,
        extra_headers=h.extra_headers,
        remote_contact=remote_contact,
        event=h.event,
        flag=h.flag,
        cseq=cseq.seq,
        desired_expires=h.desired_expires,
        expires=now + lexpire,
        version=0,
    )
    temp_key = dict(pres_uri=to_uri, watcher_uri=from_uri, call_id=dialog_call_id, from_tag=from_tag)
    temp = pua.store.convert_temporary(temp_key, rec)
    if temp is None:  # row 11
        pua.log("error", "temporary dialog not found for 2xx: new dialog discarded")
        return
    if temp is not rec:  # db_mode 2 inserts without a temporary row to replace
        pua.record_changed("deleted", temp, now_us, "temporary replaced by established dialog")
    pua.record_changed("created", rec, now_us)
    subpolicy.arm_refresh(pua, rec, lexpire, now_us)
    pua.run_callbacks(h, reply, faked, now_us)


#: RFC 6665 §4.1.2.2: after these a subscription is gone; 408 and 481 are worth a new one
GONE_RETRY = (408, 481)
GONE_FOR_GOOD = (405, 489, 501)


def _in_dialog_error(pua: Pua, h: Hentity, status: int) -> str:
    """What an error reply to an in-dialog SUBSCRIBE does: ``resubscribe``, ``end`` or ``keep``.

    Kamailio deletes the dialog and re-subscribes on every code (§4.6 row 6,
    §10.2 B6), also after an un-SUBSCRIBE (B5).  Repair B5: a failed
    un-SUBSCRIBE (desired time not after the send time) just ends the dialog.
    Repair B6 follows RFC 6665 §4.1.2.2: only 405, 408, 481, 489 and 501 end
    the subscription, and of those only 408 and 481 are worth a new initial
    SUBSCRIBE; after any other error the dialog stays valid until its known
    expiry (a failed un-SUBSCRIBE still ends it).
    """
    unsubscribe = h.desired_expires != 0 and h.desired_expires <= h.sent_at
    if unsubscribe and pua.cfg.repairs_("B5"):
        return "end"
    if not pua.cfg.repairs_("B6"):
        return "resubscribe"
    if status in GONE_RETRY:
        return "resubscribe"
    if status in GONE_FOR_GOOD or unsubscribe:
        return "end"
    return "keep"


def _resubscribe(pua: Pua, h: Hentity, flag_orig: int, now: int, now_us: int) -> None:
    """§4.6.1: a new initial SUBSCRIBE after an error on an in-dialog request."""
    if h.desired_expires == 0:
        expires = -1
    elif h.desired_expires < now:
        expires = 0
    else:
        expires = h.desired_expires - now + 3
    subs = SubsInfo(
        pres_uri=h.pres_uri,
        watcher_uri=h.watcher_uri,
        contact=h.contact,
        remote_target=h.remote_contact or None,
        flag=INSERT_TYPE,
        source_flag=flag_orig,
        event=h.event,
        id=h.id,
        extra_headers=h.extra_headers,
        outbound_proxy=h.outbound_proxy,
        cb_param=h.cb_param,
        expires=expires,
    )
    rc = send_subscribe(pua, subs, now_us)
    pua.api_event("send_subscribe(re-subscribe)", subs, rc)


# -- query API (§7.2) ---------------------------------------------------------------


def is_dialog(pua: Pua, *, pres_uri: str, watcher_uri: str, call_id: str, to_tag: str, from_tag: str, flag: int = ALL_FLAGS) -> int:
    """0 established, 1 "temporary" (Call-ID + From-tag match), −1 none."""
    if hasattr(pua.store, "is_dialog"):
        return pua.store.is_dialog(call_id=call_id, to_tag=to_tag, from_tag=from_tag)
    if pua.store.get_dialog(
        pres_uri=pres_uri, watcher_uri=watcher_uri, call_id=call_id, to_tag=to_tag, from_tag=from_tag, flag=flag
    ):
        return 0
    if pua.store.get_temporary_dialog(pres_uri=pres_uri, watcher_uri=watcher_uri, call_id=call_id, from_tag=from_tag):
        return 1
    return -1


def get_record_id(
    pua: Pua, *, pres_uri: str, watcher_uri: str, call_id: str, to_tag: str, from_tag: str, flag: int = ALL_FLAGS
) -> tuple[int, str | None]:
    rec = pua.store.get_dialog(
        pres_uri=pres_uri, watcher_uri=watcher_uri, call_id=call_id, to_tag=to_tag, from_tag=from_tag, flag=flag
    ) or pua.store.get_temporary_dialog(pres_uri=pres_uri, watcher_uri=watcher_uri, call_id=call_id, from_tag=from_tag)
    return 0, (rec.id if rec is not None else None)


def get_subs_list(pua: Pua, did: str) -> list[str]:
    """pres_uri of every record whose id starts with ``did``, sorted (B18: prefix match)."""
    return sorted(r.pres_uri for r in pua.store.records() if r.id.startswith(did))


# -- the script around pua: NOTIFY handling (§4.11, §6) -------------------------------


@dataclass(frozen=True, slots=True)
class NotifyPolicy:
    """How the Kamailio script around pua answers in-coming requests.

    ``update_contact``: call ``pua_update_contact()`` on every NOTIFY (lab pua.cfg does).
    ``check_dialog``: answer 481 to a NOTIFY that ``is_dialog`` does not know
    (the lab script answers 200 to every NOTIFY; ``False`` reproduces that).
    """

    update_contact: bool = True
    check_dialog: bool = False


def answer_request(pua: Pua, txn: ServerTransaction, now_us: int) -> None:
    req = txn.request
    if req.method == "ACK":
        return
    if req.method != "NOTIFY":
        status, reason = (200, "Keepalive") if req.method == "OPTIONS" else (405, "Method Not Allowed")
        txn.respond(_reply(req, status, reason), now_us)
        return
    for hook in pua.notify_hooks:  # a script branch that takes this NOTIFY and exits (pua_xmpp, §9.6)
        answer = hook(req, now_us)
        if answer is not None:
            if answer:
                txn.respond(_reply(req, 200, "OK"), now_us)
            return
    policy = pua.notify_policy
    if policy.update_contact:
        rc = pua_update_contact(pua, req, now_us)
        pua.log("debug", f"pua_update_contact() returned {rc}")
    if policy.check_dialog:
        try:
            f, t = H.from_(req), H.to(req)
            known = -1 if f is None or t is None else is_dialog(
                pua, pres_uri=f.uri, watcher_uri=t.uri, call_id=H.call_id(req) or "",
                to_tag=f.tag or "", from_tag=t.tag or "",
            )
        except SipParseError:
            known = -1
        if known < 0:
            txn.respond(_reply(req, 481, "Call/Transaction Does Not Exist"), now_us)
            return
    txn.respond(_reply(req, 200, "OK"), now_us)
    if pua.cfg.client is not None:  # the stack acts on NOTIFY terminated (puasim.pua.subpolicy)
        subpolicy.on_notify(pua, req, now_us)


def _reply(req: Request, status: int, reason: str) -> Response:
    keep = []
    for name, value in req.headers:
        low = name.lower()
        if low in ("via", "v", "from", "f", "call-id", "i", "cseq"):
            keep.append((name, value))
        elif low in ("to", "t"):
            keep.append((name, value if ";tag=" in value else value + ";tag=pua-script"))
    keep.append(("Content-Length", "0"))
    return Response(status, reason, tuple(keep), b"")


def pua_update_contact(pua: Pua, notify: Request, now_us: int) -> int:
    """§6 as Kamailio implements it, bugs included (B1).

    The key takes the NOTIFY's To-tag as the remote tag and its From-tag as
    the local tag — the wrong way round — so in db_mode 0 a normal NOTIFY
    never matches (−1); db_mode 2 updates nothing and still returns 1.  A
    match in db_mode 0 would free the stored contact twice: modelled as a
    crash (Appendix C).
    """
    try:
        call_id = H.call_id(notify)
        f = H.from_(notify)
        t = H.to(notify)
    except SipParseError:
        return -1
    if not call_id or f is None or not f.tag or t is None or not t.tag:
        return -1
    contact_raw = notify.get("contact")
    if contact_raw is None:
        return -1
    if pua.cfg.repairs_("B1"):
        return _update_contact_repaired(pua, notify, call_id, f.uri, f.tag, t.uri, t.tag, now_us)
    if pua.cfg.db_mode == 2:
        if hasattr(pua.store, "update_contact"):
            pua.store.update_contact(contact_raw, call_id=call_id, to_tag=t.tag, from_tag=f.tag)
        return 1
    rec = pua.store.get_dialog(
        pres_uri=f.uri, watcher_uri=t.uri, call_id=call_id, to_tag=t.tag, from_tag=f.tag, flag=ALL_FLAGS
    )
    if rec is None:
        return -1
    raise KamailioCrash("pua_update_contact matched a dialog: use-after-free of remote_contact (B1)")


def _update_contact_repaired(
    pua: Pua, notify: Request, call_id: str, from_uri: str, from_tag: str, to_uri: str, to_tag: str, now_us: int
) -> int:
    """Repair B1 (§6, §10.2): what ``pua_update_contact()`` is documented to do.

    The NOTIFY comes from the notifier, so its From-tag is the dialog's remote
    tag (the record's ``to_tag``) and its To-tag our own (``from_tag``); the
    value stored is the Contact's URI, as §4.6 row 9 stores it from a 2xx.
    A dialog whose URIs the NOTIFY writes differently (a watcher URI with a
    port comes back without it) is still found by Call-ID and tags
    (RFC 3261 §12.2.2).  1 when a dialog took the new target, −1 when none
    matched.
    """
    try:
        contacts = H.contact_list(notify)
    except SipParseError:
        return -1
    if not contacts:
        return -1
    uri = contacts[0].uri
    if pua.cfg.db_mode == 2 and hasattr(pua.store, "update_contact"):
        return 1 if pua.store.update_contact(uri, call_id=call_id, to_tag=from_tag, from_tag=to_tag) > 0 else -1
    rec = pua.store.get_dialog(
        pres_uri=from_uri, watcher_uri=to_uri, call_id=call_id, to_tag=from_tag, from_tag=to_tag, flag=ALL_FLAGS
    ) or next(  # the notifier may write the URIs otherwise (Kamailio's presence drops the port): dialog ids
        (r for r in pua.records() if r.call_id == call_id and r.to_tag == from_tag and r.from_tag == to_tag), None
    )
    if rec is None:
        return -1
    if rec.remote_contact != uri:
        rec.remote_contact = uri
        pua.store.mark_updated(rec)
        pua.record_changed("updated", rec, now_us, "pua_update_contact: new remote target")
    return 1
