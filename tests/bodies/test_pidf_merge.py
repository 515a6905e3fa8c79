"""Merging a presentity's PIDF publications into one NOTIFY body (presence_xml's default)."""

from __future__ import annotations

from pathlib import Path

import pytest

from puasim.bodies import BodyError
from puasim.bodies.pidf_merge import merge_pidf

LAB = Path(__file__).parent.parent / "data" / "lab" / "kamailio"

DM = "urn:ietf:params:xml:ns:pidf:data-model"


def doc(tuple_id: str, basic: str = "open", note: str | None = None, person: str | None = None) -> bytes:
    """An indented PIDF like the lab's bodies (a fixed point of libxml2's formatter)."""
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="{DM}" entity="sip:alice@127.0.0.1">',
        f'  <tuple id="{tuple_id}">',
        f"    <status><basic>{basic}</basic></status>",
        "  </tuple>",
    ]
    if person is not None:
        lines.append(f'  <dm:person id="p"><dm:note>{person}</dm:note></dm:person>')
    if note is not None:
        lines.append(f"  <note>{note}</note>")
    return ("\n".join([*lines, "</presence>"]) + "\n").encode()


def tuple_ids(body: bytes) -> list[str]:
    return [part.split('"', 2)[1] for part in body.decode().split(" id=")[1:]]


def lab_messages(name: str) -> list[tuple[str, bytes]]:
    """(first line, body) of every message in a lab capture's text decode."""
    out = []
    for section in (LAB / f"{name}.txt").read_text().split("\n----- "):
        lines = section.split("\n")
        start = 1 if lines[0].startswith("-----") or "->" in lines[0] else 0
        head, _, rest = "\n".join(lines[start:]).partition("\n\n")
        length = next(
            int(line.split(":", 1)[1]) for line in head.split("\n") if line.startswith("Content-Length:")
        )
        out.append((head.split("\n", 1)[0], rest.encode()[:length]))
    return out


def test_lab_h2_duplicate_tuple_id_shows_only_the_newest_publication():
    """Lab h2: two initial PUBLISHes for alice with the same tuple id (two
    publications on the server); the NOTIFY after the SUBSCRIBE carries the
    newest body byte for byte and nothing of the older one."""
    messages = lab_messages("h2_pua_db_mode2_and_subscribe_crash")
    alice = [body for first, body in messages if first == "PUBLISH sip:alice@127.0.0.1 SIP/2.0"]
    notify = next(body for first, body in messages if first.startswith("NOTIFY "))
    assert len(alice) == 2 and alice[0] != alice[1]
    assert merge_pidf(alice) == notify == alice[1]


def test_tuple_order_newest_document_first_then_older_ones_backwards():
    bodies = [doc("oldest"), doc("middle"), doc("newest")]
    merged = merge_pidf(bodies)
    assert tuple_ids(merged) == ["newest", "middle", "oldest"]
    assert merged.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<presence ')
    assert merged.count(b"<presence") == 1


def test_appended_nodes_redeclare_their_namespaces_and_keep_notes_and_persons():
    old = doc("t-desk", note="at desk", person="in office")
    new = doc("t-phone", "closed", note="on the phone")
    merged = merge_pidf([old, new]).decode()
    assert merged == (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="{DM}" entity="sip:alice@127.0.0.1">\n'
        '  <tuple id="t-phone">\n'
        "    <status><basic>closed</basic></status>\n"
        "  </tuple>\n"
        "  <note>on the phone</note>\n"
        "\n"
        '  <tuple xmlns="urn:ietf:params:xml:ns:pidf" id="t-desk">\n'
        "    <status><basic>open</basic></status>\n"
        "  </tuple>\n"
        f'  <dm:person xmlns:dm="{DM}" id="p"><dm:note>in office</dm:note></dm:person>\n'
        '  <note xmlns="urn:ietf:params:xml:ns:pidf">at desk</note>\n'
        "</presence>\n"
    )


def test_duplicate_first_tuple_id_drops_the_whole_older_document_ignoring_case():
    old = doc("T-Desk", note="old note", person="old person")
    new = doc("t-desk", "closed")
    merged = merge_pidf([old, new])
    assert merged == new
    assert b"old note" not in merged and b"old person" not in merged


def test_only_the_first_tuple_is_compared_so_ids_can_repeat():
    two = doc("fresh").replace(
        b"</presence>", b'  <tuple id="dup"><status><basic>open</basic></status></tuple>\n</presence>'
    )
    merged = merge_pidf([two, doc("dup", "closed")])
    assert tuple_ids(merged) == ["dup", "fresh", "dup"]


def test_a_document_dropped_as_duplicate_of_an_appended_tuple():
    merged = merge_pidf([doc("a", "closed"), doc("a"), doc("b")])
    assert tuple_ids(merged) == ["b", "a"]
    assert merged.count(b"closed") == 0  # the oldest "a" met the appended one


def test_document_without_tuple_is_always_appended():
    person_only = (
        f'<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="{DM}" entity="sip:alice@127.0.0.1">'
        '<dm:person id="p"><dm:note>busy</dm:note></dm:person></presence>'
    ).encode()
    merged = merge_pidf([person_only, doc("t")])
    assert tuple_ids(merged) == ["t", "p"]
    assert b"<dm:note>busy</dm:note>" in merged


def test_single_body_is_written_by_the_formatter():
    one_line = (
        b'<?xml version="1.0"?>\n<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="a">'
        b'<tuple id="t"><status><basic>open</basic></status></tuple></presence>'
    )
    assert merge_pidf([one_line]) == (
        b'<?xml version="1.0"?>\n<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="a">\n'
        b'  <tuple id="t">\n    <status>\n      <basic>open</basic>\n    </status>\n  </tuple>\n'
        b"</presence>\n"
    )


@pytest.mark.parametrize(
    "bodies, reason",
    [
        ([doc("a").replace(b' id="a"', b""), doc("b")], "tuple to merge has no id"),
        ([doc("b"), doc("a").replace(b' id="a"', b"")], "merged document has no id"),
        ([doc("a"), b"<presence"], "malformed XML"),
        ([b"<other/>", doc("a")], "no <presence> element"),
    ],
)
def test_failures_raise_body_error(bodies, reason):
    with pytest.raises(BodyError, match=reason):
        merge_pidf(bodies)


def test_no_body_is_a_caller_error():
    with pytest.raises(ValueError):
        merge_pidf([])
