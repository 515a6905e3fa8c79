"""Start-up restore (§5.6, B13), shutdown (§5.7, B11) and tables shared between stores."""

from __future__ import annotations

import math

import pytest

from puasim.store.errors import KamailioCrash
from puasim.store.memory import SqlBackedMemoryStore
from puasim.store.sql import SqlStore
from tests.store.helpers import (
    ALICE,
    BOB,
    CAROL,
    INSERTDB,
    NO_UPDATEDB,
    NOW,
    UPDATEDB,
    FakePua,
    dialog,
    fields,
    publication,
    rows,
)

INSERT = (
    "INSERT INTO pua (pres_uri, pres_id, event, expires, desired_expires, flag, etag, tuple_id, watcher_uri, "
    "call_id, to_tag, from_tag, cseq, record_route, contact, remote_contact, version, extra_headers) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _write(db, recs):
    """Rows as the DB sync writes them."""
    store = SqlBackedMemoryStore(db)
    for r in recs:
        r.db_flag = INSERTDB
        store.insert(r)
    assert not store.db_sync(NOW - 10_000).aborted  # nothing counts as expired at that time
    return store


@pytest.mark.parametrize("n, fetch_rows", [(7, 3), (6, 3), (5, 500), (5, 1), (4, 0)])
def test_restore_reads_in_pages_of_fetch_rows(open_db, n, fetch_rows):
    db = open_db()
    db.ensure_schema()
    _write(db, [publication(f"sip:u{i}@x", etag=f"e{i}") for i in range(n)])
    store = SqlBackedMemoryStore(open_db())
    events = []
    store.bind(events.append)
    got = store.restore(NOW, fetch_rows)
    assert len(got) == len(store) == n
    assert store.restore_fetches == (math.ceil(n / fetch_rows) if fetch_rows > 0 else 1)
    assert rows(db) == []  # DELETE FROM pua after reading
    pages = [n - i * fetch_rows if fetch_rows > 0 else n for i in range(store.restore_fetches)]
    pages = [min(p, fetch_rows) if fetch_rows > 0 else p for p in pages]
    assert [(e.op, e.rows) for e in events] == [*(("select", p) for p in pages), ("delete", n)]
    assert all(r.db_flag == INSERTDB and r.row_id == 0 for r in got)


def test_empty_table_is_not_deleted_from(db):
    store = SqlBackedMemoryStore(db)
    events = []
    store.bind(events.append)
    ops = db.ops
    assert store.restore(NOW, 500) == []
    assert db.ops == ops + 1 and events == []  # only the SELECT ran


def test_restore_quirks_b13(db):
    pub = publication(expires=NOW - 500, version=5, extra_headers="X-A: 1\r\n")  # expired
    dlg = dialog(CAROL, version=4, record_route="<sip:p1;lr>,<sip:p2;lr>", expires=NOW - 1)
    _write(db, [pub, dlg])
    store = SqlBackedMemoryStore(db)
    by_kind = {r.kind: r for r in store.restore(NOW, 500)}
    p, d = by_kind["publication"], by_kind["dialog"]
    assert fields(p, "version") == fields(pub, "version")  # expired rows come back
    assert p.version == 0  # publication versions restart at 0
    assert fields(d) == fields(dlg)  # dialog rows keep version, route, contacts
    assert d.version == 4


def test_restore_null_tuple_id_with_etag_crashes(db):
    db.execute(INSERT, [ALICE, "", 8, NOW + 60, NOW + 60, 1, "e1", None, "", "", "", "", 0, None, "", "", 0, ""])
    with pytest.raises(KamailioCrash, match="NULL tuple_id"):
        SqlBackedMemoryStore(db).restore(NOW, 500)


def test_restore_null_record_route_is_empty(db):
    db.execute(INSERT, [ALICE, "", 1, NOW + 60, 0, 256, "", "", BOB, "c", "t", "f", 10, None, BOB, "sip:r@h", 2, ""])
    (rec,) = SqlBackedMemoryStore(db).restore(NOW, 500)
    assert rec.record_route == "" and rec.version == 2


def test_restore_kamailio_written_rows_from_the_lab(db):
    """Rows as Kamailio 5.6 wrote them (lab h: results/h2 log, db_mode 2)."""
    db.execute(INSERT, [ALICE, "", 1, 1795739705, 1795739705, 128, "a.1795736101.997.1.0", "t-alice-1",
                        "", "", "", "", 0, "", "", "", 0, ""])
    db.execute(INSERT, [CAROL, "carol-pidf", 1, 1795739705, 1795739705, 128, "a.1795736101.997.4.1", "t-carol-1",
                        "", "", "", "", 0, "", "", "", 1, ""])
    store = SqlBackedMemoryStore(db)
    got = {r.pres_uri: r for r in store.restore(1795736105, 500)}
    assert got[CAROL].id == "carol-pidf" and got[CAROL].etag == "a.1795736101.997.4.1" and got[CAROL].version == 0
    assert store.find_publication(pres_uri=ALICE, flag=128, event=1, id="", etag="") is got[ALICE]


def test_restore_error_raises_store_error(db):
    from puasim.store.errors import StoreError

    db.set_unreachable(True)
    with pytest.raises(StoreError):
        SqlBackedMemoryStore(db).restore(NOW, 500)


# -- shutdown (§5.7) -----------------------------------------------------------------------------


def test_shutdown_does_not_flush_b11(open_db):
    db = open_db()
    db.ensure_schema()
    store = _write(db, [publication()])
    (rec,) = list(store.records())
    rec.etag, rec.db_flag = "e2", UPDATEDB  # a change after the last sync
    pua = FakePua()
    assert store.shutdown(NOW, pua) is None
    assert "B11" in pua.outbox.notes("info")[0].text
    (restored,) = SqlBackedMemoryStore(open_db()).restore(NOW, 500)
    assert restored.etag == "e1"  # the change is lost across the restart


def test_fixed_shutdown_flushes_once(open_db):
    db = open_db()
    db.ensure_schema()
    store = _write(db, [publication()])
    (rec,) = list(store.records())
    rec.etag, rec.db_flag = "e2", UPDATEDB
    res = store.shutdown(NOW, FakePua(), fixed=True)
    assert res.updated == 1
    (restored,) = SqlBackedMemoryStore(open_db()).restore(NOW, 500)
    assert restored.etag == "e2"


# -- interchangeability ------------------------------------------------------------------------


def test_table_written_by_one_store_is_restored_by_a_new_one(open_db):
    db = open_db()
    db.ensure_schema()
    originals = [
        publication(ALICE, etag="e1", version=0, extra_headers="X-A: 1\r\n"),
        publication(CAROL, id="carol-pidf", etag="e9", tuple_id="", event=8),
        dialog(ALICE, record_route="<sip:p1;lr>", version=0),
        dialog(CAROL, call_id="c2", id="sub-2", to_tag="srv2"),
    ]
    _write(db, originals)
    before = rows(db, "pres_uri, pres_id, event, expires, desired_expires, flag, etag, tuple_id, watcher_uri, call_id, "
                      "to_tag, from_tag, cseq, record_route, contact, remote_contact, version, extra_headers")
    second = SqlBackedMemoryStore(open_db())
    restored = second.restore(NOW, 2)
    key = lambda r: (r.pres_uri, r.call_id)  # noqa: E731
    assert [fields(r) for r in sorted(restored, key=key)] == [fields(r) for r in sorted(originals, key=key)]
    second.db_sync(NOW, FakePua())  # written back unchanged
    after = rows(db, "pres_uri, pres_id, event, expires, desired_expires, flag, etag, tuple_id, watcher_uri, call_id, "
                     "to_tag, from_tag, cseq, record_route, contact, remote_contact, version, extra_headers")
    assert sorted(after) == sorted(before)
    assert all(r.db_flag == NO_UPDATEDB for r in second.records())


def test_db_mode_2_table_restored_in_db_mode_0(open_db):
    db = open_db()
    db.ensure_schema()
    sql = SqlStore(db)
    sql.insert(publication(ALICE, id="a1"))
    sql.insert(dialog(CAROL, to_tag=""))
    restored = SqlBackedMemoryStore(open_db()).restore(NOW, 500)
    assert sorted((r.kind, r.pres_uri, r.id) for r in restored) == [("publication", ALICE, "a1"), ("temporary", CAROL, "")]
