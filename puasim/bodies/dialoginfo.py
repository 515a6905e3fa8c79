"""Dialog information documents (RFC 4235 §4) and pua's version rewrite.

The model keeps what the dialog event package is used for in presence
deployments (BLF, pua_dialoginfo, pua_bla): the document's entity, version and
state, and per dialog its identifiers, direction, state with event and code,
duration, and the identity, display name and target URI of both
participants.  ``replaces``, ``referred-by``, ``route-set``, target
parameters, session descriptions and extensions are skipped when reading.

:func:`build_dialog_info` writes the RFC 4235 schema order (``local`` before
``remote``); Kamailio's pua_dialoginfo writes ``remote`` first
(pua-reference §9.4.3), which a companion model must build itself if it wants
Kamailio's bytes.
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
    "DIALOG_INFO_NS",
    "Dialog",
    "DialogInfo",
    "build_dialog_info",
    "parse_dialog_info",
    "read_version",
    "rewrite_version",
]

#: RFC 4235 §4 namespace
DIALOG_INFO_NS = "urn:ietf:params:xml:ns:dialog-info"
WHAT = "dialog-info"

DocumentState = Literal["full", "partial"]
DialogState = Literal["trying", "proceeding", "early", "confirmed", "terminated"]
Direction = Literal["initiator", "recipient"]
#: RFC 4235 §4.1.2 and its schema
DIALOG_STATES = ("trying", "proceeding", "early", "confirmed", "terminated")
DIALOG_EVENTS = (
    "cancelled",
    "rejected",
    "replaced",
    "local-bye",
    "remote-bye",
    "error",
    "timeout",
)
_DIRECTIONS = ("initiator", "recipient")
_DOC_STATES = ("full", "partial")


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Dialog:
    """One ``<dialog>`` (RFC 4235 §4.1.1 - §4.1.6), all fields by keyword.

    ``event`` and ``code`` are the attributes of ``<state>`` (§4.1.2);
    ``local_*``/``remote_*`` the ``<identity>`` text and ``display``
    attribute and the ``<target uri>`` of the participants (§4.1.6).
    """

    id: str
    state: DialogState
    call_id: str | None = None
    local_tag: str | None = None
    remote_tag: str | None = None
    direction: Direction | None = None
    event: str | None = None
    code: int | None = None
    duration: int | None = None
    local_identity: str | None = None
    local_display: str | None = None
    local_target: str | None = None
    remote_identity: str | None = None
    remote_display: str | None = None
    remote_target: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.id, str):
            raise TypeError("dialog id must be a string")
        if self.state not in DIALOG_STATES:
            raise ValueError(f"dialog state must be one of {DIALOG_STATES}, not {self.state!r}")
        if self.direction is not None and self.direction not in _DIRECTIONS:
            raise ValueError(f"direction must be initiator or recipient, not {self.direction!r}")
        if self.event is not None and self.event not in DIALOG_EVENTS:
            raise ValueError(f"state event must be one of {DIALOG_EVENTS}, not {self.event!r}")
        if self.code is not None and not (_is_count(self.code) and 100 <= self.code <= 699):
            raise ValueError(f"state code must be a SIP status code, not {self.code!r}")
        if self.duration is not None and not _is_count(self.duration):
            raise ValueError(f"duration must be a non-negative int, not {self.duration!r}")
        if self.local_display is not None and self.local_identity is None:
            raise ValueError("local_display needs local_identity (it is its attribute)")
        if self.remote_display is not None and self.remote_identity is None:
            raise ValueError("remote_display needs remote_identity (it is its attribute)")
        for name in ("local_identity", "local_target", "remote_identity", "remote_target"):
            value = getattr(self, name)
            if value is not None and value != value.strip():
                raise ValueError(f"{name} must not have surrounding whitespace: {value!r}")


@dataclass(frozen=True, slots=True)
class DialogInfo:
    """A ``<dialog-info>`` document (RFC 4235 §4.1)."""

    entity: str
    version: int
    state: DocumentState
    dialogs: tuple[Dialog, ...] = ()

    def __post_init__(self) -> None:
        if not _is_count(self.version):
            raise ValueError(f"version must be a non-negative int, not {self.version!r}")
        if self.state not in _DOC_STATES:
            raise ValueError(f"state must be 'full' or 'partial', not {self.state!r}")
        if not isinstance(self.entity, str) or self.entity != self.entity.strip():
            raise ValueError(
                f"entity must be a URI without surrounding whitespace: {self.entity!r}"
            )
        object.__setattr__(self, "dialogs", tuple(self.dialogs))
        for item in self.dialogs:
            if not isinstance(item, Dialog):
                raise TypeError(f"dialogs must hold Dialog values, not {type(item).__name__}")


# ---------------------------------------------------------------- building


def _q(name: str) -> str:
    return f"{{{DIALOG_INFO_NS}}}{name}"


def _participant(
    parent: etree._Element, name: str, identity: str | None, display: str | None, target: str | None
) -> None:
    if identity is None and target is None:
        return
    node = etree.SubElement(parent, _q(name))
    if identity is not None:
        ident = sub_element(node, _q("identity"), identity)
        if display is not None:
            ident.set("display", display)
    if target is not None:
        etree.SubElement(node, _q("target")).set("uri", target)


def build_dialog_info(info: DialogInfo) -> bytes:
    """Build the document, formatted as Kamailio's builders do.

    Attribute order of the root as pua_dialoginfo writes it: ``version``,
    ``state``, ``entity`` (pua-reference §9.4.3); dialog attributes ``id``,
    ``call-id``, ``local-tag``, ``remote-tag``, ``direction``; children in
    schema order: ``state``, ``duration``, ``local``, ``remote``.
    """
    try:
        root = etree.Element(_q("dialog-info"), nsmap={None: DIALOG_INFO_NS})
        root.set("version", str(info.version))
        root.set("state", info.state)
        root.set("entity", info.entity)
        for dialog in info.dialogs:
            node = etree.SubElement(root, _q("dialog"))
            node.set("id", dialog.id)
            for attr, value in (
                ("call-id", dialog.call_id),
                ("local-tag", dialog.local_tag),
                ("remote-tag", dialog.remote_tag),
                ("direction", dialog.direction),
            ):
                if value is not None:
                    node.set(attr, value)
            state = sub_element(node, _q("state"), dialog.state)
            if dialog.event is not None:
                state.set("event", dialog.event)
            if dialog.code is not None:
                state.set("code", str(dialog.code))
            if dialog.duration is not None:
                sub_element(node, _q("duration"), str(dialog.duration))
            _participant(
                node, "local", dialog.local_identity, dialog.local_display, dialog.local_target
            )
            _participant(
                node, "remote", dialog.remote_identity, dialog.remote_display, dialog.remote_target
            )
    except ValueError as exc:
        raise BodyError(WHAT, f"cannot build: {exc}") from None
    return serialise_formatted(root)


# ---------------------------------------------------------------- reading


def _text(node: etree._Element | None) -> str | None:
    return None if node is None else "".join(node.itertext())


def _integer(text: str | None, what: str, node: etree._Element) -> int | None:
    if text is None:
        return None
    limit = MAX_UINT32 if what == "version" else MAX_UINT64
    return read_integer(text, what=WHAT, name=what, line=node.sourceline, maximum=limit)


def _read_participant(dialog: etree._Element, name: str) -> tuple[str | None, ...]:
    node = dialog.find(_q(name))
    if node is None:
        return None, None, None
    ident = node.find(_q("identity"))
    target = node.find(_q("target"))
    identity = _text(ident)
    return (
        None if identity is None else identity.strip(),
        None if ident is None else ident.get("display"),
        None if target is None or target.get("uri") is None else target.get("uri", "").strip(),
    )


def _read_dialog(node: etree._Element) -> Dialog:
    dialog_id = node.get("id")
    if dialog_id is None:
        raise BodyError(WHAT, "<dialog> has no id attribute", line=node.sourceline)
    state = node.find(_q("state"))
    if state is None:
        raise BodyError(WHAT, "<dialog> has no <state>", line=node.sourceline)
    local = _read_participant(node, "local")
    remote = _read_participant(node, "remote")
    try:
        return Dialog(
            id=dialog_id,
            state=(_text(state) or "").strip(),  # type: ignore[arg-type]  # checked
            call_id=node.get("call-id"),
            local_tag=node.get("local-tag"),
            remote_tag=node.get("remote-tag"),
            direction=node.get("direction"),  # type: ignore[arg-type]
            event=state.get("event"),
            code=_integer(state.get("code"), "state code", state),
            duration=_integer(_text(node.find(_q("duration"))), "duration", node),
            local_identity=local[0],
            local_display=local[1],
            local_target=local[2],
            remote_identity=remote[0],
            remote_display=remote[1],
            remote_target=remote[2],
        )
    except ValueError as exc:
        if isinstance(exc, BodyError):
            raise
        raise BodyError(WHAT, f"bad <dialog>: {exc}", line=node.sourceline) from None


def parse_dialog_info(data: bytes) -> DialogInfo:
    """Read a dialog-info document.

    :raises BodyError: not XML, root not ``{urn:ietf:params:xml:ns:dialog-info}
        dialog-info``, missing/invalid ``version``/``state``/``entity``, or a
        dialog that breaks the RFC 4235 schema's enumerations.
    """
    root = parse_document(data, what=WHAT).root
    if root.tag != _q("dialog-info"):
        raise BodyError(WHAT, f"root element is {root.tag!r}, not {{{DIALOG_INFO_NS}}}dialog-info")
    for attr in ("version", "state", "entity"):
        if root.get(attr) is None:
            raise BodyError(WHAT, f"<dialog-info> has no {attr} attribute", line=root.sourceline)
    version = _integer(root.get("version"), "version", root)
    dialogs = tuple(_read_dialog(node) for node in root.iterchildren(_q("dialog")))
    try:
        return DialogInfo(
            entity=root.get("entity", "").strip(),
            version=version or 0,
            state=root.get("state", "").strip(),  # type: ignore[arg-type]
            dialogs=dialogs,
        )
    except ValueError as exc:
        raise BodyError(WHAT, str(exc), line=root.sourceline) from None


# ---------------------------------------------------------------- pua processor


def read_version(body: bytes) -> int:
    """The ``version`` of the first ``dialog-info`` node (found as pua finds it)."""
    return read_root_version(body, element="dialog-info", what=WHAT)


def rewrite_version(body: bytes, version: int) -> bytes:
    """pua's dialog-info processor (pua-reference §3.4.2): set ``version``
    on the first node named ``dialog-info`` (case-insensitive, anywhere) and
    re-serialise formatted.  No such element → :class:`BodyError`."""
    return rewrite_root_version(body, version, element="dialog-info", what=WHAT)
