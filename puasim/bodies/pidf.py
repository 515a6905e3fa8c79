"""PIDF documents (RFC 3863) and pua's PIDF tuple-id processor.

The model keeps the part of RFC 3863 a presence simulation uses: the
presentity (``entity``), its tuples with basic status, contact (with
priority), one note and a timestamp, and the document-level notes.  Extension
elements are skipped when reading; ``xml:lang`` is not kept.

:func:`process_pidf_tuple_id` is Kamailio pua's ``pres_process_body``
(pua-reference §3.4.1) as a pure function.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from lxml import etree

from .errors import BodyError
from .lookup import attribute_ci, first_element_named, first_node_named
from .xml import parse_document, serialise_formatted, sub_element

__all__ = [
    "PIDF_NS",
    "Pidf",
    "Tuple",
    "build_pidf",
    "first_tuple_id",
    "parse_pidf",
    "process_pidf_tuple_id",
]

#: RFC 3863 §4.1 namespace
PIDF_NS = "urn:ietf:params:xml:ns:pidf"
WHAT = "PIDF"
#: size of Kamailio's ``char buf[50]`` in ``pres_process_body``: an id must be
#: shorter (pua-reference §3.4.1, "must be < 50 chars else −1")
TUPLE_ID_LIMIT = 50

Basic = Literal["open", "closed"]
_BASIC = ("open", "closed")
#: RFC 3863 §4.4 schema, type ``qvalue``
_QVALUE = re.compile(r"0(\.[0-9]{0,3})?|1(\.0{0,3})?")


def _check_text(value: str | None, field: str, *, strip: bool = False) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise TypeError(f"{field} must be a string, not {type(value).__name__}")
    if strip and value != value.strip():
        raise ValueError(f"{field} must not have surrounding whitespace: {value!r}")


@dataclass(frozen=True, slots=True)
class Tuple:
    """One ``<tuple>`` (RFC 3863 §4.1.2 - §4.1.7).

    ``id`` is required by RFC 3863 but may be ``None`` here: the bodies that
    pua_usrloc hands to pua carry no id until pua adds one (§3.4.1).
    ``basic`` is optional in the schema (``minOccurs="0"``).  ``priority`` is
    the ``priority`` attribute of ``<contact>`` as written (a qvalue).  Only
    the first tuple note is kept.
    """

    id: str | None
    basic: Basic | None = None
    contact: str | None = None
    priority: str | None = None
    note: str | None = None
    timestamp: str | None = None

    def __post_init__(self) -> None:
        _check_text(self.id, "tuple id")
        if self.basic is not None and self.basic not in _BASIC:
            raise ValueError(f"basic must be 'open' or 'closed', not {self.basic!r}")
        _check_text(self.contact, "contact", strip=True)
        _check_text(self.note, "note")
        _check_text(self.timestamp, "timestamp", strip=True)
        if self.priority is not None:
            if self.contact is None:
                raise ValueError("priority is an attribute of <contact>: give a contact")
            if not isinstance(self.priority, str) or not _QVALUE.fullmatch(self.priority):
                raise ValueError(f"priority must be a qvalue (RFC 3863 §4.1.5): {self.priority!r}")


@dataclass(frozen=True, slots=True)
class Pidf:
    """A ``<presence>`` document (RFC 3863 §4.1.1)."""

    entity: str
    tuples: tuple[Tuple, ...] = ()
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_text(self.entity, "entity", strip=True)
        object.__setattr__(self, "tuples", tuple(self.tuples))
        object.__setattr__(self, "notes", tuple(self.notes))
        for item in self.tuples:
            if not isinstance(item, Tuple):
                raise TypeError(f"tuples must hold Tuple values, not {type(item).__name__}")
        for note in self.notes:
            _check_text(note, "note")


# ---------------------------------------------------------------- building


def _q(name: str) -> str:
    return f"{{{PIDF_NS}}}{name}"


def build_pidf(pidf: Pidf, *, extra_namespaces: dict[str, str] | None = None) -> bytes:
    """Build the document, formatted as Kamailio's builders do (``<?xml
    version="1.0"?>``, two-space indentation, trailing newline).

    Element order follows the RFC 3863 schema: tuple = status, contact, note,
    timestamp; presence = tuples, then notes.  ``extra_namespaces`` adds
    prefix declarations to the root (pua_usrloc declares ``dm``, ``rpid`` and
    ``c``, pua-reference §9.2).
    """
    nsmap: dict[str | None, str] = {None: PIDF_NS}
    nsmap.update(extra_namespaces or {})
    try:
        root = etree.Element(_q("presence"), nsmap=nsmap)
        root.set("entity", pidf.entity)
        for item in pidf.tuples:
            node = etree.SubElement(root, _q("tuple"))
            if item.id is not None:
                node.set("id", item.id)
            status = etree.SubElement(node, _q("status"))
            if item.basic is not None:
                sub_element(status, _q("basic"), item.basic)
            if item.contact is not None:
                contact = sub_element(node, _q("contact"), item.contact)
                if item.priority is not None:
                    contact.set("priority", item.priority)
            if item.note is not None:
                sub_element(node, _q("note"), item.note)
            if item.timestamp is not None:
                sub_element(node, _q("timestamp"), item.timestamp)
        for note in pidf.notes:
            sub_element(root, _q("note"), note)
    except ValueError as exc:  # lxml: text or names XML cannot carry
        raise BodyError(WHAT, f"cannot build: {exc}") from None
    return serialise_formatted(root)


# ---------------------------------------------------------------- reading


def _text(node: etree._Element | None) -> str | None:
    if node is None:
        return None
    return "".join(node.itertext())


def _stripped(node: etree._Element | None) -> str | None:
    text = _text(node)
    return None if text is None else text.strip()


def parse_pidf(data: bytes) -> Pidf:
    """Read a PIDF document.

    :raises BodyError: not XML, root not ``{urn:ietf:params:xml:ns:pidf}presence``,
        no ``entity``, a ``<basic>`` other than open/closed, a bad priority.
    """
    root = parse_document(data, what=WHAT).root
    if root.tag != _q("presence"):
        raise BodyError(WHAT, f"root element is {root.tag!r}, not {{{PIDF_NS}}}presence")
    entity = root.get("entity")
    if entity is None:
        raise BodyError(WHAT, "<presence> has no entity attribute", line=root.sourceline)
    tuples: list[Tuple] = []
    for node in root.iterchildren(_q("tuple")):
        basic_node = node.find(f"{_q('status')}/{_q('basic')}")
        basic = None if basic_node is None else (_text(basic_node) or "").strip()
        contact = node.find(_q("contact"))
        try:
            tuples.append(
                Tuple(
                    id=node.get("id"),
                    basic=basic,  # type: ignore[arg-type]  # checked by Tuple
                    contact=_stripped(contact),
                    priority=None if contact is None else contact.get("priority"),
                    note=_text(node.find(_q("note"))),
                    timestamp=_stripped(node.find(_q("timestamp"))),
                )
            )
        except ValueError as exc:
            raise BodyError(WHAT, f"bad <tuple>: {exc}", line=node.sourceline) from None
    notes = tuple(_text(note) or "" for note in root.iterchildren(_q("note")))
    try:
        return Pidf(entity=entity.strip(), tuples=tuple(tuples), notes=notes)
    except ValueError as exc:
        raise BodyError(WHAT, str(exc)) from None


# ---------------------------------------------------------------- pua processor


def first_tuple_id(root: etree._Element) -> str | None:
    """The ``id`` of the first ``tuple`` node (pua-reference §3.4.1 steps 2-3).

    Found as Kamailio finds it (:mod:`puasim.bodies.lookup`): anywhere in the
    tree, case-insensitive, namespace ignored; the ``id`` attribute likewise.

    :returns: the id, or ``None`` when the tuple has no id attribute.
    :raises BodyError: no tuple at all (Kamailio: −1).
    """
    return attribute_ci(first_element_named(root, "tuple", what=WHAT), "id")


def _check_fits(tuple_id: str, source: str) -> None:
    if len(tuple_id.encode("utf-8")) >= TUPLE_ID_LIMIT:
        raise BodyError(
            WHAT,
            f"{source} tuple id is {len(tuple_id.encode('utf-8'))} bytes; "
            f"Kamailio's buffer takes fewer than {TUPLE_ID_LIMIT}",
        )


def process_pidf_tuple_id(
    body: bytes, stored_tuple_id: str | None, generated_id: str
) -> tuple[bytes, str]:
    """Kamailio's presence body processor (pua-reference §3.4.1).

    :param body: the PIDF the caller publishes.
    :param stored_tuple_id: the record's tuple id; ``None`` (or ``""``: pua
        only hands the stored id over when it is non-empty, ``send_publish.c``)
        for a new publication.
    :param generated_id: the id to add when the body has none and nothing is
        stored; Kamailio prints the request's pointer (``%p``), the model
        supplies a deterministic value.
    :returns: ``(new body, tuple id the record keeps)``:

    ======================  ==============  ======================================
    tuple has ``id``        stored id       result
    ======================  ==============  ======================================
    no                      none            add ``id=generated_id``; remember it
    no                      present         add ``id=stored``; remember stored
    yes                     none            keep it; remember it (< 50 bytes)
    yes                     present         keep the body's id; remember stored
    ======================  ==============  ======================================

    Then the first ``person`` node (any namespace) without an ``id`` gets
    ``id`` = the tuple id used in the body (for the last row the body's own).
    The document is re-serialised formatted (:func:`serialise_formatted`).

    :raises BodyError: not XML, no tuple, a tuple/person node that is a PI, or
        an id that does not fit Kamailio's 50-byte buffer (the body's id in
        row 3; a stored id in row 2, where C would overflow it: modelled as a
        failure).
    :raises ValueError: ``generated_id`` of 50 bytes or more (caller misuse;
        ``%p`` is always short).
    """
    if len(generated_id.encode("utf-8")) >= TUPLE_ID_LIMIT:
        raise ValueError(f"generated_id must be shorter than {TUPLE_ID_LIMIT} bytes")
    parsed = parse_document(body, what=WHAT)
    tuple_node = first_element_named(parsed.root, "tuple", what=WHAT)
    stored = stored_tuple_id or None
    body_id = attribute_ci(tuple_node, "id")
    if body_id is None:
        used = generated_id if stored is None else stored
        if stored is not None:
            _check_fits(stored, "stored")
        tuple_node.set("id", used)
        remembered = used
    elif stored is None:
        _check_fits(body_id, "the body's")
        used = remembered = body_id
    else:
        used, remembered = body_id, stored
    person = first_node_named(parsed.root, "person")
    if person is not None:
        if not isinstance(person.tag, str):
            raise BodyError(WHAT, "the first node named 'person' is not an element")
        if attribute_ci(person, "id") is None:
            person.set("id", used)
    return serialise_formatted(parsed.root, parsed.declaration), remembered
