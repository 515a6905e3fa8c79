"""message-summary (RFC 3842)."""

from __future__ import annotations

import pytest

from puasim.bodies import BodyError, MessageSummary, build_message_summary, parse_message_summary

# ---------------------------------------------------------------- RFC 3842 examples
# Typed from RFC 3842: the body of the example NOTIFY, and the §5 example with
# urgent counts followed by the optional headers of one new message.

RFC3842_NOTIFY = (
    b"Messages-Waiting: yes\r\n"
    b"Message-Account: sip:alice@vmail.example.com\r\n"
    b"Voice-Message: 2/8 (0/2)\r\n"
)

RFC3842_WITH_HEADERS = (
    b"Messages-Waiting: yes\r\n"
    b"Message-Account: sip:alice@vmail.example.com\r\n"
    b"Voice-Message: 4/8 (1/2)\r\n"
    b"\r\n"
    b"To: <alice@atlanta.example.com>\r\n"
    b"From: <bob@biloxi.example.com>\r\n"
    b"Subject: carpool tomorrow?\r\n"
    b"Date: Sun, 09 Mar 2003 23:59:59 -0800\r\n"
    b"Priority: normal\r\n"
    b"Message-ID: 13784434989@vmail.example.com\r\n"
)


def test_rfc3842_notify_body():
    assert parse_message_summary(RFC3842_NOTIFY) == MessageSummary(
        True, "sip:alice@vmail.example.com", {"voice-message": (2, 8, 0, 2)}
    )


def test_rfc3842_body_with_message_headers():
    summary = parse_message_summary(RFC3842_WITH_HEADERS)
    assert summary.counts == {"voice-message": (4, 8, 1, 2)}
    (block,) = summary.message_headers
    assert block[0] == ("To", "<alice@atlanta.example.com>")
    assert ("Subject", "carpool tomorrow?") in block
    assert len(block) == 6


@pytest.mark.parametrize("body", [RFC3842_NOTIFY, RFC3842_WITH_HEADERS])
def test_rfc_bodies_build_back_byte_identical(body):
    assert build_message_summary(parse_message_summary(body)) == body


def test_boolean_only_and_several_classes():
    assert parse_message_summary(b"Messages-Waiting: no\r\n") == MessageSummary(False)
    summary = parse_message_summary(
        b"messages-waiting:YES\nVoice-Message: 1/0\nfax-message :0 / 2 ( 0 / 1 )\n"
    )
    assert summary.messages_waiting is True
    assert list(summary.counts.items()) == [
        ("voice-message", (1, 0)),
        ("fax-message", (0, 2, 0, 1)),
    ]
    assert build_message_summary(summary) == (
        b"Messages-Waiting: yes\r\nVoice-Message: 1/0\r\nFax-Message: 0/2 (0/1)\r\n"
    )


def test_several_header_blocks_and_folding():
    body = b"Messages-Waiting: yes\r\n\r\nSubject: one\r\n  folded\r\n\r\n\r\nSubject: two\r\n"
    summary = parse_message_summary(body)
    assert summary.message_headers == ((("Subject", "one folded"),), (("Subject", "two"),))


@pytest.mark.parametrize(
    ("body", "line", "reason"),
    [
        (b"", 1, "mandatory"),
        (b"Voice-Message: 1/2\r\n", 1, "first line"),
        (b"Messages-Waiting: maybe\r\n", 1, "yes or no"),
        (b"Messages-Waiting yes\r\n", 1, "name: value"),
        (
            b"Messages-Waiting: yes\r\nVoice-Message: 1/2\r\nMessage-Account: sip:a@b\r\n",
            3,
            "must follow",
        ),
        (b"Messages-Waiting: yes\r\nMessage-Account:\r\n", 2, "without a URI"),
        (b"Messages-Waiting: yes\r\nVoice-Message: 4-8\r\n", 2, "bad counts"),
        (b"Messages-Waiting: yes\r\nVoice-Message: 4/8 (1)\r\n", 2, "bad counts"),
        (b"Messages-Waiting: yes\r\nVoice-Message: 4294967296/0\r\n", 2, "count above"),
        (b"Messages-Waiting: yes\r\nVideo-Message: 1/0\r\n", 2, "unknown"),
        (b"Messages-Waiting: yes\r\nVoice-Message: 1/0\r\nvoice-message: 1/0\r\n", 3, "twice"),
        (b"Messages-Waiting: yes\r\nMessages-Waiting: no\r\n", 2, "twice"),
        (b"Messages-Waiting: yes\r\n\r\n folded-first\r\n", 3, "continuation"),
        (b"Messages-Waiting: yes\r\n\r\nnot a header\r\n", 3, "name: value"),
        (b"Messages-Waiting: yes\r\nVoice-Message: 1/\xff\r\n", 2, "UTF-8"),
    ],
)
def test_bad_lines_name_their_line(body, line, reason):
    with pytest.raises(BodyError, match=reason) as info:
        parse_message_summary(body)
    assert info.value.line == line
    assert f"(line {line})" in str(info.value)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(counts={"video-message": (1, 2)}),
        dict(counts={"voice-message": (1, 2, 3)}),
        dict(counts={"voice-message": (-1, 0)}),
        dict(counts={"voice-message": (2**32, 0)}),
        dict(account=" sip:a@b"),
        dict(message_headers=((("Bad Name", "x"),),)),
        dict(counts={"Voice-Message": (1, 0), "voice-message": (2, 0)}),
    ],
)
def test_summary_validation(kwargs):
    with pytest.raises(ValueError):
        MessageSummary(True, **kwargs)


def test_class_names_are_normalised():
    summary = MessageSummary(True, counts={"Voice-Message": [1, 2]})
    assert summary.counts == {"voice-message": (1, 2)}
    assert MessageSummary(False, counts={"none": (0, 0)}).counts == {"none": (0, 0)}
    assert build_message_summary(MessageSummary(False, counts={"none": (0, 1)})) == (
        b"Messages-Waiting: no\r\nNone: 0/1\r\n"
    )
