"""Scenario side of calls: a phone's ``calls:`` policy and the ``phone.call`` ... steps.

Kept apart from :mod:`puasim.scenario.registrations`, which calls in here
through three hooks (phone entries, step checks, step runs).  ``docs/scenarios.md``
("Calls") documents the fields.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from puasim.effects import SECOND
from puasim.phones.calls import ANSWER_MODES, CallPolicy
from puasim.scenario.fields import read_seconds
from puasim.scenario.loader import Source as Doc
from puasim.sip.uri import parse_uri

if TYPE_CHECKING:
    from puasim.phones.phone import Phone, PhoneConfig

POLICY_KEYS = {"answer", "rel100", "answer_after", "reject_status", "hangup_after", "ring_after"}

CALL_ACTIONS = {
    "phone.call": "a phone calls another phone (or an AOR) through the edge node (with: phone, to, hold, rel100)",
    "phone.answer": "a ringing phone answers its call with 200 (with: phone)",
    "phone.reject": "a ringing phone rejects its call (with: phone, status)",
    "phone.hangup": "a phone ends its call: BYE once answered, else CANCEL or 480 (with: phone)",
    "phone.cancel": "a calling phone CANCELs its unanswered call (with: phone)",
    "phone.reinvite": "a phone re-INVITEs its confirmed call to hold or resume it (with: phone, on_hold)",
    "phone.update": "a phone sends UPDATE in its early or confirmed call (with: phone, on_hold)",
}
CALL_FIELDS = {
    "phone.call": {"phone", "to", "hold", "rel100"},
    "phone.answer": {"phone"},
    "phone.reject": {"phone", "status"},
    "phone.hangup": {"phone"},
    "phone.cancel": {"phone"},
    "phone.reinvite": {"phone", "on_hold"},
    "phone.update": {"phone", "on_hold"},
}


def _seconds(value: Any, doc: Doc, path: tuple, name: str) -> float:
    """Finite seconds in the format's bounds (``read_seconds``: 0 to 30 days)."""
    return read_seconds(doc, path, value) / SECOND


def _status(value: Any, doc: Doc, path: tuple) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 300 <= value <= 699:
        raise doc.error(path, f"status must be a final failure status 300-699, got {value!r}")
    return value


def policy(doc: Doc, value: Any, path: tuple) -> CallPolicy:
    """A phone entry's ``calls:`` mapping."""
    if value is None:
        return CallPolicy()
    if not isinstance(value, dict):
        raise doc.error(path, "calls must be a mapping")
    unknown = set(value) - POLICY_KEYS
    if unknown:
        raise doc.error((*path, sorted(unknown)[0]), f"unknown field {sorted(unknown)[0]!r} (known: {', '.join(sorted(POLICY_KEYS))})")
    mode = value.get("answer", "ring")
    if mode not in ANSWER_MODES:
        raise doc.error((*path, "answer"), f"answer must be one of {', '.join(ANSWER_MODES)}, got {mode!r}")
    if not isinstance(value.get("rel100", False), bool):
        raise doc.error((*path, "rel100"), "rel100 is true or false")
    after = value.get("answer_after")
    hang = value.get("hangup_after")
    return CallPolicy(
        mode=mode,
        rel100=bool(value.get("rel100", False)),
        answer_after=None if after is None else _seconds(after, doc, (*path, "answer_after"), "answer_after"),
        reject_status=_status(value.get("reject_status", 486), doc, (*path, "reject_status")),
        hangup_after=None if hang is None else _seconds(hang, doc, (*path, "hangup_after"), "hangup_after"),
        ring_after=_seconds(value.get("ring_after", 0), doc, (*path, "ring_after"), "ring_after"),
    )


def check_step(doc: Doc, action: str, spec: dict, path: tuple, phones: tuple[PhoneConfig, ...]) -> None:
    if action == "phone.call":
        to = spec.get("to")
        if not isinstance(to, str) or not to:
            raise doc.error((*path, "to"), "phone.call needs to: a phone name or a SIP URI")
        if to not in {p.name for p in phones}:
            try:
                parse_uri(to)
            except ValueError:
                raise doc.error((*path, "to"), f"{to!r} is neither a phone name nor a SIP URI") from None
        if "hold" in spec:
            _seconds(spec["hold"], doc, (*path, "hold"), "hold")
        if not isinstance(spec.get("rel100", False), bool):
            raise doc.error((*path, "rel100"), "rel100 is true or false")
    if action == "phone.reject" and "status" in spec:
        _status(spec["status"], doc, (*path, "status"))
    if action in ("phone.reinvite", "phone.update") and not isinstance(spec.get("on_hold", False), bool):
        raise doc.error((*path, "on_hold"), "on_hold is true or false")


def target(to: str, phones: tuple[PhoneConfig, ...]) -> str:
    for p in phones:
        if p.name == to:
            return p.aor
    return to


def run_step(node: Any, phone: Phone, action: str, args: dict, now: int, phones: tuple[PhoneConfig, ...]) -> None:
    if action == "phone.call":
        hold = args.get("hold")
        node.call(action, phone.call, now, target(args["to"], phones), None if hold is None else float(hold),
                  bool(args.get("rel100", False)))
    elif action == "phone.answer":
        node.call(action, phone.answer, now)
    elif action == "phone.reject":
        node.call(action, phone.reject, now, int(args.get("status", 486)))
    elif action == "phone.hangup":
        node.call(action, phone.hangup, now)
    elif action == "phone.cancel":
        node.call(action, phone.cancel, now)
    elif action == "phone.reinvite":
        node.call(action, phone.reinvite, now, None, bool(args.get("on_hold", True)))
    elif action == "phone.update":
        node.call(action, phone.update, now, None, bool(args.get("on_hold", False)))
