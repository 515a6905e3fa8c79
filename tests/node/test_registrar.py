"""registrar save() (5.6.3 save.c): expiry rules, replies and the usrloc callbacks it causes."""

from __future__ import annotations

import pytest

from puasim.node.registrar import RegistrarConfig, RegistrarError, save
from tests.node.helpers import EPOCH, at, make_usrloc, register

CFG = RegistrarConfig(min_expires=0)


def test_first_register_inserts_and_lists_the_contact() -> None:
    ul, rec = make_usrloc()
    res = save(ul, "location", register(["<sip:alice@127.0.0.1:5090>"]), at(0), CFG)
    assert (res.rc, res.status, res.reason, res.aor) == (1, 200, "OK", "alice")
    assert res.headers == (("Contact", "<sip:alice@127.0.0.1:5090>;expires=60"),)
    assert rec.events() == [("insert", "sip:alice@127.0.0.1:5090")]
    c = ul.get_urecord("location", "alice").contacts[0]  # type: ignore[union-attr]
    assert (c.expires, c.call_id, c.cseq) == (EPOCH + 60, "a-1@127.0.0.1", 1)


def test_contacts_of_one_header_are_processed_last_first() -> None:
    """Lab 01 #15/#17: Contact <5095>, <5096> -> the 200 lists 5096 first."""
    ul, rec = make_usrloc()
    res = save(ul, "location", register("<sip:carol@127.0.0.1:5095>, <sip:carol@127.0.0.1:5096>", user="carol"),
               at(0), CFG)
    assert res.headers == (("Contact", "<sip:carol@127.0.0.1:5096>;expires=60, <sip:carol@127.0.0.1:5095>;expires=60"),)
    assert rec.events() == [("insert", "sip:carol@127.0.0.1:5096"), ("insert", "sip:carol@127.0.0.1:5095")]


def test_separate_contact_headers_keep_their_order() -> None:
    ul, rec = make_usrloc()
    save(ul, "location", register(["<sip:a@h:1>", "<sip:a@h:2>"], user="a"), at(0), CFG)
    assert rec.events() == [("insert", "sip:a@h:1"), ("insert", "sip:a@h:2")]


def test_refresh_same_call_id_updates() -> None:
    ul, rec = make_usrloc()
    save(ul, "location", register(["<sip:a@h:1>"]), at(0), CFG)
    res = save(ul, "location", register(["<sip:a@h:1>"], cseq=2, expires=90), at(5), CFG)
    assert res.rc == 2 and res.headers == (("Contact", "<sip:a@h:1>;expires=90"),)
    assert rec.events() == [("insert", "sip:a@h:1"), ("update", "sip:a@h:1")]


def test_new_call_id_for_the_same_contact_is_an_update_too() -> None:
    """Lab 01 #9: the registrar updates the contact (pua_usrloc then finds no publication)."""
    ul, rec = make_usrloc()
    save(ul, "location", register(["<sip:a@h:1>"]), at(0), CFG)
    save(ul, "location", register(["<sip:a@h:1>"], call_id="b-2@127.0.0.1"), at(5), CFG)
    assert rec.events()[-1] == ("update", "sip:a@h:1")
    assert ul.get_urecord("location", "alice").contacts[0].call_id == "b-2@127.0.0.1"  # type: ignore[union-attr]


def test_expires_zero_deletes_and_star_deletes_all() -> None:
    ul, rec = make_usrloc()
    save(ul, "location", register("<sip:a@h:1>, <sip:a@h:2>"), at(0), CFG)
    res = save(ul, "location", register(["<sip:a@h:2>"], cseq=2, expires=0), at(1), CFG)
    assert res.rc == 3 and res.headers == (("Contact", "<sip:a@h:1>;expires=59"),)
    assert rec.events()[-1] == ("delete", "sip:a@h:2")
    save(ul, "location", register(["<sip:a@h:3>"], cseq=3), at(2), CFG)
    res = save(ul, "location", register("*", cseq=4, expires=0), at(3), CFG)
    assert (res.rc, res.status, res.headers) == (3, 200, ())
    assert rec.events()[-2:] == [("delete", "sip:a@h:1"), ("delete", "sip:a@h:3")]
    assert ul.get_urecord("location", "alice") is None


def test_star_needs_expires_zero_and_to_be_alone() -> None:
    ul, _ = make_usrloc()
    res = save(ul, "location", register("*", expires=60), at(0), CFG)
    assert (res.status, res.headers[-1]) == (400, ("P-Registrar-Error", "* used in contact and expires is not zero"))


def test_expires_param_beats_header_and_default_applies() -> None:
    ul, _ = make_usrloc()
    res = save(ul, "location", register("<sip:a@h:1>;expires=30", expires=60), at(0), CFG)
    assert res.headers == (("Contact", "<sip:a@h:1>;expires=30"),)
    res = save(ul, "location", register(["<sip:a@h:2>"], expires=None), at(0), RegistrarConfig(default_expires=120))
    assert "<sip:a@h:2>;expires=120" in res.headers[0][1]


def test_min_expires_raises_by_default_and_423_in_mode_1() -> None:
    ul, rec = make_usrloc()
    res = save(ul, "location", register(["<sip:a@h:1>"], expires=10), at(0), RegistrarConfig(min_expires=60))
    assert res.headers == (("Contact", "<sip:a@h:1>;expires=60"),)
    ul, rec = make_usrloc()
    res = save(ul, "location", register(["<sip:a@h:1>"], expires=10), at(0),
               RegistrarConfig(min_expires=60, min_expires_mode=1))
    assert (res.status, res.reason) == (423, "Interval Too Brief")
    assert res.headers == (("Min-Expires", "60"), ("P-Registrar-Error", "Interval too brief"))
    assert rec.events() == []


def test_max_expires_lowers() -> None:
    ul, _ = make_usrloc()
    res = save(ul, "location", register(["<sip:a@h:1>"], expires=7200), at(0), RegistrarConfig(max_expires=3600))
    assert res.headers == (("Contact", "<sip:a@h:1>;expires=3600"),)


def test_lower_cseq_is_refused_and_a_retransmission_skipped() -> None:
    ul, rec = make_usrloc()
    save(ul, "location", register(["<sip:a@h:1>"], cseq=5), at(0), CFG)
    res = save(ul, "location", register(["<sip:a@h:1>"], cseq=4), at(1), CFG)
    assert (res.status, res.headers[-1]) == (400, ("P-Registrar-Error", "Invalid CSeq number"))
    res = save(ul, "location", register(["<sip:a@h:1>"], cseq=5), at(1), CFG)
    assert res.status == 200 and rec.events() == [("insert", "sip:a@h:1")]


def test_too_many_contacts_rolls_back_what_was_inserted() -> None:
    ul, rec = make_usrloc()
    res = save(ul, "location", register("<sip:a@h:1>, <sip:a@h:2>"), at(0), RegistrarConfig(min_expires=0, max_contacts=1))
    assert (res.status, res.rc) == (503, -2)
    assert rec.events() == [("insert", "sip:a@h:2"), ("delete", "sip:a@h:2")]
    assert ul.get_urecord("location", "alice") is None


def test_query_without_contact_lists_the_bindings() -> None:
    ul, rec = make_usrloc()
    save(ul, "location", register(["<sip:a@h:1>"]), at(0), CFG)
    res = save(ul, "location", register(None, cseq=2, expires=None), at(10), CFG)
    assert (res.rc, res.headers) == (4, (("Contact", "<sip:a@h:1>;expires=50"),))
    assert rec.events() == [("insert", "sip:a@h:1")]


def test_use_domain_keeps_the_host_and_the_aor_is_lower_case() -> None:
    ul, _ = make_usrloc(use_domain=1)
    res = save(ul, "location", register(["<sip:a@h:1>"], user="Alice"), at(0), CFG)
    assert res.aor == "alice@127.0.0.1"


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(RegistrarError, match="unknown registrar parameter"):
        RegistrarConfig.from_params({"min_expire": 1})
    with pytest.raises(RegistrarError, match=">= 0"):
        RegistrarConfig.from_params({"min_expires": -1})


def test_bad_requests_get_400_with_registrar_error_texts_and_touch_nothing() -> None:
    ul, rec = make_usrloc()
    no_to = register(["<sip:a@h:1>"])
    no_to = type(no_to)(no_to.method, no_to.uri, tuple(h for h in no_to.headers if h[0] != "To"))
    bad_q = register("<sip:a@h:1>;q=7, <sip:a@h:2>")
    cases = [
        (no_to, "To header not found"),
        (register("garbage<<"), "Contact parse error"),
        (bad_q, "Invalid q param in contact"),
    ]
    for req, text in cases:
        res = save(ul, "location", req, at(0), CFG)
        assert (res.status, res.headers[-1]) == (400, ("P-Registrar-Error", text))
    # the q error came after <sip:a@h:2> was inserted (last first): insert_contacts rolls it back
    assert rec.events() == [("insert", "sip:a@h:2"), ("delete", "sip:a@h:2")]
    assert ul.records() == []


def test_a_bad_expires_parameter_means_default_expires() -> None:
    """calc_contact_expires: str2int fails -> default_expires."""
    ul, _ = make_usrloc()
    res = save(ul, "location", register("<sip:a@h:1>;expires=soon", expires=60), at(0), RegistrarConfig(min_expires=0, default_expires=90))
    assert res.headers == (("Contact", "<sip:a@h:1>;expires=90"),)
