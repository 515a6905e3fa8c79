"""``PresenceServer``: the sans-IO endpoint a simulation node hosts.

It runs RFC 3261 server transactions (:mod:`puasim.txn`, RFC 3261 timers),
hands PUBLISH to the :class:`~puasim.server.compositor.EventStateCompositor`
and SUBSCRIBE to the RFC 6665 :class:`~puasim.server.notifier.Notifier`
(which sends NOTIFYs as client transactions of the same layer), and answers
the rest itself: OPTIONS 200 (the lab script's "Keepalive"), other methods
405 with Allow.  Faults (:mod:`puasim.server.faults`) act around both.

Replies copy Via (all, in order), From, To (with a To-tag added), Call-ID and
CSeq, then the reply's own fields, an optional Server and ``Content-Length:
0`` -- the order of the lab captures (``x3_probe_publish_py``).  A 2xx to
PUBLISH carries ``Expires`` then ``SIP-ETag`` (RFC 3903 §6 step 6).  To-tags
have Kamailio tm's shape ``<32 hex>-<8 hex>``.

Timer keys: ``("txn", ...)`` for the transaction layer, ``("server",
"expire")`` for state expiry, ``("server", "subs")`` for subscription expiry
and activation, ``("server", "reply", n)`` for delayed replies, ``("server",
"restart", i)`` for :class:`~puasim.server.faults.Restart`, ``("server",
"contact", i)`` for :class:`~puasim.server.faults.ChangeContact` and
``("server", "work", n)`` for the end of a message's turn on the worker (profile
``processing_delay``).

After every input the notifier sends the NOTIFYs for the state that input
changed (:meth:`Notifier.flush`), so they follow the reply to the PUBLISH.

Extension point: ``handlers`` maps a method to ``handler(txn, now)``; the
state is reachable through ``compositor`` and ``notifier``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from puasim.bodies.errors import BodyError
from puasim.effects import SECOND, Address, Outbox
from puasim.server.compositor import EventStateCompositor, Publication, PublishRequest
from puasim.server.faults import (
    ChangeContact,
    Fault,
    FaultPlan,
    RespondWith,
    Restart,
    fault_from_dict,
)
from puasim.server.notifier import SUBS_TIMER, Notifier, NotifyOutbox
from puasim.server.profiles import TO_TAG_CRC, ServerProfile, get_profile
from puasim.server.totag import TM_SIGNATURE, kamailio_tag_base, kamailio_to_tag_suffix
from puasim.sip import headers as H
from puasim.sip.errors import SipParseError
from puasim.sip.message import Request, Response
from puasim.sip.uri import parse_uri
from puasim.sip.version import is_sip_2_0, kamailio_core_accepts
from puasim.trace.events import FaultInjected, MessageRejected, ServerStateChanged
from puasim.txn import RFC3261, ServerTransaction, TimerConfig, TransactionLayer

if TYPE_CHECKING:
    from puasim.companions.puajson import PresentityUpdate
    from puasim.sim.node import Node
    from puasim.sim.simulation import Simulation

Headers = tuple[tuple[str, str], ...]
Handler = Callable[[ServerTransaction, int], None]

EXPIRE_TIMER = ("server", "expire")
#: fields copied from the request into every reply, in the lab's order
_COPIED = (("via", "Via"), ("from", "From"), ("to", "To"), ("call-id", "Call-ID"), ("cseq", "CSeq"))
#: typed values (:mod:`puasim.sip.headers` cache names) a reply shares with its request
_PRIMED = ("via_list", "top_via", "from", "call-id", "cseq")


def presentity_aor(uri: str) -> str | None:
    """``sip:user@host`` of a Request-URI (port, parameters dropped), ``None`` if unusable.

    Kamailio keys presentities by the R-URI's user and domain (Appendix A,
    ``parse_sip_msg_uri``); the host is compared case-insensitively.
    """
    try:
        parsed = parse_uri(uri)
    except SipParseError:
        return None
    host = parsed.host_key
    return f"sip:{parsed.user}@{host}" if parsed.user else f"sip:{host}"


def event_key(event: H.Event) -> str:
    """``package[;param...]`` for matching against ``publish_events`` (``id`` left out)."""
    extra = sorted(
        f";{name.lower()}" if value is None else f";{name.lower()}={value}"
        for name, value in event.params
        if name.lower() != "id"
    )
    return event.package.lower() + "".join(extra)


def read_publish(msg: Request) -> PublishRequest:
    """The parts of a PUBLISH the compositor needs; malformed fields are flagged, never raised."""
    ev_key: str | None = None
    ev_bad = False
    try:
        ev = H.event(msg)
        ev_key = None if ev is None else event_key(ev)
    except SipParseError:
        ev_bad = True
    expires: int | None = None
    exp_bad = False
    try:
        expires = H.expires(msg)
    except SipParseError:
        exp_bad = True
    ctype: str | None = None
    raw_ct = msg.get("content-type")
    if raw_ct is not None:
        try:
            parsed_ct = H.content_type(msg)
            ctype = parsed_ct.mime if parsed_ct is not None else None
        except SipParseError:
            ctype = raw_ct.split(";", 1)[0].strip().lower()
    return PublishRequest(
        presentity=presentity_aor(msg.uri),
        event=ev_key,
        if_match=tuple(msg.get_all("sip-if-match")),
        expires=expires,
        expires_malformed=exp_bad,
        body=msg.body,
        content_type=ctype,
        has_content_length=msg.has("content-length"),
        event_malformed=ev_bad,
    )


class PresenceServer:
    """A simulated presence server (RFC 3903 ESC) behind RFC 3261 transactions.

    ``profile`` is a :class:`ServerProfile` or a name from
    :data:`~puasim.server.profiles.PROFILES`; ``rng`` the server's seeded
    generator (ETags of random style, To-tags, pids); ``epoch`` the UNIX time
    of virtual time 0; ``start_time`` the UNIX seconds in Kamailio ETags
    (default: ``epoch`` + start instant); ``pid`` the pid in Kamailio ETags
    (default: drawn from ``rng``); ``faults`` fault values or scenario
    mappings (:func:`~puasim.server.faults.fault_from_dict`).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 5060,
        profile: str | ServerProfile = "kamailio",
        rng: random.Random | None = None,
        *,
        epoch: int = 1_700_000_000,
        start_time: int | None = None,
        pid: int | None = None,
        faults: Iterable[Fault | Mapping[str, Any]] = (),
        timers: TimerConfig = RFC3261,
    ) -> None:
        self.outbox: Outbox = NotifyOutbox()
        self.host = host
        self.port = port
        self.profile = get_profile(profile) if isinstance(profile, str) else profile
        self.rng = rng if rng is not None else random.Random(0)
        self.epoch = epoch
        self.timers = timers
        self._start_time_cfg = start_time
        self._pid_cfg = pid
        plan = [fault_from_dict(f) if isinstance(f, Mapping) else f for f in faults]
        self.faults = FaultPlan(plan, emit=self.outbox.emit)
        self.handlers: dict[str, Handler] = {
            "PUBLISH": self.handle_publish,
            "SUBSCRIBE": self.handle_subscribe,
            "OPTIONS": self.handle_options,
        }
        self.layer = TransactionLayer(self.outbox, host, port, self.rng, timers)
        self.compositor = EventStateCompositor(self.profile, self.rng, emit=self._state_event)
        self.notifier = Notifier(self)
        self.restarts = 0
        self.started_at = 0
        self._tag_base = ""
        self._pending: dict[int, tuple[ServerTransaction, Response]] = {}
        self._reply_seq = 0
        self._expiry_at: int | None = None
        #: the one worker of ``processing_delay``: messages waiting, and when it is free again
        self._queued: dict[int, tuple[Any, Address]] = {}
        self._work_seq = 0
        self._busy_until = 0

    @property
    def address(self) -> Address:
        return (self.host, self.port)

    @property
    def publications(self) -> list[Publication]:
        """Current publications (tests and debugging; reports read the trace)."""
        return list(self.compositor)

    def add_fault(self, fault: Fault | Mapping[str, Any], now: int) -> None:
        """Arm a fault while running (scenario ``server.fault`` steps)."""
        value = fault_from_dict(fault) if isinstance(fault, Mapping) else fault
        index = self.faults.add(value)
        if isinstance(value, Restart) and value.at >= now:
            self.outbox.set_timer(("server", "restart", index), value.at)
        elif isinstance(value, ChangeContact):
            self._arm_contact_change(index, value, now)

    def count_publications(self, presentity: str, event: str, now: int) -> int:
        """How many live publications the server holds for ``presentity``/``event`` at ``now``.

        A pure query: lapsed state is not counted but also not dropped here
        (that is the expiry timer's job), so a probe never changes the trace.
        """
        aor = presentity_aor(presentity) or presentity
        return sum(1 for p in self.compositor.get(aor, event) if p.expires > now)

    def count_subscriptions(self, presentity: str, now: int, event: str = "presence") -> int:
        """How many subscriptions (active or pending) to ``presentity``/``event`` are live at ``now``."""
        aor = presentity_aor(presentity) or presentity
        return self.notifier.count(aor, event, now)

    # -- endpoint protocol (puasim.sim.node.Endpoint) ----------------------------------
    def start(self, now: int) -> None:
        self.started_at = now
        self._boot(now)
        for index, at in self.faults.restarts():
            if at >= now:
                self.outbox.set_timer(("server", "restart", index), at)
        for index, _ in self.faults.contact_changes():
            fault = self.faults.faults[index]
            assert isinstance(fault, ChangeContact)
            self._arm_contact_change(index, fault, now)

    def receive(self, message: Any, src: Address, now: int) -> None:
        """Handle ``message`` now, or, with the profile's ``processing_delay``, when the one
        worker has spent that long on it after every message that came before."""
        delay = self.profile.processing_delay
        if not delay:
            self.handle(message, src, now)
            return
        self._busy_until = max(now, self._busy_until) + delay
        self._work_seq += 1
        self._queued[self._work_seq] = (message, src)
        self.outbox.set_timer(("server", "work", self._work_seq), self._busy_until)

    def handle(self, message: Any, src: Address, now: int) -> None:
        """The receive boundary: whatever one message does wrong costs that message only.

        A parse error raised anywhere while the message is handled (the
        transaction layer, a handler reading a header lazily) is caught
        here: a request that can still be answered (:meth:`TransactionLayer.check_answerable`)
        gets 400, anything else is dropped; both leave a
        :class:`~puasim.trace.events.MessageRejected` record.  Another
        SIP-Version is met first (``version_check`` of the profile).
        """
        if not self._version_ok(message, src, now):
            return
        txn: ServerTransaction | None = None
        try:
            txn = self.layer.receive(message, src, now)
            if txn is not None and txn.request.method != "ACK":
                self._dispatch(txn, now)
        except (SipParseError, BodyError) as exc:
            self._reject(message, src, txn, f"{message_label(message)}: {exc}", now)
        self._settle(now)

    def _version_ok(self, message: Any, src: Address, now: int) -> bool:
        """False (and the message answered 505 or dropped) for another SIP-Version."""
        if self.profile.version_check == "kamailio":
            if kamailio_core_accepts(message):
                return True
            reason = f"{message.version}: not SIP to Kamailio's core parser, dropped"
            self.outbox.emit(MessageRejected(src, message, reason, 0))
            return False
        if is_sip_2_0(message):
            return True
        reason = f"{message.version}: version not supported"
        status = 0
        if isinstance(message, Request) and message.method != "ACK" and _answerable(message):
            status = 505
            reply = self.make_response(message, status, self.profile.reason(status))
            self.outbox.send(reply, self.layer.response_address(message, src))
        self.outbox.emit(MessageRejected(src, message, reason, status))
        return False

    def _reject(self, message: Any, src: Address, txn: ServerTransaction | None, reason: str, now: int) -> None:
        """Answer 400 if ``message`` is a request still unanswered and answerable, else drop it."""
        status = 0
        if isinstance(message, Request) and message.method != "ACK" and _answerable(message):
            status = 400
            reply = self.make_response(message, status, self.profile.reason(status))
            if txn is not None and txn.last_response is None:
                txn.respond(reply, now)  # retransmissions of the request get the 400 too
            elif txn is None:
                self.outbox.send(reply, self.layer.response_address(message, src))
            else:
                status = 0  # already answered before the fault: nothing more to say
        self.outbox.emit(MessageRejected(src, message, reason, status))

    def timer(self, key: Hashable, now: int) -> None:
        if isinstance(key, tuple) and self.layer.timer(key, now):
            pass
        elif key == EXPIRE_TIMER:
            self._expiry_at = None
            self.compositor.expire(now)
        elif key == SUBS_TIMER:
            self.notifier.timer(now)
        elif isinstance(key, tuple) and key[:2] == ("server", "work"):
            queued = self._queued.pop(key[2], None)
            if queued is not None:
                self.handle(queued[0], queued[1], now)
                return  # handle() settled
        elif isinstance(key, tuple) and key[:2] == ("server", "reply"):
            pending = self._pending.pop(key[2], None)
            if pending is not None:
                pending[0].respond(pending[1], now)
        elif isinstance(key, tuple) and key[:2] == ("server", "restart"):
            self.restart(now, fault_index=key[2])
        elif isinstance(key, tuple) and key[:2] == ("server", "contact"):
            self._change_contact(key[2])
        self._settle(now)

    def _settle(self, now: int) -> None:
        """End of an input: NOTIFYs for changed state, then the expiry timers."""
        self.notifier.flush(now)
        self._arm_expiry()

    def _state_event(self, event: Any) -> None:
        self.outbox.emit(event)
        if isinstance(event, ServerStateChanged):
            self.notifier.state_changed(event)

    # -- request handlers -------------------------------------------------------------
    def _dispatch(self, txn: ServerTransaction, now: int) -> None:
        fault = self.faults.on_request(txn.request, now)
        if isinstance(fault, RespondWith):
            self.reply(
                txn,
                fault.status,
                fault.reason or self.profile.reason(fault.status),
                fault.headers,
                now,
            )
            return
        if fault is not None:  # DropRequests: never answered, retransmissions absorbed
            return
        self.handlers.get(txn.request.method.upper(), self.handle_unsupported)(txn, now)

    def handle_publish(self, txn: ServerTransaction, now: int) -> None:
        """RFC 3903 §6 through the compositor; 2xx get Expires and SIP-ETag (§6 step 6)."""
        request = txn.request
        req = read_publish(request)
        grant = self.faults.grant_for(request, now)
        outcome = self.compositor.publish(req, now, grant=None if grant is None else grant[1])
        headers: list[tuple[str, str]] = list(outcome.headers)
        if 200 <= outcome.status < 300:
            if grant is not None and req.expires != 0:
                self.faults.fired(
                    grant[0],
                    "grant-expires",
                    f"granted {grant[1]} s to {request.method} {request.uri}",
                )
            if outcome.expires is not None:
                headers.append(("Expires", str(outcome.expires)))
            if outcome.etag is not None:
                headers.append(("SIP-ETag", outcome.etag))
        self.reply(txn, outcome.status, outcome.reason, tuple(headers), now)

    def update_presentity(self, update: PresentityUpdate, now: int) -> None:
        """pua_json's write into this server's presentities (§9.7), then NOTIFYs and expiry timers."""
        self.compositor.update_presentity(
            update.presentity, update.event, update.etag, update.body, update.content_type, update.expires, now
        )
        if update.expires <= 0:
            self.compositor.expire(now)
        self._settle(now)

    def handle_subscribe(self, txn: ServerTransaction, now: int) -> None:
        """RFC 6665 §4.2.1 through the :class:`~puasim.server.notifier.Notifier`."""
        self.notifier.handle_subscribe(txn, now)

    def handle_options(self, txn: ServerTransaction, now: int) -> None:
        """200 to OPTIONS (RFC 3261 §11.2; the lab script's ``sl_send_reply("200", "Keepalive")``)."""
        self.reply(txn, 200, self.profile.options_reason, (), now)

    def handle_unsupported(self, txn: ServerTransaction, now: int) -> None:
        """405 with Allow for any other method (RFC 3261 §21.4.6)."""
        self.reply(txn, 405, self.profile.reason(405), (("Allow", ", ".join(self.handlers)),), now)

    # -- replies ----------------------------------------------------------------------
    def new_to_tag(self, request: Request | None = None) -> str:
        """A To-tag of Kamailio's shape ``<32 hex>-<8 hex>``.

        With the profile's ``to_tag_suffix`` ``"crc"`` the suffix is computed
        from ``request`` as Kamailio's sl module does (:mod:`puasim.server.totag`);
        otherwise, or when the request has no usable Via, it is drawn from the
        seeded generator.
        """
        if self.profile.to_tag_suffix == TO_TAG_CRC and request is not None:
            try:
                via = H.top_via(request)
            except SipParseError:
                via = None
            if via is not None:
                port = "" if via.port is None else str(via.port)
                suffix = kamailio_to_tag_suffix(via.host, port, via.branch, request.get("call-id"))
                return f"{self._tag_base}-{suffix}"
        return f"{self._tag_base}-{self.rng.getrandbits(32):08x}"

    def make_response(
        self,
        request: Request,
        status: int,
        reason: str,
        headers: Headers = (),
        to_tag: str | None = None,
    ) -> Response:
        """A reply to ``request``: copied fields, To-tag (``to_tag`` or a new one), ``headers``,
        Server, Content-Length 0."""
        out: list[tuple[str, str]] = []
        index = request._hindex or request._index()  # the request's fields by lookup key
        for key, name in _COPIED:
            values = index.get(key)
            if values is None:
                continue
            if key == "to":
                for i, value in enumerate(values):
                    if not _has_tag(request, value, i):
                        value = f"{value};tag={to_tag or self.new_to_tag(request)}"
                    out.append((name, value))
            else:
                for value in values:
                    out.append((name, value))
        out.extend(headers)
        if self.profile.server_header:
            out.append(("Server", self.profile.server_header))
        out.append(("Content-Length", "0"))
        response = Response(status, reason, tuple(out))
        typed = request._typed
        if typed:  # the copied fields parse as the request's did
            for name in _PRIMED:
                if name in typed:
                    response.prime(name, typed[name])
        return response

    def reply(
        self,
        txn: ServerTransaction,
        status: int,
        reason: str,
        headers: Headers,
        now: int,
        to_tag: str | None = None,
    ) -> None:
        """Answer ``txn`` now, or later when a :class:`DelayReplies` fault says so."""
        response = self.make_response(txn.request, status, reason, headers, to_tag)
        if 200 <= status < 300:
            response = self._omit(txn.request, response, now)
        delay = self.faults.delay_for(txn.request, now)
        if delay:
            self._reply_seq += 1
            self._pending[self._reply_seq] = (txn, response)
            self.outbox.set_timer(("server", "reply", self._reply_seq), now + delay)
        else:
            txn.respond(response, now)

    def _omit(self, request: Request, response: Response, now: int) -> Response:
        """Apply :class:`~puasim.server.faults.OmitHeader` faults to a 2xx."""
        original = headers = list(response.headers)
        for index, name in self.faults.omissions(request, now):
            if name.lower() == "to-tag":
                kept = [(n, v.split(";tag=")[0]) if n.lower() in ("to", "t") else (n, v) for n, v in headers]
            else:
                kept = [h for h in headers if h[0].lower() != name.lower()]
            if kept != headers:
                headers = kept
                self.faults.fired(index, "omit-header", f"{name} left out of {response.status} to {request.method} {request.uri}")
        if headers is original:  # nothing left out: the reply as made (with its primed fields)
            return response
        return Response(response.status, response.reason, tuple(headers), response.body)

    # -- life cycle -------------------------------------------------------------------
    def restart(self, now: int, fault_index: int | None = None) -> None:
        """Forget every publication, subscription, transaction and pending reply.

        A restart with an empty DB: no NOTIFY is sent, client transactions
        of NOTIFYs in flight are dropped with the old transaction layer.
        The compositor gets a new start time and pid and its ETag counter
        starts from 0, as a restarted Kamailio's does (lab finding e1).
        """
        subs = self.notifier.forget_all()
        detail = f"server restart: {len(self.compositor)} publication(s) forgotten"
        if subs:
            detail += f", {subs} subscription(s) forgotten"
        if fault_index is not None:
            self.faults.fired(fault_index, "restart", detail)
        else:
            self.outbox.emit(FaultInjected("restart", detail))
        self.restarts += 1
        for txn in self.layer.servers.values():
            self.outbox.cancel_timer(("txn", "s", txn.key, "J"))
        for seq in self._pending:
            self.outbox.cancel_timer(("server", "reply", seq))
        self._pending.clear()
        for seq in self._queued:  # messages waiting for the worker die with the process
            self.outbox.cancel_timer(("server", "work", seq))
        self._queued.clear()
        self._busy_until = now
        self.layer = TransactionLayer(self.outbox, self.host, self.port, self.rng, self.timers)
        self._boot(now)

    def _boot(self, now: int) -> None:
        elapsed = (now - self.started_at) // SECOND
        if self._start_time_cfg is not None:
            start_time = self._start_time_cfg + elapsed
        else:
            start_time = self.epoch + now // SECOND
        if self._pid_cfg is not None:
            pid = self._pid_cfg + self.restarts
        else:
            pid = self.rng.randrange(1000, 32768)
        if self.profile.to_tag_suffix == TO_TAG_CRC:  # tm's base: the same after every restart
            self._tag_base = kamailio_tag_base(TM_SIGNATURE, self.host, self.port)
        else:
            self._tag_base = f"{self.rng.getrandbits(128):032x}"
        self.compositor.forget_all(start_time=start_time, pid=pid, origin=now)
        if self._expiry_at is not None:
            self.outbox.cancel_timer(EXPIRE_TIMER)
            self._expiry_at = None

    def _arm_contact_change(self, index: int, fault: ChangeContact, now: int) -> None:
        if fault.at <= now:
            self._change_contact(index)
        else:
            self.outbox.set_timer(("server", "contact", index), fault.at)

    def _change_contact(self, index: int) -> None:
        fault = self.faults.faults[index]
        assert isinstance(fault, ChangeContact)
        self.notifier.contact_override = fault.contact
        self.faults.fired(index, "change-contact", f"notifier Contact is now <{fault.contact}>")

    def _arm_expiry(self) -> None:
        at = self.compositor.next_deadline()
        if at == self._expiry_at:
            return
        if at is None:
            self.outbox.cancel_timer(EXPIRE_TIMER)
        else:
            self.outbox.set_timer(EXPIRE_TIMER, at)
        self._expiry_at = at


def _answerable(request: Request) -> bool:
    try:
        TransactionLayer.check_answerable(request)
        TransactionLayer.server_key(request)
    except SipParseError:
        return False
    return True


def message_label(message: Request | Response) -> str:
    """``PUBLISH`` or ``200 reply``: which message a rejection is about."""
    return message.method if isinstance(message, Request) else f"{message.status} reply"


def _has_tag(request: Request, value: str, index: int) -> bool:
    """Whether To value number ``index`` of ``request`` (text ``value``) carries a tag;
    the first one is read from the request's parsed To (parsed once per message)."""
    try:
        to = H.to(request) if index == 0 else H.parse_name_addr(value, "To")
    except SipParseError:
        return ";tag=" in value.lower()
    return to is not None and to.tag is not None


def add_server(
    sim: Simulation,
    name: str = "server",
    address: Address = ("127.0.0.1", 5060),
    profile: str | ServerProfile = "kamailio",
    *,
    faults: Iterable[Fault | Mapping[str, Any]] = (),
    start_time: int | None = None,
    pid: int | None = None,
    timers: TimerConfig = RFC3261,
    start: bool = True,
    **knobs: Any,
) -> Node:
    """Add a :class:`PresenceServer` node to ``sim``; ``knobs`` override profile fields.

    The server's generator is ``sim.streams(name)``, its epoch ``sim.epoch``.
    A node restart builds a fresh server (faults counted anew, restarts in
    the past not repeated).
    """
    prof = get_profile(profile, **knobs)
    fault_list = tuple(faults)

    def factory(node: Node) -> PresenceServer:
        return PresenceServer(
            address[0],
            address[1],
            prof,
            sim.streams(name),
            epoch=sim.epoch,
            start_time=start_time,
            pid=pid,
            faults=fault_list,
            timers=timers,
        )

    return sim.add_node(name, address, factory, start=start)


__all__ = [
    "EXPIRE_TIMER",
    "PresenceServer",
    "add_server",
    "event_key",
    "presentity_aor",
    "read_publish",
]
