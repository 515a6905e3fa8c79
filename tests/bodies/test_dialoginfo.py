"""dialog-info (RFC 4235) and pua's version rewrite (pua-reference §3.4.2)."""

from __future__ import annotations

import pytest

from puasim.bodies import BodyError, Dialog, DialogInfo, build_dialog_info, parse_dialog_info
from puasim.bodies.dialoginfo import read_version, rewrite_version

# ---------------------------------------------------------------- RFC 4235 examples
# Typed from RFC 4235: the dialog element example of §4.1 (a half-dialog in the
# early state) and the sample notification body with both participants.

RFC4235_EARLY = b"""<?xml version="1.0"?>
   <dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info"
                version="1" state="full" entity="sip:alice@example.com">
     <dialog id="as7d900as8" call-id="a84b4c76e66710"
             local-tag="1928301774" remote-tag="456887766"
             direction="initiator">
       <state>early</state>
     </dialog>
   </dialog-info>
"""

RFC4235_SAMPLE = b"""<?xml version="1.0"?>
      <dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info"
        xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
        xsi:schemaLocation="urn:ietf:params:xml:ns:dialog-info"
        version="1" state="full" entity="sip:alice@example.com">
        <dialog id="123456">
          <state>confirmed</state>
          <duration>274</duration>
          <local>
            <identity display="Alice">sip:alice@example.com</identity>
            <target uri="sip:alice@pc33.example.com">
              <param pname="isfocus" pval="true"/>
              <param pname="class" pval="personal"/>
            </target>
          </local>
          <remote>
            <identity display="Bob">sip:bob@example.org</identity>
            <target uri="sip:bobster@phone21.example.org"/>
          </remote>
        </dialog>
      </dialog-info>
"""

# two dialogs, one confirmed, one early (as quoted by the pua_dialoginfo docs)
TWO_DIALOGS = b"""<?xml version="1.0"?>
<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info"
             version="3"
             state="full"
             entity="sip:alice@example.com">
    <dialog id="as7d900as8" call-id="a84b4c76e66710"
            local-tag="1928301774" remote-tag="hh76a"
            direction="initiator">
        <state>confirmed</state>
    </dialog>
    <dialog id="j7zgt54" call-id="ASDRRVASDRF"
            local-tag="123456789" remote-tag="EE345"
            direction="recipient">
        <state>early</state>
    </dialog>
</dialog-info>
"""


def test_rfc4235_early_half_dialog():
    assert parse_dialog_info(RFC4235_EARLY) == DialogInfo(
        entity="sip:alice@example.com",
        version=1,
        state="full",
        dialogs=(
            Dialog(
                id="as7d900as8",
                state="early",
                call_id="a84b4c76e66710",
                local_tag="1928301774",
                remote_tag="456887766",
                direction="initiator",
            ),
        ),
    )


def test_rfc4235_sample_notification_body():
    info = parse_dialog_info(RFC4235_SAMPLE)
    assert info.version == 1 and info.state == "full"
    assert info.dialogs == (
        Dialog(
            id="123456",
            state="confirmed",
            duration=274,
            local_identity="sip:alice@example.com",
            local_display="Alice",
            local_target="sip:alice@pc33.example.com",
            remote_identity="sip:bob@example.org",
            remote_display="Bob",
            remote_target="sip:bobster@phone21.example.org",
        ),
    )


def test_two_dialogs():
    info = parse_dialog_info(TWO_DIALOGS)
    assert [(d.id, d.state, d.direction) for d in info.dialogs] == [
        ("as7d900as8", "confirmed", "initiator"),
        ("j7zgt54", "early", "recipient"),
    ]


def test_terminated_dialog_with_event_and_code():
    doc = (
        b'<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="2" '
        b'state="partial" entity="sip:alice@example.com"><dialog id="as7d900as8">'
        b'<state event="rejected" code="486">terminated</state></dialog></dialog-info>'
    )
    (dialog,) = parse_dialog_info(doc).dialogs
    assert (dialog.state, dialog.event, dialog.code) == ("terminated", "rejected", 486)


@pytest.mark.parametrize("doc", [RFC4235_EARLY, RFC4235_SAMPLE, TWO_DIALOGS])
def test_round_trip(doc):
    info = parse_dialog_info(doc)
    assert parse_dialog_info(build_dialog_info(info)) == info


def test_build_layout():
    info = DialogInfo(
        "sip:alice@example.com",
        0,
        "full",
        (Dialog(id="d1", state="confirmed", direction="recipient", local_identity="sip:a@b"),),
    )
    assert build_dialog_info(info) == (
        b'<?xml version="1.0"?>\n'
        b'<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="0" state="full" '
        b'entity="sip:alice@example.com">\n'
        b'  <dialog id="d1" direction="recipient">\n'
        b"    <state>confirmed</state>\n"
        b"    <local>\n"
        b"      <identity>sip:a@b</identity>\n"
        b"    </local>\n"
        b"  </dialog>\n"
        b"</dialog-info>\n"
    )


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        (b'<dialog-info version="0" state="full" entity="x"/>', "root element"),
        (
            b'<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" state="full" entity="x"/>',
            "version",
        ),
        (
            b'<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="a" state="full" '
            b'entity="x"/>',
            "version",
        ),
        (
            b'<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="0" state="all" '
            b'entity="x"/>',
            "state",
        ),
        (
            b'<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="0" state="full" '
            b'entity="x"><dialog id="a"><state>ringing</state></dialog></dialog-info>',
            "state",
        ),
        (
            b'<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="0" state="full" '
            b'entity="x"><dialog><state>early</state></dialog></dialog-info>',
            "id",
        ),
        (
            b'<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="0" state="full" '
            b'entity="x"><dialog id="a"/></dialog-info>',
            "no <state>",
        ),
    ],
)
def test_parse_errors(doc, reason):
    with pytest.raises(BodyError, match=reason):
        parse_dialog_info(doc)


# ---------------------------------------------------------------- §3.4.2 processor

ONE_LINE = (
    b'<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" state="full" '
    b'entity="sip:alice@example.com"><dialog id="d1"><state>trying</state>'
    b"</dialog></dialog-info>"
)


def test_version_is_created_and_body_formatted():
    assert rewrite_version(ONE_LINE, 0) == (
        b'<?xml version="1.0"?>\n'
        b'<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" state="full" '
        b'entity="sip:alice@example.com" version="0">\n'
        b'  <dialog id="d1">\n'
        b"    <state>trying</state>\n"
        b"  </dialog>\n"
        b"</dialog-info>\n"
    )


def test_version_is_overwritten_in_place():
    out = rewrite_version(RFC4235_EARLY, 7)
    assert read_version(out) == 7
    # position kept, indentation of the input kept (it has whitespace text nodes)
    assert b'version="7" state="full"' in out
    assert b"\n       <state>early</state>\n" in out
    # the same bytes as the input with the value replaced, re-serialised: the
    # whitespace before the root and inside tags is not kept by libxml2
    assert out == rewrite_version(RFC4235_EARLY.replace(b'version="1"', b'version="7"'), 7)
    assert out.startswith(
        b'<?xml version="1.0"?>\n<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" '
        b'version="7" state="full" entity="sip:alice@example.com">\n     <dialog id='
    )


def test_versions_follow_the_record_counter():
    # first PUBLISH carries 0, updates 1, 2, 3 ... (pua-reference §3.4.2)
    body = build_dialog_info(parse_dialog_info(TWO_DIALOGS))
    for counter in range(4):
        body = rewrite_version(body, counter)
        assert read_version(body) == counter
        assert parse_dialog_info(body).version == counter


def test_dialog_info_is_found_case_insensitively_and_anywhere():
    doc = b'<wrap><x:DIALOG-INFO xmlns:x="urn:y" version="5"/></wrap>'
    assert b'<x:DIALOG-INFO xmlns:x="urn:y" version="2"/>' in rewrite_version(doc, 2)


def test_version_attribute_match_is_exact():
    # xmlSetProp matches "version" exactly: VERSION stays, version is added
    doc = b'<dialog-info VERSION="9"/>'
    assert rewrite_version(doc, 1).endswith(b'<dialog-info VERSION="9" version="1"/>\n')


@pytest.mark.parametrize(
    "doc",
    [
        b'<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="x"/>',
        b"<dialog/>",
        b"<?dialog-info?><dialog-info/>",
        b"<dialog-info",
    ],
)
def test_rewrite_without_dialog_info_element_fails(doc):
    with pytest.raises(BodyError):
        rewrite_version(doc, 1)


def test_rewrite_rejects_negative_versions():
    with pytest.raises(ValueError):
        rewrite_version(ONE_LINE, -1)


@pytest.mark.parametrize(
    "doc", [ONE_LINE, b'<dialog-info version="x"/>', b"<presence/>", b'<dialog-info version="-1"/>']
)
def test_read_version_errors(doc):
    with pytest.raises(BodyError):
        read_version(doc)
