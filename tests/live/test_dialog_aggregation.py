"""A real Kamailio 5.6 presence server's dialog NOTIFYs with two publications, against the model.

Two calls on one extension are two ``dialog`` publications; presence_dialoginfo
puts both into the NOTIFY body.  The bodies the real server sends must be the
bytes :mod:`puasim.bodies.dialoginfo_agg` builds, version included.
"""

from __future__ import annotations

import socket
import time

import pytest

from puasim.bodies.dialoginfo_agg import aggregate_dialoginfo, set_version
from puasim.sip import headers as H
from puasim.sip.message import Request, Response
from puasim.sip.parser import parse, serialise, with_content_length

pytestmark = pytest.mark.live

NS = "urn:ietf:params:xml:ns:dialog-info"
USER = "dlgagg"


def dialog_body(entity: str, dialog_id: str, state: str) -> bytes:
    return (
        f'<?xml version="1.0"?>\n<dialog-info xmlns="{NS}" version="0" state="full" '
        f'entity="{entity}">\n  <dialog id="{dialog_id}" direction="initiator">\n'
        f"    <state>{state}</state>\n  </dialog>\n</dialog-info>\n"
    ).encode()


class Phone:
    """A bare UDP endpoint that sends requests by hand and reads what comes back."""

    def __init__(self, server: tuple[str, int]) -> None:
        self.server = server
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(5)
        self.port = self.sock.getsockname()[1]
        self.n = 0

    def close(self) -> None:
        self.sock.close()

    def request(self, method: str, uri: str, headers: list[tuple[str, str]], body: bytes = b"") -> None:
        self.n += 1
        base = [
            ("Via", f"SIP/2.0/UDP 127.0.0.1:{self.port};branch=z9hG4bKdlgagg{self.n}"),
            ("Max-Forwards", "70"),
        ]
        msg = with_content_length(Request(method, uri, tuple(base + headers), body))
        self.sock.sendto(serialise(msg), self.server)

    def receive(self) -> Request | Response:
        data, src = self.sock.recvfrom(65535)
        msg = parse(data)
        if isinstance(msg, Request):  # answer NOTIFYs at once
            keep = [(n, v) for n, v in msg.headers if n.lower() in ("via", "from", "to", "call-id", "cseq")]
            self.sock.sendto(serialise(with_content_length(Response(200, "OK", tuple(keep)))), src)
        return msg

    def wait_for(self, kind: str) -> Request | Response:
        for _ in range(10):
            msg = self.receive()
            if (kind == "reply") == isinstance(msg, Response):
                return msg
        raise AssertionError(f"no {kind} from the server")


def publish(phone: Phone, aor: str, body: bytes, n: int, etag: str | None = None) -> str:
    headers = [
        ("To", f"<{aor}>"),
        ("From", f"<{aor}>;tag=pub{n}"),
        ("Call-ID", f"pub{n}-{phone.port}@127.0.0.1"),
        ("CSeq", "10 PUBLISH"),
        ("Event", "dialog"),
        ("Expires", "600"),
        ("Content-Type", "application/dialog-info+xml"),
    ]
    if etag:
        headers.append(("SIP-If-Match", etag))
    phone.request("PUBLISH", aor, headers, body)
    reply = phone.wait_for("reply")
    assert isinstance(reply, Response) and reply.status == 200, reply
    return reply.get("sip-etag")


def test_two_dialog_publications_reach_the_watcher_in_one_body(presence_server) -> None:
    host, port = presence_server.sip
    aor = f"sip:{USER}@{host}"
    call1 = dialog_body(aor, "call-1", "confirmed")
    call2 = dialog_body(aor, "call-2", "early")
    phone = Phone((host, port))
    try:
        etag1 = publish(phone, aor, call1, 1)
        time.sleep(1.1)  # received_time has one-second steps: keep the order unambiguous
        publish(phone, aor, call2, 2)
        phone.request(
            "SUBSCRIBE",
            aor,
            [
                ("To", f"<{aor}>"),
                ("From", f"<sip:watcher@127.0.0.1:{phone.port}>;tag=w1"),
                ("Call-ID", f"sub-{phone.port}@127.0.0.1"),
                ("CSeq", "1 SUBSCRIBE"),
                ("Event", "dialog"),
                ("Contact", f"<sip:watcher@127.0.0.1:{phone.port}>"),
                ("Expires", "300"),
            ],
        )
        notify = phone.wait_for("request")
        assert isinstance(notify, Request) and notify.method == "NOTIFY"
        cseq = H.cseq(notify)
        assert cseq is not None
        first_cseq = cseq.seq
        both = aggregate_dialoginfo([call1, call2], aor)
        assert notify.body == set_version(both, 1)
        # call 1 ends: its publication modified to terminated, both still in the body
        time.sleep(1.1)
        ended = dialog_body(aor, "call-1", "terminated")
        publish(phone, aor, ended, 3, etag=etag1)
        notify = phone.wait_for("request")
        assert isinstance(notify, Request)
        cseq = H.cseq(notify)
        assert cseq is not None and cseq.seq == first_cseq + 1
        assert notify.body == set_version(aggregate_dialoginfo([call2, ended], aor), 2)
    finally:
        phone.close()
