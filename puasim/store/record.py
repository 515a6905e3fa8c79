"""The PUA record (Kamailio's ``ua_pres_t``; pua-reference §2.2).

A mutable, slotted object: records live in the store and change in place as
replies arrive, exactly as Kamailio's hash-table entries do.  The transient
copy attached to a transaction (the "hentity") is a separate
:class:`~puasim.pua.hentity.Hentity`, never the live record (Appendix C).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True, eq=False)
class PuaRecord:
    pres_uri: str
    id: str = ""
    event: int = 0
    flag: int = 0
    expires: int = 0
    desired_expires: int = 0
    etag: str = ""
    tuple_id: str = ""
    watcher_uri: str = ""
    call_id: str = ""
    to_tag: str = ""
    from_tag: str = ""
    cseq: int = 0
    record_route: str = ""
    contact: str = ""
    remote_contact: str = ""
    version: int = 0
    extra_headers: str = ""
    db_flag: int = 0
    #: row id in SQL (db_mode 2), 0 when not stored there
    row_id: int = 0

    @property
    def is_publication(self) -> bool:
        return not self.watcher_uri

    @property
    def is_temporary(self) -> bool:
        return bool(self.watcher_uri) and not self.to_tag

    @property
    def kind(self) -> str:
        if self.is_publication:
            return "publication"
        return "temporary" if self.is_temporary else "dialog"

    def copy(self) -> PuaRecord:
        return PuaRecord(**{name: getattr(self, name) for name in self.__dataclass_fields__})
