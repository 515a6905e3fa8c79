"""A phone's calls: the UAC and UAS cores of RFC 3261 §13-§15 with RFC 3262 (100rel), sans-IO.

The phone places a call with an INVITE to its outbound proxy (the edge node
it registers at), to another phone's AOR.  As UAC it

* makes an early dialog from a 1xx with a To-tag (§12.1.2) and PRACKs a
  reliable one (``Require: 100rel`` with ``RSeq``, RFC 3262 §4) once per RSeq;
* ACKs every 2xx itself (§13.2.2.4), the same ACK again for a retransmitted
  2xx, and sends ACK then BYE to a second dialog a forked INVITE made
  (§13.2.2.4: the UAC keeps one dialog);
* CANCELs an unanswered call (§9.1, through the INVITE transaction, which
  waits for a provisional first), hangs up a confirmed one with BYE (§15.1);
* routes in-dialog requests by the route set from the Record-Route of the
  reply that made the dialog, reversed (§12.1.2), to its first hop.

As UAS it answers an INVITE by its :class:`CallPolicy` (ring with 180, or
with a reliable 183 when the caller supports 100rel, at once or after a
delay; answer with 200 after a
delay, reject, or leave it ringing), retransmits a reliable provisional until
its PRACK (RFC 3262 §3: T1 doubling, given up after 64·T1) and holds a 2xx
answer until that PRACK, answers CANCEL with 200 and the INVITE with 487
(§9.2), BYE with 200 (§15.1.2), and an unknown in-dialog request with 481.

Within a dialog either side may change the session (RFC 3261 §14, RFC 3311):

* ``reinvite`` sends a re-INVITE in a confirmed call (an INVITE client
  transaction, CSeq one up, the dialog's route set) with an SDP offer that
  holds (``a=sendonly``) or resumes (``a=sendrecv``) the call
  (:mod:`puasim.phones.sdp`); the 2xx gets its own ACK (§13.2.2.4, again for
  a retransmitted 2xx) and refreshes the remote target (§12.2.1.2); a 481 or
  a timeout ends the call with BYE (§14.1), any other failure leaves it as it
  was.  Only one re-INVITE at a time (§14.1).
* ``update`` sends an UPDATE (a non-INVITE transaction) with such an offer,
  in the early dialog (once a 1xx with To-tag came, or, as callee, once it
  rang) or in a confirmed one.
* As UAS the phone answers a re-INVITE of a confirmed call with 200 (its
  Contact and the mirrored direction, RFC 3264 §6.1), with 491 while its own
  re-INVITE is pending (§14.2) and 500 with ``Retry-After`` while the first
  INVITE is still unanswered; an UPDATE with 200 (same answer) in an early or
  confirmed call.  Each takes the sender's Contact as the new remote target.
  A 2xx to a re-INVITE that gets no ACK ends the call with BYE (§13.3.1.4).

A call spec's ``hold`` makes the caller hang up that many seconds after the
call was answered.  Every change of a call's state is a Note in the trace
(``call <call-id>: <state>``), so ladders and reports can show it.

Timer keys: ``("call", call_id, what)``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from puasim.effects import SECOND, Address, Outbox
from puasim.phones import sdp
from puasim.sip import headers as H
from puasim.sip.errors import SipParseError
from puasim.sip.message import Request, Response, header_key
from puasim.sip.uri import parse_uri
from puasim.trace.events import Note
from puasim.txn import (
    InviteClientTransaction,
    InviteServerTransaction,
    InviteState,
    TransactionLayer,
)
from puasim.txn.transactions import ServerTransaction

#: what a phone does with an incoming INVITE
ANSWER_MODES = ("ring", "answer", "reject", "none")


@dataclass(frozen=True, slots=True)
class CallPolicy:
    """How a phone treats incoming calls (the callee's side of a call spec)."""

    #: ``ring``: 180 (or a reliable 183), then wait for an answer step or ``answer_after``;
    #: ``answer``: 200 at once; ``reject``: ``reject_status`` at once; ``none``: no reply at all
    mode: str = "ring"
    #: ring with a reliable 183 (RFC 3262) when the INVITE says ``Supported: 100rel``
    rel100: bool = False
    #: seconds from the INVITE to the 200 (``None``: wait for a ``phone.answer`` step)
    answer_after: float | None = None
    reject_status: int = 486
    #: seconds from the answer until the callee hangs up (``None``: it never does)
    hangup_after: float | None = None
    #: seconds from the INVITE to the 180 (or reliable 183) in ``ring`` mode (0: at once)
    ring_after: float = 0.0


REASONS = {180: "Ringing", 183: "Session Progress", 200: "OK", 481: "Call/Transaction Does Not Exist",
           486: "Busy Here", 487: "Request Terminated", 480: "Temporarily Unavailable", 603: "Decline",
           404: "Not Found", 408: "Request Timeout", 500: "Server Internal Error", 491: "Request Pending"}


@dataclass(slots=True)
class Call:
    """One call leg of this phone, caller or callee side."""

    call_id: str
    role: str  # "caller" or "callee"
    local_uri: str
    remote_uri: str
    local_tag: str
    remote_tag: str = ""
    #: where in-dialog requests go (the peer's Contact) and their Route headers
    remote_target: str = ""
    route_set: tuple[str, ...] = ()
    local_cseq: int = 1
    state: str = "calling"  # calling, early, confirmed, terminated
    invite: InviteClientTransaction | None = None
    server: InviteServerTransaction | None = None
    ack: Request | None = None
    #: seconds the caller holds the call once answered
    hold: float | None = None
    #: RFC 3262 state: the RSeq of our reliable 1xx awaiting PRACK, the last RSeq we PRACKed
    rseq: int = 0
    awaiting_prack: Response | None = None
    prack_interval: int = 0
    answer_pending: bool = False
    acked_rseqs: set[int] = field(default_factory=set)
    rel100: bool = False
    #: our latest re-INVITE; the ACK of each re-INVITE's 2xx by its branch (sent again on a retransmission)
    reinvite: InviteClientTransaction | None = None
    reinvite_acks: dict[str, Request] = field(default_factory=dict)
    #: a re-INVITE of the peer we answered and whose ACK has not come
    incoming_reinvite: InviteServerTransaction | None = None
    #: SDP origin version of our last offer or answer (RFC 3264 §8)
    sdp_version: int = 0


class Calls:
    """The calls of one phone (see module docstring)."""

    def __init__(self, name: str, aor: str, contact: Callable[[], str], proxy: Address, layer: TransactionLayer,
                 outbox: Outbox, rng: random.Random, policy: CallPolicy) -> None:
        self.name = name
        self.aor = aor
        self.contact = contact
        self.proxy = proxy
        self.layer = layer
        self.outbox = outbox
        self.rng = rng
        self.policy = policy
        self.calls: dict[str, Call] = {}
        self.counter = 0

    # -- helpers -------------------------------------------------------------------------
    def _state(self, call: Call, state: str, why: str = "") -> None:
        call.state = state
        self.outbox.emit(Note("info", f"{self.name}: call {call.call_id}: {state}" + (f" ({why})" if why else "")))

    def _tag(self) -> str:
        return f"{self.rng.getrandbits(32):08x}"

    def _next_hop(self, call: Call) -> Address:
        target = call.route_set[0].strip("<>").split(">")[0] if call.route_set else call.remote_target
        try:
            uri = parse_uri(target)
            return (uri.host.strip("[]"), uri.port or 5060)
        except (SipParseError, ValueError):
            return self.proxy

    def latest(self) -> Call | None:
        """The most recent call not yet terminated (what a step without ``call_id`` means)."""
        live = [c for c in self.calls.values() if c.state != "terminated"]
        return live[-1] if live else None

    def find(self, call_id: str | None) -> Call | None:
        return self.calls.get(call_id) if call_id else self.latest()

    # -- caller --------------------------------------------------------------------------
    def call(self, now: int, target: str, hold: float | None = None, rel100: bool = False) -> str:
        """INVITE ``target`` (an AOR) through the outbound proxy; returns the Call-ID."""
        self.counter += 1
        call_id = f"{self.rng.getrandbits(48):012x}-call{self.counter}-{self.name}"
        call = Call(call_id, "caller", self.aor, target, self._tag(), hold=hold, rel100=rel100)
        self.calls[call_id] = call
        headers: list[tuple[str, str]] = [
            ("Max-Forwards", "70"),
            ("From", f"<{self.aor}>;tag={call.local_tag}"),
            ("To", f"<{target}>"),
            ("Call-ID", call_id),
            ("CSeq", "1 INVITE"),
            ("Contact", f"<{self.contact()}>"),
        ]
        if rel100:
            headers.append(("Supported", "100rel"))
        headers.append(("Content-Length", "0"))
        call.invite = self.layer.send_invite(Request("INVITE", target, tuple(headers)), self.proxy, now,
                                             self._on_invite_reply, call_id)
        self._state(call, "calling", f"to {target}")
        return call_id

    def _on_invite_reply(self, reply: Response, faked: bool, txn: InviteClientTransaction, now: int) -> None:
        call = self.calls.get(str(txn.context))
        if call is None:
            return
        try:
            to = H.to(reply)
        except SipParseError:
            to = None
        tag = to.tag if to is not None and to.tag else ""
        if reply.status < 200:
            if not tag or call.state not in ("calling", "early"):
                return
            if call.state == "calling":
                self._make_dialog(call, reply, tag)
                self._state(call, "early", f"{reply.status} {reply.reason}")
            if call.rel100 and "100rel" in (reply.get("require") or "") and tag == call.remote_tag:
                self._prack(call, reply, now)
            return
        if 200 <= reply.status < 300:
            if call.state == "terminated" and call.ack is None:
                # answered after a CANCEL crossed it: ACK, then BYE (§9.1, §15)
                self._make_dialog(call, reply, tag)
                self._send_ack(call, now)
                self._bye(call, now)
                return
            if call.remote_tag and tag != call.remote_tag and call.state == "confirmed":
                self._drop_fork(call, reply, tag, now)
                return
            if call.ack is not None and tag == call.remote_tag:
                assert call.ack is not None
                self.outbox.send(call.ack, self._next_hop(call), retransmission=True)
                return
            self._make_dialog(call, reply, tag)
            self._send_ack(call, now)
            self._state(call, "confirmed", "200 OK")
            if call.hold is not None:
                self.outbox.set_timer(("call", call.call_id, "bye"), now + int(call.hold * SECOND))
            return
        if call.state != "terminated":
            why = "no reply" if faked else f"{reply.status} {reply.reason}"
            self._state(call, "terminated", why)

    def _make_dialog(self, call: Call, reply: Response, tag: str) -> None:
        """§12.1.2: remote tag, remote target from Contact, route set from Record-Route reversed."""
        call.remote_tag = tag
        try:
            contacts = H.contact_list(reply)
            rr = H.record_route_list(reply)
        except SipParseError:
            contacts, rr = [], []
        if contacts:
            call.remote_target = contacts[0].uri
        call.route_set = tuple(f"<{na.uri}>" for na in reversed(rr))

    def _dialog_headers(self, call: Call, method: str, cseq: int | None = None) -> list[tuple[str, str]]:
        if cseq is None:
            call.local_cseq += 1
            cseq = call.local_cseq
        local = f"<{call.local_uri}>;tag={call.local_tag}"
        remote = f"<{call.remote_uri}>" + (f";tag={call.remote_tag}" if call.remote_tag else "")
        headers: list[tuple[str, str]] = [("Max-Forwards", "70")]
        headers += [("Route", r) for r in call.route_set]
        headers += [("From", local), ("To", remote), ("Call-ID", call.call_id), ("CSeq", f"{cseq} {method}")]
        return headers

    def _send_ack(self, call: Call, now: int) -> None:
        headers = self._dialog_headers(call, "ACK", cseq=1 if call.role == "caller" else call.local_cseq)
        headers.append(("Content-Length", "0"))
        ack = Request("ACK", call.remote_target or call.remote_uri, tuple(headers))
        call.ack = self.layer.send_ack(ack, self._next_hop(call))

    def _prack(self, call: Call, reply: Response, now: int) -> None:
        try:
            rseq = int((reply.get("rseq") or "").strip())
        except ValueError:
            return
        if rseq in call.acked_rseqs:
            return  # a retransmission: the PRACK transaction is already on its way
        call.acked_rseqs.add(rseq)
        headers = self._dialog_headers(call, "PRACK")
        headers += [("RAck", f"{rseq} 1 INVITE"), ("Content-Length", "0")]
        self.layer.send_request(Request("PRACK", call.remote_target or call.remote_uri, tuple(headers)),
                                self._next_hop(call), now, None, call.call_id)

    def _drop_fork(self, call: Call, reply: Response, tag: str, now: int) -> None:
        """§13.2.2.4: a 2xx from another fork: ACK it and BYE that dialog at once."""
        other = Call(call.call_id, "caller", call.local_uri, call.remote_uri, call.local_tag)
        other.local_cseq = call.local_cseq
        self._make_dialog(other, reply, tag)
        self._send_ack(other, now)
        self._bye(other, now)
        self.outbox.emit(Note("info", f"{self.name}: call {call.call_id}: second 2xx (tag {tag}) ACKed and hung up"))

    # -- either side ---------------------------------------------------------------------
    def hangup(self, now: int, call_id: str | None = None) -> bool:
        """BYE a confirmed call; CANCEL (caller) or reject with 480 (callee) one not yet answered."""
        call = self.find(call_id)
        if call is None:
            self.outbox.emit(Note("warning", f"{self.name}: no call to hang up"))
            return False
        if call.state == "confirmed":
            self._bye(call, now)
            self._state(call, "terminated", "BYE sent")
            return True
        if call.role == "caller":
            return self.cancel(now, call.call_id)
        return self.reject(now, 480, call.call_id)

    def _bye(self, call: Call, now: int) -> None:
        self.outbox.cancel_timer(("call", call.call_id, "bye"))
        headers = self._dialog_headers(call, "BYE")
        headers.append(("Content-Length", "0"))
        self.layer.send_request(Request("BYE", call.remote_target or call.remote_uri, tuple(headers)),
                                self._next_hop(call), now, None, call.call_id)

    def cancel(self, now: int, call_id: str | None = None) -> bool:
        call = self.find(call_id)
        if call is None or call.role != "caller" or call.invite is None:
            self.outbox.emit(Note("warning", f"{self.name}: no outgoing call to cancel"))
            return False
        if not call.invite.cancel(now):
            self.outbox.emit(Note("warning", f"{self.name}: call {call.call_id}: too late to CANCEL"))
            return False
        self._state(call, "terminated", "CANCEL")
        return True

    # -- re-INVITE and UPDATE (RFC 3261 §14, RFC 3311) -------------------------------------
    def _offer(self, call: Call, on_hold: bool) -> bytes:
        call.sdp_version += 1
        return sdp.body(self.contact(), self._session_id(call), call.sdp_version,
                        "sendonly" if on_hold else "sendrecv")

    @staticmethod
    def _session_id(call: Call) -> int:
        return sum(call.local_tag.encode()) * 1000 + len(call.call_id)

    def _pending_reinvite(self, call: Call) -> bool:
        return call.reinvite is not None and call.reinvite.state in (InviteState.CALLING, InviteState.PROCEEDING)

    def reinvite(self, now: int, call_id: str | None = None, on_hold: bool = True) -> bool:
        """Re-INVITE a confirmed call to hold it (``a=sendonly``) or resume it (``a=sendrecv``)."""
        call = self.find(call_id)
        if call is None or call.state != "confirmed":
            self.outbox.emit(Note("warning", f"{self.name}: no confirmed call to re-INVITE"))
            return False
        if self._pending_reinvite(call) or call.incoming_reinvite is not None:
            self.outbox.emit(Note("warning", f"{self.name}: call {call.call_id}: a re-INVITE is already pending"))
            return False
        headers = self._dialog_headers(call, "INVITE")
        headers += [("Contact", f"<{self.contact()}>"), ("Content-Type", sdp.CONTENT_TYPE)]
        body = self._offer(call, on_hold)
        headers.append(("Content-Length", str(len(body))))
        request = Request("INVITE", call.remote_target or call.remote_uri, tuple(headers), body)
        call.reinvite = self.layer.send_invite(request, self._next_hop(call), now, self._on_reinvite_reply,
                                               call.call_id)
        self.outbox.emit(Note("info", f"{self.name}: call {call.call_id}: re-INVITE ({'hold' if on_hold else 'resume'})"))
        return True

    def _on_reinvite_reply(self, reply: Response, faked: bool, txn: InviteClientTransaction, now: int) -> None:
        call = self.calls.get(str(txn.context))
        if call is None or reply.status < 200:
            return
        if reply.status < 300:
            sent = call.reinvite_acks.get(txn.branch)
            if sent is not None:
                self.outbox.send(sent, self._next_hop(call), retransmission=True)
                return
            self._target_refresh(call, reply)
            cseq = H.cseq(txn.request)
            headers = self._dialog_headers(call, "ACK", cseq=cseq.seq if cseq is not None else call.local_cseq)
            headers.append(("Content-Length", "0"))
            ack = Request("ACK", call.remote_target or call.remote_uri, tuple(headers))
            call.reinvite_acks[txn.branch] = self.layer.send_ack(ack, self._next_hop(call))
            answer = sdp.direction(reply.body) if reply.body else None
            self.outbox.emit(Note("info", f"{self.name}: call {call.call_id}: re-INVITE answered"
                                  f" ({reply.status} {reply.reason}, {answer or 'no SDP'})"))
            return
        why = "no reply" if faked else f"{reply.status} {reply.reason}"
        if (faked or reply.status == 481) and call.state == "confirmed":
            # §14.1: a 481 or a timeout to a re-INVITE ends the dialog
            self._bye(call, now)
            self._state(call, "terminated", f"re-INVITE failed: {why}")
            return
        self.outbox.emit(Note("info", f"{self.name}: call {call.call_id}: re-INVITE failed ({why}), call unchanged"))

    def update(self, now: int, call_id: str | None = None, on_hold: bool = False) -> bool:
        """UPDATE an early or confirmed call (RFC 3311) with an SDP offer."""
        call = self.find(call_id)
        early = call is not None and call.state in ("early", "ringing") and bool(call.remote_tag)
        if call is None or not (early or call.state == "confirmed"):
            self.outbox.emit(Note("warning", f"{self.name}: no early or confirmed call to UPDATE"))
            return False
        headers = self._dialog_headers(call, "UPDATE")
        headers += [("Contact", f"<{self.contact()}>"), ("Content-Type", sdp.CONTENT_TYPE)]
        body = self._offer(call, on_hold)
        headers.append(("Content-Length", str(len(body))))
        request = Request("UPDATE", call.remote_target or call.remote_uri, tuple(headers), body)
        self.layer.send_request(request, self._next_hop(call), now, self._on_update_final, call.call_id)
        self.outbox.emit(Note("info", f"{self.name}: call {call.call_id}: UPDATE ({'hold' if on_hold else 'resume'})"))
        return True

    def _on_update_final(self, reply: Response, faked: bool, txn: object, now: int) -> None:
        call = self.calls.get(str(getattr(txn, "context", "")))
        if call is None:
            return
        if 200 <= reply.status < 300 and not faked:
            self._target_refresh(call, reply)
        why = "no reply" if faked else f"{reply.status} {reply.reason}"
        self.outbox.emit(Note("info", f"{self.name}: call {call.call_id}: UPDATE answered ({why})"))

    @staticmethod
    def _target_refresh(call: Call, message: Request | Response) -> None:
        """RFC 3261 §12.2.1.2 / §12.2.2, RFC 3311 §5: a Contact replaces the remote target."""
        try:
            contacts = H.contact_list(message)
        except SipParseError:
            return
        if contacts:
            call.remote_target = contacts[0].uri

    def _in_dialog_invite(self, txn: InviteServerTransaction, to_tag: str, from_tag: str, now: int) -> None:
        req = txn.request
        call = self.calls.get(H.call_id(req) or "")
        if call is None or call.local_tag != to_tag or call.remote_tag != from_tag or call.state == "terminated":
            txn.respond(self._reply(req, 481, ""), now)
            return
        if call.state != "confirmed" or (call.server is not None and call.server.state is InviteState.PROCEEDING):
            # §14.2: our own INVITE is not answered yet
            txn.respond(self._reply(req, 500, "", (("Retry-After", str(1 + self.rng.getrandbits(3))),)), now)
            return
        if self._pending_reinvite(call) or call.incoming_reinvite is not None:
            txn.respond(self._reply(req, 491, ""), now)  # §14.2: glare
            return
        offered, extra, body = self._answer_offer(call, req)
        call.incoming_reinvite = txn
        txn.on_ack_timeout = lambda t, at: self._no_ack(call, at)
        txn.respond(self._reply(req, 200, "", extra, body), now)
        self.outbox.emit(Note("info", f"{self.name}: call {call.call_id}: re-INVITE received ({offered or 'no SDP'}), 200 sent"))

    def _answer_offer(self, call: Call, req: Request) -> tuple[str | None, tuple[tuple[str, str], ...], bytes]:
        """A target refresh request's 200: take its Contact as the remote target, and answer
        its SDP offer, if any, with the mirrored direction (RFC 3264 §6.1): (offered
        direction or None, the 200's Contact and Content-Type headers, its body)."""
        self._target_refresh(call, req)
        offered = (sdp.direction(req.body) or "sendrecv") if req.body else None
        extra: tuple[tuple[str, str], ...] = (("Contact", f"<{self.contact()}>"),)
        body = b""
        if offered is not None:
            call.sdp_version += 1
            body = sdp.body(self.contact(), self._session_id(call), call.sdp_version, sdp.ANSWER[offered])
            extra += (("Content-Type", sdp.CONTENT_TYPE),)
        return offered, extra, body

    def _on_update(self, txn: ServerTransaction, call: Call, now: int) -> None:
        req = txn.request
        to = H.to(req)
        if call.state not in ("early", "ringing", "confirmed") or to is None or to.tag != call.local_tag:
            txn.respond(self._reply(req, 481, ""), now)
            return
        offered, extra, body = self._answer_offer(call, req)
        txn.respond(self._reply(req, 200, "", extra, body), now)
        self.outbox.emit(Note("info", f"{self.name}: call {call.call_id}: UPDATE received ({offered or 'no SDP'}), 200 sent"))

    # -- callee --------------------------------------------------------------------------
    def on_invite(self, txn: InviteServerTransaction, src: Address, now: int) -> None:
        req = txn.request
        try:
            frm, to, call_id, contacts = H.from_(req), H.to(req), H.call_id(req), H.contact_list(req)
            rr = H.record_route_list(req)
        except SipParseError:
            txn.respond(self._reply(req, 400, ""), now)
            return
        if frm is not None and to is not None and call_id and to.tag:
            self._in_dialog_invite(txn, to.tag, frm.tag or "", now)
            return
        if frm is None or to is None or not call_id:
            txn.respond(self._reply(req, 400, ""), now)
            return
        call = Call(call_id, "callee", to.uri, frm.uri, self._tag(), remote_tag=frm.tag or "",
                    remote_target=contacts[0].uri if contacts else frm.uri,
                    route_set=tuple(f"<{na.uri}>" for na in rr), server=txn)
        call.local_cseq = 0
        call.rel100 = self.policy.rel100 and "100rel" in (req.get("supported") or "") + (req.get("require") or "")
        self.calls[call_id] = call
        self._state(call, "ringing" if self.policy.mode == "ring" else "calling", f"from {frm.uri}")
        txn.on_ack_timeout = lambda t, at: self._no_ack(call, at)
        mode = self.policy.mode
        if mode == "answer":
            self.answer(now, call_id)
        elif mode == "reject":
            self.reject(now, self.policy.reject_status, call_id)
        elif mode == "ring":
            if self.policy.ring_after > 0:
                self.outbox.set_timer(("call", call_id, "ring"), now + int(self.policy.ring_after * SECOND))
            else:
                self._ring(call, now)
            if self.policy.answer_after is not None:
                self.outbox.set_timer(("call", call_id, "answer"), now + int(self.policy.answer_after * SECOND))

    def _ring(self, call: Call, now: int) -> None:
        assert call.server is not None
        if call.rel100:
            call.rseq += 1
            reply = self._reply(call.server.request, 183, call.local_tag,
                                (("Require", "100rel"), ("RSeq", str(call.rseq)), ("Contact", f"<{self.contact()}>")))
            call.awaiting_prack = reply
            call.prack_interval = self.layer.timers.t1
            self.outbox.set_timer(("call", call.call_id, "rel1xx"), now + call.prack_interval)
            self.outbox.set_timer(("call", call.call_id, "rel1xx-giveup"), now + 64 * self.layer.timers.t1)
        else:
            reply = self._reply(call.server.request, 180, call.local_tag, (("Contact", f"<{self.contact()}>"),))
        call.server.respond(reply, now)
        self._state(call, "early", f"{reply.status} sent")

    def answer(self, now: int, call_id: str | None = None) -> bool:
        call = self.find(call_id)
        if call is None or call.role != "callee" or call.server is None or call.state not in ("calling", "ringing", "early"):
            self.outbox.emit(Note("warning", f"{self.name}: no ringing call to answer"))
            return False
        self.outbox.cancel_timer(("call", call.call_id, "answer"))
        if call.awaiting_prack is not None:
            call.answer_pending = True  # RFC 3262 §3: the 2xx waits for the PRACK
            return True
        call.server.respond(self._reply(call.server.request, 200, call.local_tag,
                                        (("Contact", f"<{self.contact()}>"),)), now)
        self._state(call, "confirmed", "200 sent")
        if self.policy.hangup_after is not None:
            self.outbox.set_timer(("call", call.call_id, "bye"), now + int(self.policy.hangup_after * SECOND))
        return True

    def reject(self, now: int, status: int = 486, call_id: str | None = None) -> bool:
        call = self.find(call_id)
        if call is None or call.role != "callee" or call.server is None or call.state == "confirmed":
            self.outbox.emit(Note("warning", f"{self.name}: no ringing call to reject"))
            return False
        self._stop_rel1xx(call)
        self.outbox.cancel_timer(("call", call.call_id, "answer"))
        call.server.respond(self._reply(call.server.request, status, call.local_tag), now)
        self._state(call, "terminated", f"{status} sent")
        return True

    def _stop_rel1xx(self, call: Call) -> None:
        call.awaiting_prack = None
        self.outbox.cancel_timer(("call", call.call_id, "rel1xx"))
        self.outbox.cancel_timer(("call", call.call_id, "rel1xx-giveup"))

    def _no_ack(self, call: Call, now: int) -> None:
        if call.state == "confirmed":
            self.outbox.emit(Note("warning", f"{self.name}: call {call.call_id}: no ACK for the 200, BYE"))
            self._bye(call, now)  # §13.3.1.4
            self._state(call, "terminated", "no ACK")

    def on_request(self, txn: ServerTransaction, now: int) -> bool:
        """ACK, BYE, CANCEL, PRACK of a call; False when the request is not about calls."""
        req = txn.request
        method = req.method
        if method not in ("ACK", "BYE", "CANCEL", "PRACK", "UPDATE"):
            return False
        call = self.calls.get(H.call_id(req) or "")
        if method == "CANCEL":
            invite = self.layer.invite_for(req)
            if invite is None or call is None:
                txn.respond(self._reply(req, 481, ""), now)
                return True
            txn.respond(self._reply(req, 200, call.local_tag), now)
            if invite.state is InviteState.PROCEEDING:  # §9.2: no final yet, so 487
                self._stop_rel1xx(call)
                self.outbox.cancel_timer(("call", call.call_id, "answer"))
                invite.respond(self._reply(invite.request, 487, call.local_tag), now)
                self._state(call, "terminated", "CANCEL received")
            return True
        if method == "ACK":
            if call is not None and call.state == "confirmed":
                incoming = call.incoming_reinvite
                if incoming is not None and (a := H.cseq(req)) is not None and (b := H.cseq(incoming.request)) is not None \
                        and a.seq == b.seq:
                    call.incoming_reinvite = None
                self.outbox.emit(Note("info", f"{self.name}: call {call.call_id}: ACK received"))
            return True
        if call is None:
            txn.respond(self._reply(req, 481, ""), now)
            return True
        if method == "UPDATE":
            self._on_update(txn, call, now)
            return True
        if method == "PRACK":
            rack = (req.get("rack") or "").split()
            if call.awaiting_prack is not None and rack and rack[0] == str(call.rseq):
                self._stop_rel1xx(call)
                txn.respond(self._reply(req, 200, ""), now)
                if call.answer_pending:
                    call.answer_pending = False
                    self.answer(now, call.call_id)
            else:
                txn.respond(self._reply(req, 481, ""), now)
            return True
        # BYE (§15.1.2)
        txn.respond(self._reply(req, 200, ""), now)
        self.outbox.cancel_timer(("call", call.call_id, "bye"))
        if call.state != "terminated":
            self._state(call, "terminated", "BYE received")
        return True

    def timer(self, key: tuple, now: int) -> None:
        _, call_id, what = key
        call = self.calls.get(call_id)
        if call is None:
            return
        if what == "bye":
            if call.state == "confirmed":
                self._bye(call, now)
                self._state(call, "terminated", "hung up")
        elif what == "answer":
            self.answer(now, call_id)
        elif what == "ring":
            if call.state == "ringing":  # not answered, rejected or cancelled meanwhile
                self._ring(call, now)
        elif what == "rel1xx" and call.awaiting_prack is not None and call.server is not None:
            self.outbox.send(call.awaiting_prack, call.server.reply_to or self.proxy, retransmission=True)
            call.prack_interval = min(2 * call.prack_interval, 64 * self.layer.timers.t1)
            self.outbox.set_timer(("call", call_id, "rel1xx"), now + call.prack_interval)
        elif what == "rel1xx-giveup" and call.awaiting_prack is not None:
            # RFC 3262 §3: no PRACK in 64·T1: the UAS rejects the INVITE with a 5xx
            self._stop_rel1xx(call)
            self.reject(now, 500, call_id)

    def _reply(self, req: Request, status: int, tag: str, extra: tuple[tuple[str, str], ...] = (),
               body: bytes = b"") -> Response:
        headers: list[tuple[str, str]] = []
        for name, value in req.headers:
            key = header_key(name)
            if key in ("via", "from", "call-id", "cseq", "record-route"):
                if key == "record-route" and (req.method != "INVITE" or status == 100):
                    continue
                headers.append((name, value))
            elif key == "to":
                headers.append((name, value if ";tag=" in value or not tag else f"{value};tag={tag}"))
        headers.extend(extra)
        headers.append(("Content-Length", str(len(body))))
        return Response(status, REASONS.get(status, "Reason"), tuple(headers), body)
