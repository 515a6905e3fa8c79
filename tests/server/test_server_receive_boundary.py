"""The server's receive boundary (issue 16, items 1 and 4): one bad message costs itself only."""

from __future__ import annotations

from dataclasses import replace

import pytest
from server_helpers import CLIENT, answer, events, exchange, make_server, publish, request, sent

from puasim.sip import headers as H
from puasim.sip.message import Request, Response
from puasim.trace.events import MessageRejected


def _with_via_params(req: Request, params: str) -> Request:
    name, value = req.headers[0]
    return req.with_header(name, value + params)


@pytest.mark.parametrize("profile", ["kamailio", "rfc3903"])
def test_a_malformed_rport_is_answered_to_the_source_port(profile):
    """Kamailio's local reply goes to the source port when rport is present, whatever its value."""
    srv = make_server(profile)
    src = ("127.0.0.1", 40000)
    srv.receive(_with_via_params(publish(), ";rport=abc"), src, 0)
    (out,) = sent(srv.outbox.take())
    assert out.message.status == 200 and out.dest == src


def test_a_parse_error_inside_a_handler_gets_400_and_the_next_request_is_served():
    srv = make_server()

    def strict(txn, now):  # reads a header lazily, without a guard of its own
        H.expires(txn.request)
        srv.handle_publish(txn, now)

    srv.handlers["PUBLISH"] = strict
    reply, effects = exchange(srv, publish(expires="soon"))
    assert reply is not None and (reply.status, reply.reason) == (400, "Bad request")
    (rejected,) = events(effects, MessageRejected)
    assert rejected.status == 400 and "Expires" in rejected.reason and rejected.src == CLIENT
    assert answer(srv, publish()).status == 200


def test_the_400_belongs_to_the_transaction_so_a_retransmission_gets_it_again():
    srv = make_server()
    srv.handlers["PUBLISH"] = lambda txn, now: H.expires(txn.request)
    req = publish(expires="soon", branch="z9hG4bKsame")
    assert answer(srv, req).status == 400
    again, effects = exchange(srv, req)
    assert again is not None and again.status == 400
    assert events(effects, MessageRejected) == []  # absorbed by the transaction, not handled again


@pytest.mark.parametrize(
    "drop", ["From", "To", "Call-ID", "CSeq"], ids=lambda d: f"no-{d}"
)
def test_a_request_that_cannot_be_answered_is_dropped(drop):
    srv = make_server()
    srv.handlers["PUBLISH"] = lambda txn, now: H.expires(txn.request)
    req = publish(expires="soon").without_header(drop)
    reply, effects = exchange(srv, req)
    assert reply is None
    (rejected,) = events(effects, MessageRejected)
    assert rejected.status == 0


def test_a_reply_that_breaks_handling_is_dropped_and_recorded():
    srv = make_server()
    bad = Response(200, "OK", (("Via", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKx"), ("CSeq", "x NOTIFY")))
    reply, effects = exchange(srv, bad)
    assert reply is None
    assert [e.status for e in events(effects, MessageRejected)] == [0]


# -- item 4: another SIP-Version ------------------------------------------------------------
def test_the_strict_server_answers_505_to_another_version():
    srv = make_server("rfc3903")
    reply, effects = exchange(srv, replace(publish(), version="SIP/3.0"))
    assert reply is not None and (reply.status, reply.reason, reply.version) == (505, "Version Not Supported", "SIP/2.0")
    (rejected,) = events(effects, MessageRejected)
    assert rejected.status == 505 and "SIP/3.0" in rejected.reason
    assert srv.publications == []


def test_the_kamailio_server_drops_another_version_as_its_core_parser_does():
    srv = make_server("kamailio")
    reply, effects = exchange(srv, replace(publish(), version="SIP/3.0"))
    assert reply is None and srv.publications == []
    assert [e.status for e in events(effects, MessageRejected)] == [0]
    # parse_first_line compares only the first seven characters of a request's version
    assert answer(srv, replace(publish(), version="SIP/2.01")).status == 200
    assert answer(srv, replace(publish(), version="sip/2.0")).status == 200


@pytest.mark.parametrize("profile", ["kamailio", "rfc3903"])
def test_a_reply_of_another_version_is_dropped(profile):
    srv = make_server(profile)
    reply, effects = exchange(srv, Response(200, "OK", answer(make_server(), publish()).headers, b"", "SIP/2.1"))
    assert reply is None
    assert [e.status for e in events(effects, MessageRejected)] == [0]


def test_an_ack_of_another_version_is_never_answered():
    srv = make_server("rfc3903")
    reply, _ = exchange(srv, replace(request("ACK"), version="SIP/3.0"))
    assert reply is None
