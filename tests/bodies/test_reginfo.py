"""reginfo (RFC 3680) and pua's version rewrite (pua-reference §3.4.2)."""

from __future__ import annotations

import pytest

from puasim.bodies import BodyError, RegContact, Reginfo, Registration, build_reginfo, parse_reginfo
from puasim.bodies.reginfo import read_version, rewrite_version

# ---------------------------------------------------------------- RFC 3680 examples
# Typed from RFC 3680: the example document of §5 and the two NOTIFY bodies of
# the §6 example flow (before and after Joe registers).

RFC3680_EXAMPLE = b"""<?xml version="1.0"?>
   <reginfo xmlns="urn:ietf:params:xml:ns:reginfo"
       xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
                version="0" state="full">
     <registration aor="sip:user@example.com" id="as9"
                   state="active">
       <contact id="76" state="active" event="registered"
                duration-registered="7322"
                q="0.8">
                <uri>sip:user@pc887.example.com</uri>
       </contact>
       <contact id="77" state="terminated" event="expired"
                duration-registered="3600"
                q="0.5">
                <uri>sip:user@university.edu</uri>
       </contact>
     </registration>
   </reginfo>
"""

RFC3680_FLOW_INIT = b"""<?xml version="1.0"?>
   <reginfo xmlns="urn:ietf:params:xml:ns:reginfo"
                version="0" state="full">
     <registration aor="sip:joe@example.com" id="a7" state="init" />
   </reginfo>
"""

RFC3680_FLOW_ACTIVE = b"""<?xml version="1.0"?>
   <reginfo xmlns="urn:ietf:params:xml:ns:reginfo"
                version="1" state="partial">
     <registration aor="sip:joe@example.com" id="a7" state="active">
       <contact id="76" state="active" event="registered"
                duration-registered="0">
         <uri>sip:joe@pc34.example.com</uri>
       </contact>
     </registration>
   </reginfo>
"""


def test_rfc3680_example():
    assert parse_reginfo(RFC3680_EXAMPLE) == Reginfo(
        0,
        "full",
        (
            Registration(
                "sip:user@example.com",
                "as9",
                "active",
                (
                    RegContact(
                        id="76",
                        state="active",
                        event="registered",
                        duration_registered=7322,
                        q="0.8",
                        uri="sip:user@pc887.example.com",
                    ),
                    RegContact(
                        id="77",
                        state="terminated",
                        event="expired",
                        duration_registered=3600,
                        q="0.5",
                        uri="sip:user@university.edu",
                    ),
                ),
            ),
        ),
    )


def test_rfc3680_example_flow():
    assert parse_reginfo(RFC3680_FLOW_INIT) == Reginfo(
        0, "full", (Registration("sip:joe@example.com", "a7", "init"),)
    )
    assert parse_reginfo(RFC3680_FLOW_ACTIVE) == Reginfo(
        1,
        "partial",
        (
            Registration(
                "sip:joe@example.com",
                "a7",
                "active",
                (
                    RegContact(
                        id="76",
                        state="active",
                        event="registered",
                        duration_registered=0,
                        uri="sip:joe@pc34.example.com",
                    ),
                ),
            ),
        ),
    )


def test_kamailio_pua_reginfo_body_with_negative_expires_and_extra_attributes():
    # pua-reference §9.5.1: permanent contacts get a negative expires, and
    # received/path/user_agent attributes that RFC 3680 does not know
    doc = b"""<?xml version="1.0"?>
<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" version="0" state="full">
  <registration aor="sip:bob@example.com" id="0x7f00aa" state="active">
    <contact id="0x7f00bb" state="active" event="created" expires="-1700000000" q="1.000"
             callid="abc@h" cseq="2" received="sip:192.0.2.1" path="" user_agent="ua">
      <uri>sip:bob@192.0.2.1:5060</uri>
      <unknown-param name="+sip.instance">"&lt;urn:uuid:1&gt;"</unknown-param>
      <unknown-param name="ob"/>
    </contact>
  </registration>
</reginfo>
"""
    (contact,) = parse_reginfo(doc).registrations[0].contacts
    assert contact.expires == -1700000000
    assert (contact.callid, contact.cseq, contact.q) == ("abc@h", 2, "1.000")
    assert contact.unknown_params == (("+sip.instance", '"<urn:uuid:1>"'), ("ob", ""))


@pytest.mark.parametrize("doc", [RFC3680_EXAMPLE, RFC3680_FLOW_INIT, RFC3680_FLOW_ACTIVE])
def test_round_trip(doc):
    info = parse_reginfo(doc)
    assert parse_reginfo(build_reginfo(info)) == info


def test_build_layout():
    info = Reginfo(
        0,
        "full",
        (
            Registration(
                "sip:joe@example.com",
                "a7",
                "active",
                (
                    RegContact(
                        id="76",
                        state="active",
                        event="registered",
                        uri="sip:joe@pc34.example.com",
                        expires=3600,
                    ),
                ),
            ),
        ),
    )
    assert build_reginfo(info) == (
        b'<?xml version="1.0"?>\n'
        b'<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" version="0" state="full">\n'
        b'  <registration aor="sip:joe@example.com" id="a7" state="active">\n'
        b'    <contact id="76" state="active" event="registered" expires="3600">\n'
        b"      <uri>sip:joe@pc34.example.com</uri>\n"
        b"    </contact>\n"
        b"  </registration>\n"
        b"</reginfo>\n"
    )


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        (b'<reginfo version="0" state="full"/>', "root element"),
        (b'<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" state="full"/>', "version"),
        (
            b'<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" version="0" state="full">'
            b'<registration aor="sip:a@b" id="1" state="gone"/></reginfo>',
            "registration",
        ),
        (
            b'<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" version="0" state="full">'
            b'<registration aor="sip:a@b" id="1" state="active"><contact id="1" state="active" '
            b'event="born"><uri>sip:x</uri></contact></registration></reginfo>',
            "event",
        ),
        (
            b'<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" version="0" state="full">'
            b'<registration aor="sip:a@b" id="1" state="active"><contact id="1" state="active" '
            b'event="created"/></registration></reginfo>',
            "uri",
        ),
        (
            b'<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" version="0" state="full">'
            b'<registration aor="sip:a@b" id="1" state="active"><contact id="1" state="active" '
            b'event="created" cseq="-1"><uri>sip:x</uri></contact></registration></reginfo>',
            "cseq",
        ),
    ],
)
def test_parse_errors(doc, reason):
    with pytest.raises(BodyError, match=reason):
        parse_reginfo(doc)


# ---------------------------------------------------------------- §3.4.2 processor


def test_version_created_overwritten_and_read():
    created = rewrite_version(b'<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" state="full"/>', 0)
    assert created == (
        b'<?xml version="1.0"?>\n<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" '
        b'state="full" version="0"/>\n'
    )
    assert read_version(created) == 0
    overwritten = rewrite_version(RFC3680_FLOW_ACTIVE, 12)
    assert overwritten.startswith(
        b'<?xml version="1.0"?>\n<reginfo xmlns="urn:ietf:params:xml:'
        b'ns:reginfo" version="12" state="partial">\n     <registration'
    )
    assert read_version(overwritten) == 12


def test_reginfo_rewrite_needs_a_reginfo_element():
    with pytest.raises(BodyError, match="reginfo"):
        rewrite_version(b'<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info"/>', 1)
    assert b'<REGINFO version="4"/>' in rewrite_version(b"<REGINFO/>", 4)
