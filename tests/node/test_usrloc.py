"""usrloc 5.6.3 in memory: where each callback fires, the timer, shutdown."""

from __future__ import annotations

import pytest

from puasim.node.usrloc import ContactInfo, UlEvent, UsrlocConfig, UsrlocError
from tests.node.helpers import EPOCH, at, make_usrloc


def info(expires: int, call_id: str = "c1", cseq: int = 1, q: int = -1) -> ContactInfo:
    return ContactInfo(expires=expires, call_id=call_id, cseq=cseq, q=q)


def test_insert_runs_after_the_contact_is_in_memory_delete_before_it_leaves() -> None:
    ul, rec = make_usrloc()
    r = ul.insert_urecord("location", "alice")
    c = ul.insert_ucontact(r, "sip:alice@h:1", info(EPOCH + 60), at(0))
    ul.update_ucontact(r, c, info(EPOCH + 90, cseq=2), at(1))
    ul.delete_ucontact(r, c, at(2))
    assert rec.seen == [
        ("insert", "sip:alice@h:1", True),
        ("update", "sip:alice@h:1", True),
        ("delete", "sip:alice@h:1", True),
    ]
    assert c not in r.contacts


def test_update_callback_sees_the_new_fields() -> None:
    ul, _ = make_usrloc()
    r = ul.insert_urecord("location", "alice")
    c = ul.insert_ucontact(r, "sip:alice@h:1", info(EPOCH + 60), at(0))
    seen = []
    ul.register_ulcb(UlEvent.UPDATE, lambda c, e, now: seen.append((c.expires, c.call_id, c.cseq)))
    ul.update_ucontact(r, c, info(EPOCH + 99, call_id="c2", cseq=5), at(1))
    assert seen == [(EPOCH + 99, "c2", 5)]


def test_callbacks_registered_last_run_first() -> None:
    ul, _ = make_usrloc()
    order: list[str] = []
    ul.register_ulcb(UlEvent.INSERT, lambda c, e, n: order.append("first"))
    ul.register_ulcb(UlEvent.INSERT, lambda c, e, n: order.append("second"))
    ul.insert_ucontact(ul.insert_urecord("location", "a"), "sip:a@h", info(EPOCH + 60), at(0))
    assert order == ["second", "first"]


def test_contacts_are_kept_by_q_then_arrival() -> None:
    ul, _ = make_usrloc()
    r = ul.insert_urecord("location", "a")
    for uri, q in (("sip:1", -1), ("sip:2", 500), ("sip:3", -1), ("sip:4", 1000)):
        ul.insert_ucontact(r, uri, info(EPOCH + 60, q=q), at(0))
    assert [c.uri for c in r.contacts] == ["sip:4", "sip:2", "sip:1", "sip:3"]


def test_timer_expires_only_invalid_contacts_and_drops_empty_records() -> None:
    ul, rec = make_usrloc()
    r = ul.insert_urecord("location", "a")
    ul.insert_ucontact(r, "sip:short", info(EPOCH + 20), at(0))
    ul.insert_ucontact(r, "sip:long", info(EPOCH + 200), at(0))
    ul.insert_ucontact(r, "sip:permanent", info(0), at(0))
    ul.timer(at(19.9))  # epoch second 19: nothing has expired
    assert rec.events()[3:] == []
    ul.timer(at(20))  # VALID_CONTACT: expires > now, so at second 20 it is gone
    assert rec.seen[3:] == [("expire", "sip:short", True)]
    assert [c.uri for c in r.contacts] == ["sip:long", "sip:permanent"]
    ul.timer(at(500))
    assert rec.events()[4:] == [("expire", "sip:long")]
    assert ul.get_urecord("location", "a") is not None  # the permanent contact stays
    ul2, rec2 = make_usrloc()
    r2 = ul2.insert_urecord("location", "b")
    ul2.insert_ucontact(r2, "sip:x", info(EPOCH + 5), at(0))
    ul2.timer(at(60))
    assert ul2.get_urecord("location", "b") is None


def test_delete_urecord_fires_delete_per_contact_in_list_order() -> None:
    ul, rec = make_usrloc()
    r = ul.insert_urecord("location", "a")
    ul.insert_ucontact(r, "sip:1", info(EPOCH + 60), at(0))
    ul.insert_ucontact(r, "sip:2", info(EPOCH + 60), at(0))
    ul.delete_urecord("location", "a", at(1))
    assert rec.events()[2:] == [("delete", "sip:1"), ("delete", "sip:2")]
    assert ul.get_urecord("location", "a") is None


def test_shutdown_fires_nothing_and_forgets_everything() -> None:
    ul, rec = make_usrloc()
    ul.insert_ucontact(ul.insert_urecord("location", "a"), "sip:1", info(EPOCH + 60), at(0))
    ul.shutdown()
    ul.timer(at(100))
    assert rec.events() == [("insert", "sip:1")]
    assert ul.records() == []


def test_get_ucontact_cseq_rules() -> None:
    ul, _ = make_usrloc()
    r = ul.insert_urecord("location", "a")
    ul.insert_ucontact(r, "sip:1", info(EPOCH + 60, call_id="c", cseq=5), at(0))
    assert ul.get_ucontact(r, "sip:1", "c", 6, at(1))[0] == 0
    assert ul.get_ucontact(r, "sip:1", "c", 4, at(1))[0] == -1
    assert ul.get_ucontact(r, "sip:1", "c", 5, at(1))[0] == -2  # within cseq_delay (20 s)
    assert ul.get_ucontact(r, "sip:1", "c", 5, at(21))[0] == -1
    assert ul.get_ucontact(r, "sip:1", "other", 1, at(1))[0] == 0  # another Call-ID: no CSeq check
    assert ul.get_ucontact(r, "sip:9", "c", 9, at(1))[0] == 1


@pytest.mark.parametrize(
    ("params", "text"),
    [({"db_mode": 1}, "db_mode 1 is not modelled"), ({"bogus": 1}, "unknown usrloc parameter"),
     ({"timer_interval": "x"}, "must be an integer")],
)
def test_bad_parameters_are_refused(params: dict, text: str) -> None:
    with pytest.raises(UsrlocError, match=text):
        UsrlocConfig.from_params(params)
