"""pua_json: ``pua_json_publish(json)`` writes presentities from a JSON document (pua-reference §9.7, §11.2).

pua_json does not use pua and sends no SIP.  It runs inside the presence
server's Kamailio and calls the presence API's ``update_presentity(event,
realm, user, etag, sender, body, expires, new=1, replace=1)``: insert or
replace the presentity keyed on (domain, username, event, etag), stored
expiry = now + expires.  The presence server then NOTIFYs the watchers as for
a PUBLISH.

Only objects with ``"Event-Name": "update"`` are processed; ``Event-Package``
selects the builder (§9.7's table): ``dialog``, ``message-summary``,
``presence`` and — in ``kamailio-master`` only (c858cecb4d) —
``as-feature-event``.  Missing required fields, an unknown package or an
empty realm/user/etag/sender/body make the function write nothing and still
return 1; only a document that does not parse as JSON returns −1.
``Expires`` defaults to 0 when absent, so such a presentity lapses at once.

:func:`pua_json_publish` is pure: it returns the :class:`JsonPublishResult`
(the return code, the :class:`PresentityUpdate` if one is written, and why
not otherwise); :meth:`puasim.server.endpoint.PresenceServer.update_presentity`
applies the update to a simulated server.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from typing import Any

from puasim.companions.usrloc import CompanionStartupError

#: Content-Type the presence server serves each package's bodies with
CONTENT_TYPES = {
    "dialog": "application/dialog-info+xml",
    "message-summary": "application/simple-message-summary",
    "presence": "application/pidf+xml",
    "as-feature-event": "application/x-as-feature-event+xml",
}
#: the call-id Kamailio puts into the dialog document it writes when Call-ID is absent
EMPTY_DIALOG_CALL_ID = "76001e23e09704ea9e1257ebea85e1f3"


@dataclass(frozen=True, slots=True)
class PuaJsonConfig:
    """pua_json's one parameter (§9.7): ``pua_include_entity`` (int, default 1)."""

    pua_include_entity: int = 1

    @classmethod
    def from_params(cls, params: dict) -> PuaJsonConfig:
        """As Kamailio's parameter parser and mod_init check them."""
        known = {f.name for f in fields(cls)}
        for key, value in params.items():
            if key not in known:
                raise CompanionStartupError(f"pua_json: unknown parameter {key!r} (known: {', '.join(sorted(known))})")
            if isinstance(value, bool) or not isinstance(value, int):
                raise CompanionStartupError(f"pua_json: {key} must be an integer, got {value!r}")
        return cls(**params)


@dataclass(frozen=True, slots=True)
class PresentityUpdate:
    """One ``update_presentity`` call (new=1, replace=1)."""

    event: str
    realm: str
    user: str
    etag: str
    sender: str
    body: bytes
    expires: int

    @property
    def presentity(self) -> str:
        return f"sip:{self.user}@{self.realm}"

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.event]


@dataclass(frozen=True, slots=True)
class JsonPublishResult:
    """What ``pua_json_publish()`` returned and wrote (``update`` is None when nothing was written)."""

    rc: int
    update: PresentityUpdate | None
    reason: str = ""


def _field(obj: dict, name: str) -> str:
    """A field as the JSON API's extract_field gives it: text of strings, JSON text of numbers, '' if absent."""
    value = obj.get(name)
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _expires(obj: dict, name: str = "Expires") -> int:
    """json-c's get_int: integers as they are, numeric text parsed, anything else 0."""
    value = obj.get(name)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        digits = text[1:] if text[:1] in "+-" else text
        n = 0
        for ch in digits:
            if not ch.isdigit():
                break
            n = n * 10 + int(ch)
        return -n if text.startswith("-") else n
    return 0


def _update(event: str, realm: str, user: str, etag: str, sender: str, body: str, expires: int) -> JsonPublishResult:
    """The module's wrapper around update_presentity: every string must be non-empty."""
    for name, value in (("realm", realm), ("user", user), ("etag", etag), ("sender", sender), ("body", body)):
        if not value:
            return JsonPublishResult(1, None, f"{event}: empty {name}, nothing written")
    return JsonPublishResult(1, PresentityUpdate(event, realm, user, etag, sender, body.encode(), expires))


def _dialog(obj: dict, include_entity: bool) -> JsonPublishResult:
    frm, to, state = _field(obj, "From"), _field(obj, "To"), _field(obj, "State")
    if not frm or not to or not state:
        return JsonPublishResult(1, None, "dialog: From, To and State are required")
    pres, pres_user, pres_realm = _field(obj, "Presentity"), _field(obj, "Presentity-User"), _field(obj, "Presentity-Realm")
    if not pres or not pres_user or not pres_realm:
        pres, pres_user, pres_realm = frm, _field(obj, "From-User"), _field(obj, "From-Realm")
    from_user, to_user = _field(obj, "From-User"), _field(obj, "To-User")
    from_uri, to_uri = _field(obj, "From-URI") or frm, _field(obj, "To-URI") or to
    call_id, direction = _field(obj, "Call-ID"), _field(obj, "Direction")
    local_tag = f'local-tag="{_field(obj, "From-Tag")}"' if _field(obj, "From-Tag") else ""
    remote_tag = f'remote-tag="{_field(obj, "To-Tag")}"' if _field(obj, "To-Tag") else ""
    head = ('<?xml version="1.0" encoding="UTF-8"?><dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info"'
            f' version="1" state="full" entity="{pres}">')
    if call_id:
        local = f'<local><identity display="{from_user}">{frm}</identity>'
        remote = f'<remote><identity display="{to_user}">{to}</identity>'
        if include_entity:
            local += f'<target uri="{from_uri}"/>'
            remote += f'<target uri="{to_uri}"/>'
        body = (f'{head}<dialog id="{call_id}" call-id="{call_id}" {local_tag} {remote_tag} direction="{direction}">'
                f'<state>{state}</state>{local}</local>{remote}</remote></dialog></dialog-info>')
    else:  # a fixed "terminated" document (the space after the root's start tag is Kamailio's)
        body = (f'{head[:-1]}> <dialog call-id="{EMPTY_DIALOG_CALL_ID}" direction="initiator">'
                '<state>terminated</state></dialog></dialog-info>')
    return _update("dialog", pres_realm, pres_user, call_id, f"sip:{call_id}", body, _expires(obj))


def _message_summary(obj: dict) -> JsonPublishResult:
    waiting, account = _field(obj, "Messages-Waiting"), _field(obj, "Message-Account")
    new, voice = _field(obj, "Messages-New"), _field(obj, "MWI-Voice-Message")
    body = f"Messages-Waiting: {waiting}\r\nMessage-Account: {account}\r\n"
    if new:
        body += (f"Voice-Message: {new}/{_field(obj, 'Messages-Saved')} "
                 f"({_field(obj, 'Messages-Urgent')}/{_field(obj, 'Messages-Urgent-Saved')})\r\n")
    elif voice:
        body += f"Voice-Message: {voice}\r\n"
    return _update("message-summary", _field(obj, "From-Realm"), _field(obj, "From-User"), _field(obj, "Call-ID"),
                   _field(obj, "From"), body, _expires(obj))


#: presence State → (basic, note, rpid activity); any other state is "Available", open
PRESENCE_STATES = {
    "early": ("open", "Busy", "<rpid:busy/>"),
    "confirmed": ("open", "On the Phone", "<rpid:on-the-phone/>"),
    "offline": ("closed", "Offline", ""),
}


def _presence(obj: dict) -> JsonPublishResult:
    from_user, to_user, state = _field(obj, "From-User"), _field(obj, "To-User"), _field(obj, "State")
    if not from_user or not to_user or not state:
        return JsonPublishResult(1, None, "presence: From-User, To-User and State are required")
    basic, note, activity = PRESENCE_STATES.get(state, ("open", "Available", ""))
    call_id = _field(obj, "Call-ID")
    body = ('<?xml version="1.0" encoding="UTF-8"?><presence xmlns="urn:ietf:params:xml:ns:pidf"'
            ' xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid"'
            f' xmlns:c="urn:ietf:params:xml:ns:pidf:cipid" entity="{from_user}"> '
            f'<tuple xmlns="urn:ietf:params:xml:ns:pidf" id="{call_id}"><status><basic>{basic}</basic></status></tuple>'
            f'<note xmlns="urn:ietf:params:xml:ns:pidf">{note}</note>'
            '<dm:person xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid"'
            f' id="1"><rpid:activities>{activity}</rpid:activities><dm:note>{note}</dm:note></dm:person></presence>')
    return _update("presence", _field(obj, "From-Realm"), from_user, call_id, _field(obj, "From"), body, _expires(obj))


def _as_feature(obj: dict) -> JsonPublishResult:
    from_user, dnd = _field(obj, "From-User"), _field(obj, "DND-Status")
    if not from_user or not dnd:
        return JsonPublishResult(1, None, "as-feature-event: From-User and DND-Status are required")
    body = ('<?xml version="1.0" encoding="ISO-8859-1"?><DoNotDisturbEvent'
            ' xmlns="http://www.ecma-international.org/standards/ecma-323/csta/ed3">'
            f'<device>{from_user}</device><doNotDisturbOn>{dnd}</doNotDisturbOn></DoNotDisturbEvent>')
    return _update("as-feature-event", _field(obj, "From-Realm"), from_user, _field(obj, "Call-ID"),
                   _field(obj, "From"), body, _expires(obj))


def parse_document(document: str | dict[str, Any]) -> dict | None:
    """The JSON object, or None when the text does not parse as a JSON object."""
    if isinstance(document, dict):
        return document
    try:
        obj = json.loads(document)
    except (ValueError, TypeError):
        return None
    return obj if isinstance(obj, dict) else None


def pua_json_publish(document: str | dict[str, Any], cfg: PuaJsonConfig | None = None,
                     profile: str = "kamailio-5.6") -> JsonPublishResult:
    """``pua_json_publish(json)`` (§9.7): the return code and the presentity it writes, if any."""
    cfg = cfg or PuaJsonConfig()
    obj = parse_document(document)
    if obj is None:
        return JsonPublishResult(-1, None, "the document does not parse as a JSON object")
    if _field(obj, "Event-Name") != "update":
        return JsonPublishResult(1, None, "Event-Name is not \"update\": ignored")
    package = _field(obj, "Event-Package")
    if package == "dialog":
        return _dialog(obj, bool(cfg.pua_include_entity))
    if package == "message-summary":
        return _message_summary(obj)
    if package == "presence":
        return _presence(obj)
    if package == "as-feature-event" and profile == "kamailio-master":
        return _as_feature(obj)
    return JsonPublishResult(1, None, f"Event-Package {package!r} is not handled in {profile}: ignored")
