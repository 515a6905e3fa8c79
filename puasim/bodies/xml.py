"""Safe XML parsing and Kamailio-style formatted serialisation.

Parsing (DESIGN.md, "XML bodies are parsed with entity resolution and network
access off"): one lxml parser configuration, used by every XML reader of this
package.  Entities are never resolved, nothing is ever fetched, DTDs are not
loaded and libxml2's size limits stay on (``huge_tree=False``).  On top of
that any ``<!DOCTYPE`` is refused before lxml sees the document, so a
billion-laughs document or one declaring an external entity
(``file:///etc/passwd``, ``http://...``) fails fast with :class:`BodyError`
instead of being expanded or fetched.  SIP presence bodies never carry a DTD;
Kamailio's ``xmlParseMemory`` would accept one (and keep, not expand, internal
entity references), so refusing it is a deliberate, documented deviation.
The other known deviation: lxml (libxml2 2.14) refuses namespace problems
that Kamailio's libxml2 2.9 only reports and accepts (an undeclared prefix, a
namespace name that is not a valid URI such as ``urn:é``).

Serialisation (pua-reference §3.4.1 step 5, §3.4.2): :func:`serialise_formatted`
reproduces what Kamailio gets from ``xmlDocDumpFormatMemory(doc, ..., 1)``
with libxml2 2.9.14 (Debian bookworm, the lab's Kamailio 5.6.3).  See its
docstring for what is matched and what is not.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from lxml import etree

from .errors import BodyError
from .limits import check_body_size

__all__ = [
    "ParsedXml",
    "XmlDeclaration",
    "parse_document",
    "parse_xml",
    "read_declaration",
    "serialise_formatted",
    "sub_element",
]


@dataclass(frozen=True, slots=True)
class XmlDeclaration:
    """The XML declaration of a parsed document, as libxml2 keeps it.

    ``encoding`` is the name *as written* in the input's declaration, or
    ``None`` when the input declared none; libxml2 writes it back unchanged
    (``doc->encoding``).  ``standalone`` is ``None`` when not declared.
    """

    version: str = "1.0"
    encoding: str | None = None
    standalone: bool | None = None


@dataclass(frozen=True, slots=True)
class ParsedXml:
    """A parsed document: its root element and its declaration."""

    root: etree._Element
    declaration: XmlDeclaration


def _new_parser() -> etree.XMLParser:
    # A fresh parser per call: lxml parsers keep state (error log), and the
    # package holds no global mutable state.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        attribute_defaults=False,
        huge_tree=False,
        # keep the tree as libxml2's xmlParseMemory builds it, so that the
        # formatted serialisation sees the same nodes Kamailio's does
        remove_blank_text=False,
        remove_comments=False,
        remove_pis=False,
        strip_cdata=False,
        collect_ids=False,
    )


# ---------------------------------------------------------------- DOCTYPE guard

_UTF16_32_PREFIXES = (
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\xfe\xff", "utf-16-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00<\x00?", "utf-16-be"),
    (b"<\x00?\x00", "utf-16-le"),
)


def _as_text_for_scan(data: bytes) -> str:
    """The document as text good enough to look for markup keywords in.

    ASCII-compatible encodings are read as Latin-1 (every byte maps to one
    character, markup characters stay where they are).  UTF-16/UTF-32 are
    recognised by BOM or by the ``<?`` pattern of XML 1.0 Appendix F.  An
    EBCDIC document is not decoded here; the post-parse check still catches
    its DTD.
    """
    for prefix, codec in _UTF16_32_PREFIXES:
        if data.startswith(prefix):
            usable = len(data) - len(data) % (4 if "32" in codec else 2)
            return data[:usable].decode(codec, errors="replace")
    return data.decode("latin-1")


def _line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _refuse_doctype(data: bytes, what: str) -> None:
    text = _as_text_for_scan(data)
    pos = text.find("<!DOCTYPE")
    if pos < 0:
        ent = text.find("<!ENTITY")
        if ent >= 0:  # not well-formed without a DOCTYPE, but say why
            raise BodyError(
                what, "entity declaration outside a DOCTYPE refused", line=_line_of(text, ent)
            )
        return
    line = _line_of(text, pos)
    end = text.find("]>", pos)
    doctype = text[pos:] if end < 0 else text[pos : end + 2]
    if "<!ENTITY" in doctype:
        reason = (
            "DOCTYPE with entity declarations refused (entities are never expanded nor fetched)"
        )
    elif re.search(r"\b(SYSTEM|PUBLIC)\b", doctype):
        reason = "DOCTYPE referring to an external DTD refused (nothing is ever fetched)"
    else:
        reason = "DOCTYPE declarations are not accepted in SIP bodies"
    raise BodyError(what, reason, line=line)


# ---------------------------------------------------------------- declaration

_DECLARATION = re.compile(
    r"""<\?xml\s+version\s*=\s*(["'])([^"']*)\1"""
    r"""(?:\s+encoding\s*=\s*(["'])([^"']*)\3)?"""
    r"""(?:\s+standalone\s*=\s*(["'])(yes|no)\5)?\s*\?>"""
)


def read_declaration(data: bytes) -> XmlDeclaration:
    """Read the XML declaration at the start of ``data`` (libxml2's view).

    No declaration gives ``XmlDeclaration()`` (version 1.0, no encoding, no
    standalone), which serialises as ``<?xml version="1.0"?>``.
    """
    text = _as_text_for_scan(bytes(data[:1024]))
    if text.startswith("\ufeff"):  # BOM decoded by a UTF-16/32 codec
        text = text[1:]
    elif text.startswith("\xef\xbb\xbf"):  # UTF-8 BOM read as Latin-1
        text = text[3:]
    match = _DECLARATION.match(text)
    if match is None:
        return XmlDeclaration()
    standalone = None if match.group(6) is None else match.group(6) == "yes"
    return XmlDeclaration(match.group(2), match.group(4), standalone)


# ---------------------------------------------------------------- parsing

_LXML_POSITION = re.compile(r",? line \d+, column \d+$")


def parse_document(data: bytes, *, what: str) -> ParsedXml:
    """Parse ``data`` safely; return its root and its XML declaration.

    :param what: the body kind named in errors (``"PIDF"``, ...).
    :raises BodyError: for a body larger than Kamailio's SIP message buffer
        (:data:`~puasim.bodies.limits.MAX_BODY_BYTES`), any DOCTYPE, any XML
        syntax or namespace error, an unsupported encoding or an empty
        document; never anything else for bytes input.
    :raises TypeError: if ``data`` is not bytes-like (caller misuse).
    """
    if isinstance(data, str) or not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"{what} body must be bytes, not {type(data).__name__}")
    check_body_size(data, what)
    data = bytes(data)
    if not data.strip():
        raise BodyError(what, "empty document")
    _refuse_doctype(data, what)
    try:
        root = etree.fromstring(data, _new_parser())
    except etree.XMLSyntaxError as exc:
        msg = _LXML_POSITION.sub("", str(exc.msg or exc)).strip() or "not well-formed"
        line, column = exc.position if exc.position else (None, None)
        raise BodyError(
            what, f"malformed XML: {msg}", line=line or None, column=column or None
        ) from None
    except (etree.LxmlError, ValueError, LookupError) as exc:  # defensive: lxml edge cases
        raise BodyError(what, f"malformed XML: {exc}") from None
    if root is None:  # only possible with recover=True; kept for the type checker
        raise BodyError(what, "no root element")
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise BodyError(what, "DOCTYPE declarations are not accepted in SIP bodies")
    return ParsedXml(root, read_declaration(data))


def parse_xml(data: bytes, *, what: str) -> etree._Element:
    """Parse ``data`` safely and return the root element (see :func:`parse_document`)."""
    return parse_document(data, what=what).root


# ---------------------------------------------------------------- building


def sub_element(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    """Append child ``tag`` to ``parent`` with ``text`` (for the builders).

    An empty or absent text gives an empty element (``<x/>``), never an empty
    text node: libxml2 writes the latter as ``<x></x>``, which parses back
    without a text node and re-serialises as ``<x/>``.  Building ``<x/>``
    keeps build → parse → re-serialise a fixed point.
    """
    node = etree.SubElement(parent, tag)
    if text:
        node.text = text
    return node


# ---------------------------------------------------------------- serialising

_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_ATTRIBUTE = re.compile(r"""([^\s=<>/"']+)=("[^"]*"|'[^']*')""")


def _hex_ref(match: re.Match[str]) -> str:
    return f"&#x{ord(match.group()):X};"


def _escape_tag(tag: str) -> str:
    def one(match: re.Match[str]) -> str:
        name, value = match.group(1), match.group(2)
        if name == "xmlns" or name.startswith("xmlns:"):
            return match.group()  # namespace URIs are written raw (xmlNsDumpOutput)
        return f"{name}={_NON_ASCII.sub(_hex_ref, value)}"

    return _ATTRIBUTE.sub(one, tag)


def _tag_end(doc: str, start: int) -> int:
    quote = ""
    for pos in range(start + 1, len(doc)):
        char = doc[pos]
        if quote:
            if char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char == ">":
            return pos + 1
    return len(doc)


def _ascii_escape(doc: str) -> str:
    """libxml2's output when the document has no encoding (``doc->encoding``
    NULL): text and attribute values go through ``xmlEscapeEntities`` /
    ``xmlBufAttrSerializeTxtContent``, which write every non-ASCII character
    as ``&#xHEX;``; names, namespace URIs, comments, PIs and CDATA are
    written raw (UTF-8).

    An all-ASCII document without a ``&#13;`` is written as it is (nothing
    in it is escaped): most bodies are, and :func:`_escape_walk` is not
    needed for them."""
    if doc.isascii() and "&#13;" not in doc:
        return doc
    return _escape_walk(doc)


def _escape_walk(doc: str) -> str:
    """:func:`_ascii_escape` part by part: comments, CDATA, PIs, tags, text."""
    out: list[str] = []
    pos, size = 0, len(doc)
    while pos < size:
        if doc.startswith("<!--", pos):
            end = doc.find("-->", pos + 4)
            end = size if end < 0 else end + 3
            out.append(doc[pos:end])
        elif doc.startswith("<![CDATA[", pos):
            end = doc.find("]]>", pos)
            end = size if end < 0 else end + 3
            out.append(doc[pos:end])
        elif doc.startswith("<?", pos):
            end = doc.find("?>", pos)
            end = size if end < 0 else end + 2
            out.append(doc[pos:end])
        elif doc[pos] == "<":
            end = _tag_end(doc, pos)
            out.append(_escape_tag(doc[pos:end]))
        else:
            end = doc.find("<", pos)
            end = size if end < 0 else end
            # a carriage return in text is &#xD; here, &#13; with an encoding
            out.append(_NON_ASCII.sub(_hex_ref, doc[pos:end].replace("&#13;", "&#xD;")))
        pos = end
    return "".join(out)


def _declaration_line(declaration: XmlDeclaration) -> str:
    line = f'<?xml version="{declaration.version}"'
    if declaration.encoding is not None:
        line += f' encoding="{declaration.encoding}"'
    if declaration.standalone is not None:
        line += f' standalone="{"yes" if declaration.standalone else "no"}"'
    return line + "?>\n"


def serialise_formatted(root: etree._Element, declaration: XmlDeclaration | None = None) -> bytes:
    """Serialise the document of ``root`` as ``xmlDocDumpFormatMemory(doc, .., 1)`` does.

    ``declaration`` is the input's XML declaration (from :func:`parse_document`);
    ``None`` stands for a document built in memory (``xmlNewDoc("1.0")``),
    which is what Kamailio's own body builders produce.  Passing the root of a
    parsed document *without* its declaration therefore loses a declared
    encoding: use :func:`parse_document` when re-serialising input.

    Matched (libxml2 2.9.14, the version under the lab's Kamailio 5.6.3):

    * declaration line ``<?xml version="1.0"?>`` plus `` encoding="…"`` when the
      input declared one (name as written) and `` standalone="…"`` when
      declared, then a newline (confirmed by the lab capture
      ``a-b-c_publish_modify_unpublish_restart``, where Kamailio kept
      ``encoding="UTF-8"``);
    * element layout: this is libxml2's own formatter (lxml calls
      ``xmlNodeDumpOutput`` with format=1), so an element whose children are
      all elements is laid out with newlines and two spaces per level, while
      an element with any text child (whitespace-only included) is written
      exactly as it is, with its whole subtree.  A body that arrives indented
      therefore keeps its indentation, one that arrives on one line comes
      back indented.  Whitespace inside tags (attributes on several lines)
      and around the root is not kept: attributes are written separated by
      one space, attribute values in double quotes; empty elements ``<x/>``;
    * one newline after each top-level node (comments and PIs before or after
      the root keep their place), so the output ends with a newline;
    * escaping without a declared encoding: non-ASCII characters in text and
      attribute values as ``&#xHEX;``, ``\\r`` in text as ``&#xD;``; with a
      declared UTF-8 encoding raw UTF-8; with another declared encoding that
      encoding, unrepresentable characters as ``&#NNN;``; attribute values
      escape ``< > & "`` and ``\\t \\n \\r`` as ``&#9; &#10; &#13;``.

    Not matched (edge cases a simulation does not meet):

    * DOCTYPEs and entity references (refused by the parser);
    * non-ASCII characters inside comments or PIs of a UTF-16 document, and
      the exact byte-order/BOM choice of libxml2's UTF-16 writer (Python's
      ``utf-16`` codec writes a BOM and little-endian);
    * a UTF-8 BOM without a declaration (libxml2 may record an encoding for it);
    * anything lxml's newer libxml2 lays out differently from 2.9.14 (none
      known for element content).
    """
    if root.getparent() is not None:
        raise ValueError("serialise_formatted() takes the document's root element")
    declaration = declaration or XmlDeclaration()
    body = etree.tostring(root.getroottree(), encoding="unicode", pretty_print=True)
    if not body.endswith("\n"):  # defensive: lxml ends pretty output with a newline
        body += "\n"
    head = _declaration_line(declaration)
    if declaration.encoding is None:
        return (head + _ascii_escape(body)).encode("utf-8")
    try:
        codec = codecs.lookup(declaration.encoding)
    except LookupError:
        raise BodyError("XML", f"cannot write encoding {declaration.encoding!r}") from None
    if codec.name == "utf-8":
        return (head + body).encode("utf-8")
    return (head + body).encode(codec.name, errors="xmlcharrefreplace")
