"""A thin DB-API wrapper for the ``pua`` table: SQLite and PostgreSQL, one SQL text.

URLs (Kamailio's ``db_url``, pua-reference §1.1)
-------------------------------------------------

``sqlite://:memory:``
    a private in-memory database (puasim only; gone when closed).
``sqlite:///relative/path``
    **relative** to ``base_dir`` (default: the current directory).  This is
    db_sqlite's rule: the URL is ``sqlite://[host]/database`` and the database
    is what follows the first ``/`` after the (empty) host, so
    ``sqlite:///tmp/x`` names ``tmp/x``.  (The lab found that Kamailio only
    finds ``/tmp/x`` there because its working directory is ``/``.)
``sqlite:////abs/path``
    absolute path ``/abs/path``.
``postgres://user:pass@host:port/db`` (also ``postgresql://``)
    PostgreSQL through psycopg 3; user, password and port are optional.

Any other form raises :class:`~puasim.store.errors.StoreError` naming the rule.

One SQL text
------------
Statements use ``?`` placeholders (qmark); for PostgreSQL they are rewritten
to ``%s`` once and cached.  Both connections run in autocommit mode, so a
statement outside :meth:`Database.begin` commits by itself — exactly how
Kamailio's db_mode 0 DB sync writes (§5.5: rows written before an error stay
written).  :meth:`begin` opens an explicit transaction with the lock mode of
``db_table_lock_write`` (§1.1): SQLite ``BEGIN IMMEDIATE`` (write lock) or
``BEGIN DEFERRED``; PostgreSQL ``BEGIN`` plus ``LOCK TABLE … IN EXCLUSIVE MODE``
or no lock.

SQLAlchemy Core was considered and not used: the store needs a dozen fixed
statements, and the plain DB-API keeps one code path for both servers (see
``benchmarks/bench_store.py`` for the measured overhead).

SQLite files are opened in WAL mode with ``synchronous=NORMAL`` (as the lab
ran Kamailio's db_sqlite): a commit then costs no fsync, which keeps the
statement-by-statement writes of the DB sync fast; ``sqlite_wal=False``
leaves the file's journal mode alone.

Faults
------
:meth:`set_unreachable` makes every operation raise ``StoreError`` until
cleared; :meth:`fail_after` lets ``n`` more statements succeed and then behaves
like a lost connection: an open transaction is rolled back (its writes are
lost, as on a real connection loss) and every later operation raises until
:meth:`heal`.  Autocommitted writes made before the fault stay.
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from puasim.store import schema
from puasim.store.errors import StoreError


@dataclass(frozen=True, slots=True)
class DriverQuirks:
    """What the Kamailio DB driver behind the PUA can do (pua-reference §2.6, §3.10).

    ``generic`` is the behaviour pua-reference describes.  ``db_sqlite-5.6``
    is what the lab saw with Debian's kamailio-sqlite-modules 5.6.3
    (shared/lab/kamailio README, finding h): a C string pointer that pua
    leaves NULL for an absent value (an id the caller did not give, the
    to-tag of a temporary dialog) is bound as SQL NULL, so look-ups by an
    absent id never match and inserts hit NOT NULL; the driver has neither
    transactions nor ``affected_rows`` nor ``replace``.
    """

    name: str = "generic"
    #: absent strings (modelled as "") are bound as NULL where pua passes a NULL pointer
    null_absent: bool = False
    #: the driver reports affected rows (§3.10 reply row 7; convert via UPDATE/INSERT)
    affected_rows: bool = True
    #: the driver has start/end transaction (§3.10, §4.10)
    transactions: bool = True


GENERIC = DriverQuirks()
DB_SQLITE_56 = DriverQuirks("db_sqlite-5.6", null_absent=True, affected_rows=False, transactions=False)
QUIRKS: dict[str, DriverQuirks] = {q.name: q for q in (GENERIC, DB_SQLITE_56)}


def quirks_named(name: str) -> DriverQuirks:
    try:
        return QUIRKS[name]
    except KeyError:
        raise StoreError(f"unknown driver quirks {name!r} (known: {', '.join(QUIRKS)})", op="config") from None


@dataclass(frozen=True, slots=True)
class DbUrl:
    """A parsed ``db_url``.  ``path`` is the SQLite file (or ``:memory:``)."""

    dialect: str
    path: str = ""
    user: str = ""
    password: str = ""
    host: str = ""
    port: int = 0
    database: str = ""

    def __str__(self) -> str:
        if self.dialect == "sqlite":
            return "sqlite://:memory:" if self.path == ":memory:" else f"sqlite:///{self.database}"
        auth = self.user + (":***" if self.password else "") + ("@" if self.user else "")
        port = f":{self.port}" if self.port else ""
        return f"postgres://{auth}{self.host}{port}/{self.database}"


_SQLITE_RULE = "use sqlite://:memory:, sqlite:///relative/path or sqlite:////absolute/path"
_PG_RULE = "use postgres://[user[:password]@]host[:port]/database"


def parse_url(url: str, base_dir: str | None = None) -> DbUrl:
    """Parse a ``db_url`` by the rules in the module docstring."""
    if not isinstance(url, str) or "://" not in url:
        raise StoreError(f"db_url {url!r} has no scheme: {_SQLITE_RULE}, or {_PG_RULE}", op="url")
    scheme, rest = url.split("://", 1)
    scheme = scheme.lower()
    if scheme == "sqlite":
        if rest == ":memory:":
            return DbUrl("sqlite", path=":memory:")
        if not rest.startswith("/"):
            raise StoreError(f"db_url {url!r}: a host is not allowed for SQLite; {_SQLITE_RULE}", op="url")
        name = rest[1:]
        if not name or name == "/":
            raise StoreError(f"db_url {url!r} names no database file; {_SQLITE_RULE}", op="url")
        path = name if name.startswith("/") else os.path.join(base_dir or os.getcwd(), name)
        return DbUrl("sqlite", path=path, database=name)
    if scheme in ("postgres", "postgresql"):
        if "/" not in rest:
            raise StoreError(f"db_url {url!r} names no database; {_PG_RULE}", op="url")
        netloc, database = rest.split("/", 1)
        if not database or "/" in database:
            raise StoreError(f"db_url {url!r}: bad database name {database!r}; {_PG_RULE}", op="url")
        user = password = ""
        if "@" in netloc:
            auth, netloc = netloc.rsplit("@", 1)
            user, _, password = auth.partition(":")
        host, _, port_text = netloc.partition(":")
        if not host:
            raise StoreError(f"db_url {url!r} names no host; {_PG_RULE}", op="url")
        port = 0
        if port_text:
            if not port_text.isdigit() or not 0 < int(port_text) < 65536:
                raise StoreError(f"db_url {url!r}: bad port {port_text!r}; {_PG_RULE}", op="url")
            port = int(port_text)
        return DbUrl("postgres", user=user, password=password, host=host, port=port, database=database)
    raise StoreError(f"db_url {url!r}: unsupported scheme {scheme!r}; {_SQLITE_RULE}, or {_PG_RULE}", op="url")


def _constraint_text(exc: Exception) -> str:
    """A constraint violation in words that do not depend on the SQL backend.

    SQLite and PostgreSQL word the same violation differently; traces (and
    so their digests) must not, or the same scenario would give two outcomes.
    """
    text = str(exc)
    low = text.lower()
    if "unique" in low or "duplicate key" in low:
        return "UNIQUE constraint failed (the table's unique index)"
    if "not null" in low or "not-null" in low:
        column = getattr(getattr(exc, "diag", None), "column_name", None)
        if not column:
            found = re.search(r"NOT NULL constraint failed: [\w.]*?(\w+)$", text.strip())
            column = found.group(1) if found else "?"
        return f"NOT NULL constraint failed: {column}"
    return text


def _wrap(exc: Exception, op: str) -> StoreError:
    integrity = isinstance(exc, sqlite3.IntegrityError)
    if not integrity:
        try:
            import psycopg

            integrity = isinstance(exc, psycopg.IntegrityError)
        except ImportError:  # pragma: no cover - psycopg is optional
            pass
    detail = _constraint_text(exc) if integrity else str(exc)
    err = StoreError(f"{op}: {detail}".strip(), op=op, integrity=integrity)
    err.__cause__ = exc
    return err


class Database:
    """One connection to the database holding the ``pua`` table."""

    def __init__(
        self,
        url: str | DbUrl = "sqlite://:memory:",
        *,
        base_dir: str | None = None,
        quirks: DriverQuirks | str = GENERIC,
        schema_name: str | None = None,
        sqlite_wal: bool = True,
    ) -> None:
        self.url = url if isinstance(url, DbUrl) else parse_url(url, base_dir)
        self.sqlite_wal = sqlite_wal
        self.dialect = self.url.dialect
        self.quirks = quirks_named(quirks) if isinstance(quirks, str) else quirks
        self.schema_name = schema.check_identifier(schema_name) if schema_name else None
        #: statements executed successfully (not counting BEGIN/COMMIT/ROLLBACK)
        self.ops = 0
        #: result pages fetched by :meth:`pages`
        self.fetches = 0
        self._sql_cache: dict[str, str] = {}
        self._in_txn = False
        self._unreachable = False
        self._fail_in: int | None = None
        self.raw: Any = self._connect()

    # -- connection ----------------------------------------------------------------------
    def _connect(self) -> Any:
        u = self.url
        if u.dialect == "sqlite":
            try:
                conn: Any = sqlite3.connect(u.path, isolation_level=None)
                if self.sqlite_wal and u.path != ":memory:":
                    conn.execute("PRAGMA journal_mode=WAL")
                    conn.execute("PRAGMA synchronous=NORMAL")
                return conn
            except sqlite3.Error as exc:
                raise _wrap(exc, "connect") from exc
        try:
            import psycopg
        except ImportError as exc:  # pragma: no cover - psycopg is a declared extra
            raise StoreError("PostgreSQL needs psycopg 3 (pip install 'puasim[postgres]')", op="connect") from exc
        params: dict[str, Any] = {"host": u.host, "dbname": u.database, "autocommit": True}
        if u.port:
            params["port"] = u.port
        if u.user:
            params["user"] = u.user
        if u.password:
            params["password"] = u.password
        try:
            conn = psycopg.connect(**params)  # type: ignore[arg-type]
            if self.schema_name:
                conn.execute(f"CREATE SCHEMA IF NOT EXISTS {self.schema_name}")
                conn.execute(f"SET search_path TO {self.schema_name}")
            return conn
        except psycopg.Error as exc:
            raise _wrap(exc, "connect") from exc

    def close(self) -> None:
        if self.raw is not None:
            try:
                self.raw.close()
            finally:
                self.raw = None

    def reopen(self) -> Database:
        """A new connection to the same database (for SQLite :memory: a new, empty one)."""
        return Database(self.url, quirks=self.quirks, schema_name=self.schema_name, sqlite_wal=self.sqlite_wal)

    def ensure_schema(self, table: str = "pua") -> str:
        """:func:`puasim.store.schema.ensure_schema` on this connection."""
        self._check("schema")
        try:
            return schema.ensure_schema(self.raw, self.dialect, table)
        except StoreError:
            raise
        except Exception as exc:
            raise _wrap(exc, "schema") from exc

    # -- faults --------------------------------------------------------------------------
    @property
    def reachable(self) -> bool:
        return not self._unreachable

    def set_unreachable(self, flag: bool = True) -> None:
        """Make every operation fail (True) or work again (False)."""
        if flag and not self._unreachable:
            self._lose_transaction()
        self._unreachable = flag
        if not flag:
            self._fail_in = None

    def fail_after(self, n_ops: int) -> None:
        """Let ``n_ops`` more statements succeed, then fail like a lost connection."""
        if n_ops < 0:
            raise ValueError("fail_after needs n_ops >= 0")
        self._fail_in = n_ops

    def heal(self) -> None:
        self.set_unreachable(False)

    def _lose_transaction(self) -> None:
        if self._in_txn and self.raw is not None:
            try:
                self.raw.execute("ROLLBACK")
            except Exception:  # noqa: BLE001 - the connection is "gone" anyway
                pass
        self._in_txn = False

    def _check(self, op: str, counts: bool = False) -> None:
        if self.raw is None:
            raise StoreError(f"{op}: connection closed", op=op)
        if counts and self._fail_in is not None:
            if self._fail_in == 0:
                self._fail_in = None
                self.set_unreachable(True)
            else:
                self._fail_in -= 1
        if self._unreachable:
            raise StoreError(f"{op}: the database is unreachable (injected fault)", op=op)

    # -- statements ----------------------------------------------------------------------
    def sql(self, text: str) -> str:
        """``text`` in this connection's paramstyle."""
        if self.dialect == "sqlite":
            return text
        cached = self._sql_cache.get(text)
        if cached is None:
            cached = self._sql_cache[text] = text.replace("%", "%%").replace("?", "%s")
        return cached

    def _cursor(self, op: str, sql: str, params: Sequence[Any]) -> Any:
        self._check(op, counts=True)
        try:
            cur = self.raw.cursor()
            cur.execute(self.sql(sql), tuple(params))
        except Exception as exc:
            raise _wrap(exc, op) from exc
        self.ops += 1
        return cur

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run a statement; the number of rows it changed."""
        cur = self._cursor("execute", sql, params)
        try:
            return cur.rowcount
        finally:
            cur.close()

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        cur = self._cursor("query", sql, params)
        try:
            return list(cur.fetchall())
        except Exception as exc:
            raise _wrap(exc, "query") from exc
        finally:
            cur.close()

    def pages(self, sql: str, params: Sequence[Any] = (), size: int = 0) -> Iterator[list[tuple]]:
        """Rows in pages of ``size`` (Kamailio's ``fetch_rows``); ``size <= 0`` = one page.

        Every non-empty page counts in :attr:`fetches`; like ``db_fetch_next``
        the walk ends at the first empty page.
        """
        cur = self._cursor("query", sql, params)
        try:
            while True:
                self._check("fetch")
                try:
                    page = cur.fetchmany(size) if size > 0 else cur.fetchall()
                except Exception as exc:
                    raise _wrap(exc, "fetch") from exc
                if not page:
                    return
                self.fetches += 1
                yield list(page)
                if size <= 0:
                    return
        finally:
            cur.close()

    def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run an INSERT; the new row's ``id``."""
        if self.dialect == "postgres":
            cur = self._cursor("insert", sql + " RETURNING id", params)
            try:
                return int(cur.fetchone()[0])
            finally:
                cur.close()
        cur = self._cursor("insert", sql, params)
        try:
            return int(cur.lastrowid or 0)
        finally:
            cur.close()

    # -- transactions --------------------------------------------------------------------
    @property
    def in_transaction(self) -> bool:
        return self._in_txn

    def begin(self, lock_table: str | None = None) -> None:
        """Start a transaction; with ``lock_table`` take Kamailio's write lock (DB_LOCKING_WRITE)."""
        self._check("begin")
        if self._in_txn:
            raise StoreError("begin: a transaction is already open", op="begin")
        try:
            if self.dialect == "sqlite":
                self.raw.execute("BEGIN IMMEDIATE" if lock_table else "BEGIN DEFERRED")
            else:
                self.raw.execute("BEGIN")
                self._in_txn = True
                if lock_table:
                    self.raw.execute(f"LOCK TABLE {schema.check_identifier(lock_table)} IN EXCLUSIVE MODE")
        except Exception as exc:
            self._lose_transaction()
            raise _wrap(exc, "begin") from exc
        self._in_txn = True

    def commit(self) -> None:
        self._check("commit")
        try:
            self.raw.execute("COMMIT")
        except Exception as exc:
            self._lose_transaction()
            raise _wrap(exc, "commit") from exc
        self._in_txn = False

    def rollback(self) -> None:
        """Abort the open transaction; never raises (best effort, as abort_transaction)."""
        if self._in_txn and self.raw is not None and not self._unreachable:
            try:
                self.raw.execute("ROLLBACK")
            except Exception:  # noqa: BLE001
                pass
        self._in_txn = False

    @contextmanager
    def transaction(self, lock_table: str | None = None) -> Iterator[None]:
        """``begin`` … ``commit``; rollback when the body raises."""
        self.begin(lock_table)
        try:
            yield
        except BaseException:
            self.rollback()
            raise
        self.commit()


def open_database(url: str, **kw: Any) -> Database:
    """``Database(url, **kw)``; the name reads better at call sites."""
    return Database(url, **kw)


__all__ = [
    "DB_SQLITE_56",
    "GENERIC",
    "Database",
    "DbUrl",
    "DriverQuirks",
    "open_database",
    "parse_url",
    "quirks_named",
]
