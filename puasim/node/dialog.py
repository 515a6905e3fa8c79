"""Kamailio's dialog module (5.6.3) as the edge node needs it: dialogs, states, callbacks.

A dialog is created for an INVITE the script marks, by ``dlg_manage()`` or by
the message flag ``dlg_flag`` being set when the INVITE is relayed; creating it
fires ``DLGCB_CREATED``.  Afterwards the replies tm sends upstream (relayed or
local, never the 100 that tm makes itself) and the in-dialog requests that
reach the node move it through the states of ``dlg_hash.c``'s
``next_state_dlg()``, and ``dlg_handlers.c`` fires the callbacks:

==================  ===================================  ================================
input               state change                         callback
==================  ===================================  ================================
1xx sent upstream   unconfirmed/early → early            EARLY, for every 1xx (with or
                                                         without To-tag, every fork)
2xx sent upstream   unconfirmed/early → confirmed_na     CONFIRMED_NA, once; the
                    (deleted → confirmed_na unless a     dialog timer starts
                    BYE was seen)                        (``default_timeout``)
3xx-6xx upstream    unconfirmed/early → deleted          FAILED (487 after CANCEL, tm's
                                                         local 408 after fr_inv_timer)
ACK                 confirmed_na → confirmed             CONFIRMED
ACK, other request  confirmed → confirmed                REQ_WITHIN (timer restarted unless
                                                         ``timeout_noreset``)
PRACK, request      early → early                        REQ_WITHIN
PRACK, request      confirmed_na → confirmed_na          none
BYE (either side)   confirmed_na/confirmed → deleted     TERMINATED (timer removed)
BYE                 early → early                        none
dialog timer        confirmed_na/confirmed → deleted     EXPIRED
==================  ===================================  ================================

A re-INVITE or UPDATE is an "other request": in a confirmed dialog it fires
REQ_WITHIN and restarts the dialog timer, and so does the ACK of a
re-INVITE's 2xx; an UPDATE in the early dialog fires REQ_WITHIN and leaves
the timer alone (it starts with the 2xx).  The replies to in-dialog requests
change nothing: ``dlg_onroute()`` hooks them with TMCB_RESPONSE_IN only,
where ``dlg_onreply()`` just sets the dialog context.  An INVITE in the
dialog also refreshes the sender's contact (``dlg_refresh_contacts()``).
``timeout_noreset`` 1 keeps the timer of a confirmed dialog where the ACK of
its first 2xx put it; mod_init refuses other values than 0 and 1 ("invalid
value N for timeout_noreset param!!").

In-dialog requests are matched by the ``did`` parameter the node put into its
Record-Route (``<h_entry hex>.<h_id hex>``, as the lab's ``did=62f.05a1``) and,
failing that, by Call-ID and the two tags.  mod_init refuses
``default_timeout`` 0 ("0 default_timeout not accepted!!") and a
``dlg_flag`` above 31 ("invalid dlg flag").

Not modelled: dialog profiles, variables, db_mode other than 0, spiralled
requests, ``timeout_avp`` and ``dlg_set_property("timeout-noreset")``, the
event routes, DMQ.
"""

from __future__ import annotations

import binascii
import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from puasim.effects import SECOND
from puasim.sip import headers as H
from puasim.sip.errors import SipParseError
from puasim.sip.message import Request
from puasim.sip.uri import parse_uri

MAX_FLAG = 31
#: dialog's hash table size (``hash_size`` default 4096)
HASH_SIZE = 4096


class DialogStartupError(ValueError):
    """A parameter mod_init refuses; the text is Kamailio's reason, ``param`` the parameter."""

    def __init__(self, reason: str, param: str = "") -> None:
        super().__init__(reason)
        self.param = param


class DlgState(enum.IntEnum):
    """``DLG_STATE_*`` of dlg_hash.h."""

    UNCONFIRMED = 1
    EARLY = 2
    CONFIRMED_NA = 3
    CONFIRMED = 4
    DELETED = 5


class DlgCb(enum.IntFlag):
    """The callback types pua_dialoginfo uses (``DLGCB_*`` of dlg_cb.h)."""

    CREATED = 1 << 0
    FAILED = 1 << 1
    CONFIRMED_NA = 1 << 2
    CONFIRMED = 1 << 3
    REQ_WITHIN = 1 << 4
    TERMINATED = 1 << 5
    EXPIRED = 1 << 6
    EARLY = 1 << 7


S = DlgState

#: ``next_state_dlg()`` (dlg_hash.c): (state, event) → state; an input not listed is
#: logged by Kamailio as a bogus event and changes nothing
DIALOG_TRANSITIONS: dict[tuple[DlgState, str], DlgState] = {
    (S.UNCONFIRMED, "rpl1xx"): S.EARLY,
    (S.EARLY, "rpl1xx"): S.EARLY,
    (S.UNCONFIRMED, "rpl3xx"): S.DELETED,
    (S.EARLY, "rpl3xx"): S.DELETED,
    (S.UNCONFIRMED, "rpl2xx"): S.CONFIRMED_NA,
    (S.EARLY, "rpl2xx"): S.CONFIRMED_NA,
    (S.DELETED, "rpl2xx"): S.CONFIRMED_NA,  # revived, unless it saw a BYE (checked below)
    (S.CONFIRMED_NA, "rpl2xx"): S.CONFIRMED_NA,
    (S.CONFIRMED, "rpl2xx"): S.CONFIRMED,
    (S.CONFIRMED_NA, "ack"): S.CONFIRMED,
    (S.CONFIRMED, "ack"): S.CONFIRMED,
    (S.DELETED, "ack"): S.DELETED,
    (S.CONFIRMED_NA, "bye"): S.DELETED,
    (S.CONFIRMED, "bye"): S.DELETED,
    (S.EARLY, "bye"): S.EARLY,
    (S.DELETED, "bye"): S.DELETED,
    (S.EARLY, "prack"): S.EARLY,
    (S.CONFIRMED_NA, "prack"): S.CONFIRMED_NA,
    (S.DELETED, "prack"): S.DELETED,
    (S.EARLY, "req"): S.EARLY,
    (S.CONFIRMED_NA, "req"): S.CONFIRMED_NA,
    (S.CONFIRMED, "req"): S.CONFIRMED,
    (S.DELETED, "req"): S.DELETED,
}


@dataclass(frozen=True, slots=True)
class DialogConfig:
    """The dialog module's parameters the model uses."""

    #: seconds a confirmed dialog lives without in-dialog traffic (12 hours)
    default_timeout: int = 43200
    #: message flag that makes relaying an INVITE create a dialog (−1: only dlg_manage())
    dlg_flag: int = -1
    #: 1: in-dialog requests of a confirmed dialog do not restart its timer
    timeout_noreset: int = 0

    @classmethod
    def from_params(cls, params: dict) -> DialogConfig:
        known = ("default_timeout", "dlg_flag", "timeout_noreset")
        unknown = set(params) - set(known)
        if unknown:
            raise DialogStartupError(f"unknown dialog parameter {sorted(unknown)[0]!r} (modelled: {', '.join(known)})")
        cfg = cls(**params)
        for name in known:
            value = getattr(cfg, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise DialogStartupError(f"{name} must be an integer, got {value!r}", name)
        if cfg.dlg_flag != -1 and cfg.dlg_flag > MAX_FLAG:
            raise DialogStartupError(f"invalid dlg flag {cfg.dlg_flag}!!", "dlg_flag")
        if cfg.default_timeout <= 0:
            raise DialogStartupError("0 default_timeout not accepted!!", "default_timeout")
        if cfg.timeout_noreset not in (0, 1):
            raise DialogStartupError(f"invalid value {cfg.timeout_noreset} for timeout_noreset param!!",
                                     "timeout_noreset")
        return cfg


@dataclass(slots=True)
class Dialog:
    """One ``dlg_cell``."""

    h_entry: int
    h_id: int
    call_id: str
    from_uri: str
    from_tag: str
    to_uri: str
    req_uri: str
    caller_contact: str
    lifetime: int
    state: DlgState = DlgState.UNCONFIRMED
    to_tag: str = ""
    callee_contact: str = ""
    has_bye: bool = False
    #: the INVITE that created it, and the reply that last changed it (for the callbacks)
    invite: Request | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def did(self) -> str:
        return f"{self.h_entry:x}.{self.h_id:04x}"

    @property
    def timer_key(self) -> tuple[str, str]:
        return ("dialog", self.did)


#: ``(dialog, type, message or None, now)``; message is the request or the reply
DialogCallback = Callable[[Dialog, DlgCb, Any, int], None]


class DialogModule:
    """Dialogs of one node; timers and trace go through the given callables."""

    def __init__(self, cfg: DialogConfig, set_timer: Callable[[Any, int], None],
                 cancel_timer: Callable[[Any], None], note: Callable[[str], None]) -> None:
        self.cfg = cfg
        self.set_timer = set_timer
        self.cancel_timer = cancel_timer
        self.note = note
        #: every dialog of the run by did; deleted ones stay (matched, absorbed) as
        #: Kamailio keeps a cell while references to it last
        self.dialogs: dict[str, Dialog] = {}
        self.callbacks: list[tuple[DlgCb, DialogCallback]] = []
        self.next_id = 0x5a0  # any start; the lab's dids end in 4-digit hex ids

    def register_dlgcb(self, types: DlgCb, fn: DialogCallback) -> None:
        """Like ``register_dlgcb()``: CREATED is global, the others are run for every dialog."""
        self.callbacks.append((types, fn))

    def _run(self, dlg: Dialog, kind: DlgCb, msg: Any, now: int) -> None:
        self.note(f"dialog {dlg.did}: {kind.name} ({dlg.state.name.lower()})")
        for types, fn in self.callbacks:
            if types & kind:
                fn(dlg, kind, msg, now)

    # -- creation ----------------------------------------------------------------------
    def wants(self, flags: int, managed: bool) -> bool:
        """``dlg_manage()`` was called, or the INVITE carries ``dlg_flag``."""
        return managed or (self.cfg.dlg_flag >= 0 and bool(flags & (1 << self.cfg.dlg_flag)))

    def create(self, invite: Request, now: int, flags: int = 0,
               avps: dict[str, list[str]] | None = None) -> Dialog | None:
        """``dlg_new_dialog()`` for an initial INVITE: the dialog and DLGCB_CREATED.

        ``flags`` are the INVITE's message flags, ``avps`` the AVPs the script set before
        (name -> values, newest first): the CREATED callbacks read both."""
        try:
            frm, to, call_id = H.from_(invite), H.to(invite), H.call_id(invite)
            contacts = H.contact_list(invite)
        except SipParseError:
            return None
        if frm is None or to is None or not call_id or not frm.tag:
            return None
        self.next_id += 1
        entry = binascii.crc32(call_id.encode()) % HASH_SIZE
        dlg = Dialog(entry, self.next_id, call_id, frm.uri, frm.tag, to.uri, invite.uri,
                     contacts[0].uri if contacts else "", self.cfg.default_timeout, invite=invite,
                     extra={"flags": flags, "avps": avps or {}})
        self.dialogs[dlg.did] = dlg
        self._run(dlg, DlgCb.CREATED, invite, now)
        return dlg

    # -- replies tm sends upstream (dlg_onreply) -------------------------------------------
    def on_reply(self, dlg: Dialog, status: int, reply: Any, now: int) -> None:
        event = "rpl1xx" if status < 200 else "rpl2xx" if status < 300 else "rpl3xx"
        old = dlg.state
        if event == "rpl2xx" and old is DlgState.DELETED and dlg.has_bye:
            return  # a bogus event for a dialog a BYE ended
        new = DIALOG_TRANSITIONS.get((old, event), old)
        dlg.state = new
        if new is DlgState.EARLY:
            self._run(dlg, DlgCb.EARLY, reply, now)
        elif new is DlgState.CONFIRMED_NA and old not in (DlgState.CONFIRMED_NA, DlgState.CONFIRMED):
            try:
                to = H.to(reply) if reply is not None else None
                contacts = H.contact_list(reply) if reply is not None else []
            except (SipParseError, AttributeError):
                to, contacts = None, []
            dlg.to_tag = to.tag or "" if to is not None else ""
            dlg.callee_contact = contacts[0].uri if contacts else ""
            self.set_timer(dlg.timer_key, now + dlg.lifetime * SECOND)
            self._run(dlg, DlgCb.CONFIRMED_NA, reply, now)
        elif new is DlgState.DELETED and old in (DlgState.UNCONFIRMED, DlgState.EARLY):
            self._run(dlg, DlgCb.FAILED, reply, now)

    # -- in-dialog requests (dlg_onroute) -----------------------------------------------
    def match(self, req: Request) -> Dialog | None:
        """By the ``did`` of the node's Route entry, else by Call-ID and tags."""
        try:
            routes = H.route_list(req)
        except SipParseError:
            routes = []
        for route in routes[:1]:
            try:
                params = parse_uri(route.uri).params
            except (SipParseError, ValueError):
                params = ()
            for name, value in params:
                if name.lower() == "did" and value in self.dialogs:
                    return self.dialogs[value]
        try:
            call_id, frm, to = H.call_id(req), H.from_(req), H.to(req)
        except SipParseError:
            return None
        tags = {frm.tag if frm is not None else "", to.tag if to is not None else ""}
        for dlg in self.dialogs.values():
            if dlg.call_id == call_id and dlg.from_tag in tags:
                return dlg
        return None

    def on_request(self, req: Request, now: int) -> Dialog | None:
        dlg = self.match(req)
        if dlg is None:
            return None
        method = req.method
        event = {"ACK": "ack", "BYE": "bye", "PRACK": "prack"}.get(method, "req")
        old = dlg.state
        new = DIALOG_TRANSITIONS.get((old, event), old)
        dlg.state = new
        if event == "bye":
            if new is DlgState.DELETED and old is not DlgState.DELETED:
                dlg.has_bye = True
                self.cancel_timer(dlg.timer_key)
                self._run(dlg, DlgCb.TERMINATED, req, now)
            return dlg
        if new in (DlgState.CONFIRMED, DlgState.EARLY):
            # the timer restarts when the ACK confirms, and later unless timeout_noreset
            if new is DlgState.CONFIRMED and (old is not DlgState.CONFIRMED or not self.cfg.timeout_noreset):
                self.set_timer(dlg.timer_key, now + dlg.lifetime * SECOND)
            if method == "INVITE":
                self._refresh_contact(dlg, req)
            if old is DlgState.CONFIRMED_NA:
                self._run(dlg, DlgCb.CONFIRMED, req, now)
            else:
                self._run(dlg, DlgCb.REQ_WITHIN, req, now)
        return dlg

    @staticmethod
    def _refresh_contact(dlg: Dialog, req: Request) -> None:
        """``dlg_refresh_contacts()``: a single Contact of an in-dialog INVITE becomes its sender's."""
        try:
            contacts = H.contact_list(req)
            frm = H.from_(req)
        except SipParseError:
            return
        if len(contacts) != 1 or frm is None:
            return
        if frm.tag == dlg.from_tag:
            dlg.caller_contact = contacts[0].uri
        else:
            dlg.callee_contact = contacts[0].uri

    # -- the dialog timer (dlg_ontimeout) ------------------------------------------------
    def timer(self, key: Any, now: int) -> bool:
        if not (isinstance(key, tuple) and len(key) == 2 and key[0] == "dialog"):
            return False
        dlg = self.dialogs.get(key[1])
        if dlg is None:
            return True
        old = dlg.state
        new = DIALOG_TRANSITIONS.get((old, "bye"), old)
        dlg.state = new
        if new is DlgState.DELETED and old is not DlgState.DELETED:
            self._run(dlg, DlgCb.EXPIRED, None, now)
        return True
