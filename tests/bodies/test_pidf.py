"""PIDF (RFC 3863) and pua's tuple-id processor (pua-reference §3.4.1)."""

from __future__ import annotations

import pytest

from puasim.bodies import (
    BodyError,
    Pidf,
    Tuple,
    build_pidf,
    first_tuple_id,
    parse_pidf,
    parse_xml,
    process_pidf_tuple_id,
)

# ---------------------------------------------------------------- RFC 3863 examples
# Typed from RFC 3863 §4 (the examples of the format's description).

RFC3863_BASIC = b"""<?xml version="1.0" encoding="UTF-8"?>
   <presence xmlns="urn:ietf:params:xml:ns:pidf"
       entity="pres:someone@example.com">
     <tuple id="sg89ae">
       <status>
         <basic>open</basic>
       </status>
       <contact priority="0.8">tel:+09012345678</contact>
     </tuple>
   </presence>
"""

RFC3863_PREFIXED = b"""<?xml version="1.0" encoding="UTF-8"?>
   <impp:presence xmlns:impp="urn:ietf:params:xml:ns:pidf"
       entity="pres:someone@example.com">
     <impp:tuple id="sg89ae">
       <impp:status>
         <impp:basic>open</impp:basic>
       </impp:status>
       <impp:contact priority="0.8">tel:+09012345678</impp:contact>
     </impp:tuple>
   </impp:presence>
"""

RFC3863_LOCATION = b"""<?xml version="1.0" encoding="UTF-8"?>
   <presence xmlns="urn:ietf:params:xml:ns:pidf"
       xmlns:local="urn:example-com:pidf-status-type"
       entity="pres:someone@example.com">
     <tuple id="ub93s3">
       <status>
         <basic>open</basic>
         <local:location>home</local:location>
       </status>
       <contact>im:someone@example.com</contact>
     </tuple>
   </presence>
"""

RFC3863_FULL = b"""<?xml version="1.0" encoding="UTF-8"?>
   <presence xmlns="urn:ietf:params:xml:ns:pidf"
        xmlns:im="urn:ietf:params:xml:ns:pidf:im"
        xmlns:myex="http://id.example.com/presence/"
        entity="pres:someone@example.com">
     <tuple id="bs35r9">
       <status>
         <basic>open</basic>
         <im:im>busy</im:im>
         <myex:location>home</myex:location>
       </status>
       <contact priority="0.8">im:someone@mobilecarrier.net</contact>
       <note xml:lang="en">Don't Disturb Please!</note>
       <note xml:lang="fr">Ne derangez pas, s'il vous plait</note>
       <timestamp>2001-10-27T16:49:29Z</timestamp>
     </tuple>
     <tuple id="eg92n8">
       <status>
         <basic>open</basic>
       </status>
       <contact priority="1.0">mailto:someone@example.com</contact>
     </tuple>
     <note>I'll be in Tokyo next week</note>
   </presence>
"""

SG89AE = Pidf(
    entity="pres:someone@example.com",
    tuples=(Tuple("sg89ae", "open", contact="tel:+09012345678", priority="0.8"),),
)


@pytest.mark.parametrize("doc", [RFC3863_BASIC, RFC3863_PREFIXED])
def test_rfc3863_basic_example(doc):
    assert parse_pidf(doc) == SG89AE


def test_rfc3863_status_extension_example():
    assert parse_pidf(RFC3863_LOCATION) == Pidf(
        "pres:someone@example.com",
        (Tuple("ub93s3", "open", contact="im:someone@example.com"),),
    )


def test_rfc3863_full_example():
    assert parse_pidf(RFC3863_FULL) == Pidf(
        "pres:someone@example.com",
        (
            Tuple(
                "bs35r9",
                "open",
                contact="im:someone@mobilecarrier.net",
                priority="0.8",
                note="Don't Disturb Please!",
                timestamp="2001-10-27T16:49:29Z",
            ),
            Tuple("eg92n8", "open", contact="mailto:someone@example.com", priority="1.0"),
        ),
        ("I'll be in Tokyo next week",),
    )


@pytest.mark.parametrize("doc", [RFC3863_BASIC, RFC3863_LOCATION, RFC3863_FULL])
def test_rfc_examples_survive_a_round_trip(doc):
    pidf = parse_pidf(doc)
    assert parse_pidf(build_pidf(pidf)) == pidf


def test_build_matches_kamailio_layout():
    assert build_pidf(SG89AE) == (
        b'<?xml version="1.0"?>\n'
        b'<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="pres:someone@example.com">\n'
        b'  <tuple id="sg89ae">\n'
        b"    <status>\n"
        b"      <basic>open</basic>\n"
        b"    </status>\n"
        b'    <contact priority="0.8">tel:+09012345678</contact>\n'
        b"  </tuple>\n"
        b"</presence>\n"
    )


def test_build_pua_usrloc_style_body():
    # pua-reference §9.2 / Appendix B: four namespaces, one tuple without id
    body = build_pidf(
        Pidf("alice@example.com", (Tuple(None, "open"),)),
        extra_namespaces={
            "dm": "urn:ietf:params:xml:ns:pidf:data-model",
            "rpid": "urn:ietf:params:xml:ns:pidf:rpid",
            "c": "urn:ietf:params:xml:ns:pidf:cipid",
        },
    )
    assert body.startswith(
        b'<?xml version="1.0"?>\n<presence xmlns="urn:ietf:params:xml:ns:pidf" '
        b'xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" '
        b'xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" '
        b'xmlns:c="urn:ietf:params:xml:ns:pidf:cipid" entity="alice@example.com">\n'
        b"  <tuple>\n"
    )
    assert parse_pidf(body).tuples == (Tuple(None, "open"),)


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        (b'<presence xmlns="urn:other" entity="x"/>', "root element"),
        (b'<presence xmlns="urn:ietf:params:xml:ns:pidf"/>', "entity"),
        (
            b'<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="x"><tuple id="a"><status>'
            b"<basic>busy</basic></status></tuple></presence>",
            "basic",
        ),
        (
            b'<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="x"><tuple id="a"><status/>'
            b'<contact priority="2">sip:a@b</contact></tuple></presence>',
            "priority",
        ),
    ],
)
def test_parse_errors(doc, reason):
    with pytest.raises(BodyError, match=reason):
        parse_pidf(doc)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(basic="busy"),
        dict(priority="0.5"),
        dict(contact="sip:a@b", priority="1.5"),
        dict(contact=" sip:a@b"),
    ],
)
def test_tuple_validation(kwargs):
    with pytest.raises(ValueError):
        Tuple("t", **({"basic": "open"} | kwargs))


# ---------------------------------------------------------------- §3.4.1 processor

NO_ID = (
    b'<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:a@example.com">'
    b"<tuple><status><basic>open</basic></status></tuple></presence>"
)
WITH_ID = NO_ID.replace(b"<tuple>", b'<tuple id="body-id">')
PERSON_NS = b' xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model"'


def with_person(doc: bytes, person: bytes = b"<dm:person/>") -> bytes:
    doc = doc.replace(b'entity="', PERSON_NS + b' entity="', 1)
    return doc.replace(b"</presence>", person + b"</presence>")


def ids(body: bytes) -> tuple[str | None, str | None]:
    root = parse_xml(body, what="PIDF")
    person = root.find("{urn:ietf:params:xml:ns:pidf:data-model}person")
    return first_tuple_id(root), None if person is None else person.get("id")


# the four rows of the §3.4.1 table: (body, stored) -> (id in body, id remembered)
TABLE = [
    pytest.param(NO_ID, None, "0x7ffd1c2a3b40", "0x7ffd1c2a3b40", id="no-id/none"),
    pytest.param(NO_ID, "stored-id", "stored-id", "stored-id", id="no-id/stored"),
    pytest.param(WITH_ID, None, "body-id", "body-id", id="id/none"),
    pytest.param(WITH_ID, "stored-id", "body-id", "stored-id", id="id/stored"),
]


@pytest.mark.parametrize(("body", "stored", "in_body", "remembered"), TABLE)
def test_tuple_id_table(body, stored, in_body, remembered):
    new_body, kept = process_pidf_tuple_id(body, stored, "0x7ffd1c2a3b40")
    assert kept == remembered
    assert ids(new_body) == (in_body, None)


@pytest.mark.parametrize(("body", "stored", "in_body", "remembered"), TABLE)
def test_person_without_id_gets_the_tuple_id_used(body, stored, in_body, remembered):
    new_body, kept = process_pidf_tuple_id(with_person(body), stored, "0x7ffd1c2a3b40")
    assert kept == remembered
    assert ids(new_body) == (in_body, in_body)  # "yes/present": the body's own id


def test_person_with_an_id_keeps_it():
    body = with_person(NO_ID, b'<dm:person id="p1"/>')
    assert ids(process_pidf_tuple_id(body, None, "0x1")[0]) == ("0x1", "p1")
    upper = with_person(NO_ID, b'<dm:person ID="p1"/>')  # attribute name case-insensitive
    assert b'id="0x1"/>' not in process_pidf_tuple_id(upper, None, "0x1")[0]


def test_only_the_first_person_is_touched():
    body = with_person(NO_ID, b"<dm:person/><dm:person/>")
    new_body = process_pidf_tuple_id(body, None, "0x1")[0]
    assert new_body.count(b'<dm:person id="0x1"/>') == 1
    assert new_body.count(b"<dm:person/>") == 1


def test_empty_stored_id_counts_as_none():
    # send_publish.c hands the stored id over only when it is non-empty
    assert process_pidf_tuple_id(NO_ID, "", "0x1")[1] == "0x1"


def test_processed_body_is_formatted_and_id_appended_last():
    body = NO_ID.replace(b"<tuple>", b'<tuple class="x">')
    new_body, _ = process_pidf_tuple_id(body, None, "0x7ffc00000001")
    assert new_body == (
        b'<?xml version="1.0"?>\n'
        b'<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:a@example.com">\n'
        b'  <tuple class="x" id="0x7ffc00000001">\n'
        b"    <status>\n"
        b"      <basic>open</basic>\n"
        b"    </status>\n"
        b"  </tuple>\n"
        b"</presence>\n"
    )


def test_processing_our_own_output_is_a_fixed_point():
    body = build_pidf(SG89AE)
    assert process_pidf_tuple_id(body, None, "0x1") == (body, "sg89ae")
    assert process_pidf_tuple_id(body, "old", "0x1") == (body, "old")


def test_tuple_is_found_anywhere_case_insensitively_namespace_ignored():
    body = b'<wrapper><x:TUPLE xmlns:x="urn:whatever" Id="deep"/><tuple id="later"/></wrapper>'
    assert process_pidf_tuple_id(body, None, "0x1")[1] == "deep"


def test_tuple_id_length_limit():
    ok = WITH_ID.replace(b"body-id", b"a" * 49)
    assert process_pidf_tuple_id(ok, None, "0x1")[1] == "a" * 49
    too_long = WITH_ID.replace(b"body-id", b"a" * 50)
    with pytest.raises(BodyError, match="50"):
        process_pidf_tuple_id(too_long, None, "0x1")
    # with a stored id the body's id is not copied into the buffer: no limit
    assert process_pidf_tuple_id(too_long, "s", "0x1")[1] == "s"
    # a stored id copied into the buffer (row 2) must fit too
    with pytest.raises(BodyError):
        process_pidf_tuple_id(NO_ID, "s" * 50, "0x1")
    with pytest.raises(ValueError):
        process_pidf_tuple_id(NO_ID, None, "g" * 50)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="a"/>', "no <tuple>"),
        (b"<?tuple x?><presence><tuple/></presence>", "not an element"),
        (b"<presence><tuple/><?person?></presence>", "not an element"),
        (b"<presence><tuple>", "malformed"),
    ],
)
def test_processor_failures(body, reason):
    with pytest.raises(BodyError, match=reason):
        process_pidf_tuple_id(body, None, "0x1")


def test_first_tuple_id():
    assert first_tuple_id(parse_xml(WITH_ID, what="PIDF")) == "body-id"
    assert first_tuple_id(parse_xml(NO_ID, what="PIDF")) is None
    with pytest.raises(BodyError):
        first_tuple_id(parse_xml(b"<presence/>", what="PIDF"))
