"""The PUA model on the SQL stores: the store API as puasim.pua calls it."""

from __future__ import annotations

import random

import pytest

from puasim.pua.config import load_config
from puasim.pua.model import Pua
from puasim.store import make_store
from puasim.store.memory import SqlBackedMemoryStore
from puasim.store.sql import SqlStore
from puasim.trace.events import StoreWrite
from tests.pua.harness import ALICE, EPOCH, PIDF, Harness
from tests.store.helpers import rows


def _harness(db, **params) -> Harness:
    params.setdefault("outbound_proxy", "sip:127.0.0.1:5060")
    params.setdefault("update_period", 100)
    cfg = load_config(params)
    store = make_store(cfg, db)
    pua = Pua(cfg, rng=random.Random(7), epoch=EPOCH, store=store)
    store.bind(pua.outbox.emit)
    h = Harness(pua)
    pua.start(0)
    h.collect()
    return h


def test_db_mode_0_sync_restart_and_restore(open_db):
    db = open_db()
    h = _harness(db)
    assert isinstance(h.pua.store, SqlBackedMemoryStore)
    assert h.publish(body=PIDF, expires=-1) == 0
    h.ok_publish(h.last("PUBLISH"), 3600, "e1")
    assert rows(db) == []  # nothing in SQL before the first sync
    h.advance(100)
    assert rows(db, "pres_uri, etag, desired_expires") == [(ALICE, "e1", 0)]
    assert any(isinstance(e, StoreWrite) and e.op == "insert" for e in h.events)
    # restart on a new connection: rows read back, table emptied, written again at the next sync
    h2 = _harness(open_db())
    assert [r.etag for r in h2.records()] == ["e1"]
    assert [c.action for c in h2.changes()] == ["restored"]
    assert rows(db) == []
    h2.advance(100)
    assert rows(db, "etag") == [("e1",)]


def test_db_mode_0_removed_publication_comes_back_after_restart_lab_c2(open_db):
    db = open_db()
    h = _harness(db)
    h.publish(body=PIDF, expires=3600)
    h.ok_publish(h.last("PUBLISH"), 3600, "e1")
    h.advance(100)
    h.publish(expires=0)
    h.ok_publish(h.last("PUBLISH"), 0, "e1")
    assert h.records() == []
    h.advance(100)
    assert rows(db, "etag") == [("e1",)]  # the removed record stays in the table
    h2 = _harness(open_db())
    h2.publish(body=PIDF, expires=3600)
    assert h2.last("PUBLISH").get("sip-if-match") == "e1"  # a modify with the dead ETag -> 412 in the lab


def test_db_mode_2_publish_modify_unpublish(open_db):
    db = open_db()
    h = _harness(db, db_mode=2)
    assert isinstance(h.pua.store, SqlStore)
    h.publish(body=PIDF, expires=3600, id="carol-pidf")
    h.ok_publish(h.last("PUBLISH"), 3600, "e1")
    assert rows(db, "pres_id, etag, version") == [("carol-pidf", "e1", 0)]  # at once, no sync
    h.publish(body=PIDF, expires=3600, id="carol-pidf")
    assert h.last("PUBLISH").get("sip-if-match") == "e1"
    assert rows(db, "version") == [(1,)]
    h.ok_publish(h.last("PUBLISH"), 3600, "e2")
    assert rows(db, "etag, version") == [("e2", 1)]
    h.publish(expires=0, id="carol-pidf")
    h.ok_publish(h.last("PUBLISH"), 0, "e2")
    assert rows(db) == []


def test_db_mode_2_sweep_refreshes_indefinite_publication(open_db):
    db = open_db()
    h = _harness(db, db_mode=2)
    h.publish(body=PIDF, expires=-1, id="a")
    h.ok_publish(h.last("PUBLISH"), 150, "e1")
    n = len(h.requests("PUBLISH"))
    h.advance(95)  # first sweep: expires (t+150) < now + 100
    assert len(h.requests("PUBLISH")) == n + 1
    assert h.last("PUBLISH").get("sip-if-match") == "e1"


def test_db_mode_2_subscription_rows(open_db):
    db = open_db()
    h = _harness(db, db_mode=2, check_remote_contact=0)
    assert h.subscribe(expires=600, id="sub-1") == 0
    assert rows(db, "pres_id, to_tag, cseq") == [("sub-1", "", 10)]
    h.reply(h.last("SUBSCRIBE"), 200, ("Expires", "600"), ("Contact", "<sip:presence@127.0.0.1:5060>"))
    assert rows(db, "pres_id, to_tag, remote_contact") == [("sub-1", "srv1", "sip:presence@127.0.0.1:5060")]
    call_id = h.last("SUBSCRIBE").get("call-id")
    from_tag = rows(db, "from_tag")[0][0]
    assert h.pua.is_dialog(pres_uri=ALICE, watcher_uri="x", call_id=call_id, to_tag="srv1", from_tag=from_tag) == 0


@pytest.mark.parametrize("mode", [0, 2])
def test_a_non_token_etag_is_kept_by_the_sql_stores(open_db, mode):
    """Issue 16 item 2: the raw SIP-ETag goes into the pua table and back into SIP-If-Match."""
    db = open_db()
    h = _harness(db, db_mode=mode)
    assert h.publish(body=PIDF, expires=-1) == 0
    h.ok_publish(h.last("PUBLISH"), 3600, '"quoted tag"')
    h.advance(100)  # db_mode 0: the sync writes the row
    assert rows(db, "pres_uri, etag") == [(ALICE, '"quoted tag"')]
    assert h.publish(body=PIDF, expires=-1) == 0
    assert h.last("PUBLISH").get("SIP-If-Match") == '"quoted tag"'
