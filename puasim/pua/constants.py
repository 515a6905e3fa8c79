"""Numeric constants of Kamailio's pua module (pua-reference §2.1)."""

from __future__ import annotations

import enum


class Event(enum.IntFlag):
    """Event flags (the record's ``event`` field)."""

    PRESENCE = 1
    PWINFO = 2
    BLA = 4
    MSGSUM = 8
    CONFERENCE = 16
    DIALOG = 32
    REGINFO = 64
    XCAPDIFF = 128
    DFKS = 256


class Source(enum.IntFlag):
    """Source flags: which producer made a record; also the callback "types" (§7.3)."""

    UL_PUBLISH = 1
    BLA_PUBLISH = 2
    BLA_SUBSCRIBE = 4
    XMPP_PUBLISH = 8
    XMPP_SUBSCRIBE = 16
    XMPP_INITIAL_SUBS = 32
    RPC_PUBLISH = 64
    RPC_ASYN_PUBLISH = 128
    RPC_SUBSCRIBE = 256
    RLS_SUBSCRIBE = 512
    DIALOG_PUBLISH = 1024
    PURPLE_PUBLISH = 2048
    REGINFO_PUBLISH = 4096
    REGINFO_SUBSCRIBE = 8192
    XCAPDIFF_PUBLISH = 16384
    XCAPDIFF_SUBSCRIBE = 32768
    DFKS_PUBLISH = 65536
    DFKS_SUBSCRIBE = 131072


# request type flags (publ_info.flag / subs_info.flag)
INSERT_TYPE = 2
UPDATE_TYPE = 4

# db_flag values (§5.5)
NO_UPDATEDB = 1
UPDATEDB = 2
INSERTDB = 4

# origin of a transaction
REQ_OTHER = 0
REQ_ME = 1

ERR_PUBLISH_NO_BODY = -10
MAX_FORWARDS = 70
PUACB_MAX = 512
TABLE_VERSION = 7
TEMPORARY_DIALOG_LIFETIME = 64

#: pua_rpc's string -> event mapping (§2.1): exact and case-sensitive.
#: ``as-feature-event`` is only known in the master profile (§11.1).
EVENT_NAMES: dict[str, int] = {
    "reg": Event.REGINFO,
    "dialog": Event.DIALOG,
    "presence": Event.PRESENCE,
    "dialog;sla": Event.BLA,
    "conference": Event.CONFERENCE,
    "presence.winfo": Event.PWINFO,
    "message-summary": Event.MSGSUM,
}


def event_from_name(name: str, profile_has_dfks: bool) -> int:
    """pua_rpc's mapping; -1 for an unknown name (``xcap-diff`` is not accepted)."""
    if name == "as-feature-event":
        return int(Event.DFKS) if profile_has_dfks else -1
    value = EVENT_NAMES.get(name)
    return -1 if value is None else int(value)
