"""pua_dialoginfo: RFC 4235 dialog state of the dialog module's calls, published through pua.

pua-reference §9.4, checked against pua_dialoginfo.c / dialog_publish.c of
5.6.3 and the lab's experiments 07-13.

* On DLGCB_CREATED of an INVITE (skipped when ``send_publish_flag`` ≥ 0 and
  the INVITE lacks that flag) the caller side publishes ``Trying`` (capital
  T), the callee side too with ``callee_trying``; the dialog's callbacks for
  EARLY, CONFIRMED_NA, FAILED, TERMINATED, EXPIRED (and REQ_WITHIN with
  ``publish_dialog_req_within``) are kept (§9.4.2).
* EARLY → ``early`` on both sides (the caller ``confirmed`` with
  ``caller_confirmed``), with the 1xx's To-tag and single Contact when
  ``include_tags``; CONFIRMED_NA / REQ_WITHIN → ``confirmed``; FAILED,
  TERMINATED, EXPIRED → ``terminated`` with lifetime 10.  PRACK and UPDATE
  requests publish nothing.
* Each PUBLISH goes through pua's ``send_publish`` (§3): pres_uri = the
  side's URI, id ``DIALOG_PUBLISH.<uuid>``, flag UPDATE_TYPE, expires = the
  lifetime (``override_lifetime`` or the dialog's), which pua sends as
  ``Expires: lifetime+1`` (lab 07: 43201, terminated 11).  With
  ``send_publish_flag`` −1 only URIs whose host is the node's own are
  published (``check_self``).
* The body: ``dialog-info`` (version 0, pua may rewrite it, §3.4.2), one
  ``dialog`` with id, [call-id], [local-tag, remote-tag], direction; then
  ``state``, and with ``include_localremote`` ``remote`` before ``local``,
  each ``identity`` and ``target`` (``display`` = the URI's user with
  ``attribute_display``; the target URI is the contact when known, else the
  identity).

* In-dialog requests (DLGCB_REQ_WITHIN): a re-INVITE publishes
  ``confirmed`` for both sides, and so does the ACK of its 2xx (the dialog
  module runs REQ_WITHIN for every in-dialog request of a confirmed dialog
  but the confirming ACK and BYE); UPDATE and PRACK are skipped
  (``__dialog_sendpublish()``: "skip requests that do not control call
  state"), in the early dialog as in the confirmed one.
* ``disable_caller_publish_flag`` / ``disable_callee_publish_flag`` are read
  from the request the callback carries: for the replies' callbacks (EARLY,
  CONFIRMED_NA, FAILED) that is the INVITE, for REQ_WITHIN and TERMINATED
  the in-dialog request (which the modelled script never flags), for EXPIRED
  none.  So with the flag on the INVITE but no ``*_entity_when_publish_disabled``
  that side publishes nothing until the call is answered, then ``confirmed``
  on a re-INVITE and ``terminated`` at the end.
* ``use_pubruri_avps`` (pua-reference §9.4.1): the PUBLISH Request-URIs (and
  pres_uri) of each side are the values of ``pubruri_caller_avp`` /
  ``pubruri_callee_avp`` when the dialog is created, newest value first as
  Kamailio's AVP search returns them, one PUBLISH per value; the body's
  entity and identities stay the From/To URIs.  No value in either AVP: no
  cell, nothing is published for the dialog; a value that is not a SIP URI is
  skipped ("failed to parse the PUBLISH R-URI").  mod_init refuses the flag
  without both AVP names, and a name that is not an AVP spec.

Not modelled: ``pubruri_caller_dlg_var`` / ``pubruri_callee_dlg_var`` (only
read when dialogs are loaded from the database after a restart, which the
model's dialog db_mode 0 never does), ``refresh_pubruri_avps_flag`` and
``local_identity_dlg_var`` (master; a scenario naming them is refused before the run).
"""

from __future__ import annotations

import re
import uuid as uuidlib
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from lxml import etree

from puasim.bodies.dialoginfo import DIALOG_INFO_NS
from puasim.bodies.xml import serialise_formatted
from puasim.companions.usrloc import CompanionStartupError
from puasim.node.dialog import Dialog, DialogModule, DlgCb
from puasim.pua.constants import UPDATE_TYPE, Event, Source
from puasim.pua.info import PublInfo
from puasim.sip import headers as H
from puasim.sip.errors import SipParseError
from puasim.sip.uri import parse_uri

if TYPE_CHECKING:
    from puasim.pua.model import Pua

NOT_MODELLED = {"refresh_pubruri_avps_flag", "pubruri_caller_dlg_var", "pubruri_callee_dlg_var",
                "local_identity_dlg_var"}
#: an AVP spec as ``pv_parse_spec()`` takes it for these parameters: ``$avp(name)``,
#: ``$avp(s:name)`` or ``$avp(i:number)``
AVP_SPEC = re.compile(r"^\$avp\((?:s:)?([A-Za-z_][A-Za-z0-9_]*)\)$|^\$avp\(i:([0-9]+)\)$")
#: text parameters (the rest are integers)
TEXT_PARAMS = {"caller_entity_when_publish_disabled", "callee_entity_when_publish_disabled",
               "pubruri_caller_avp", "pubruri_callee_avp"}


def avp_name(spec: str) -> str | None:
    """The AVP name of a ``$avp(...)`` spec (``i:N`` names as ``i:N``), None if it is not one."""
    m = AVP_SPEC.match(spec.strip())
    if m is None:
        return None
    return m.group(1) if m.group(1) is not None else f"i:{m.group(2)}"
#: MAX_URI_SIZE: longer values make the body build fail
MAX_URI_SIZE = 1024


@dataclass(frozen=True, slots=True)
class PuaDialoginfoConfig:
    """The §9.4.1 parameters the model implements, with the 5.6.3 defaults."""

    use_uuid: int = 0
    include_callid: int = 1
    include_localremote: int = 1
    include_tags: int = 1
    override_lifetime: int = 0
    caller_confirmed: int = 0
    include_req_uri: int = 0
    send_publish_flag: int = -1
    callee_trying: int = 0
    disable_caller_publish_flag: int = -1
    disable_callee_publish_flag: int = -1
    caller_entity_when_publish_disabled: str = ""
    callee_entity_when_publish_disabled: str = ""
    publish_dialog_req_within: int = 1
    attribute_display: int = 0
    use_pubruri_avps: int = 0
    pubruri_caller_avp: str = ""
    pubruri_callee_avp: str = ""

    @classmethod
    def from_params(cls, params: dict) -> PuaDialoginfoConfig:
        known = {f.name for f in fields(cls)}
        for name in params:
            if name in NOT_MODELLED:
                raise CompanionStartupError(f"pua_dialoginfo: {name} is not modelled by puasim")
            if name not in known:
                raise CompanionStartupError(f"pua_dialoginfo: unknown parameter {name!r}")
        for name, value in params.items():
            want = str if name in TEXT_PARAMS else int
            if isinstance(value, bool) or not isinstance(value, want):
                raise CompanionStartupError(f"pua_dialoginfo: {name} must be {'text' if want is str else 'an integer'}")
        cfg = cls(**params)
        # mod_init's checks (pua_dialoginfo.c), in its order
        for side in ("caller", "callee"):
            entity = getattr(cfg, f"{side}_entity_when_publish_disabled")
            if entity:
                try:
                    parse_uri(entity)
                except (SipParseError, ValueError):
                    raise CompanionStartupError(
                        f"{side}_entity_when_publish_disabled is not a valid SIP uri") from None
        if cfg.use_pubruri_avps:
            if not cfg.pubruri_caller_avp or not cfg.pubruri_callee_avp:
                raise CompanionStartupError("pubruri_caller_avp and pubruri_callee_avp must be set, "
                                            "if use_pubruri_avps is enabled")
            for name in ("pubruri_caller_avp", "pubruri_callee_avp"):
                if avp_name(getattr(cfg, name)) is None:
                    err = CompanionStartupError(f"malformed or non AVP {getattr(cfg, name)} AVP definition")
                    err.param = name  # type: ignore[attr-defined]
                    raise err
        return cfg

    def avp_names(self) -> tuple[str, str] | None:
        """The caller and callee AVP names when ``use_pubruri_avps`` is on."""
        if not self.use_pubruri_avps:
            return None
        return avp_name(self.pubruri_caller_avp) or "", avp_name(self.pubruri_callee_avp) or ""


@dataclass(slots=True)
class DlgInfo:
    """pua_dialoginfo's ``dlginfo_cell`` for one dialog."""

    uuid: str
    from_uri: str
    to_uri: str
    req_uri: str
    call_id: str
    from_tag: str
    from_contact: str
    lifetime: int
    disable_caller: bool = False
    disable_callee: bool = False
    #: where each side's PUBLISHes go (``pubruris_caller`` / ``pubruris_callee``)
    caller_targets: tuple[str, ...] = ()
    callee_targets: tuple[str, ...] = ()


class PuaDialoginfo:
    """pua_dialoginfo on one node (see module docstring)."""

    def __init__(self, pua: Pua, dialog: DialogModule, cfg: PuaDialoginfoConfig, pid: int = 4101) -> None:
        self.pua = pua
        self.dialog = dialog
        self.cfg = cfg
        self.pid = pid
        self.counter = 0
        self.cells: dict[str, DlgInfo] = {}
        types = DlgCb.CREATED | DlgCb.EARLY | DlgCb.CONFIRMED_NA | DlgCb.FAILED | DlgCb.TERMINATED | DlgCb.EXPIRED
        if cfg.publish_dialog_req_within:
            types |= DlgCb.REQ_WITHIN
        dialog.register_dlgcb(types, self.callback)

    # -- callbacks -----------------------------------------------------------------------
    def callback(self, dlg: Dialog, kind: DlgCb, msg: Any, now: int) -> None:
        if kind is DlgCb.CREATED:
            self._created(dlg, msg, now)
            return
        info = self.cells.get(dlg.did)
        if info is None:
            return
        method = getattr(msg, "method", None)
        if method in ("PRACK", "UPDATE"):
            return  # requests that do not control call state
        cfg = self.cfg
        uri = info.req_uri if cfg.include_req_uri else info.to_uri
        local = cfg.caller_entity_when_publish_disabled if info.disable_caller else info.from_uri
        if info.disable_callee:
            uri = cfg.callee_entity_when_publish_disabled
        # the request of the callback: the INVITE for the replies' callbacks, the in-dialog
        # request for REQ_WITHIN/TERMINATED (not flagged by the modelled script), none for EXPIRED
        flags = int(dlg.extra.get("flags", 0)) if kind in (DlgCb.EARLY, DlgCb.CONFIRMED_NA, DlgCb.FAILED) else 0
        sides = (not self._flagged(flags, cfg.disable_caller_publish_flag),
                 not self._flagged(flags, cfg.disable_callee_publish_flag))
        if kind in (DlgCb.FAILED, DlgCb.TERMINATED, DlgCb.EXPIRED):
            self._both(info, "terminated", local, uri, 10, None, None, info.from_contact, "", "", now, sides)
        elif kind in (DlgCb.CONFIRMED_NA, DlgCb.REQ_WITHIN):
            self._both(info, "confirmed", local, uri, info.lifetime, None, None, info.from_contact, "", "", now,
                       sides)
        elif kind is DlgCb.EARLY:
            tag, target = "", ""
            if cfg.include_tags and msg is not None:
                try:
                    contacts = H.contact_list(msg)
                    to = H.to(msg)
                except SipParseError:
                    contacts, to = [], None
                if len(contacts) == 1:
                    target = contacts[0].uri
                tag = to.tag or "" if to is not None else ""
            tags = (info.from_tag, tag) if cfg.include_tags else None
            caller_state = "confirmed" if cfg.caller_confirmed else "early"
            self._both(info, caller_state, local, uri, info.lifetime, tags, "early", info.from_contact, target,
                       target, now, sides)

    @staticmethod
    def _flagged(flags: int, flag: int) -> bool:
        return flag != -1 and bool(flags & (1 << flag))

    def _created(self, dlg: Dialog, invite: Any, now: int) -> None:
        cfg = self.cfg
        if invite is None or getattr(invite, "method", "") != "INVITE":
            return
        flags = int(dlg.extra.get("flags", 0))
        if cfg.send_publish_flag > -1 and not flags & (1 << cfg.send_publish_flag):
            return
        dis_caller = (cfg.disable_caller_publish_flag != -1 and bool(cfg.caller_entity_when_publish_disabled)
                      and bool(flags & (1 << cfg.disable_caller_publish_flag)))
        dis_callee = (cfg.disable_callee_publish_flag != -1 and bool(cfg.callee_entity_when_publish_disabled)
                      and bool(flags & (1 << cfg.disable_callee_publish_flag)))
        avps = cfg.avp_names()
        if avps is not None:
            # get_str_list(): every value of the AVP, as the search returns them (newest first)
            values = dlg.extra.get("avps") or {}
            caller_targets = tuple(values.get(avps[0], ()))
            callee_targets = tuple(values.get(avps[1], ()))
        else:
            caller_targets = (dlg.from_uri,)
            callee_targets = (dlg.req_uri if cfg.include_req_uri else dlg.to_uri,)
        if not caller_targets and not callee_targets:
            self.pua.log("debug", "pua_dialoginfo: neither pubruris_caller nor pubruris_callee found")
            return
        self.counter += 1
        if cfg.use_uuid:
            uid = str(uuidlib.UUID(int=self.pua.rng.getrandbits(128), version=4))
        else:  # sruid: padi-<hex time>-<hex pid>-<counter, least significant hex digit first>
            uid = f"padi-{self.pua.seconds(now):x}-{self.pid:x}-{format(self.counter, 'x')[::-1]}"
        info = DlgInfo(uid, dlg.from_uri, dlg.to_uri, dlg.req_uri, dlg.call_id, dlg.from_tag, dlg.caller_contact,
                       cfg.override_lifetime or dlg.lifetime, dis_caller, dis_callee, caller_targets, callee_targets)
        self.cells[dlg.did] = info
        local = cfg.caller_entity_when_publish_disabled if dis_caller else info.from_uri
        remote = cfg.callee_entity_when_publish_disabled if dis_callee else (
            info.req_uri if cfg.include_req_uri else info.to_uri)
        if not dis_caller and not (cfg.disable_caller_publish_flag != -1
                                   and flags & (1 << cfg.disable_caller_publish_flag)):
            self.publish("Trying", local, remote, info, True, None, "", "", now)
        if cfg.callee_trying and not dis_callee and not (cfg.disable_callee_publish_flag != -1
                                                         and flags & (1 << cfg.disable_callee_publish_flag)):
            self.publish("Trying", remote, local, info, False, None, "", "", now)

    def _both(self, info: DlgInfo, caller_state: str, local: str, uri: str, lifetime: int,
              tags: tuple[str, str] | None, callee_state: str | None, from_contact: str, target: str,
              callee_local_target: str, now: int, sides: tuple[bool, bool] = (True, True)) -> None:
        callee_state = callee_state or caller_state
        if not info.disable_caller and sides[0]:
            self.publish(caller_state, local, uri, info, True, tags, from_contact, target, now, lifetime)
        if not info.disable_callee and sides[1]:
            swapped = (tags[1], tags[0]) if tags is not None else None
            self.publish(callee_state, uri, local, info, False, swapped, callee_local_target, from_contact, now,
                         lifetime)

    # -- dialog_publish_multi() / dialog_publish() -------------------------------------------
    def publish(self, state: str, entity: str, peer: str, info: DlgInfo, initiator: bool,
                tags: tuple[str, str] | None, local_target: str, remote_target: str, now: int,
                lifetime: int | None = None) -> None:
        """One PUBLISH to each of the side's targets (the side's URI, or its AVP values)."""
        for ruri in info.caller_targets if initiator else info.callee_targets:
            self._publish_one(ruri, state, entity, peer, info, initiator, tags, local_target, remote_target, now,
                              lifetime)

    def _publish_one(self, ruri: str, state: str, entity: str, peer: str, info: DlgInfo, initiator: bool,
                     tags: tuple[str, str] | None, local_target: str, remote_target: str, now: int,
                     lifetime: int | None) -> None:
        try:
            parse_uri(ruri)
        except (SipParseError, ValueError):
            self.pua.log("error", f"pua_dialoginfo: failed to parse the PUBLISH R-URI {ruri!r}")
            return
        if self.cfg.send_publish_flag == -1 and not self._is_self(ruri):
            self.pua.log("debug", f"pua_dialoginfo: {ruri} is not local, no PUBLISH")
            return
        body = self.build_body(state, entity, peer, info, initiator, tags, local_target, remote_target)
        if body is None:
            return
        publ = PublInfo(
            pres_uri=ruri,
            event=int(Event.DIALOG),
            source_flag=int(Source.DIALOG_PUBLISH),
            expires=info.lifetime if lifetime is None else lifetime,
            body=body,
            content_type="application/dialog-info+xml",
            id=f"DIALOG_PUBLISH.{info.uuid}",
            flag=UPDATE_TYPE,
        )
        if self.pua.send_publish(publ, now) < 0:
            self.pua.log("error", "pua_dialoginfo: sending publish failed")

    def _is_self(self, uri: str) -> bool:
        try:
            u = parse_uri(uri)
        except (SipParseError, ValueError):
            return False
        return u.host.strip("[]") == self.pua.host and (u.port is None or u.port == self.pua.port)

    def build_body(self, state: str, entity: str, peer: str, info: DlgInfo, initiator: bool,
                   tags: tuple[str, str] | None, local_target: str, remote_target: str) -> bytes | None:
        cfg = self.cfg
        if any(len(v) > MAX_URI_SIZE for v in (entity, peer, info.uuid, info.call_id, *(tags or ()))):
            self.pua.log("error", "pua_dialoginfo: a value is longer than MAX_URI_SIZE, no PUBLISH")
            return None
        ns = DIALOG_INFO_NS
        root = etree.Element(f"{{{ns}}}dialog-info", nsmap={None: ns})
        root.set("version", "0")
        root.set("state", "full")
        root.set("entity", entity)
        dialog = etree.SubElement(root, f"{{{ns}}}dialog")
        dialog.set("id", info.uuid)
        if cfg.include_callid:
            dialog.set("call-id", info.call_id)
        if tags is not None and cfg.include_tags:
            if tags[0]:
                dialog.set("local-tag", tags[0])
            if tags[1]:
                dialog.set("remote-tag", tags[1])
        dialog.set("direction", "initiator" if initiator else "recipient")
        etree.SubElement(dialog, f"{{{ns}}}state").text = state
        if cfg.include_localremote:
            for name, identity, target in (("remote", peer, remote_target), ("local", entity, local_target)):
                part = etree.SubElement(dialog, f"{{{ns}}}{name}")
                etree.SubElement(part, f"{{{ns}}}identity").text = identity
                tnode = etree.SubElement(part, f"{{{ns}}}target")
                uri = target or identity
                if cfg.attribute_display:
                    try:
                        user = parse_uri(uri).user
                    except (SipParseError, ValueError):
                        user = None
                    if user:
                        tnode.set("display", user)
                if len(uri) <= MAX_URI_SIZE:
                    tnode.set("uri", uri)
        return serialise_formatted(root)
