"""Call routing of the edge node: tm's stateful proxy for calls between registered phones.

What the lab's ``proxy.cfg`` does with calls, as a model (RFC 3261 §16):

* ``mf_process_maxfwd_header("10")``: a request whose Max-Forwards is 0 gets
  ``483 Too Many Hops``; a missing one is taken as 10.
* INVITE without To-tag (``route[INVITE]``): ``record_route()`` adds
  ``<sip:host:port;lr;ftag=...>`` (plus ``did=`` when the dialog module
  tracks the call), ``lookup("location")`` turns the Request-URI into the
  AOR's valid contacts (``404 Not Found`` when there is none, a stateless
  reply) and ``t_relay()`` answers ``100 trying -- your call is important to
  us`` (lab 07 #15, after the dialog's Trying PUBLISH #14) and forks to all of
  them in parallel (§16.6), Max-Forwards one less, each branch
  an INVITE client transaction with tm's timers (``fr_timer``, then
  ``fr_inv_timer`` once a provisional came; on its expiry tm CANCELs the
  branch and counts a local 408).
* Replies of the branches (§16.7): 100 is absorbed; other provisionals and
  every 2xx are forwarded at once (the proxy does not retransmit a 2xx, the
  UAS does); a 2xx or a 6xx CANCELs the other pending branches; when every
  branch has a final reply and none was a 2xx, the best is forwarded (a 6xx,
  else the lowest status).  The ACK for a non-2xx final stays hop by hop
  (the transactions absorb and send it).
* CANCEL (§16.10): ``200 canceling`` when it matches an INVITE being proxied
  (every pending branch is CANCELled, their 487 goes up as the final),
  ``481`` otherwise.
* In-dialog requests (``route[WITHINDLG]``): ``loose_route()`` removes the
  node's own Route entry and the request goes to the Request-URI; an ACK
  statelessly, BYE/PRACK/UPDATE/others through a non-INVITE transaction whose
  final reply goes back up.  A re-INVITE gets tm's ``100`` and goes through an
  INVITE client transaction: its provisionals (not 100) and every 2xx go up
  as they come, a failure goes up once (tm's local ``408`` when no final
  came), its ACK for a 2xx is end to end like the first one's.  The dialog
  module sees the re-INVITE and its ACK in ``loose_route()``, before they are
  relayed, never their replies; the hop-by-hop ACK of a failed re-INVITE
  carries the Route too, so the dialog module sees it before tm absorbs it
  (:meth:`CallRouter.hop_ack`).  Without a Route to the node an ACK is
  dropped and anything else gets ``404 Not here``.

:class:`CallObserver` is where the dialog module hooks in: it hears each
INVITE the script relays, each reply tm forwards or makes, and each
in-dialog request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from puasim.edge.script import Script, substitute
from puasim.effects import Address, Outbox
from puasim.node.dialog import Dialog, DialogModule
from puasim.node.registrar import extract_aor
from puasim.node.usrloc import Contact, Usrloc
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
from puasim.txn.transactions import ClientTransaction, ServerTransaction

TRYING_REASON = "trying -- your call is important to us"


class CallObserver(Protocol):
    """What the dialog module hears from the proxy (all optional to act on)."""

    def invite_relayed(self, proxied: ProxiedInvite, now: int) -> None: ...

    def reply_forwarded(self, proxied: ProxiedInvite, reply: Response, faked: bool, now: int) -> None: ...

    def in_dialog(self, request: Request, now: int) -> None: ...


@dataclass(slots=True)
class ProxiedInvite:
    """One INVITE the node relays: its server transaction and the branches it forked."""

    server: InviteServerTransaction
    branches: list[InviteClientTransaction] = field(default_factory=list)
    finals: dict[str, Response] = field(default_factory=dict)
    #: branches that had a provisional reply (only those can be CANCELled, §9.1)
    ringing: set[str] = field(default_factory=set)
    answered: bool = False
    forwarded_final: bool = False
    cancelled: bool = False
    #: Record-Route parameters the dialog module adds (``did``)
    rr_params: str = ""
    #: the dialog module's dialog for this INVITE, if the script made one
    dialog: Dialog | None = None


def pop_via(response: Response) -> Response:
    """The response without its top Via value (§16.7 step 9), also when values share a line."""
    out: list[tuple[str, str]] = []
    done = False
    for name, value in response.headers:
        if not done and header_key(name) == "via":
            done = True
            rest = value.split(",", 1)[1].strip() if "," in value else ""
            if rest:
                out.append((name, rest))
            continue
        out.append((name, value))
    return Response(response.status, response.reason, tuple(out), response.body, response.version)


def _address(uri_text: str, fallback: Address) -> Address:
    try:
        uri = parse_uri(uri_text)
        return (uri.host.strip("[]"), uri.port or 5060)
    except (SipParseError, ValueError):
        return fallback


class CallRouter:
    """The edge node's call routing (see module docstring)."""

    def __init__(self, layer: TransactionLayer, outbox: Outbox, usrloc: Usrloc, host: str, port: int,
                 make_reply: Callable[[Request, int, str, tuple[tuple[str, str], ...]], Response],
                 server_header: str = "") -> None:
        self.layer = layer
        self.outbox = outbox
        self.usrloc = usrloc
        self.host = host
        self.port = port
        self.make_reply = make_reply
        self.server_header = server_header
        self.proxied: dict[tuple, ProxiedInvite] = {}
        self.observers: list[CallObserver] = []

    # -- requests ------------------------------------------------------------------------
    def handles(self, req: Request) -> bool:
        """Whether a request is the router's: a call method, or in-dialog with a Route to the node."""
        if req.method in ("INVITE", "ACK", "BYE", "CANCEL", "PRACK", "UPDATE", "INFO"):
            return True
        return self._route_is_mine(req)

    def _route_is_mine(self, req: Request) -> bool:
        try:
            routes = H.route_list(req)
        except SipParseError:
            return False
        if not routes:
            return False
        try:
            uri = parse_uri(routes[0].uri)
        except (SipParseError, ValueError):
            return False
        return uri.host.strip("[]") == self.host and (uri.port or 5060) == self.port

    def _max_forwards(self, req: Request, now: int, txn: ServerTransaction | InviteServerTransaction | None) -> int | None:
        try:
            mf = H.max_forwards_or_none(req)
        except SipParseError:
            mf = None
        mf = 10 if mf is None else mf
        if mf == 0:
            if txn is not None:
                txn.respond(self.make_reply(req, 483, "Too Many Hops", ()), now)
            return None
        return mf - 1

    def request(self, txn: ServerTransaction | InviteServerTransaction, now: int) -> None:
        req = txn.request
        to = H.to(req)
        if isinstance(txn, InviteServerTransaction) and (to is None or not to.tag):
            self.invite(txn, now)
        elif req.method == "CANCEL" and (to is None or not to.tag):
            self.cancel(txn, now)  # type: ignore[arg-type]
        else:
            self.in_dialog(txn, now)

    def invite(self, txn: InviteServerTransaction, now: int) -> None:
        req = txn.request
        txn.retransmit_2xx = False  # §16.7: a proxy forwards the UAS's 2xx retransmissions
        mf = self._max_forwards(req, now, txn)
        if mf is None:
            return
        proxied = ProxiedInvite(txn)
        self.proxied[txn.key] = proxied
        # route[INVITE]: record_route(), dlg_manage() (DLGCB_CREATED: pua_dialoginfo's
        # Trying leaves here, lab 07 #14), lookup(), then t_relay() answers 100 (#15)
        for obs in self.observers:
            obs.invite_relayed(proxied, now)
        contacts = self.lookup(req, now)
        if not contacts:
            # the lab script's sl_send_reply("404"): a stateless reply, which tm (and so the
            # dialog module) never sees
            self.outbox.emit(Note("info", f"edge: no contact for {req.uri}"))
            txn.respond(self.make_reply(req, 404, "Not Found", ()), now)
            self.proxied.pop(txn.key, None)
            return
        txn.respond(self._trying(req), now)
        frm = H.from_(req)
        ftag = frm.tag if frm is not None and frm.tag else ""
        rr = f"<sip:{self.layer.sent_by};lr;ftag={ftag}{proxied.rr_params}>"
        for contact in contacts:
            headers = [("Record-Route", rr)]
            for name, value in req.headers:
                headers.append((name, str(mf)) if header_key(name) == "max-forwards" else (name, value))
            if req.get("max-forwards") is None:
                headers.append(("Max-Forwards", str(mf)))
            fwd = Request("INVITE", contact.uri, tuple(headers), req.body, req.version)
            dest = _address(contact.received or contact.uri, txn.source)
            branch = self.layer.send_invite(fwd, dest, now, self._on_branch_reply, proxied)
            proxied.branches.append(branch)

    def lookup(self, req: Request, now: int) -> list[Contact]:
        """``lookup("location")``: the Request-URI's AOR's valid contacts, by q then recency."""
        try:
            aor = extract_aor(req.uri, self.usrloc.cfg.use_domain)
        except (SipParseError, ValueError):
            return []
        rec = self.usrloc.get_urecord("location", aor)
        if rec is None:
            return []
        now_s = self.usrloc.seconds(now)
        return [c for c in rec.contacts if c.valid(now_s)]

    def _trying(self, req: Request) -> Response:
        headers = [(n, v) for n, v in req.headers if header_key(n) in ("via", "from", "to", "call-id", "cseq")]
        if self.server_header:
            headers.append(("Server", self.server_header))
        headers.append(("Content-Length", "0"))
        return Response(100, TRYING_REASON, tuple(headers))

    def cancel(self, txn: ServerTransaction, now: int) -> None:
        inv = self.layer.invite_for(txn.request)
        proxied = self.proxied.get(inv.key) if inv is not None else None
        if proxied is None:
            txn.respond(self.make_reply(txn.request, 481, "Call/Transaction Does Not Exist", ()), now)
            return
        # tm CANCELs the branches first, then answers the CANCEL (lab 10 #18, #19)
        proxied.cancelled = True
        self._cancel_branches(proxied, now)
        txn.respond(self.make_reply(txn.request, 200, "canceling", ()), now)

    def _cancel_branches(self, proxied: ProxiedInvite, now: int, keep: InviteClientTransaction | None = None) -> None:
        for branch in proxied.branches:
            if branch is not keep and branch.state in (InviteState.CALLING, InviteState.PROCEEDING):
                branch.cancel(now)

    def in_dialog(self, txn: ServerTransaction | InviteServerTransaction, now: int) -> None:
        req = txn.request
        if not self._route_is_mine(req):
            if req.method != "ACK":
                txn.respond(self.make_reply(req, 404, "Not here", ()), now)
            return
        mf = self._max_forwards(req, now, None if req.method == "ACK" else txn)
        if mf is None:
            return
        headers: list[tuple[str, str]] = []
        removed = False
        for name, value in req.headers:
            key = header_key(name)
            if key == "route" and not removed:
                removed = True
                rest = value.split(",", 1)[1].strip() if "," in value else ""
                if rest:
                    headers.append((name, rest))
                continue
            headers.append((name, str(mf)) if key == "max-forwards" else (name, value))
        fwd = Request(req.method, req.uri, tuple(headers), req.body, req.version)
        for obs in self.observers:
            obs.in_dialog(req, now)
        try:
            routes = H.route_list(fwd)
        except SipParseError:
            routes = []
        dest = _address(routes[0].uri if routes else req.uri, txn.source)
        if req.method == "ACK":
            self.layer.send_ack(fwd, dest)
            return
        if isinstance(txn, InviteServerTransaction):
            # a re-INVITE: t_relay() answers 100 and relays it statefully (RFC 3261 §16.7)
            txn.retransmit_2xx = False
            txn.respond(self._trying(req), now)
            self.layer.send_invite(fwd, dest, now, self._on_reinvite_reply, txn)
            return
        self.layer.send_request(fwd, dest, now, self._on_relayed_final, txn)

    def hop_ack(self, ack: Request, now: int) -> None:
        """An ACK the transaction layer absorbed for one of the node's failure replies.

        The script still runs for it: an ACK of a failed re-INVITE carries the
        re-INVITE's Route (RFC 3261 §17.1.1.3), so ``loose_route()`` runs the rr
        callbacks and the dialog module sees it like any in-dialog ACK; tm then
        absorbs it in ``t_relay()``.
        """
        try:
            key = self.layer.server_key(ack)
            to = H.to(ack)
        except SipParseError:
            return
        txn = self.layer.servers.get(key)
        if not isinstance(txn, InviteServerTransaction) or to is None or not to.tag or not self._route_is_mine(ack):
            return
        for obs in self.observers:
            obs.in_dialog(ack, now)

    # -- replies -------------------------------------------------------------------------
    def _on_relayed_final(self, reply: Response, faked: bool, client: ClientTransaction, now: int) -> None:
        server = client.context
        if not isinstance(server, ServerTransaction) or server.state.value == "Completed":
            return
        if faked:
            server.respond(self.make_reply(server.request, 408, "Request Timeout", ()), now)
        else:
            server.respond(pop_via(reply), now)

    def _on_reinvite_reply(self, reply: Response, faked: bool, client: InviteClientTransaction, now: int) -> None:
        """Replies of a relayed re-INVITE: 1xx (not 100) and each 2xx up at once, one failure up."""
        server = client.context
        if not isinstance(server, InviteServerTransaction) or reply.status == 100:
            return
        if reply.status < 300:
            if server.state in (InviteState.PROCEEDING, InviteState.ACCEPTED) and (
                    reply.status >= 200 or server.state is InviteState.PROCEEDING):
                server.respond(pop_via(reply), now)
            return
        if server.state is not InviteState.PROCEEDING:
            return
        if faked:
            server.respond(self.make_reply(server.request, 408, "Request Timeout", ()), now)
        else:
            server.respond(pop_via(reply), now)

    def _on_branch_reply(self, reply: Response, faked: bool, branch: InviteClientTransaction, now: int) -> None:
        proxied = branch.context
        assert isinstance(proxied, ProxiedInvite)
        server = proxied.server
        status = reply.status
        if status == 100:
            proxied.ringing.add(branch.branch)
            return
        if status < 200:
            proxied.ringing.add(branch.branch)
            if not proxied.forwarded_final:
                self._send_up(proxied, pop_via(reply), False, now)
            return
        if status < 300:
            first = not proxied.answered
            proxied.answered = True
            proxied.forwarded_final = True
            self._send_up(proxied, pop_via(reply), False, now)
            if first:
                self._cancel_branches(proxied, now, keep=branch)
            return
        if faked and branch.branch in proxied.ringing:
            # tm: on fr_inv_timer the branch is CANCELled and counts a local 408
            self.layer.send_cancel(branch, now)
        proxied.finals[branch.branch] = reply
        if status >= 600 and not proxied.answered:
            self._cancel_branches(proxied, now, keep=branch)
        if proxied.forwarded_final or len(proxied.finals) < len(proxied.branches):
            return
        best = self._best(proxied)
        proxied.forwarded_final = True
        if best.faked:
            up = self.make_reply(server.request, 408, "Request Timeout", ())
        else:
            up = pop_via(best.response)
        self._send_up(proxied, up, best.faked, now)

    @dataclass(frozen=True, slots=True)
    class _Best:
        response: Response
        faked: bool

    def _best(self, proxied: ProxiedInvite) -> CallRouter._Best:
        """§16.7 step 6: a 6xx if any, else the lowest status (the first of equals)."""
        order = [b for b in proxied.branches if b.branch in proxied.finals]
        six = [b for b in order if proxied.finals[b.branch].status >= 600]
        pick = six[0] if six else min(order, key=lambda b: proxied.finals[b.branch].status)
        return CallRouter._Best(proxied.finals[pick.branch], pick.faked)

    def _send_up(self, proxied: ProxiedInvite, reply: Response, faked: bool, now: int) -> None:
        server = proxied.server
        if server.state in (InviteState.COMPLETED, InviteState.CONFIRMED, InviteState.TERMINATED):
            return
        # TMCB_RESPONSE_READY runs before tm sends the reply: the dialog callbacks and
        # their PUBLISHes come first (lab 07 #22/#23 before the relayed 180 #24)
        self._forwarded(proxied, reply, faked, now)
        server.respond(reply, now)

    def _forwarded(self, proxied: ProxiedInvite, reply: Response, faked: bool, now: int) -> None:
        for obs in self.observers:
            obs.reply_forwarded(proxied, reply, faked, now)
        if reply.status >= 200 and not (200 <= reply.status < 300):
            self.proxied.pop(proxied.server.key, None)


class DialogHook:
    """The dialog module on the proxy: the INVITE route's ``dlg_manage()``/``setflag()``
    make the dialog (and its ``did`` Record-Route parameter); forwarded replies and
    loose-routed requests drive it (:mod:`puasim.node.dialog`)."""

    def __init__(self, dialog: DialogModule, script: Script) -> None:
        self.dialog = dialog
        self.script = script

    def invite_relayed(self, proxied: ProxiedInvite, now: int) -> None:
        managed, flags = False, 0
        request = proxied.server.request
        try:
            frm = H.from_(request)
            user = (parse_uri(frm.uri).user or "") if frm is not None else ""
        except (SipParseError, ValueError):
            user = ""
        #: AVP name -> values, newest first (an assignment adds on top, as Kamailio's does)
        avps: dict[str, list[str]] = {}
        seen: dict[str, list[str]] | None = None
        for call in self.script.invite:
            if not call.applies(user):
                continue
            if call.function == "dlg_manage":
                managed = True
                if seen is None:  # DLGCB_CREATED runs inside dlg_manage(): the AVPs set so far
                    seen = {k: list(v) for k, v in avps.items()}
            elif call.function == "setflag":
                flags |= 1 << int(call.args[0])
            elif call.function == "$avp":
                name, value, kind = call.args
                avps.setdefault(name, []).insert(0, substitute(value, request) if kind == "pv" else value)
        if not self.dialog.wants(flags, managed):
            return
        dlg = self.dialog.create(request, now, flags, seen if seen is not None else avps)
        if dlg is not None:
            proxied.dialog = dlg
            proxied.rr_params = f";did={dlg.did}"

    def reply_forwarded(self, proxied: ProxiedInvite, reply: Response, faked: bool, now: int) -> None:
        if proxied.dialog is not None:
            self.dialog.on_reply(proxied.dialog, reply.status, None if faked else reply, now)

    def in_dialog(self, request: Request, now: int) -> None:
        self.dialog.on_request(request, now)
