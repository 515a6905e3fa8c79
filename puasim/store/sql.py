"""db_mode 2: the ``pua`` table is the only store (pua-reference §2.6, §3.10, §4.10, §5.8).

:class:`SqlStore` has the method names of
:class:`~puasim.store.memory.MemoryStore`, so the PUA model calls either the
same way, but every method runs the SQL of Kamailio's ``pua_db.c``:

* PUBLISH look-up: 5.6.3 ``WHERE pres_id [AND etag]``; master adds
  ``pres_uri`` (§11.1, commit bbb869441f; §2.6 shows master).  No flag or
  event filter.  More than one row → "too many rows", treated as not found.
* delete publication by ``(pres_id [, etag])`` — any presentity (B7);
  version bump by ``pres_id`` for every row sharing it.
* SUBSCRIBE look-up by ``(pres_id, pres_uri)`` only; more than one row →
  **all of them deleted** and not found (B28).
* dialogs updated/deleted by Call-ID and tags, ``cseq := CSeq of the reply``;
  temporary → established by UPDATE keyed on (pres_id, pres_uri, call_id,
  from_tag) and INSERT when no row changed (db_postgres' ``replace`` and the
  fallback both do this).
* ``is_dialog`` / ``get_record_id`` per §2.6 (B29); ``update_contact`` (B1).
* ``clean_rows``: ``SELECT … WHERE expires < now + update_period`` in pages.

Every public method runs inside a transaction (when the driver has them)
with the configured lock mode; :meth:`transaction` lets a caller put a whole
API call or reply callback in one, as Kamailio does.  Database failures raise
:class:`~puasim.store.errors.StoreError` after rolling back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from puasim.store import rows as R
from puasim.store.database import Database
from puasim.store.errors import KamailioCrash
from puasim.store.record import PuaRecord
from puasim.store.schema import check_identifier
from puasim.trace.events import Note, StoreWrite

INSERTDB = 4
PROFILES = ("kamailio-5.6", "kamailio-master")


class SqlStore:
    """Kamailio pua's DB-only mode on a :class:`~puasim.store.database.Database`."""

    db_mode = 2
    #: §10 defects repaired (``PuaConfig.repaired``); the model sets it
    repaired: frozenset[str] = frozenset()

    def __init__(
        self,
        db: Database,
        *,
        table: str = "pua",
        profile: str = "kamailio-5.6",
        lock_write: bool = True,
        fetch_rows: int = 500,
    ) -> None:
        if profile not in PROFILES:
            raise ValueError(f"unknown profile {profile!r} (known: {', '.join(PROFILES)})")
        self.db = db
        self.db_table = check_identifier(table)
        self.profile = profile
        self.lock_write = lock_write
        self.fetch_rows = fetch_rows
        self.emit: Callable[[Any], None] | None = None
        self._depth = 0
        self._select = R.select_all(self.db_table)

    # -- plumbing ------------------------------------------------------------------------
    def bind(self, emit: Callable[[Any], None] | None) -> None:
        """Send StoreWrite/Note trace events to ``emit`` (``pua.outbox.emit``)."""
        self.emit = emit

    def _emit(self, event: Any) -> None:
        if self.emit is not None:
            self.emit(event)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One DB transaction around the body (re-entrant: inner uses join the outer).

        Lock mode per ``db_table_lock_write`` (§1.1); without driver
        transactions (db_sqlite 5.6) every statement commits by itself.
        """
        if self._depth or not self.db.quirks.transactions:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self.db.begin(self.db_table if self.lock_write else None)
        self._depth = 1
        try:
            yield
        except BaseException:
            self._depth = 0
            self.db.rollback()
            raise
        self._depth = 0
        self.db.commit()

    def _id(self, value: str) -> str | None:
        """A caller's id as pua binds it: absent ('' here) is NULL with db_sqlite (lab finding h)."""
        return None if (self.db.quirks.null_absent and not value) else value

    def _rows(self, where: str, params: list[Any], suffix: str = " ORDER BY id") -> list[PuaRecord]:
        return [R.record_from_row(r) for r in self.db.query(f"{self._select} WHERE {where}{suffix}", params)]

    def _write(self, op: str, sql: str, params: list[Any] | tuple, detail: str) -> int:
        n = self.db.execute(sql, params)
        self._emit(StoreWrite(op, self.db_table, n, detail))
        return n

    # -- publications (§3.2, §3.8, §3.10) ------------------------------------------------
    def _publication_key(self, pres_uri: str, id: str, etag: str) -> tuple[str, list[Any]]:
        where, params = ["pres_id = ?"], [self._id(id)]
        if self.profile == "kamailio-master":
            where.insert(0, "pres_uri = ?")
            params.insert(0, pres_uri)
        if etag:
            where.append("etag = ?")
            params.append(etag)
        return " AND ".join(where), params

    def find_publication(self, *, pres_uri: str, flag: int, event: int, id: str, etag: str) -> PuaRecord | None:
        """``get_record_puadb``: exactly one row → found; 0 or >1 → not found (flag/event unused)."""
        with self.transaction():
            where, params = self._publication_key(pres_uri, id, etag)
            found = self._rows(where, params)
        if len(found) > 1:
            self._emit(Note("error", f"get_record_puadb: too many rows ({len(found)}) for {where} {params}: treated as not found"))
            return None
        return found[0] if found else None

    def bump_version(self, rec: PuaRecord) -> None:
        """§3.10: ``UPDATE SET version WHERE pres_id`` — every row sharing the id."""
        with self.transaction():
            self._write("update", f"UPDATE {self.db_table} SET version = ? WHERE pres_id = ?",
                        [rec.version, self._id(rec.id)], f"version {rec.version} for pres_id={rec.id!r}")

    def delete_publication(self, *, pres_uri: str, flag: int, event: int, id: str, etag: str) -> list[PuaRecord]:
        """§3.10 reply rows 3/6: ``DELETE WHERE pres_id [AND etag]`` — no pres_uri (B7).

        Repair B7 adds ``pres_uri`` so that another presentity's rows stay."""
        where, params = ["pres_id = ?"], [self._id(id)]
        if "B7" in self.repaired:
            where.insert(0, "pres_uri = ?")
            params.insert(0, pres_uri)
        if etag:
            where.append("etag = ?")
            params.append(etag)
        cond = " AND ".join(where)
        with self.transaction():
            gone = self._rows(cond, params)
            self._write("delete", f"DELETE FROM {self.db_table} WHERE {cond}", params, f"publication {cond} {params}")
        return gone

    def update_publication(self, key: dict, etag: str, expires: int, desired: int) -> PuaRecord | None:
        """§3.10 reply row 7.  With affected rows: UPDATE by (pres_id, old etag), >0
        rows = found.  Without: look the row up first (the PUBLISH look-up)."""
        old = key.get("etag", "")
        where, params = ["pres_id = ?"], [self._id(key.get("id", ""))]
        if old:
            where.append("etag = ?")
            params.append(old)
        cond = " AND ".join(where)
        sql = f"UPDATE {self.db_table} SET desired_expires = ?, expires = ?, etag = ? WHERE {cond}"
        with self.transaction():
            if not self.db.quirks.affected_rows:
                if self.find_publication(**key) is None:
                    return None
            n = self._write("update", sql, [desired, expires, etag, *params], f"publication {cond} {params} -> etag {etag!r}")
            if self.db.quirks.affected_rows and n <= 0:
                return None
            found = self._rows("pres_id = ? AND etag = ?", [params[0], etag])
        return found[0] if found else None

    # -- dialogs (§4.3, §4.6, §4.10) -----------------------------------------------------
    def find_dialog_for_subscribe(
        self,
        *,
        pres_uri: str,
        watcher_uri: str,
        flag: int,
        event: int,
        id: str,
        remote_target: str | None,
        any_target: bool = False,
    ) -> PuaRecord | None:
        """``get_dialog_puadb``: ``WHERE pres_id AND pres_uri`` only (check_remote_contact
        ignored); >1 rows → all deleted, not found (B28).

        Repair B28: the rows must also be dialogs of this watcher sharing a
        flag and event bit (the db_mode 0 key of §2.5.1); on a tie the newest
        row is taken and nothing is deleted."""
        cond, params = "pres_id = ? AND pres_uri = ?", [self._id(id), pres_uri]
        if "B28" in self.repaired:
            cond += " AND watcher_uri = ?"
            params.append(watcher_uri)
            with self.transaction():
                found = [r for r in self._rows(cond, params, " ORDER BY id DESC") if r.flag & flag and r.event & event]
            return found[0] if found else None
        with self.transaction():
            found = self._rows(cond, params)
            if len(found) > 1:
                self._emit(Note("error", f"get_dialog_puadb: too many rows ({len(found)}) for {pres_uri} id={id!r}: deleting (B28)"))
                self._write("delete", f"DELETE FROM {self.db_table} WHERE {cond}", params, f"B28: {len(found)} rows of {pres_uri} id={id!r}")
                return None
        return found[0] if found else None

    def get_dialog(self, *, pres_uri: str, watcher_uri: str, call_id: str, to_tag: str, from_tag: str, flag: int) -> PuaRecord | None:
        """Established dialog by exact Call-ID and tags (no flag or prefix rule in SQL)."""
        if not to_tag:
            return None
        with self.transaction():
            found = self._rows("call_id = ? AND from_tag = ? AND to_tag = ?", [call_id, from_tag, to_tag])
        return found[0] if found else None

    def get_temporary_dialog(self, *, pres_uri: str, watcher_uri: str, call_id: str, from_tag: str) -> PuaRecord | None:
        with self.transaction():
            found = self._rows("call_id = ? AND from_tag = ?", [call_id, from_tag])
        return found[0] if found else None

    def delete_dialog(self, *, pres_uri: str, watcher_uri: str, call_id: str, from_tag: str, to_tag: str = "") -> list[PuaRecord]:
        """``delete_dialog_puadb``: ``WHERE call_id AND from_tag [AND to_tag]``."""
        cond, params = "call_id = ? AND from_tag = ?", [call_id, from_tag]
        if to_tag:
            cond += " AND to_tag = ?"
            params.append(to_tag)
        with self.transaction():
            gone = self._rows(cond, params)
            self._write("delete", f"DELETE FROM {self.db_table} WHERE {cond}", params, f"dialog call_id={call_id!r}")
        return gone

    def update_dialog(self, key: dict, *, expires: int, desired: int, reply_cseq: int, remote_contact: str) -> PuaRecord | None:
        """``update_dialog_puadb`` (§4.6 row 9 in db_mode 2): cseq := the reply's CSeq."""
        cond = "call_id = ? AND from_tag = ? AND to_tag = ?"
        ids = [key["call_id"], key["from_tag"], key["to_tag"]]
        with self.transaction():
            n = self._write(
                "update",
                f"UPDATE {self.db_table} SET desired_expires = ?, expires = ?, cseq = ?, remote_contact = ? WHERE {cond}",
                [desired, expires, reply_cseq, remote_contact, *ids],
                f"dialog call_id={key['call_id']!r} cseq={reply_cseq}",
            )
            found = self._rows(cond, ids) if n != 0 else []
        return found[0] if found else None

    def convert_temporary(self, temp_key: dict, new: PuaRecord) -> PuaRecord | None:
        """``convert_temporary_dialog_puadb`` (§4.7 in db_mode 2, §4.10).

        UPDATE the row keyed on (pres_id, pres_uri, call_id, from_tag) with the
        established values; when no row changed, INSERT ``new``.  Returns the
        replaced temporary record, or ``new`` itself when it was inserted
        without one (db_mode 2 never discards the new dialog, unlike §4.6
        row 11).  Without ``affected_rows`` (db_sqlite 5.6) Kamailio calls a
        NULL function here: :class:`KamailioCrash` (lab finding h).
        """
        t = self.db_table
        k_cond = "pres_id = ? AND pres_uri = ? AND call_id = ? AND from_tag = ?"
        keys = [self._id(new.id), new.pres_uri, new.call_id, new.from_tag]
        etag = None if self.db.quirks.null_absent else ""
        sets = [
            ("expires", new.expires), ("desired_expires", new.desired_expires), ("flag", new.flag),
            ("to_tag", new.to_tag), ("cseq", new.cseq), ("record_route", new.record_route),
            ("contact", new.contact), ("remote_contact", new.remote_contact), ("version", new.version),
            ("extra_headers", new.extra_headers), ("event", new.event), ("watcher_uri", new.watcher_uri),
            ("etag", etag), ("tuple_id", etag),
        ]
        sql = f"UPDATE {t} SET {', '.join(c + ' = ?' for c, _ in sets)} WHERE {k_cond}"
        with self.transaction():
            temps = self._rows(k_cond, keys)
            n = self._write("update", sql, [v for _, v in sets] + keys, f"convert temporary dialog call_id={new.call_id!r}")
            if not self.db.quirks.affected_rows:
                raise KamailioCrash(
                    "convert_temporary_dialog_puadb calls affected_rows, which the DB driver lacks "
                    "(db_sqlite 5.6: NULL function, segfault; lab finding h)"
                )
            if n > 0:
                found = self._rows(k_cond, keys)
                new.row_id = found[0].row_id if found else 0
                new.db_flag = INSERTDB
                return temps[0] if temps else new
            self._insert(new)
        return new

    # -- generic -------------------------------------------------------------------------
    def _insert(self, rec: PuaRecord) -> None:
        q = self.db.quirks
        values = R.publication_insert_values(rec, q) if rec.is_publication else R.dialog_insert_values(rec, q)
        rec.row_id = self.db.insert(R.insert_sql(self.db_table), values)
        self._emit(StoreWrite("insert", self.db_table, 1, R.describe_record(rec)))

    def insert(self, rec: PuaRecord) -> None:
        """§2.6 insert publication / insert temporary dialog; sets ``rec.row_id``."""
        with self.transaction():
            self._insert(rec)

    def delete(self, rec: PuaRecord) -> None:
        """Delete the record's row: by ``id`` (§5.8) or, without one, by its dialog or publication key."""
        with self.transaction():
            if rec.row_id:
                self._write("delete", f"DELETE FROM {self.db_table} WHERE id = ?", [rec.row_id], f"id={rec.row_id}")
            elif rec.is_publication:
                self.delete_publication(pres_uri=rec.pres_uri, flag=rec.flag, event=rec.event, id=rec.id, etag=rec.etag)
            else:
                self.delete_dialog(pres_uri=rec.pres_uri, watcher_uri=rec.watcher_uri, call_id=rec.call_id,
                                   from_tag=rec.from_tag, to_tag=rec.to_tag)

    def records(self) -> Iterator[PuaRecord]:
        with self.transaction():
            rows = self.db.query(f"{self._select} ORDER BY id")
        return iter([R.record_from_row(r) for r in rows])

    def __len__(self) -> int:
        with self.transaction():
            return int(self.db.query(f"SELECT COUNT(*) FROM {self.db_table}")[0][0])

    # -- §5.8 sweep ----------------------------------------------------------------------
    def clean_rows(self, now: int, update_period: int) -> list[PuaRecord]:
        """``clean_puadb``'s SELECT: rows with ``expires < now + update_period``, fetched
        ``fetch_rows`` at a time.  The caller refreshes or deletes each (by id)."""
        out: list[PuaRecord] = []
        with self.transaction():
            for page in self.db.pages(f"{self._select} WHERE expires < ? ORDER BY id", [now + update_period], self.fetch_rows):
                out.extend(R.record_from_row(r) for r in page)
        return out

    # -- NOTIFY-side helpers (§2.6, §6, §7.2) ---------------------------------------------
    def is_dialog(self, *, call_id: str, to_tag: str, from_tag: str) -> int:
        """``is_dialog_puadb``: −1 no row; else 0 when the given to_tag is non-empty, 1 otherwise.

        A temporary row has to_tag '' and so never matches a NOTIFY that
        carries a to-tag (B29)."""
        with self.transaction():
            n = len(self.db.query(f"SELECT id FROM {self.db_table} WHERE call_id = ? AND to_tag = ? AND from_tag = ?",
                                  [call_id, to_tag, from_tag]))
        if n == 0 and to_tag and "B29" in self.repaired:  # repair B29: the temporary row, as in db_mode 0
            with self.transaction():
                temp = self.db.query(
                    f"SELECT id FROM {self.db_table} WHERE call_id = ? AND from_tag = ? "
                    "AND (to_tag = '' OR to_tag IS NULL)",
                    [call_id, from_tag],
                )
            return 1 if temp else -1
        if n == 0:
            return -1
        if n > 1:
            self._emit(Note("warning", f"is_dialog_puadb: too many rows ({n}) for call_id={call_id!r}"))
        return 0 if to_tag else 1

    def get_record_id(self, *, call_id: str, to_tag: str, from_tag: str) -> tuple[int, str | None]:
        """``get_record_id_puadb``: (rc, id).  Exact dialog first; else a single row
        by (call_id, from_tag) whose to_tag is empty or starts with the given one."""
        t = self.db_table
        with self.transaction():
            rows = self.db.query(f"SELECT pres_id FROM {t} WHERE call_id = ? AND from_tag = ? AND to_tag = ?",
                                 [call_id, from_tag, to_tag])
            if len(rows) == 1:
                return 0, rows[0][0] or ""
            if len(rows) > 1:
                return -1, None
            rows = self.db.query(f"SELECT pres_id, to_tag FROM {t} WHERE call_id = ? AND from_tag = ?", [call_id, from_tag])
        if len(rows) > 1:
            return -1, None
        if len(rows) == 1:
            stored = rows[0][1] or ""
            if not stored or stored.startswith(to_tag):
                return 0, rows[0][0] or ""
        return 0, None

    def update_contact(self, raw_contact: str, *, call_id: str, to_tag: str, from_tag: str) -> int:
        """``update_contact_puadb`` (§6 step 7): the raw Contact header body; rows changed."""
        with self.transaction():
            return self._write(
                "update",
                f"UPDATE {self.db_table} SET remote_contact = ? WHERE call_id = ? AND to_tag = ? AND from_tag = ?",
                [raw_contact, call_id, to_tag, from_tag],
                f"remote_contact for call_id={call_id!r}",
            )

    def get_subs_list(self, did: str) -> list[str]:
        """``get_subs_list_puadb``: pres_uri of every row with ``pres_id = did`` (exact), sorted."""
        out: list[str] = []
        with self.transaction():
            for page in self.db.pages(f"SELECT pres_uri FROM {self.db_table} WHERE pres_id = ?", [did], self.fetch_rows):
                out.extend(r[0] for r in page)
        return sorted(out)
