"""pua_usrloc: usrloc contact callbacks turned into presence PUBLISHes (pua-reference §9.2).

:class:`PuaUsrloc` registers one callback for INSERT, EXPIRE, UPDATE and
DELETE (mod_init's order) on a :class:`~puasim.node.usrloc.Usrloc` and calls
pua's ``send_publish`` from it.  The gate (§9.2):

* flag mode (``branch_flag`` −1): only while ``pua_set_publish()`` has set the
  per-process flag; the flag is cleared after the first contact callback that
  passes the gate (so a REGISTER touching two contacts publishes once, lab 01
  #16) and by the post-script callback after every request;
* branch-flag mode: every contact whose cflags carry the bit is published,
  timer EXPIRE callbacks included (lab 03 #20/#21, #33).

PUBLISH fields: pres_uri ``sip:<aor>`` (+ ``@default_domain`` when the AOR has
no ``@``), id ``UL_PUBLISH.<contact Call-ID>``, ``application/pidf+xml``,
expires 0 for EXPIRE/DELETE else ``contact.expires − now``, flag INSERT_TYPE
for INSERT else UPDATE_TYPE; a PIDF body for INSERT only (entity without a
scheme, ``entity_prefix:`` in front when set; a tuple without id, so pua adds
one, §3.4.1).  An expired or permanent contact makes no body, so nothing is
sent.  An UPDATE that pua refuses with −10 (no record, no body) is re-run as
INSERT: a new initial PUBLISH (lab 01 #10, README finding 4).

Profiles (§11.2): the only difference is the level of the "should not send"
log lines (INFO in 5.6.3, DEBUG in master), kept in the trace's Note level.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from puasim.node.usrloc import Contact, UlEvent, Usrloc
from puasim.pua.constants import ERR_PUBLISH_NO_BODY, INSERT_TYPE, UPDATE_TYPE, Event, Source
from puasim.pua.info import PublInfo

if TYPE_CHECKING:
    from puasim.pua.model import Pua


class CompanionStartupError(ValueError):
    """A companion's mod_init refused to start; the text is Kamailio's reason."""


@dataclass(frozen=True, slots=True)
class PuaUsrlocConfig:
    """pua_usrloc's parameters (§9.2)."""

    default_domain: str = ""
    entity_prefix: str = ""
    branch_flag: int = -1

    @classmethod
    def from_params(cls, params: dict) -> PuaUsrlocConfig:
        """Parameters as mod_init checks them: ``default_domain`` is mandatory."""
        known = {f.name for f in fields(cls)}
        for key in params:
            if key not in known:
                raise CompanionStartupError(f"pua_usrloc: unknown parameter {key!r} (known: {', '.join(sorted(known))})")
        branch_flag = params.get("branch_flag", -1)
        if isinstance(branch_flag, bool) or not isinstance(branch_flag, int) or not -1 <= branch_flag <= 31:
            raise CompanionStartupError(f"pua_usrloc: branch_flag must be -1 or a flag number 0..31, got {branch_flag!r}")
        for key in ("default_domain", "entity_prefix"):
            if key in params and not isinstance(params[key], str):
                raise CompanionStartupError(f"pua_usrloc: {key} must be a string")
        cfg = cls(str(params.get("default_domain", "")), str(params.get("entity_prefix", "")), branch_flag)
        if not cfg.default_domain:
            raise CompanionStartupError("pua_usrloc: default domain parameter not set")
        return cfg


def build_pidf(entity: str) -> bytes:
    """The PIDF of ``build_pidf`` as libxml2 serialises it formatted (§9.2)."""
    return (
        '<?xml version="1.0"?>\n'
        '<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model"'
        ' xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" xmlns:c="urn:ietf:params:xml:ns:pidf:cipid"'
        f' entity="{entity}">\n'
        "  <tuple>\n    <status>\n      <basic>open</basic>\n    </status>\n  </tuple>\n</presence>\n"
    ).encode()


class PuaUsrloc:
    """The pua_usrloc module bound to one pua and one usrloc."""

    def __init__(self, pua: Pua, usrloc: Usrloc, cfg: PuaUsrlocConfig) -> None:
        self.pua = pua
        self.usrloc = usrloc
        self.cfg = cfg
        self.bmask = 1 << cfg.branch_flag if cfg.branch_flag >= 0 else 0
        #: the per-process "publish next" flag of pua_set_publish()
        self.publish_flag = False
        #: the process the callbacks run in ("worker" for requests, "timer" for usrloc's timer)
        self.process = "worker"
        for event in (UlEvent.INSERT, UlEvent.EXPIRE, UlEvent.UPDATE, UlEvent.DELETE):
            usrloc.register_ulcb(event, self.ul_publish)

    # -- script functions ----------------------------------------------------------------
    def pua_set_publish(self) -> tuple[int, int]:
        """``pua_set_publish()``: returns (script return value, branch flags to set on branch 0)."""
        self.publish_flag = True
        return 1, self.bmask

    def post_script(self) -> None:
        """The POST_SCRIPT request callback ``pua_unset_publish``."""
        self.publish_flag = False

    # -- the usrloc callback -------------------------------------------------------------
    def _log_skip(self, text: str) -> None:
        self.pua.log("debug" if self.pua.cfg.is_master else "info", f"pua_usrloc: {text}")

    def ul_publish(self, c: Contact, event: UlEvent, now_us: int) -> None:
        if self.usrloc.destroying:
            return
        if not self.publish_flag and not self.bmask:
            self._log_skip("should not send ul publish")
            return
        if self.bmask and not c.cflags & self.bmask:
            self._log_skip("not marked for publish")
            return
        try:
            self._publish(c, event, now_us)
        finally:
            self.publish_flag = False

    def _publish(self, c: Contact, event: UlEvent, now_us: int) -> None:
        now_s = self.pua.seconds(now_us)
        domain_part = "" if "@" in c.aor else f"@{self.cfg.default_domain}"
        body = None
        if event & UlEvent.INSERT:
            if c.expires < now_s:  # expired, or permanent (expires 0): no body, nothing sent
                self.pua.log("error", f"pua_usrloc: no PIDF for contact {c.uri} (expires {c.expires})")
                return
            prefix = f"{self.cfg.entity_prefix}:" if self.cfg.entity_prefix else ""
            body = build_pidf(f"{prefix}{c.aor}{domain_part}")
        publ = PublInfo(
            pres_uri=f"sip:{c.aor}{domain_part}",
            event=int(Event.PRESENCE),
            source_flag=int(Source.UL_PUBLISH),
            expires=0 if event & (UlEvent.EXPIRE | UlEvent.DELETE) else c.expires - now_s,
            body=body,
            content_type="application/pidf+xml",
            id=f"UL_PUBLISH.{c.call_id}",
            flag=INSERT_TYPE if event & UlEvent.INSERT else UPDATE_TYPE,
        )
        rc = self.pua.send_publish(publ, now_us, process=self.process)
        if rc < 0 and event & UlEvent.UPDATE and rc == ERR_PUBLISH_NO_BODY:
            self.pua.log("error", "pua_usrloc: UPDATE action generated a PUBLISH without body -> invoking INSERT action")
            self._publish(c, UlEvent.INSERT, now_us)
