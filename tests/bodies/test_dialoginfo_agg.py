"""presence_dialoginfo's aggregation of dialog-info publications (puasim.bodies.dialoginfo_agg)."""

from __future__ import annotations

import pytest

from puasim.bodies.dialoginfo_agg import (
    DUMMY_BODY,
    VERSION_PLACEHOLDER,
    aggregate_dialoginfo,
    set_version,
)
from puasim.bodies.errors import BodyError
from puasim.sip import headers as H
from puasim.sip.message import Request
from puasim.trace.events import MessageSent
from tests.edge.lab_replay import DATA

NS = "urn:ietf:params:xml:ns:dialog-info"


def doc(
    *dialogs: tuple[str, str], entity: str = "sip:alice@example.org", version: int = 0
) -> bytes:
    """A pua_dialoginfo-like body (indented) with ``(id, state)`` dialogs."""
    inner = "".join(
        f'  <dialog id="{i}" direction="initiator">\n    <state>{s}</state>\n  </dialog>\n'
        for i, s in dialogs
    )
    return (
        f'<?xml version="1.0"?>\n<dialog-info xmlns="{NS}" version="{version}" state="full" '
        f'entity="{entity}">\n{inner}</dialog-info>\n'
    ).encode()


def dialogs_of(body: bytes) -> list[tuple[str, str]]:
    from lxml import etree

    root = etree.fromstring(body)
    return [
        (d.get("id"), d.findtext(f"{{{NS}}}state"))
        for d in root
        if etree.QName(d).localname == "dialog"
    ]


def test_all_dialogs_of_all_publications_oldest_first_terminated_included() -> None:
    bodies = [doc(("a", "confirmed")), doc(("b", "early"), ("c", "terminated"))]
    out = set_version(aggregate_dialoginfo(bodies, "sip:alice@example.org"), 7)
    assert dialogs_of(out) == [("a", "confirmed"), ("b", "early"), ("c", "terminated")]
    head = out.split(b"\n")[:2]
    assert head == [
        b'<?xml version="1.0"?>',
        f'<dialog-info xmlns="{NS}" version="7" state="full" entity="sip:alice@example.org">'.encode(),
    ]


def test_root_is_rebuilt_publication_attributes_dropped() -> None:
    body = doc(("a", "trying"), entity="sip:other@x", version=99).replace(b'"full"', b'"partial"')
    out = aggregate_dialoginfo([body], "sip:ext100@pbx")
    assert f'version="{VERSION_PLACEHOLDER}" state="full" entity="sip:ext100@pbx"'.encode() in out
    assert b"other@x" not in out and b'"99"' not in out


def test_one_indented_publication_comes_out_as_published_apart_from_version() -> None:
    body = doc(("a", "confirmed"), entity="sip:alice@example.org", version=0)
    out = set_version(aggregate_dialoginfo([body], "sip:alice@example.org"), 0)
    assert out == body


def test_one_line_publication_is_indented_and_comments_left_behind() -> None:
    body = (
        f'<dialog-info xmlns="{NS}" version="1" state="full" entity="sip:a@b"><!-- c -->'
        '<dialog id="x"><state>early</state></dialog><?pi x?></dialog-info>'
    ).encode()
    out = set_version(aggregate_dialoginfo([body], "sip:a@b"), 3)
    assert (
        out
        == (
            f'<?xml version="1.0"?>\n<dialog-info xmlns="{NS}" version="3" state="full" '
            'entity="sip:a@b">\n  <dialog id="x">\n    <state>early</state>\n  </dialog>\n'
            "</dialog-info>\n"
        ).encode()
    )


def test_dummy_body_as_presence_dialoginfo_sends_it() -> None:
    out = set_version(aggregate_dialoginfo([DUMMY_BODY], "sip:a@b"), 1)
    assert (
        out
        == (
            f'<?xml version="1.0"?>\n<dialog-info xmlns="{NS}" version="1" state="full" '
            'entity="sip:a@b">\n  <dialog id="615293b33c62dec073e05d9421e9f48b" '
            'direction="recipient">\t<state>terminated</state>\t</dialog>\n</dialog-info>\n'
        ).encode()
    )


@pytest.mark.parametrize(
    ("bodies", "winner"),
    [
        # early wins over confirmed (presence_dialoginfo's order of importance)
        ([doc(("a", "confirmed")), doc(("b", "early"))], ("b", "early")),
        ([doc(("b", "early")), doc(("a", "confirmed"))], ("b", "early")),
        # a confirmed dialog whose id is terminated in another publication is not kept
        ([doc(("a", "confirmed")), doc(("a", "terminated"))], ("a", "terminated")),
        (
            [doc(("a", "confirmed")), doc(("a", "terminated")), doc(("b", "trying"))],
            ("b", "trying"),
        ),
        # one call up, the other over: the lamp stays busy
        ([doc(("a", "terminated")), doc(("b", "confirmed"))], ("b", "confirmed")),
        # state names compared without case (pua_dialoginfo writes "Trying")
        ([doc(("a", "Trying")), doc(("b", "TERMINATED"))], ("a", "Trying")),
        # two confirmed rows of one id add up to terminated's weight: neither is kept
        (
            [doc(("a", "confirmed")), doc(("a", "confirmed")), doc(("c", "terminated"))],
            ("c", "terminated"),
        ),
    ],
)
def test_force_single_dialog_keeps_one(bodies: list[bytes], winner: tuple[str, str]) -> None:
    out = aggregate_dialoginfo(bodies, "sip:alice@example.org", single_dialog=True)
    assert dialogs_of(out) == [winner]


def test_force_single_dialog_with_one_publication_keeps_all() -> None:
    out = aggregate_dialoginfo(
        [doc(("a", "confirmed"), ("b", "early"))], "sip:x@y", single_dialog=True
    )
    assert dialogs_of(out) == [("a", "confirmed"), ("b", "early")]


def test_force_single_dialog_state_found_in_a_later_sibling() -> None:
    # xmlNodeGetNodeByName walks on to the following siblings: dialog "a" without a
    # state takes "b"'s early; "b" itself is terminated in a later publication, so
    # the early candidate left is the stateless "a", and it wins
    first = (
        f'<dialog-info xmlns="{NS}"><dialog id="a"/>'
        '<dialog id="b"><state>early</state></dialog></dialog-info>'
    ).encode()
    out = aggregate_dialoginfo([first, doc(("b", "terminated"))], "sip:x@y", single_dialog=True)
    assert dialogs_of(out) == [("a", None)]


def test_force_single_dialog_without_any_state_fails() -> None:
    empty = f'<dialog-info xmlns="{NS}"><dialog id="a"/></dialog-info>'.encode()
    with pytest.raises(BodyError, match="single dialog"):
        aggregate_dialoginfo([empty, empty], "sip:x@y", single_dialog=True)


def test_unparsable_body_fails_the_aggregation() -> None:
    with pytest.raises(BodyError, match="malformed"):
        aggregate_dialoginfo([doc(("a", "early")), b"<dialog-info"], "sip:x@y")
    with pytest.raises(ValueError):
        aggregate_dialoginfo([], "sip:x@y")


def test_entity_longer_than_kamailio_uri_buffer_fails() -> None:
    with pytest.raises(BodyError, match="entity"):
        aggregate_dialoginfo([doc(("a", "early"))], "sip:" + "u" * 1100 + "@example.org")


def test_set_version_needs_the_placeholder_and_writes_a_signed_int() -> None:
    with pytest.raises(BodyError):
        set_version(doc(("a", "early")), 1)
    agg = aggregate_dialoginfo([doc(("a", "early"))], "sip:x@y")
    assert b'version="-2147483648"' in set_version(agg, 2**31)


def test_lab_07_every_dialog_notify_byte_for_byte() -> None:
    """Lab companions 07 (a call alice -> bob, a watcher on each): each NOTIFY body
    is the aggregation of the presentity's publications so far with the watcher's
    version (NOTIFY CSeq - 1).  The lab server keeps one row per dialog id, so a
    presentity holds the newest PUBLISH body of its one call."""
    from puasim.capture.reader import read_pcap

    rows: dict[str, bytes] = {}
    checked = 0
    for rec in read_pcap(DATA / "07_dialoginfo_call_180_200_bye.pcap").records:
        ev = rec.event
        if type(ev) is not MessageSent or ev.retransmission:
            continue
        msg = ev.message
        if not isinstance(msg, Request) or not msg.body:
            continue
        user = msg.uri.split(":", 1)[1].split("@")[0]
        if msg.method == "PUBLISH":
            rows["alice" if "alice@" in msg.get("to") else "bob"] = msg.body
        elif msg.method == "NOTIFY":
            presentity = msg.get("from").split("<sip:", 1)[1].split(">", 1)[0]
            agg = aggregate_dialoginfo([rows[presentity.split("@")[0]]], "sip:" + presentity)
            cseq = H.cseq(msg)
            assert cseq is not None
            assert set_version(agg, cseq.seq - 1) == msg.body, user
            checked += 1
    assert checked == 7
