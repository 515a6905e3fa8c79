"""db_mode 0 record store: the hash table is the live store (pua-reference §2.3, §2.5).

The PUA model talks to its store through the look-ups Kamailio performs; in
db_mode 0 they are hash-table searches and every write is in memory (the
periodic SQL flush is the separate DB-sync of §5.5).

:class:`MemoryStore` has no database.  :class:`SqlBackedMemoryStore` adds
Kamailio's persistence around the same table: the periodic DB sync
(``db_update``, §5.5), the start-up restore (``db_restore``, §5.6) and the
shutdown flush that does not happen (§5.7, B11).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from puasim.store import rows as R
from puasim.store.database import Database
from puasim.store.errors import StoreError
from puasim.store.hashtable import HashTable
from puasim.store.record import NO_UPDATEDB, PuaRecord
from puasim.store.schema import check_identifier
from puasim.trace.events import Note, StoreWrite

INSERTDB, UPDATEDB = 4, 2


class MemoryStore:
    """The hash table with the operations of pua's db_mode 0 code paths."""

    db_mode = 0
    #: §10 defects repaired (``PuaConfig.repaired``); the model sets it
    repaired: frozenset[str] = frozenset()

    def __init__(self, size: int = 512, check_remote_contact: int = 1) -> None:
        self.table = HashTable(size)
        self.check_remote_contact = check_remote_contact

    # publications (§3.2, §3.8)
    def find_publication(self, *, pres_uri: str, flag: int, event: int, id: str, etag: str) -> PuaRecord | None:
        return self.table.search(pres_uri=pres_uri, flag=flag, event=event, id=id, etag=etag)

    def bump_version(self, rec: PuaRecord) -> None:
        """The version lives in the record itself in db_mode 0."""

    def delete_publication(self, *, pres_uri: str, flag: int, event: int, id: str, etag: str) -> list[PuaRecord]:
        """§3.8 rows 3/6: delete the first record matching the reply key (B7: any, without etag)."""
        rec = self.find_publication(pres_uri=pres_uri, flag=flag, event=event, id=id, etag=etag)
        if rec is None:
            return []
        self.table.delete(rec)
        return [rec]

    def update_publication(self, key: dict, etag: str, expires: int, desired: int) -> PuaRecord | None:
        """§3.8 row 7 / ``update_htable`` (§2.5.5): new etag, expiry and desired time."""
        rec = self.find_publication(**key)
        if rec is None:
            return None
        rec.etag = etag
        rec.expires = expires
        rec.desired_expires = desired
        if rec.db_flag == NO_UPDATEDB:
            rec.db_flag = UPDATEDB
        return rec

    # dialogs (§4.3, §4.6)
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
        """``search_htable`` for SUBSCRIBE; ``any_target`` (repair B2) drops the remote-contact rule."""
        return self.table.search(
            pres_uri=pres_uri,
            watcher_uri=watcher_uri,
            flag=flag,
            event=event,
            id=id,
            remote_target=remote_target,
            check_remote_contact=0 if any_target else self.check_remote_contact,
        )

    def get_dialog(self, **key: str | int) -> PuaRecord | None:
        return self.table.get_dialog(**key)  # type: ignore[arg-type]

    def get_temporary_dialog(self, **key: str) -> PuaRecord | None:
        return self.table.get_temporary_dialog(**key)

    def delete_dialog(self, *, pres_uri: str, watcher_uri: str, call_id: str, from_tag: str, to_tag: str = "") -> list[PuaRecord]:
        """§4.6 rows 2/4/6/7: delete the record with this Call-ID and From-tag."""
        rec = self.table.get_temporary_dialog(pres_uri=pres_uri, watcher_uri=watcher_uri, call_id=call_id, from_tag=from_tag)
        if rec is None:
            return []
        self.table.delete(rec)
        return [rec]

    def update_dialog(
        self, key: dict, *, expires: int, desired: int, reply_cseq: int, remote_contact: str
    ) -> PuaRecord | None:
        """§4.6 row 9: the dialog found by ``get_dialog`` takes the 2xx's values."""
        rec = self.table.get_dialog(**key)
        if rec is None:
            return None
        rec.expires = expires
        rec.desired_expires = desired
        rec.cseq += 1
        if remote_contact != rec.remote_contact:
            rec.remote_contact = remote_contact
        if rec.db_flag == NO_UPDATEDB:
            rec.db_flag = UPDATEDB
        return rec

    def mark_updated(self, rec: PuaRecord) -> None:
        """A record changed in place: written by the next DB sync (``db_flag`` NO → UPDATE, §2.5.5)."""
        if rec.db_flag == NO_UPDATEDB:
            rec.db_flag = UPDATEDB

    def convert_temporary(self, temp_key: dict, new: PuaRecord) -> PuaRecord | None:
        """§4.7: replace the temporary record (searched in the reply's bucket) by ``new``."""
        temp = self.table.get_temporary_dialog(**temp_key)
        if temp is None:
            return None
        self.table.delete(temp)
        new.db_flag = INSERTDB
        self.table.insert(new)
        return temp

    # generic
    def insert(self, rec: PuaRecord) -> None:
        self.table.insert(rec)

    def delete(self, rec: PuaRecord) -> None:
        self.table.delete(rec)

    def records(self) -> Iterator[PuaRecord]:
        return iter(self.table)

    def snapshot(self) -> list[PuaRecord]:
        """``list(records())``, made in one go."""
        return self.table.snapshot()

    def sweep_candidates(self, high: int) -> Iterator[PuaRecord]:
        """The records a sweep at ``expires < high`` must test, in sweep order (§5.2;
        :meth:`HashTable.sweep_candidates <puasim.store.hashtable.HashTable.sweep_candidates>`)."""
        return self.table.sweep_candidates(high)

    def __len__(self) -> int:
        return len(self.table)

    # hooks shared with the SQL stores
    def bind(self, emit: Callable[[Any], None] | None) -> None:
        """Where store trace events go (``pua.outbox.emit``); unused without a database."""
        self.emit = emit

    def transaction(self) -> contextlib.AbstractContextManager[None]:
        """No transactions in memory: a no-op so callers need not ask which store they have."""
        return contextlib.nullcontext()


#: WHERE clauses of the UPDATEDB sync (§5.5): publications, and dialogs with their ids
_PUBLICATION_KEY = "pres_uri = ? AND pres_id = ? AND flag = ? AND event = ?"
_DIALOG_KEY = _PUBLICATION_KEY + " AND watcher_uri = ? AND call_id = ? AND to_tag = ? AND from_tag = ?"
#: columns the UPDATEDB sync sets, and those only repair B12 adds
_SYNC_COLUMNS = ("expires", "cseq", "etag", "desired_expires", "version")
_B12_COLUMNS = ("remote_contact", "record_route", "contact", "tuple_id", "extra_headers")


@dataclass(slots=True)
class SyncResult:
    """What one DB-sync run did (§5.5)."""

    inserted: int = 0
    updated: int = 0
    #: UPDATEDB records whose row was missing: nothing written (B12)
    missing: int = 0
    skipped_expired: int = 0
    deleted: int = 0
    #: the DB error that aborted the run ('' when it completed)
    error: str = ""

    @property
    def aborted(self) -> bool:
        return bool(self.error)


class SqlBackedMemoryStore(MemoryStore):
    """db_mode 0 with Kamailio's ``pua`` table behind the hash table (§5.5–§5.7).

    ``db`` is a :class:`~puasim.store.database.Database` whose table exists
    (:meth:`Database.ensure_schema`).  Writes run in autocommit, statement by
    statement, as Kamailio's ``db_update`` does: after a DB error the rows
    already written stay written and the rest of the run is skipped.
    """

    def __init__(self, db: Database, size: int = 512, check_remote_contact: int = 1, *, table: str = "pua") -> None:
        super().__init__(size, check_remote_contact)
        self.db = db
        self.db_table = check_identifier(table)
        self.emit: Callable[[Any], None] | None = None
        self.last_sync: SyncResult | None = None
        #: (table, key, all columns) -> the SELECT and UPDATE texts of the UPDATEDB sync
        self._sql: dict[tuple[str, str, bool], tuple[str, str]] = {}
        #: result pages read by the last :meth:`restore`
        self.restore_fetches = 0

    def _emit(self, pua: Any, event: Any) -> None:
        if pua is not None:
            pua.outbox.emit(event)
        elif self.emit is not None:
            self.emit(event)

    # -- §5.5 DB sync ------------------------------------------------------------------
    def _key(self, rec: PuaRecord) -> tuple[str, list[Any]]:
        """UPDATEDB key: pres_uri, pres_id, flag, event (+ dialog ids for dialog records)."""
        params = [rec.pres_uri, R.sync_pres_id(rec, self.db.quirks), rec.flag, rec.event]
        if rec.watcher_uri:
            params += [rec.watcher_uri, rec.call_id, rec.to_tag, rec.from_tag]
            return _DIALOG_KEY, params
        return _PUBLICATION_KEY, params

    def _update_sql(self, where: str, all_columns: bool) -> tuple[str, str]:
        """The SELECT and UPDATE of an UPDATEDB record with key ``where`` (texts made once);
        ``all_columns`` (repair B12) also sets the columns Kamailio's UPDATE leaves out."""
        key = (self.db_table, where, all_columns)
        sql = self._sql.get(key)
        if sql is None:
            t = self.db_table
            cols = _SYNC_COLUMNS + (_B12_COLUMNS if all_columns else ())
            sql = self._sql[key] = (
                f"SELECT expires FROM {t} WHERE {where}",
                f"UPDATE {t} SET {', '.join(c + ' = ?' for c in cols)} WHERE {where}",
            )
        return sql

    def _sync_one(self, rec: PuaRecord, result: SyncResult, pua: Any) -> None:
        t = self.db_table
        if rec.db_flag == UPDATEDB:
            where, params = self._key(rec)
            repaired = "B12" in self.repaired
            select, update = self._update_sql(where, repaired)
            if self.db.query(select, params):
                values: list[Any] = [rec.expires, rec.cseq, rec.etag, rec.desired_expires, rec.version]
                if repaired:  # repair B12: the columns Kamailio's UPDATE leaves out
                    values += [rec.remote_contact, rec.record_route, rec.contact, rec.tuple_id, rec.extra_headers]
                n = self.db.execute(update, [*values, *params])
                result.updated += 1
                self._emit(pua, StoreWrite("update", t, n, R.describe_record(rec)))
            elif repaired:  # repair B12: a missing row is inserted
                self.db.execute(R.insert_sql(t), R.sync_insert_values(rec, self.db.quirks))
                result.inserted += 1
                self._emit(pua, StoreWrite("insert", t, 1, f"{R.describe_record(rec)} (row was missing, B12 repaired)"))
            else:
                result.missing += 1
                self._emit(pua, Note("debug", f"DB sync: UPDATEDB and no row for {R.describe_record(rec)}: not inserted (B12)"))
        elif rec.db_flag == INSERTDB:
            self.db.execute(R.insert_sql(t), R.sync_insert_values(rec, self.db.quirks))
            result.inserted += 1
            self._emit(pua, StoreWrite("insert", t, 1, R.describe_record(rec)))

    def db_sync(self, now: int, pua: Any = None) -> SyncResult:
        """One ``db_update`` run at epoch second ``now`` (§5.5); never raises StoreError.

        Per record in sweep order: expired (``expires < now``) → skipped;
        UPDATEDB → UPDATE if the row exists, else nothing (B12); INSERTDB →
        INSERT of all 18 columns; then ``db_flag := NO_UPDATEDB``.  The first
        DB error (unreachable server, NOT NULL or UNIQUE violation — the
        latter is Kamailio issue #104's duplicate insert) aborts the rest of
        the run, final DELETE included; the failing record keeps its flag and
        is retried next run.  After the loop: ``DELETE … WHERE expires < now − 10``.
        """
        result = SyncResult()
        self.last_sync = result
        # the walk over every record writes only those whose db_flag asks for it and counts the
        # expired ones; the table hands over the former and the count (None: walk them all)
        todo: list[PuaRecord] | None = self.table.unsynced()
        expired = self.table.count_expired(now)
        walked = todo is None or expired is None
        if walked:
            todo = self.table.snapshot()
        assert todo is not None
        for i, rec in enumerate(todo):
            if rec.db_flag == NO_UPDATEDB:  # nothing to write (what _sync_one would find)
                if rec.expires < now:
                    result.skipped_expired += 1
                continue
            if rec.expires < now:
                result.skipped_expired += 1
                continue
            try:
                self._sync_one(rec, result, pua)
            except StoreError as exc:
                if not walked:  # the walk's count and place at this record
                    todo = self.table.snapshot()
                    i = todo.index(rec)
                    result.skipped_expired = sum(1 for r in todo[:i] if r.expires < now)
                result.error = str(exc)
                op = "insert" if rec.db_flag == INSERTDB else "update"
                self._emit(pua, StoreWrite(op, self.db_table, 0, f"error: {exc} ({R.describe_record(rec)})"))
                self._emit(
                    pua,
                    Note(
                        "error",
                        f"DB sync aborted at {R.describe_record(rec)}: {exc}; {len(todo) - i - 1} later "
                        "record(s) not synced and expired rows not deleted this run (pua-reference §5.5)",
                    ),
                )
                return result
            rec.db_flag = NO_UPDATEDB
        if not walked:
            result.skipped_expired = expired  # type: ignore[assignment]
        try:
            result.deleted = self.db.execute(f"DELETE FROM {self.db_table} WHERE expires < ?", [now - 10])
            self._emit(pua, StoreWrite("delete", self.db_table, result.deleted, f"expires < {now - 10}"))
        except StoreError as exc:  # logged only
            result.error = str(exc)
            self._emit(pua, Note("error", f"DB sync: deleting expired rows failed: {exc}"))
        return result

    # -- §5.6 restore ------------------------------------------------------------------
    def restore(self, now: int, fetch_rows: int) -> list[PuaRecord]:
        """``db_restore`` (§5.6): read every row, ``fetch_rows`` at a time, into the table.

        Rows are read in ``id`` order (Kamailio's SELECT has no ORDER BY; the
        order is fixed here for determinism) and each is linked at its bucket
        head with db_flag INSERTDB.  Expired rows come back too; publication
        versions restart at 0; a NULL tuple_id with an etag raises
        :class:`~puasim.store.errors.KamailioCrash`.  When at least one row was
        read, ``DELETE FROM pua``.  A DB error raises StoreError: mod_init
        fails and Kamailio does not start.
        """
        t = self.db_table
        before = self.db.fetches
        restored: list[PuaRecord] = []
        read = 0
        try:
            for page in self.db.pages(f"{R.select_all(t)} ORDER BY id", (), fetch_rows):
                self._emit(None, StoreWrite("select", t, len(page), f"restore: one fetch of at most {fetch_rows} rows"))
                for row in page:
                    read += 1
                    rec = R.restore_record(row, INSERTDB, repaired="B13" in self.repaired)
                    if "B13" in self.repaired and rec.expires < now:  # repair B13: expired rows stay behind
                        self._emit(None, Note("debug", f"restore: expired row not restored (B13 repaired): {R.describe_record(rec)}"))
                        continue
                    self.table.insert(rec)
                    restored.append(rec)
        finally:
            self.restore_fetches = self.db.fetches - before
        if read:
            n = self.db.execute(f"DELETE FROM {t}")
            self._emit(None, StoreWrite("delete", t, n, f"restore: {read} rows read, table emptied"))
        return restored

    # -- §5.7 shutdown -----------------------------------------------------------------
    def shutdown(self, now: int, pua: Any = None, fixed: bool = False) -> SyncResult | None:
        """``destroy`` (§5.7).  Kamailio's final flush never runs (B11): changes
        since the last sync are lost.  ``fixed=True`` models the intended
        behaviour: one lock-free DB-sync run."""
        if not fixed:
            self._emit(pua, Note("info", "shutdown: no final DB flush (no DB handle in the main process, B11)"))
            return None
        return self.db_sync(now, pua)
