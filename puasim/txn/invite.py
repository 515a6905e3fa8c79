"""INVITE transactions over UDP, sans-IO (RFC 3261 §17.1.1, §17.2.1; RFC 6026 §7, §8).

As for the non-INVITE machines in :mod:`puasim.txn.transactions`, every state
change is a row of a table ``(state, input) -> next state``; an input a state
does not list is ignored (a stray reply or retransmission is absorbed).

RFC 6026 replaced the "2xx ends the transaction" rule of RFC 3261 with an
*Accepted* state, on both sides, so that retransmitted and forked 2xx replies
still reach the transaction user (client side) and so that a retransmitted
INVITE is not taken for a new one (server side).  Kamailio's tm keeps an
INVITE transaction after a 2xx in the same way; the model follows RFC 6026.

What reaches the transaction user (the UA core, or a proxy) on the client
side: every provisional reply, every 2xx (the UAC core sends the ACK for a 2xx
itself, RFC 3261 §13.2.2.4), the first non-2xx final (the transaction sends its
ACK, §17.1.1.3), or a local ``408`` marked *faked* when timer B fires.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from puasim.effects import Address
from puasim.sip.message import Request, Response, header_key
from puasim.trace.events import TransactionFinished
from puasim.txn.transactions import TransactionError, local_timeout_response


class InviteState(enum.Enum):
    CALLING = "Calling"
    PROCEEDING = "Proceeding"
    COMPLETED = "Completed"
    CONFIRMED = "Confirmed"
    ACCEPTED = "Accepted"
    TERMINATED = "Terminated"

    def __repr__(self) -> str:
        return self.value


S = InviteState

#: Client INVITE transaction, RFC 3261 §17.1.1.2 and Figure 5, with RFC 6026 §8.4 (Accepted).
INVITE_CLIENT_TRANSITIONS: dict[tuple[InviteState, str], InviteState] = {
    (S.CALLING, "timer_a"): S.CALLING,  # §17.1.1.2: retransmit, double A
    (S.CALLING, "timer_b"): S.TERMINATED,  # §17.1.1.2: timeout reported to the TU
    (S.CALLING, "provisional"): S.PROCEEDING,  # §17.1.1.2: A stops, 1xx to the TU
    (S.CALLING, "2xx"): S.ACCEPTED,  # RFC 6026 §8.4: 2xx to the TU, timer M
    (S.CALLING, "non2xx"): S.COMPLETED,  # §17.1.1.2: ACK sent, timer D
    (S.PROCEEDING, "provisional"): S.PROCEEDING,
    (S.PROCEEDING, "2xx"): S.ACCEPTED,
    (S.PROCEEDING, "non2xx"): S.COMPLETED,
    # Kamailio tm: fr_inv_timer runs once a provisional came (see TimerConfig.fr_inv); the
    # TU gets a local 408 and the transaction waits in Completed (timer D) to ACK the
    # 487 its CANCEL will bring
    (S.PROCEEDING, "timer_b"): S.COMPLETED,
    (S.COMPLETED, "non2xx"): S.COMPLETED,  # §17.1.1.2: resend the ACK, TU not told
    (S.COMPLETED, "timer_d"): S.TERMINATED,
    (S.ACCEPTED, "2xx"): S.ACCEPTED,  # RFC 6026 §8.4: each 2xx passed to the TU
    (S.ACCEPTED, "timer_m"): S.TERMINATED,
}

#: Server INVITE transaction, RFC 3261 §17.2.1 and Figure 7, with RFC 6026 §7.1 (Accepted).
INVITE_SERVER_TRANSITIONS: dict[tuple[InviteState, str], InviteState] = {
    (S.PROCEEDING, "request"): S.PROCEEDING,  # §17.2.1: resend the last provisional
    (S.PROCEEDING, "send_provisional"): S.PROCEEDING,
    (S.PROCEEDING, "send_2xx"): S.ACCEPTED,  # RFC 6026 §7.1
    (S.PROCEEDING, "send_non2xx"): S.COMPLETED,  # §17.2.1: timers G and H
    (S.COMPLETED, "request"): S.COMPLETED,  # resend the final
    (S.COMPLETED, "timer_g"): S.COMPLETED,  # resend the final, double G up to T2
    (S.COMPLETED, "ack"): S.CONFIRMED,  # §17.2.1: timer I
    (S.COMPLETED, "timer_h"): S.TERMINATED,  # no ACK came: the TU is told
    (S.CONFIRMED, "ack"): S.CONFIRMED,  # absorbed
    (S.CONFIRMED, "timer_i"): S.TERMINATED,
    (S.ACCEPTED, "request"): S.ACCEPTED,  # RFC 6026 §7.1: absorbed, not a new INVITE
    (S.ACCEPTED, "send_2xx"): S.ACCEPTED,  # a proxy forwards every forked 2xx
    (S.ACCEPTED, "timer_g"): S.ACCEPTED,  # 2xx retransmission (§13.3.1.4, kept here)
    (S.ACCEPTED, "ack"): S.ACCEPTED,  # the ACK for the 2xx stops the retransmissions
    (S.ACCEPTED, "timer_l"): S.TERMINATED,  # RFC 6026 §7.1: timer L = 64·T1
}

#: ``(response, faked, transaction, now)`` for every reply the TU is given
ResponseCallback = Callable[[Response, bool, "InviteClientTransaction", int], None]
#: ``(transaction, now)`` when timer H fires (no ACK for a non-2xx final)
AckTimeoutCallback = Callable[["InviteServerTransaction", int], None]


def _go(table: dict[tuple[InviteState, str], InviteState], txn: Any, event: str) -> bool:
    nxt = table.get((txn.state, event))
    if nxt is None:
        return False
    txn.state = nxt
    return True


def ack_for(invite: Request, response: Response) -> Request:
    """The ACK a client transaction sends for a non-2xx final (RFC 3261 §17.1.1.3).

    Request-URI, Call-ID, From, the top Via (same branch) and Route as in the
    INVITE; To from the response (it carries the UAS's tag); CSeq number of
    the INVITE with method ACK.
    """
    headers: list[tuple[str, str]] = []
    via_done = False
    for name, value in invite.headers:
        key = header_key(name)
        if key == "via":
            if not via_done:
                headers.append((name, value))
                via_done = True
        elif key in ("from", "call-id", "route", "max-forwards"):
            headers.append((name, value))
        elif key == "to":
            headers.append((name, response.get("to") or value))
        elif key == "cseq":
            headers.append((name, f"{value.split()[0]} ACK"))
    headers.append(("Content-Length", "0"))
    return Request("ACK", invite.uri, tuple(headers))


def cancel_for(invite: Request) -> Request:
    """The CANCEL for an INVITE (RFC 3261 §9.1): same Request-URI, Call-ID,
    To, From, top Via (same branch) and Route, CSeq number with method CANCEL."""
    headers: list[tuple[str, str]] = []
    via_done = False
    for name, value in invite.headers:
        key = header_key(name)
        if key == "via":
            if not via_done:
                headers.append((name, value))
                via_done = True
        elif key in ("from", "to", "call-id", "route", "max-forwards"):
            headers.append((name, value))
        elif key == "cseq":
            headers.append((name, f"{value.split()[0]} CANCEL"))
    headers.append(("Content-Length", "0"))
    return Request("CANCEL", invite.uri, tuple(headers))


@dataclass(slots=True)
class InviteClientTransaction:
    """One outgoing INVITE until Terminated (RFC 3261 §17.1.1)."""

    layer: TransactionLayer
    request: Request
    dest: Address
    branch: str
    on_reply: ResponseCallback | None
    started: int
    context: Any = None
    state: InviteState = InviteState.CALLING
    interval: int = 0
    retransmissions: int = 0
    final: Response | None = None
    faked: bool = False
    ack: Request | None = None
    #: a CANCEL asked for before any provisional came: sent on the first 1xx (§9.1)
    cancel_pending: bool = False
    cancel_callback: Any = None
    method: str = "INVITE"

    def _key(self, timer: str) -> tuple:
        return ("txn", "c", self.branch, "INVITE", timer)

    def start(self, now: int) -> None:
        cfg = self.layer.timers
        out = self.layer.outbox
        out.send(self.request, self.dest)
        self.interval = cfg.t1
        out.set_timer(self._key("A"), now + cfg.t1)  # §17.1.1.2: unreliable transport
        out.set_timer(self._key("B"), now + cfg.b)

    def on_response(self, response: Response, now: int) -> None:
        status = response.status
        kind = "provisional" if status < 200 else "2xx" if status < 300 else "non2xx"
        previous = self.state
        if not _go(INVITE_CLIENT_TRANSITIONS, self, kind):
            return
        out = self.layer.outbox
        cfg = self.layer.timers
        if previous is InviteState.COMPLETED:
            # §17.1.1.2: a retransmitted final gets the ACK again, the TU is not told;
            # after fr_inv_timer the first final (the 487) gets its first ACK here
            if self.ack is None:
                self.ack = ack_for(self.request, response)
                out.send(self.ack, self.dest)
            else:
                out.send(self.ack, self.dest, retransmission=True)
            return
        if previous is InviteState.CALLING:
            out.cancel_timer(self._key("A"))
        if kind == "provisional":
            if previous is InviteState.CALLING:
                if cfg.fr_inv is not None:  # Kamailio tm: fr_inv_timer replaces fr_timer
                    out.set_timer(self._key("B"), now + cfg.fr_inv)
                else:  # RFC 3261 Figure 5: timer B matters in Calling only
                    out.cancel_timer(self._key("B"))
                if self.cancel_pending:
                    self.cancel_pending = False
                    self.layer.send_cancel(self, now, self.cancel_callback)
            self._tell(response, False, now)
            return
        if previous is not InviteState.ACCEPTED:
            out.cancel_timer(self._key("B"))
            self.cancel_pending = False
        if kind == "2xx":
            if previous is not InviteState.ACCEPTED:
                out.set_timer(self._key("M"), now + cfg.m)
                self._finish(response, False, now)
            self._tell(response, False, now)
            return
        self.ack = ack_for(self.request, response)
        out.send(self.ack, self.dest)
        out.set_timer(self._key("D"), now + cfg.d)
        self._finish(response, False, now)
        self._tell(response, False, now)

    def on_timer(self, which: str, now: int) -> None:
        out = self.layer.outbox
        cfg = self.layer.timers
        if which == "A":
            if not _go(INVITE_CLIENT_TRANSITIONS, self, "timer_a"):
                return
            out.send(self.request, self.dest, retransmission=True)
            self.retransmissions += 1
            self.interval *= 2  # §17.1.1.2: doubled each time, no T2 cap for INVITE
            out.set_timer(self._key("A"), now + self.interval)
        elif which == "B":
            if not _go(INVITE_CLIENT_TRANSITIONS, self, "timer_b"):
                return
            out.cancel_timer(self._key("A"))
            self.cancel_pending = False
            timeout = local_timeout_response(self.request)
            self._finish(timeout, True, now)
            if self.state is InviteState.COMPLETED:
                out.set_timer(self._key("D"), now + cfg.d)
            else:
                self.layer._forget(self)
            self._tell(timeout, True, now)
        elif which in ("D", "M"):
            if _go(INVITE_CLIENT_TRANSITIONS, self, f"timer_{which.lower()}"):
                self.layer._forget(self)

    def cancel(self, now: int, on_final: Any = None) -> bool:
        """Ask for a CANCEL (RFC 3261 §9.1); False when it is too late for one.

        Before any provisional reply the CANCEL waits for the first one, as
        §9.1 asks; once a final reply came there is nothing left to cancel.
        """
        if self.state is InviteState.CALLING:
            self.cancel_pending = True
            self.cancel_callback = on_final
            return True
        if self.state is InviteState.PROCEEDING:
            self.layer.send_cancel(self, now, on_final)
            return True
        return False

    def _finish(self, response: Response, faked: bool, now: int) -> None:
        self.final = response
        self.faked = faked
        call_id = self.request.get("call-id") or ""
        self.layer.outbox.emit(
            TransactionFinished("INVITE", call_id, self.branch, response.status, faked, self.retransmissions, self.started)
        )

    def _tell(self, response: Response, faked: bool, now: int) -> None:
        if self.on_reply is not None:
            self.on_reply(response, faked, self, now)


@dataclass(slots=True)
class InviteServerTransaction:
    """One incoming INVITE and the replies its TU gives (RFC 3261 §17.2.1)."""

    layer: TransactionLayer
    request: Request
    source: Address
    key: tuple
    state: InviteState = InviteState.PROCEEDING
    last_response: Response | None = None
    reply_to: Address | None = None
    interval: int = 0
    on_ack_timeout: AckTimeoutCallback | None = None
    acked: bool = False
    retransmissions: int = 0
    #: a UAS retransmits its 2xx (§13.3.1.4); a proxy only forwards the ones the UAS resends (§16.7)
    retransmit_2xx: bool = True

    def _key(self, timer: str) -> tuple:
        return ("txn", "s", self.key, timer)

    def on_retransmission(self, now: int) -> None:
        previous = self.state
        if not _go(INVITE_SERVER_TRANSITIONS, self, "request"):
            return
        # RFC 6026 §7.1: in Accepted a retransmitted INVITE is absorbed silently
        if previous is not InviteState.ACCEPTED and self.last_response is not None and self.reply_to is not None:
            self.layer.outbox.send(self.last_response, self.reply_to, retransmission=True)

    def on_ack(self, now: int) -> None:
        """An ACK matched this transaction (§17.2.3 for non-2xx, by dialog for a 2xx)."""
        previous = self.state
        if not _go(INVITE_SERVER_TRANSITIONS, self, "ack"):
            return
        out = self.layer.outbox
        if previous is InviteState.COMPLETED:
            out.cancel_timer(self._key("G"))
            out.cancel_timer(self._key("H"))
            out.set_timer(self._key("I"), now + self.layer.timers.i)
        elif previous is InviteState.ACCEPTED and not self.acked:
            out.cancel_timer(self._key("G"))
        self.acked = True

    def respond(self, response: Response, now: int) -> None:
        status = response.status
        event = "send_provisional" if status < 200 else "send_2xx" if status < 300 else "send_non2xx"
        previous = self.state
        if not _go(INVITE_SERVER_TRANSITIONS, self, event):
            raise TransactionError(f"cannot send {status} to an INVITE in state {self.state.value}")
        cfg = self.layer.timers
        out = self.layer.outbox
        self.reply_to = self.layer.response_address(self.request, self.source)
        out.send(response, self.reply_to)
        if previous is InviteState.ACCEPTED:
            return  # a further 2xx (forked) is forwarded once; its sender retransmits it
        self.last_response = response
        if event == "send_provisional":
            return
        self.interval = cfg.t1
        if event == "send_2xx":
            # RFC 3261 §13.3.1.4: the 2xx is retransmitted until the ACK, for 64·T1
            # (RFC 6026 §7.1: the transaction stays in Accepted for timer L)
            if self.retransmit_2xx:
                out.set_timer(self._key("G"), now + cfg.t1)
            out.set_timer(self._key("L"), now + cfg.l)
        else:
            out.set_timer(self._key("G"), now + cfg.t1)
            out.set_timer(self._key("H"), now + cfg.h)

    def on_timer(self, which: str, now: int) -> None:
        out = self.layer.outbox
        cfg = self.layer.timers
        if which == "G":
            if self.state is InviteState.ACCEPTED and self.acked:
                return
            if not _go(INVITE_SERVER_TRANSITIONS, self, "timer_g"):
                return
            assert self.last_response is not None and self.reply_to is not None
            out.send(self.last_response, self.reply_to, retransmission=True)
            self.retransmissions += 1
            self.interval = min(2 * self.interval, cfg.t2)  # §17.2.1 / §13.3.1.4: capped at T2
            out.set_timer(self._key("G"), now + self.interval)
        elif which == "H":
            if _go(INVITE_SERVER_TRANSITIONS, self, "timer_h"):
                out.cancel_timer(self._key("G"))
                self.layer._forget_server(self)
                if self.on_ack_timeout is not None:
                    self.on_ack_timeout(self, now)
        elif which == "I":
            if _go(INVITE_SERVER_TRANSITIONS, self, "timer_i"):
                self.layer._forget_server(self)
        elif which == "L":
            if _go(INVITE_SERVER_TRANSITIONS, self, "timer_l"):
                out.cancel_timer(self._key("G"))
                self.layer._forget_server(self)
                if not self.acked and self.on_ack_timeout is not None:
                    self.on_ack_timeout(self, now)  # §13.3.1.4: no ACK, the UAS ends the dialog


from puasim.txn.layer import TransactionLayer  # noqa: E402  (cycle: layer owns transactions)
