"""A phone's busy-lamp-field (BLF) subscriptions: RFC 6665 subscriber for RFC 4235 ``dialog``, sans-IO.

A BLF phone watches other extensions: for each watched AOR it sends a
SUBSCRIBE ``Event: dialog`` (``Accept: application/dialog-info+xml``,
RFC 4235 §3.1) straight to the presence server (real phones go through
their proxy; the simulated edge node does not route SUBSCRIBEs, so the
phone talks to the server as an outbound proxy would deliver it).  It

* keeps the dialog the 2xx makes (its To-tag, RFC 6665 §4.1.2.1) and
  refreshes in that dialog when half the granted ``Expires`` has passed
  (RFC 6665 §4.1.2.2 leaves the moment to the subscriber);
* starts a new subscription when a refresh is answered 481 (the notifier
  forgot it, RFC 6665 §4.1.2.2) or when a NOTIFY says
  ``Subscription-State: terminated`` with reason ``timeout``, ``deactivated``
  or none (RFC 6665 §4.1.3: the subscriber may re-subscribe at once);
* answers every NOTIFY 200 (the phone's generic answer); what each NOTIFY
  told it is read back from the trace by :mod:`puasim.report.lamps`, so the
  phone keeps no lamp state of its own.

Other failures stop that watch (a Note says so).  Timer keys:
``("watch", aor)``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from puasim.effects import SECOND, Address, Outbox
from puasim.sip import headers as H
from puasim.sip.errors import SipParseError
from puasim.sip.message import Request, Response
from puasim.trace.events import Note
from puasim.txn import TransactionLayer

#: Subscription-State reasons after which the subscriber re-subscribes at once (RFC 6665 §4.1.3)
RESUBSCRIBE_REASONS = ("", "timeout", "deactivated")


@dataclass(slots=True)
class Watch:
    """The subscriber's side of one ``dialog`` subscription."""

    aor: str
    call_id: str
    from_tag: str
    to_tag: str = ""
    cseq: int = 0
    granted: int = 0
    active: bool = False


class Watches:
    """The BLF subscriptions of one phone (see the module docstring)."""

    def __init__(self, name: str, aor: str, contact: str, server: Address, expires: int,
                 layer: TransactionLayer, outbox: Outbox, rng: random.Random) -> None:
        self.name = name
        self.aor = aor
        self.contact = contact
        self.server = server
        self.expires = expires
        self.layer = layer
        self.outbox = outbox
        self.rng = rng
        self.watches: dict[str, Watch] = {}

    def start(self, targets: tuple[str, ...], now: int) -> None:
        """Subscribe to every target AOR."""
        for aor in targets:
            self.subscribe(aor, now)

    def subscribe(self, aor: str, now: int) -> None:
        """A new subscription (new Call-ID and From-tag) to ``aor``'s dialog state."""
        watch = Watch(aor, f"{self.rng.getrandbits(48):012x}-blf-{self.name}", f"{self.rng.getrandbits(32):08x}")
        self.watches[aor] = watch
        self._send(watch, now)

    def unsubscribe(self, aor: str, now: int) -> None:
        """End the subscription to ``aor``: a SUBSCRIBE with ``Expires: 0`` in its dialog
        (RFC 6665 §4.1.2.3), or nothing when it never got one; the watch is forgotten."""
        watch = self.watches.pop(aor, None)
        if watch is None:
            return
        self.outbox.cancel_timer(("watch", aor))
        if watch.active and watch.to_tag:
            watch.active = False
            self._send(watch, now, expires=0)

    def timer(self, key: tuple, now: int) -> bool:
        if len(key) != 2 or key[0] != "watch":
            return False
        watch = self.watches.get(key[1])
        if watch is not None and watch.active:
            self._send(watch, now)
        return True

    def on_notify(self, req: Request, now: int) -> None:
        """A NOTIFY of one of our subscriptions: re-subscribe when it says terminated (RFC 6665 §4.1.3)."""
        try:
            state = (req.get("subscription-state") or "").strip()
        except SipParseError:
            return
        value, _, params = state.partition(";")
        if value.strip().lower() != "terminated":
            return
        reason = ""
        for param in params.split(";"):
            name, _, arg = param.partition("=")
            if name.strip().lower() == "reason":
                reason = arg.strip().lower()
        watch = next((w for w in self.watches.values() if w.call_id == H.call_id(req)), None)
        if watch is None:
            return
        self.outbox.cancel_timer(("watch", watch.aor))
        watch.active = False
        if reason in RESUBSCRIBE_REASONS:
            self.subscribe(watch.aor, now)

    def _send(self, watch: Watch, now: int, expires: int | None = None) -> None:
        watch.cseq += 1
        to = f"<{watch.aor}>" + (f";tag={watch.to_tag}" if watch.to_tag else "")
        headers = (
            ("Max-Forwards", "70"),
            ("From", f"<{self.aor}>;tag={watch.from_tag}"),
            ("To", to),
            ("Call-ID", watch.call_id),
            ("CSeq", f"{watch.cseq} SUBSCRIBE"),
            ("Contact", f"<{self.contact}>"),
            ("Event", "dialog"),
            ("Accept", "application/dialog-info+xml"),
            ("Expires", str(self.expires if expires is None else expires)),
            ("Content-Length", "0"),
        )
        self.layer.send_request(Request("SUBSCRIBE", watch.aor, headers), self.server, now, self._on_final, watch)

    def _on_final(self, reply: Response, faked: bool, txn: object, now: int) -> None:
        watch = getattr(txn, "context", None)
        if not isinstance(watch, Watch) or self.watches.get(watch.aor) is not watch:
            return  # a subscription we replaced meanwhile
        if 200 <= reply.status < 300:
            try:
                to = H.to(reply)
                granted = H.expires_or_none(reply)
            except SipParseError:
                to, granted = None, None
            if to is not None and to.tag and not watch.to_tag:
                watch.to_tag = to.tag
            watch.granted = self.expires if granted is None else granted
            watch.active = watch.granted > 0
            if watch.active:
                delay = max(watch.granted * SECOND // 2, SECOND)
                self.outbox.set_timer(("watch", watch.aor), now + delay)
            return
        watch.active = False
        if reply.status == 481 and watch.to_tag:  # RFC 6665 §4.1.2.2: the notifier forgot it
            self.subscribe(watch.aor, now)
            return
        why = "timeout" if faked else f"{reply.status} {reply.reason}"
        self.outbox.emit(Note("warning", f"{self.name}: dialog SUBSCRIBE to {watch.aor} failed ({why}), watch stops"))
