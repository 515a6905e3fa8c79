"""db_mode 2 (``pua_db.c``): pua-reference §2.6, §3.10, §4.10, §5.8, §11.1; B1, B7, B28, B29."""

from __future__ import annotations

import sqlite3

import pytest

from puasim.store.database import DB_SQLITE_56
from puasim.store.errors import KamailioCrash, StoreError
from puasim.store.sql import SqlStore
from tests.store.helpers import ALICE, BOB, CAROL, NOW, dialog, publication, rows

PUB_KEY = dict(flag=128, event=1)


@pytest.fixture(params=["kamailio-5.6", "kamailio-master"])
def profile(request):
    return request.param


def _store(db, **kw):
    store = SqlStore(db, **kw)
    store.events = []
    store.bind(store.events.append)
    return store


# -- PUBLISH look-up (§2.6 vs §11.1) -------------------------------------------------------------


def test_insert_publication_row(db):
    s = _store(db)
    p = publication(id="a1", tuple_id="")
    s.insert(p)
    assert p.row_id == rows(db)[0][0]
    assert rows(db)[0][1:] == (ALICE, "a1", 1, NOW + 3600, NOW + 3600, 128, "e1", "", "", "", "", "", 0, "", "", "", 0, "")
    assert [(e.op, e.rows) for e in s.events] == [("insert", 1)]


def test_lookup_by_id_and_etag_ignores_flag_and_event(db, profile):
    s = _store(db, profile=profile)
    s.insert(publication(id="a1", flag=1, event=8))
    found = s.find_publication(pres_uri=ALICE, flag=4096, event=64, id="a1", etag="")
    assert found is not None and found.id == "a1" and found.row_id > 0
    assert s.find_publication(pres_uri=ALICE, id="a1", etag="e1", **PUB_KEY) is not None
    assert s.find_publication(pres_uri=ALICE, id="a1", etag="other", **PUB_KEY) is None
    assert s.find_publication(pres_uri=ALICE, id="", etag="", **PUB_KEY) is None  # '' must equal the stored id


def test_5_6_3_lookup_has_no_pres_uri_master_has(db, profile):
    s = _store(db, profile=profile)
    s.insert(publication(CAROL, id="shared"))
    found = s.find_publication(pres_uri=ALICE, id="shared", etag="", **PUB_KEY)
    if profile == "kamailio-5.6":
        assert found is not None and found.pres_uri == CAROL  # another presentity's row
    else:
        assert found is None


def test_empty_ids_of_two_presentities_collide_in_5_6_3(db, profile):
    s = _store(db, profile=profile)
    s.insert(publication(ALICE, etag="ea"))
    s.insert(publication(CAROL, etag="ec"))
    found = s.find_publication(pres_uri=ALICE, id="", etag="", **PUB_KEY)
    if profile == "kamailio-5.6":
        assert found is None  # "too many rows": treated as a new publication
        assert "too many rows (2)" in s.events[-1].text
    else:
        assert found is not None and found.etag == "ea"


def test_delete_publication_by_pres_id_only_b7(db):
    s = _store(db)
    s.insert(publication(ALICE, etag="ea"))
    s.insert(publication(CAROL, etag="ec"))
    s.insert(dialog(ALICE, to_tag=""))  # a temporary dialog without id
    s.insert(publication(ALICE, id="keep", etag="ek"))
    gone = s.delete_publication(pres_uri=ALICE, id="", etag="", **PUB_KEY)  # a failed initial PUBLISH
    assert sorted(r.pres_uri for r in gone) == [ALICE, ALICE, CAROL]
    assert rows(db, "pres_id") == [("keep",)]


def test_delete_publication_with_etag(db):
    s = _store(db)
    s.insert(publication(ALICE, etag="ea"))
    s.insert(publication(CAROL, etag="ec"))
    assert [r.etag for r in s.delete_publication(pres_uri=ALICE, id="", etag="ec", **PUB_KEY)] == ["ec"]
    assert rows(db, "etag") == [("ea",)]


def test_version_bump_by_pres_id(db):
    s = _store(db)
    a = publication(ALICE, id="x", etag="ea")
    for p in (a, publication(CAROL, id="x", etag="ec"), publication(CAROL, id="y", etag="ey")):
        s.insert(p)
    a.version = 3
    s.bump_version(a)
    assert rows(db, "pres_id, version") == [("x", 3), ("x", 3), ("y", 0)]


def test_update_publication_reply_row_7(db):
    s = _store(db)
    s.insert(publication(id="a1"))
    key = dict(pres_uri=ALICE, id="a1", etag="e1", **PUB_KEY)
    rec = s.update_publication(key, "e2", NOW + 100, 0)
    assert (rec.etag, rec.expires, rec.desired_expires) == ("e2", NOW + 100, 0)
    assert rows(db, "etag, expires, desired_expires") == [("e2", NOW + 100, 0)]
    assert s.update_publication(key, "e3", NOW + 100, 0) is None  # old etag e1 is gone


def test_update_publication_without_affected_rows_looks_up_first(open_db):
    db = open_db(quirks=DB_SQLITE_56)
    db.ensure_schema()
    s = _store(db)
    s.insert(publication(id="a1"))
    rec = s.update_publication(dict(pres_uri=ALICE, id="a1", etag="e1", **PUB_KEY), "e2", NOW + 100, 0)
    assert rec is not None and rec.etag == "e2"
    assert s.update_publication(dict(pres_uri=ALICE, id="a1", etag="nope", **PUB_KEY), "e3", 1, 0) is None


# -- SUBSCRIBE look-up and dialogs (§2.6, §4.10) -------------------------------------------------


def test_subscribe_lookup_by_pres_id_and_pres_uri_only(db):
    s = _store(db)
    s.insert(dialog(id="d1", event=1, flag=256))
    found = s.find_dialog_for_subscribe(pres_uri=ALICE, watcher_uri="sip:other@x", flag=4, event=64, id="d1",
                                        remote_target="sip:unrelated@x")
    assert found is not None and found.call_id == "c1"  # no watcher/event/flag/remote-contact check
    assert s.find_dialog_for_subscribe(pres_uri=CAROL, watcher_uri=BOB, flag=256, event=1, id="d1", remote_target=None) is None


def test_subscribe_lookup_with_several_rows_deletes_them_all_b28(db):
    s = _store(db)
    s.insert(publication(ALICE))  # empty id, same pres_uri
    s.insert(dialog(ALICE))
    s.insert(publication(CAROL))
    assert s.find_dialog_for_subscribe(pres_uri=ALICE, watcher_uri=BOB, flag=256, event=1, id="", remote_target=None) is None
    assert rows(db, "pres_uri") == [(CAROL,)]
    assert any(e.op == "delete" and e.rows == 2 for e in s.events if hasattr(e, "op"))


def test_temporary_dialog_insert_and_conversion_updates_the_row(db):
    s = _store(db)
    temp = dialog(to_tag="", id="d1")
    s.insert(temp)
    new = dialog(id="d1", record_route="<sip:p1;lr>", cseq=10, version=0)
    replaced = s.convert_temporary(dict(pres_uri=ALICE, watcher_uri=BOB, call_id="c1", from_tag="f-c1"), new)
    assert replaced is not new and replaced.to_tag == "" and replaced.row_id == temp.row_id
    assert new.row_id == temp.row_id  # UPDATE in place
    assert rows(db, "to_tag, remote_contact, record_route, etag, tuple_id") == [
        ("srv1", "sip:presence@127.0.0.1:5060", "<sip:p1;lr>", "", "")]


def test_conversion_inserts_when_no_temporary_row(db):
    s = _store(db)
    new = dialog(id="d1")
    assert s.convert_temporary(dict(pres_uri=ALICE, watcher_uri=BOB, call_id="c1", from_tag="f-c1"), new) is new
    assert new.row_id == rows(db)[0][0]


def test_conversion_key_includes_pres_uri(db):
    """The 2xx's To URI differs from the stored one: UPDATE misses, INSERT adds a second row."""
    s = _store(db)
    s.insert(dialog(ALICE, to_tag=""))
    new = dialog("sip:alice@127.0.0.1;transport=udp")
    with pytest.raises(StoreError) as err:  # ... which collides with the temporary row on pua_idx
        s.convert_temporary(dict(pres_uri=new.pres_uri, watcher_uri=BOB, call_id="c1", from_tag="f-c1"), new)
    assert err.value.integrity
    assert rows(db, "to_tag") == [("",)]  # rolled back


def test_db_sqlite_conversion_crashes_on_missing_affected_rows(open_db):
    db = open_db(quirks=DB_SQLITE_56)
    db.ensure_schema()
    s = _store(db)
    with pytest.raises(StoreError, match="to_tag"):  # lab h: NOT NULL constraint failed: pua.to_tag
        s.insert(dialog(to_tag=""))
    with pytest.raises(KamailioCrash, match="affected_rows"):
        s.convert_temporary(dict(pres_uri=ALICE, watcher_uri=BOB, call_id="c1", from_tag="f-c1"), dialog())


def test_db_sqlite_publishes_without_id_never_match_lab_h2a(open_db, profile):
    """Lab h2a: with db_sqlite a publish without id binds pres_id NULL, so the second
    publish for alice is another initial PUBLISH (a second row); with an id it is found."""
    db = open_db(quirks=DB_SQLITE_56)
    db.ensure_schema()
    s = _store(db, profile=profile)
    s.insert(publication(ALICE, etag="a.1"))
    assert rows(db, "pres_id") == [("",)]  # written as '' ...
    assert s.find_publication(pres_uri=ALICE, id="", etag="", **PUB_KEY) is None  # ... looked up as NULL
    s.insert(publication(CAROL, id="carol-pidf", etag="a.3"))
    assert s.find_publication(pres_uri=CAROL, id="carol-pidf", etag="", **PUB_KEY) is not None


def test_update_dialog_sets_cseq_from_reply(db):
    s = _store(db)
    s.insert(dialog(cseq=10))
    key = dict(pres_uri=ALICE, watcher_uri=BOB, call_id="c1", to_tag="srv1", from_tag="f-c1", flag=256)
    rec = s.update_dialog(key, expires=NOW + 700, desired=0, reply_cseq=42, remote_contact="sip:new@h")
    assert (rec.cseq, rec.expires, rec.desired_expires, rec.remote_contact) == (42, NOW + 700, 0, "sip:new@h")
    assert s.update_dialog({**key, "to_tag": "x"}, expires=1, desired=1, reply_cseq=1, remote_contact="") is None


def test_delete_dialog_with_and_without_to_tag(db):
    s = _store(db)
    s.insert(dialog(call_id="c1"))
    s.insert(dialog(call_id="c2"))
    assert s.delete_dialog(pres_uri=ALICE, watcher_uri=BOB, call_id="c1", from_tag="f-c1", to_tag="other") == []
    assert len(s.delete_dialog(pres_uri=ALICE, watcher_uri=BOB, call_id="c1", from_tag="f-c1")) == 1
    assert len(s.delete_dialog(pres_uri=ALICE, watcher_uri=BOB, call_id="c2", from_tag="f-c2", to_tag="srv1")) == 1
    assert rows(db) == []


def test_get_dialog_and_temporary_dialog(db):
    s = _store(db)
    s.insert(dialog(call_id="c1"))
    s.insert(dialog(call_id="c2", to_tag=""))
    assert s.get_dialog(pres_uri=ALICE, watcher_uri=BOB, call_id="c1", to_tag="srv1", from_tag="f-c1", flag=1).call_id == "c1"
    assert s.get_dialog(pres_uri=ALICE, watcher_uri=BOB, call_id="c1", to_tag="", from_tag="f-c1", flag=1) is None
    assert s.get_dialog(pres_uri=ALICE, watcher_uri=BOB, call_id="c1", to_tag="srv1x", from_tag="f-c1", flag=1) is None
    assert s.get_temporary_dialog(pres_uri=ALICE, watcher_uri=BOB, call_id="c2", from_tag="f-c2").to_tag == ""


# -- NOTIFY-side helpers ---------------------------------------------------------------------


def test_is_dialog_b29(db):
    s = _store(db)
    s.insert(dialog(call_id="est"))
    s.insert(dialog(call_id="tmp", to_tag=""))
    assert s.is_dialog(call_id="est", to_tag="srv1", from_tag="f-est") == 0
    assert s.is_dialog(call_id="tmp", to_tag="srv9", from_tag="f-tmp") == -1  # NOTIFY before the 2xx: rejected
    assert s.is_dialog(call_id="tmp", to_tag="", from_tag="f-tmp") == 1
    assert s.is_dialog(call_id="none", to_tag="x", from_tag="y") == -1


def test_get_record_id(db):
    s = _store(db)
    s.insert(dialog(call_id="est", id="rls-1"))
    s.insert(dialog(call_id="tmp", to_tag="", id="rls-2"))
    s.insert(dialog(call_id="pre", to_tag="abc", id="rls-3"))
    assert s.get_record_id(call_id="est", to_tag="srv1", from_tag="f-est") == (0, "rls-1")
    assert s.get_record_id(call_id="tmp", to_tag="any", from_tag="f-tmp") == (0, "rls-2")  # temporary row
    assert s.get_record_id(call_id="pre", to_tag="ab", from_tag="f-pre") == (0, "rls-3")  # stored starts with given
    assert s.get_record_id(call_id="pre", to_tag="zz", from_tag="f-pre") == (0, None)
    assert s.get_record_id(call_id="none", to_tag="x", from_tag="y") == (0, None)


def test_get_record_id_too_many_rows(db):
    s = _store(db)
    s.insert(dialog(call_id="c", to_tag="t1"))
    db.execute(  # a second row for the dialog ids; pua_idx allows it only with another etag
        "INSERT INTO pua (pres_uri, pres_id, event, expires, desired_expires, flag, etag, tuple_id, watcher_uri, "
        "call_id, to_tag, from_tag, cseq, record_route, contact, remote_contact, version, extra_headers) "
        "VALUES (?, '', 1, 0, 0, 256, 'x', '', ?, 'c', 't2', 'f-c', 10, '', '', '', 0, '')", [ALICE, BOB])
    assert s.get_record_id(call_id="c", to_tag="t3", from_tag="f-c") == (-1, None)


def test_update_contact_writes_the_raw_header_b1(db):
    s = _store(db)
    s.insert(dialog())
    # the NOTIFY's tags the wrong way round (B1): nothing matches
    assert s.update_contact("<sip:n@h>;expires=60", call_id="c1", to_tag="f-c1", from_tag="srv1") == 0
    assert s.update_contact("<sip:n@h>;expires=60", call_id="c1", to_tag="srv1", from_tag="f-c1") == 1
    assert rows(db, "remote_contact") == [("<sip:n@h>;expires=60",)]


def test_get_subs_list_is_exact(db):
    s = _store(db, fetch_rows=1)
    s.insert(dialog(CAROL, call_id="c1", id="did"))
    s.insert(dialog(ALICE, call_id="c2", id="did"))
    s.insert(dialog(ALICE, call_id="c3", id="did-2"))
    assert s.get_subs_list("did") == [ALICE, CAROL]


# -- sweep (§5.8) ------------------------------------------------------------------------------


def test_clean_rows_selects_expires_below_now_plus_period_in_pages(db):
    s = _store(db, fetch_rows=2)
    for i, exp in enumerate((NOW - 50, NOW + 99, NOW + 100, NOW + 5, 0)):
        s.insert(publication(f"sip:u{i}@x", etag=f"e{i}", expires=exp))
    before = db.fetches
    got = s.clean_rows(NOW, 100)
    assert [r.expires for r in got] == [NOW - 50, NOW + 99, NOW + 5, 0]
    assert db.fetches - before == 2
    s.delete(got[0])
    assert len(s) == 4 and all(r.row_id != got[0].row_id for r in s.records())


# -- transactions and faults -------------------------------------------------------------------


def test_outer_transaction_rolls_back_everything(db):
    s = _store(db)
    with pytest.raises(StoreError):
        with s.transaction():
            s.insert(publication(ALICE, etag="e1"))
            s.insert(publication(CAROL, etag="e1"))  # other tuple id: allowed
            s.insert(publication(CAROL, etag="e1"))  # same etag and tuple id: pua_idx violation
    assert rows(db) == []


def test_without_driver_transactions_earlier_statements_stay(open_db):
    db = open_db(quirks=DB_SQLITE_56)
    db.ensure_schema()
    s = _store(db)
    with pytest.raises(StoreError):
        with s.transaction():
            s.insert(publication(ALICE, id="a", etag="e1"))
            s.insert(publication(ALICE, id="a", etag="e1"))
    assert len(rows(db)) == 1


def test_fault_in_the_middle_of_a_call_rolls_the_call_back(db):
    s = _store(db)
    s.insert(publication(ALICE))
    s.insert(dialog(ALICE))
    db.fail_after(1)  # the SELECT runs, the DELETE of B28 fails
    with pytest.raises(StoreError, match="unreachable"):
        s.find_dialog_for_subscribe(pres_uri=ALICE, watcher_uri=BOB, flag=256, event=1, id="", remote_target=None)
    db.heal()
    assert len(rows(db)) == 2


def test_unreachable_database_raises_on_every_method(db):
    s = _store(db)
    db.set_unreachable(True)
    calls = [
        lambda: s.find_publication(pres_uri=ALICE, id="", etag="", **PUB_KEY),
        lambda: s.insert(publication()),
        lambda: s.clean_rows(NOW, 100),
        lambda: s.is_dialog(call_id="c", to_tag="t", from_tag="f"),
        lambda: len(s),
    ]
    for call in calls:
        with pytest.raises(StoreError, match="unreachable"):
            call()


def test_every_call_holds_the_write_lock(tmp_path):
    from puasim.store.database import Database

    db = Database(f"sqlite:///{tmp_path}/l.sqlite")
    db.ensure_schema()
    other = sqlite3.connect(f"{tmp_path}/l.sqlite", timeout=0, isolation_level=None)
    locked = SqlStore(db, lock_write=True)
    with locked.transaction():
        locked.find_publication(pres_uri=ALICE, id="", etag="", **PUB_KEY)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
    unlocked = SqlStore(db, lock_write=False)
    with unlocked.transaction():
        unlocked.find_publication(pres_uri=ALICE, id="", etag="", **PUB_KEY)
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
    other.close()
    db.close()


def test_unknown_profile_is_refused(db):
    with pytest.raises(ValueError, match="unknown profile"):
        SqlStore(db, profile="kamailio-4.4")
