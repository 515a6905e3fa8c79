"""A simulated SIP phone that registers (RFC 3261 §10), sans-IO.

The phone sends REGISTERs through its own :class:`~puasim.txn.TransactionLayer`
(so retransmissions and timeouts are RFC 3261's), keeps one Call-ID across
refreshes (§10.2.4) unless told to take a new one, counts CSeq up (§10.2), and
refreshes before the granted lifetime runs out by its refresh policy:

* ``fraction``: the next REGISTER leaves at ``fraction × granted`` seconds;
* ``lead``: it leaves ``lead`` seconds before the grant ends (at least 1 s
  after the 200).

The granted lifetime is read from the 200's ``Contact`` entries for the
phone's own contacts (§10.2.4: the ``expires`` parameter), the smallest one,
else from the 200's ``Expires``.  A 423 makes the phone retry at once with the
``Min-Expires`` value (§10.2.8).  Other failures stop the refreshing (a note in
the trace says so).  Requests the phone receives (NOTIFY, OPTIONS) get 200,
others 405.

A BLA phone (``bla=True``, draft-anil-sipping-bla-03) is also the notifier of
its line's ``dialog;sla`` state: it accepts the edge node's SUBSCRIBE for
``dialog;sla`` with a 200 (its own To-tag, its first contact, the asked
Expires) and at once sends an in-dialog NOTIFY (RFC 6665 §4.2.1.2) to the
SUBSCRIBE's Contact with ``Subscription-State: active;expires=N`` and the
line's RFC 4235 dialog-info (``state="full"``, a version that counts up from
:attr:`PhoneConfig.bla_version`).  An un-SUBSCRIBE (Expires 0) is answered with
a ``terminated;reason=timeout`` NOTIFY and ends the subscription.
:meth:`Phone.line_state` changes the line's state and notifies it; a
NOTIFY whose transaction fails is noted in the trace (the edge node does not
answer a NOTIFY that ``bla_handle_notify()`` refuses, pua-reference §9.3).

A BLF phone (``watch``) subscribes to the ``dialog`` state of other AORs at
the presence server and refreshes those subscriptions
(:mod:`puasim.phones.watch`).

Inputs besides the endpoint interface are the API calls :meth:`Phone.register`,
:meth:`Phone.unregister` and :meth:`Phone.change_contact`.  A crash of the
phone is a crash of its node: its timers go, so it stops refreshing and its
contacts expire at the registrar.

Timer keys: ``("txn", ...)`` for the transaction layer, ``("phone",
"refresh")`` for the next refresh.
"""

from __future__ import annotations

import random
from collections.abc import Hashable
from dataclasses import dataclass, field

from puasim.effects import SECOND, Address, Outbox
from puasim.phones.calls import CallPolicy, Calls
from puasim.phones.watch import Watches
from puasim.sip import headers as H
from puasim.sip.errors import SipParseError
from puasim.sip.message import Request, Response
from puasim.sip.uri import parse_uri
from puasim.trace.events import Note
from puasim.txn import RFC3261, InviteServerTransaction, TimerConfig, TransactionLayer
from puasim.txn.transactions import ServerTransaction

REFRESH_TIMER = ("phone", "refresh")


@dataclass(slots=True)
class BlaDialog:
    """The phone's side of one dialog;sla subscription (it is the notifier)."""

    call_id: str
    local_tag: str
    remote_tag: str
    remote_uri: str
    local_uri: str
    target: str
    dest: Address
    cseq: int
    expires: int


@dataclass(frozen=True, slots=True)
class PhoneConfig:
    """One phone: its AOR, address, contacts, registrar and refresh policy."""

    name: str
    aor: str
    address: Address
    registrar: Address
    contacts: tuple[str, ...]
    expires: int = 3600
    #: ("fraction", 0.5), ("lead", seconds) or ("none", 0): no automatic refresh
    refresh: tuple[str, float] = ("fraction", 0.5)
    user_agent: str = ""
    register_at_start: bool = False
    #: send the Expires header (True) or an ``expires`` parameter on each contact (False)
    expires_header: bool = True
    extra_headers: tuple[tuple[str, str], ...] = field(default=())
    #: a BLA phone: the notifier of its line's dialog;sla state
    bla: bool = False
    #: the dialog-info version of the first NOTIFY
    bla_version: int = 0
    #: what the phone does with calls to it
    calls: CallPolicy = field(default_factory=CallPolicy)
    #: a BLF phone: the AORs whose dialog state it SUBSCRIBEs to at the presence server
    watch: tuple[str, ...] = ()
    #: where those SUBSCRIBEs go, and the Expires they ask for
    presence_server: Address | None = None
    watch_expires: int = 3600

    def registrar_uri(self) -> str:
        """The Request-URI of a REGISTER: the AOR's domain (§10.2)."""
        uri = parse_uri(self.aor)
        return f"{uri.scheme}:{uri.host}" + (f":{uri.port}" if uri.port else "")


class Phone:
    """A registering user agent (see the module docstring)."""

    def __init__(self, cfg: PhoneConfig, rng: random.Random, timers: TimerConfig = RFC3261) -> None:
        self.cfg = cfg
        self.rng = rng
        self.outbox = Outbox()
        self.layer = TransactionLayer(self.outbox, cfg.address[0], cfg.address[1], random.Random(rng.getrandbits(64)), timers)
        self.call_id = self._new_call_id()
        self.cseq = 0
        self.contacts = list(cfg.contacts)
        self.expires = cfg.expires
        self.granted: int | None = None
        self.registered = False
        self.last_status: int | None = None
        #: the dialog;sla subscription the phone notifies, if any
        self.bla_dialog: BlaDialog | None = None
        self.bla_version = cfg.bla_version
        #: the line's dialogs: (dialog id, RFC 4235 state); empty when idle
        self.line: tuple[tuple[str, str], ...] = ()
        #: calls placed and taken (puasim.phones.calls); draws from ``rng`` only when calls happen
        self.calls = Calls(cfg.name, cfg.aor, self._contact, cfg.registrar, self.layer, self.outbox, rng, cfg.calls)
        #: BLF subscriptions (puasim.phones.watch); only a watching phone draws their generator
        self.watches: Watches | None = None
        if cfg.watch:
            self.watches = Watches(cfg.name, cfg.aor, self._contact(), cfg.presence_server or cfg.registrar,
                                   cfg.watch_expires, self.layer, self.outbox, random.Random(rng.getrandbits(64)))

    # -- endpoint interface ------------------------------------------------------------
    def start(self, now: int) -> None:
        if self.cfg.register_at_start:
            self.register(now)
        if self.watches is not None:
            self.watches.start(self.cfg.watch, now)

    def watch(self, aor: str, now: int, expires: int | None = None) -> None:
        """Start watching ``aor``'s dialog state (BLF, :mod:`puasim.phones.watch`); a phone
        configured without ``watch`` makes its subscriber here, asking ``expires``
        (default ``watch_expires``) for all its subscriptions."""
        if self.watches is None:
            self.watches = Watches(self.cfg.name, self.cfg.aor, self._contact(),
                                   self.cfg.presence_server or self.cfg.registrar,
                                   self.cfg.watch_expires if expires is None else expires,
                                   self.layer, self.outbox, random.Random(self.rng.getrandbits(64)))
        self.watches.subscribe(aor, now)

    def unwatch(self, aor: str, now: int) -> None:
        """Stop watching ``aor``: un-SUBSCRIBE (Expires 0) if the subscription was granted."""
        if self.watches is not None:
            self.watches.unsubscribe(aor, now)

    def receive(self, message: Request | Response, src: Address, now: int) -> None:
        txn = self.layer.receive_any(message, src, now)
        if txn is None:
            return
        if isinstance(txn, InviteServerTransaction):
            self.calls.on_invite(txn, src, now)
            return
        req = txn.request
        if self.calls.on_request(txn, now):
            return
        if req.method == "SUBSCRIBE" and self.cfg.bla and (req.get("event") or "").replace(" ", "") == "dialog;sla":
            self._bla_subscribe(txn, src, now)
            return
        status, reason = (200, "OK") if req.method in ("NOTIFY", "OPTIONS") else (405, "Method Not Allowed")
        headers = []
        for name, value in req.headers:
            low = name.lower()
            if low in ("via", "from", "call-id", "cseq"):
                headers.append((name, value))
            elif low == "to":
                headers.append((name, value if ";tag=" in value else f"{value};tag={self.rng.getrandbits(32):08x}"))
        headers.append(("Content-Length", "0"))
        txn.respond(Response(status, reason, tuple(headers)), now)
        if req.method == "NOTIFY" and self.watches is not None:
            self.watches.on_notify(req, now)

    def timer(self, key: Hashable, now: int) -> None:
        if isinstance(key, tuple) and self.layer.timer(key, now):
            return
        if key == REFRESH_TIMER:
            self.send_register(now, self.contacts, self.expires)
            return
        if isinstance(key, tuple) and key and key[0] == "call":
            self.calls.timer(key, now)
            return
        if isinstance(key, tuple) and self.watches is not None and self.watches.timer(key, now):
            return
        raise KeyError(f"unknown phone timer {key!r}")

    # -- API ---------------------------------------------------------------------------
    def register(self, now: int, expires: int | None = None, new_call_id: bool = False) -> None:
        """(Re-)REGISTER the current contacts; ``expires`` changes the lifetime asked for."""
        if expires is not None:
            self.expires = expires
        if new_call_id:
            self.call_id = self._new_call_id()
        self.send_register(now, self.contacts, self.expires)

    def unregister(self, now: int, contacts: list[str] | None = None, star: bool = False) -> None:
        """REGISTER with expires 0 for ``contacts`` (default all), or ``Contact: *`` (§10.2.2)."""
        self.outbox.cancel_timer(REFRESH_TIMER)
        if star:
            self.contacts = []
            self.send_register(now, ["*"], 0)
            return
        gone = list(contacts) if contacts else list(self.contacts)
        self.contacts = [c for c in self.contacts if c not in gone]
        self.send_register(now, gone, 0)
        if self.contacts:  # the rest keep refreshing on their own schedule
            self.registered = True

    def change_contact(self, now: int, new: list[str], remove_old: bool = False) -> None:
        """Register ``new`` contacts instead of the current ones (e.g. a new IP address).

        ``remove_old`` puts the old ones in the same REGISTER with ``expires=0``;
        otherwise they are left to expire at the registrar.
        """
        old = [c for c in self.contacts if c not in new]
        self.contacts = list(new)
        entries = [f"<{c}>" for c in new]
        if remove_old:
            entries += [f"<{c}>;expires=0" for c in old]
        self._send(now, ", ".join(entries), self.expires)

    def line_state(self, now: int, state: str, dialog_id: str = "line1", subscription_state: str | None = None,
                   omit: tuple[str, ...] = ()) -> None:
        """Set the line's state (``idle`` or an RFC 4235 dialog state) and NOTIFY it.

        ``subscription_state`` replaces the header's value and ``omit`` leaves
        out ``contact``, ``body`` or ``subscription_state`` (malformed NOTIFYs
        for the checks of ``bla_handle_notify()``, pua-reference §9.3).
        """
        self.line = () if state == "idle" else ((dialog_id, state),)
        if self.bla_dialog is None:
            self.outbox.emit(Note("warning", f"{self.cfg.name}: no dialog;sla subscription to notify"))
            return
        self._bla_notify(now, subscription_state, omit)

    def _contact(self) -> str:
        return self.contacts[0] if self.contacts else self.cfg.aor

    # -- calls (puasim.phones.calls) -------------------------------------------------------
    def call(self, now: int, target: str, hold: float | None = None, rel100: bool = False) -> str:
        """Place a call to ``target`` (an AOR) through the edge node; returns its Call-ID."""
        return self.calls.call(now, target, hold, rel100)

    def answer(self, now: int, call_id: str | None = None) -> bool:
        return self.calls.answer(now, call_id)

    def reject(self, now: int, status: int = 486, call_id: str | None = None) -> bool:
        return self.calls.reject(now, status, call_id)

    def hangup(self, now: int, call_id: str | None = None) -> bool:
        return self.calls.hangup(now, call_id)

    def cancel(self, now: int, call_id: str | None = None) -> bool:
        return self.calls.cancel(now, call_id)

    def reinvite(self, now: int, call_id: str | None = None, on_hold: bool = True) -> bool:
        """Re-INVITE a confirmed call: hold it (``a=sendonly``) or resume it."""
        return self.calls.reinvite(now, call_id, on_hold)

    def update(self, now: int, call_id: str | None = None, on_hold: bool = False) -> bool:
        """UPDATE an early or confirmed call (RFC 3311)."""
        return self.calls.update(now, call_id, on_hold)

    # -- BLA notifier (draft-anil-sipping-bla-03, RFC 6665, RFC 4235) ------------------
    def _bla_subscribe(self, txn: ServerTransaction, src: Address, now: int) -> None:
        req = txn.request
        try:
            frm, to, expires = H.from_(req), H.to(req), H.expires_or_none(req)
            contacts = H.contact_list(req)
        except SipParseError:
            frm = to = None
            expires, contacts = None, []
        if frm is None or to is None or not frm.tag:
            txn.respond(self._reply(req, 400, "Bad Request", ""), now)
            return
        expires = 3600 if expires is None else expires
        known = self.bla_dialog
        tag = known.local_tag if known is not None and known.call_id == H.call_id(req) else f"{self.rng.getrandbits(32):08x}"
        reply = self._reply(req, 200, "OK", tag, (("Contact", f"<{self.contacts[0] if self.contacts else self.cfg.aor}>"),
                                                  ("Expires", str(expires))))
        txn.respond(reply, now)
        target = contacts[0].uri if contacts and not contacts[0].is_wildcard else ""
        try:
            turi = parse_uri(target)
            dest: Address = (turi.host, turi.port or 5060)
        except (SipParseError, ValueError):
            dest = src
        cseq = known.cseq if known is not None and known.call_id == H.call_id(req) else 0
        self.bla_dialog = BlaDialog(H.call_id(req) or "", tag, frm.tag, frm.uri, to.uri, target or frm.uri, dest, cseq,
                                    expires)
        if expires == 0:
            self._bla_notify(now, "terminated;reason=timeout", ())
            self.bla_dialog = None
        else:
            self._bla_notify(now, None, ())

    def dialog_info(self) -> bytes:
        """The line's RFC 4235 document (full state); the version counts up per NOTIFY."""
        lines = ['<?xml version="1.0"?>',
                 f'<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="{self.bla_version}" state="full"'
                 f' entity="{self.cfg.aor}">']
        for dialog_id, state in self.line:
            lines += [f'<dialog id="{dialog_id}" direction="recipient">', f"<state>{state}</state>", "</dialog>"]
        lines.append("</dialog-info>")
        self.bla_version += 1
        return ("\n".join(lines) + "\n").encode()

    def _bla_notify(self, now: int, subscription_state: str | None, omit: tuple[str, ...]) -> None:
        d = self.bla_dialog
        assert d is not None
        d.cseq += 1
        state = subscription_state if subscription_state is not None else f"active;expires={d.expires}"
        body = b"" if "body" in omit else self.dialog_info()
        headers: list[tuple[str, str]] = [
            ("Max-Forwards", "70"),
            ("From", f"<{d.local_uri}>;tag={d.local_tag}"),
            ("To", f"<{d.remote_uri}>;tag={d.remote_tag}"),
            ("Call-ID", d.call_id),
            ("CSeq", f"{d.cseq} NOTIFY"),
        ]
        if "contact" not in omit:
            headers.append(("Contact", f"<{self.contacts[0] if self.contacts else self.cfg.aor}>"))
        headers.append(("Event", "dialog;sla"))
        if "subscription_state" not in omit:
            headers.append(("Subscription-State", state))
        if body:
            headers.append(("Content-Type", "application/dialog-info+xml"))
        headers.append(("Content-Length", str(len(body))))
        self.layer.send_request(Request("NOTIFY", d.target, tuple(headers), body), d.dest, now, self._on_notify_final)

    def _on_notify_final(self, reply: Response, faked: bool, txn: object, now: int) -> None:
        if not 200 <= reply.status < 300:
            why = "no reply" if faked else f"{reply.status} {reply.reason}"
            self.outbox.emit(Note("warning", f"{self.cfg.name}: dialog;sla NOTIFY failed ({why})"))

    def _reply(self, req: Request, status: int, reason: str, tag: str,
               extra: tuple[tuple[str, str], ...] = ()) -> Response:
        headers = []
        for name, value in req.headers:
            low = name.lower()
            if low in ("via", "from", "call-id", "cseq"):
                headers.append((name, value))
            elif low == "to":
                headers.append((name, value if ";tag=" in value or not tag else f"{value};tag={tag}"))
        headers.extend(extra)
        headers.append(("Content-Length", "0"))
        return Response(status, reason, tuple(headers))

    # -- requests ----------------------------------------------------------------------
    def _new_call_id(self) -> str:
        return f"{self.rng.getrandbits(48):012x}-{self.cfg.name}@{self.cfg.address[0]}"

    def send_register(self, now: int, contacts: list[str], expires: int) -> None:
        if contacts == ["*"]:
            value = "*"
        elif self.cfg.expires_header:
            value = ", ".join(f"<{c}>" for c in contacts)
        else:
            value = ", ".join(f"<{c}>;expires={expires}" for c in contacts)
        self._send(now, value, expires if (self.cfg.expires_header or value == "*") else None)

    def _send(self, now: int, contact_value: str, expires: int | None) -> None:
        self.cseq += 1
        tag = f"{self.rng.getrandbits(32):08x}"
        headers: list[tuple[str, str]] = [
            ("Max-Forwards", "70"),
            ("From", f"<{self.cfg.aor}>;tag={tag}"),
            ("To", f"<{self.cfg.aor}>"),
            ("Call-ID", self.call_id),
            ("CSeq", f"{self.cseq} REGISTER"),
        ]
        if contact_value:
            headers.append(("Contact", contact_value))
        if expires is not None:
            headers.append(("Expires", str(expires)))
        if self.cfg.user_agent:
            headers.append(("User-Agent", self.cfg.user_agent))
        headers.extend(self.cfg.extra_headers)
        headers.append(("Content-Length", "0"))
        request = Request("REGISTER", self.cfg.registrar_uri(), tuple(headers))
        self.outbox.cancel_timer(REFRESH_TIMER)
        self.layer.send_request(request, self.cfg.registrar, now, self._on_final, expires)

    # -- replies -----------------------------------------------------------------------
    def _on_final(self, reply: Response, faked: bool, txn: object, now: int) -> None:
        asked = getattr(txn, "context", None)
        self.last_status = reply.status
        if reply.status == 423:
            try:
                minimum = H.min_expires(reply)
            except SipParseError:
                minimum = None
            if minimum is None:
                self.outbox.emit(Note("warning", f"{self.cfg.name}: 423 without Min-Expires, not retried"))
                return
            self.expires = minimum
            self.send_register(now, self.contacts, self.expires)
            return
        if not 200 <= reply.status < 300:
            self.registered = False
            why = "timeout" if faked else f"{reply.status} {reply.reason}"
            self.outbox.emit(Note("warning", f"{self.cfg.name}: REGISTER failed ({why}), refreshing stops"))
            return
        granted = self._granted(reply)
        if asked == 0 and not self.contacts or granted is None:
            self.registered = False
            self.granted = None
            return
        self.registered = True
        self.granted = granted
        kind, value = self.cfg.refresh
        if kind == "none":  # refreshed only by explicit register() calls
            return
        delay = granted * value if kind == "fraction" else max(granted - value, 1)
        self.outbox.set_timer(REFRESH_TIMER, now + int(delay * SECOND))

    def _granted(self, reply: Response) -> int | None:
        """The smallest ``expires`` the 200 lists for our contacts, else its Expires header."""
        mine: list[int] = []
        try:
            for na in H.contact_list(reply):
                value = na.expires
                if na.uri in self.contacts and value is not None:
                    mine.append(value)
        except SipParseError:
            mine = []
        if mine:
            return min(mine)
        if not self.contacts:
            return None
        try:
            return H.expires_or_none(reply)
        except SipParseError:
            return None
