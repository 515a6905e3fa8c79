"""One NOTIFY body from several PIDF publications, as Kamailio's presence_xml makes it.

RFC 3903 §4 lets a presentity hold several publications of one package and
leaves their composition to the event package; for ``presence`` RFC 3863 §3
describes the result as one document whose tuples are the union of the
sources.  Kamailio 5.6's presence_xml does this in its ``agg_nbody``
callback (aggregation of the presentity's rows, pua-reference Appendix A for
the server around it), with ``force_single_body`` 0 (the default):

* the rows come ordered by ``received_time``, oldest first, and the **newest**
  document is the base: its XML declaration, root and content come out first;
* the other documents are looked at from the second newest back to the
  oldest.  The ``presence`` root of each is found as ``xmlDocGetNodeByName``
  finds it (:mod:`puasim.bodies.lookup`), then its first *direct* child named
  ``tuple`` (case-insensitive, any namespace);
* when that tuple's ``id`` equals, ignoring ASCII case, the ``id`` of a
  ``tuple`` child the merged root already has (base or appended), the whole
  document is skipped - its other tuples, notes and ``person`` elements too.
  Only the first tuple is compared;
* otherwise *every* child node of its root (elements, comments, whitespace
  text, ``note``, ``dm:person``, ...) is deep-copied to the end of the merged
  root.  A copy is made by libxml2's ``xmlCopyNode``: a namespace its subtree
  uses but does not declare is declared again on the copied node itself, so
  an appended ``tuple`` carries ``xmlns="urn:ietf:params:xml:ns:pidf"``;
* a document without a direct ``tuple`` child is always appended;
* the result is written with ``xmlDocDumpFormatMemory(.., 1)``
  (:func:`~puasim.bodies.xml.serialise_formatted`), with a single
  publication too.

A document that does not parse, has no ``presence`` node, or a compared
tuple without ``id`` makes the whole aggregation fail; Kamailio then sends
the NOTIFY without body.  :func:`merge_pidf` raises :class:`BodyError` for
those cases and leaves that decision to the caller.
"""

from __future__ import annotations

from collections.abc import Sequence
from copy import deepcopy

from lxml import etree

from .errors import BodyError
from .lookup import attribute_ci, first_element_named
from .xml import parse_document, serialise_formatted

__all__ = ["merge_pidf"]

WHAT = "PIDF"
_MARK = "puasim-merge-point"


def _local_name(node: etree._Element) -> str | None:
    if isinstance(node.tag, str):
        return etree.QName(node).localname
    return None


def _tuple_children(root: etree._Element) -> list[etree._Element]:
    return [c for c in root if (n := _local_name(c)) is not None and n.lower() == "tuple"]


def _first_tuple_id(root: etree._Element) -> tuple[bool, str | None]:
    """(has a direct tuple child, its id) - ``xmlNodeGetChildByName(root, "tuple")``."""
    tuples = _tuple_children(root)
    if not tuples:
        return False, None
    return True, attribute_ci(tuples[0], "id")


def _fold(text: str) -> bytes:
    # ASCII-only case folding, like libxml2's xmlStrcasecmp
    return text.encode("utf-8", errors="surrogatepass").lower()


def _is_duplicate(tuple_id: str, known: list[str | None]) -> bool:
    """Whether a tuple already merged has ``tuple_id``, scanning as Kamailio does:
    in order, stopping at the first match, failing on a tuple without id met before it."""
    wanted = _fold(tuple_id)
    for other in known:
        if other is None:
            raise BodyError(WHAT, "a tuple of the merged document has no id attribute")
        if _fold(other) == wanted:
            return True
    return False


def _copied_children(root: etree._Element) -> str:
    """The child nodes of ``root`` as text, each copied as ``xmlCopyNode(node, 1)`` does."""
    from xml.sax.saxutils import escape  # here, not at the top: it pulls in urllib and http (45 ms)

    parts = [escape(root.text or "")]
    for child in root:
        # a deep copy into a document of its own declares the namespaces the
        # subtree needs on the copied node, as libxml2's copy does
        copied = deepcopy(child)
        copied.tail = None
        parts.append(etree.tostring(copied, encoding="unicode", with_tail=False))
        parts.append(escape(child.tail or ""))
    return "".join(parts)


def merge_pidf(bodies: Sequence[bytes]) -> bytes:
    """The aggregated PIDF of ``bodies`` (oldest first), as presence_xml writes it.

    :raises ValueError: for an empty sequence.
    :raises BodyError: a body that does not parse, has no ``presence`` node,
        or a tuple without ``id`` where ids are compared (Kamailio: the
        aggregation fails and the NOTIFY goes out without body).
    """
    if not bodies:
        raise ValueError("merge_pidf needs at least one body")
    docs = [parse_document(body, what=WHAT) for body in bodies]
    base = docs[-1]
    base_root = first_element_named(base.root, "presence", what=WHAT)
    # ids of the merged root's tuple children in order; None: a tuple without id
    known: list[str | None] = [attribute_ci(node, "id") for node in _tuple_children(base_root)]
    fragments: list[str] = []
    for doc in reversed(docs[:-1]):
        root = first_element_named(doc.root, "presence", what=WHAT)
        has_tuple, tuple_id = _first_tuple_id(root)
        if has_tuple:
            if tuple_id is None:
                raise BodyError(WHAT, "a tuple to merge has no id attribute")
            if _is_duplicate(tuple_id, known):
                continue
        known += [attribute_ci(node, "id") for node in _tuple_children(root)]
        fragments.append(_copied_children(root))
    if not fragments:
        return serialise_formatted(base.root, base.declaration)
    mark = _MARK
    whole = etree.tostring(base.root.getroottree(), encoding="unicode")
    while mark in whole:
        mark += "-"
    base_root.append(etree.Comment(mark))
    whole = etree.tostring(base.root.getroottree(), encoding="unicode")
    merged = whole.replace(f"<!--{mark}-->", "".join(fragments), 1)
    reparsed = parse_document(merged.encode("utf-8"), what=WHAT)
    return serialise_formatted(reparsed.root, base.declaration)
