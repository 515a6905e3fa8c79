"""Which SIP-Version a receiver accepts (RFC 3261 §7.1, §8.2.2, §21.5.6).

The parser (:mod:`puasim.sip.parser`) accepts any ``SIP/<digits>.<digits>``
so that a receiver can decide; the two rules here are the decisions:

* :func:`is_sip_2_0`: the RFC's rule.  Anything but ``SIP/2.0`` (compared
  case-insensitively, §7.1) is another version: a request gets ``505 Version
  Not Supported`` (§8.2.2 is silent on versions, §21.5.6 names the code),
  a response is discarded.
* :func:`kamailio_core_accepts`: what Kamailio's core parser lets through
  (``parse_first_line``).  A status line must begin ``SIP/2.0`` and a space
  (any case) to be a reply at all; any other ``SIP/x.y 200 OK`` is read as a
  request of an unknown method whose version is not SIP, and such non-SIP
  requests are dropped in ``receive_msg`` before the script runs (no hook
  module claims them), without a reply.  For a request line only the first
  seven characters of the version are compared with ``SIP/2.0``, so
  ``SIP/2.01`` passes as SIP.
"""

from __future__ import annotations

from puasim.sip.message import Request, Response

SIP_2_0 = "SIP/2.0"


def is_sip_2_0(message: Request | Response) -> bool:
    """True when ``message`` carries ``SIP/2.0`` (any case), RFC 3261 §7.1."""
    return message.version.upper() == SIP_2_0


def kamailio_core_accepts(message: Request | Response) -> bool:
    """True when Kamailio's core would hand ``message`` on (see the module docstring)."""
    if isinstance(message, Response):
        return message.version.upper() == SIP_2_0
    return len(message.version) >= len(SIP_2_0) and message.version[: len(SIP_2_0)].upper() == SIP_2_0
