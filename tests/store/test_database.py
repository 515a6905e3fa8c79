"""Database wrapper: URL rules, one paramstyle, transactions and lock modes, faults, paging."""

from __future__ import annotations

import sqlite3

import pytest

from puasim.store.database import DB_SQLITE_56, GENERIC, Database, parse_url, quirks_named
from puasim.store.errors import StoreError

# -- URLs ------------------------------------------------------------------------------------


def test_sqlite_memory_url():
    u = parse_url("sqlite://:memory:")
    assert (u.dialect, u.path) == ("sqlite", ":memory:")
    assert str(u) == "sqlite://:memory:"


def test_sqlite_three_slashes_is_relative_like_db_sqlite(tmp_path):
    u = parse_url("sqlite:///tmp/x.sqlite", base_dir=str(tmp_path))
    assert u.path == f"{tmp_path}/tmp/x.sqlite"
    assert str(u) == "sqlite:///tmp/x.sqlite"


def test_sqlite_four_slashes_is_absolute():
    u = parse_url("sqlite:////var/lib/pua.sqlite")
    assert u.path == "/var/lib/pua.sqlite"
    assert str(u) == "sqlite:////var/lib/pua.sqlite"


def test_postgres_url_parts():
    u = parse_url("postgres://kamailio:s3cret@db.example:5433/kamailio")
    assert (u.dialect, u.user, u.password, u.host, u.port, u.database) == (
        "postgres", "kamailio", "s3cret", "db.example", 5433, "kamailio")
    assert "s3cret" not in str(u)
    assert parse_url("postgresql://h/db").port == 0


@pytest.mark.parametrize(
    "url, words",
    [
        ("pua.sqlite", "no scheme"),
        ("mysql://kamailio:kamailiorw@localhost/kamailio", "unsupported scheme 'mysql'"),
        ("sqlite://localhost/pua.sqlite", "host is not allowed"),
        ("sqlite:///", "no database file"),
        ("postgres://host", "names no database"),
        ("postgres://u@:5432/db", "names no host"),
        ("postgres://h:99999/db", "bad port"),
        ("postgres://h:5432/a/b", "bad database name"),
    ],
)
def test_bad_urls_name_the_rule(url, words):
    with pytest.raises(StoreError) as err:
        parse_url(url)
    assert words in str(err.value)
    assert err.value.op == "url"


def test_relative_sqlite_file_is_created_under_base_dir(tmp_path):
    db = Database("sqlite:///sub.sqlite", base_dir=str(tmp_path))
    db.ensure_schema()
    db.close()
    assert (tmp_path / "sub.sqlite").exists()


def test_quirk_names():
    assert quirks_named("generic") is GENERIC
    assert quirks_named("db_sqlite-5.6") is DB_SQLITE_56
    with pytest.raises(StoreError, match="unknown driver quirks"):
        quirks_named("db_mysql")


# -- statements on both backends --------------------------------------------------------------


def test_one_paramstyle_insert_query_and_rowcount(db):
    rid = db.insert(
        "INSERT INTO pua (pres_uri, pres_id, event, expires, desired_expires, flag, etag, tuple_id, watcher_uri, "
        "call_id, to_tag, from_tag, cseq, record_route, contact, remote_contact, version, extra_headers) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        ("sip:a@x", "50%?", 1, 10, 0, 1, "e", "t", "", "", "", "", 0, "", "", "", 0, ""),
    )
    assert rid >= 1
    assert db.query("SELECT id, pres_id FROM pua WHERE pres_id = ?", ["50%?"]) == [(rid, "50%?")]
    assert db.execute("UPDATE pua SET expires = ? WHERE id = ?", [20, rid]) == 1
    assert db.execute("DELETE FROM pua WHERE id = ?", [rid + 100]) == 0


def _fill(db, n, start=0):
    for i in range(start, start + n):
        db.execute(
            "INSERT INTO pua (pres_uri, pres_id, event, expires, desired_expires, flag, etag, tuple_id, watcher_uri, "
            "call_id, to_tag, from_tag, cseq, record_route, contact, remote_contact, version, extra_headers) "
            "VALUES (?, '', 1, ?, 0, 1, ?, '', '', '', '', '', 0, '', '', '', 0, '')",
            [f"sip:u{i}@x", 100 + i, f"e{i}"],
        )


@pytest.mark.parametrize("n, size, pages", [(0, 3, 0), (7, 3, 3), (6, 3, 2), (5, 0, 1), (5, -1, 1), (2, 500, 1)])
def test_pages_follow_fetch_rows(db, n, size, pages):
    _fill(db, n)
    before = db.fetches
    got = list(db.pages("SELECT pres_uri FROM pua ORDER BY id", (), size))
    assert db.fetches - before == pages
    assert sum(len(p) for p in got) == n
    if size > 0:
        assert all(len(p) <= size for p in got)


def test_transaction_commit_and_rollback(db):
    with db.transaction():
        _fill(db, 1)
    with pytest.raises(RuntimeError):
        with db.transaction("pua"):
            _fill(db, 1, start=1)
            raise RuntimeError("boom")
    assert db.query("SELECT COUNT(*) FROM pua") == [(1,)]
    assert not db.in_transaction


def test_begin_twice_is_an_error(db):
    db.begin()
    with pytest.raises(StoreError, match="already open"):
        db.begin()
    db.rollback()


# -- lock modes (db_table_lock_write, §1.1) ---------------------------------------------------


def test_sqlite_write_lock_is_begin_immediate(tmp_path):
    url = f"sqlite:///{tmp_path}/lock.sqlite"
    a = Database(url)
    a.ensure_schema()
    other = sqlite3.connect(f"{tmp_path}/lock.sqlite", timeout=0, isolation_level=None)
    a.begin("pua")  # BEGIN IMMEDIATE: the write lock is taken at once
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        other.execute("BEGIN IMMEDIATE")
    a.rollback()
    a.begin(None)  # BEGIN DEFERRED: nothing locked until the first write
    other.execute("BEGIN IMMEDIATE")
    other.execute("ROLLBACK")
    a.rollback()
    other.close()
    a.close()


def _pg_locks(db) -> set[str]:
    rows = db.query(
        "SELECT mode FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
        "WHERE c.relname = 'pua' AND l.pid = pg_backend_pid()"
    )
    return {r[0] for r in rows}


@pytest.mark.postgres
def test_postgres_write_lock_is_lock_table_exclusive(pg_url):
    db = Database(pg_url, schema_name="puasim_locktest")
    try:
        db.ensure_schema()
        db.begin("pua")
        assert "ExclusiveLock" in _pg_locks(db)
        db.rollback()
        db.begin(None)
        assert "ExclusiveLock" not in _pg_locks(db)
        db.rollback()
    finally:
        db.execute("DROP SCHEMA puasim_locktest CASCADE")
        db.close()


# -- faults -----------------------------------------------------------------------------------


def test_unreachable_fails_everything_until_cleared(db):
    db.set_unreachable(True)
    assert not db.reachable
    for call in (lambda: db.query("SELECT 1"), lambda: db.execute("DELETE FROM pua"), lambda: db.begin()):
        with pytest.raises(StoreError, match="unreachable"):
            call()
    db.set_unreachable(False)
    assert db.query("SELECT COUNT(*) FROM pua") == [(0,)]


def test_fail_after_n_keeps_autocommitted_rows_and_loses_the_open_transaction(db):
    _fill(db, 2)  # autocommitted
    db.fail_after(1)
    db.begin()
    _fill(db, 1, start=10)  # op 1 succeeds inside the transaction
    with pytest.raises(StoreError, match="unreachable"):
        _fill(db, 1, start=11)  # op 2: the connection is "lost"
    assert not db.in_transaction
    with pytest.raises(StoreError):
        db.query("SELECT 1")
    db.heal()
    assert db.query("SELECT COUNT(*) FROM pua") == [(2,)]


def test_statement_errors_become_store_errors_with_integrity_flag(db):
    with pytest.raises(StoreError) as err:
        db.execute("INSERT INTO pua (pres_uri) VALUES (?)", ["sip:a@x"])
    assert err.value.integrity
    with pytest.raises(StoreError) as err:
        db.execute("SELECT no_such_column FROM pua")
    assert not err.value.integrity


def test_closed_connection_raises(open_db):
    d = open_db()
    d.close()
    with pytest.raises(StoreError, match="closed"):
        d.query("SELECT 1")
