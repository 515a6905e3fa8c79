"""pua_reginfo: the reg event (RFC 3680) from usrloc and back (pua-reference §9.5, §11.2).

Publishing (§9.5.1, usrloc callbacks INSERT, EXPIRE, UPDATE, DELETE when
``publish_reginfo`` is 1): a full ``reginfo`` document of the contact's AOR
record -- every *valid* contact, the one that triggered the callback with
``state``/``event`` from the callback (created, refreshed, expired,
unregistered), the others ``active``/``registered``; ``expires`` = remaining
seconds (the stored ones: a de-registered contact keeps its old remaining
lifetime and CSeq, lab finding 8); the registration ``terminated`` when no
listed contact is active.  A contact whose expiry second has passed is not
valid, so the timer's EXPIRE callback of the last contact publishes
``<registration … state="terminated"/>`` without contacts (lab 04 #29).
PUBLISH id ``REGINFO_PUBLISH.<aor>@<domain>``, flag UPDATE_TYPE (pua falls
back to a new publication when it has none), expires **3600** in
``kamailio-5.6`` (Expires: 3601 on the wire, lab 04) and the largest remaining
contact lifetime (else 3600) in ``kamailio-master`` (§11.2).  The ``id``
attributes print usrloc's record and contact addresses; here they are stable
pointer-shaped numbers derived from usrloc's serials.

``reginfo_subscribe(uri[, expires])`` (§9.5.2): a SUBSCRIBE for ``reg`` to
``uri`` (R-URI and presentity), watcher and Contact = ``server_address``,
default expires 3600; always returns 1.

``reginfo_handle_notify(domain)`` (§9.5.3, 5.6.3 as the lab saw it, finding
7): for each ``registration`` with a state and an AOR the usrloc key is, with
``use_domain`` 0, the AOR text from the start of its user part to the end
(``alice@127.0.0.1``: a second AOR next to registrar's ``alice``); master
takes the user part only.  ``terminated`` deletes the record; ``active``
inserts or updates each contact with an event and expires >= 0 (user agent
``n/a``).  While it writes, the per-process "own operation" flag suppresses
publishing; on the path that finds a valid contact the flag is never
cleared (§10 B22), so that process publishes no more reg events (lab 06: no
PUBLISH for bob's REGISTER nor alice's re-REGISTER).  Returns 1 when a
contact is still valid, 2 when none is, −1 on errors (also for a terminated
registration unknown to usrloc).

``reginfo_disable_publish()`` (master only, §9.5.1): the next callback of
that process is not published, and the flag is consumed by it whenever it
comes.

Not modelled: ``unknown-param`` children of a NOTIFY's contacts beyond
appending them to the URI.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from lxml import etree

from puasim.bodies.errors import BodyError
from puasim.bodies.xml import parse_xml, serialise_formatted
from puasim.companions.usrloc import CompanionStartupError
from puasim.node.usrloc import Q_UNSPECIFIED, Contact, ContactInfo, Record, UlEvent, Usrloc
from puasim.pua.constants import UPDATE_TYPE, Event, Source
from puasim.pua.info import PublInfo, SubsInfo
from puasim.sip.message import Request
from puasim.sip.uri import parse_uri

if TYPE_CHECKING:
    from puasim.pua.model import Pua

NS = "urn:ietf:params:xml:ns:reginfo"
RESULT_ERROR, RESULT_CONTACTS_FOUND, RESULT_NO_CONTACTS = -1, 1, 2
#: event attribute -> what process_contact does (5.6.3 maps "refreshed" to created)
_EVENTS = {"created": "create", "refreshed": "create", "registered": "create",
           "expired": "other", "terminated": "other", "unregistered": "other"}


@dataclass(frozen=True, slots=True)
class PuaReginfoConfig:
    """pua_reginfo's parameters (§9.5)."""

    default_domain: str = ""
    outbound_proxy: str = ""
    server_address: str = ""
    publish_reginfo: int = 1

    @classmethod
    def from_params(cls, params: dict) -> PuaReginfoConfig:
        """As mod_init checks them: server_address always, default_domain when publishing."""
        known = {f.name for f in fields(cls)}
        for key, value in params.items():
            if key not in known:
                raise CompanionStartupError(f"pua_reginfo: unknown parameter {key!r} (known: {', '.join(sorted(known))})")
            want = int if key == "publish_reginfo" else str
            if isinstance(value, bool) or not isinstance(value, want):
                raise CompanionStartupError(f"pua_reginfo: {key} must be {'an integer' if want is int else 'a string'}")
        cfg = cls(**params)
        if cfg.publish_reginfo == 1 and not cfg.default_domain:
            raise CompanionStartupError("pua_reginfo: default domain parameter not set")
        if not cfg.server_address:
            raise CompanionStartupError("pua_reginfo: server_address parameter not set")
        return cfg


def pointer(kind: str, serial: int) -> str:
    """A stable stand-in for a ``%p`` address of usrloc's record or contact ``serial``."""
    base = 0x7F61EBEE0000 if kind == "record" else 0x7F61EBF00000
    return f"0x{base + serial * 0x118:x}"


class PuaReginfo:
    """The pua_reginfo module bound to one pua and one usrloc."""

    def __init__(self, pua: Pua, usrloc: Usrloc, cfg: PuaReginfoConfig) -> None:
        self.pua = pua
        self.usrloc = usrloc
        self.cfg = cfg
        #: the "own operation" flag of each process (§9.5.3)
        self.self_op: dict[str, bool] = {}
        #: reginfo_disable_publish()'s flag of each process (master, §9.5.1)
        self.disabled: dict[str, bool] = {}
        self.process = "worker"
        if cfg.publish_reginfo == 1:
            for event in (UlEvent.INSERT, UlEvent.EXPIRE, UlEvent.UPDATE, UlEvent.DELETE):
                usrloc.register_ulcb(event, self.usrloc_cb)

    # -- publishing ----------------------------------------------------------------------
    def pres_uri(self, aor: str) -> str:
        if "@" in aor:
            return f"sip:{aor}"
        return f"sip:{aor}@{self.cfg.default_domain}" if aor else f"sip:{self.cfg.default_domain}"

    def build_body(self, rec: Record, uri: str, c: Contact, event: UlEvent, now_s: int) -> bytes:
        """``build_reginfo_full``: the document as libxml2 formats it."""
        root = etree.Element(f"{{{NS}}}reginfo", nsmap={None: NS})
        root.set("version", "0")
        root.set("state", "full")
        reg = etree.SubElement(root, f"{{{NS}}}registration")
        reg.set("aor", uri)
        reg.set("id", pointer("record", rec.serial))
        active = False
        for ptr in rec.contacts:
            if not ptr.valid(now_s):
                continue
            node = etree.SubElement(reg, f"{{{NS}}}contact")
            node.set("id", pointer("contact", ptr.serial))
            if ptr is c:
                if event & (UlEvent.INSERT | UlEvent.UPDATE):
                    active = True
                    node.set("state", "active")
                else:
                    node.set("state", "terminated")
                names = ((UlEvent.INSERT, "created"), (UlEvent.UPDATE, "refreshed"),
                         (UlEvent.EXPIRE, "expired"), (UlEvent.DELETE, "unregistered"))
                node.set("event", next((n for flag, n in names if event & flag), "unknown"))
            else:
                active = True
                node.set("state", "active")
                node.set("event", "registered")
            node.set("expires", str(ptr.expires - now_s))
            if ptr.q != Q_UNSPECIFIED:
                node.set("q", f"{ptr.q / 1000:.3f}")
            node.set("callid", ptr.call_id)
            node.set("cseq", str(ptr.cseq))
            node.set("received", ptr.received)
            node.set("path", ptr.path)
            node.set("user_agent", ptr.user_agent)
            etree.SubElement(node, f"{{{NS}}}uri").text = ptr.uri
        reg.set("state", "active" if active else "terminated")
        return serialise_formatted(root)

    def usrloc_cb(self, c: Contact, event: UlEvent, now_us: int) -> None:
        if self.self_op.get(self.process):
            self.pua.log("debug", f"pua_reginfo: own operation, no publish for {c.aor} (type {int(event)})")
            return
        if self.disabled.get(self.process):
            self.disabled[self.process] = False
            self.pua.log("debug", f"pua_reginfo: not publishing due to reginfo_disable_publish for {c.aor}")
            return
        rec = self.usrloc.get_urecord(c.domain, c.aor)
        if rec is None:
            self.pua.log("error", f"pua_reginfo: '{c.aor} ({c.domain})' not found in usrloc")
            return
        now_s = self.pua.seconds(now_us)
        uri = self.pres_uri(rec.aor)
        if self.pua.cfg.is_master:  # §11.2: the largest remaining lifetime, else 3600
            remaining = [p.expires - now_s for p in rec.contacts if p.valid(now_s)]
            expires = max(remaining) if remaining and max(remaining) >= 0 else 3600
        else:
            expires = 3600
        publ = PublInfo(
            pres_uri=uri,
            event=int(Event.REGINFO),
            source_flag=int(Source.REGINFO_PUBLISH),
            expires=expires,
            body=self.build_body(rec, uri, c, event, now_s),
            content_type="application/reginfo+xml",
            id=f"REGINFO_PUBLISH.{c.aor}@{c.domain}",
            outbound_proxy=self.cfg.outbound_proxy,
            flag=UPDATE_TYPE,
        )
        if self.pua.send_publish(publ, now_us, process=self.process) < 0:
            self.pua.log("error", "pua_reginfo: error while sending publish")

    def reginfo_disable_publish(self) -> int:
        """master's ``reginfo_disable_publish()``: skip the next usrloc callback of this process."""
        self.disabled[self.process] = True
        return 1

    # -- reginfo_subscribe ---------------------------------------------------------------
    def reginfo_subscribe(self, uri: str, expires: int, now_us: int) -> int:
        """§9.5.2; the return value is always 1."""
        subs = SubsInfo(
            pres_uri=uri,
            watcher_uri=self.cfg.server_address,
            contact=self.cfg.server_address,
            event=int(Event.REGINFO),
            source_flag=int(Source.REGINFO_SUBSCRIBE),
            expires=expires,
            remote_target=uri,
            outbound_proxy=self.cfg.outbound_proxy,
            flag=UPDATE_TYPE,
        )
        if self.pua.send_subscribe(subs, now_us, process=self.process) < 0:
            self.pua.log("error", "pua_reginfo: error while sending subscribe")
        return 1

    # -- reginfo_handle_notify -----------------------------------------------------------
    def aor_key(self, aor: str) -> str:
        """The usrloc key a NOTIFY's AOR is stored under (§11.2)."""
        if self.usrloc.cfg.use_domain:
            return ""  # 5.6.3 and master both read an empty buffer here (§9.5.3)
        uri = parse_uri(aor)
        if self.pua.cfg.is_master:
            return uri.user or ""
        scheme_end = aor.index(":") + 1
        return aor[scheme_end:] if uri.user else ""

    def reginfo_handle_notify(self, request: Request, domain: str, now_us: int) -> int:
        """§9.5.3 for one NOTIFY; the script function's return value."""
        if not request.body:
            return 1
        try:
            root = parse_xml(request.body, what="reginfo")
        except BodyError as exc:
            self.pua.log("error", f"pua_reginfo: error while parsing the xml body: {exc}")
            return -1
        if etree.QName(root).localname.lower() != "reginfo":
            self.pua.log("error", "pua_reginfo: no reginfo element in the NOTIFY body")
            return -1
        final = RESULT_ERROR
        for reg in root:
            if not isinstance(reg.tag, str) or etree.QName(reg).localname.lower() != "registration":
                continue
            state = reg.get("state")
            aor = reg.get("aor")
            if state not in ("active", "terminated") or aor is None:
                continue
            try:
                key = self.aor_key(aor)
            except (ValueError, IndexError):
                continue
            rec = self.usrloc.get_urecord(domain, key)
            if state == "terminated":
                if rec is not None:
                    self.usrloc.delete_urecord(domain, key, now_us)
                    if final != RESULT_CONTACTS_FOUND:
                        final = RESULT_NO_CONTACTS
                continue
            cseq = 0
            for contact in reg:
                if not isinstance(contact.tag, str) or etree.QName(contact).localname.lower() != "contact":
                    continue
                callid = contact.get("callid") or contact.get("id") or ""
                kind = _EVENTS.get(contact.get("event") or "")
                expires_text = contact.get("expires")
                if kind is None or expires_text is None:
                    continue
                expires = _atoi(expires_text)
                if expires < 0:
                    continue
                if contact.get("cseq") is not None:
                    cseq = _atoi(contact.get("cseq") or "")
                params = ""
                for param in contact:
                    if isinstance(param.tag, str) and etree.QName(param).localname.lower() == "unknown-param":
                        value = param.text or ""
                        params += f";{param.get('name') or ''}" + (f"={value}" if value else "")
                for uri_node in contact:
                    if not isinstance(uri_node.tag, str) or etree.QName(uri_node).localname.lower() != "uri":
                        continue
                    result, rec = self._process_contact(domain, rec, key, callid, cseq, expires, kind,
                                                        (uri_node.text or "") + params, now_us)
                    if final != RESULT_CONTACTS_FOUND:
                        final = result
            if rec is not None:
                self.usrloc.release_urecord(rec)
        return final

    def _process_contact(
        self, domain: str, rec: Record | None, key: str, callid: str, cseq: int, expires: int, kind: str,
        uri: str, now_us: int,
    ) -> tuple[int, Record | None]:
        self.self_op[self.process] = True
        if rec is None:
            if kind != "create":
                self.self_op[self.process] = False
                return RESULT_NO_CONTACTS, rec
            rec = self.usrloc.insert_urecord(domain, key)
        now_s = self.pua.seconds(now_us)
        ci = ContactInfo(expires=now_s + expires, call_id=callid, cseq=cseq, user_agent="n/a")
        found = None
        if rec.contacts:
            rc, c = self.usrloc.get_ucontact(rec, uri, callid, cseq + 1, now_us)
            found = c if rc == 0 else None
        if found is None:
            self.usrloc.insert_ucontact(rec, uri, ci, now_us)
        else:
            self.usrloc.update_ucontact(rec, found, ci, now_us)
        if any(p.valid(now_s) for p in rec.contacts):
            return RESULT_CONTACTS_FOUND, rec  # the own-operation flag stays set (B22)
        self.self_op[self.process] = False
        return RESULT_NO_CONTACTS, rec


def _atoi(text: str) -> int:
    """C ``atoi``: leading digits with an optional sign, 0 when there are none."""
    text = text.strip()
    sign = -1 if text.startswith("-") else 1
    digits = ""
    for ch in text.lstrip("+-"):
        if not ch.isdigit():
            break
        digits += ch
    return sign * int(digits) if digits else 0
