"""Record storage behind the PUA: the db_mode 0 hash table and SQL.

* :class:`MemoryStore` — db_mode 0 without a database (pure in-memory model);
* :class:`SqlBackedMemoryStore` — db_mode 0 with the periodic DB sync, the
  start-up restore and the (missing) shutdown flush (pua-reference §5.5–§5.7);
* :class:`SqlStore` — db_mode 2: the ``pua`` table only (§2.6, §3.10, §4.10, §5.8).

:func:`make_store` picks one from a :class:`~puasim.pua.config.PuaConfig`.
This package never imports ``puasim.pua`` at run time (layers point down).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from puasim.store.database import (
    DB_SQLITE_56,
    GENERIC,
    Database,
    DbUrl,
    DriverQuirks,
    open_database,
    parse_url,
)
from puasim.store.errors import KamailioCrash, StoreError
from puasim.store.hashtable import HashTable, core_hash
from puasim.store.memory import MemoryStore, SqlBackedMemoryStore, SyncResult
from puasim.store.record import PuaRecord
from puasim.store.schema import TABLE_VERSION, ensure_schema
from puasim.store.sql import SqlStore

if TYPE_CHECKING:
    from puasim.pua.config import PuaConfig

Store = MemoryStore | SqlBackedMemoryStore | SqlStore


def make_store(cfg: PuaConfig, database: Database | None = None) -> Store:
    """The store Kamailio's pua would run with ``cfg`` (§1.1, §1.2).

    * db_mode 2 → :class:`SqlStore` (needs ``database``);
    * db_mode 0 with a database → :class:`SqlBackedMemoryStore`;
    * db_mode 0 without → :class:`MemoryStore` (Kamailio itself always has a
      DB; puasim lets a run do without when persistence is not under test).

    With a database the table is created when absent and checked when present
    (:func:`~puasim.store.schema.ensure_schema`, version 7, §1.2 step 3): a
    mismatch raises :class:`StoreError`, as mod_init refuses to start.
    """
    if cfg.db_mode == 2:
        if database is None:
            raise StoreError("db_mode 2 keeps every record in the database: a Database is required", op="config")
        database.ensure_schema(cfg.db_table)
        return SqlStore(
            database,
            table=cfg.db_table,
            profile="kamailio-master" if cfg.is_master else "kamailio-5.6",
            lock_write=cfg.db_table_lock_write == 1,
            fetch_rows=cfg.fetch_rows,
        )
    if database is None:
        return MemoryStore(cfg.table_size, cfg.check_remote_contact)
    database.ensure_schema(cfg.db_table)
    return SqlBackedMemoryStore(database, cfg.table_size, cfg.check_remote_contact, table=cfg.db_table)


__all__ = [
    "DB_SQLITE_56",
    "GENERIC",
    "TABLE_VERSION",
    "Database",
    "DbUrl",
    "DriverQuirks",
    "HashTable",
    "KamailioCrash",
    "MemoryStore",
    "PuaRecord",
    "SqlBackedMemoryStore",
    "SqlStore",
    "Store",
    "StoreError",
    "SyncResult",
    "core_hash",
    "ensure_schema",
    "make_store",
    "open_database",
    "parse_url",
]
