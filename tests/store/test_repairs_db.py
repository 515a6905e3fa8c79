"""Repairs of the database defects (pua-reference §10.2 B7, B12, B13, B28, B29, B1 in db_mode 2).

Each test runs the store call as Kamailio 5.6 does and with the one repair
switched on (``store.repaired``, set by the model from ``PuaConfig.repaired``).
"""

from __future__ import annotations

import random

import pytest

from puasim.pua.config import load_config
from puasim.pua.model import Pua
from puasim.store import make_store
from puasim.store.errors import KamailioCrash
from puasim.store.memory import SqlBackedMemoryStore
from puasim.store.sql import SqlStore
from tests.pua.harness import EPOCH, PIDF, Harness
from tests.store.helpers import (
    ALICE,
    BOB,
    CAROL,
    INSERTDB,
    NOW,
    UPDATEDB,
    FakePua,
    dialog,
    publication,
    rows,
)

PUB_KEY = dict(flag=128, event=1)
INSERT = (
    "INSERT INTO pua (pres_uri, pres_id, event, expires, desired_expires, flag, etag, tuple_id, watcher_uri, "
    "call_id, to_tag, from_tag, cseq, record_route, contact, remote_contact, version, extra_headers) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _sql(db, *repairs: str) -> SqlStore:
    s = SqlStore(db)
    s.repaired = frozenset(repairs)
    s.events = []
    s.bind(s.events.append)
    return s


def _mem(db, *repairs: str) -> SqlBackedMemoryStore:
    s = SqlBackedMemoryStore(db)
    s.repaired = frozenset(repairs)
    return s


@pytest.mark.parametrize("repaired", [False, True])
def test_b7_db_mode_2_delete_stays_within_the_presentity(db, repaired):
    s = _sql(db, *(["B7"] if repaired else []))
    s.insert(publication(ALICE, etag="same"))
    s.insert(publication(CAROL, etag="same"))  # another presentity, equal empty id and etag
    gone = s.delete_publication(pres_uri=ALICE, id="", etag="same", **PUB_KEY)
    assert sorted(r.pres_uri for r in gone) == ([ALICE] if repaired else [ALICE, CAROL])
    assert rows(db, "pres_uri") == ([(CAROL,)] if repaired else [])


@pytest.mark.parametrize("repairs", ["", "B7"])
def test_b7_db_mode_2_failed_initial_publish_deletes_no_row(open_db, repairs):
    db = open_db()
    cfg = load_config(outbound_proxy="sip:127.0.0.1:5060", db_mode=2, repairs=repairs)
    store = make_store(cfg, db)
    h = Harness(Pua(cfg, rng=random.Random(7), epoch=EPOCH, store=store))
    h.pua.start(0)
    h.collect()
    store.insert(dialog(CAROL, to_tag=""))  # an id-less temporary dialog of another presentity
    h.publish(expires=3600, body=PIDF)
    h.reply(h.last("PUBLISH"), 403)
    assert rows(db, "pres_uri") == ([(CAROL,)] if repairs else [])


@pytest.mark.parametrize("repaired", [False, True])
def test_b12_update_writes_every_column(db, repaired):
    store = _mem(db, *(["B12"] if repaired else []))
    p = dialog(record_route="<sip:p1;lr>")
    p.db_flag = INSERTDB
    store.insert(p)
    store.db_sync(NOW)
    p.remote_contact, p.contact, p.record_route, p.extra_headers = "sip:new@h", "sip:c2@h", "<sip:p2;lr>", "X-B: 2\r\n"
    p.db_flag = UPDATEDB
    assert store.db_sync(NOW).updated == 1
    got = rows(db, "remote_contact, contact, record_route, extra_headers")[0]
    if repaired:
        assert got == ("sip:new@h", "sip:c2@h", "<sip:p2;lr>", "X-B: 2\r\n")
    else:
        assert got == ("sip:presence@127.0.0.1:5060", "sip:bob@127.0.0.1:5070", "<sip:p1;lr>", "")


@pytest.mark.parametrize("repaired", [False, True])
def test_b12_missing_row_is_inserted(db, repaired):
    store, pua = _mem(db, *(["B12"] if repaired else [])), FakePua()
    p = publication()
    p.db_flag = UPDATEDB
    store.insert(p)
    res = store.db_sync(NOW, pua)
    assert (res.missing, res.inserted) == ((0, 1) if repaired else (1, 0))
    assert rows(db, "etag") == ([("e1",)] if repaired else [])


def _write(db, recs) -> None:
    store = SqlBackedMemoryStore(db)
    for r in recs:
        r.db_flag = INSERTDB
        store.insert(r)
    assert not store.db_sync(NOW - 10_000).aborted


@pytest.mark.parametrize("repaired", [False, True])
def test_b13_restore_skips_expired_rows_and_keeps_versions(db, repaired):
    _write(db, [publication(ALICE, expires=NOW - 500, version=5), publication(CAROL, etag="ec", version=3)])
    store = _mem(db, *(["B13"] if repaired else []))
    got = {r.pres_uri: r for r in store.restore(NOW, 500)}
    if repaired:
        assert list(got) == [CAROL] and got[CAROL].version == 3
    else:
        assert sorted(got) == [ALICE, CAROL] and got[CAROL].version == 0
    assert rows(db) == []  # the table is emptied either way


@pytest.mark.parametrize("repaired", [False, True])
def test_b13_null_tuple_id_with_etag(db, repaired):
    db.execute(INSERT, [ALICE, "", 8, NOW + 60, NOW + 60, 1, "e1", None, "", "", "", "", 0, None, "", "", 0, ""])
    store = _mem(db, *(["B13"] if repaired else []))
    if not repaired:
        with pytest.raises(KamailioCrash, match="NULL tuple_id"):
            store.restore(NOW, 500)
        return
    (rec,) = store.restore(NOW, 500)
    assert rec.etag == "e1" and rec.tuple_id == ""


@pytest.mark.parametrize("repaired", [False, True])
def test_b28_subscribe_lookup_matches_the_watcher_and_deletes_nothing(db, repaired):
    s = _sql(db, *(["B28"] if repaired else []))
    s.insert(publication(ALICE))  # empty id, same pres_uri
    s.insert(dialog(ALICE))
    found = s.find_dialog_for_subscribe(pres_uri=ALICE, watcher_uri=BOB, flag=256, event=1, id="", remote_target=None)
    if not repaired:
        assert found is None and rows(db) == []
        return
    assert found is not None and found.call_id == "c1"
    assert len(rows(db)) == 2
    other = s.find_dialog_for_subscribe(pres_uri=ALICE, watcher_uri="sip:x@y", flag=256, event=1, id="",
                                        remote_target=None)
    assert other is None


def test_b28_tie_takes_the_newest_dialog(db):
    s = _sql(db, "B28")
    s.insert(dialog(ALICE, call_id="old"))
    s.insert(dialog(ALICE, call_id="new"))
    found = s.find_dialog_for_subscribe(pres_uri=ALICE, watcher_uri=BOB, flag=256, event=1, id="", remote_target=None)
    assert found is not None and found.call_id == "new" and len(rows(db)) == 2


@pytest.mark.parametrize("repaired", [False, True])
def test_b29_notify_before_the_2xx_matches_the_temporary_row(db, repaired):
    s = _sql(db, *(["B29"] if repaired else []))
    s.insert(dialog(call_id="tmp", to_tag=""))
    assert s.is_dialog(call_id="tmp", to_tag="srv9", from_tag="f-tmp") == (1 if repaired else -1)
    assert s.is_dialog(call_id="tmp", to_tag="srv9", from_tag="other") == -1


@pytest.mark.parametrize("repairs", ["", "B1"])
def test_b1_db_mode_2_update_contact_reaches_the_row(open_db, repairs):
    db = open_db()
    cfg = load_config(outbound_proxy="sip:127.0.0.1:5060", db_mode=2, repairs=repairs)
    store = make_store(cfg, db)
    pua = Pua(cfg, rng=random.Random(7), epoch=EPOCH, store=store)
    store.insert(dialog(ALICE, call_id="c1", from_tag="ours", to_tag="theirs"))
    from puasim.pua.subscribe import pua_update_contact
    from puasim.sip.message import Request

    notify = Request("NOTIFY", BOB, (
        ("Via", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKn1"),
        ("From", f"<{ALICE}>;tag=theirs"), ("To", f"<{BOB}>;tag=ours"),
        ("Call-ID", "c1"), ("CSeq", "1 NOTIFY"), ("Contact", "<sip:moved@127.0.0.2>;expires=60"),
        ("Content-Length", "0"),
    ))
    rc = pua_update_contact(pua, notify, 0)
    got = rows(db, "remote_contact")[0][0]
    if repairs:
        assert (rc, got) == (1, "sip:moved@127.0.0.2")
    else:  # tags swapped: no row changed, and still 1
        assert (rc, got) == (1, "sip:presence@127.0.0.1:5060")

