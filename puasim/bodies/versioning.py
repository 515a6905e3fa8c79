"""pua's dialog-info / reginfo version processor (pua-reference §3.4.2).

Kamailio's ``bla_process_body`` and ``reginfo_process_body``: parse the body,
find the first node named ``dialog-info`` resp. ``reginfo`` (anywhere,
case-insensitive, namespace ignored: :mod:`puasim.bodies.lookup`), set its
``version`` attribute to the record's counter with ``xmlSetProp`` (an
existing un-namespaced ``version`` is overwritten in place, otherwise the
attribute is appended; the match is exact, so a ``VERSION`` attribute stays
and a new ``version`` is added), and re-serialise formatted.  A missing
element is −1, i.e. :class:`BodyError`.
"""

from __future__ import annotations

from .errors import BodyError
from .limits import read_integer
from .lookup import first_element_named
from .xml import parse_document, serialise_formatted

__all__ = ["read_root_version", "rewrite_root_version"]


def rewrite_root_version(body: bytes, version: int, *, element: str, what: str) -> bytes:
    """Set ``version="<version>"`` on the first ``element`` node; return the new body.

    :raises ValueError: ``version`` negative or not an int (caller misuse:
        Kamailio's counter starts at 0 and only grows).
    :raises BodyError: not XML, or no such element.
    """
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise ValueError(f"version must be a non-negative int, not {version!r}")
    parsed = parse_document(body, what=what)
    node = first_element_named(parsed.root, element, what=what)
    node.set("version", str(version))
    return serialise_formatted(parsed.root, parsed.declaration)


def read_root_version(body: bytes, *, element: str, what: str) -> int:
    """The ``version`` attribute of the first ``element`` node, as an int.

    :raises BodyError: not XML, no such element, no ``version`` attribute, or
        one that is not a non-negative decimal integer (RFC 4235 §4.1,
        RFC 3680 §5.1: ``xs:nonNegativeInteger``).
    """
    parsed = parse_document(body, what=what)
    node = first_element_named(parsed.root, element, what=what)
    value = node.get("version")
    if value is None:
        raise BodyError(what, f"<{element}> has no version attribute", line=node.sourceline)
    return read_integer(value, what=what, name="version", line=node.sourceline)
