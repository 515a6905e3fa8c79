"""Simulated presence servers: an RFC 3903 event state compositor and an
RFC 6665 notifier (SUBSCRIBE/NOTIFY) behind RFC 3261 transactions, with
behaviour profiles (``kamailio``, ``rfc3903``) and fault knobs.

::

    from puasim.server import add_server, RespondWith
    add_server(sim, "server", ("127.0.0.1", 5060), "kamailio",
               faults=[RespondWith(status=503, count=1)])
"""

from puasim.server.compositor import (
    CREATED,
    EXPIRED,
    FORGOTTEN,
    MODIFIED,
    REFRESHED,
    REMOVED,
    EventStateCompositor,
    Publication,
    PublishOutcome,
    PublishRequest,
    kamailio_etag_number,
)
from puasim.server.endpoint import (
    PresenceServer,
    add_server,
    event_key,
    presentity_aor,
    read_publish,
)
from puasim.server.faults import (
    FAULT_KINDS,
    ChangeContact,
    DelayReplies,
    DropNotify,
    DropRequests,
    Fault,
    FaultPlan,
    GrantExpires,
    OmitHeader,
    RespondWith,
    Restart,
    fault_from_dict,
)
from puasim.server.notifier import SUBS_TIMER, Notifier, NotifyOutbox
from puasim.server.profiles import KAMAILIO, PROFILES, RFC3903, ServerProfile, get_profile
from puasim.server.subscription import Subscription, build_notify

__all__ = [
    "CREATED",
    "EXPIRED",
    "FAULT_KINDS",
    "FORGOTTEN",
    "KAMAILIO",
    "MODIFIED",
    "PROFILES",
    "REFRESHED",
    "REMOVED",
    "RFC3903",
    "SUBS_TIMER",
    "ChangeContact",
    "DelayReplies",
    "DropNotify",
    "DropRequests",
    "EventStateCompositor",
    "Fault",
    "FaultPlan",
    "GrantExpires",
    "Notifier",
    "NotifyOutbox",
    "OmitHeader",
    "PresenceServer",
    "Publication",
    "PublishOutcome",
    "PublishRequest",
    "RespondWith",
    "Restart",
    "ServerProfile",
    "Subscription",
    "add_server",
    "build_notify",
    "event_key",
    "fault_from_dict",
    "get_profile",
    "kamailio_etag_number",
    "presentity_aor",
    "read_publish",
]
