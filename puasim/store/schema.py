"""Kamailio's ``pua`` table, version 7 (pua-reference §8), for SQLite and PostgreSQL.

The DDL is the one Kamailio 5.6 ships (``utils/kamctl/{db_sqlite,postgres}/
presence-create.sql``, Debian ``kamailio-{sqlite,postgres}-modules``): same
column order, types, NOT NULL flags, no DEFAULTs, the unique ``pua_pua_idx``
and the four plain indexes, plus the ``version`` table of
``standard-create.sql`` with the row ``('pua', 7)``.  A database written by
puasim can therefore be read by Kamailio and the other way round; db_mode 2
reads rows positionally (§2.6), so the column order is checked too.

:func:`ensure_schema` creates the tables when absent and checks them when
present; a difference raises :class:`~puasim.store.errors.StoreError`
(Kamailio refuses to start on a table version other than 7, §1.2 step 3).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from puasim.store.errors import StoreError

TABLE_VERSION = 7
DIALECTS = ("sqlite", "postgres")


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    sqlite: str
    postgres: str
    not_null: bool = True


#: §8, physical order (db_mode 2 relies on it)
PUA_COLUMNS: tuple[Column, ...] = (
    Column("id", "INTEGER PRIMARY KEY", "SERIAL PRIMARY KEY"),
    Column("pres_uri", "VARCHAR(255)", "VARCHAR(255)"),
    Column("pres_id", "VARCHAR(255)", "VARCHAR(255)"),
    Column("event", "INTEGER", "INTEGER"),
    Column("expires", "INTEGER", "INTEGER"),
    Column("desired_expires", "INTEGER", "INTEGER"),
    Column("flag", "INTEGER", "INTEGER"),
    Column("etag", "VARCHAR(128)", "VARCHAR(128)"),
    Column("tuple_id", "VARCHAR(64)", "VARCHAR(64)", not_null=False),
    Column("watcher_uri", "VARCHAR(255)", "VARCHAR(255)"),
    Column("call_id", "VARCHAR(255)", "VARCHAR(255)"),
    Column("to_tag", "VARCHAR(128)", "VARCHAR(128)"),
    Column("from_tag", "VARCHAR(128)", "VARCHAR(128)"),
    Column("cseq", "INTEGER", "INTEGER"),
    Column("record_route", "TEXT", "TEXT", not_null=False),
    Column("contact", "VARCHAR(255)", "VARCHAR(255)"),
    Column("remote_contact", "VARCHAR(255)", "VARCHAR(255)"),
    Column("version", "INTEGER", "INTEGER"),
    Column("extra_headers", "TEXT", "TEXT"),
)
COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in PUA_COLUMNS)
#: the 18 data columns (everything but ``id``), in table order
DATA_COLUMNS: tuple[str, ...] = COLUMN_NAMES[1:]

#: (name suffix, columns); PostgreSQL and SQLite prefix the table name (``pua_expires_idx``)
UNIQUE_INDEX = ("pua_idx", ("etag", "tuple_id", "call_id", "from_tag"))
INDEXES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("expires_idx", ("expires",)),
    ("dialog1_idx", ("pres_id", "pres_uri")),
    ("dialog2_idx", ("call_id", "from_tag")),
    ("record_idx", ("pres_id",)),
)

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def check_identifier(name: str) -> str:
    """A table name usable unquoted in SQL (Kamailio's ``db_table`` parameter)."""
    if not _IDENT.match(name):
        raise StoreError(f"invalid table name {name!r}: letters, digits and '_' only", op="schema")
    return name


def _dialect(dialect: str) -> str:
    if dialect not in DIALECTS:
        raise StoreError(f"unknown SQL dialect {dialect!r} (known: {', '.join(DIALECTS)})", op="schema")
    return dialect


def version_table_ddl(dialect: str) -> list[str]:
    """``standard-create.sql``: the ``version`` table and its own row."""
    pk = "INTEGER PRIMARY KEY" if _dialect(dialect) == "sqlite" else "SERIAL PRIMARY KEY"
    return [
        "CREATE TABLE version (\n"
        f"    id {pk} NOT NULL,\n"
        "    table_name VARCHAR(32) NOT NULL,\n"
        "    table_version INTEGER DEFAULT 0 NOT NULL,\n"
        "    CONSTRAINT version_table_name_idx UNIQUE (table_name)\n"
        ")",
        "INSERT INTO version (table_name, table_version) values ('version','1')",
    ]


def pua_table_ddl(dialect: str, table: str = "pua") -> list[str]:
    """``CREATE TABLE`` and ``CREATE INDEX`` statements of §8 (no version row)."""
    d = _dialect(dialect)
    t = check_identifier(table)
    lines = []
    for col in PUA_COLUMNS:
        null = " NOT NULL" if col.not_null else ""
        lines.append(f"    {col.name} {getattr(col, d)}{null}")
    uname, ucols = UNIQUE_INDEX
    lines.append(f"    CONSTRAINT {t}_{uname} UNIQUE ({', '.join(ucols)})")
    stmts = [f"CREATE TABLE {t} (\n" + ",\n".join(lines) + "\n)"]
    for name, cols in INDEXES:
        stmts.append(f"CREATE INDEX {t}_{name} ON {t} ({', '.join(cols)})")
    return stmts


def create_script(dialect: str, table: str = "pua") -> str:
    """The whole schema as one SQL script (version table, pua table, version row)."""
    stmts = version_table_ddl(dialect) + pua_table_ddl(dialect, table)
    stmts.append(f"INSERT INTO version (table_name, table_version) values ('{table}','{TABLE_VERSION}')")
    return ";\n\n".join(stmts) + ";\n"


# -- inspection --------------------------------------------------------------------------


def _rows(conn: Any, sql: str) -> list[tuple]:
    cur = conn.cursor()
    try:
        cur.execute(sql)
        return list(cur.fetchall()) if cur.description else []
    finally:
        cur.close()


def table_exists(conn: Any, dialect: str, table: str) -> bool:
    t = check_identifier(table)
    if _dialect(dialect) == "sqlite":
        return bool(_rows(conn, f"SELECT name FROM sqlite_master WHERE type='table' AND name='{t}'"))
    return bool(
        _rows(
            conn,
            "SELECT 1 FROM information_schema.tables "
            f"WHERE table_schema = current_schema() AND table_name = '{t}'",
        )
    )


def column_names(conn: Any, dialect: str, table: str) -> list[str]:
    """Column names in physical order."""
    t = check_identifier(table)
    if _dialect(dialect) == "sqlite":
        return [r[1] for r in _rows(conn, f"PRAGMA table_info({t})")]
    return [
        r[0]
        for r in _rows(
            conn,
            "SELECT column_name FROM information_schema.columns "
            f"WHERE table_schema = current_schema() AND table_name = '{t}' ORDER BY ordinal_position",
        )
    ]


def describe(conn: Any, dialect: str, table: str = "pua") -> dict[str, Any]:
    """A comparable description: columns (name, type, NOT NULL, default) and indexes.

    Used by the tests that compare puasim's table with Kamailio's own DDL.
    """
    t = check_identifier(table)
    if _dialect(dialect) == "sqlite":
        cols = [(r[1], r[2].upper(), bool(r[3]), r[4], r[5]) for r in _rows(conn, f"PRAGMA table_info({t})")]
        idx: dict[str, Any] = {}
        for r in _rows(conn, f"PRAGMA index_list({t})"):
            name, unique = r[1], bool(r[2])
            icols = tuple(c[2] for c in sorted(_rows(conn, f"PRAGMA index_info({name})")))
            idx[name] = (unique, icols)
        return {"columns": cols, "indexes": idx}
    cols = _rows(
        conn,
        "SELECT column_name, data_type, character_maximum_length, is_nullable, column_default "
        "FROM information_schema.columns "
        f"WHERE table_schema = current_schema() AND table_name = '{t}' ORDER BY ordinal_position",
    )
    pg_idx = {
        r[0]: re.sub(r"\s+ON\s+\S+\.", " ON ", r[1])
        for r in _rows(conn, f"SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = '{t}'")
    }
    return {"columns": [tuple(c) for c in cols], "indexes": pg_idx}


def table_version(conn: Any, dialect: str, table: str = "pua") -> int | None:
    """The ``version`` row of ``table``; None when the row or the version table is missing."""
    t = check_identifier(table)
    if not table_exists(conn, dialect, "version"):
        return None
    rows = _rows(conn, f"SELECT table_version FROM version WHERE table_name = '{t}'")
    if not rows:
        return None
    return int(rows[0][0])


# -- create or check ---------------------------------------------------------------------


def _run(conn: Any, statements: Sequence[str]) -> None:
    cur = conn.cursor()
    try:
        for stmt in statements:
            cur.execute(stmt)
    finally:
        cur.close()
    conn.commit()


def ensure_schema(conn: Any, dialect: str, table: str = "pua") -> str:
    """Create the ``pua`` table (and ``version``) when absent, else check it.

    ``conn`` is a DB-API connection (``sqlite3`` or ``psycopg``).  Returns
    ``"created"`` or ``"checked"``.  Raises :class:`StoreError` when the
    present table differs: other columns or column order (db_mode 2 reads rows
    positionally, §2.6), or a ``version`` row other than 7 (§1.2 step 3).
    """
    t = check_identifier(table)
    _dialect(dialect)
    created = False
    if not table_exists(conn, dialect, "version"):
        _run(conn, version_table_ddl(dialect))
    if not table_exists(conn, dialect, t):
        _run(conn, pua_table_ddl(dialect, t))
        created = True
    names = column_names(conn, dialect, t)
    if tuple(names) != COLUMN_NAMES:
        raise StoreError(
            f"table {t!r} has columns {names}, Kamailio's {t} table version {TABLE_VERSION} has "
            f"{list(COLUMN_NAMES)} in this order (db_mode 2 reads rows by position, pua-reference §8)",
            op="schema",
        )
    version = table_version(conn, dialect, t)
    if version is None and created:
        _run(conn, [f"INSERT INTO version (table_name, table_version) values ('{t}','{TABLE_VERSION}')"])
        version = TABLE_VERSION
    if version != TABLE_VERSION:
        found = "no row" if version is None else f"version {version}"
        raise StoreError(
            f"table {t!r}: the version table has {found}, Kamailio's pua needs version {TABLE_VERSION} "
            "(mod_init refuses to start, pua-reference §1.2)",
            op="schema",
        )
    return "created" if created else "checked"
