"""Non-INVITE transactions over UDP, sans-IO (RFC 3261 §17.1.2, §17.2.2).

State changes are tables (state, input) -> next state, in the manner of h11;
an input that a state does not accept is ignored for responses (they are
absorbed) and is a :class:`TransactionError` for the caller's own misuse.

The transaction user (TU) gets exactly one final response per client
transaction: the first final reply, or a locally generated ``408`` when timer F
(Kamailio: ``fr_timer``) fires first.  That mirrors how Kamailio's tm hands
pua its replies (pua-reference §3.6, Appendix C): later finals and every
provisional reply never reach pua.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from puasim.effects import Address
from puasim.sip.message import Request, Response
from puasim.trace.events import TransactionFinished


class State(enum.Enum):
    TRYING = "Trying"
    PROCEEDING = "Proceeding"
    COMPLETED = "Completed"
    TERMINATED = "Terminated"

    def __repr__(self) -> str:
        return self.value


class TransactionError(RuntimeError):
    """The transaction user asked for something the current state does not allow."""


# Client non-INVITE transaction, RFC 3261 §17.1.2.2 and Figure 6.
CLIENT_TRANSITIONS: dict[tuple[State, str], State] = {
    (State.TRYING, "provisional"): State.PROCEEDING,
    (State.TRYING, "final"): State.COMPLETED,
    (State.TRYING, "timer_e"): State.TRYING,
    (State.TRYING, "timer_f"): State.TERMINATED,
    (State.PROCEEDING, "provisional"): State.PROCEEDING,
    (State.PROCEEDING, "final"): State.COMPLETED,
    (State.PROCEEDING, "timer_e"): State.PROCEEDING,
    (State.PROCEEDING, "timer_f"): State.TERMINATED,
    (State.COMPLETED, "provisional"): State.COMPLETED,  # absorbed
    (State.COMPLETED, "final"): State.COMPLETED,  # absorbed retransmission
    (State.COMPLETED, "timer_k"): State.TERMINATED,
}

# Server non-INVITE transaction, RFC 3261 §17.2.2 and Figure 8.
SERVER_TRANSITIONS: dict[tuple[State, str], State] = {
    (State.TRYING, "request"): State.TRYING,  # retransmission absorbed
    (State.TRYING, "send_provisional"): State.PROCEEDING,
    (State.TRYING, "send_final"): State.COMPLETED,
    (State.PROCEEDING, "request"): State.PROCEEDING,  # resend last provisional
    (State.PROCEEDING, "send_provisional"): State.PROCEEDING,
    (State.PROCEEDING, "send_final"): State.COMPLETED,
    (State.COMPLETED, "request"): State.COMPLETED,  # resend final
    (State.COMPLETED, "timer_j"): State.TERMINATED,
}

FinalCallback = Callable[[Response, bool, "ClientTransaction", int], None]


def local_timeout_response(request: Request) -> Response:
    """The reply tm makes up when no final reply came in time (never on the wire)."""
    keep = {"via", "from", "to", "call-id", "cseq"}
    from puasim.sip.message import header_key

    headers = tuple((n, v) for n, v in request.headers if header_key(n) in keep)
    return Response(408, "Request Timeout", headers, b"")


@dataclass(slots=True)
class ClientTransaction:
    """One outgoing non-INVITE request until its final reply (or timeout)."""

    layer: TransactionLayer
    request: Request
    dest: Address
    branch: str
    method: str
    on_final: FinalCallback | None
    started: int
    context: Any = None
    state: State = State.TRYING
    interval: int = 0
    retransmissions: int = 0
    final: Response | None = None
    faked: bool = False
    #: the request's Call-ID, read when the transaction starts ("" when absent)
    call_id: str = ""

    def _go(self, event: str) -> bool:
        nxt = CLIENT_TRANSITIONS.get((self.state, event))
        if nxt is None:
            return False
        self.state = nxt
        return True

    def _key(self, timer: str) -> tuple:
        return ("txn", "c", self.branch, self.method, timer)

    def start(self, now: int) -> None:
        self.call_id = self.request.get("call-id") or ""
        cfg = self.layer.timers
        out = self.layer.outbox
        out.send(self.request, self.dest)
        self.interval = cfg.t1
        out.set_timer(self._key("E"), now + cfg.t1)
        out.set_timer(self._key("F"), now + cfg.f)

    def on_response(self, response: Response, now: int) -> None:
        kind = "provisional" if response.status < 200 else "final"
        previous = self.state
        if not self._go(kind):
            return
        if previous is State.COMPLETED:
            return  # absorbed: the TU saw the first final already
        out = self.layer.outbox
        if kind == "provisional":
            return
        out.cancel_timer(self._key("E"))
        out.cancel_timer(self._key("F"))
        out.set_timer(self._key("K"), now + self.layer.timers.k)
        self._finish(response, False, now)

    def on_timer(self, which: str, now: int) -> None:
        out = self.layer.outbox
        cfg = self.layer.timers
        if which == "E":
            if not self._go("timer_e"):
                return
            out.send(self.request, self.dest, retransmission=True)
            self.retransmissions += 1
            # §17.1.2.2: doubling up to T2 in Trying, T2 once Proceeding
            self.interval = cfg.t2 if self.state is State.PROCEEDING else min(2 * self.interval, cfg.t2)
            out.set_timer(self._key("E"), now + self.interval)
        elif which == "F":
            if not self._go("timer_f"):
                return
            out.cancel_timer(self._key("E"))
            self._finish(local_timeout_response(self.request), True, now)
            self.layer._forget(self)
        elif which == "K":
            if self._go("timer_k"):
                self.layer._forget(self)

    def _finish(self, response: Response, faked: bool, now: int) -> None:
        self.final = response
        self.faked = faked
        self.layer.outbox.emit(
            TransactionFinished(self.method, self.call_id, self.branch, response.status, faked, self.retransmissions, self.started)
        )
        if self.on_final is not None:
            self.on_final(response, faked, self, now)
        if self.layer.outbox.lean:  # the request lives on in the trace: keep it lean
            self.request.drop_caches()


@dataclass(slots=True)
class ServerTransaction:
    """One incoming non-INVITE request and the responses the TU gives it."""

    layer: TransactionLayer
    request: Request
    source: Address
    key: tuple
    state: State = State.TRYING
    last_response: Response | None = None
    reply_to: Address | None = None

    def _go(self, event: str) -> bool:
        nxt = SERVER_TRANSITIONS.get((self.state, event))
        if nxt is None:
            return False
        self.state = nxt
        return True

    def on_retransmission(self, now: int) -> None:
        self._go("request")
        if self.last_response is not None and self.reply_to is not None:
            self.layer.outbox.send(self.last_response, self.reply_to, retransmission=True)

    def respond(self, response: Response, now: int) -> None:
        event = "send_provisional" if response.status < 200 else "send_final"
        if not self._go(event):
            raise TransactionError(f"cannot send {response.status} in state {self.state.value}")
        self.last_response = response
        self.reply_to = self.layer.response_address(self.request, self.source)
        self.layer.outbox.send(response, self.reply_to)
        if event == "send_final":
            self.layer.outbox.set_timer(("txn", "s", self.key, "J"), now + self.layer.timers.j)

    def on_timer(self, which: str, now: int) -> None:
        if which == "J" and self._go("timer_j"):
            self.layer._forget_server(self)


from puasim.txn.layer import TransactionLayer  # noqa: E402  (cycle: layer owns transactions)
