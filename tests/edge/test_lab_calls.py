"""Calls through the model's edge node against the real Kamailio 5.6.3 edge proxy (dialog + pua_dialoginfo).

Each test replays one lab capture's phones (REGISTERs, the SIPp caller's
requests, the SIPp callee's replies) into the model configured as
``proxy.cfg`` was, and compares the edge's messages to the presence server and
the phones, in order (see ``call_replay.call_flow`` for what is compared).
"""

from __future__ import annotations

from typing import Any

from puasim.edge.script import Call
from puasim.effects import SECOND
from puasim.sip.message import Request
from tests.edge.call_replay import call_flow, model_run


def _compare(real: list[tuple], model: list[tuple]) -> None:
    for i, (want, got) in enumerate(zip(real, model, strict=False)):
        assert got == want, f"message {i} differs"
    assert len(model) == len(real), f"{len(model)} messages from the model, {len(real)} in the capture"


def test_07_call_180_200_bye() -> None:
    """Trying before the 100; early x2 before the relayed 180; confirmed x2 before the 200;
    terminated x2 (Expires 11) before the relayed BYE (README finding 12)."""
    real, model = model_run("07_dialoginfo_call_180_200_bye.pcap")
    a, b = call_flow(real), call_flow(model)
    _compare(a, b)
    assert [m[1:4] for m in b if m[0] == "PUBLISH"] == [
        ("sip:alice@127.0.0.1", "43201", False), ("sip:alice@127.0.0.1", "43201", True),
        ("sip:bob@127.0.0.1", "43201", False), ("sip:alice@127.0.0.1", "43201", True),
        ("sip:bob@127.0.0.1", "43201", True), ("sip:alice@127.0.0.1", "11", True), ("sip:bob@127.0.0.1", "11", True)]


def test_10_cancel_while_ringing() -> None:
    """early x2 on the 180; the CANCEL goes down before its 200; the 487 is ACKed, then
    terminated x2 leave before the 487 is relayed."""
    real, model = model_run("10_dialoginfo_cancel_while_ringing.pcap")
    _compare(call_flow(real), call_flow(model))


def test_12_parameters_and_an_unflagged_second_call() -> None:
    """caller_confirmed, callee_trying, override_lifetime 120, include_callid 0, include_tags 0,
    attribute_display 1, dlginfo_increase_version 1, send_publish_flag 4 set by the INVITE
    route except for nopub*: Expires 121, bob Trying, alice confirmed at the 180, versions
    counting per publication, display attributes; nopub1's call publishes nothing."""
    real, model = model_run(
        "12_dialoginfo_parameters.pcap",
        dialoginfo={"caller_confirmed": 1, "callee_trying": 1, "override_lifetime": 120, "include_callid": 0,
                    "include_tags": 0, "attribute_display": 1, "send_publish_flag": 4},
        pua_params={"dlginfo_increase_version": 1},
        invite_route=(Call("setflag", ("4",), "", "^nopub"), Call("dlg_manage")),
    )
    a, b = call_flow(real), call_flow(model)
    _compare(a, b)
    publishes = [m for m in b if m[0] == "PUBLISH"]
    assert len(publishes) == 8 and {m[2] for m in publishes} == {"121", "11"}
    assert 'version="3"' in publishes[-2][4] and 'display="alice"' in publishes[0][4]


#: the lab presence server: one SIP worker on SQLite that answered each PUBLISH 1-9 ms after
#: the one before (08 #20-#24, 13 #20-#24), and one row per dialog id (README finding 1)
LAB_SERVER = {"processing_delay_s": 0.008, "replace_dialog_id": True}


def _publishes(flow: list[tuple]) -> list[tuple]:
    return [m[1:4] for m in flow if m[0] == "PUBLISH"]


def test_08_fast_replies_all_initial() -> None:
    """100/180/200 back to back reach the edge before the server has answered the first
    PUBLISH: Trying, early x2 and confirmed x2 all go out initial; the BYE's terminated
    PUBLISHes carry the newest ETags (the confirmed ones, 4.0 and 5.0)."""
    real, model = model_run("08_dialoginfo_call_fast_replies.pcap", server=LAB_SERVER)
    a, b = call_flow(real), call_flow(model)
    _compare(a, b)
    assert [m[1] for m in _publishes(b)] == ["43201"] * 5 + ["11", "11"]
    assert not any(m[2] for m in _publishes(b)[:5]) and all(m[2] for m in _publishes(b)[5:])
    ifm = [m.get("sip-if-match") for _t, m in model if getattr(m, "method", "") == "PUBLISH"]
    assert [e.rsplit(".", 2)[-2:] for e in ifm[5:]] == [["4", "0"], ["5", "0"]]


def test_08_needs_the_server_delay() -> None:
    """Without the server's processing time the replies overtake the 180: the model then
    chains the early PUBLISH with SIP-If-Match, which the capture does not show."""
    real, model = model_run("08_dialoginfo_call_fast_replies.pcap")
    assert call_flow(real) != call_flow(model)


def _first_refresh(sent: list[tuple[int, Any]]) -> int:
    return next(t for t, m in sent if isinstance(m, Request) and m.method == "PUBLISH" and not m.body)


def test_13_stale_records_refreshed_once_then_dropped() -> None:
    """Server max_expires 30, update_period 10: the five initial PUBLISHes of a fast call
    leave five pua records (one per PUBLISH, all with the dialog's id) but two server rows
    (one per dialog id and user).  The sweep refreshes all five (Expires 43179, no body):
    the two live ones get 200, the three replaced ones 412 and are dropped; the BYE's
    terminated PUBLISHes chain on the refreshed ETags; nothing follows (README finding 1)."""
    shift = 3 * SECOND  # whole seconds: each time keeps its place within its second
    real, _ = model_run("13_dialoginfo_refresh_server_max_expires_30.pcap", duration=0)
    # the real sweep's phase is not in the capture: start the edge so that its sweep
    # (every update_period - 5 = 5 s from start-up, §5.1) ticks when the real one did
    edge_start = _first_refresh(real) + shift - 25 * SECOND
    real, model = model_run("13_dialoginfo_refresh_server_max_expires_30.pcap", pua_params={"update_period": 10},
                            server={**LAB_SERVER, "max_expires": 30}, shift=shift, edge_start=edge_start,
                            duration=90 * SECOND)
    a, b = call_flow(real), call_flow(model)
    _compare(a, b)
    refreshes = [m for m in _publishes(b) if m[1] == "43179"]
    assert len(refreshes) == 5 and all(m[2] for m in refreshes)
    assert abs(_first_refresh(model) - _first_refresh(real)) < 5_000
