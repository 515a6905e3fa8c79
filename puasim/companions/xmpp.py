"""pua_xmpp: the SIP side of Kamailio's SIMPLE ↔ XMPP gateway (pua-reference §9.6, §4.8, §10 B24).

XMPP stanzas are typed records (:class:`Presence`) exchanged with a simulated
XMPP peer: :meth:`PuaXmpp.from_xmpp` takes a stanza the xmpp module received,
stanzas the gateway sends go to :attr:`PuaXmpp.sent` and into the trace as
``Note("xmpp", ...)``.  Addresses are translated as the xmpp module does
without a gateway map: a JID ``user@domain/res`` becomes
``sip:user<sep>domain@<gateway_domain>`` (resource stripped), a SIP URI
``sip:user@host`` becomes the JID ``user<sep>host@<xmpp_domain>``; the
decoders undo these.

XMPP → SIP (``presence`` stanzas):

* no ``type``: PUBLISH presence, XMPP_PUBLISH, expires −1, PIDF with entity
  ``pres:`` + the SIP URI after its first four characters, ``basic`` open, a
  ``note`` in the tuple when ``show`` or ``status`` is present (its text is the
  mapped ``show``: xa→Away, chat→Online, dnd→Busy (DND), other→as given;
  empty when only ``status`` is given — the status text is never used) and
  an empty ``person`` when ``show`` is present;
* ``unavailable``: the same with expires 0 and ``basic`` closed;
* ``subscribe``/``probe``: SUBSCRIBE presence, presentity = decoded ``to``,
  watcher = Contact = encoded ``from``, expires −1, XMPP_INITIAL_SUBS;
  ``unsubscribe``: the same with expires 0; other types are ignored.

SIP → XMPP: the pua callback for XMPP_INITIAL_SUBS (replies to initial
SUBSCRIBEs only, §4.8) sends ``subscribed`` for 2xx, ``error`` with a
condition for ≥ 300 (a local timeout counts as 408); ``pua_xmpp_notify()``
turns an in-dialog NOTIFY into stanzas; ``pua_xmpp_req_winfo()`` subscribes
presence.winfo.  No profile difference (§11.2).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING

from puasim.companions.usrloc import CompanionStartupError
from puasim.pua.constants import Event, Source
from puasim.pua.info import Hentity, PublInfo, SubsInfo
from puasim.sip import headers as H
from puasim.sip.errors import SipParseError
from puasim.sip.message import Request, Response
from puasim.sip.uri import parse_uri
from puasim.trace.events import Note

if TYPE_CHECKING:
    from puasim.pua.model import Pua

STANZAS_NS = "urn:ietf:params:xml:ns:xmpp-stanzas"
#: show → the note text of the PIDF published for it
SHOW_NOTES = {"xa": "Away", "chat": "Online", "dnd": "Busy (DND)"}
#: SIP final status → XMPP stanza error condition (others: not-acceptable)
ERROR_CONDITIONS = {
    300: "redirect", 301: "gone", 302: "redirect", 305: "redirect", 380: "not-acceptable",
    400: "bad-request", 401: "not-authorized", 402: "payment-required", 403: "forbidden",
    404: "item-not-found", 405: "not-allowed", 406: "not-acceptable", 407: "registration-required",
    408: "service-unavailable", 410: "gone", 413: "bad-request", 414: "bad-request", 415: "bad-request",
    416: "bad-request", 420: "bad-request", 421: "bad-request", 423: "bad-request",
    480: "recipient-unavailable", 481: "item-not-found", 482: "not-acceptable", 483: "not-acceptable",
    484: "jid-malformed", 485: "item-not-found", 488: "not-acceptable", 491: "unexpected-request",
    500: "internal-server-error", 501: "feature-not-implemented", 502: "remote-server-not-found",
    503: "service-unavailable", 504: "remote-server-timeout", 505: "not-acceptable", 513: "bad-request",
    600: "service-unavailable", 603: "service-unavailable", 604: "item-not-found", 606: "not-acceptable",
}


@dataclass(frozen=True, slots=True)
class Presence:
    """An XMPP ``presence`` stanza (RFC 6121 §4) as far as the gateway reads or writes it."""

    from_: str
    to: str
    type: str | None = None
    show: str | None = None
    status: str | None = None
    priority: str | None = None
    error: str | None = None  # the condition element of a type="error" stanza

    def text(self) -> str:
        """A compact one-line XML rendering, for traces."""
        attrs = f' to="{self.to}" from="{self.from_}"' + (f' type="{self.type}"' if self.type else "")
        inner = "".join(f"<{k}>{v}</{k}>" for k, v in (("show", self.show), ("status", self.status),
                                                        ("priority", self.priority)) if v is not None)
        if self.error:
            inner += f'<error><{self.error} xmlns="{STANZAS_NS}"/></error>'
        return f"<presence{attrs}/>" if not inner else f"<presence{attrs}>{inner}</presence>"


@dataclass(frozen=True, slots=True)
class PuaXmppConfig:
    """pua_xmpp's ``server_address`` (mandatory) and the xmpp module's address parameters it relies on."""

    server_address: str = ""
    gateway_domain: str = "sip2xmpp.example.net"
    xmpp_domain: str = "xmpp2sip.example.net"
    domain_separator: str = "*"

    @classmethod
    def from_params(cls, params: dict) -> PuaXmppConfig:
        known = {f.name for f in fields(cls)}
        for key, value in params.items():
            if key not in known:
                raise CompanionStartupError(f"pua_xmpp: unknown parameter {key!r} (known: {', '.join(sorted(known))})")
            if not isinstance(value, str):
                raise CompanionStartupError(f"pua_xmpp: {key} must be a string")
        cfg = cls(**params)
        if not cfg.server_address:
            raise CompanionStartupError("pua_xmpp: compulsory 'server_address' parameter not set!")
        if len(cfg.domain_separator) != 1:
            raise CompanionStartupError("pua_xmpp: domain_separator must be one character")
        return cfg

    # -- the xmpp module's address translation (no gateway map) ------------------------------
    def encode_xmpp_sip(self, jid: str) -> str:
        """``user@domain/res`` → ``sip:user<sep>domain@gateway_domain``."""
        bare = jid.split("/", 1)[0].replace("@", self.domain_separator, 1)
        return f"sip:{bare}@{self.gateway_domain}"

    def decode_xmpp_sip(self, jid: str) -> str:
        """``user<sep>domain@xmpp_domain/res`` → ``sip:user@domain``."""
        text = f"sip:{jid}".split("/", 1)[0].split("@", 1)[0]
        return text.replace(self.domain_separator, "@", 1)

    def encode_sip_xmpp(self, uri: str) -> str:
        """``sip:user@host`` → ``user<sep>host@xmpp_domain``."""
        u = parse_uri(uri)
        return f"{u.user or ''}{self.domain_separator}{u.host}@{self.xmpp_domain}"

    def decode_sip_xmpp(self, uri: str) -> str:
        """``sip:user<sep>domain@gateway`` → ``user@domain``."""
        return (parse_uri(uri).user or "").replace(self.domain_separator, "@", 1)


def _pidf(entity: str, stanza: Presence) -> bytes:
    """The PIDF pua_xmpp builds for a presence stanza (basic closed for any type)."""
    ns = ('xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model"'
          ' xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" xmlns:c="urn:ietf:params:xml:ns:pidf:cipid"')
    lines = ['<?xml version="1.0"?>', f'<presence {ns} entity="{entity}">', "  <tuple>", "    <status>"]
    if stanza.type is not None:
        lines += ["      <basic>closed</basic>", "    </status>", "  </tuple>"]
    else:
        lines += ["      <basic>open</basic>", "    </status>"]
        if stanza.show is not None or stanza.status is not None:
            note = SHOW_NOTES.get(stanza.show, stanza.show) if stanza.show is not None else None
            lines.append(f"    <note>{note}</note>" if note else "    <note/>")
        lines.append("  </tuple>")
        if stanza.show is not None:
            lines.append("  <person/>")
    lines.append("</presence>")
    return ("\n".join(lines) + "\n").encode()


def _first(root: ET.Element, name: str) -> ET.Element | None:
    """The first element named ``name`` (any namespace) below ``root``, depth first."""
    for el in root.iter():
        if el is not root and el.tag.rpartition("}")[2] == name:
            return el
    return None


@dataclass(slots=True)
class PuaXmpp:
    """The pua_xmpp module bound to one pua (mod_init registers the XMPP_INITIAL_SUBS callback)."""

    pua: Pua
    cfg: PuaXmppConfig
    sent: list[Presence] = field(default_factory=list)
    process: str = "xmpp"

    def __post_init__(self) -> None:
        self.pua.register_puacb(int(Source.XMPP_INITIAL_SUBS), self._subscribe_reply)

    def script_notify(self, request: Request, now: int) -> bool | None:
        """The module docs' script branch: a NOTIFY whose Request-URI is in the gateway domain
        runs ``pua_xmpp_notify()``, answered 200 only when it returns 1, then ``exit``.

        None for other NOTIFYs (not this branch).
        """
        try:
            u = parse_uri(request.uri)
        except ValueError:
            return None
        hostport = f"{u.host}:{u.port}" if u.port else u.host
        if hostport.lower() != self.cfg.gateway_domain.lower():
            return None
        return self.pua_xmpp_notify(request, now) == 1

    def _send(self, stanza: Presence) -> None:
        self.sent.append(stanza)
        self.pua.outbox.emit(Note("xmpp", f"to XMPP: {stanza.text()}"))

    # -- XMPP → SIP -----------------------------------------------------------------------
    def from_xmpp(self, stanza: Presence, now: int) -> int:
        """A presence stanza from the XMPP side; the pua return code (0 when nothing was asked)."""
        kind = stanza.type
        if kind is None or kind == "unavailable":
            pres_uri = self.cfg.encode_xmpp_sip(stanza.from_)
            publ = PublInfo(
                pres_uri=pres_uri, event=int(Event.PRESENCE), source_flag=int(Source.XMPP_PUBLISH),
                expires=-1 if kind is None else 0, body=_pidf("pres:" + pres_uri[4:], stanza),
            )
            return self.pua.send_publish(publ, now, process=self.process)
        if kind in ("subscribe", "probe", "unsubscribe"):
            watcher = self.cfg.encode_xmpp_sip(stanza.from_)
            subs = SubsInfo(
                pres_uri=self.cfg.decode_xmpp_sip(stanza.to), watcher_uri=watcher, contact=watcher,
                event=int(Event.PRESENCE), source_flag=int(Source.XMPP_INITIAL_SUBS),
                expires=0 if kind == "unsubscribe" else -1,
            )
            return self.pua.send_subscribe(subs, now, process=self.process)
        self.pua.log("debug", f"pua_xmpp: presence type {kind!r} ignored")
        return 0

    def _subscribe_reply(self, h: Hentity, reply: Response, faked: bool, now: int) -> None:
        code = 408 if faked else reply.status
        to = self.cfg.decode_sip_xmpp(h.watcher_uri)
        frm = self.cfg.encode_sip_xmpp(h.pres_uri)
        if code >= 300:
            self._send(Presence(frm, to, "error", error=ERROR_CONDITIONS.get(code, "not-acceptable")))
        elif code >= 200:
            self._send(Presence(frm, to, "subscribed"))

    # -- SIP → XMPP: pua_xmpp_notify() ------------------------------------------------------
    def _fail(self, text: str) -> int:
        self.pua.log("error", f"pua_xmpp: {text}")
        return 0

    def pua_xmpp_notify(self, request: Request, now: int) -> int:
        """§9.6 ``pua_xmpp_notify()``: 1 on success, 0 on failure (ends the script), −1 without Event."""
        event = (request.get("event") or "").strip()
        if not event:
            self.pua.log("error", "pua_xmpp: Missing event header field value")
            return -1
        try:
            to = H.to(request)
            frm = H.from_(request)
        except SipParseError:
            return self._fail("cannot parse To/From header")
        if to is None or not to.uri:
            return self._fail("'To' header NOT parsed")
        xmpp_to = self.cfg.decode_sip_xmpp(to.uri)
        if not to.tag:
            return self._fail("to tag value not parsed")
        call_id = (request.get("call-id") or "").strip()
        if not call_id:
            return self._fail("cannot parse callid header")
        if frm is None:
            return self._fail("cannot parse From header")
        xmpp_from = self.cfg.encode_sip_xmpp(frm.uri)
        if not frm.tag:
            return self._fail("no from tag value present")
        if event not in ("presence", "presence.winfo"):
            return self._fail("wrong event")
        if self.pua.is_dialog(pres_uri=frm.uri, watcher_uri=to.uri, call_id=call_id, to_tag=frm.tag,
                              from_tag=to.tag, flag=int(Source.XMPP_SUBSCRIBE)) < 0:
            return self._fail("Notify in a non existing dialog")
        state = next((v for n, v in request.headers if n.lower() == "subscription-state"), None)
        terminated = state is not None and state.startswith("terminated")
        if event == "presence":
            if terminated and state is not None and state[11:].startswith("reason=timeout"):
                return 1
            stanza = self._presence_stanza(xmpp_from, xmpp_to, request.body, terminated)
            if stanza is None:
                return self._fail("in function build_xmpp_content")
            self._send(stanza)
            return 1
        if terminated:
            return self._fail("Subscription-State terminated- should not translate")
        watchers = self._winfo_watchers(request.body)
        if watchers is None:
            return self._fail("while sending subscription")
        for watcher in watchers:
            self._send(Presence(self.cfg.encode_sip_xmpp(watcher), xmpp_to, "subscribe"))
        return 1

    @staticmethod
    def _presence_stanza(frm: str, to: str, body: bytes, terminated: bool) -> Presence | None:
        if terminated:
            return Presence(frm, to, "unsubscribed")
        if not body:
            return Presence(frm, to, "unavailable")
        try:
            root = ET.fromstring(body)
        except ET.ParseError:
            return None
        if root.tag.rpartition("}")[2] != "presence":
            return None
        basic = _first(root, "basic")
        if basic is None:
            return None
        if (basic.text or "").strip().lower() == "closed":
            return Presence(frm, to, "unavailable")
        note_el = _first(root, "note")
        show = status = priority = None
        if note_el is not None:
            note = "".join(note_el.itertext())
            low = note.lower()
            if low in ("away", "on the phone"):
                show = "away"
            elif low == "busy":
                show = "xa"
            elif low in ("dnd", "do not disturb", "busy (dnd)"):
                show = "dnd"
            else:  # the status element is written only when the note maps to no show
                status = note
            contact = _first(root, "contact")
            if contact is not None:
                priority = contact.get("priority")
        return Presence(frm, to, None, show, status, priority)

    @staticmethod
    def _winfo_watchers(body: bytes) -> list[str] | None:
        try:
            root = ET.fromstring(body)
        except ET.ParseError:
            return None
        if root.tag.rpartition("}")[2] != "watcherinfo" and _first(root, "watcherinfo") is None:
            return None
        return ["".join(el.itertext()).strip() for el in root.iter() if el.tag.rpartition("}")[2] == "watcher"]

    # -- pua_xmpp_req_winfo() ------------------------------------------------------------------
    def pua_xmpp_req_winfo(self, uri: str, expires: str, now: int) -> int:
        """§9.6: SUBSCRIBE presence.winfo for ``uri``; expires is always −1 in effect (§10 B24)."""
        try:
            u = parse_uri(uri)
        except ValueError:
            return self._fail("bad owner SIP address!")
        if not u.user or not u.host:
            return self._fail("bad owner URI!")
        subs = SubsInfo(
            pres_uri=uri, watcher_uri=uri, contact=self.cfg.server_address, event=int(Event.PWINFO),
            source_flag=int(Source.XMPP_SUBSCRIBE), expires=-1,
        )
        if self.pua.send_subscribe(subs, now, process=self.process) < 0:
            return self._fail("while sending subscribe")
        return 1
