"""The transaction layer of one SIP element (RFC 3261 §17), sans-IO.

It owns the client and server transactions of a node, stamps the top Via with
a fresh branch on every new request, matches responses to client transactions
(§17.1.3) and requests to server transactions (§17.2.3), and routes responses
back per §18.2.2 (``received``/``rport``).
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from puasim.effects import Address, Outbox
from puasim.sip import headers as H
from puasim.sip.errors import SipParseError
from puasim.sip.fields import Via, parse_via
from puasim.sip.message import Request, Response
from puasim.sip.syntax import find_param
from puasim.sip.uri import format_hostport
from puasim.trace.events import MessageRejected
from puasim.txn.timers import RFC3261, TimerConfig

if TYPE_CHECKING:
    from puasim.txn.invite import InviteClientTransaction, InviteServerTransaction, ResponseCallback
    from puasim.txn.transactions import ClientTransaction, FinalCallback, ServerTransaction

BRANCH_MAGIC = "z9hG4bK"


class TransactionLayer:
    """Client and server transactions of one node (non-INVITE and INVITE).

    ``host``/``port`` are what the node writes into its Via header; ``rport``
    says whether it asks for symmetric response routing (RFC 3581; Kamailio's
    pua does not).
    """

    def __init__(
        self,
        outbox: Outbox,
        host: str,
        port: int,
        rng: random.Random,
        timers: TimerConfig = RFC3261,
        rport: bool = False,
    ) -> None:
        self.outbox = outbox
        self.host = host
        self.port = port
        self.rng = rng
        self.timers = timers
        self.rport = rport
        #: Via sent-by (RFC 3261 §18.1.1): an IPv6 host in brackets (§25.1)
        self.sent_by = format_hostport(host, port)
        self.clients: dict[tuple[str, str], ClientTransaction | InviteClientTransaction] = {}
        self.servers: dict[tuple, ServerTransaction | InviteServerTransaction] = {}
        self._via: Via | bool | None = None  # False: our Via text does not parse

    # -- client side -----------------------------------------------------------------
    def new_branch(self) -> str:
        return f"{BRANCH_MAGIC}{self.rng.getrandbits(64):016x}"

    def send_request(
        self,
        request: Request,
        dest: Address,
        now: int,
        on_final: FinalCallback | None = None,
        context: Any = None,
    ) -> ClientTransaction:
        """Start a non-INVITE client transaction for ``request`` (a Via is put on top)."""
        from puasim.txn.transactions import ClientTransaction

        if request.method in ("INVITE", "ACK"):
            raise ValueError(f"{request.method} does not start a non-INVITE transaction; use send_invite/send_ack")
        branch, request = self._stamp(request)
        txn = ClientTransaction(self, request, dest, branch, request.method, on_final, now, context)
        self.clients[(branch, request.method)] = txn
        txn.start(now)
        return txn

    def _stamp(self, request: Request) -> tuple[str, Request]:
        """A fresh branch and ``request`` with our Via on top (primed when it is the only one)."""
        branch = self.new_branch()
        via = f"SIP/2.0/UDP {self.sent_by};branch={branch}" + (";rport" if self.rport else "")
        fresh = not request.has_field("via")
        request = Request(request.method, request.uri, (("Via", via), *request.headers), request.body, request.version)
        top = self._via_template(branch) if fresh else None
        if top is not None:  # the only Via is ours: its parsed form is known without parsing
            request.prime("via_list", [top])
            request.prime("top_via", top)
        return branch, request

    def send_invite(
        self,
        request: Request,
        dest: Address,
        now: int,
        on_response: ResponseCallback | None = None,
        context: Any = None,
    ) -> InviteClientTransaction:
        """Start an INVITE client transaction (RFC 3261 §17.1.1; a Via is put on top)."""
        from puasim.txn.invite import InviteClientTransaction

        if request.method != "INVITE":
            raise ValueError(f"send_invite needs an INVITE, not {request.method}")
        branch, request = self._stamp(request)
        txn = InviteClientTransaction(self, request, dest, branch, on_response, now, context)
        self.clients[(branch, "INVITE")] = txn
        txn.start(now)
        return txn

    def send_cancel(self, invite: InviteClientTransaction, now: int, on_final: FinalCallback | None = None) -> ClientTransaction:
        """CANCEL ``invite`` (RFC 3261 §9.1): a non-INVITE transaction with the INVITE's branch."""
        from puasim.txn.invite import cancel_for
        from puasim.txn.transactions import ClientTransaction

        request = cancel_for(invite.request)
        txn = ClientTransaction(self, request, invite.dest, invite.branch, "CANCEL", on_final, now, invite.context)
        self.clients[(invite.branch, "CANCEL")] = txn
        txn.start(now)
        return txn

    def send_ack(self, request: Request, dest: Address) -> Request:
        """Send the ACK for a 2xx (RFC 3261 §13.2.2.4): no transaction, a fresh branch.

        The UAC core builds it; the layer only puts the Via on top.  Returns
        the ACK as sent, so that the core can send the same one again when the
        2xx is retransmitted.
        """
        if request.method != "ACK":
            raise ValueError(f"send_ack needs an ACK, not {request.method}")
        _, request = self._stamp(request)
        self.outbox.send(request, dest)
        return request

    def _forget(self, txn: ClientTransaction | InviteClientTransaction) -> None:
        self.clients.pop((txn.branch, txn.method), None)

    def _via_template(self, branch: str) -> Via | None:
        """Our Via for ``branch`` as :func:`~puasim.sip.fields.parse_via` reads it
        (``None`` if our own Via text does not parse: then the receiver finds out).

        The text without the branch is parsed once per layer; the branch (a
        token: magic cookie and hex digits) then becomes the first parameter.
        """
        template = self._via
        if template is None:
            text = f"SIP/2.0/UDP {self.sent_by};branch={BRANCH_MAGIC}" + (";rport" if self.rport else "")
            try:
                template = parse_via(text)[0]
            except SipParseError:
                template = False
            self._via = template
        if not isinstance(template, Via):
            return None
        return Via(template.protocol, template.transport, template.host, template.port,
                   (("branch", branch), *template.params[1:]))

    # -- server side -----------------------------------------------------------------
    @staticmethod
    def server_key(request: Request) -> tuple:
        vias = H.via_list(request)
        top = vias[0] if vias else None
        branch = top.branch if top is not None and top.branch else ""
        sent_by = (top.host.lower(), top.port) if top is not None else ("", None)
        method = "INVITE" if request.method == "ACK" else request.method
        return (branch, sent_by, method)

    def response_address(self, request: Request, source: Address) -> Address:
        """Where a response goes (RFC 3261 §18.2.2 with RFC 3581 rport).

        An ``rport`` parameter in the top Via sends the reply to the source
        port whatever value it carries: a local reply never reads the value,
        as Kamailio's core does (``update_sock_struct_from_ip``), so
        ``rport=abc`` is no reason to fail.
        """
        vias = H.via_list(request)
        if not vias:
            return source
        top = vias[0]
        port = top.port or 5060
        if find_param(top.params, "rport")[0]:
            return (source[0], source[1])
        if top.received:
            return (top.received, port)
        if top.host != source[0]:
            return (source[0], port)
        return (top.host, port)

    @staticmethod
    def check_answerable(request: Request) -> None:
        """Raise :class:`SipParseError` unless a reply to ``request`` can be built.

        A reply copies Via, From, To, Call-ID and CSeq (RFC 3261 §8.2.6.2) and
        goes back along the top Via (§18.2.2): those must be present and
        parse.  Kamailio's core drops a request without them before any
        script runs (``receive_msg``: "no via found", "required headers not
        found").
        """
        vias = H.via_list(request)
        if not vias:
            raise SipParseError("no Via header", 0, "Via")
        for name, read in (("From", H.from_), ("To", H.to), ("Call-ID", H.call_id), ("CSeq", H.cseq)):
            if read(request) is None:
                raise SipParseError(f"no {name} header", 0, name)

    def _forget_server(self, txn: ServerTransaction | InviteServerTransaction) -> None:
        self.servers.pop(txn.key, None)

    def invite_for(self, cancel: Request) -> InviteServerTransaction | None:
        """The INVITE server transaction a CANCEL targets (RFC 3261 §9.2: same branch and sent-by)."""
        from puasim.txn.invite import InviteServerTransaction

        key = self.server_key(cancel)
        txn = self.servers.get((key[0], key[1], "INVITE"))
        return txn if isinstance(txn, InviteServerTransaction) else None

    def _ack_for_2xx(self, ack: Request, now: int) -> None:
        """An ACK with a branch of its own acknowledges a 2xx (§13.3.1.4): stop its retransmission."""
        from puasim.txn.invite import InviteServerTransaction, InviteState

        call_id = H.call_id(ack)
        cs = H.cseq(ack)
        if call_id is None or cs is None:
            return
        for txn in self.servers.values():
            if (
                isinstance(txn, InviteServerTransaction)
                and txn.state is InviteState.ACCEPTED
                and H.call_id(txn.request) == call_id
                and (c := H.cseq(txn.request)) is not None
                and c.seq == cs.seq
            ):
                txn.on_ack(now)

    # -- inputs ------------------------------------------------------------------------
    def receive(self, message: Request | Response, source: Address, now: int) -> ServerTransaction | None:
        """Feed a received message, at a node that takes no calls.

        Returns a new :class:`ServerTransaction` when ``message`` is a new request
        that the TU must answer; ``None`` when the layer absorbed it (a response,
        or a retransmitted request).  An INVITE gets a non-INVITE server
        transaction here, as before calls were modelled: nodes that answer
        INVITEs properly feed :meth:`receive_any`.
        """
        if isinstance(message, Response):
            self._receive_response(message, source, now)
            return None
        from puasim.txn.transactions import ServerTransaction

        key = self._request_key(message, source)
        if key is None:
            return None
        existing = self.servers.get(key)
        if existing is not None:
            existing.on_retransmission(now)
            return None
        server_txn = ServerTransaction(self, message, source, key)
        if key[0].startswith(BRANCH_MAGIC):
            self.servers[key] = server_txn
        return server_txn

    def receive_any(
        self, message: Request | Response, source: Address, now: int
    ) -> ServerTransaction | InviteServerTransaction | None:
        """Feed a received message, at a node that takes calls.

        As :meth:`receive`, but an INVITE gets an :class:`InviteServerTransaction`
        (RFC 3261 §17.2.1), the ACK for its non-2xx final is absorbed by it
        (§17.2.3), and the ACK for a 2xx (a branch of its own) stops the 2xx
        retransmission and is handed on like a new request, never kept as a
        transaction (the UAS core needs it, §13.3.1.4).
        """
        if isinstance(message, Response):
            self._receive_response(message, source, now)
            return None
        from puasim.txn.invite import InviteServerTransaction
        from puasim.txn.transactions import ServerTransaction

        key = self._request_key(message, source)
        if key is None:
            return None
        existing = self.servers.get(key)
        if message.method == "ACK":
            if isinstance(existing, InviteServerTransaction) and existing.last_response is not None \
                    and existing.last_response.status >= 300:
                existing.on_ack(now)
                return None
            self._ack_for_2xx(message, now)
            return ServerTransaction(self, message, source, key)
        if existing is not None:
            existing.on_retransmission(now)
            return None
        new: ServerTransaction | InviteServerTransaction
        if message.method == "INVITE":
            new = InviteServerTransaction(self, message, source, key)
        else:
            new = ServerTransaction(self, message, source, key)
        if key[0].startswith(BRANCH_MAGIC):
            self.servers[key] = new
        return new

    def _receive_response(self, message: Response, source: Address, now: int) -> None:
        try:
            vias = H.via_list(message)
            cs = H.cseq(message)
        except SipParseError as exc:  # a reply no transaction can own: dropped, as tm does
            self.outbox.emit(MessageRejected(source, message, f"{message.status} reply: {exc}"))
            return
        if not vias or cs is None:
            return
        txn = self.clients.get((vias[0].branch or "", cs.method))
        if txn is not None:
            txn.on_response(message, now)

    def _request_key(self, message: Request, source: Address) -> tuple | None:
        try:
            return self.server_key(message)
        except SipParseError as exc:  # a request without a usable Via cannot be answered
            self.outbox.emit(MessageRejected(source, message, f"{message.method}: {exc}"))
            return None

    def timer(self, key: tuple, now: int) -> bool:
        """Handle a ``("txn", ...)`` timer key; False if the key is not ours."""
        if not key or key[0] != "txn":
            return False
        if key[1] == "c":
            txn = self.clients.get((key[2], key[3]))
            if txn is not None:
                txn.on_timer(key[4], now)
        else:
            txn_s = self.servers.get(key[2])
            if txn_s is not None:
                txn_s.on_timer(key[3], now)
        return True
