"""Calls through the model's edge node against the real Kamailio 5.6.3 edge proxy (dialog + pua_dialoginfo).

Each test replays one lab capture's phones (REGISTERs, the SIPp caller's
requests, the SIPp callee's replies) into the model configured as
``proxy.cfg`` was, and compares the edge's messages to the presence server and
the phones, in order (see ``call_replay.call_flow`` for what is compared).
"""

from __future__ import annotations

from puasim.edge.script import Call
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
