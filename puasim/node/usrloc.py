"""Kamailio's usrloc module (5.6.3) in memory (``db_mode`` 0), sans-IO.

Contacts are kept per domain (``location``) and AOR, in the order usrloc keeps
them: sorted by ``q`` (higher first), a new contact going after the ones with
the same ``q``.  The contact callbacks fire exactly where usrloc 5.6.3 fires
them (pua-reference §9, usrloc ``urecord.c``/``ucontact.c``):

==========  ===============================================================
INSERT      after the contact is in memory (``insert_ucontact``)
UPDATE      after the contact's fields changed, before it is repositioned
DELETE      before the contact is removed (``delete_ucontact``; also once
            per contact of ``delete_urecord``, in list order)
EXPIRE      from the timer, once per contact that is no longer valid
            (``expires <= now`` and not permanent), before it is removed
==========  ===============================================================

Callbacks are kept newest first, as ``register_ulcb`` prepends them, so the
module registered last runs first.  The timer (``timer_interval``, default
60 s, first run one interval after start) walks every record; a record left
without contacts is dropped.  At shutdown nothing is fired: the in-memory
state is simply lost (db_mode 0).

Not modelled: db_mode 1-3 (write-through, write-back, DB only) and the
``location`` table, ``matching_mode`` other than contact-only, ``desc_time_order``,
TCP connection handling, keepalives, ``ruid`` look-ups, ``timer_procs``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field

from puasim.effects import SECOND
from puasim.trace.events import ContactChanged

#: ``q`` not given (Kamailio's Q_UNSPECIFIED)
Q_UNSPECIFIED = -1


class UlEvent(enum.IntFlag):
    """usrloc callback types (``ul_callback.h``)."""

    INSERT = 1
    UPDATE = 2
    DELETE = 4
    EXPIRE = 8


class UsrlocError(ValueError):
    """A usrloc parameter was refused at start-up."""


@dataclass(frozen=True, slots=True)
class UsrlocConfig:
    """The usrloc parameters this model honours (defaults of 5.6.3)."""

    timer_interval: int = 60
    use_domain: int = 0
    cseq_delay: int = 20
    db_mode: int = 0

    @classmethod
    def from_params(cls, params: dict) -> UsrlocConfig:
        known = {"timer_interval", "use_domain", "cseq_delay", "db_mode"}
        for key, value in params.items():
            if key not in known:
                raise UsrlocError(f"unknown usrloc parameter {key!r} (modelled: {', '.join(sorted(known))})")
            if isinstance(value, bool) or not isinstance(value, int):
                raise UsrlocError(f"usrloc parameter {key!r} must be an integer, got {value!r}")
        cfg = cls(**params)
        if cfg.db_mode != 0:
            raise UsrlocError(f"usrloc db_mode {cfg.db_mode} is not modelled (only 0, memory only)")
        if cfg.timer_interval < 0:
            raise UsrlocError("usrloc timer_interval must be >= 0")
        return cfg


@dataclass(frozen=True, slots=True)
class ContactInfo:
    """What registrar hands usrloc for one contact (``ucontact_info_t``)."""

    expires: int
    call_id: str
    cseq: int
    q: int = Q_UNSPECIFIED
    cflags: int = 0
    received: str = ""
    path: str = ""
    user_agent: str = ""
    instance: str = ""
    reg_id: int = 0


@dataclass(slots=True)
class Contact:
    """One ``ucontact_t``: ``expires`` is an absolute epoch second, 0 = permanent."""

    domain: str
    aor: str
    uri: str
    expires: int
    call_id: str
    cseq: int
    q: int = Q_UNSPECIFIED
    cflags: int = 0
    received: str = ""
    path: str = ""
    user_agent: str = ""
    instance: str = ""
    reg_id: int = 0
    last_modified: int = 0
    expire_callback_done: bool = False
    #: a stable number per contact, standing in for the pointer values that
    #: pua_reginfo prints as ids
    serial: int = 0

    def valid(self, now_s: int) -> bool:
        """``VALID_CONTACT``: in the future, or permanent."""
        return self.expires > now_s or self.expires == 0

    def remaining(self, now_s: int) -> int:
        return self.expires - now_s


UlCallback = Callable[[Contact, UlEvent, int], None]


@dataclass(slots=True)
class Record:
    """One ``urecord_t``: an AOR and its contacts in usrloc's order."""

    domain: str
    aor: str
    contacts: list[Contact] = field(default_factory=list)
    #: a number per record life, standing in for its pointer value
    serial: int = 0


class Usrloc:
    """The usrloc module: domains of records, callbacks and the expiry timer."""

    def __init__(self, cfg: UsrlocConfig | None = None, *, epoch: int = 1_700_000_000, emit: Callable | None = None) -> None:
        self.cfg = cfg or UsrlocConfig()
        self.epoch = epoch
        self.emit = emit
        self.domains: dict[str, dict[str, Record]] = {}
        self.callbacks: list[tuple[int, UlCallback]] = []
        self.destroying = False
        self._serial = 0

    # -- set-up ------------------------------------------------------------------------
    def seconds(self, now_us: int) -> int:
        return self.epoch + now_us // SECOND

    def register_domain(self, name: str) -> dict[str, Record]:
        """``register_udomain`` (what ``save("location")`` names at fixup time)."""
        return self.domains.setdefault(name, {})

    def register_ulcb(self, types: int, fn: UlCallback) -> None:
        """Prepend a callback: the one registered last runs first (``ul_callback.c``)."""
        self.callbacks.insert(0, (int(types), fn))

    def timer_key(self) -> tuple[str, str]:
        return ("usrloc", "timer")

    # -- look-ups ----------------------------------------------------------------------
    def get_urecord(self, domain: str, aor: str) -> Record | None:
        return self.domains.get(domain, {}).get(aor)

    def get_ucontact(self, rec: Record, uri: str, call_id: str, cseq: int, now_us: int) -> tuple[int, Contact | None]:
        """``get_ucontact`` with matching_mode 0 (contact only).

        Returns (0, contact) found, (1, None) not found, (-1, contact) CSeq too
        low (or equal, outside cseq_delay), (-2, contact) a retransmission
        (same Call-ID and CSeq within ``cseq_delay`` of the last change).
        """
        found = next((c for c in rec.contacts if c.uri == uri), None)
        if found is None:
            return 1, None
        if found.call_id == call_id:
            if cseq < found.cseq:
                return -1, found
            if cseq == found.cseq:
                now_s = self.seconds(now_us)
                return (-2 if found.last_modified + self.cfg.cseq_delay > now_s else -1), found
        return 0, found

    def records(self, domain: str | None = None) -> list[Record]:
        names = [domain] if domain is not None else list(self.domains)
        return [r for d in names for r in self.domains.get(d, {}).values()]

    # -- changes (each fires its callback where usrloc does) ---------------------------
    def insert_urecord(self, domain: str, aor: str) -> Record:
        table = self.register_domain(domain)
        rec = table.get(aor)
        if rec is None:
            self._serial += 1
            rec = table[aor] = Record(domain, aor, serial=self._serial)
        return rec

    def insert_ucontact(self, rec: Record, uri: str, ci: ContactInfo, now_us: int) -> Contact:
        """``insert_ucontact``: into memory (sorted by q), then the INSERT callback."""
        self._serial += 1
        c = Contact(
            rec.domain, rec.aor, uri, ci.expires, ci.call_id, ci.cseq, ci.q, ci.cflags, ci.received, ci.path,
            ci.user_agent, ci.instance, ci.reg_id, last_modified=self.seconds(now_us), serial=self._serial,
        )
        pos = len(rec.contacts)
        for i, other in enumerate(rec.contacts):
            if other.q < c.q:
                pos = i
                break
        rec.contacts.insert(pos, c)
        self._run(UlEvent.INSERT, c, now_us)
        return c

    def update_ucontact(self, rec: Record, c: Contact, ci: ContactInfo, now_us: int) -> None:
        """``update_ucontact``: fields first, then the UPDATE callback, then reposition by q."""
        old_q = c.q
        c.expires, c.call_id, c.cseq, c.q, c.cflags = ci.expires, ci.call_id, ci.cseq, ci.q, ci.cflags
        c.received, c.path, c.user_agent = ci.received, ci.path, ci.user_agent
        if ci.instance:
            c.instance, c.reg_id = ci.instance, ci.reg_id
        c.expire_callback_done = False
        c.last_modified = self.seconds(now_us)
        self._run(UlEvent.UPDATE, c, now_us)
        if c.q != old_q and c in rec.contacts:
            rec.contacts.remove(c)
            pos = next((i for i, o in enumerate(rec.contacts) if o.q < c.q), len(rec.contacts))
            rec.contacts.insert(pos, c)

    def delete_ucontact(self, rec: Record, c: Contact, now_us: int) -> None:
        """``delete_ucontact``: the DELETE callback, then out of memory (the record stays
        until :meth:`release_urecord`)."""
        self._run(UlEvent.DELETE, c, now_us)
        if c in rec.contacts:
            rec.contacts.remove(c)

    def delete_urecord(self, domain: str, aor: str, now_us: int) -> None:
        """``delete_urecord``: every contact through ``delete_ucontact``, in list order."""
        rec = self.get_urecord(domain, aor)
        if rec is None:
            return
        for c in list(rec.contacts):
            self._run(UlEvent.DELETE, c, now_us)
            rec.contacts.remove(c)
        self.release_urecord(rec)

    def release_urecord(self, rec: Record) -> None:
        """A record without contacts leaves memory (``release_urecord``)."""
        if not rec.contacts:
            self.domains.get(rec.domain, {}).pop(rec.aor, None)

    # -- timer -------------------------------------------------------------------------
    def timer(self, now_us: int) -> None:
        """``ul_core_timer`` → ``nodb_timer`` of every record: EXPIRE callbacks, removal."""
        now_s = self.seconds(now_us)
        for table in list(self.domains.values()):
            for rec in list(table.values()):
                for c in list(rec.contacts):
                    if c.valid(now_s):
                        continue
                    if not c.expire_callback_done:
                        self._run(UlEvent.EXPIRE, c, now_us)
                        c.expire_callback_done = True
                    rec.contacts.remove(c)
                self.release_urecord(rec)

    def shutdown(self) -> None:
        """Module destroy in db_mode 0: memory is freed, no callback fires."""
        self.destroying = True
        self.domains.clear()

    # -- callbacks ---------------------------------------------------------------------
    def _run(self, event: UlEvent, c: Contact, now_us: int) -> None:
        if self.emit is not None:
            self.emit(ContactChanged(str(event.name).lower(), c.domain, c.aor, c.uri, c.call_id, c.cseq, c.expires, c.cflags))
        for types, fn in list(self.callbacks):
            if types & event:
                fn(c, event, now_us)
