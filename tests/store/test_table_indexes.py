"""The hash table's indexes (views per bucket, expiry index, unsynced set) answer as the walks do.

Every look-up, the sweep's candidates, the DB sync's records and its count
of expired records are checked against a walk over the buckets written out
here, after random inserts, deletes, re-inserts and field changes.  The
second part checks what the indexes are for: the work per period and per
look-up does not grow with the number of records stored.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from puasim.store.database import Database
from puasim.store.hashtable import HashTable
from puasim.store.memory import INSERTDB, NO_UPDATEDB, UPDATEDB, SqlBackedMemoryStore
from puasim.store.record import PuaRecord

NOW = 1_700_000_000

# -- reference walks (the look-ups as Kamailio's search over the whole chain, §2.5) --------


def walk_search(t: HashTable, *, pres_uri, flag, event, id="", etag="", watcher_uri="", remote_target=None,
                check_remote_contact=0):
    for p in t.bucket(pres_uri, watcher_uri or None):
        if not (p.flag & flag) or not (p.event & event) or p.pres_uri != pres_uri or (id and p.id != id):
            continue
        if watcher_uri:
            if p.watcher_uri != watcher_uri:
                continue
            if check_remote_contact and (remote_target is None or remote_target != p.remote_contact):
                continue
        elif etag and p.etag != etag:
            continue
        return p
    return None


def walk_get_dialog(t: HashTable, *, pres_uri, watcher_uri, call_id, to_tag, from_tag, flag):
    if not to_tag:
        return None
    for p in t.bucket(pres_uri, watcher_uri or None):
        if not (p.flag & flag) or not p.to_tag:
            continue
        if call_id.startswith(p.call_id) and to_tag.startswith(p.to_tag) and from_tag.startswith(p.from_tag):
            return p
    return None


def walk_get_temporary_dialog(t: HashTable, *, pres_uri, watcher_uri, call_id, from_tag):
    for p in t.bucket(pres_uri, watcher_uri or None):
        if p.call_id == call_id and p.from_tag == from_tag:
            return p
    return None


# -- random tables ----------------------------------------------------------------------

URIS = ["sip:a@h", "sip:b@h", "sip:c@h"]
WATCHERS = ["", "", "sip:w@h", "sip:v@h"]
IDS = ["", "c1", "c12", "c2"]
TAGS = ["", "t", "t1", "f"]

records = st.builds(
    PuaRecord,
    pres_uri=st.sampled_from(URIS),
    id=st.sampled_from(["", "x"]),
    event=st.sampled_from([1, 2, 3]),
    flag=st.sampled_from([1, 2, 4]),
    expires=st.integers(NOW - 30, NOW + 120),
    etag=st.sampled_from(["", "e1", "e2"]),
    watcher_uri=st.sampled_from(WATCHERS),
    call_id=st.sampled_from(IDS),
    to_tag=st.sampled_from(TAGS),
    from_tag=st.sampled_from(TAGS),
    remote_contact=st.sampled_from(["", "sip:s@h"]),
    db_flag=st.sampled_from([0, NO_UPDATEDB, UPDATEDB, INSERTDB]),
)

ops = st.lists(
    st.one_of(
        st.tuples(st.just("insert"), records),
        st.tuples(st.just("delete"), st.integers(0, 50)),
        st.tuples(st.just("reinsert"), st.integers(0, 50)),
        st.tuples(st.just("expires"), st.integers(0, 50), st.integers(NOW - 30, NOW + 120)),
        st.tuples(st.just("db_flag"), st.integers(0, 50), st.sampled_from([NO_UPDATEDB, UPDATEDB, INSERTDB])),
    ),
    max_size=60,
)


def build(size: int, script: list) -> HashTable:
    t = HashTable(size)
    gone: list[PuaRecord] = []
    for op, *args in script:
        stored = t.snapshot()
        if op == "insert":
            t.insert(args[0].copy())  # each table its own objects
        elif op == "delete" and stored:
            rec = stored[args[0] % len(stored)]
            assert t.delete(rec)
            gone.append(rec)
        elif op == "reinsert" and gone:
            t.insert(gone.pop(args[0] % len(gone)))
        elif op == "expires" and stored:
            stored[args[0] % len(stored)].expires = args[1]
        elif op == "db_flag" and stored:
            stored[args[0] % len(stored)].db_flag = args[1]
    return t


@settings(max_examples=150, deadline=None)
@given(st.sampled_from([1, 2, 4]), ops, st.data())
def test_look_ups_answer_as_the_walk(size, script, data):
    t = build(size, script)
    for _ in range(10):
        key = dict(
            pres_uri=data.draw(st.sampled_from(URIS)),
            flag=data.draw(st.sampled_from([1, 2, 4, 7])),
            event=data.draw(st.sampled_from([1, 2, 3])),
            id=data.draw(st.sampled_from(["", "x"])),
            etag=data.draw(st.sampled_from(["", "e1"])),
            watcher_uri=data.draw(st.sampled_from(WATCHERS)),
            remote_target=data.draw(st.sampled_from([None, "sip:s@h"])),
            check_remote_contact=data.draw(st.sampled_from([0, 1])),
        )
        assert t.search(**key) is walk_search(t, **key)
        ids = dict(
            pres_uri=key["pres_uri"],
            watcher_uri=key["watcher_uri"],
            call_id=data.draw(st.sampled_from(IDS + ["c123"])),
            from_tag=data.draw(st.sampled_from(TAGS + ["f1"])),
        )
        assert t.get_temporary_dialog(**ids) is walk_get_temporary_dialog(t, **ids)
        dlg = dict(ids, to_tag=data.draw(st.sampled_from(TAGS + ["t12"])), flag=key["flag"])
        assert t.get_dialog(**dlg) is walk_get_dialog(t, **dlg)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from([1, 2, 4]), ops, st.integers(NOW - 40, NOW + 130))
def test_timer_walks_answer_as_the_walk(size, script, bound):
    t = build(size, script)
    walk = t.snapshot()
    assert [r for r in t.sweep_candidates(bound) if r.expires < bound] == [r for r in walk if r.expires < bound]
    assert t.count_expired(bound) == sum(1 for r in walk if r.expires < bound)
    assert t.unsynced() == [r for r in walk if r.db_flag != NO_UPDATEDB]


#: what happens while the sweep handles a record: another record of the start snapshot (the
#: victim) changes its expires, after being deleted, moved, stored twice, or the table cleared;
#: or (churn) the record in hand is deleted and stored again and a new record comes
ACTIONS = ("change", "change_and_churn", "delete_then_change", "delete_change_store_again", "move_then_change",
           "store_twice_then_change", "store_in_other_then_change", "clear")


def act(t, other, rec, victim, value, action):
    """Do ``action`` (see :data:`ACTIONS`) while the sweep handles ``rec``."""
    if action == "clear":
        t.clear()
    elif action == "store_twice_then_change":
        t.insert(victim)
    elif action == "store_in_other_then_change":
        other.insert(victim)
    elif action not in ("change", "change_and_churn"):
        t.delete(victim)
        if action == "move_then_change":
            other.insert(victim)
    victim.expires = value
    if action == "delete_change_store_again":
        t.insert(victim)
    if action == "change_and_churn":
        t.delete(rec)
        t.insert(rec)
        t.insert(PuaRecord("sip:new@h", expires=NOW))


def sweep(t, records, snapshot, high, at, which, value, action):
    """The sweep's loop over ``records``, doing ``action`` while it handles its ``at``-th due record."""
    seen = []
    for rec in records:
        if not rec.expires < high:
            continue
        seen.append(rec)
        if len(seen) - 1 == at % 3:
            act(t, HashTable(2), rec, snapshot[which % len(snapshot)], value, action)
    return seen


@settings(max_examples=300, deadline=None)
@given(ops, st.integers(0, 50), st.integers(0, 50), st.integers(NOW - 30, NOW + 130), st.sampled_from(ACTIONS))
def test_what_happens_during_the_sweep_is_seen_as_the_walk_sees_it(script, at, which, value, action):
    high = NOW + 60
    t1 = build(2, script)
    s1 = t1.snapshot()
    if not s1:
        return
    walked = [s1.index(r) for r in sweep(t1, list(s1), s1, high, at, which, value, action)]
    t2 = build(2, script)
    s2 = t2.snapshot()
    indexed = [s2.index(r) for r in sweep(t2, t2.sweep_candidates(high), s2, high, at, which, value, action)]
    assert indexed == walked


@settings(max_examples=100, deadline=None)
@given(ops, st.integers(NOW - 40, NOW + 130), st.sampled_from(["pickle", "deepcopy"]))
def test_a_pickled_or_copied_table_answers_as_its_walk(script, bound, how):
    import copy
    import pickle

    t = build(2, script)
    c = pickle.loads(pickle.dumps(t)) if how == "pickle" else copy.deepcopy(t)
    snap = c.snapshot()
    assert [(r.pres_uri, r.expires, r.db_flag) for r in snap] == [(r.pres_uri, r.expires, r.db_flag) for r in t.snapshot()]
    assert [r for r in c.sweep_candidates(bound) if r.expires < bound] == [r for r in snap if r.expires < bound]
    assert c.count_expired(bound) == sum(1 for r in snap if r.expires < bound)
    assert c.unsynced() == [r for r in snap if r.db_flag != NO_UPDATEDB]


def test_changing_or_deleting_the_record_in_hand_does_not_rebuild_the_sweep(monkeypatch):
    """What the model's sweep does to the record it handles (refresh, delete) is behind the walk:
    the sweep goes on from the index without rebuilding the start snapshot."""
    t = HashTable(4)
    recs = [PuaRecord(f"sip:p{i}@h", expires=NOW + i) for i in range(40)]
    for rec in recs:
        t.insert(rec)

    def no_rebuild(self):  # type: ignore[no-untyped-def]
        raise AssertionError("the sweep rebuilt its start snapshot")

    monkeypatch.setattr(HashTable, "_snapshot_of_start", no_rebuild)
    walked = [r for r in t.snapshot() if r.expires < NOW + 20]
    seen = []
    for rec in t.sweep_candidates(NOW + 20):
        if rec.expires < NOW + 20:
            seen.append(rec)
            if len(seen) % 2:
                rec.expires = NOW + 3600
            else:
                t.delete(rec)
    assert seen == walked


def test_a_record_stored_twice_makes_the_table_walk():
    t = HashTable(4)
    rec = PuaRecord("sip:a@h", expires=NOW, db_flag=UPDATEDB)
    t.insert(rec)
    t.insert(rec)
    assert t.count_expired(NOW + 1) is None and t.unsynced() is None
    assert list(t.sweep_candidates(NOW + 1)) == [rec, rec]
    t.clear()
    t.insert(rec)
    assert t.unsynced() == [rec]


# -- the work does not grow with the population --------------------------------------------


class CountingRecord(PuaRecord):
    """Counts the reads of ``expires``, ``db_flag`` and ``flag`` (what the walks and look-ups test first)."""

    __slots__ = ()
    reads = 0

    def _get(name):  # noqa: N805
        inner = PuaRecord.__dict__[name]

        def get(self):
            CountingRecord.reads += 1
            return inner.__get__(self)

        def put(self, value):
            inner.__set__(self, value)

        return property(get, put)

    expires = _get("expires")
    db_flag = _get("db_flag")
    flag = _get("flag")
    del _get


def populated(n: int, due: int) -> SqlBackedMemoryStore:
    db = Database("sqlite://:memory:")
    db.ensure_schema()
    store = SqlBackedMemoryStore(db, 512)
    for i in range(n):
        store.insert(CountingRecord(f"sip:p{i}@h", event=1, flag=16, etag=f"e{i}", tuple_id="t",
                                    expires=NOW + (30 if i < due else 3600), db_flag=NO_UPDATEDB))
    return store


def test_a_sweep_reads_the_records_due_only():
    store = populated(5000, due=3)
    CountingRecord.reads = 0
    due = [r for r in store.sweep_candidates(NOW + 60) if r.expires < NOW + 60]
    assert len(due) == 3
    assert CountingRecord.reads <= 10  # the walk read all 5,000


def test_a_db_sync_reads_the_records_to_write_only():
    store = populated(5000, due=0)
    for rec in store.snapshot()[:3]:
        rec.db_flag = UPDATEDB
    CountingRecord.reads = 0
    result = store.db_sync(NOW)
    assert (result.updated, result.missing, result.skipped_expired) == (0, 3, 0)
    assert CountingRecord.reads <= 20  # the walk read all 5,000


def test_a_search_reads_the_records_of_its_presentity_only():
    t = HashTable(1)  # every record in one chain
    for i in range(2000):
        t.insert(CountingRecord(f"sip:p{i}@h", event=1, flag=16, etag=f"e{i}"))
    CountingRecord.reads = 0
    found = t.search(pres_uri="sip:p7@h", flag=16, event=1, etag="e7")
    assert found is not None and found.etag == "e7"
    assert CountingRecord.reads <= 2  # the walk read the flags of the 1,992 records stored after it
