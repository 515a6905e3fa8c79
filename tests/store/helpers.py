"""Records and a stand-in for the PUA's outbox, shared by the store tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from puasim.store.record import PuaRecord
from puasim.trace.events import Note, StoreWrite

NOW = 1_700_000_000
ALICE = "sip:alice@127.0.0.1"
CAROL = "sip:carol@127.0.0.1"
BOB = "sip:bob@127.0.0.1:5070"
INSERTDB, NO_UPDATEDB, UPDATEDB = 4, 1, 2


@dataclass
class Sink:
    events: list[Any] = field(default_factory=list)

    def emit(self, event: Any) -> None:
        self.events.append(event)

    def writes(self, op: str | None = None) -> list[StoreWrite]:
        return [e for e in self.events if isinstance(e, StoreWrite) and (op is None or e.op == op)]

    def notes(self, level: str | None = None) -> list[Note]:
        return [e for e in self.events if isinstance(e, Note) and (level is None or e.level == level)]


@dataclass
class FakePua:
    """Just what the store uses of a Pua: ``outbox.emit``."""

    outbox: Sink = field(default_factory=Sink)


def publication(uri: str = ALICE, *, id: str = "", etag: str = "e1", expires: int = NOW + 3600, **kw: Any) -> PuaRecord:
    kw.setdefault("event", 1)
    kw.setdefault("flag", 128)
    kw.setdefault("tuple_id", "t-" + uri.split(":")[1].split("@")[0])
    kw.setdefault("desired_expires", expires)
    return PuaRecord(pres_uri=uri, id=id, etag=etag, expires=expires, **kw)


def dialog(uri: str = ALICE, *, call_id: str = "c1", to_tag: str = "srv1", expires: int = NOW + 600, **kw: Any) -> PuaRecord:
    kw.setdefault("event", 1)
    kw.setdefault("flag", 256)
    kw.setdefault("watcher_uri", BOB)
    kw.setdefault("from_tag", "f-" + call_id)
    kw.setdefault("cseq", 10)
    kw.setdefault("desired_expires", expires)
    if to_tag:
        kw.setdefault("contact", BOB)
        kw.setdefault("remote_contact", "sip:presence@127.0.0.1:5060")
    return PuaRecord(pres_uri=uri, call_id=call_id, to_tag=to_tag, expires=expires, **kw)


def fields(rec: PuaRecord, *skip: str) -> dict[str, Any]:
    names = [n for n in rec.__dataclass_fields__ if n not in ("row_id", "db_flag", *skip)]
    return {n: getattr(rec, n) for n in names}


def rows(db, cols: str = "*") -> list[tuple]:
    return db.query(f"SELECT {cols} FROM pua ORDER BY id")
