"""Two knobs the lab's dialog calls needed: one row per dialog id, and the worker's pace.

Lab companions 08 and 13 (README finding 1): Kamailio's presence keeps one
publication per dialog id and user (``delete_presentity_if_dialog_id_exists()``),
and its one SIP worker answers each PUBLISH a few ms after the one before.
"""

from __future__ import annotations

import pytest
from server_helpers import CLIENT, events, make_server, publish, sent

from puasim.effects import SECOND, SetTimer
from puasim.server import get_profile
from puasim.trace.events import ServerStateChanged

DLG = "application/dialog-info+xml"


def dialog_body(dialog_id: str, state: str, entity: str = "sip:alice@127.0.0.1") -> bytes:
    return (
        f'<?xml version="1.0"?>\n<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="0" '
        f'state="full" entity="{entity}">\n  <dialog id="{dialog_id}" direction="initiator">\n'
        f"    <state>{state}</state>\n  </dialog>\n</dialog-info>\n"
    ).encode()


def dlg_publish(dialog_id: str, state: str, **kw):
    return publish(event="dialog", body=dialog_body(dialog_id, state), content_type=DLG, **kw)


def run(srv, req, now=0):
    srv.receive(req, CLIENT, now)
    return srv.outbox.take()


def test_same_dialog_id_replaces_the_stored_row():
    """Trying (pua_dialoginfo's capital T, not an RFC 4235 state), then early, then a
    confirmed of another dialog: the early replaces the Trying, the other dialog is kept."""
    srv = make_server(get_profile("kamailio", replace_dialog_id=True))
    run(srv, dlg_publish("padi-1", "Trying"))
    effects = run(srv, dlg_publish("padi-1", "early"))
    changes = [(e.action, e.etag.rsplit(".", 2)[-2]) for e in events(effects, ServerStateChanged)]
    assert changes == [("removed", "1"), ("created", "2")]
    run(srv, dlg_publish("padi-2", "confirmed"))
    assert sorted(p.etag.rsplit(".", 2)[-2] for p in srv.publications) == ["2", "3"]
    # the replaced ETag is unknown now: a refresh of it gets 412 (lab 13 #31)
    first = f"a.{srv.compositor.start_time}.{srv.compositor.pid}.1.0"
    reply = sent(run(srv, publish(event="dialog", body=b"", content_type=None, if_match=first)))[0].message
    assert reply.status == 412


def test_kamailio_replaces_by_dialog_id_and_rfc3903_does_not():
    assert get_profile("kamailio").replace_dialog_id and not get_profile("rfc3903").replace_dialog_id


def test_without_the_knob_every_initial_publish_is_a_row():
    srv = make_server(get_profile("kamailio", replace_dialog_id=False))
    run(srv, dlg_publish("padi-1", "Trying"))
    run(srv, dlg_publish("padi-1", "early"))
    assert len(srv.publications) == 2


def test_other_packages_and_bodies_without_id_replace_nothing():
    srv = make_server(get_profile("kamailio", replace_dialog_id=True))
    run(srv, dlg_publish("padi-1", "early"))
    run(srv, publish(event="dialog", body=b"<dialog-info xmlns='urn:ietf:params:xml:ns:dialog-info'/>",
                     content_type=DLG))
    run(srv, publish(event="presence"))
    assert len(srv.publications) == 3


def test_processing_delay_one_worker_in_arrival_order():
    """Three PUBLISHes arriving together are answered 8, 16 and 24 ms later, in order;
    nothing is stored before the message's turn ends."""
    srv = make_server(get_profile("kamailio", processing_delay_s=0.008))
    effects = []
    for i in range(3):
        effects += run(srv, publish(expires=60 + i), now=1000)
    assert not sent(effects) and not srv.publications
    due = [e for e in effects if isinstance(e, SetTimer) and e.key[:2] == ("server", "work")]
    assert [e.at for e in due] == [9000, 17000, 25000]
    replies = []
    for e in due:
        srv.timer(e.key, e.at)
        replies += [s.message for s in sent(srv.outbox.take())]
    assert [r.get("expires") for r in replies] == ["60", "61", "62"]
    # a message arriving while the worker is idle waits only its own processing time
    late = run(srv, publish(), now=SECOND)
    assert [e.at for e in late if isinstance(e, SetTimer) and e.key[:2] == ("server", "work")] == [SECOND + 8000]


def test_processing_delay_must_not_be_negative():
    with pytest.raises(ValueError, match="processing_delay"):
        get_profile("kamailio", processing_delay=-1)
