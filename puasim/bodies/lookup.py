"""Kamailio's libxml look-up helpers, as pua's body processors use them.

pua-reference §1.3 (``bind_libxml_api``) and §3.4: the processors find nodes
with ``xmlDocGetNodeByName`` and read attributes with
``xmlNodeGetAttrContentByName`` (``src/modules/pua/pidf.c``).  Their rules,
reproduced here:

* the search is depth-first, in document order, starting with the top-level
  nodes of the document (so it includes the root and anything before it);
* names are compared ASCII case-insensitively and namespaces are ignored
  (``dm:person`` matches ``person``);
* the comparison is on libxml2's node name, which is the local name for an
  element, the target for a processing instruction and ``comment`` for a
  comment.  A PI named like the wanted element is therefore found first if it
  comes first; the processors then fail on it (libxml2 refuses to put an
  attribute on a non-element), which callers turn into :class:`BodyError`;
* attributes are matched by local name, ASCII case-insensitively, first in
  document order, namespace ignored (``ID="x"`` and ``xml:id="x"`` both count
  as an ``id``).
"""

from __future__ import annotations

from collections.abc import Iterator

from lxml import etree

from .errors import BodyError

__all__ = ["attribute_ci", "document_nodes", "first_element_named", "first_node_named"]


def _ascii_lower(text: str) -> bytes:
    # bytes.lower() folds A-Z only, like libxml2's xmlStrcasecmp
    return text.encode("utf-8", errors="surrogatepass").lower()


def document_nodes(root: etree._Element) -> Iterator[etree._Element]:
    """Every node lxml exposes (elements, comments, PIs), in document order,
    including the top-level siblings of ``root``."""
    yield from reversed(list(root.itersiblings(preceding=True)))
    yield from root.iter()
    yield from root.itersiblings()


def _node_name(node: etree._Element) -> str | None:
    if isinstance(node, etree._ProcessingInstruction):
        return node.target
    if isinstance(node, etree._Comment):
        return "comment"
    if isinstance(node.tag, str):
        return etree.QName(node).localname
    return None  # entity references (cannot occur: DTDs are refused)


def first_node_named(root: etree._Element, name: str) -> etree._Element | None:
    """``xmlDocGetNodeByName(doc, name, NULL)``: the first node called ``name``."""
    wanted = _ascii_lower(name)
    for node in document_nodes(root):
        found = _node_name(node)
        if found is not None and _ascii_lower(found) == wanted:
            return node
    return None


def first_element_named(root: etree._Element, name: str, *, what: str) -> etree._Element:
    """The node :func:`first_node_named` finds, which must be an element.

    :raises BodyError: when there is none (Kamailio: "while extracting ...
        node", −1) or when the first match is not an element (a later
        ``xmlNewProp``/``xmlSetProp`` on it fails, −1).
    """
    node = first_node_named(root, name)
    if node is None:
        raise BodyError(what, f"no <{name}> element")
    if not isinstance(node.tag, str):
        raise BodyError(what, f"the first node named {name!r} is not an element")
    return node


def attribute_ci(element: etree._Element, name: str) -> str | None:
    """``xmlNodeGetAttrContentByName(node, name)``: the first attribute whose
    local name equals ``name`` ignoring ASCII case, or ``None``."""
    wanted = _ascii_lower(name)
    # Linear in the number of attributes: lxml's items() and values() look
    # every value up by name again (quadratic), and building a QName per key
    # grows faster than linear too.  A key is ``local`` or ``{namespace}local``
    # and a local name never contains ``}``.
    for key in element.keys():
        if _ascii_lower(key.rpartition("}")[2]) == wanted:
            return element.get(key)
    return None
