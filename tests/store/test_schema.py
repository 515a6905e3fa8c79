"""The pua table (pua-reference §8): same DDL as Kamailio 5.6, create-or-check, version 7."""

from __future__ import annotations

import os
import re
import sqlite3

import pytest

from puasim.store import schema
from puasim.store.database import Database
from puasim.store.errors import StoreError

KAMAILIO_SQLITE = "/usr/share/kamailio/db_sqlite"
KAMAILIO_PG = "/usr/share/kamailio/postgres"


def _kamailio_pua_script(folder: str) -> str:
    """``standard-create.sql`` (version table) + the pua part of ``presence-create.sql``."""
    with open(os.path.join(folder, "standard-create.sql")) as f:
        standard = f.read()
    with open(os.path.join(folder, "presence-create.sql")) as f:
        presence = f.read()
    start = presence.index("CREATE TABLE pua (")
    end = presence.index("INSERT INTO version (table_name, table_version) values ('pua','7');", start)
    return standard + "\n" + presence[start:end] + "INSERT INTO version (table_name, table_version) values ('pua','7');\n"


def test_columns_in_kamailio_order():
    assert schema.COLUMN_NAMES == (
        "id", "pres_uri", "pres_id", "event", "expires", "desired_expires", "flag", "etag", "tuple_id",
        "watcher_uri", "call_id", "to_tag", "from_tag", "cseq", "record_route", "contact", "remote_contact",
        "version", "extra_headers",
    )
    nullable = {c.name for c in schema.PUA_COLUMNS if not c.not_null}
    assert nullable == {"tuple_id", "record_route"}
    assert schema.TABLE_VERSION == 7


def test_create_then_check(open_db):
    db = open_db()
    assert db.ensure_schema() == "created"
    assert db.ensure_schema() == "checked"
    assert schema.table_version(db.raw, db.dialect) == 7
    assert db.query("SELECT table_version FROM version WHERE table_name = 'version'") == [(1,)]


def test_no_column_has_a_default(db):
    desc = schema.describe(db.raw, db.dialect)
    if db.dialect == "sqlite":
        assert all(c[3] is None for c in desc["columns"])
    else:  # SERIAL's nextval() on id is the only default, as in Kamailio's SERIAL column
        defaults = {c[0]: c[4] for c in desc["columns"] if c[4] is not None}
        assert list(defaults) == ["id"] and defaults["id"].startswith("nextval(")


def test_unique_index_rejects_duplicate_dialog_keys(db):
    sql = (
        "INSERT INTO pua (pres_uri, pres_id, event, expires, desired_expires, flag, etag, tuple_id, watcher_uri, "
        "call_id, to_tag, from_tag, cseq, record_route, contact, remote_contact, version, extra_headers) "
        "VALUES ('sip:a@x', '', 1, 1, 1, 256, '', '', 'sip:b@x', 'cid', ?, 'ftag', 10, '', '', '', 0, '')"
    )
    db.execute(sql, [""])
    with pytest.raises(StoreError) as err:
        db.execute(sql, ["totag"])
    assert err.value.integrity


def test_wrong_column_order_is_refused(open_db):
    db = open_db()
    cols = list(schema.PUA_COLUMNS)
    cols[1], cols[2] = cols[2], cols[1]
    body = ",\n".join(f"{c.name} {getattr(c, db.dialect)}" for c in cols)
    db.execute(f"CREATE TABLE pua ({body})")
    with pytest.raises(StoreError, match="in this order"):
        db.ensure_schema()


def test_other_version_is_refused(open_db):
    db = open_db()
    db.ensure_schema()
    db.execute("UPDATE version SET table_version = 6 WHERE table_name = 'pua'")
    with pytest.raises(StoreError, match="version 6.*needs version 7"):
        db.ensure_schema()


def test_existing_table_without_version_row_is_refused(open_db):
    db = open_db()
    db.ensure_schema()
    db.execute("DELETE FROM version WHERE table_name = 'pua'")
    with pytest.raises(StoreError, match="no row"):
        db.ensure_schema()


def test_other_table_name(open_db):
    db = open_db()
    assert db.ensure_schema("pua_b") == "created"
    assert db.query("SELECT table_version FROM version WHERE table_name = 'pua_b'") == [(7,)]
    with pytest.raises(StoreError, match="invalid table name"):
        db.ensure_schema("pua; DROP TABLE version")


def test_create_script_runs_in_sqlite():
    conn = sqlite3.connect(":memory:")
    conn.executescript(schema.create_script("sqlite"))
    assert schema.ensure_schema(conn, "sqlite") == "checked"


# -- equality with Kamailio's own files ---------------------------------------------------------


def _norm_sql(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().rstrip(";")


@pytest.mark.skipif(
    not os.path.exists(os.path.join(KAMAILIO_SQLITE, "presence-create.sql")),
    reason="Kamailio's SQLite schema is absent: apt-get install -y kamailio-sqlite-modules",
)
def test_sqlite_schema_equals_kamailio_presence_create_sql():
    theirs = sqlite3.connect(":memory:")
    theirs.executescript(_kamailio_pua_script(KAMAILIO_SQLITE))
    ours = sqlite3.connect(":memory:")
    schema.ensure_schema(ours, "sqlite")
    assert schema.describe(ours, "sqlite") == schema.describe(theirs, "sqlite")
    master = "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name"
    assert [(*r[:3], _norm_sql(r[3])) for r in ours.execute(master)] == [
        (*r[:3], _norm_sql(r[3])) for r in theirs.execute(master)
    ]
    version = "SELECT table_name, table_version FROM version ORDER BY table_name"
    assert ours.execute(version).fetchall() == theirs.execute(version).fetchall()
    # and Kamailio's database passes puasim's check
    assert schema.ensure_schema(theirs, "sqlite") == "checked"


@pytest.mark.postgres
@pytest.mark.skipif(
    not os.path.exists(os.path.join(KAMAILIO_PG, "presence-create.sql")),
    reason="Kamailio's PostgreSQL schema is absent: apt-get install -y kamailio-postgres-modules",
)
def test_postgres_schema_equals_kamailio_presence_create_sql(pg_url):
    theirs = Database(pg_url, schema_name="puasim_kam_theirs")
    ours = Database(pg_url, schema_name="puasim_kam_ours")
    try:
        theirs.raw.execute(_kamailio_pua_script(KAMAILIO_PG))
        ours.ensure_schema()
        t, o = schema.describe(theirs.raw, "postgres"), schema.describe(ours.raw, "postgres")
        assert o["columns"] == t["columns"]
        assert o["indexes"] == t["indexes"]
        assert theirs.ensure_schema() == "checked"
    finally:
        theirs.execute("DROP SCHEMA puasim_kam_theirs CASCADE")
        ours.execute("DROP SCHEMA puasim_kam_ours CASCADE")
        theirs.close()
        ours.close()
