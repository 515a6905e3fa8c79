"""Records ↔ rows of the ``pua`` table (pua-reference §2.2 persisted columns, §8).

Three readers of a row exist in Kamailio and they differ:

* db_mode 2 (``extract_row``, §2.6) takes every column as it is;
* the db_mode 0 start-up restore (``db_restore``, §5.6) drops the version of
  publications, reads record_route only when non-empty, and crashes on a NULL
  tuple_id next to a non-NULL etag (B13);

and three writers: the DB sync's INSERT (§5.5), and the db_mode 2 inserts of a
publication and of a temporary dialog (§2.6).  Their NULL/'' choices follow
the driver quirks (:class:`~puasim.store.database.DriverQuirks`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from puasim.store.database import DriverQuirks
from puasim.store.errors import KamailioCrash
from puasim.store.record import PuaRecord
from puasim.store.schema import COLUMN_NAMES, DATA_COLUMNS

ALL_COLUMNS = ", ".join(COLUMN_NAMES)
INSERT_COLUMNS = ", ".join(DATA_COLUMNS)
INSERT_MARKS = ", ".join("?" for _ in DATA_COLUMNS)


def select_all(table: str) -> str:
    """``SELECT`` of every column in table order (rows are read positionally, §2.6)."""
    return f"SELECT {ALL_COLUMNS} FROM {table}"


def insert_sql(table: str) -> str:
    return f"INSERT INTO {table} ({INSERT_COLUMNS}) VALUES ({INSERT_MARKS})"


def _s(value: Any) -> str:
    return "" if value is None else str(value)


def _i(value: Any) -> int:
    return 0 if value is None else int(value)


def record_from_row(row: Sequence[Any]) -> PuaRecord:
    """db_mode 2 ``extract_row``: every column, NULL read as ''."""
    return PuaRecord(
        row_id=_i(row[0]),
        pres_uri=_s(row[1]),
        id=_s(row[2]),
        event=_i(row[3]),
        expires=_i(row[4]),
        desired_expires=_i(row[5]),
        flag=_i(row[6]),
        etag=_s(row[7]),
        tuple_id=_s(row[8]),
        watcher_uri=_s(row[9]),
        call_id=_s(row[10]),
        to_tag=_s(row[11]),
        from_tag=_s(row[12]),
        cseq=_i(row[13]),
        record_route=_s(row[14]),
        contact=_s(row[15]),
        remote_contact=_s(row[16]),
        version=_i(row[17]),
        extra_headers=_s(row[18]),
    )


def restore_record(row: Sequence[Any], db_flag: int, repaired: bool = False) -> PuaRecord:
    """§5.6 step 2: one row of the start-up SELECT as the hash-table record.

    Quirks (B13): publication rows restart at version 0 (only dialog rows
    restore ``version``); a NULL tuple_id next to a non-NULL etag crashes
    Kamailio (:class:`KamailioCrash`); expired rows are restored like any other.
    ``repaired`` (repair B13): every row keeps its version and a NULL
    tuple_id reads as empty (the caller skips expired rows).
    """
    etag, tuple_id = row[7], row[8]
    if etag is not None and tuple_id is None and not repaired:
        raise KamailioCrash(
            f"db_restore: row id {row[0]} ({row[1]}) has a NULL tuple_id next to etag {etag!r}: "
            "Kamailio dereferences it and crashes at start-up (pua-reference §5.6, B13)"
        )
    rec = PuaRecord(
        row_id=0,
        pres_uri=_s(row[1]),
        id=_s(row[2]),
        event=_i(row[3]),
        expires=_i(row[4]),
        desired_expires=_i(row[5]),
        flag=_i(row[6]),
        etag=_s(etag),
        tuple_id=_s(tuple_id) if etag is not None else "",
        extra_headers=_s(row[18]),
        version=_i(row[17]) if repaired else 0,
        db_flag=db_flag,
    )
    if _s(row[9]):  # dialog fields only when watcher_uri is non-empty
        rec.watcher_uri = _s(row[9])
        rec.call_id = _s(row[10])
        rec.to_tag = _s(row[11])
        rec.from_tag = _s(row[12])
        rec.cseq = _i(row[13])
        rec.record_route = _s(row[14])
        rec.contact = _s(row[15])
        rec.remote_contact = _s(row[16])
        rec.version = _i(row[17])
    return rec


def _null_if(quirks: DriverQuirks, value: str, absent: bool) -> str | None:
    return None if (quirks.null_absent and absent) else value


def sync_pres_id(rec: PuaRecord, quirks: DriverQuirks) -> str | None:
    """The ``pres_id`` the DB sync binds for ``rec`` (see :func:`sync_insert_values`)."""
    return _null_if(quirks, rec.id, bool(rec.watcher_uri) and bool(rec.to_tag) and not rec.id)


def sync_insert_values(rec: PuaRecord, quirks: DriverQuirks) -> tuple:
    """§5.5 INSERTDB: all 18 data columns, absent strings as ''.

    With ``null_absent`` (db_sqlite 5.6) an established dialog without an id
    binds pres_id NULL: pua copies the caller's id into the dialog record only
    when one was given, and the sync passes that pointer unchanged (lab finding
    h: "NOT NULL constraint failed: pua.pres_id" for pua.subscribe dialogs).
    """
    return (
        rec.pres_uri,
        sync_pres_id(rec, quirks),
        rec.event,
        rec.expires,
        rec.desired_expires,
        rec.flag,
        rec.etag,
        rec.tuple_id,
        rec.watcher_uri,
        rec.call_id,
        rec.to_tag,
        rec.from_tag,
        rec.cseq,
        rec.record_route,
        rec.contact,
        rec.remote_contact,
        rec.version,
        rec.extra_headers,
    )


def publication_insert_values(rec: PuaRecord, quirks: DriverQuirks) -> tuple:
    """§2.6 insert publication: dialog columns '' and cseq 0; tuple_id NULL when absent (db_sqlite)."""
    return (
        rec.pres_uri,
        rec.id,
        rec.event,
        rec.expires,
        rec.desired_expires,
        rec.flag,
        rec.etag,
        _null_if(quirks, rec.tuple_id, not rec.tuple_id),
        "",
        "",
        "",
        "",
        0,
        "",
        "",
        "",
        rec.version,
        rec.extra_headers,
    )


def dialog_insert_values(rec: PuaRecord, quirks: DriverQuirks) -> tuple:
    """§2.6 insert temporary dialog: etag/tuple_id ''; with db_sqlite the empty
    to_tag, route and contacts of a temporary dialog are NULL pointers (lab
    finding h: "NOT NULL constraint failed: pua.to_tag")."""
    return (
        rec.pres_uri,
        rec.id,
        rec.event,
        rec.expires,
        rec.desired_expires,
        rec.flag,
        "",
        "",
        rec.watcher_uri,
        rec.call_id,
        _null_if(quirks, rec.to_tag, not rec.to_tag),
        rec.from_tag,
        rec.cseq,
        _null_if(quirks, rec.record_route, not rec.record_route),
        _null_if(quirks, rec.contact, not rec.contact),
        _null_if(quirks, rec.remote_contact, not rec.remote_contact),
        rec.version,
        rec.extra_headers,
    )


def describe_record(rec: PuaRecord) -> str:
    """Short key text for trace details."""
    if rec.is_publication:
        return f"{rec.pres_uri} id={rec.id!r} etag={rec.etag!r}"
    return f"{rec.pres_uri} watcher={rec.watcher_uri} call_id={rec.call_id!r}"
