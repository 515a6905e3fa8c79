"""``puasim check`` on calls: a dialog that expires (the dialog module's timer, DLGCB_EXPIRED).

``dialog_timeout_noreset`` and ``dialoginfo_update_early`` once differed from
their own pcaps in their last two PUBLISHes: the ``terminated`` pair the node
sends when the dialog timer runs out.  The timer's length (dialog
``default_timeout``) is on the wire only through that expiry: with
``override_lifetime`` set the PUBLISHes' Expires do not show it, and the
check ran the model with the module default 43200 s, so the model's dialog
never expired.  The check now reads an ``expired`` event from a terminated
PUBLISH of a confirmed call that no BYE and no failure preceded, and infers
``default_timeout`` (and, where the capture can tell, ``timeout_noreset``)
from when the timer was last started.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from puasim.capture.calls import call_events, infer_settings, split_wire
from puasim.capture.dlgcheck import check_calls
from puasim.capture.pcap import export_pcap
from puasim.capture.reader import read_pcap
from puasim.scenario.runner import load_scenario, run_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios" / "calls"
LAB = Path(__file__).resolve().parents[1] / "data" / "lab" / "kamailio-companions"


def _exported(path: Path, tmp_path: Path) -> tuple[Path, tuple[str, int]]:
    scn = load_scenario(path)
    out = tmp_path / f"{path.stem}.pcap"
    export_pcap(run_scenario(scn).trace, out)
    return out, scn.pua_address


@pytest.mark.parametrize("name, timeout, other", [
    # timeout_noreset 1: 6 s after the ACK at 3 s; counted from the re-INVITE's ACK at 5 s, 4 s
    ("dialog_timeout_noreset", 4, 6),
    # the UPDATE at 8 s restarts the timer: 6 s after it; counted from the ACK at 4 s, 10 s
    ("dialoginfo_update_early", 6, 10),
])
def test_an_expiring_dialog_agrees_with_its_own_capture(name: str, timeout: int, other: int, tmp_path: Path) -> None:
    out, node = _exported(SCENARIOS / f"{name}.yaml", tmp_path)
    report = check_calls(out, node_address=node)
    assert report.ok, report.format()
    expired = [r for r in report.rows if r.kind == "expired"]
    assert len(expired) == 2 and all(b"<state>terminated</state>" in r.real.body for r in expired)
    assert [c["event"] for c in report.calls][-1] == "expired"
    # one call with an in-dialog request before its expiry: both timeout_noreset settings fit, each with
    # its own default_timeout; the check says so and takes the module default 0
    assert report.params["dialog.default_timeout"] == timeout
    assert "dialog.timeout_noreset" not in report.params
    assert any("timeout_noreset" in n and f"default_timeout {timeout})" in n and f"default_timeout {other})" in n
               and "both fit" in n for n in report.notes), report.notes
    # the override_lifetime the Expires show is kept apart from the timer
    assert report.params["pua_dialoginfo.override_lifetime"] == 3600


def test_given_dialog_parameters_are_kept(tmp_path: Path) -> None:
    """``--dialog default_timeout=N`` wins over the expiry (a value the expiry does not fit is said);
    a given timeout the expiry fits only with timeout_noreset 1 decides that setting."""
    scn = load_scenario(SCENARIOS / "dialog_timeout_noreset.yaml")
    wire = split_wire(run_scenario(scn).trace, scn.pua_address)
    events = call_events(wire)
    got = infer_settings(wire, events, 30)
    assert "default_timeout" not in got.dialog
    assert any("which the given 30 does not fit" in line for line in got.unseen)
    got = infer_settings(wire, events, 6)  # the scenario's: 6 s after the ACK of the 2xx
    assert got.dialog == {"timeout_noreset": 1}
    assert not any("timeout_noreset" in line for line in got.unseen)
    out, node = _exported(SCENARIOS / "dialog_timeout_noreset.yaml", tmp_path)
    report = check_calls(out, node_address=node, dialog={"default_timeout": 6})
    assert report.ok, report.format()
    assert report.params["dialog.timeout_noreset"] == 1 and report.params["dialog.default_timeout"] == 6


TWO_CALLS = """
name: two_calls_dialog_timer
refs: ["dialog modparam timeout_noreset"]
duration: 40
pua:
  address: 127.0.0.1:5080
  params: {{outbound_proxy: "sip:127.0.0.1:5060"}}
node:
  modules:
    registrar: {{min_expires: 0}}
    dialog: {{default_timeout: 6, timeout_noreset: {noreset}}}
    pua_dialoginfo: {{override_lifetime: 3600}}
script:
  invite: [dlg_manage()]
phones:
  - {{name: alice, aor: "sip:alice@127.0.0.1", address: 127.0.0.1:5090, expires: 3600, refresh: none}}
  - {{name: bob, aor: "sip:bob@127.0.0.1", address: 127.0.0.1:5092, expires: 3600, refresh: none,
     calls: {{answer: ring, answer_after: 1}}}}
  - {{name: carol, aor: "sip:carol@127.0.0.1", address: 127.0.0.1:5094, expires: 3600, refresh: none}}
  - {{name: dave, aor: "sip:dave@127.0.0.1", address: 127.0.0.1:5096, expires: 3600, refresh: none,
     calls: {{answer: ring, answer_after: 1}}}}
steps:
  - {{at: 0, do: phone.register, with: {{phone: alice}}}}
  - {{at: 0.1, do: phone.register, with: {{phone: bob}}}}
  - {{at: 0.2, do: phone.register, with: {{phone: carol}}}}
  - {{at: 0.3, do: phone.register, with: {{phone: dave}}}}
  - {{at: 2, do: phone.call, with: {{phone: alice, to: bob}}}}
  - {{at: 12, do: phone.call, with: {{phone: carol, to: dave}}}}
  - {{at: 15, do: phone.reinvite, with: {{phone: dave, on_hold: true}}}}
expect:
  - event: {{type: Note, node: pua, where: {{text: {{regex: ": EXPIRED "}}}}, equals: 2}}
"""


@pytest.mark.parametrize("noreset", [0, 1])
def test_two_calls_tell_timeout_noreset(noreset: int, tmp_path: Path) -> None:
    """A call without in-dialog requests fixes default_timeout (6 s after its ACK); a second call's
    expiry then fits only one timeout_noreset: 6 s after its re-INVITE's ACK (0) or after its own
    ACK (1)."""
    path = tmp_path / "two_calls_dialog_timer.yaml"
    path.write_text(TWO_CALLS.format(noreset=noreset))
    out, node = _exported(path, tmp_path)
    report = check_calls(out, node_address=node)
    assert report.ok, report.format()
    assert sum(r.kind == "expired" for r in report.rows) == 4
    assert report.params["dialog.default_timeout"] == 6
    assert report.params.get("dialog.timeout_noreset", 0) == noreset
    assert not any("timeout_noreset" in n and "both fit" in n for n in report.notes)


def test_no_expiry_read_from_calls_that_end_with_a_bye() -> None:
    for capture in ("07_dialoginfo_call_180_200_bye.pcap", "x1_dialoginfo_reinvite_491_update_bye.pcap"):
        wire = split_wire(read_pcap(LAB / capture), ("127.0.0.1", 5080))
        events = call_events(wire)
        assert "terminated" in [e.kind for e in events] and "expired" not in [e.kind for e in events]
        assert "default_timeout" not in infer_settings(wire, events).dialog


def test_cli_names_a_bad_dialog_parameter(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from puasim.cli import main

    out, node = _exported(SCENARIOS / "dialog_timeout_noreset.yaml", tmp_path)
    assert main(["check", str(out), "--pua-port", str(node[1]), "--dialog", "default_timeout=x"]) == 2
    assert "dialog default_timeout='x': not a whole number" in capsys.readouterr().err


def test_an_expiry_the_real_ticks_brought_forward_at_the_captures_end() -> None:
    """Kamailio's whole-second ticks expire a 3 s dialog 2 to 4 s after its start; the model's at 3 s.
    With the terminated PUBLISHes 0.6 s early and the capture ending with their replies, the model's
    partners leave after the last packet: the replay runs the tolerance past it (a live run against
    a real node once showed them as missing)."""
    from puasim.sip.message import Request as Req
    from puasim.trace.events import MessageSent
    from puasim.trace.trace import Trace

    scn = load_scenario(Path(__file__).resolve().parents[1] / "live" / "scenarios" / "edge_dialog_timeout.yaml")
    trace = run_scenario(scn).trace
    sent = [r for r in trace if type(r.event) is MessageSent]
    first = next(r.time for r in sent if isinstance(r.event.message, Req) and r.event.message.body
                 and b"<state>terminated</state>" in r.event.message.body)
    early = 600_000
    moved = sorted(((r.time - early if r.time >= first else r.time, i, r) for i, r in enumerate(sent)),
                   key=lambda x: (x[0], x[1]))
    out = Trace(dict(trace.meta))
    for t, _i, r in moved:
        out.add(t, r.node, r.event)
    report = check_calls(out, node_address=scn.pua_address)
    assert report.ok, report.format()
    expired = [r for r in report.rows if r.kind == "expired"]
    assert len(expired) == 2
    assert all(0.5 * 1e6 < r.model_time - r.real_time < 0.7 * 1e6 for r in expired)
    assert report.params["dialog.default_timeout"] == 3
