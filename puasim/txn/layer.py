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
    from puasim.txn.transactions import ClientTransaction, FinalCallback, ServerTransaction

BRANCH_MAGIC = "z9hG4bK"


class TransactionLayer:
    """Client and server non-INVITE transactions of one node.

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
        self.clients: dict[tuple[str, str], ClientTransaction] = {}
        self.servers: dict[tuple, ServerTransaction] = {}
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
        """Start a client transaction for ``request`` (a Via is put on top)."""
        from puasim.txn.transactions import ClientTransaction

        branch = self.new_branch()
        via = f"SIP/2.0/UDP {self.sent_by};branch={branch}" + (";rport" if self.rport else "")
        fresh = not request.has_field("via")
        request = Request(request.method, request.uri, (("Via", via), *request.headers), request.body, request.version)
        top = self._via_template(branch) if fresh else None
        if top is not None:  # the only Via is ours: its parsed form is known without parsing
            request.prime("via_list", [top])
            request.prime("top_via", top)
        txn = ClientTransaction(self, request, dest, branch, request.method, on_final, now, context)
        self.clients[(branch, request.method)] = txn
        txn.start(now)
        return txn

    def _forget(self, txn: ClientTransaction) -> None:
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

    def _forget_server(self, txn: ServerTransaction) -> None:
        self.servers.pop(txn.key, None)

    # -- inputs ------------------------------------------------------------------------
    def receive(self, message: Request | Response, source: Address, now: int) -> ServerTransaction | None:
        """Feed a received message.

        Returns a new :class:`ServerTransaction` when ``message`` is a new request
        that the TU must answer; ``None`` when the layer absorbed it (a response,
        or a retransmitted request).
        """
        if isinstance(message, Response):
            try:
                vias = H.via_list(message)
                cs = H.cseq(message)
            except SipParseError as exc:  # a reply no transaction can own: dropped, as tm does
                self.outbox.emit(MessageRejected(source, message, f"{message.status} reply: {exc}"))
                return None
            if not vias or cs is None:
                return None
            txn = self.clients.get((vias[0].branch or "", cs.method))
            if txn is not None:
                txn.on_response(message, now)
            return None
        from puasim.txn.transactions import ServerTransaction

        try:
            key = self.server_key(message)
        except SipParseError as exc:  # a request without a usable Via cannot be answered
            self.outbox.emit(MessageRejected(source, message, f"{message.method}: {exc}"))
            return None
        existing = self.servers.get(key)
        if existing is not None:
            existing.on_retransmission(now)
            return None
        server_txn = ServerTransaction(self, message, source, key)
        if key[0].startswith(BRANCH_MAGIC):
            self.servers[key] = server_txn
        return server_txn

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
