"""One NOTIFY body from several dialog-info publications, as Kamailio's presence_dialoginfo makes it.

RFC 3903 §4 lets a presentity hold several publications of one package and
leaves composing them to the event package; RFC 4235 says nothing about
composition.  Kamailio 5.6's presence_dialoginfo registers an aggregation
for ``dialog`` (not ``dialog;sla``), called by presence with the bodies of
all of the presentity's live rows ordered by ``received_time``, oldest
first.  Read from its 5.6.3 source (``notify_body.c``):

* a new document is built: declaration ``<?xml version="1.0"?>``, root
  ``dialog-info`` in the RFC 4235 namespace as the default namespace, with
  ``version`` (a placeholder, see below), ``state="full"`` and
  ``entity="sip:<user>@<domain>"`` of the presentity - the publications'
  own root attributes are dropped;
* default (``force_single_dialog`` 0), or with a single publication: every
  *element* child of every publication's root element (``dialog`` or not,
  terminated ones included) moves under the new root, oldest publication
  first, in document order; comments, processing instructions and the
  whitespace between them are left behind.  A moved element keeps its own
  namespace pointer and declares nothing, so a ``dialog`` in the default
  RFC 4235 namespace comes out as ``<dialog ...>`` and one without a
  namespace (the dummy body) too;
* the document is written with ``xmlDocDumpFormatMemory(.., 1)``
  (:func:`~puasim.bodies.xml.serialise_formatted`): the new root holds only
  elements, so each moved element is on its own line indented two spaces,
  while inside it the publication's own layout stays (an indented
  pua_dialoginfo body comes out byte for byte as published);
* per watcher, the version placeholder ``00000000000`` is replaced by the
  subscription's version (``%d``) and the document re-read and re-written,
  which gives ``version="N"`` with nothing else changed
  (:func:`set_version`);
* ``force_single_dialog`` 1 with two or more publications keeps one element
  only (:func:`_single_winner`): among the elements of all publications the
  last one seen in each of the states terminated, trying, proceeding,
  early, confirmed, each of the non-terminated ones only while the same
  dialog id is not seen further on in a later state, and the winner is
  early before confirmed before proceeding before trying before terminated;
* zero publications: no body, or with ``force_dummy_dialog`` 1 the
  aggregation of one fixed document (:data:`DUMMY_BODY`) holding a single
  terminated dialog of direction ``recipient``.

A body that does not parse, an entity longer than Kamailio's URI buffer, or
a single-dialog choice without any element that has a ``state`` make the
aggregation fail: :func:`aggregate_dialoginfo` raises :class:`BodyError`.

Not matched: an element in a *prefixed* namespace declared only on its old
root (libxml2 writes the prefix undeclared, lxml declares it again on the
element).  pua_dialoginfo and phones publish in the default namespace.
"""

from __future__ import annotations

from collections.abc import Sequence
from copy import deepcopy

from lxml import etree

from .dialoginfo import DIALOG_INFO_NS
from .errors import BodyError
from .xml import parse_document, serialise_formatted

__all__ = ["DUMMY_BODY", "VERSION_PLACEHOLDER", "aggregate_dialoginfo", "set_version"]

WHAT = "dialog-info"

#: what presence_dialoginfo writes in place of the version until each watcher's is known
VERSION_PLACEHOLDER = "00000000000"

#: the fixed document aggregated for a presentity without publications when
#: ``force_dummy_dialog`` is on (one line, tabs between the elements, no namespace)
DUMMY_BODY = (
    b'<dialog-info>\t<dialog id="615293b33c62dec073e05d9421e9f48b" direction="recipient">'
    b"\t<state>terminated</state>\t</dialog>\t</dialog-info>"
)

#: Kamailio's MAX_URI_SIZE: the entity "sip:user@domain" must stay below it
_MAX_URI_SIZE = 1024

# check_relevant_state() weights: a dialog id's states seen in any publication add up
_WEIGHTS = {b"terminated": 16, b"confirmed": 8, b"early": 4, b"proceeding": 2, b"trying": 1}
# a state is the dialog's latest unless that sum reaches the weight of the next state
_SUPERSEDED_AT = {b"confirmed": 16, b"early": 8, b"proceeding": 4, b"trying": 2}
# the single dialog chosen: first of these states that has a candidate
_PRIORITY = (b"early", b"confirmed", b"proceeding", b"trying", b"terminated")


def _fold(text: str | None) -> bytes | None:
    """ASCII-only case folding, as ``strcasecmp`` compares."""
    return None if text is None else text.encode("utf-8", errors="surrogatepass").lower()


def _name(node: etree._Element) -> str | None:
    return etree.QName(node).localname if isinstance(node.tag, str) else None


def _elements(root: etree._Element) -> list[etree._Element]:
    return [child for child in root if isinstance(child.tag, str)]


def _content(node: etree._Element) -> str | None:
    """``xmlNodeGetContent(node->children)``: the text of the node's first child."""
    if node.text is not None:
        return node.text
    if len(node) == 0:
        return None
    first = node[0]
    if isinstance(first.tag, str):
        return "".join(first.itertext())
    return first.text or ""


def _state_of(node: etree._Element) -> str | None:
    """presence_dialoginfo's ``xmlNodeGetNodeContentByName(node, "state")``.

    Its search starts at ``node`` and walks depth first through the node, its
    descendants and then its *following siblings*: an element without a
    ``state`` of its own takes the state of a later sibling.
    """
    cur: etree._Element | None = node
    while cur is not None:
        for found in cur.iter():
            name = _name(found)
            if name is not None and _fold(name) == b"state":
                return _content(found)
        cur = cur.getnext()
    return None


def _relevant_state(dialog_id: bytes | None, roots: list[etree._Element]) -> int:
    """``check_relevant_state()``: the weights of ``dialog_id``'s states in all publications."""
    if dialog_id is None:
        return 0
    total = 0
    tmp_id: bytes | None = None
    node_doc = -1
    for i, root in enumerate(roots):
        for node in _elements(root):
            if _fold(_name(node)) == b"dialog":
                tmp_id = _fold(node.get("id"))
                if tmp_id is not None:
                    node_doc = i
            if tmp_id is None:
                continue
            state = _fold(_state_of(node))
            if state is not None and node_doc == i and tmp_id == dialog_id:
                total += _WEIGHTS.get(state, 0)
    return total


def _single_winner(roots: list[etree._Element]) -> etree._Element:
    """The one element ``force_single_dialog`` keeps (module docstring)."""
    candidates: dict[bytes, etree._Element] = {}
    winner: etree._Element | None = None
    dialog_id: bytes | None = None
    node_doc = -1
    for i, root in enumerate(roots):
        for node in _elements(root):
            if _fold(_name(node)) == b"dialog":
                dialog_id = _fold(node.get("id"))
                if dialog_id is not None:
                    node_doc = i
            state = _fold(_state_of(node))
            if state is None:
                continue
            if state == b"terminated":
                candidates[state] = node
            elif state in _SUPERSEDED_AT and node_doc == i:
                if _relevant_state(dialog_id, roots) < _SUPERSEDED_AT[state]:
                    candidates[state] = node
            winner = next((candidates[s] for s in _PRIORITY if s in candidates), node)
    if winner is None:
        raise BodyError(WHAT, "no dialog with a state to keep as the single dialog")
    return winner


def aggregate_dialoginfo(
    bodies: Sequence[bytes], entity: str, *, single_dialog: bool = False
) -> bytes:
    """The aggregated dialog-info of ``bodies`` (oldest first), version still the placeholder.

    :param entity: ``sip:<user>@<domain>`` of the resource (Kamailio writes
        ``sip:`` whatever the scheme and leaves the port out).
    :param single_dialog: presence_dialoginfo's ``force_single_dialog``.
    :raises ValueError: for an empty sequence (callers use :data:`DUMMY_BODY`).
    :raises BodyError: a body that does not parse, an entity too long, or no
        element with a state to pick as the single dialog.
    """
    if not bodies:
        raise ValueError("aggregate_dialoginfo needs at least one body")
    roots = [parse_document(body, what=WHAT).root for body in bodies]
    if len(entity) + 1 >= _MAX_URI_SIZE:
        raise BodyError(WHAT, f"entity URI longer than {_MAX_URI_SIZE - 2} characters")
    root = etree.Element(f"{{{DIALOG_INFO_NS}}}dialog-info", nsmap={None: DIALOG_INFO_NS})
    root.set("version", VERSION_PLACEHOLDER)
    root.set("state", "full")
    root.set("entity", entity)
    if single_dialog and len(roots) > 1:
        kept = [_single_winner(roots)]
    else:
        kept = [node for r in roots for node in _elements(r)]
    for node in kept:
        moved = deepcopy(node)
        moved.tail = None
        root.append(moved)
    return serialise_formatted(root)


def set_version(body: bytes, version: int) -> bytes:
    """``dlginfo_body_setversion``: the watcher's version in place of the placeholder.

    :raises BodyError: when ``body`` does not carry the placeholder (Kamailio
        then leaves the body as it is; callers decide).
    """
    placeholder = f'version="{VERSION_PLACEHOLDER}"'.encode()
    at = body.find(placeholder, 34)
    if at < 0:
        raise BodyError(WHAT, "no version placeholder to replace")
    # libxml2 writes the signed 32-bit integer with %d; the re-read keeps the rest as it is
    value = ((version + 2**31) % 2**32) - 2**31
    return body[:at] + f'version="{value}"'.encode() + body[at + len(placeholder) :]
