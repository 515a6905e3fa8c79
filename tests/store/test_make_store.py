"""make_store: which store a PuaConfig gets; the store layer stands without puasim.pua."""

from __future__ import annotations

import subprocess
import sys

import pytest

from puasim.pua.config import load_config
from puasim.store import MemoryStore, SqlBackedMemoryStore, SqlStore, StoreError, make_store


def test_db_mode_0_without_database_is_memory():
    store = make_store(load_config(hash_size=4, check_remote_contact=0))
    assert type(store) is MemoryStore
    assert store.table.size == 16 and store.check_remote_contact == 0
    with store.transaction():  # a no-op, so callers need not ask
        pass


def test_db_mode_0_with_database_is_sql_backed(open_db):
    db = open_db()
    store = make_store(load_config(db_mode=0), db)
    assert type(store) is SqlBackedMemoryStore and store.db_mode == 0
    assert db.query("SELECT table_version FROM version WHERE table_name = 'pua'") == [(7,)]


def test_db_modes_other_than_2_behave_as_0(open_db):
    cfg = load_config(db_mode=1)
    assert cfg.db_mode == 0
    assert type(make_store(cfg, open_db())) is SqlBackedMemoryStore


def test_db_mode_2_is_sql_with_config(open_db):
    db = open_db()
    cfg = load_config(db_mode=2, db_table="pua2", profile="kamailio-master", db_table_lock_write=0, fetch_rows=7)
    store = make_store(cfg, db)
    assert type(store) is SqlStore
    assert (store.db_table, store.profile, store.lock_write, store.fetch_rows) == ("pua2", "kamailio-master", False, 7)


def test_db_mode_2_needs_a_database():
    with pytest.raises(StoreError, match="requires|required"):
        make_store(load_config(db_mode=2))


def test_a_mismatching_table_refuses_to_start(open_db):
    db = open_db()
    db.ensure_schema()
    db.execute("UPDATE version SET table_version = 8 WHERE table_name = 'pua'")
    with pytest.raises(StoreError, match="needs version 7"):
        make_store(load_config(db_mode=2), db)


def test_store_layer_imports_without_the_pua_package():
    code = "import sys, puasim.store; assert not any(m.startswith('puasim.pua') for m in sys.modules), sorted(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True)
