"""Building REGISTERs and recording usrloc callbacks for the node-module tests."""

from __future__ import annotations

from puasim.effects import SECOND
from puasim.node.usrloc import Contact, UlEvent, Usrloc, UsrlocConfig
from puasim.sip.message import Request

EPOCH = 1_700_000_000


def register(
    contacts: list[str] | str | None,
    *,
    expires: int | None = 60,
    call_id: str = "a-1@127.0.0.1",
    cseq: int = 1,
    user: str = "alice",
    branch: str = "z9hG4bK-1",
) -> Request:
    """A REGISTER as SIPp's reg.xml sends it; ``contacts`` a list gives one header per item."""
    headers: list[tuple[str, str]] = [
        ("Via", f"SIP/2.0/UDP 127.0.0.1:5098;branch={branch}"),
        ("Max-Forwards", "70"),
        ("From", f"<sip:{user}@127.0.0.1>;tag=1"),
        ("To", f"<sip:{user}@127.0.0.1>"),
        ("Call-ID", call_id),
        ("CSeq", f"{cseq} REGISTER"),
    ]
    if isinstance(contacts, str):
        headers.append(("Contact", contacts))
    elif contacts:
        headers.extend(("Contact", c) for c in contacts)
    if expires is not None:
        headers.append(("Expires", str(expires)))
    headers.append(("Content-Length", "0"))
    return Request("REGISTER", "sip:127.0.0.1", tuple(headers))


class Recorder:
    """Registers one callback for every type and remembers (event, uri, in-record) in order."""

    def __init__(self, ul: Usrloc) -> None:
        self.ul = ul
        self.seen: list[tuple[str, str, bool]] = []
        ul.register_ulcb(UlEvent.INSERT | UlEvent.UPDATE | UlEvent.DELETE | UlEvent.EXPIRE, self)

    def __call__(self, c: Contact, event: UlEvent, now_us: int) -> None:
        rec = self.ul.get_urecord(c.domain, c.aor)
        present = rec is not None and c in rec.contacts
        self.seen.append((str(event.name).lower(), c.uri, present))

    def events(self) -> list[tuple[str, str]]:
        return [(e, u) for e, u, _ in self.seen]


def make_usrloc(**params: int) -> tuple[Usrloc, Recorder]:
    ul = Usrloc(UsrlocConfig(**params), epoch=EPOCH)
    ul.register_domain("location")
    return ul, Recorder(ul)


def at(seconds: float) -> int:
    return int(seconds * SECOND)
