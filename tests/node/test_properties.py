"""Properties of registrar save() over usrloc, for any sequence of REGISTERs, star removals and timer runs."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from puasim.node.registrar import RegistrarConfig, save
from puasim.node.usrloc import Contact, UlEvent
from tests.node.helpers import at, make_usrloc, register

URIS = [f"sip:alice@10.0.0.{i}" for i in range(1, 5)]

register_op = st.tuples(
    st.just("register"),
    st.lists(st.sampled_from(URIS), min_size=1, max_size=3, unique=True),
    st.sampled_from([None, 0, 1, 30, 60]),
    st.sampled_from(["c-a", "c-b"]),
    st.booleans(),  # one Contact header, or one header per contact
)
ops = st.lists(
    st.one_of(
        register_op,
        st.tuples(st.just("star"), st.sampled_from(["c-a", "c-b"])),
        st.tuples(st.just("timer")),
        st.tuples(st.just("wait"), st.integers(min_value=0, max_value=90)),
    ),
    max_size=25,
)


@settings(max_examples=150, deadline=None)
@given(ops, st.sampled_from([0, 20]))
@example([("register", [URIS[0]], 30, "c-a", True), ("wait", 40), ("register", [URIS[1]], 60, "c-a", True)], 0)
def test_replies_and_callbacks_stay_consistent(steps: list, min_expires: int) -> None:
    ul, _rec = make_usrloc()
    cfg = RegistrarConfig(min_expires=min_expires, default_expires=45)
    events: list[tuple[UlEvent, Contact]] = []
    ul.register_ulcb(UlEvent.INSERT | UlEvent.UPDATE | UlEvent.DELETE | UlEvent.EXPIRE,
                     lambda c, e, n: events.append((e, c)))
    now = 0
    cseq = {"c-a": 0, "c-b": 0}
    for op in steps:
        if op[0] == "wait":
            now += at(op[1])
            continue
        if op[0] == "timer":
            ul.timer(now)
        else:
            call_id = op[-1] if op[0] == "star" else op[3]
            cseq[call_id] += 1
            if op[0] == "star":
                req = register("*", expires=0, call_id=call_id, cseq=cseq[call_id])
            else:
                _, uris, expires, _cid, one_header = op
                contacts = ", ".join(f"<{u}>" for u in uris) if one_header else [f"<{u}>" for u in uris]
                req = register(contacts, expires=expires, call_id=call_id, cseq=cseq[call_id])
            res = save(ul, "location", req, now, cfg)
            now_s = ul.seconds(now)
            rec = ul.get_urecord("location", "alice")
            if res.status == 200 and op[0] == "register":
                listed = dict(res.headers).get("Contact", "")
                valid = [c for c in (rec.contacts if rec else []) if c.valid(now_s)]
                assert listed == ", ".join(f"<{c.uri}>;expires={c.expires - now_s}" for c in valid)
            if op[0] == "star":
                assert rec is None
        for rec in ul.records():
            assert rec.contacts, "usrloc keeps no empty record"
            uris = [c.uri for c in rec.contacts]
            assert len(uris) == len(set(uris)), "one binding per contact URI"
            for c in rec.contacts:
                assert c.expires == 0 or c.expires > c.last_modified - 1
                if min_expires and c.expires:
                    assert c.expires - c.last_modified >= min_expires
    # every contact's life: INSERT first, nothing after DELETE or EXPIRE, EXPIRE only once it was due
    life: dict[int, list[UlEvent]] = {}
    for event, c in events:
        life.setdefault(id(c), []).append(event)
    for seq in life.values():
        assert seq[0] is UlEvent.INSERT
        ends = [i for i, e in enumerate(seq) if e in (UlEvent.DELETE, UlEvent.EXPIRE)]
        assert not ends or ends == [len(seq) - 1]
