"""Inputs of the pua API and the per-transaction snapshot ("hentity").

:class:`PublInfo` is Kamailio's ``publ_info_t`` (pua-reference §3.1),
:class:`SubsInfo` is ``subs_info_t`` (§4.1).  A :class:`Hentity` is the copy
of request data attached to a transaction and handed to the reply handler
(§3.7, §4.4, §4.5): replies work on it, never on the live record.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class PublInfo:
    pres_uri: str
    event: int
    source_flag: int
    expires: int = -1
    #: ``None`` = no body object; ``b""`` = a body object without buffer (§3.3 note)
    body: bytes | None = None
    content_type: str = ""
    id: str = ""
    etag: str = ""
    outbound_proxy: str = ""
    extra_headers: str = ""
    flag: int = 0
    cb_param: Any = None


@dataclass(frozen=True, slots=True)
class SubsInfo:
    pres_uri: str
    watcher_uri: str
    contact: str
    event: int
    source_flag: int
    expires: int = -1
    remote_target: str | None = None
    outbound_proxy: str = ""
    id: str = ""
    extra_headers: str = ""
    flag: int = 0
    cb_param: Any = None
    internal_update_flag: int = 0


@dataclass(slots=True)
class Hentity:
    """Request data kept with a transaction for its reply handler."""

    method: str
    pres_uri: str
    event: int
    flag: int
    ua_flag: int
    desired_expires: int
    id: str = ""
    body: bytes | None = None
    content_type: str = ""
    etag: str = ""
    tuple_id: str = ""
    extra_headers: str = ""
    outbound_proxy: str = ""
    cb_param: Any = None
    watcher_uri: str = ""
    contact: str = ""
    remote_contact: str = ""
    call_id: str = ""
    to_tag: str = ""
    from_tag: str = ""
    #: time (epoch seconds) the request was built
    sent_at: int = 0
