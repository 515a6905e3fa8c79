"""SIP messages typed after the RFC examples the tests take as facts.

Each text uses ``\\n`` line ends and goes through :func:`wire` (CRLF, UTF-8)
unless a test wants bare LF.  Sources: RFC 4475 §3.1 (torture tests),
RFC 3903 §10 (PUBLISH flows), RFC 6665 / RFC 3856 style SUBSCRIBE/NOTIFY.
"""

from __future__ import annotations


def wire(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode("utf-8")


SDP_150 = """v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.3
s=-
c=IN IP4 192.0.2.4
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
"""

# RFC 4475 §3.1.1.1 "A Short Tortuous INVITE" (wsinv)
WSINV = (
    r"""INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0
TO :
 sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n
from   : "J Rosenberg \\\""       <sip:jdrosen@example.com>
  ;
  tag = 98asjd8
MaX-fOrWaRdS: 0068
Call-ID: wsinv.ndaksdj@192.0.2.1
Content-Length   : 150
cseq: 0009
  INVITE
Via  : SIP  /   2.0
 /UDP
    192.0.2.2;rport;branch=390skdjuw
s :
NewFangledHeader:   newfangled value
 continued newfangled value
UnknownHeaderWithUnusualValue: ;;,,;;,;
Content-Type: application/sdp
Route:
 <sip:services.example.com;lr;unknownwith=value;unknown-no-value>
v:  SIP  / 2.0  / TCP     spindle.example.com   ;
  branch  =   z9hG4bK9ikj8  ,
 SIP  /    2.0   / UDP  192.168.255.111   ; branch=
 z9hG4bK30239
m:"Quoted string \"\"" <sip:jdrosen@example.com> ; newparam =
      newvalue ;
  secondparam ; q = 0.33

"""
    + SDP_150
)

# RFC 4475 §3.1.1.3 "Valid Use of the % Escaping Mechanism" (esc01)
ESC01 = (
    """INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0
To: sip:%75se%72@example.com
From: <sip:I%20have%20spaces@example.net>;tag=938
Max-Forwards: 87
i: esc01.239409asdfakjkn23onasd0-3234
CSeq: 234234 INVITE
Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bKkdjuw
C: application/sdp
Contact:
  <sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>
Content-Length: 150

"""
    + SDP_150
)

# RFC 4475 §3.1.1.5 "Use of % When It Is Not an Escape" (esc02)
ESC02 = """RE%47IST%45R sip:registrar.example.com SIP/2.0
To: "%Z%45" <sip:resource@example.com>
From: "%Z%45" <sip:resource@example.com>;tag=f232jadfj23
Call-ID: esc02.asdfnqwo34rq23i34jrjasdcnl23nrlknsdf
Via: SIP/2.0/TCP host.example.com;rport;branch=z9hG4bK209%fzsnel234
CSeq: 29344 RE%47IST%45R
Max-Forwards: 70
Contact: <sip:alias1@host1.example.com>
C%6Fntact: <sip:alias2@host2.example.com>
Contact: <sip:alias3@host3.example.com>
l: 0

"""

# RFC 4475 §3.1.1.6 "Message with No LWS between Display Name and <" (lwsdisp)
LWSDISP = """OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: caller<sip:caller@example.com>;tag=323
Max-Forwards: 70
Call-ID: lwsdisp.1234abcd@funky.example.com
CSeq: 60 OPTIONS
Via: SIP/2.0/UDP funky.example.com;branch=z9hG4bKkdjuw
l: 0

"""

# RFC 4475 §3.1.1.7 "Long Values in Header Fields" (longreq), shortened: the
# same shapes (long display name, 34 Via lines in mixed case and compact form)
LONG = "long" * 25
LONGREQ = (
    f"""INVITE sip:user@example.com SIP/2.0
To: "I have a user name of {"extreme" * 10} proportion"<sip:user@example.com:6000;unknownparam1=very{LONG}value;{LONG}ParameterNameWithNoValue>
F: sip:amazinglylongcallername@example.net;tag={"1298" * 30}424;unknownValuelessparamname
Call-ID: longreq.one{"really" * 20}longcallid
CSeq: 3882340 INVITE
Unknown-{"Long" * 20}-Name: unknown-{LONG}-value; unknown-{LONG}-parameter-name = unknown-{LONG}-parameter-value
"""
    + "".join(
        f"{spelling}: SIP/2.0/TCP sip{n}.example.com\n"
        for n, spelling in zip(
            range(33, 0, -1),
            [
                "Via",
                "v",
                "V",
                "Via",
                "ViA",
                "VIa",
                "VIA",
                "via",
                "viA",
                "vIa",
                "vIA",
                "V ",
                "v ",
                "V  ",
                "v  ",
                "Via ",
                "Via  ",
            ]
            + ["Via"] * 16,
            strict=True,
        )
    )
    + f"""Via: SIP/2.0/TCP host.example.com;received=192.0.2.5;branch=very{LONG}branchvalue
Max-Forwards: 70
Contact: <sip:amazinglylongcallername@host5.example.net>
Content-Type: application/sdp
l: 150

"""
    + SDP_150
)

# RFC 4475 §3.1.1.10 "Multiple Requests in a Single Datagram" (dblreq)
DBLREQ = (
    """REGISTER sip:example.com SIP/2.0
To: sip:j.user@example.com
From: sip:j.user@example.com;tag=43251j3j324
Max-Forwards: 8
I: dblreq.0ha0isndaksdj99sdfafnl3lk233412
Contact: sip:j.user@host.example.com
CSeq: 8 REGISTER
Via: SIP/2.0/UDP 192.0.2.125;branch=z9hG4bKkdjuw23492
Content-Length: 0


INVITE sip:joe@example.com SIP/2.0
t: sip:joe@example.com
From: sip:caller@example.net;tag=141334
Max-Forwards: 8
Call-ID: dblreq.0ha0isnda977644900765@192.0.2.15
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw380234
Content-Type: application/sdp
Content-Length: 150

"""
    + SDP_150
)

# RFC 4475 §3.1.2.1 "Extraneous Header Field Separators" (badinv01)
BADINV01 = (
    """INVITE sip:user@example.com SIP/2.0
To: sip:j.user@example.com
From: sip:caller@example.net;tag=134161461246
Max-Forwards: 7
Call-ID: badinv01.0ha0isndaksdjasdf3234nas
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.15;;,;,,
Contact: "Joe" <sip:joe@example.org>;;;;
Content-Length: 150
Content-Type: application/sdp

"""
    + SDP_150
)

# RFC 4475 §3.1.2.2 "Content Length Larger Than Message" (clerr)
CLERR = (
    """INVITE sip:user@example.com SIP/2.0
Max-Forwards: 80
To: sip:j.user@example.com
From: sip:caller@example.net;tag=93942939o2
Contact: <sip:caller@hungry.example.net>
Call-ID: clerr.0ha0isndaksdjweiafasdk3
CSeq: 8 INVITE
Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bK-39234-23523
Content-Type: application/sdp
Content-Length: 9999

"""
    + SDP_150
)

# RFC 4475 §3.1.2.3 "Negative Content-Length" (ncl)
NCL = CLERR.replace("Content-Length: 9999", "Content-Length: -999").replace("clerr.", "ncl.")

# RFC 4475 §3.1.2.4 "Request Scalar Fields with Overlarge Values" (scalar02)
SCALAR02 = f"""REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bK342sdfoi3
To: <sip:user@example.com>
From: <sip:user@example.com>;tag=239232jh3
CSeq: 36893488147419103232 REGISTER
Call-ID: scalar02.23o0pd9vanlq3wnrlnewofjas9ui32
Max-Forwards: 300
Expires: 1{"0" * 150}
Contact: <sip:user@host129.example.com>;expires=280297596632815
Content-Length: 0

"""

# RFC 4475 §3.1.2.5 "Response Scalar Fields with Overlarge Values" (scalarlg)
SCALARLG = """SIP/2.0 503 Service Unavailable
Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bKzzxdiwo34sw;received=192.0.2.129
To: <sip:user@example.com>
From: <sip:other@example.net>;tag=2easdjfejw
CSeq: 9292394834772304023312 OPTIONS
Call-ID: scalarlg.noase0of0234hn2qofoaf0232aewf2394r
Retry-After: 949302838503028349304023988
Warning: 1812 overture "In Progress"
Content-Length: 0

"""

# RFC 4475 §3.1.2.11-ish: Request-URI in angle brackets / LWS in the request line
LTGTRURI = """INVITE <sip:user@example.com> SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=39291
Max-Forwards: 23
Call-ID: ltgtruri.1@192.0.2.5
CSeq: 1 INVITE
Via: SIP/2.0/UDP 192.0.2.5
Content-Length: 0

"""
LWSSTART = LTGTRURI.replace(
    "INVITE <sip:user@example.com> SIP/2.0", "INVITE  sip:user@example.com  SIP/2.0"
)

# RFC 3903 §10: PUBLISH flows (M5 initial, M6 200 OK, M9 refresh, M11 modify,
# M13 remove) between pua.example.com and the compositor
PIDF = """<?xml version="1.0" encoding="UTF-8"?>
<presence xmlns="urn:ietf:params:xml:ns:pidf"
          entity="pres:presentity@example.com">
  <tuple id="mobile-im">
    <status>
      <basic>open</basic>
    </status>
    <contact priority="0.8">tel:+09012345678</contact>
  </tuple>
</presence>
"""

PUBLISH_INITIAL = (
    f"""PUBLISH sip:presentity@example.com SIP/2.0
Via: SIP/2.0/UDP pua.example.com;branch=z9hG4bK652hsge
To: <sip:presentity@example.com>
From: <sip:presentity@example.com>;tag=1234wxyz
Call-ID: 81818181@pua.example.com
CSeq: 1 PUBLISH
Max-Forwards: 70
Expires: 3600
Event: presence
Content-Type: application/pidf+xml
Content-Length: {len(PIDF.replace(chr(10), chr(13) + chr(10)))}

"""
    + PIDF
)

PUBLISH_200 = """SIP/2.0 200 OK
Via: SIP/2.0/UDP pua.example.com;branch=z9hG4bK652hsge
To: <sip:presentity@example.com>;tag=1a2b3c4d
From: <sip:presentity@example.com>;tag=1234wxyz
Call-ID: 81818181@pua.example.com
CSeq: 1 PUBLISH
SIP-ETag: dx200xyz
Expires: 1800
Content-Length: 0

"""

PUBLISH_REFRESH = """PUBLISH sip:presentity@example.com SIP/2.0
Via: SIP/2.0/UDP pua.example.com;branch=z9hG4bK771ash02
To: <sip:presentity@example.com>
From: <sip:presentity@example.com>;tag=1234kljk
Call-ID: 98798798@pua.example.com
CSeq: 1 PUBLISH
Max-Forwards: 70
SIP-If-Match: dx200xyz
Expires: 3600
Event: presence
Content-Length: 0

"""

PUBLISH_412 = """SIP/2.0 412 Conditional Request Failed
Via: SIP/2.0/UDP pua.example.com;branch=z9hG4bKa3bbd9f
To: <sip:presentity@example.com>;tag=1a2b3c4d
From: <sip:presentity@example.com>;tag=9876zyxw
Call-ID: 55555555@pua.example.com
CSeq: 1 PUBLISH
Content-Length: 0

"""

PUBLISH_REMOVE = """PUBLISH sip:presentity@example.com SIP/2.0
Via: SIP/2.0/UDP pua.example.com;branch=z9hG4bKfs1bc5
To: <sip:presentity@example.com>
From: <sip:presentity@example.com>;tag=4321lkjh
Call-ID: 77777777@pua.example.com
CSeq: 1 PUBLISH
Max-Forwards: 70
SIP-If-Match: kwj449x
Expires: 0
Event: presence
Content-Length: 0

"""

# RFC 3903 §10 M1-M4 / RFC 3856: a watcher's SUBSCRIBE and the first NOTIFY
SUBSCRIBE = """SUBSCRIBE sip:presentity@example.com SIP/2.0
Via: SIP/2.0/UDP host.example.com;branch=z9hG4bKnashds7
To: <sip:presentity@example.com>
From: <sip:watcher@example.com>;tag=12341234
Call-ID: 12341234@host.example.com
CSeq: 1 SUBSCRIBE
Max-Forwards: 70
Expires: 3600
Event: presence
Accept: application/pidf+xml
Contact: <sip:user@host.example.com>
Content-Length: 0

"""

SUBSCRIBE_200 = """SIP/2.0 200 OK
Via: SIP/2.0/UDP host.example.com;branch=z9hG4bKnashds7;received=192.0.2.1
To: <sip:presentity@example.com>;tag=abcd1234
From: <sip:watcher@example.com>;tag=12341234
Call-ID: 12341234@host.example.com
CSeq: 1 SUBSCRIBE
Contact: <sip:pa.example.com>
Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>
Record-Route: "Proxy 3, the last" <sip:p3.example.com;lr>
Expires: 3600
Content-Length: 0

"""

NOTIFY = """NOTIFY sip:user@host.example.com SIP/2.0
Via: SIP/2.0/UDP pa.example.com;branch=z9hG4bK8sdf2
To: <sip:watcher@example.com>;tag=12341234
From: <sip:presentity@example.com>;tag=abcd1234
Call-ID: 12341234@host.example.com
CSeq: 1 NOTIFY
Max-Forwards: 70
Event: presence
Subscription-State: active; expires=3599
Content-Type: application/pidf+xml; charset="UTF-8"
Contact: <sip:pa.example.com>
Content-Length: 0

"""

WINFO_NOTIFY_TERMINATED = """NOTIFY sip:user@host.example.com SIP/2.0
Via: SIP/2.0/UDP pa.example.com;branch=z9hG4bK8sdf3
To: <sip:watcher@example.com>;tag=12341234
From: <sip:presentity@example.com>;tag=abcd1234
Call-ID: 12341234@host.example.com
CSeq: 2 NOTIFY
o: presence.winfo;id=77
Subscription-State: terminated;reason=timeout;retry-after=120
u: presence, presence.winfo,dialog
Allow-Events: message-summary
Content-Length: 0

"""
