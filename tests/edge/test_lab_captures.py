"""The model's edge node against the real Kamailio 5.6.3 edge proxy of the companions lab.

Each test replays the phones' REGISTERs of one lab capture into the model
(configured as ``proxy.cfg`` was for that experiment) and compares what the
edge node sent — PUBLISHes to the presence server and replies to the phones —
message by message with the capture (see ``lab_replay.normalised`` for the
fields left out and why).
"""

from __future__ import annotations

import pytest

from puasim.capture.reader import read_pcap
from puasim.companions.bla import PuaBlaConfig
from puasim.companions.reginfo import PuaReginfoConfig
from puasim.companions.usrloc import PuaUsrlocConfig
from puasim.edge.script import Call, Script
from puasim.effects import SECOND
from puasim.node.usrloc import UsrlocConfig
from tests.edge.lab_replay import DATA, bla_phone_side, model_side, normalised, real_side

CAPTURE_01 = "01_usrloc_setpublish_register_refresh_deregister.pcap"
CAPTURE_03 = "03_usrloc_branchflag_register_refresh_expiry.pcap"


def _compare(real: list[dict], model: list[dict]) -> None:
    assert len(model) == len(real), f"{len(model)} messages from the model, {len(real)} in the capture"
    for i, (want, got) in enumerate(zip(real, model, strict=True)):
        assert got == want, f"message {i} differs"


def test_flag_mode_register_refresh_new_call_id_two_contacts_deregister() -> None:
    """Experiment 01: pua_set_publish() flag mode (§9.2; README findings 4 and 5)."""
    real, registers = real_side(CAPTURE_01)
    model, _sim = model_side(registers, pua_params={}, usrloc=UsrlocConfig(), pua_usrloc=PuaUsrlocConfig("127.0.0.1"))
    a, b = normalised(real), normalised(model)
    _compare(a, b)
    publishes = [m for m in b if m.get("method") == "PUBLISH"]
    # initial with PIDF, body-less refresh, a new initial after the Call-ID change, carol once, two removals
    assert [(p["expires"], p["if_match_of"], bool(p["body"])) for p in publishes] == [
        ("61", None, True), ("61", 0, False), ("61", None, True), ("61", None, True), ("0", 2, False), ("0", 3, False),
    ]


@pytest.mark.parametrize("shift_ms", [0, 1700, 4200])
def test_branch_flag_mode_two_contacts_and_timer_expiry(shift_ms: int) -> None:
    """Experiment 03: branch_flag 3, usrloc timer_interval 5 (§9.2; README findings 5 and 6).

    Whatever the phase of usrloc's timer, the same PUBLISHes leave; the
    expiry removal comes from the timer process within one timer interval
    after the contact's expiry second.
    """
    real, registers = real_side(CAPTURE_03)
    model, sim = model_side(
        registers, pua_params={"update_period": 10}, usrloc=UsrlocConfig(timer_interval=5),
        pua_usrloc=PuaUsrlocConfig("127.0.0.1", branch_flag=3), shift=shift_ms * 1000,
    )
    a, b = normalised(real), normalised(model)
    _compare(a, b)
    publishes = [m for m in b if m.get("method") == "PUBLISH"]
    carol = [p for p in publishes if p["ruri"] == "sip:carol@127.0.0.1"]
    assert [(p["expires"], p["if_match_of"]) for p in carol] == [("61", None), ("61", None), ("0", 3), ("0", 3)]
    last = publishes[-1]
    assert (last["ruri"], last["expires"], last["process"]) == ("sip:alice@127.0.0.1", "0", "other")
    # alice's last REGISTER (CSeq 2, Expires 20) was at registers[1]; the removal follows her expiry
    refresh_at = registers[1][0] + shift_ms * 1000
    sent_at = [t for t, m in model.sent if getattr(m, "method", "") == "PUBLISH"][-1]
    expiry = (refresh_at // SECOND + 20) * SECOND
    assert expiry <= sent_at < expiry + 5 * SECOND + SECOND


def test_the_comparison_sees_a_difference() -> None:
    """Guard: a model configured unlike the lab (flag mode for experiment 03) does not pass."""
    real, registers = real_side(CAPTURE_03)
    model, _ = model_side(
        registers, pua_params={"update_period": 10}, usrloc=UsrlocConfig(timer_interval=5),
        pua_usrloc=PuaUsrlocConfig("127.0.0.1"),
    )
    assert normalised(model) != normalised(real)


CAPTURE_04 = "04_reginfo_register_refresh_unregister_expire.pcap"
CAPTURE_06 = "06_reginfo_subscribe_handle_notify.pcap"
REGINFO = PuaReginfoConfig(default_domain="127.0.0.1", server_address="sip:reginfo@127.0.0.1:5080")


def test_reginfo_register_refresh_unregister_expire() -> None:
    """Experiment 04: pua_reginfo publishes every usrloc change, Expires 3601, version 0 (§9.5.1, §11.2)."""
    real, registers = real_side(CAPTURE_04)
    model, _sim = model_side(
        registers, pua_params={"update_period": 10}, usrloc=UsrlocConfig(timer_interval=5),
        pua_usrloc=PuaUsrlocConfig("127.0.0.1"), pua_reginfo=REGINFO, script=Script((Call("save", ("location",)),)),
    )
    a, b = normalised(real), normalised(model)
    _compare(a, b)
    publishes = [m for m in b if m.get("method") == "PUBLISH"]
    assert [p["expires"] for p in publishes] == ["3601"] * 5
    assert [p["if_match_of"] for p in publishes] == [None, 0, 1, 2, 3]
    assert 'state="terminated"/>' in publishes[-1]["body"] and publishes[-1]["process"] == "other"


def test_reginfo_subscribe_and_handle_notify() -> None:
    """Experiment 06: reginfo_subscribe() then reginfo_handle_notify(); afterwards the worker publishes nothing."""
    real, registers = real_side(CAPTURE_06)
    trigger = next(r.time for r in read_pcap(DATA / CAPTURE_06).records
                   if getattr(r.event.message, "method", "") == "OPTIONS")
    script = Script((Call("save", ("location",)),), (Call("reginfo_handle_notify", ("location",)),))
    model, sim = model_side(
        registers, pua_params={"update_period": 10}, usrloc=UsrlocConfig(timer_interval=5),
        pua_usrloc=PuaUsrlocConfig("127.0.0.1"), pua_reginfo=REGINFO, script=script,
        triggers=((trigger, Call("reginfo_subscribe", ("sip:alice@127.0.0.1", "120"))),),
    )
    a, b = normalised(real), normalised(model)
    _compare(a, b)
    assert [m.get("method") or m["reply"] for m in b] == ["PUBLISH", 200, "SUBSCRIBE", 200, 200, 200]
    edge = sim.nodes["pua"].endpoint
    assert sorted(r.aor for r in edge.usrloc.records()) == ["alice", "alice@127.0.0.1", "bob"]


CAPTURE_14 = "14_bla_register_subscribe_notify.pcap"
BLA = PuaBlaConfig(server_address="sip:bla@127.0.0.1:5080", default_domain="127.0.0.1", header_name="Sender")


def test_bla_register_subscribe_notify() -> None:
    """Experiment 14: bla_set_flag() for users bla*, SUBSCRIBE dialog;sla per REGISTER, each phone NOTIFY
    a PUBLISH with the Sender header and version 0 (489 from the server), the NOTIFY after the
    un-SUBSCRIBE not answered (§9.3; README finding 9)."""
    real, registers = real_side(CAPTURE_14)
    # proxy.cfg with PUL_SET_PUBLISH=0 (pua_usrloc loaded, never asked to publish), PX_PUA_UPDATE_PERIOD=10
    script = Script((Call("bla_set_flag", (), "^bla"), Call("save", ("location",))), (Call("bla_handle_notify"),))
    model, _sim = model_side(
        registers, pua_params={"update_period": 10}, usrloc=UsrlocConfig(), pua_usrloc=PuaUsrlocConfig("127.0.0.1"),
        pua_bla=BLA,
        bla_phone=bla_phone_side(CAPTURE_14), script=script,
    )
    a, b = normalised(real), normalised(model)
    _compare(a, b)
    assert [m.get("method") or m["reply"] for m in b] == [
        "SUBSCRIBE", 200, "PUBLISH", 200, "SUBSCRIBE", 200, "PUBLISH", 200, "SUBSCRIBE", 200]
    publishes = [m for t, m in model.sent if getattr(m, "method", "") == "PUBLISH"]
    assert [p.get("sender") for p in publishes] == ["sip:bla1@127.0.0.1:5094"] * 2
    assert [p.get("expires") for p in publishes] == ["131", "131"]


def test_the_bla_comparison_sees_a_difference() -> None:
    """Guard: without bla_set_flag() in the script the model sends no SUBSCRIBE, and the comparison fails."""
    real, registers = real_side(CAPTURE_14)
    model, _ = model_side(
        registers, pua_params={"update_period": 10}, usrloc=UsrlocConfig(), pua_usrloc=PuaUsrlocConfig("127.0.0.1"),
        pua_bla=BLA, bla_phone=bla_phone_side(CAPTURE_14),
        script=Script((Call("save", ("location",)),), (Call("bla_handle_notify"),)),
    )
    assert normalised(model) != normalised(real)
