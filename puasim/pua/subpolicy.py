"""The SUBSCRIBE side of the pjsua and sipsimple client policies (:mod:`puasim.pua.policy`).

Kamailio's SUBSCRIBE machinery (pua-reference §4) stays underneath: the
decision table, the request building and the record store are the same.
A policy changes four things, each read from the stack's source (the rules
and their files and functions are listed in :mod:`puasim.pua.policy`):

* the Expires asked (:func:`expires_header`);
* the refresh: a timer per dialog armed by each 2xx (:func:`arm_refresh`)
  replaces the sweep of §5.2;
* what follows an error reply or a time-out (:func:`after_failure`): the
  dialog ends as in Kamailio, and a new initial SUBSCRIBE is scheduled after
  the stack's delay instead of §4.6.1's immediate one;
* a NOTIFY with ``Subscription-State: terminated`` ends the dialog and
  schedules a new subscription (:func:`on_notify`); Kamailio's pua ignores it
  (§4.11, §10.1 D10).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from puasim.effects import SECOND
from puasim.pua.constants import INSERT_TYPE, REQ_OTHER
from puasim.pua.info import Hentity, SubsInfo
from puasim.pua.policy import TIMER, ClientPolicy
from puasim.sip import headers as H
from puasim.sip.errors import SipParseError
from puasim.sip.message import Request
from puasim.store.record import PuaRecord

if TYPE_CHECKING:
    from puasim.pua.model import Pua

REFRESH = "sub-refresh"
RESUBSCRIBE = "resubscribe"
KINDS = (REFRESH, RESUBSCRIBE)
#: ``PJSUA_PRES_TIMER`` of pjsua.h, in ms: the default delay before a new subscription
PJSUA_PRES_TIMER_MS = 300_000


@dataclass(frozen=True, slots=True)
class PendingSubscribe:
    """A new initial SUBSCRIBE waiting for its timer."""

    subs: SubsInfo
    #: the API's desired end (0: indefinite), so the lifetime asked is the one left when it goes out
    desired: int
    #: Expires to ask instead of the usual one (sipsimple after a 423 with Min-Expires)
    interval: int | None = None


def expires_header(pua: Pua, client: ClientPolicy, expires: int, subs: SubsInfo | None = None) -> int:
    """The Expires a stack asks for: the caller's value as is, for −1 its interval.

    The interval is the stack's default, or the Min-Expires sipsimple took
    from a 423 for this subscription (``Subscriber._subscription_handler``
    passes it as the new ``Subscription``'s ``refresh``).
    """
    if expires >= 0:
        return expires
    if subs is not None:
        return pua.policy_intervals.get(_key(subs.pres_uri, subs.watcher_uri, subs.event, subs.id),
                                        client.subscribe_default_expires)
    return client.subscribe_default_expires


def _key(pres_uri: str, watcher_uri: str, event: int, id: str) -> tuple[str, str, int, str]:
    return (pres_uri, watcher_uri, event, id)


def arm_refresh(pua: Pua, rec: PuaRecord, granted: int, now_us: int) -> None:
    """A 2xx granted ``granted`` s to dialog ``rec``: the stack's refresh timer starts."""
    client = pua.cfg.client
    if client is None or granted <= 0:
        return
    delay_ms = client.subscribe_refresh_delay_ms(granted, pua.rng)
    pua.policy_granted[(rec.call_id, rec.from_tag)] = granted
    key = (TIMER, REFRESH, rec.pres_uri, rec.watcher_uri, rec.call_id, rec.from_tag)
    pua.outbox.set_timer(key, now_us + delay_ms * 1000)


def _refresh(pua: Pua, key: tuple, now_us: int) -> None:
    from puasim.pua.subscribe import refresh_dialog

    client = pua.cfg.client
    _, _, pres_uri, watcher_uri, call_id, from_tag = key
    rec = pua.store.get_temporary_dialog(pres_uri=pres_uri, watcher_uri=watcher_uri, call_id=call_id, from_tag=from_tag)
    if client is None or rec is None or not rec.to_tag:
        pua.policy_granted.pop((call_id, from_tag), None)
        return
    granted = pua.policy_granted.get((call_id, from_tag), client.subscribe_default_expires)
    now = pua.seconds(now_us)
    if rec.desired_expires == 0:  # indefinite: pjsua repeats the granted lifetime, sipsimple its interval
        asked = granted if client.name == "pjsua" else pua.policy_intervals.get(
            _key(rec.pres_uri, rec.watcher_uri, rec.event, rec.id), client.subscribe_default_expires)
    elif rec.desired_expires > now:
        asked = rec.desired_expires - now
    else:
        return  # the API's lifetime is over: the stack would have unsubscribed, nothing to refresh
    refresh_dialog(pua, rec, now_us, expires_header=asked)


def after_failure(pua: Pua, h: Hentity, status: int, initial: bool, reply_min_expires: int | None, now_us: int) -> None:
    """The dialog of ``h`` ended on ``status`` (408 for a time-out): schedule the stack's new SUBSCRIBE.

    pjsua (``pjsua_evsub_on_state``): 0.5 s after a 481 to a refresh, else
    300 s ± 2.5 s.  sipsimple (``Subscriber._subscription_handler``): an
    established subscription at once; an initial SUBSCRIBE after 60–120 s for
    423 (asking Min-Expires when larger) and 407, 3600 s for 405/406/489,
    60–180 s for anything else.  Never after an unsubscribe.
    """
    client = pua.cfg.client
    if client is None:
        return
    if h.desired_expires != 0 and h.desired_expires <= h.sent_at:  # an un-SUBSCRIBE failed: the dialog is just gone
        return
    interval = None
    rng = pua.rng
    if client.name == "pjsua":
        delay_ms = 500 if status == 481 and not initial else _pjsua_default_delay(pua)
    elif not initial:
        delay_ms = 0
    elif status == 423:
        delay_ms = int(rng.uniform(60, 120) * 1000)
        asked = h.desired_expires - h.sent_at if h.desired_expires else client.subscribe_default_expires
        if reply_min_expires is not None and reply_min_expires > asked:
            interval = reply_min_expires
    elif status == 407:
        delay_ms = int(rng.uniform(60, 120) * 1000)
    elif status in (405, 406, 489):
        delay_ms = 3600 * 1000
    else:
        delay_ms = int(rng.uniform(60, 180) * 1000)
    _schedule(pua, h, delay_ms, now_us, interval)


def _pjsua_default_delay(pua: Pua) -> int:
    """``PJSUA_PRES_TIMER*1000 - 2500 + (pj_rand() % 5000)`` ms (``pjsua_evsub_on_state``)."""
    return PJSUA_PRES_TIMER_MS - 2500 + pua.rng.randrange(5000)


def _schedule(pua: Pua, h: Hentity, delay_ms: int, now_us: int, interval: int | None = None) -> None:
    subs = SubsInfo(
        pres_uri=h.pres_uri,
        watcher_uri=h.watcher_uri,
        contact=h.contact,
        event=h.event,
        source_flag=h.flag,
        flag=INSERT_TYPE,
        id=h.id,
        extra_headers=h.extra_headers,
        outbound_proxy=h.outbound_proxy or pua.cfg.outbound_proxy,
        cb_param=h.cb_param,
    )
    key = _key(h.pres_uri, h.watcher_uri, h.event, h.id)
    pua.policy_resubscribes[key] = PendingSubscribe(subs, h.desired_expires, interval)
    pua.outbox.set_timer((TIMER, RESUBSCRIBE, *key), now_us + delay_ms * 1000)
    pua.log("info", f"{pua.cfg.profile}: new SUBSCRIBE for {h.pres_uri} in {delay_ms / 1000:g} s")


def _resubscribe(pua: Pua, key: tuple, now_us: int) -> None:
    pending = pua.policy_resubscribes.pop(_key(*key[2:]), None)
    if pending is None:
        return
    now = pua.seconds(now_us)
    if pending.desired == 0:
        expires = -1
    elif pending.desired > now:
        expires = pending.desired - now
    else:
        return  # the lifetime the API asked for is over
    subs = replace(pending.subs, expires=expires)
    if pending.interval is not None:  # sipsimple after a 423: the new subscription's interval
        if expires < 0:
            pua.policy_intervals[_key(subs.pres_uri, subs.watcher_uri, subs.event, subs.id)] = pending.interval
        else:
            subs = replace(subs, expires=max(expires, pending.interval))
    rc = pua.send_subscribe(subs, now_us)
    if rc < 0:
        pua.log("error", f"{pua.cfg.profile}: new SUBSCRIBE for {subs.pres_uri} failed ({rc})")


def forget(pua: Pua, subs: SubsInfo) -> None:
    """The API unsubscribed: a new SUBSCRIBE waiting for its timer is dropped."""
    key = _key(subs.pres_uri, subs.watcher_uri, subs.event, subs.id)
    pua.policy_resubscribes.pop(key, None)
    pua.policy_intervals.pop(key, None)


def on_timer(pua: Pua, key: tuple, now_us: int) -> None:
    if key[1] == REFRESH:
        _refresh(pua, key, now_us)
    else:
        _resubscribe(pua, key, now_us)


def on_notify(pua: Pua, notify: Request, now_us: int) -> None:
    """A NOTIFY ``terminated`` ends its dialog; the stack subscribes again (RFC 6665 §4.1.3).

    An ``active`` or ``pending`` NOTIFY with an ``expires`` parameter restarts
    pjsua's refresh timer at ``expires − 5`` s (``evsub.c``
    ``on_tsx_state_uac``); sipsimple's refresh follows the 2xx only.

    pjsua (``pjsua_evsub_on_state``): 0.5 s for reason ``deactivated`` or
    ``timeout``, ``retry-after`` for ``probation``/``giveup`` when given, else
    300 s ± 2.5 s.  sipsimple: at once (``SIPSubscriptionDidFail`` →
    ``Command('subscribe')``).  A subscription whose API lifetime is over is
    not renewed.
    """
    client = pua.cfg.client
    if client is None:
        return
    try:
        state = H.subscription_state(notify)
        call_id = H.call_id(notify) or ""
        f, t = H.from_(notify), H.to(notify)
    except SipParseError:
        return
    if state is None or f is None or t is None or not f.tag or not t.tag:
        return
    # a stack matches the NOTIFY to its dialog by Call-ID and tags only (RFC 3261 §12.2.2)
    rec = next((r for r in pua.records() if r.call_id == call_id and r.to_tag == f.tag and r.from_tag == t.tag), None)
    if rec is None:
        return
    if state.state in ("active", "pending"):
        if client.name == "pjsua" and state.expires is not None and state.expires > 0:
            # evsub.c on_tsx_state_uac (NOTIFY): the refresh timer restarts from the NOTIFY's
            # expires parameter, expires - 5 s, without the 2xx's random lead
            delay = state.expires - 5 if state.expires > 5 else state.expires
            key = (TIMER, REFRESH, rec.pres_uri, rec.watcher_uri, rec.call_id, rec.from_tag)
            pua.outbox.set_timer(key, now_us + delay * SECOND)
        return
    if state.state != "terminated":
        return
    pua.delete_record(rec, f"NOTIFY terminated;reason={state.reason or '-'} ({client.name})", now_us)
    now = pua.seconds(now_us)
    if rec.desired_expires != 0 and rec.desired_expires <= now:
        return
    if client.name != "pjsua":
        delay_ms = 0
    elif state.reason in ("deactivated", "timeout"):
        delay_ms = 500
    elif state.reason in ("probation", "giveup") and state.retry_after:
        delay_ms = state.retry_after * 1000
    else:
        delay_ms = _pjsua_default_delay(pua)
    h = Hentity(
        method="SUBSCRIBE",
        pres_uri=rec.pres_uri,
        watcher_uri=rec.watcher_uri,
        contact=rec.contact,
        id=rec.id,
        extra_headers=rec.extra_headers,
        event=rec.event,
        flag=rec.flag,
        ua_flag=REQ_OTHER,
        desired_expires=rec.desired_expires,
        sent_at=now,
    )
    _schedule(pua, h, delay_ms, now_us)

