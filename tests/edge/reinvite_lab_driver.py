"""The driver that made the ``x1_`` and ``x2_`` captures (kept to redo them).

Run it against the companions lab's edge proxy on 127.0.0.1:5080 (its
``start.sh all``) while tshark captures ``udp port 5060 or udp port 5080`` on
lo.  Two raw-UDP phones, alice on 5090 and bob on 5092, register; then

* ``reinvite`` (``x1_dialoginfo_reinvite_491_update_bye.pcap``, default
  knobs): alice calls bob, bob answers at once; bob re-INVITEs (alice: 200,
  bob ACKs end to end), re-INVITEs again (alice: 491, bob ACKs hop by hop
  with the re-INVITE's branch and Route, RFC 3261 §17.1.1.3); alice sends
  UPDATE, then BYE;
* ``avps`` (``x2_dialoginfo_pubruri_avps.pcap``, ``proxy.cfg`` changed as
  :data:`AVP_CONFIG` says): alice calls bob, bob rings with 180 and answers
  with 200, alice ACKs and hangs up.

One second between the steps.  Not a test: ``test_lab_reinvite`` replays the
captures.
"""

from __future__ import annotations

import random
import re
import socket
import time

PROXY = ("127.0.0.1", 5080)
#: what the ``avps`` capture changed in the lab's proxy.cfg: three modparams after the other
#: pua_dialoginfo ones, and AVP assignments around dlg_manage() in route[INVITE]
AVP_CONFIG = """
modparam("pua_dialoginfo", "use_pubruri_avps", 1)
modparam("pua_dialoginfo", "pubruri_caller_avp", "$avp(caller_pub)")
modparam("pua_dialoginfo", "pubruri_callee_avp", "$avp(s:callee_pub)")

route[INVITE] {
    record_route();
    ...
    $avp(caller_pub) = $fu;
    $avp(caller_pub) = "garbage";
    $avp(caller_pub) = "sip:alice-desk@127.0.0.1";
    $avp(callee_pub) = "sip:bob-blf@127.0.0.1";
    $avp(callee_pub) = "sip:bob@10.9.9.9";
    dlg_manage();
    $avp(callee_pub) = "sip:too-late@127.0.0.1";
    ...
}
"""


def branch() -> str:
    return f"z9hG4bK{random.getrandbits(64):016x}"


def header(text: str, name: str) -> list[str]:
    return [m.strip() for m in re.findall(rf"^{name}:\s*(.*)$", text, re.M | re.I)]


class Phone:
    def __init__(self, name: str, port: int) -> None:
        self.name = name
        self.port = port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", port))
        self.sock.settimeout(3)

    def send(self, text: str, dest: tuple[str, int] = PROXY) -> None:
        self.sock.sendto(text.replace("\n", "\r\n").encode(), dest)

    def wait(self, first_line: str) -> tuple[str, tuple[str, int]]:
        deadline = time.time() + 4
        while time.time() < deadline:
            data, src = self.sock.recvfrom(65535)
            text = data.decode()
            line = text.split("\r\n", 1)[0]
            print(f"  {self.name} <- {line}", flush=True)
            if re.search(first_line, line):
                return text, src
        raise SystemExit(f"{self.name}: no {first_line}")

    def reply(self, req: str, status: str, to_tag: str = "", extra: str = "") -> str:
        vias = "".join(f"Via: {v}\n" for v in header(req, "Via"))
        rr = "".join(f"Record-Route: {v}\n" for v in header(req, "Record-Route"))
        to = header(req, "To")[0]
        if to_tag and ";tag=" not in to:
            to += f";tag={to_tag}"
        return (f"SIP/2.0 {status}\n{vias}{rr}From: {header(req, 'From')[0]}\nTo: {to}\n"
                f"Call-ID: {header(req, 'Call-ID')[0]}\nCSeq: {header(req, 'CSeq')[0]}\n{extra}Content-Length: 0\n\n")

    def request(self, method: str, uri: str, route: str, frm: str, to: str, call_id: str, cseq: str,
                extra: str = "", via_branch: str = "") -> str:
        return (f"{method} {uri} SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:{self.port};branch={via_branch or branch()}\n"
                f"{route}Max-Forwards: 70\nFrom: {frm}\nTo: {to}\nCall-ID: {call_id}\nCSeq: {cseq}\n{extra}"
                "Content-Length: 0\n\n")


def main(flow: str = "reinvite") -> None:
    alice, bob = Phone("alice", 5090), Phone("bob", 5092)
    for phone in (alice, bob):
        aor = f"sip:{phone.name}@127.0.0.1"
        phone.send(phone.request("REGISTER", "sip:127.0.0.1", "", f"<{aor}>;tag=r{phone.port}", f"<{aor}>",
                                 f"reg-{phone.name}-{random.getrandbits(32)}", "1 REGISTER",
                                 f"Contact: <{aor}:{phone.port}>\nExpires: 300\n"))
        phone.wait("200")
    time.sleep(0.5)
    call_id = f"call-{random.getrandbits(40):x}"
    a_side, b_side = "<sip:alice@127.0.0.1>;tag=at1", "<sip:bob@127.0.0.1>;tag=bt1"
    alice.send(alice.request("INVITE", "sip:bob@127.0.0.1", "", a_side, "<sip:bob@127.0.0.1>", call_id, "1 INVITE",
                             "Contact: <sip:alice@127.0.0.1:5090>\n"))
    invite, src = bob.wait("^INVITE")
    record_route = header(invite, "Record-Route")
    if flow == "avps":
        bob.send(bob.reply(invite, "180 Ringing", "bt1", "Contact: <sip:bob@127.0.0.1:5092>\n"), src)
        alice.wait("^SIP/2.0 180")
        time.sleep(1)
    bob.send(bob.reply(invite, "200 OK", "bt1", "Contact: <sip:bob@127.0.0.1:5092>\n"), src)
    ok, _ = alice.wait("^SIP/2.0 200")
    a_route = "".join(f"Route: {r}\n" for r in reversed(header(ok, "Record-Route")))
    b_route = "".join(f"Route: {r}\n" for r in record_route)
    alice.send(alice.request("ACK", "sip:bob@127.0.0.1:5092", a_route, a_side, b_side, call_id, "1 ACK"))
    bob.wait("^ACK")
    time.sleep(1)
    if flow == "avps":
        hang_up(alice, bob, a_route, a_side, b_side, call_id, "2 BYE")
        return
    # re-INVITE answered with 200
    bob.send(bob.request("INVITE", "sip:alice@127.0.0.1:5090", b_route, b_side, a_side, call_id, "1 INVITE",
                         "Contact: <sip:bob@127.0.0.1:5092>\n"))
    reinvite, src = alice.wait("^INVITE")
    alice.send(alice.reply(reinvite, "200 OK", extra="Contact: <sip:alice@127.0.0.1:5090>\n"), src)
    bob.wait("^SIP/2.0 200")
    bob.send(bob.request("ACK", "sip:alice@127.0.0.1:5090", b_route, b_side, a_side, call_id, "1 ACK"))
    alice.wait("^ACK")
    time.sleep(1)
    # re-INVITE answered with 491: bob's ACK is hop by hop (same branch)
    second = branch()
    bob.send(bob.request("INVITE", "sip:alice@127.0.0.1:5090", b_route, b_side, a_side, call_id, "2 INVITE",
                         "Contact: <sip:bob@127.0.0.1:5092>\n", second))
    reinvite, src = alice.wait("^INVITE")
    alice.send(alice.reply(reinvite, "491 Request Pending"), src)
    alice.wait("^ACK")
    bob.wait("^SIP/2.0 491")
    bob.send(bob.request("ACK", "sip:alice@127.0.0.1:5090", b_route, b_side, a_side, call_id, "2 ACK",
                         via_branch=second))
    time.sleep(1)
    alice.send(alice.request("UPDATE", "sip:bob@127.0.0.1:5092", a_route, a_side, b_side, call_id, "2 UPDATE",
                             "Contact: <sip:alice@127.0.0.1:5090>\n"))
    update, src = bob.wait("^UPDATE")
    bob.send(bob.reply(update, "200 OK", extra="Contact: <sip:bob@127.0.0.1:5092>\n"), src)
    alice.wait("^SIP/2.0 200")
    time.sleep(1)
    hang_up(alice, bob, a_route, a_side, b_side, call_id, "3 BYE")


def hang_up(alice: Phone, bob: Phone, route: str, a_side: str, b_side: str, call_id: str, cseq: str) -> None:
    alice.send(alice.request("BYE", "sip:bob@127.0.0.1:5092", route, a_side, b_side, call_id, cseq))
    bye, src = bob.wait("^BYE")
    bob.send(bob.reply(bye, "200 OK"), src)
    alice.wait("^SIP/2.0 200")


if __name__ == "__main__":
    import sys

    main(sys.argv[1] if len(sys.argv) > 1 else "reinvite")
