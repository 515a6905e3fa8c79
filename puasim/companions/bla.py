"""pua_bla: Bridged Line Appearance (draft-anil-sipping-bla-03) on the edge node (pua-reference §9.3, §11.2).

``bla_set_flag()`` (REGISTER route): sets the per-process "BLA AOR" flag
*before* it parses the From header, then remembers the From URI of the
request; returns 1, or −1 when From does not parse (the flag stays set).

usrloc callback (INSERT, EXPIRE, UPDATE, DELETE; mod_init's order), only while
the flag is set, which the callback clears: a SUBSCRIBE for ``dialog;sla``
*to the phone* — remote target = the contact's URI, presentity = the
remembered From URI, watcher = ``sip:<aor>`` (+ ``@default_domain`` when the
AOR has no ``@``), Contact = ``server_address``, expires 0 for EXPIRE/DELETE
else ``contact.expires − now``, outbound proxy = the module's ``outbound_proxy``
or else the contact's ``received``, INSERT_TYPE for INSERT else UPDATE_TYPE.
No post-script callback clears the flag, so a REGISTER that calls
``bla_set_flag()`` but fires no callback (a 423, say) leaves it set for the
next request of that process; Kamailio then reads the remembered From URI out
of a request buffer that is gone (§10 B25).  The model keeps the old URI's
text and says so in a warning note.  The timer process never sets the flag:
contact expiry sends no un-SUBSCRIBE.

``bla_handle_notify()`` (NOTIFY route), the steps of §9.3's table; every
failure returns 0, which ends the script (no reply, lab 14 #21-#24):

1. To with a tag, Call-ID, From with a tag;
2. ``is_dialog`` with watcher = To URI, presentity = From URI, from_tag =
   To-tag, to_tag = From-tag must find an established or temporary dialog;
3. ``Subscription-State``: ``terminated…`` → expires 0; ``active…`` or
   ``pending…`` → the text after the first ``;`` must start with ``expires=``
   and its digits are the expires (none → 0, beyond 2³²−1 → failure);
   anything else → 0;
4. a body (Content-Length > 0);
5. a Contact; the extra header ``<header_name>: <contact URI>\\r\\n``; in
   ``kamailio-master`` it must fit 255 bytes (7f4c4c5a66), in ``kamailio-5.6``
   a longer one overruns a static buffer: the model sends it and warns;
6. ``send_publish``: pres_uri = To URI, the NOTIFY's body, event ``dialog;sla``
   (pua rewrites the version, §3.4.2), source BLA_PUBLISH, no id and no
   content type — so every NOTIFY for an AOR updates one shared publication.

Only the 255-byte check differs between the profiles (§11.2).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from puasim.companions.usrloc import CompanionStartupError
from puasim.node.usrloc import Contact, UlEvent, Usrloc
from puasim.pua.constants import INSERT_TYPE, UPDATE_TYPE, Event, Source
from puasim.pua.info import PublInfo, SubsInfo
from puasim.sip import headers as H
from puasim.sip.errors import SipParseError
from puasim.sip.message import Request

if TYPE_CHECKING:
    from puasim.pua.model import Pua

#: size of notify.c's static buffer for the sender header
SENDER_BUFFER = 255
UINT_MAX = 2**32 - 1


@dataclass(frozen=True, slots=True)
class PuaBlaConfig:
    """pua_bla's parameters (§9.3): three mandatory strings and an optional outbound proxy."""

    server_address: str = ""
    default_domain: str = ""
    header_name: str = ""
    outbound_proxy: str = ""

    @classmethod
    def from_params(cls, params: dict) -> PuaBlaConfig:
        """As mod_init checks them, in its order, with its reasons."""
        known = {f.name for f in fields(cls)}
        for key, value in params.items():
            if key not in known:
                raise CompanionStartupError(f"pua_bla: unknown parameter {key!r} (known: {', '.join(sorted(known))})")
            if not isinstance(value, str):
                raise CompanionStartupError(f"pua_bla: {key} must be a string")
        cfg = cls(**params)
        if not cfg.server_address:
            raise CompanionStartupError("pua_bla: compulsory 'server_address' parameter not set!")
        if not cfg.default_domain:
            raise CompanionStartupError("pua_bla: default domain not found")
        if not cfg.header_name:
            raise CompanionStartupError("pua_bla: header_name parameter not set")
        return cfg


class PuaBla:
    """The pua_bla module bound to one pua and one usrloc."""

    def __init__(self, pua: Pua, usrloc: Usrloc, cfg: PuaBlaConfig) -> None:
        self.pua = pua
        self.usrloc = usrloc
        self.cfg = cfg
        self.process = "worker"
        #: the per-process "BLA AOR" flag
        self.flag: dict[str, bool] = {}
        #: the per-process remembered From URI, and the request it was taken from
        self.from_uri: dict[str, tuple[str, int]] = {}
        #: a serial number of the request the script runs for
        self.current = 0
        for event in (UlEvent.INSERT, UlEvent.EXPIRE, UlEvent.UPDATE, UlEvent.DELETE):
            usrloc.register_ulcb(event, self.bla_cb)

    def begin_request(self, request: Request) -> None:
        """The edge node starts the script for a new request (the remembered URI's lifetime)."""
        self.current += 1

    # -- bla_set_flag ------------------------------------------------------------------
    def bla_set_flag(self, request: Request) -> int:
        """§9.3 ``bla_set_flag()``: 1, or −1 when From does not parse (the flag is set anyway)."""
        self.flag[self.process] = True
        try:
            f = H.from_(request)
        except SipParseError:
            f = None
        if f is None:
            self.pua.log("debug", "pua_bla: cannot parse From header")
            return -1
        self.from_uri[self.process] = (f.uri, self.current)
        return 1

    # -- the usrloc callback -----------------------------------------------------------
    def bla_cb(self, c: Contact, event: UlEvent, now_us: int) -> None:
        if not self.flag.get(self.process):
            self.pua.log("debug", "pua_bla: Not a recognized BLA AOR")
            return
        self.flag[self.process] = False
        pres_uri, taken_from = self.from_uri.get(self.process, ("", 0))
        if taken_from != self.current:
            self.pua.log("warning", f"pua_bla: the remembered From URI {pres_uri!r} belongs to an earlier request"
                         " (Kamailio reads a freed buffer here, B25)")
        domain_part = "" if "@" in c.aor else f"@{self.cfg.default_domain}"
        subs = SubsInfo(
            pres_uri=pres_uri,
            watcher_uri=f"sip:{c.aor}{domain_part}",
            contact=self.cfg.server_address,
            event=int(Event.BLA),
            source_flag=int(Source.BLA_SUBSCRIBE),
            expires=0 if event & (UlEvent.EXPIRE | UlEvent.DELETE) else c.expires - self.pua.seconds(now_us),
            remote_target=c.uri,
            outbound_proxy=self.cfg.outbound_proxy or c.received,
            flag=INSERT_TYPE if event & UlEvent.INSERT else UPDATE_TYPE,
        )
        if self.pua.send_subscribe(subs, now_us, process=self.process) < 0:
            self.pua.log("error", "pua_bla: while sending subscribe")

    # -- bla_handle_notify -------------------------------------------------------------
    def _fail(self, text: str) -> int:
        self.pua.log("error", f"pua_bla: {text}")
        return 0

    def bla_handle_notify(self, request: Request, now_us: int) -> int:
        """§9.3's table for one NOTIFY; 1 on success, 0 on any failure."""
        # step 1: To (with tag), Call-ID, From (with tag)
        try:
            to = H.to(request)
        except SipParseError:
            to = None
        if to is None or not to.uri:
            return self._fail("cannot parse TO header")
        if not to.tag:
            return self._fail("NULL to_tag value")
        call_id = request.get("call-id")
        if not call_id:
            return self._fail("cannot parse callid header")
        try:
            frm = H.from_(request)
        except SipParseError:
            frm = None
        if frm is None:
            return self._fail("cannot parse From header")
        if not frm.tag:
            return self._fail("no from tag value present")
        # step 2: the dialog of one of our BLA SUBSCRIBEs
        known = self.pua.is_dialog(pres_uri=frm.uri, watcher_uri=to.uri, call_id=call_id.strip(), to_tag=frm.tag,
                                   from_tag=to.tag, flag=int(Source.BLA_SUBSCRIBE))
        if known < 0:
            return self._fail("Notify in a non existing dialog")
        # step 3: Subscription-State and its expires
        state = next((v for n, v in request.headers if n.lower() == "subscription-state"), None)
        if state is None:
            return self._fail("No Subscription-State header found")
        state = state.lstrip(" \t")
        expires = 0
        if state.startswith(("active", "pending")):
            _, sep, rest = state.partition(";")
            if not sep or not rest.startswith("expires="):
                return self._fail("No expires found in Notify")
            digits = ""
            for ch in rest[len("expires="):]:
                if not ch.isdigit():
                    break
                digits += ch
            value = int(digits) if digits else 0
            if value > UINT_MAX:
                return self._fail("while parsing int")
            expires = value - 2**32 if value >= 2**31 else value  # unsigned into publ_info's int
        # step 4: a body
        if not request.body:
            return self._fail("content length= 0")
        # step 5: Contact, the sender header
        try:
            contacts = H.contact_list(request)
        except SipParseError:
            return self._fail("cannot parse contact header")
        if not contacts or contacts[0].is_wildcard:
            return self._fail("no contact header found")
        extra = f"{self.cfg.header_name}: {contacts[0].uri}\r\n"
        if len(extra) > SENDER_BUFFER:
            if self.pua.cfg.is_master:
                return self._fail("extra headers too long")
            self.pua.log("warning", f"pua_bla: the {len(extra)}-byte sender header overruns its"
                         f" {SENDER_BUFFER}-byte buffer (5.6.3 does not check; master refuses)")
        # step 6: the shared publication of the AOR
        publ = PublInfo(
            pres_uri=to.uri,
            event=int(Event.BLA),
            source_flag=int(Source.BLA_PUBLISH),
            expires=expires,
            body=request.body,
            extra_headers=extra,
        )
        if self.pua.send_publish(publ, now_us, process=self.process) < 0:
            return self._fail("while sending Publish")
        return 1
