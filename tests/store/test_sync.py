"""db_mode 0 DB sync (``db_update``, pua-reference §5.5, B12), row by row."""

from __future__ import annotations

from puasim.store.database import DB_SQLITE_56
from puasim.store.memory import SqlBackedMemoryStore
from tests.store.helpers import (
    ALICE,
    CAROL,
    INSERTDB,
    NO_UPDATEDB,
    NOW,
    UPDATEDB,
    FakePua,
    dialog,
    publication,
    rows,
)


def _store(db, size=512):
    return SqlBackedMemoryStore(db, size)


def _add(store, rec, flag=INSERTDB):
    rec.db_flag = flag
    store.insert(rec)
    return rec


def test_insertdb_writes_all_18_columns_with_empty_strings(db):
    store, pua = _store(db), FakePua()
    p = _add(store, publication(extra_headers="X-A: 1\r\n"))
    res = store.db_sync(NOW, pua)
    assert (res.inserted, res.aborted) == (1, False)
    assert rows(db)[0][1:] == (
        ALICE, "", 1, NOW + 3600, NOW + 3600, 128, "e1", "t-alice", "", "", "", "", 0, "", "", "", 0, "X-A: 1\r\n",
    )
    assert p.db_flag == NO_UPDATEDB
    assert [(w.op, w.rows) for w in pua.outbox.writes()] == [("insert", 1), ("delete", 0)]


def test_insertdb_dialog_columns(db):
    store = _store(db)
    _add(store, dialog(record_route="<sip:p1;lr>", version=3))
    store.db_sync(NOW)
    (row,) = rows(db)
    assert row[9:18] == ("sip:bob@127.0.0.1:5070", "c1", "srv1", "f-c1", 10, "<sip:p1;lr>",
                         "sip:bob@127.0.0.1:5070", "sip:presence@127.0.0.1:5060", 3)


def test_no_updatedb_writes_nothing(db):
    store, pua = _store(db), FakePua()
    _add(store, publication(), NO_UPDATEDB)
    res = store.db_sync(NOW, pua)
    assert (res.inserted, res.updated) == (0, 0)
    assert rows(db) == []
    assert [w.op for w in pua.outbox.writes()] == ["delete"]


def test_updatedb_updates_five_columns_only(db):
    store = _store(db)
    p = _add(store, dialog(record_route="<sip:p1;lr>"))
    store.db_sync(NOW)
    p.expires, p.cseq, p.desired_expires, p.version = NOW + 900, 11, NOW + 1000, 2
    p.remote_contact, p.contact, p.record_route, p.extra_headers = "sip:new@h", "sip:c2@h", "<sip:p2;lr>", "X-B: 2\r\n"
    p.db_flag = UPDATEDB
    res = store.db_sync(NOW)
    assert res.updated == 1 and p.db_flag == NO_UPDATEDB
    row = rows(db, "expires, cseq, desired_expires, version, remote_contact, contact, record_route, extra_headers")[0]
    # remote_contact / contact / record_route / extra_headers are not written by UPDATE (B12)
    assert row == (NOW + 900, 11, NOW + 1000, 2, "sip:presence@127.0.0.1:5060", "sip:bob@127.0.0.1:5070", "<sip:p1;lr>", "")


def test_updatedb_publication_writes_new_etag(db):
    store = _store(db)
    p = _add(store, publication())
    store.db_sync(NOW)
    p.etag, p.version, p.db_flag = "e2", 1, UPDATEDB
    store.db_sync(NOW)
    assert rows(db, "etag, version") == [("e2", 1)]


def test_updatedb_key_includes_flag_and_event(db):
    store = _store(db)
    p = _add(store, publication())
    store.db_sync(NOW)
    p.flag, p.etag, p.db_flag = 64, "e2", UPDATEDB  # another key: no row matches
    res = store.db_sync(NOW)
    assert (res.updated, res.missing) == (0, 1)
    assert rows(db, "flag, etag") == [(128, "e1")]


def test_updatedb_without_row_does_not_insert_b12(db):
    store, pua = _store(db), FakePua()
    p = _add(store, publication(), UPDATEDB)
    res = store.db_sync(NOW, pua)
    assert (res.missing, res.inserted) == (1, 0)
    assert rows(db) == []
    assert p.db_flag == NO_UPDATEDB  # and so it never reaches the table
    assert "B12" in pua.outbox.notes("debug")[0].text
    store.db_sync(NOW + 1)
    assert rows(db) == []


def test_expired_records_are_skipped_and_keep_their_flag(db):
    store = _store(db)
    gone = _add(store, publication(CAROL, expires=NOW - 1))
    edge = _add(store, publication(ALICE, expires=NOW))  # expires == now is not "< now"
    res = store.db_sync(NOW)
    assert (res.skipped_expired, res.inserted) == (1, 1)
    assert gone.db_flag == INSERTDB and edge.db_flag == NO_UPDATEDB
    assert rows(db, "pres_uri") == [(ALICE,)]


def test_final_delete_removes_rows_expired_more_than_10s(db):
    store = _store(db)
    for i, exp in enumerate((NOW - 11, NOW - 10, NOW + 5)):
        db.execute(
            "INSERT INTO pua (pres_uri, pres_id, event, expires, desired_expires, flag, etag, tuple_id, watcher_uri, "
            "call_id, to_tag, from_tag, cseq, record_route, contact, remote_contact, version, extra_headers) "
            "VALUES (?, '', 1, ?, 0, 1, ?, '', '', '', '', '', 0, '', '', '', 0, '')",
            [f"sip:u{i}@x", exp, f"e{i}"],
        )
    res = store.db_sync(NOW)
    assert res.deleted == 1
    assert rows(db, "expires") == [(NOW - 10,), (NOW + 5,)]


def test_db_error_aborts_the_rest_of_the_run_and_keeps_earlier_rows(db):
    store, pua = _store(db, size=1), FakePua()  # one bucket: newest first
    recs = [_add(store, publication(f"sip:u{i}@x", etag=f"e{i}")) for i in range(4)]
    db.execute(  # an old row that the final DELETE would remove
        "INSERT INTO pua (pres_uri, pres_id, event, expires, desired_expires, flag, etag, tuple_id, watcher_uri, "
        "call_id, to_tag, from_tag, cseq, record_route, contact, remote_contact, version, extra_headers) "
        "VALUES ('sip:old@x', '', 1, ?, 0, 1, 'old', '', '', '', '', '', 0, '', '', '', 0, '')", [NOW - 100])
    db.fail_after(2)
    res = store.db_sync(NOW, pua)
    assert res.aborted and res.inserted == 2
    db.heal()
    # u3 and u2 (newest first) were written and stay; u1 failed, u0 was never tried
    assert rows(db, "pres_uri") == [("sip:old@x",), ("sip:u3@x",), ("sip:u2@x",)]
    assert [r.db_flag for r in recs] == [INSERTDB, INSERTDB, NO_UPDATEDB, NO_UPDATEDB]
    assert pua.outbox.writes()[-1].detail.startswith("error:")
    assert "1 later record(s) not synced" in pua.outbox.notes("error")[0].text
    res = store.db_sync(NOW, pua)  # next run finishes the job
    assert (res.inserted, res.deleted, res.aborted) == (2, 1, False)
    assert rows(db, "pres_uri") == [("sip:u3@x",), ("sip:u2@x",), ("sip:u1@x",), ("sip:u0@x",)]


def test_unreachable_database_writes_nothing(db):
    store, pua = _store(db), FakePua()
    p = _add(store, publication())
    db.set_unreachable(True)
    res = store.db_sync(NOW, pua)
    assert res.aborted and p.db_flag == INSERTDB
    db.set_unreachable(False)
    assert rows(db) == []


def test_unique_violation_on_insert_aborts_like_kamailio_issue_104(db):
    """A temporary dialog flushed before its 2xx leaves a row (etag '', tuple_id '',
    call_id, from_tag); the established record replacing it in memory is INSERTDB
    and collides with that row on the unique pua_idx.  Kamailio logs the insert
    error and abandons the run — every run, until the dialog record expires."""
    store, pua = _store(db, size=1), FakePua()
    temp = _add(store, dialog(to_tag="", expires=NOW + 64))
    store.db_sync(NOW, pua)
    other = _add(store, publication(CAROL))
    est = dialog()  # linked at the head: synced before carol
    store.convert_temporary(dict(pres_uri=ALICE, watcher_uri=temp.watcher_uri, call_id="c1", from_tag="f-c1"), est)
    for _ in range(2):
        res = store.db_sync(NOW + 1, pua)
        assert res.aborted and est.db_flag == INSERTDB
    err = [w for w in pua.outbox.writes("insert") if w.detail.startswith("error:")]
    assert len(err) == 2 and "UNIQUE" in err[0].detail.upper()
    assert rows(db, "to_tag") == [("",)]  # only the stale temporary row
    assert other.db_flag == INSERTDB  # behind the failing record: never written
    res = store.db_sync(NOW + 65, pua)  # the stale row's expiry passed, but DELETE never runs
    assert res.aborted and rows(db, "to_tag") == [("",)]
    res = store.db_sync(NOW + 601, pua)  # the dialog itself expired: skipped, the run completes
    assert (res.aborted, res.inserted, res.skipped_expired, res.deleted) == (False, 1, 1, 1)
    assert rows(db, "pres_uri") == [(CAROL,)]


def test_db_sqlite_quirk_established_dialog_without_id_fails_not_null(open_db):
    """Lab finding h: with db_sqlite 5.6 subscription records never reach the table
    (``NOT NULL constraint failed: pua.pres_id``); publications without id are written ''."""
    db = open_db(quirks=DB_SQLITE_56)
    db.ensure_schema()
    store, pua = SqlBackedMemoryStore(db, 1), FakePua()
    _add(store, publication())
    _add(store, dialog())  # newest: synced first, fails, aborts the run
    res = store.db_sync(NOW, pua)
    assert res.aborted and "pres_id" in res.error
    assert rows(db) == []
    store2 = SqlBackedMemoryStore(db, 1)
    _add(store2, publication())
    _add(store2, dialog(id="sub-1"))
    assert not store2.db_sync(NOW).aborted
    assert rows(db, "pres_id") == [("sub-1",), ("",)]


def test_sync_without_pua_uses_bound_emitter(db):
    store = _store(db)
    events = []
    store.bind(events.append)
    _add(store, publication())
    store.db_sync(NOW)
    assert [e.op for e in events] == ["insert", "delete"]


def test_snapshot_is_the_sweep_order_of_iteration(db):
    store = _store(db, size=4)
    recs = [_add(store, publication(f"sip:u{i}@127.0.0.1", etag=f"e{i}")) for i in range(12)]
    snap = store.snapshot()
    assert snap == list(store.records()) and sorted(map(id, snap)) == sorted(map(id, recs))


def test_a_sync_skips_unchanged_records_between_changed_ones(db):
    store, pua = _store(db, size=1), FakePua()
    a = _add(store, publication("sip:a@127.0.0.1"), NO_UPDATEDB)
    b = _add(store, publication("sip:b@127.0.0.1"))
    res = store.db_sync(NOW, pua)
    assert (res.inserted, a.db_flag, b.db_flag) == (1, NO_UPDATEDB, NO_UPDATEDB)
    assert [(w.op, w.rows) for w in pua.outbox.writes()] == [("insert", 1), ("delete", 0)]
