"""The smallest SDP a phone needs to put a call on hold and take it off (RFC 4566, RFC 3264).

The phones model no media: their INVITEs carry no body.  A re-INVITE or an
UPDATE that holds or resumes a call carries a one-stream offer whose
direction attribute says which (RFC 3264 §8.4: ``sendonly`` to hold,
``sendrecv`` to resume), and the answer mirrors it (§6.1: ``recvonly`` to a
``sendonly`` offer).  The origin's session version counts up with each offer
(§8).  Nothing else of SDP is read.
"""

from __future__ import annotations

from puasim.sip.uri import parse_uri

CONTENT_TYPE = "application/sdp"
DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
#: RFC 3264 §6.1: the answer's direction for each offered one
ANSWER = {"sendrecv": "sendrecv", "sendonly": "recvonly", "recvonly": "sendonly", "inactive": "inactive"}


def body(contact: str, session_id: int, version: int, direction: str) -> bytes:
    """One audio stream at the contact's host, with ``a=<direction>``."""
    if direction not in DIRECTIONS:
        raise ValueError(f"not an SDP direction: {direction!r}")
    try:
        uri = parse_uri(contact)
        host, user = uri.host.strip("[]"), uri.user or "-"
    except ValueError:
        host, user = "127.0.0.1", "-"
    family = "IP6" if ":" in host else "IP4"
    lines = [
        "v=0",
        f"o={user} {session_id} {version} IN {family} {host}",
        "s=-",
        f"c=IN {family} {host}",
        "t=0 0",
        "m=audio 4000 RTP/AVP 0",
        f"a={direction}",
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


def direction(data: bytes) -> str | None:
    """The last direction attribute of an SDP body (the stream's, when there is one); None without any."""
    found = None
    for line in data.decode("utf-8", "replace").splitlines():
        line = line.strip()
        if line.startswith("a=") and line[2:] in DIRECTIONS:
            found = line[2:]
    return found
