"""The edge node: one Kamailio instance with usrloc, registrar, pua and companions.

:class:`EdgeProxy` is the sans-IO endpoint a simulation node hosts.  It shares
pua's transaction layer and outbox, so the REGISTERs of the phones, their
replies and pua's PUBLISHes all leave from one address, as on the lab's edge
proxy (udp 127.0.0.1:5080).  A REGISTER runs the script's ``register`` route
(:mod:`puasim.edge.script`) in the worker process; the companions' PUBLISHes
leave synchronously while that REGISTER is handled, before its reply (lab
README, finding 12: 01 #2 PUBLISH before #3 200; pua_bla's SUBSCRIBE too, 14 #2
before #3).  A NOTIFY of the
``reg`` event runs the script's ``notify`` route (``reginfo_handle_notify()``)
and gets the script's reply; so does a NOTIFY of ``dialog;sla`` from a BLA phone
(``bla_handle_notify()``, §9.3).  Other requests go to pua's NOTIFY handling, as
the other pua nodes of puasim do.  Callbacks fired
by usrloc's timer run in the ``timer`` process (its own Call-ID counter, lab
03 #33).

Calls (INVITE, CANCEL and in-dialog requests) go to :mod:`puasim.edge.router`,
tm's stateful proxy, and, when the script makes dialogs, to the dialog module
(:mod:`puasim.node.dialog`).

Every other attribute is pua's (``records()``, ``send_publish``, ...), so the
scenario runner and pua_rpc work on the edge node as on a bare pua node.

Timer keys: pua's, the transaction layer's, and ``("usrloc", "timer")``.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from puasim.companions.bla import PuaBla, PuaBlaConfig
from puasim.companions.dialoginfo import PuaDialoginfo, PuaDialoginfoConfig
from puasim.companions.reginfo import PuaReginfo, PuaReginfoConfig
from puasim.companions.usrloc import CompanionStartupError, PuaUsrloc, PuaUsrlocConfig
from puasim.edge.router import CallRouter, DialogHook
from puasim.edge.script import Call, Script, call_serves, notify_package, substitute
from puasim.effects import SECOND, Address
from puasim.node.dialog import DialogConfig, DialogModule
from puasim.node.registrar import RegistrarConfig, save
from puasim.node.usrloc import Usrloc, UsrlocConfig
from puasim.pua import subscribe
from puasim.pua.model import Pua
from puasim.server.totag import SL_SIGNATURE, kamailio_tag_base, kamailio_to_tag_suffix
from puasim.sip import headers as H
from puasim.sip.errors import SipParseError
from puasim.sip.message import Request, Response, header_key
from puasim.sip.uri import parse_uri
from puasim.trace.events import Note
from puasim.txn.transactions import ServerTransaction

USRLOC_TIMER = ("usrloc", "timer")


@dataclass(frozen=True, slots=True)
class NodeConfig:
    """The node modules around pua and their parameters (validated at load time)."""

    usrloc: UsrlocConfig = field(default_factory=UsrlocConfig)
    registrar: RegistrarConfig = field(default_factory=RegistrarConfig)
    pua_usrloc: PuaUsrlocConfig | None = None
    pua_reginfo: PuaReginfoConfig | None = None
    #: core ``server_header``: the Server value of the node's replies
    server_header: str = ""
    #: core ``user_agent_header``: the User-Agent value of requests the node makes (pua's)
    user_agent_header: str = ""
    #: the Kamailio version the script is written for (pua's profile)
    profile: str = "kamailio-5.6"
    pua_bla: PuaBlaConfig | None = None
    dialog: DialogConfig | None = None
    pua_dialoginfo: PuaDialoginfoConfig | None = None

    @property
    def modules(self) -> set[str]:
        loaded = {"core", "usrloc", "registrar", "pua"}
        if self.dialog is not None:
            loaded.add("dialog")
        if self.pua_dialoginfo is not None:
            loaded.add("pua_dialoginfo")
        if self.pua_usrloc is not None:
            loaded.add("pua_usrloc")
        if self.pua_reginfo is not None:
            loaded.add("pua_reginfo")
        if self.pua_bla is not None:
            loaded.add("pua_bla")
        return loaded


def sl_suffix(req: Request) -> str:
    """sl's To-tag suffix: the two CRC-16s of the top Via and Call-ID (:mod:`puasim.server.totag`)."""
    try:
        via = H.top_via(req)
    except SipParseError:
        via = None
    if via is None:
        return "00000000"
    return kamailio_to_tag_suffix(via.host, "" if via.port is None else str(via.port), via.branch, req.get("call-id"))


class EdgeProxy:
    """usrloc + registrar + pua + companions behind one address (see module docstring)."""

    def __init__(self, pua: Pua, cfg: NodeConfig, script: Script) -> None:
        self.pua = pua
        self.cfg = cfg
        self.script = script
        if cfg.user_agent_header:
            pua.tm.server_signature = cfg.user_agent_header
        self.outbox = pua.outbox
        self.layer = pua.layer
        self.usrloc = Usrloc(cfg.usrloc, epoch=pua.epoch, emit=pua.outbox.emit)
        self.usrloc.register_domain("location")
        # mod_init order of the lab's proxy.cfg: pua_usrloc, then pua_reginfo, whose usrloc
        # callbacks therefore run first (usrloc prepends callbacks)
        self.pua_usrloc = PuaUsrloc(pua, self.usrloc, cfg.pua_usrloc) if cfg.pua_usrloc is not None else None
        self.pua_reginfo = PuaReginfo(pua, self.usrloc, cfg.pua_reginfo) if cfg.pua_reginfo is not None else None
        # loaded after them in proxy.cfg, so its callback runs first
        self.pua_bla = PuaBla(pua, self.usrloc, cfg.pua_bla) if cfg.pua_bla is not None else None
        self._tag_base = kamailio_tag_base(SL_SIGNATURE, pua.host, pua.port)
        #: calls between the phones: tm's stateful proxy (puasim.edge.router)
        self.router = CallRouter(self.layer, self.outbox, self.usrloc, pua.host, pua.port, self.make_reply,
                                 cfg.server_header)
        self.dialog: DialogModule | None = None
        if cfg.dialog is not None:
            self.dialog = DialogModule(cfg.dialog, self.outbox.set_timer, self.outbox.cancel_timer,
                                       lambda text: self.outbox.emit(Note("info", text)))
            self.router.observers.append(DialogHook(self.dialog, script))
        self.pua_dialoginfo: PuaDialoginfo | None = None
        if cfg.pua_dialoginfo is not None:
            if self.dialog is None:
                raise CompanionStartupError("failed to find dialog API - is dialog module loaded?")
            self.pua_dialoginfo = PuaDialoginfo(pua, self.dialog, cfg.pua_dialoginfo)

    def __getattr__(self, name: str) -> Any:
        # only reached for names EdgeProxy lacks: the node is a pua node too
        if name == "pua":
            raise AttributeError(name)
        return getattr(self.pua, name)

    # -- endpoint interface ------------------------------------------------------------
    def start(self, now: int) -> None:
        self.pua.start(now)
        if self.cfg.usrloc.timer_interval > 0:
            self.outbox.set_timer(USRLOC_TIMER, now + self.cfg.usrloc.timer_interval * SECOND)

    def receive(self, message: Request | Response, src: Address, now: int) -> None:
        txn = self.layer.receive_any(message, src, now)
        if txn is None:
            if isinstance(message, Request) and message.method == "ACK":
                self.router.hop_ack(message, now)  # absorbed by tm, after the script saw it
            return
        req = txn.request
        if self.router.handles(req):
            self.router.request(txn, now)
            return
        assert isinstance(txn, ServerTransaction)
        if req.method == "REGISTER":
            self.route_register(txn, now)
        elif req.method == "NOTIFY" and self.script.handles(notify_package(req)):
            self.route_notify(txn, now)
        else:
            subscribe.answer_request(self.pua, txn, now)

    def timer(self, key: Hashable, now: int) -> None:
        if self.dialog is not None and self.dialog.timer(key, now):
            return
        if key == USRLOC_TIMER:
            self.outbox.set_timer(USRLOC_TIMER, now + self.cfg.usrloc.timer_interval * SECOND)
            self._in_process("timer", self.usrloc.timer, now)
            return
        self.pua.timer(key, now)

    def shutdown(self, now: int, fixed: bool = False) -> None:
        """Module destroy: usrloc (db_mode 0) loses its contacts without callbacks; then pua's."""
        self.usrloc.shutdown()
        self.pua.shutdown(now, fixed)

    # -- the script --------------------------------------------------------------------
    def _in_process(self, process: str, fn: Any, *args: Any) -> None:
        companions = [c for c in (self.pua_usrloc, self.pua_reginfo, self.pua_bla) if c is not None]
        for companion in companions:
            companion.process = process
        try:
            fn(*args)
        finally:
            for companion in companions:
                companion.process = "worker"

    def run_call(self, call: Call, req: Request | None, now: int) -> int:
        """Run one script function that needs no reply handling; returns its value."""
        if call.function == "reginfo_subscribe" and self.pua_reginfo is not None:
            uri = substitute(call.args[0], req)
            expires = int(call.args[1]) if len(call.args) > 1 else 3600
            rc = self.pua_reginfo.reginfo_subscribe(uri, expires, now)
        elif call.function == "reginfo_handle_notify" and self.pua_reginfo is not None and req is not None:
            rc = self.pua_reginfo.reginfo_handle_notify(req, call.args[0], now)
        elif call.function == "reginfo_disable_publish" and self.pua_reginfo is not None:
            rc = self.pua_reginfo.reginfo_disable_publish()
        elif call.function == "bla_set_flag" and self.pua_bla is not None and req is not None:
            rc = self.pua_bla.bla_set_flag(req)
        elif call.function == "bla_handle_notify" and self.pua_bla is not None and req is not None:
            rc = self.pua_bla.bla_handle_notify(req, now)
        else:
            raise ValueError(f"script: {call.function}() cannot run here")
        self.pua.log("info", f"script: {call.text()} returned {rc}")
        return rc

    def route_notify(self, txn: ServerTransaction, now: int) -> None:
        """The NOTIFY route: the calls for the NOTIFY's event package, then the script's reply.

        A call that returns 0 ends the script, so no reply is sent (Kamailio's
        rule for a function's 0; ``bla_handle_notify()`` on any failure, §9.3).
        """
        package = notify_package(txn.request)
        if self.pua_bla is not None:
            self.pua_bla.begin_request(txn.request)
        for call in self.script.notify:
            if not call_serves(call.function, package):
                continue
            if self.run_call(call, txn.request, now) == 0:
                self.pua.log("info", f"script: {call.function}() returned 0, the script ends without a reply")
                return
        status, reason = self.script.notify_reply
        txn.respond(self.make_reply(txn.request, status, reason, ()), now)

    def route_register(self, txn: ServerTransaction, now: int) -> None:
        """The REGISTER route: the script's calls in order, then the post-script callbacks."""
        req = txn.request
        try:
            f = H.from_(req)
            user = (parse_uri(f.uri).user or "") if f is not None else ""
        except (SipParseError, ValueError):
            user = ""
        bflags = 0
        replied = False
        if self.pua_bla is not None:
            self.pua_bla.begin_request(req)
        try:
            for call in self.script.register:
                if not call.applies(user):
                    continue
                if call.function == "pua_set_publish" and self.pua_usrloc is not None:
                    _rc, flags = self.pua_usrloc.pua_set_publish()
                    bflags |= flags
                    self.pua.log("info", f"script: pua_set_publish() for {user}")
                elif call.function == "save":
                    result = save(self.usrloc, call.args[0], req, now, self.cfg.registrar, cflags=bflags)
                    self.pua.log("info", f"script: save({call.args[0]!r}) returned {result.rc}")
                    txn.respond(self.make_reply(req, result.status, result.reason, result.headers), now)
                    replied = True
                else:
                    self.run_call(call, req, now)
        finally:
            if self.pua_usrloc is not None:
                self.pua_usrloc.post_script()
        if not replied:
            self.outbox.emit(Note("warning", "script: the REGISTER route sent no reply"))

    def make_reply(self, req: Request, status: int, reason: str, headers: tuple[tuple[str, str], ...]) -> Response:
        """A stateless reply as sl sends it: Via, From, To (with sl's To-tag), Call-ID and CSeq
        copied in the request's order, the reply's fields, Server, Content-Length."""
        out: list[tuple[str, str]] = []
        tag = f"{self._tag_base}.{sl_suffix(req)}"
        names = {"via": "Via", "from": "From", "to": "To", "call-id": "Call-ID", "cseq": "CSeq"}
        for name, value in req.headers:
            key = header_key(name)
            if key not in names:
                continue
            if key == "to" and ";tag=" not in value:
                value = f"{value};tag={tag}"
            out.append((names[key], value))
        out.extend(headers)
        if self.cfg.server_header:
            out.append(("Server", self.cfg.server_header))
        out.append(("Content-Length", "0"))
        return Response(status, reason, tuple(out))
