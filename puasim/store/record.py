"""The PUA record (Kamailio's ``ua_pres_t``; pua-reference §2.2).

A mutable, slotted object: records live in the store and change in place as
replies arrive, exactly as Kamailio's hash-table entries do.  The transient
copy attached to a transaction (the "hentity") is a separate
:class:`~puasim.pua.hentity.Hentity`, never the live record (Appendix C).

A record stored in a :class:`~puasim.store.hashtable.HashTable` tells it
when its ``expires`` or ``db_flag`` changes, so that the table can hand the
sweep the records due and the DB sync the records to write without reading
every record (:mod:`puasim.store.expiry`).  The link is not a field: it is
not copied, compared, written to SQL or pickled.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

#: ``db_flag`` of a record the DB sync has nothing to write for (§5.5)
NO_UPDATEDB = 1


class _Stored:
    """The table a record is stored in, and its place there (see :mod:`puasim.store.expiry`)."""

    __slots__ = ("_table", "_pos", "_mark")
    #: the HashTable storing the record (None: not stored)
    _table: Any
    #: its place in sweep order there, and the mark of its current ExpiryIndex entry
    _pos: int
    _mark: int

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        rec = object.__new__(cls)
        rec._table = None
        return rec


@dataclass(slots=True, eq=False)
class PuaRecord(_Stored):
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

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        """Pickled and copied as its fields only, without the link to its table."""
        return (PuaRecord, tuple(getattr(self, f.name) for f in fields(self)))


def _watched(name: str) -> property:
    """``name`` as a property over its slot that tells the record's table of every change."""
    slot = PuaRecord.__dict__[name]
    notify = f"{name}_changed"

    def set_value(rec: PuaRecord, value: int) -> None:
        slot.__set__(rec, value)
        table = rec._table
        if table is not None:
            getattr(table, notify)(rec)

    return property(slot.__get__, set_value, doc=f"``{name}`` (the table storing the record is told of changes)")


for _name in ("expires", "db_flag"):
    setattr(PuaRecord, _name, _watched(_name))
