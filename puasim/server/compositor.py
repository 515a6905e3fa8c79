"""An RFC 3903 event state compositor (ESC) as a plain, sans-IO object.

The compositor keeps publications keyed by (presentity AOR from the
Request-URI, event package) and, under each key, by entity-tag: one
presentity may hold several publications of one package (lab finding f: a
423 on a modify left two publications for carol).  It takes a
:class:`PublishRequest` (the parts of a PUBLISH the endpoint already read)
and the time, and returns a :class:`PublishOutcome` (status, reason, ETag,
Expires, extra headers).  It never sends anything: the endpoint builds the
reply.  State changes go to the trace as
:class:`~puasim.trace.events.ServerStateChanged` through ``emit``.

Processing order (``§6.N`` = step N of RFC 3903 §6; the profile decides the
optional rows and where the ETag check sits, see
:class:`~puasim.server.profiles.ServerProfile`):

=====  ==================================================  ==================
step   check                                               answer
=====  ==================================================  ==================
0      Min-Expires in the script (lab ``PUBLISH_423=1``)   423 + Min-Expires
--     Kamailio's request counter advances (SUBSCRIBEs     (no answer)
       advance it too, :meth:`count_subscribe`)
§6.2   Event missing / not in ``publish_events``           489 + Allow-Events
§6.1   Request-URI unusable / domain not served            400 / 404
§6.3   SIP-If-Match: several tags / malformed / unknown    400 / 500 / 412
§6.4   Expires: unparsable / absent → default / > max →    400 or 500 /
       capped / 0 < E < min                                423 + Min-Expires
--     no Content-Length (Kamailio)                        400
§6.5   body type not defined for the package               415 + Accept
§6.5   no SIP-If-Match and no body                         400
§6.5   Expires 0 → remove; body → modify; none → refresh   200
§6.6   2xx with Expires (granted − offset) and SIP-ETag
=====  ==================================================  ==================

With ``etag_lookup_late`` (Kamailio) the §6.3 row moves after the "no
SIP-If-Match and no body" row, as ``update_presentity`` runs last.

Expiry: an entry lapses when ``now >= expires``.  With ``clean_period`` 0
every :meth:`publish` first drops lapsed state ("lazy check") and the
endpoint calls :meth:`expire` from a timer armed at :meth:`next_deadline`;
with a clean period, state is only dropped at the sweep ticks.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from puasim.bodies.errors import BodyError
from puasim.bodies.xml import parse_xml
from puasim.effects import SECOND
from puasim.frozen import quick_init
from puasim.server.profiles import ETAG_KAMAILIO, ServerProfile
from puasim.trace.events import ServerStateChanged

Headers = tuple[tuple[str, str], ...]

CREATED = "created"
MODIFIED = "modified"
REFRESHED = "refreshed"
REMOVED = "removed"
EXPIRED = "expired"
#: state lost when the server restarts (a fault); not one of RFC 3903's operations
FORGOTTEN = "forgotten"


@quick_init
@dataclass(frozen=True, slots=True)
class PublishRequest:
    """What the compositor needs from one PUBLISH, read by the endpoint.

    ``presentity`` is the AOR ``sip:user@host`` of the Request-URI (``None``
    when it could not be parsed); ``event`` the package key
    (``presence``, ``dialog;sla``; ``None`` when there is no Event header);
    ``if_match`` the raw SIP-If-Match field values; ``expires`` the Expires
    value (``None`` when absent); ``expires_malformed`` marks an Expires that
    did not parse; ``content_type`` the lower-case ``type/subtype``.
    """

    presentity: str | None
    event: str | None
    if_match: tuple[str, ...] = ()
    expires: int | None = None
    expires_malformed: bool = False
    body: bytes = b""
    content_type: str | None = None
    has_content_length: bool = True
    event_malformed: bool = False


@quick_init
@dataclass(frozen=True, slots=True)
class PublishOutcome:
    """The compositor's answer: what the endpoint puts into the reply.

    ``etag`` and ``expires`` are the SIP-ETag and Expires of a 2xx;
    ``headers`` holds the extra fields of an error (Min-Expires,
    Allow-Events, Accept); ``action`` is the state change made (``None`` for
    errors); ``rule`` names the rule that decided, for notes and tests.
    """

    status: int
    reason: str
    etag: str | None = None
    expires: int | None = None
    headers: Headers = ()
    action: str | None = None
    rule: str = ""


@dataclass(slots=True)
class Publication:
    """One piece of published event state (RFC 3903 §2 "event state")."""

    presentity: str
    event: str
    etag: str
    expires: int  # absolute µs
    body: bytes
    content_type: str | None
    created: int
    modified: int
    #: Kamailio's modification number (the last ETag field); counts changes for random tags
    version: int = 0


@dataclass(slots=True)
class _Counters:
    requests: int = 0
    issued: set[str] = field(default_factory=set)


def dialog_id(body: bytes) -> str | None:
    """The ``id`` of the first ``dialog`` element of a dialog-info body, or None.

    Read as Kamailio's presence module reads it (the attribute of the first
    element named ``dialog``, whatever else the document says), so that
    pua_dialoginfo's ``Trying`` state, which RFC 4235 §4.1 does not know, still
    counts."""
    try:
        root = parse_xml(body, what="dialog-info")
    except BodyError:
        return None
    for node in root.iter():
        if isinstance(node.tag, str) and etree.QName(node).localname == "dialog":
            return node.get("id")
    return None


def kamailio_etag_number(etag: str) -> int | None:
    """The modification number Kamailio parses from an ETag's last ``.``-field.

    ``None`` when the tag has no ``.`` or the last field is not a decimal
    number: Kamailio's ``update_presentity`` then fails and answers 500
    (lab finding x3 step 3b, "bogus-etag").
    """
    head, dot, last = etag.rpartition(".")
    if not dot or not last.isascii() or not last.isdigit():
        return None
    return int(last)


class EventStateCompositor:
    """Publications of one simulated server and the RFC 3903 §6 rules over them.

    ``start_time`` (UNIX seconds) and ``pid`` go into Kamailio-style ETags;
    ``origin`` is the virtual time (µs) the server started, from which the
    sweep ticks of a ``clean_period`` count; ``emit`` receives trace events.
    """

    def __init__(
        self,
        profile: ServerProfile,
        rng: random.Random,
        start_time: int = 1_700_000_000,
        pid: int = 4242,
        origin: int = 0,
        emit: Callable[[Any], None] | None = None,
    ) -> None:
        self.profile = profile
        self.rng = rng
        self.start_time = start_time
        self.pid = pid
        self.origin = origin
        self.emit = emit or (lambda event: None)
        self._state: dict[tuple[str, str], dict[str, Publication]] = {}
        self._heap: list[tuple[int, int, tuple[str, str], str]] = []
        self._seq = 0
        self._counters = _Counters()

    # -- queries ------------------------------------------------------------------------
    @property
    def counter(self) -> int:
        """Kamailio's per-process request counter (the 4th ETag field of new tags)."""
        return self._counters.requests

    def count_subscribe(self) -> None:
        """Advance the request counter for one SUBSCRIBE.

        Kamailio's presence module keeps one counter (``pres_counter``) that
        both ``handle_publish`` and ``handle_subscribe`` increment on entry,
        before any check; the next new ETag carries it as its fourth field.
        The lab capture ``x2_rpc_transports`` shows it: an initial and an
        in-dialog SUBSCRIBE, then the first PUBLISH of the process gets
        ``a.<start>.<pid>.3.0``.
        """
        self._counters.requests += 1

    def __len__(self) -> int:
        return sum(len(pubs) for pubs in self._state.values())

    def __iter__(self) -> Iterator[Publication]:
        for pubs in self._state.values():
            yield from pubs.values()

    def get(self, presentity: str, event: str) -> list[Publication]:
        """Publications of ``presentity`` for package ``event``, oldest first."""
        return list(self._state.get((presentity, event), {}).values())

    def find(self, etag: str) -> Publication | None:
        for pub in self:
            if pub.etag == etag:
                return pub
        return None

    def next_deadline(self) -> int | None:
        """When :meth:`expire` has work next (µs), or ``None``."""
        heap = self._heap
        while heap:
            at, _, key, etag = heap[0]
            pubs = self._state.get(key)
            pub = pubs.get(etag) if pubs else None
            if pub is not None and pub.expires == at:
                break
            heapq.heappop(heap)
        if not heap:
            return None
        at = heap[0][0]
        period = self.profile.clean_period
        if period:
            ticks = -(-(at - self.origin) // period)
            at = self.origin + max(ticks, 1) * period
        return at

    # -- state changes ------------------------------------------------------------------
    def expire(self, now: int) -> list[Publication]:
        """Drop every publication with ``expires <= now`` ("expired" events)."""
        lapsed: list[Publication] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            at, _, key, etag = heapq.heappop(heap)
            pubs = self._state.get(key)
            pub = pubs.get(etag) if pubs else None
            if pub is None or pub.expires != at:
                continue
            self._drop(pub)
            lapsed.append(pub)
            self._changed(EXPIRED, pub, pub.expires)
        return lapsed

    def forget_all(
        self, start_time: int | None = None, pid: int | None = None, origin: int | None = None
    ) -> list[Publication]:
        """Lose all state, as a restarted server does ("forgotten" events).

        The Kamailio counter starts again from 0; ``start_time``/``pid`` are
        the new process's (a restarted Kamailio has both new, lab finding e1).
        """
        lost = sorted(self, key=lambda p: (p.created, p.etag))
        for pub in lost:
            self._changed(FORGOTTEN, pub, pub.expires)
        self._state.clear()
        self._heap.clear()
        self._counters.requests = 0
        if start_time is not None:
            self.start_time = start_time
        if pid is not None:
            self.pid = pid
        if origin is not None:
            self.origin = origin
        return lost

    def update_presentity(
        self, presentity: str, event: str, etag: str, body: bytes, content_type: str, expires: int, now: int
    ) -> Publication:
        """The presence API's ``update_presentity`` with new=1, replace=1 (pua-reference §9.7).

        Insert or replace the state keyed on (presentity, event, etag) — the
        etag is the caller's, not one the server makes up — with expiry
        now + ``expires`` seconds; no RFC 3903 checks apply.
        """
        old = self._state.get((presentity, event), {}).get(etag)
        if old is not None:
            self._drop(old)
            old.body, old.content_type, old.modified = body, content_type, now
            old.expires = now + expires * SECOND
            old.version += 1
            self._store(old)
            self._changed(MODIFIED, old, old.expires)
            return old
        pub = Publication(presentity, event, etag, now + expires * SECOND, body, content_type, now, now)
        self._store(pub)
        self._changed(CREATED, pub, pub.expires)
        return pub

    def publish(self, req: PublishRequest, now: int, grant: int | None = None) -> PublishOutcome:
        """Apply RFC 3903 §6 to one PUBLISH; ``grant`` forces the granted Expires (a fault)."""
        prof = self.profile
        if not prof.clean_period:
            self.expire(now)  # lazy check
        requested = None if req.expires_malformed else req.expires
        # step 0: the lab's script check in front of handle_publish (finding f)
        if prof.min_expires_in_script and prof.min_expires and requested is not None:
            if 0 < requested < prof.min_expires:
                return self._too_brief("script Min-Expires check (lab PUBLISH_423)")
        self._counters.requests += 1  # Kamailio: counter++ at the top of handle_publish
        # §6 step 2
        if req.event_malformed:
            return self._error(400, "Event header does not parse")
        if req.event is None or req.event not in prof.publish_events:
            hdrs: Headers = ()
            if prof.allow_events_on_489:
                hdrs = (("Allow-Events", ", ".join(prof.publish_events)),)
            return self._error(489, "RFC 3903 §6 step 2: event package not supported", hdrs)
        # §6 step 1
        if req.presentity is None:
            return self._error(400, "Request-URI unusable")
        if prof.domains and req.presentity.rpartition("@")[2].lower() not in prof.domains:
            return self._error(404, "RFC 3903 §6 step 1: domain not served")
        pub: Publication | None = None
        if req.if_match and not prof.etag_lookup_late:
            found = self._lookup(req)
            if isinstance(found, PublishOutcome):
                return found
            pub = found
        # §6 step 4
        if req.expires_malformed:
            return self._error(prof.bad_expires_status, "Expires does not parse")
        expires = requested if requested is not None else prof.default_expires_for(req.event)
        if prof.max_expires and expires > prof.max_expires:
            expires = prof.max_expires
        if not prof.min_expires_in_script and prof.min_expires and 0 < expires < prof.min_expires:
            return self._too_brief("RFC 3903 §6 step 4: below Min-Expires")
        if prof.require_content_length and not req.has_content_length:
            return self._error(400, "no Content-Length (Kamailio handle_publish)")
        # §6 step 5
        if req.body:
            accepted = prof.accepted_types(req.event)
            if accepted is not None and (req.content_type or "") not in accepted:
                hdrs = (("Accept", ", ".join(accepted)),) if accepted else ()
                return self._error(
                    415, "RFC 3903 §6 step 5: body type not defined for the package", hdrs
                )
        if not req.if_match and not req.body:
            return PublishOutcome(
                400, prof.no_body_reason, rule="RFC 3903 §6 step 5: no SIP-If-Match and no body"
            )
        if req.if_match and prof.etag_lookup_late:
            found = self._lookup(req)
            if isinstance(found, PublishOutcome):
                return found
            pub = found
        if grant is not None and expires != 0:
            expires = grant
        return self._apply(req, pub, expires, now)

    # -- helpers ------------------------------------------------------------------------
    def _lookup(self, req: PublishRequest) -> Publication | PublishOutcome:
        """§6 step 3: the SIP-If-Match entity-tag must name stored state."""
        prof = self.profile
        raw = req.if_match
        if prof.multiple_etags_status is not None and (len(raw) > 1 or "," in raw[0]):
            return self._error(
                prof.multiple_etags_status, "RFC 3903 §6 step 3: more than one entity-tag"
            )
        etag = raw[0].strip()
        if prof.malformed_etag_status is not None and kamailio_etag_number(etag) is None:
            return self._error(
                prof.malformed_etag_status, "ETag not shaped like Kamailio's (lab x3 3b)"
            )
        assert req.presentity is not None and req.event is not None
        pub = self._state.get((req.presentity, req.event), {}).get(etag)
        if pub is None:
            return self._error(412, "RFC 3903 §6 step 3: unknown entity-tag")
        return pub

    def _apply(
        self, req: PublishRequest, pub: Publication | None, expires: int, now: int
    ) -> PublishOutcome:
        """§6 step 5 (store/refresh/remove) and step 6 (the 200)."""
        prof = self.profile
        assert req.presentity is not None and req.event is not None
        if pub is not None and expires == 0:
            self._drop(pub)
            self._changed(REMOVED, pub, 0)
            etag = pub.etag if prof.remove_reply_etag else None
            return PublishOutcome(
                200, prof.reason(200), etag, 0, action=REMOVED, rule="RFC 3903 §6 step 5: remove"
            )
        reply_expires = expires - prof.expires_offset
        if pub is None:
            etag = self._new_etag(None)
            if expires == 0:  # §6 step 5: nothing may be stored
                return PublishOutcome(
                    200,
                    prof.reason(200),
                    etag,
                    reply_expires,
                    rule="initial PUBLISH with Expires 0",
                )
            if prof.replace_dialog_id and req.event == "dialog" and req.body:
                self._replace_dialog(req.presentity, req.body)
            pub = Publication(
                req.presentity,
                req.event,
                etag,
                now + expires * SECOND,
                req.body,
                req.content_type,
                now,
                now,
            )
            self._store(pub)
            self._changed(CREATED, pub, pub.expires)
            return PublishOutcome(
                200,
                prof.reason(200),
                etag,
                reply_expires,
                action=CREATED,
                rule="RFC 3903 §6 step 5: initial",
            )
        self._drop(pub)
        pub.etag = self._new_etag(pub)
        pub.version += 1
        pub.expires = now + expires * SECOND
        pub.modified = now
        action = REFRESHED
        if req.body:
            pub.body, pub.content_type, action = req.body, req.content_type, MODIFIED
        self._store(pub)
        self._changed(action, pub, pub.expires)
        return PublishOutcome(
            200,
            prof.reason(200),
            pub.etag,
            reply_expires,
            action=action,
            rule=f"RFC 3903 §6 step 5: {action}",
        )

    def _replace_dialog(self, presentity: str, body: bytes) -> None:
        """Drop the stored ``dialog`` publications of ``presentity`` whose dialog id is the
        new body's (profile ``replace_dialog_id``; Kamailio presence
        ``delete_presentity_if_dialog_id_exists()``).  A body without a dialog id, or one
        that does not parse, replaces nothing."""
        new_id = dialog_id(body)
        if new_id is None:
            return
        for pub in self.get(presentity, "dialog"):
            if dialog_id(pub.body) == new_id:
                self._drop(pub)
                self._changed(REMOVED, pub, 0)

    def _new_etag(self, old: Publication | None) -> str:
        """§6 step 6: a fresh entity-tag for every successful publication."""
        prof = self.profile
        if prof.etag_style == ETAG_KAMAILIO:
            n = 0
            if old is not None:
                n = (kamailio_etag_number(old.etag) or 0) + 1
            return f"{prof.etag_prefix}.{self.start_time}.{self.pid}.{self._counters.requests}.{n}"
        issued = self._counters.issued
        while True:
            etag = f"{self.rng.getrandbits(64):016x}"
            if etag not in issued:
                issued.add(etag)
                return etag

    def _store(self, pub: Publication) -> None:
        self._state.setdefault((pub.presentity, pub.event), {})[pub.etag] = pub
        self._seq += 1
        heapq.heappush(self._heap, (pub.expires, self._seq, (pub.presentity, pub.event), pub.etag))

    def _drop(self, pub: Publication) -> None:
        key = (pub.presentity, pub.event)
        pubs = self._state.get(key)
        if pubs is not None:
            pubs.pop(pub.etag, None)
            if not pubs:
                del self._state[key]

    def _changed(self, action: str, pub: Publication, expires: int) -> None:
        self.emit(ServerStateChanged(action, pub.presentity, pub.event, pub.etag, expires))

    def _error(self, status: int, rule: str, headers: Headers = ()) -> PublishOutcome:
        return PublishOutcome(status, self.profile.reason(status), headers=headers, rule=rule)

    def _too_brief(self, rule: str) -> PublishOutcome:
        hdrs = (("Min-Expires", str(self.profile.min_expires)),)
        return self._error(423, rule, hdrs)
