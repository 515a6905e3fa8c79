"""Bounds on body input: size, and the integers read from bodies.

Size.  Kamailio receives a SIP message over UDP into a buffer of
``BUF_SIZE`` = 65535 bytes (``src/core/config.h``), so no PUBLISH or NOTIFY
whose body alone is larger can reach a Kamailio presence server or pua
module over UDP; the pua module itself has no body limit of its own (it
hands the body to libxml2's ``xmlParseMemory``).  Every reader of this
package refuses a body above :data:`MAX_BODY_BYTES` with :class:`BodyError`
before parsing it, which bounds the work any body can cause.  A documented
deviation: Kamailio's pua would process and send such a body (over TCP).

Integers.  Version and count fields are read as decimal digits and must not
exceed :data:`MAX_UINT32` (RFC 3842 §5.2 for message counts; Kamailio keeps
document versions in 32-bit integers); other numeric attributes (reginfo
``expires``, ``cseq``, dialog ``duration``) must not exceed
:data:`MAX_UINT64` (``xs:unsignedLong``, RFC 3680 §5.3).  Digit strings are
length-checked before conversion, so a 5000-digit value is a
:class:`BodyError`, not a ``ValueError`` from ``int()``.
"""

from __future__ import annotations

from .errors import BodyError

__all__ = ["MAX_BODY_BYTES", "MAX_UINT32", "MAX_UINT64", "check_body_size", "read_integer"]

#: Kamailio's BUF_SIZE: the largest SIP message it receives over UDP
MAX_BODY_BYTES = 65535
#: the largest version or count read from a body
MAX_UINT32 = 2**32 - 1
#: the largest other number read from a body (``xs:unsignedLong``)
MAX_UINT64 = 2**64 - 1


def check_body_size(data: bytes | bytearray | memoryview, what: str) -> None:
    """:raises BodyError: when ``data`` is larger than :data:`MAX_BODY_BYTES`."""
    size = len(data)
    if size > MAX_BODY_BYTES:
        raise BodyError(
            what, f"{size} bytes, larger than {MAX_BODY_BYTES} (Kamailio's SIP message buffer)"
        )


def read_integer(
    text: str,
    *,
    what: str,
    name: str,
    line: int | None = None,
    signed: bool = False,
    maximum: int = MAX_UINT32,
) -> int:
    """``text`` (surrounding white space allowed) as an int of at most ``maximum``
    in magnitude; a leading ``-`` only when ``signed``.

    :raises BodyError: not ASCII decimal digits, or too large.
    """
    value = text.strip()
    digits = value[1:] if signed and value.startswith("-") else value
    if not digits.isascii() or not digits.isdigit():
        kind = "an integer" if signed else "a non-negative integer"
        raise BodyError(what, f"{name} is not {kind}: {text!r:.60}", line=line)
    significant = digits.lstrip("0")
    if len(significant) > len(str(maximum)) or int(significant or "0") > maximum:
        raise BodyError(what, f"{name} above {maximum}: {text!r:.60}", line=line)
    return int(value)
