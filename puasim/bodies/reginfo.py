"""Registration information documents (RFC 3680 §5) and pua's version rewrite.

Everything of the RFC 3680 schema is kept except ``xml:lang`` on
``display-name`` and extension elements.  One deliberate leniency: a contact's
``expires`` may be negative, because Kamailio's pua_reginfo writes
``contact.expires - now`` for permanent contacts (pua-reference §9.5.1)
although the schema says ``unsignedLong``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from lxml import etree

from .errors import BodyError
from .limits import MAX_UINT32, MAX_UINT64, read_integer
from .versioning import read_root_version, rewrite_root_version
from .xml import parse_document, serialise_formatted, sub_element

__all__ = [
    "REGINFO_NS",
    "RegContact",
    "Registration",
    "Reginfo",
    "build_reginfo",
    "parse_reginfo",
    "read_version",
    "rewrite_version",
]

#: RFC 3680 §5.1 namespace
REGINFO_NS = "urn:ietf:params:xml:ns:reginfo"
WHAT = "reginfo"

DocumentState = Literal["full", "partial"]
RegistrationState = Literal["init", "active", "terminated"]
ContactState = Literal["active", "terminated"]
#: RFC 3680 §5.1 schema enumerations
REGISTRATION_STATES = ("init", "active", "terminated")
CONTACT_STATES = ("active", "terminated")
CONTACT_EVENTS = (
    "registered",
    "created",
    "refreshed",
    "shortened",
    "expired",
    "deactivated",
    "probation",
    "unregistered",
    "rejected",
)
_DOC_STATES = ("full", "partial")


def _is_count(value: object, *, signed: bool = False) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and (signed or value >= 0)


def _check_uri(value: str, name: str) -> None:
    if not isinstance(value, str) or value != value.strip():
        raise ValueError(f"{name} must be a URI without surrounding whitespace: {value!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class RegContact:
    """One ``<contact>`` of a registration (RFC 3680 §5.1), all fields by keyword.

    ``unknown_params`` are the ``<unknown-param name=…>value</…>`` children,
    in order; an empty value (``""``) is an element without text.
    """

    id: str
    state: ContactState
    event: str
    uri: str
    expires: int | None = None
    duration_registered: int | None = None
    retry_after: int | None = None
    q: str | None = None
    callid: str | None = None
    cseq: int | None = None
    display_name: str | None = None
    unknown_params: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.id, str):
            raise TypeError("contact id must be a string")
        if self.state not in CONTACT_STATES:
            raise ValueError(f"contact state must be active or terminated, not {self.state!r}")
        if self.event not in CONTACT_EVENTS:
            raise ValueError(f"contact event must be one of {CONTACT_EVENTS}, not {self.event!r}")
        _check_uri(self.uri, "contact uri")
        if self.expires is not None and not _is_count(self.expires, signed=True):
            raise ValueError(f"expires must be an int, not {self.expires!r}")
        for name in ("duration_registered", "retry_after", "cseq"):
            value = getattr(self, name)
            if value is not None and not _is_count(value):
                raise ValueError(f"{name} must be a non-negative int, not {value!r}")
        params = tuple(tuple(pair) for pair in self.unknown_params)
        for pair in params:
            if len(pair) != 2 or not all(isinstance(item, str) for item in pair):
                raise ValueError(f"unknown_params entries are (name, value) pairs: {pair!r}")
        object.__setattr__(self, "unknown_params", params)


@dataclass(frozen=True, slots=True)
class Registration:
    """One ``<registration>`` (RFC 3680 §5.1): an address-of-record."""

    aor: str
    id: str
    state: RegistrationState
    contacts: tuple[RegContact, ...] = ()

    def __post_init__(self) -> None:
        _check_uri(self.aor, "aor")
        if not isinstance(self.id, str):
            raise TypeError("registration id must be a string")
        if self.state not in REGISTRATION_STATES:
            raise ValueError(
                f"registration state must be one of {REGISTRATION_STATES}, not {self.state!r}"
            )
        object.__setattr__(self, "contacts", tuple(self.contacts))
        for item in self.contacts:
            if not isinstance(item, RegContact):
                raise TypeError(f"contacts must hold RegContact values, not {type(item).__name__}")


@dataclass(frozen=True, slots=True)
class Reginfo:
    """A ``<reginfo>`` document (RFC 3680 §5.1)."""

    version: int
    state: DocumentState
    registrations: tuple[Registration, ...] = ()

    def __post_init__(self) -> None:
        if not _is_count(self.version):
            raise ValueError(f"version must be a non-negative int, not {self.version!r}")
        if self.state not in _DOC_STATES:
            raise ValueError(f"state must be 'full' or 'partial', not {self.state!r}")
        object.__setattr__(self, "registrations", tuple(self.registrations))
        for item in self.registrations:
            if not isinstance(item, Registration):
                raise TypeError(
                    f"registrations must hold Registration values, not {type(item).__name__}"
                )


# ---------------------------------------------------------------- building


def _q(name: str) -> str:
    return f"{{{REGINFO_NS}}}{name}"


def _build_contact(parent: etree._Element, contact: RegContact) -> None:
    node = etree.SubElement(parent, _q("contact"))
    node.set("id", contact.id)
    node.set("state", contact.state)
    node.set("event", contact.event)
    for attr, value in (
        ("expires", contact.expires),
        ("duration-registered", contact.duration_registered),
        ("retry-after", contact.retry_after),
        ("q", contact.q),
        ("callid", contact.callid),
        ("cseq", contact.cseq),
    ):
        if value is not None:
            node.set(attr, str(value))
    sub_element(node, _q("uri"), contact.uri)
    if contact.display_name is not None:
        sub_element(node, _q("display-name"), contact.display_name)
    for name, value in contact.unknown_params:
        sub_element(node, _q("unknown-param"), value).set("name", name)


def build_reginfo(info: Reginfo) -> bytes:
    """Build the document, formatted as Kamailio's builders do (root
    attributes ``version``, ``state`` as pua_reginfo writes them)."""
    try:
        root = etree.Element(_q("reginfo"), nsmap={None: REGINFO_NS})
        root.set("version", str(info.version))
        root.set("state", info.state)
        for registration in info.registrations:
            node = etree.SubElement(root, _q("registration"))
            node.set("aor", registration.aor)
            node.set("id", registration.id)
            node.set("state", registration.state)
            for contact in registration.contacts:
                _build_contact(node, contact)
    except ValueError as exc:
        raise BodyError(WHAT, f"cannot build: {exc}") from None
    return serialise_formatted(root)


# ---------------------------------------------------------------- reading


def _text(node: etree._Element | None) -> str | None:
    return None if node is None else "".join(node.itertext())


def _integer(
    text: str | None, name: str, node: etree._Element, *, signed: bool = False
) -> int | None:
    if text is None:
        return None
    limit = MAX_UINT32 if name == "version" else MAX_UINT64
    return read_integer(
        text, what=WHAT, name=name, line=node.sourceline, signed=signed, maximum=limit
    )


def _required(node: etree._Element, attr: str) -> str:
    value = node.get(attr)
    if value is None:
        name = etree.QName(node).localname
        raise BodyError(WHAT, f"<{name}> has no {attr} attribute", line=node.sourceline)
    return value


def _read_contact(node: etree._Element) -> RegContact:
    uri = node.find(_q("uri"))
    if uri is None:
        raise BodyError(WHAT, "<contact> has no <uri>", line=node.sourceline)
    params = tuple(
        (_required(param, "name"), _text(param) or "")
        for param in node.iterchildren(_q("unknown-param"))
    )
    try:
        return RegContact(
            id=_required(node, "id"),
            state=_required(node, "state").strip(),  # type: ignore[arg-type]  # checked
            event=_required(node, "event").strip(),
            uri=(_text(uri) or "").strip(),
            expires=_integer(node.get("expires"), "expires", node, signed=True),
            duration_registered=_integer(
                node.get("duration-registered"), "duration-registered", node
            ),
            retry_after=_integer(node.get("retry-after"), "retry-after", node),
            q=node.get("q"),
            callid=node.get("callid"),
            cseq=_integer(node.get("cseq"), "cseq", node),
            display_name=_text(node.find(_q("display-name"))),
            unknown_params=params,
        )
    except ValueError as exc:
        if isinstance(exc, BodyError):
            raise
        raise BodyError(WHAT, f"bad <contact>: {exc}", line=node.sourceline) from None


def _read_registration(node: etree._Element) -> Registration:
    contacts = tuple(_read_contact(item) for item in node.iterchildren(_q("contact")))
    try:
        return Registration(
            aor=_required(node, "aor").strip(),
            id=_required(node, "id"),
            state=_required(node, "state").strip(),  # type: ignore[arg-type]  # checked
            contacts=contacts,
        )
    except ValueError as exc:
        if isinstance(exc, BodyError):
            raise
        raise BodyError(WHAT, f"bad <registration>: {exc}", line=node.sourceline) from None


def parse_reginfo(data: bytes) -> Reginfo:
    """Read a reginfo document.

    :raises BodyError: not XML, root not ``{urn:ietf:params:xml:ns:reginfo}reginfo``,
        missing required attributes or values outside the schema's enumerations.
    """
    root = parse_document(data, what=WHAT).root
    if root.tag != _q("reginfo"):
        raise BodyError(WHAT, f"root element is {root.tag!r}, not {{{REGINFO_NS}}}reginfo")
    version = _integer(_required(root, "version"), "version", root)
    state = _required(root, "state").strip()
    registrations = tuple(
        _read_registration(node) for node in root.iterchildren(_q("registration"))
    )
    try:
        return Reginfo(
            version=version or 0,
            state=state,  # type: ignore[arg-type]
            registrations=registrations,
        )
    except ValueError as exc:
        raise BodyError(WHAT, str(exc), line=root.sourceline) from None


# ---------------------------------------------------------------- pua processor


def read_version(body: bytes) -> int:
    """The ``version`` of the first ``reginfo`` node (found as pua finds it)."""
    return read_root_version(body, element="reginfo", what=WHAT)


def rewrite_version(body: bytes, version: int) -> bytes:
    """pua's reginfo processor (pua-reference §3.4.2): set ``version`` on the
    first node named ``reginfo`` (case-insensitive, anywhere) and re-serialise
    formatted.  No such element → :class:`BodyError`."""
    return rewrite_root_version(body, version, element="reginfo", what=WHAT)
