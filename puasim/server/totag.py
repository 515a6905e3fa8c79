"""The To-tag suffix Kamailio's stateless replies carry, as a pure function.

Kamailio's ``sl`` module (which answers PUBLISH and, through the presence
module's ``get_reply_totag``, every initial SUBSCRIBE) makes To-tags
``<32 hex>-<8 hex>``: a fixed per-process base, then a suffix computed from
the request, not drawn at random.  The suffix is two CRC-16 values, each
written as four lower-case hex digits *least significant digit first*: the
first over the top Via's host, port (as written; empty when absent) and
branch, the second over the top Via's port and host and the Call-ID.  The
CRC is the CCITT polynomial in reflected form with initial value 0xFFFF and
the result inverted (the parameters catalogued as CRC-16/X-25).  Checked
against the lab captures (``g2_subscribe_check_remote_contact_1``: the two
SUBSCRIBE replies' suffixes ``2893ec90`` and ``fa2f4e14``; the PUBLISH
replies of ``a-b-c_publish_modify_unpublish_restart``).

The 32-digit base is the lower-case hex MD5 of a signature followed by the
first listening socket's address and port, as text (:func:`kamailio_tag_base`),
computed once at start-up: a restarted Kamailio on the same socket gives the
same base.  Replies sent through tm (the presence server's, whose script loads
tm) use the signature ``SER-TM/tags`` and a ``-`` before the suffix; sl's own
stateless replies (an edge node's REGISTER replies) use ``KAMAILIO-stateless``
and a ``.``.  Both checked on every lab capture: ``a6a1c5f6…`` is
``SER-TM/tags`` + ``127.0.0.1`` + ``5060`` (the presence server), ``76829ee1…``
is ``KAMAILIO-stateless`` + ``127.0.0.1`` + ``5080`` (the companions lab's edge
node), and the edge node's suffixes are the same two CRC-16s.  How an IPv6
address is written into the MD5 input was not checked.
"""

from __future__ import annotations

import binascii
import functools
import hashlib

__all__ = ["SL_SIGNATURE", "TM_SIGNATURE", "crc16_x25", "kamailio_tag_base", "kamailio_to_tag_suffix"]

#: the signature tm hashes into its To-tag base (separator ``-``)
TM_SIGNATURE = "SER-TM/tags"
#: the signature sl hashes into its To-tag base (separator ``.``)
SL_SIGNATURE = "KAMAILIO-stateless"

#: each byte with its bit order reversed
_REFLECT = bytes(int(f"{b:08b}"[::-1], 2) for b in range(256))


def crc16_x25(data: bytes) -> int:
    """CRC-16/X-25 of ``data`` (check value 0x906E for ``b"123456789"``).

    Computed with the standard library's non-reflected CCITT routine
    (``binascii.crc_hqx``) on bit-reversed input, then reflected and inverted.
    """
    crc = binascii.crc_hqx(data.translate(_REFLECT), 0xFFFF)
    return ((_REFLECT[crc & 0xFF] << 8) | _REFLECT[crc >> 8]) ^ 0xFFFF


def _reverse_hex(value: int) -> str:
    # four hex digits (value < 2**16), least significant first
    return f"{value:04x}"[::-1]


@functools.lru_cache(maxsize=4096)
def _second_half(port: str, host: str, call_id: str) -> str:
    """The suffix's second CRC: the same for every request of a Call-ID from one Via sent-by
    (a refreshing client reuses its Call-ID), so it is kept for the recent ones."""
    return _reverse_hex(crc16_x25((port + host + call_id).encode("utf-8", "surrogateescape")))


def kamailio_tag_base(signature: str, host: str, port: int) -> str:
    """The 32 hex digits before the separator: MD5 of ``signature``, ``host``, ``port`` as text."""
    return hashlib.md5(f"{signature}{host}{port}".encode()).hexdigest()


def kamailio_to_tag_suffix(host: str, port: str, branch: str | None, call_id: str | None) -> str:
    """The eight hex digits after the ``-`` of a Kamailio stateless To-tag.

    ``host``/``port``/``branch`` are the top Via's, as written (``port`` empty
    when the Via has none; ``branch`` ``None`` when absent), ``call_id`` the
    Call-ID value (``None`` when absent).
    """
    first = (host + port + (branch or "")).encode("utf-8", "surrogateescape")
    return _reverse_hex(crc16_x25(first)) + _second_half(port, host, call_id or "")
