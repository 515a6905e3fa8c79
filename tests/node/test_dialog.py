"""The dialog module (5.6.3): states and the callbacks pua_dialoginfo registers, where they fire."""

from __future__ import annotations

import pytest

from puasim.effects import SECOND
from puasim.node.dialog import (
    DIALOG_TRANSITIONS,
    DialogConfig,
    DialogModule,
    DialogStartupError,
    DlgCb,
    DlgState,
)
from puasim.sip.message import Request, Response

ALL = DlgCb(sum(DlgCb))


class Harness:
    def __init__(self, timeout: int = 100) -> None:
        self.timers: dict = {}
        self.notes: list[str] = []
        self.fired: list[tuple[str, str]] = []
        self.mod = DialogModule(DialogConfig(default_timeout=timeout), self.timers.__setitem__,
                                lambda k: self.timers.pop(k, None), self.notes.append)
        self.mod.register_dlgcb(ALL, lambda d, kind, msg, now: self.fired.append((kind.name, d.state.name)))


INVITE = Request("INVITE", "sip:bob@127.0.0.1", (
    ("Via", "SIP/2.0/UDP 127.0.0.1:5090;branch=z9hG4bKa"), ("From", "<sip:alice@127.0.0.1>;tag=at"),
    ("To", "<sip:bob@127.0.0.1>"), ("Call-ID", "c1"), ("CSeq", "1 INVITE"),
    ("Contact", "<sip:alice@127.0.0.1:5090>")))


def reply(status: int, tag: str = "bt") -> Response:
    to = "<sip:bob@127.0.0.1>" + (f";tag={tag}" if tag else "")
    return Response(status, "R", (("From", "<sip:alice@127.0.0.1>;tag=at"), ("To", to), ("Call-ID", "c1"),
                                  ("Contact", "<sip:bob@127.0.0.1:5092>")))


def request(method: str, did: str, from_tag: str = "at", to_tag: str = "bt") -> Request:
    return Request(method, "sip:bob@127.0.0.1:5092", (
        ("Route", f"<sip:127.0.0.1:5080;lr;ftag=at;did={did}>"), ("From", f"<sip:alice@127.0.0.1>;tag={from_tag}"),
        ("To", f"<sip:bob@127.0.0.1>;tag={to_tag}"), ("Call-ID", "c1"), ("CSeq", f"2 {method}")))


def test_table_has_no_way_back_from_deleted_except_a_2xx():
    for (state, event), new in DIALOG_TRANSITIONS.items():
        if state is DlgState.DELETED:
            assert new is DlgState.DELETED or event == "rpl2xx"


def test_basic_call_fires_created_early_for_each_1xx_confirmed_na_confirmed_terminated():
    h = Harness()
    dlg = h.mod.create(INVITE, 0)
    assert dlg is not None and dlg.state is DlgState.UNCONFIRMED
    h.mod.on_reply(dlg, 180, reply(180, tag=""), SECOND)  # 1xx without To-tag: EARLY too
    h.mod.on_reply(dlg, 183, reply(183), SECOND)
    assert h.timers == {}  # no dialog timer before the 2xx
    h.mod.on_reply(dlg, 200, reply(200), 2 * SECOND)
    assert (dlg.to_tag, dlg.callee_contact) == ("bt", "sip:bob@127.0.0.1:5092")
    assert h.timers == {dlg.timer_key: 102 * SECOND}
    h.mod.on_reply(dlg, 200, reply(200), 2 * SECOND)  # a retransmitted or forked 2xx: nothing
    h.mod.on_request(request("ACK", dlg.did), 3 * SECOND)
    assert h.timers == {dlg.timer_key: 103 * SECOND}
    h.mod.on_request(request("BYE", dlg.did, "bt", "at"), 9 * SECOND)  # from the callee
    assert h.fired == [("CREATED", "UNCONFIRMED"), ("EARLY", "EARLY"), ("EARLY", "EARLY"),
                       ("CONFIRMED_NA", "CONFIRMED_NA"), ("CONFIRMED", "CONFIRMED"), ("TERMINATED", "DELETED")]
    assert h.timers == {}
    assert h.notes[0] == f"dialog {dlg.did}: CREATED (unconfirmed)"


def test_failure_reply_after_1xx_is_failed_and_bye_in_early_is_nothing():
    h = Harness()
    dlg = h.mod.create(INVITE, 0)
    h.mod.on_reply(dlg, 180, reply(180), SECOND)
    h.mod.on_request(request("BYE", dlg.did), SECOND)
    h.mod.on_reply(dlg, 487, reply(487), 2 * SECOND)
    assert [f[0] for f in h.fired] == ["CREATED", "EARLY", "FAILED"]


def test_faked_408_without_1xx_is_failed_from_unconfirmed():
    h = Harness()
    dlg = h.mod.create(INVITE, 0)
    h.mod.on_reply(dlg, 408, None, 30 * SECOND)
    assert h.fired[-1] == ("FAILED", "DELETED")


def test_prack_in_early_is_req_within_but_not_once_confirmed_na():
    h = Harness()
    dlg = h.mod.create(INVITE, 0)
    h.mod.on_reply(dlg, 183, reply(183), SECOND)
    h.mod.on_request(request("PRACK", dlg.did), SECOND)
    h.mod.on_reply(dlg, 200, reply(200), 2 * SECOND)
    h.mod.on_request(request("PRACK", dlg.did), 2 * SECOND)
    h.mod.on_request(request("INFO", dlg.did), 2 * SECOND)  # no callback in confirmed_na either
    h.mod.on_request(request("ACK", dlg.did), 3 * SECOND)
    h.mod.on_request(request("INFO", dlg.did), 4 * SECOND)
    assert [f[0] for f in h.fired] == ["CREATED", "EARLY", "REQ_WITHIN", "CONFIRMED_NA", "CONFIRMED", "REQ_WITHIN"]


def test_default_timeout_expires_a_confirmed_dialog():
    h = Harness(timeout=10)
    dlg = h.mod.create(INVITE, 0)
    h.mod.on_reply(dlg, 200, reply(200), SECOND)
    (key, at), = h.timers.items()
    assert at == 11 * SECOND
    assert h.mod.timer(key, at) is True
    assert h.fired[-1] == ("EXPIRED", "DELETED")
    assert h.mod.timer(("other", 1), at) is False


def test_a_2xx_after_failure_revives_the_dialog_but_not_after_bye():
    h = Harness()
    dlg = h.mod.create(INVITE, 0)
    h.mod.on_reply(dlg, 408, None, SECOND)
    h.mod.on_reply(dlg, 200, reply(200), 2 * SECOND)
    assert [f[0] for f in h.fired] == ["CREATED", "FAILED", "CONFIRMED_NA"]
    h.mod.on_request(request("BYE", dlg.did), 3 * SECOND)
    h.mod.on_reply(dlg, 200, reply(200), 4 * SECOND)
    assert [f[0] for f in h.fired][-1] == "TERMINATED"


def test_match_by_call_id_and_tags_without_route():
    h = Harness()
    dlg = h.mod.create(INVITE, 0)
    h.mod.on_reply(dlg, 200, reply(200), SECOND)
    ack = request("ACK", "nope").without_header("Route")
    assert h.mod.on_request(ack, SECOND) is dlg
    assert h.mod.on_request(request("ACK", "nope", from_tag="zz", to_tag="yy"), SECOND) is None


@pytest.mark.parametrize(("params", "reason"), [
    ({"default_timeout": 0}, "0 default_timeout not accepted!!"),
    ({"dlg_flag": 32}, "invalid dlg flag 32!!"),
    ({"dlg_flag": "x"}, "dlg_flag must be an integer"),
    ({"hash_size": 8}, "unknown dialog parameter 'hash_size'"),
    ({"timeout_noreset": 2}, r"invalid value 2 for timeout_noreset param!!"),
])
def test_mod_init_reasons(params, reason):
    with pytest.raises(DialogStartupError, match=reason):
        DialogConfig.from_params(params)


def test_flag_mode():
    h = Harness()
    assert h.mod.wants(0, True) and not h.mod.wants(1 << 4, False)
    flagged = DialogModule(DialogConfig(dlg_flag=4), h.timers.__setitem__, lambda k: None, h.notes.append)
    assert flagged.wants(1 << 4, False) and not flagged.wants(1 << 3, False)


@pytest.mark.parametrize(("noreset", "expires_at"), [(0, 15), (1, 12)])
def test_reinvite_and_its_ack_are_req_within_and_restart_the_timer_unless_noreset(noreset, expires_at):
    h = Harness(timeout=10)
    h.mod.cfg = DialogConfig(default_timeout=10, timeout_noreset=noreset)
    dlg = h.mod.create(INVITE, 0)
    h.mod.on_reply(dlg, 200, reply(200), SECOND)
    h.mod.on_request(request("ACK", dlg.did), 2 * SECOND)  # the confirming ACK always restarts it
    assert h.timers[dlg.timer_key] == 12 * SECOND
    reinvite = request("INVITE", dlg.did, from_tag="bt", to_tag="at").with_header(
        "Contact", "<sip:bob@10.0.0.2:5092>").with_header("From", "<sip:bob@127.0.0.1>;tag=bt").with_header(
        "To", "<sip:alice@127.0.0.1>;tag=at")
    h.mod.on_request(reinvite, 4 * SECOND)
    h.mod.on_request(request("ACK", dlg.did, from_tag="bt", to_tag="at"), 5 * SECOND)
    assert [f for f in h.fired[-2:]] == [("REQ_WITHIN", "CONFIRMED")] * 2
    assert h.timers[dlg.timer_key] == expires_at * SECOND
    assert dlg.callee_contact == "sip:bob@10.0.0.2:5092"  # dlg_refresh_contacts(): the callee sent it


def test_update_in_the_early_dialog_fires_req_within_and_starts_no_timer():
    h = Harness(timeout=10)
    dlg = h.mod.create(INVITE, 0)
    h.mod.on_reply(dlg, 180, reply(180), SECOND)
    h.mod.on_request(request("UPDATE", dlg.did), 2 * SECOND)
    assert h.fired[-1] == ("REQ_WITHIN", "EARLY") and h.timers == {}
