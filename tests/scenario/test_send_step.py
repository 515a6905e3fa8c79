"""The send step (hand-written SIP) and the save step ($name in step arguments)."""

from __future__ import annotations

from pathlib import Path

import pytest

from puasim.scenario import ScenarioError, run_scenario, scenario_from_text
from puasim.scenario.inject import datagram

FILE = Path(__file__).parents[2] / "scenarios" / "format" / "send_hand_written_publish.yaml"

HEAD = """\
name: t
refs: ["RFC 3903 4.1"]
duration: 10
pua:
  params: {outbound_proxy: "sip:127.0.0.1:5060"}
steps:
"""

PUBLISH = """\
  - at: 1
    do: send
    with:
      from: pua
      to: server
      content_length: auto
      message: |
        PUBLISH sip:x@127.0.0.1 SIP/2.0
        Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKt1
        From: <sip:x@127.0.0.1>;tag=1
        To: <sip:x@127.0.0.1>
        Call-ID: $call
        CSeq: 1 PUBLISH
        Event: presence
        Expires: 60
"""
EXPECT = "expect:\n  - count: {match: {from: server, status: 400}, equals: 1}\n"  # no body: refused


def test_the_scenario_file_removes_with_the_saved_etag():
    result = run_scenario(str(FILE))
    assert result.passed, result.failures
    sent = [r for r in result.trace.records if type(r.event).__name__ == "MessageSent"]
    first_tag = sent[1].event.message.get("sip-etag")
    assert first_tag and sent[2].event.message.get("sip-if-match") == first_tag
    delivered = [r for r in result.trace.records if type(r.event).__name__ == "MessageDelivered" and r.node == "server"]
    assert len(delivered) == 2  # the server model received both hand-written requests


def test_datagram_has_crlf_and_computed_content_length():
    data = datagram("OPTIONS sip:a SIP/2.0\nContent-Length: 99\nl: 7\n\nabc\n", "auto")
    assert data == b"OPTIONS sip:a SIP/2.0\r\nContent-Length: 5\r\n\r\nabc\r\n"
    assert datagram("OPTIONS sip:a SIP/2.0\n", "as_written") == b"OPTIONS sip:a SIP/2.0\r\n\r\n"


def test_a_saved_value_fills_a_later_step():
    text = HEAD + "  - {at: 0.5, do: mark, text: first}\n" + PUBLISH.replace("$call", "c-1") + (
        "  - {at: 2, do: save, with: {match: {from: pua, method: PUBLISH}, save: {call: call_id, cs: cseq}}}\n"
        "  - {at: 3, do: mark, text: 'call $call cseq $cs cost $5'}\n"
    ) + EXPECT + "  - event: {type: Note, where: {text: 'call c-1 cseq 1 cost $5'}, equals: 1}\n"
    result = run_scenario(scenario_from_text(text, "f.yaml"))
    assert result.passed, result.failures


def test_a_message_with_a_saved_value_is_sent_once_it_is_saved():
    text = HEAD + "  - {at: 0, do: mark, text: call-7}\n" + (
        "  - {at: 0.5, do: save, with: {match: {}, save: {call: call_id}}}\n"
    ) + PUBLISH + EXPECT
    result = run_scenario(scenario_from_text(text, "f.yaml"))
    # nothing was on the wire at 0.5 s: $call is never saved, the run stops at the step
    assert not result.passed and "$call" in (result.error or "")


@pytest.mark.parametrize("change, field, words", [
    (("CSeq: 1 PUBLISH", "CSeq 1 PUBLISH"), "steps[0].with.message", "not a SIP message: line 6"),
    (("Call-ID: c", "Call-ID: $nosuch"), "steps[0].with.message", "$nosuch is not saved by an earlier save step"),
    (("      to: server\n", ""), "steps[0].with", "send needs to"),
    (("to: server", "to: 127.0.0.1:99999"), "steps[0].with.to", "bad port"),
    (("content_length: auto", "content_length: yes"), "steps[0].with.content_length", "as_written, auto"),
])
def test_bad_send_steps(change, field, words):
    with pytest.raises(ScenarioError) as info:
        scenario_from_text(HEAD + PUBLISH.replace("$call", "c").replace(*change) + EXPECT, "f.yaml")
    assert info.value.field == field and words in info.value.problem, str(info.value)


def test_a_save_after_the_send_does_not_declare_the_name():
    later = "  - {at: 5, do: save, with: {match: {}, save: {call: call_id}}}\n"
    with pytest.raises(ScenarioError) as info:
        scenario_from_text(HEAD + PUBLISH + later + EXPECT, "f.yaml")
    assert "$call is not saved" in info.value.problem


def test_bad_save_steps():
    with pytest.raises(ScenarioError) as info:
        scenario_from_text(HEAD + "  - {at: 1, do: save, with: {match: {frm: pua}, save: {}}}\n" + EXPECT, "f.yaml")
    assert info.value.field == "steps[0].with.match.frm"


def test_the_hand_written_messages_are_in_the_pcap():
    import io

    from puasim.capture.pcap import export_pcap

    result = run_scenario(str(FILE))
    out = io.BytesIO()
    assert export_pcap(result.trace, out) == 4
    assert b"Call-ID: hand-1@127.0.0.1" in out.getvalue() and b"z9hG4bKhand2" in out.getvalue()
