"""Fixtures for the store tests: one database per test, on SQLite and on PostgreSQL.

PostgreSQL: ``PUASIM_PG_URL`` (``postgres://user:pass@host:port/db``) names a
server to use; otherwise a throw-away cluster is started once per session
(:mod:`tests.store.pgcluster`).  Tests marked ``postgres`` skip only when no
PostgreSQL binaries exist (Debian: ``apt-get install -y postgresql``).
Each test gets its own PostgreSQL schema, dropped afterwards.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator

import pytest

from puasim.store.database import Database
from tests.store.pgcluster import PgCluster, find_pg_bin

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
_schema_ids = itertools.count(1)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    url = os.environ.get("PUASIM_PG_URL")
    if url:
        yield url
        return
    bindir = find_pg_bin()
    if bindir is None:
        pytest.skip("no PostgreSQL binaries (initdb/pg_ctl) found: apt-get install -y postgresql")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg 3 is not installed: pip install 'psycopg[binary]'")
    cluster = PgCluster(bindir).start()
    try:
        yield cluster.url
    finally:
        cluster.stop()


OpenDb = Callable[..., Database]


@pytest.fixture(params=BACKENDS)
def open_db(request: pytest.FixtureRequest, tmp_path) -> Iterator[OpenDb]:
    """``open_db(**kw)`` → a new connection to this test's (initially empty) database.

    Every call connects to the same database, so a second store can read
    what the first one wrote.
    """
    opened: list[Database] = []
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/pua.sqlite"  # tmp_path is absolute: sqlite:////abs/...
        schema = None
    else:
        url = request.getfixturevalue("pg_url")
        schema = f"puasim_t{os.getpid()}_{next(_schema_ids)}"

    def _open(**kw) -> Database:
        if schema:
            kw.setdefault("schema_name", schema)
        db = Database(url, **kw)
        opened.append(db)
        return db

    yield _open
    for db in opened:
        db.close()
    if schema:
        admin = Database(url)
        try:
            admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        finally:
            admin.close()


@pytest.fixture
def db(open_db: OpenDb) -> Database:
    """A connection with the pua table created."""
    d = open_db()
    d.ensure_schema()
    return d
