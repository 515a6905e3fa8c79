"""pua's event registry and body processors (pua-reference §2.1, §2.7, §3.4).

A processor takes ``(body, version, stored_tuple_id, make_id)`` and returns
``(rc, body, tuple_id)`` with Kamailio's contract: ``1`` changed, ``0``
unchanged, ``-1`` error (the PUBLISH is not sent and send_publish returns −1).
``make_id`` supplies the tuple id pua would generate from a pointer value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from puasim.bodies import dialoginfo, pidf, reginfo
from puasim.bodies.errors import BodyError
from puasim.pua.config import PuaConfig
from puasim.pua.constants import Event
from puasim.pua.errors import KamailioCrash

ProcessResult = tuple[int, bytes, str]
Processor = Callable[[bytes, int, str, Callable[[], str]], ProcessResult]


def pidf_processor(body: bytes, version: int, tuple_id: str, make_id: Callable[[], str]) -> ProcessResult:
    """§3.4.1: give the first tuple (and person) an id; remember it."""
    try:
        new_body, used = pidf.process_pidf_tuple_id(body, tuple_id or None, make_id())
    except BodyError:
        return -1, body, tuple_id
    return 1, new_body, used


def _version_processor(root: str) -> Processor:
    rewrite = dialoginfo.rewrite_version if root == "dialog-info" else reginfo.rewrite_version

    def process(body: bytes, version: int, tuple_id: str, make_id: Callable[[], str]) -> ProcessResult:
        """§3.4.2: set the root's ``version`` attribute to the record version."""
        try:
            return 1, rewrite(body, version), tuple_id
        except BodyError:
            return -1, body, tuple_id

    process.__name__ = f"{root.replace('-', '_')}_version_processor"
    return process


def pass_through(body: bytes, version: int, tuple_id: str, make_id: Callable[[], str]) -> ProcessResult:
    """§3.4.3: the body is sent byte-identical."""
    return 0, body, tuple_id


dialog_info_version = _version_processor("dialog-info")
reginfo_version = _version_processor("reginfo")


@dataclass(frozen=True, slots=True)
class EventType:
    flag: int
    name: str
    content_type: str
    #: ``None`` reproduces Kamailio's NULL processor: a body crashes the process (§3.4.4, B14)
    processor: Processor | None


class NullProcessorCrash(KamailioCrash):
    """Kamailio dereferences a NULL body processor here and the process dies (B14)."""


class EventRegistry:
    """``add_event`` / ``get_event`` (§2.7): newest first, names unique."""

    def __init__(self) -> None:
        self._events: list[EventType] = []

    def add_event(self, flag: int, name: str, content_type: str, processor: Processor | None) -> int:
        if any(e.name == name for e in self._events):
            return 0
        self._events.insert(0, EventType(flag, name, content_type, processor))
        return 0

    def get(self, flag: int) -> EventType | None:
        for ev in self._events:
            if ev.flag == flag:
                return ev
        return None

    def __iter__(self):
        return iter(self._events)


def builtin_registry(cfg: PuaConfig) -> EventRegistry:
    """The events mod_init registers, in its order (§2.7, §11.1)."""
    reg = EventRegistry()
    dlg = dialog_info_version if cfg.dlginfo_increase_version else pass_through
    reg_flag = cfg.dlginfo_increase_version if cfg.reg_uses_dlginfo_flag else cfg.reginfo_increase_version
    reg_proc = reginfo_version if reg_flag else pass_through
    reg.add_event(Event.PRESENCE, "presence", "application/pidf+xml", pidf_processor)
    reg.add_event(Event.DIALOG, "dialog", "application/dialog-info+xml", dlg)
    reg.add_event(Event.BLA, "dialog;sla", "application/dialog-info+xml", dialog_info_version)
    reg.add_event(Event.MSGSUM, "message-summary", "application/simple-message-summary", pass_through)
    reg.add_event(Event.PWINFO, "presence.winfo", "", None)
    reg.add_event(Event.REGINFO, "reg", "application/reginfo+xml", reg_proc)
    reg.add_event(Event.XCAPDIFF, "xcap-diff", "application/xcap-diff+xml", None)
    if cfg.is_master:
        reg.add_event(Event.DFKS, "as-feature-event", "application/x-as-feature-event+xml", pass_through)
    return reg
