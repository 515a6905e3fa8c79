"""Behaviour profiles of the simulated presence servers, as data.

A :class:`ServerProfile` is a frozen bag of knobs; the compositor
(:mod:`puasim.server.compositor`) and the endpoint
(:mod:`puasim.server.endpoint`) read them and contain no per-server ``if``.
Two named profiles ship in :data:`PROFILES`:

``kamailio``
    The Kamailio 5.6 ``presence`` module as the lab saw it (the lab
    README, FINDINGS a-g, x3) and as pua-reference Appendix A describes it: ETags
    ``a.<start>.<pid>.<counter>.<n>``; Expires capped at ``max_expires``
    3600, no minimum for PUBLISH (no 423); 412 "Conditional request failed"
    for an unknown ETag, but 500 for an ETag not shaped like Kamailio's
    (the last ``.``-field is parsed as a number before the look-up); 400
    "Invalid request" for a PUBLISH with neither SIP-If-Match nor body;
    489 "Bad Event" with Allow-Events; an unparsable Expires gives 500;
    the 200 to ``Expires: 0`` echoes the removed ETag.  Event packages are
    those of the lab server (presence_xml, presence_dialoginfo,
    presence_reginfo, presence_mwi): ``presence``, ``dialog``, ``reg``,
    ``message-summary``.  SUBSCRIBE (lab finding g, Appendix A): 200 (not
    202, ``subs_respond_200``), Contact ``sip:presence@<host>:<port>``, no
    minimum Expires, max 3600; the first NOTIFY has CSeq 2; NOTIFY ``To``
    is the watcher as ``user@domain`` (port dropped); an unsubscribe ends
    with ``terminated;reason=timeout``; a body-less refresh PUBLISH also
    triggers a NOTIFY with the full body.  Several publications of one
    presentity reach watchers merged into one PIDF document as presence_xml
    writes it (newest first; an older one whose first tuple id is already
    present is left out, lab h2).  ``dialog`` NOTIFYs carry a document
    built as presence_dialoginfo builds it: the dialogs of all live
    publications of the extension, oldest first, under a new root with the
    presentity as entity and the subscription's own version (lab companions
    07); ``force_single_dialog`` and ``force_dummy_dialog`` off as in the
    lab.

``rfc3903``
    A strict RFC 3903 §6 event state compositor: random hexadecimal ETags,
    a new one for every successful publication (§6 step 6); a 423 with
    Min-Expires below 60 s (§6 step 4); 412 for any unknown ETag (§6 step 3),
    400 for more than one entity-tag (§6 step 3) or an unparsable Expires;
    415 with Accept for a body type the package does not define (§6 step 5);
    400 for an initial PUBLISH without body (§6 step 5).  SUBSCRIBE per RFC
    6665: 200 (§8.3.1 forbids 202), 423 below 60 s (§4.2.1.1), NOTIFY only
    on real state changes (a refresh PUBLISH changes nothing, RFC 3903 §4.1),
    ``To`` of NOTIFY = the SUBSCRIBE's From as sent (RFC 3261 §12.1.1).

Use :func:`get_profile` to look a profile up by name and
``dataclasses.replace(profile, knob=value)`` (or :func:`get_profile` with
keyword overrides) for variants, e.g. the lab's ``PUBLISH_423=1`` script
check is ``get_profile("kamailio", min_expires=120, min_expires_in_script=True)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

from puasim.effects import SECOND

ETAG_KAMAILIO = "kamailio"
ETAG_RANDOM = "random"
ETAG_STYLES = (ETAG_KAMAILIO, ETAG_RANDOM)
#: values of the ``version_check`` knob
VERSION_CHECKS = ("rfc3261", "kamailio")
#: values of the ``to_tag_suffix`` knob
TO_TAG_RANDOM = "random"
TO_TAG_CRC = "crc"
TO_TAG_SUFFIXES = (TO_TAG_RANDOM, TO_TAG_CRC)
#: values of the ``initial_state`` knob (RFC 6665 §4.2.1.2)
SUBSCRIPTION_STATES = ("active", "pending")


@dataclass(frozen=True, slots=True)
class ServerProfile:
    """How one simulated presence server answers PUBLISH (RFC 3903 §6).

    Every knob, in the order a PUBLISH meets it:

    ``name``
        Label used in traces and reports.
    ``domains``
        Domains (Request-URI hosts, lower case) the server keeps state for;
        empty means every domain.  Others get 404 (RFC 3903 §6 step 1).
    ``min_expires_in_script``
        When true the Min-Expires check runs *before* everything else, like
        the lab's ``route[PUBLISH_MIN_EXPIRES]`` script check in front of
        ``handle_publish()`` (lab finding f; such a 423 does not advance the
        Kamailio ETag counter).  When false it is RFC 3903 §6 step 4, after
        the ETag look-up.
    ``require_content_length``
        A PUBLISH without a Content-Length header is answered 400 "Bad
        request" (Kamailio ``handle_publish``: ``!msg->content_length``).
    ``publish_events``
        Event packages accepted for PUBLISH, as ``package[;param]`` keys
        (``dialog;sla``); anything else gets 489 (RFC 3903 §6 step 2).  The
        ``id`` parameter is ignored for matching.
    ``allow_events_on_489``
        Put ``Allow-Events: <publish_events>`` into the 489.
    ``etag_style``
        ``"kamailio"``: ``<etag_prefix>.<start>.<pid>.<counter>.<n>`` where
        the counter advances on every PUBLISH and every SUBSCRIBE the module
        handles (one ``pres_counter`` for both, lab x2) and ``n``
        is one more than the last field of the SIP-If-Match (lab a/b/x3);
        ``"random"``: 16 hex digits from the seeded generator, never reused.
    ``etag_prefix``
        First field of Kamailio-style ETags (presence ``pres_prefix``, ``a``).
    ``malformed_etag_status``
        Status for a SIP-If-Match not shaped like a Kamailio ETag (no ``.``,
        or a non-numeric last field): Kamailio answers 500 (lab x3 step 3b).
        ``None``: no shape check, such a tag is simply unknown (412).
    ``multiple_etags_status``
        Status when SIP-If-Match carries more than one entity-tag (repeated
        fields or a comma list): 400 (RFC 3903 §6 step 3).  ``None``: take
        the first field's raw text as Kamailio does.
    ``etag_lookup_late``
        Where the SIP-If-Match check (shape, multiple tags, 412) sits.
        False: RFC 3903 §6 step 3, before Expires and body are looked at.
        True: Kamailio's order, where ``handle_publish`` checks Expires,
        Content-Length and "no ETag and no body" first and
        ``update_presentity`` looks the ETag up last.
    ``default_expires`` / ``event_default_expires``
        Expires used when the request has none (RFC 3903 §6 step 4); the
        per-package table (``((package, seconds), ...)``) overrides the
        default.  Kamailio's presence_xml/dialoginfo/reginfo/mwi use 3600.
    ``max_expires``
        Larger requested values are cut to this (Appendix A: 3600).
    ``min_expires``
        Non-zero requests below it get 423 with ``Min-Expires`` (RFC 3903
        §6 step 4).  0 disables the check: the Kamailio module has none for
        PUBLISH (Appendix A, lab finding f).
    ``bad_expires_status``
        Status for an unparsable Expires (Kamailio: the parse error falls
        through to 500; strict: 400).
    ``content_types``
        ``((package, (mime, ...)), ...)``: body types each package accepts;
        others get 415 with ``Accept`` (RFC 3903 §6 step 5).  Empty: no check.
    ``no_body_reason``
        Reason phrase of the 400 for a PUBLISH with neither SIP-If-Match nor
        body (RFC 3903 §6 step 5 "Invalid Request"; Kamailio's
        ``pu_400b_rpl`` "Invalid request").
    ``expires_offset``
        Subtracted from the granted value in the 2xx Expires (Kamailio
        presence ``expires_offset``, default 0; Appendix A).  The state
        itself lives for the full grant.
    ``remove_reply_etag``
        The 200 to ``Expires: 0`` carries the removed ETag (lab finding c).
    ``clean_period``
        0: state lapses exactly at its expiry (checked at every request and
        by the expiry timer).  > 0 (µs): lapsed state is only dropped at the
        sweep ticks ``k * clean_period`` after start, like a server with a
        periodic clean timer (Kamailio presence ``clean_period``; the lab
        ran 10 s).  Between lapse and sweep the publication still matches;
        whether Kamailio 5.6 really does so was not observed in the lab.
    ``options_reason``
        Reason phrase of the 200 to OPTIONS (the lab script answers
        "Keepalive").
    ``server_header``
        Value of a ``Server`` header in every reply, or ``None``.
    ``version_check``
        What a request or reply with another SIP-Version than ``SIP/2.0``
        meets (:mod:`puasim.sip.version`).  ``"rfc3261"``: a request gets
        505 "Version Not Supported" (RFC 3261 §21.5.6), a reply is
        discarded.  ``"kamailio"``: Kamailio's core parser decides, and what
        it does not take as SIP is dropped without a reply (``receive_msg``
        runs no script for a non-SIP request).
    ``to_tag_suffix``
        How the 8 hex digits after the ``-`` of a server To-tag are made:
        ``"crc"``, Kamailio's sl module: two CRC-16 values over the request's
        top Via and Call-ID, so a retransmission or an identical request gets
        the same tag (:mod:`puasim.server.totag`, lab g2 and a-b-c);
        ``"random"``: from the seeded generator.
    ``reasons``
        ``((status, phrase), ...)`` overriding the RFC 3261 reason phrases
        (Kamailio's 412 is "Conditional request failed").

    SUBSCRIBE/NOTIFY knobs (the notifier, :mod:`puasim.server.notifier`):

    ``subscribe_events``
        Event packages accepted for SUBSCRIBE (``package[;param]`` keys as
        for ``publish_events``); others get 489 with Allow-Events when
        ``allow_events_on_489`` (RFC 6665 §4.2.1.1, §8.2.2).  Expires absent
        → ``default_expires_for(package)`` (RFC 6665 §4.2.1.1 / Appendix A).
    ``subs_min_expires``
        Non-zero requested Expires below it are refused or raised (see the
        next knob; RFC 6665 §4.2.1.1 "423 Interval Too Brief"; Kamailio
        presence ``min_expires``, default 0 = no check).
    ``subs_max_expires``
        Larger requested values are cut to this in the 2xx (RFC 6665
        §4.2.1.1; Kamailio ``max_expires`` 3600).  0: no cap.
    ``subs_min_expires_action``
        1: 423 with ``Min-Expires``; 2: grant ``subs_min_expires`` instead
        (Kamailio ``min_expires_action``, Appendix A).
    ``subscribe_status``
        2xx status of an accepted SUBSCRIBE: 200 (Kamailio
        ``subs_respond_200=1``, lab g; RFC 6665 §8.3.1: MUST NOT send 202) or
        202 (RFC 3265 notifiers, Kamailio ``subs_respond_200=0``).
    ``notifier_contact``
        Contact URI in the 2xx and every NOTIFY (Kamailio ``server_address``);
        ``None``: ``sip:presence@<host>:<port>`` of the server (lab g).
    ``record_route``
        Record-Route values put into every 2xx to SUBSCRIBE in front of any
        the request carried, as if proxies near the server had
        record-routed; the subscriber's route set is their reverse
        (pua-reference §4.7).  Entries should route back to the server
        (``<sip:127.0.0.1:5060;lr>``); the server's own route set for
        NOTIFY is the request's Record-Route (RFC 3261 §12.1.1).
    ``notify_to_drops_port``
        NOTIFY ``To`` is ``<scheme:user@host>`` of the SUBSCRIBE's From: the
        port, parameters and display name dropped as Kamailio stores the
        watcher as user@domain (lab g).  False: the From as sent.
    ``unsubscribe_reason``
        ``reason`` of the ``terminated`` NOTIFY after ``Expires: 0``
        (``None``: no reason parameter).  Kamailio sends ``timeout`` (lab g);
        RFC 6665 §4.2.2 wants a reason on every ``terminated`` and of its
        §4.1.3 values only ``timeout`` fits an unsubscribe (the subscription
        ran out because it was refreshed to zero; it tells the subscriber it
        MAY re-subscribe), so the strict profile sends ``timeout`` too.
    ``initial_state``
        ``"active"`` or ``"pending"`` (RFC 6665 §4.2.1.2): a pending
        subscription gets NOTIFYs ``pending;expires=N`` without body until it
        becomes active ``pending_for`` µs after creation (0: never).
    ``pending_for``
        See ``initial_state``; also settable as ``pending_for_s``.
    ``notify_cseq_start``
        CSeq of the first NOTIFY of a dialog, then +1 per NOTIFY (the lab
        saw 2, 3, ... from Kamailio; the strict profile starts at 1).
    ``notify_on_refresh``
        A body-less refresh PUBLISH triggers a NOTIFY with the full state
        (Kamailio, lab d).  False: only created/modified/removed/expired
        state does (RFC 6665 §4.2.2: NOTIFY on a change of state).
    ``stale_cseq_status``
        Answer to an in-dialog SUBSCRIBE whose CSeq is not above the last
        one: 500 per RFC 3261 §12.2.2; Kamailio answers 400 (presence
        ``get_stored_info``, from the source, not observed in the lab).
    ``merge_presence_bodies``
        The body of a ``presence`` NOTIFY is every live publication of the
        presentity merged as Kamailio's presence_xml merges them by default
        (:mod:`puasim.bodies.pidf_merge`: newest document first, then the
        older ones unless their first tuple id is already there; a merge
        that fails gives a NOTIFY without body).  False: the newest
        publication's body as published.  Other packages always carry the
        newest body unless they have their own knob (Kamailio aggregates
        only where the package module registers an aggregation: dialog, see
        ``aggregate_dialog_bodies``; reg and message-summary have none).
    ``aggregate_dialog_bodies``
        The body of a ``dialog`` NOTIFY is built as Kamailio's
        presence_dialoginfo builds it (:mod:`puasim.bodies.dialoginfo_agg`):
        a new ``dialog-info`` document, ``state="full"``, the presentity as
        entity, the subscription's own version (1 for its first NOTIFY, +1
        per NOTIFY), holding the elements of every live publication of the
        presentity, oldest first, terminated dialogs included; no body
        without publications; a failed aggregation gives a NOTIFY without
        body.  False: the newest publication's body as published.
    ``force_single_dialog``
        presence_dialoginfo's modparam (default 0): with two or more
        publications keep one dialog only, early before confirmed before
        proceeding before trying before terminated.  Only with
        ``aggregate_dialog_bodies``.
    ``force_dummy_dialog``
        presence_dialoginfo's modparam (default 0): a presentity without
        live publications gets a document with one terminated dummy dialog
        instead of a NOTIFY without body.  Only with
        ``aggregate_dialog_bodies``.
    ``notify_terminating_statuses``
        Final answers to a NOTIFY that end the subscription (no further
        NOTIFY): 481 (RFC 6665 §4.2.2 MUST) and 408, the local timeout
        included (§4.2.2 SHOULD); Kamailio's ``p_tm_callback`` also drops
        on 404 (``timeout_rm_subs`` 1).  Other answers keep it.

    Dialog publications and the server's own pace:

    ``replace_dialog_id``
        An initial ``dialog`` PUBLISH (no SIP-If-Match) whose body's
        ``<dialog id=...>`` is also the dialog id of a stored publication of
        the same presentity replaces that publication: Kamailio's presence
        ``update_presentity`` calls ``delete_presentity_if_dialog_id_exists()``
        for new dialog state, so the server keeps one row per dialog (lab
        companions 08 and 13: five initial PUBLISHes of two users leave two
        rows; the older ETags get 412 on refresh).  The dropped publication
        is a ``removed`` state change.  True in the ``kamailio`` profile (the
        lab captures win); False in ``rfc3903``: every initial PUBLISH is a
        publication of its own.
    ``processing_delay``
        µs one worker spends on each message it receives (requests, and
        replies to its NOTIFYs); messages wait in arrival order while the
        worker is busy, and a message changes state and is answered only
        when its turn ends.  0 (default): every message is handled at
        arrival.  The lab's presence server, one SIP worker on SQLite,
        answered each PUBLISH 1-9 ms after the previous one (lab companions
        08 #20-#24), which is what lets a fast 180/200 reach the edge before
        the first PUBLISH is answered.  Also settable as
        ``processing_delay_s``.
    """

    name: str
    domains: tuple[str, ...] = ()
    min_expires_in_script: bool = False
    require_content_length: bool = False
    publish_events: tuple[str, ...] = ("presence",)
    allow_events_on_489: bool = True
    etag_style: str = ETAG_RANDOM
    etag_prefix: str = "a"
    malformed_etag_status: int | None = None
    multiple_etags_status: int | None = 400
    etag_lookup_late: bool = False
    default_expires: int = 3600
    event_default_expires: tuple[tuple[str, int], ...] = ()
    max_expires: int = 3600
    min_expires: int = 0
    bad_expires_status: int = 400
    content_types: tuple[tuple[str, tuple[str, ...]], ...] = ()
    no_body_reason: str = "Invalid Request"
    expires_offset: int = 0
    remove_reply_etag: bool = True
    clean_period: int = 0
    options_reason: str = "OK"
    server_header: str | None = None
    version_check: str = "rfc3261"
    to_tag_suffix: str = TO_TAG_RANDOM
    reasons: tuple[tuple[int, str], ...] = field(default=())
    subscribe_events: tuple[str, ...] = ("presence",)
    subs_min_expires: int = 0
    subs_max_expires: int = 3600
    subs_min_expires_action: int = 1
    subscribe_status: int = 200
    notifier_contact: str | None = None
    record_route: tuple[str, ...] = ()
    notify_to_drops_port: bool = False
    unsubscribe_reason: str | None = "timeout"
    initial_state: str = "active"
    pending_for: int = 0
    notify_cseq_start: int = 1
    notify_on_refresh: bool = False
    stale_cseq_status: int = 500
    merge_presence_bodies: bool = False
    aggregate_dialog_bodies: bool = False
    force_single_dialog: bool = False
    force_dummy_dialog: bool = False
    notify_terminating_statuses: tuple[int, ...] = (408, 481)
    replace_dialog_id: bool = False
    processing_delay: int = 0

    def __post_init__(self) -> None:
        if self.etag_style not in ETAG_STYLES:
            raise ValueError(f"etag_style must be one of {ETAG_STYLES}, not {self.etag_style!r}")
        if self.max_expires < 0 or self.min_expires < 0 or self.default_expires < 0:
            raise ValueError("expires knobs must be >= 0")
        if self.min_expires and self.max_expires and self.min_expires > self.max_expires:
            raise ValueError("min_expires must not exceed max_expires")
        if self.clean_period < 0:
            raise ValueError("clean_period must be >= 0")
        if self.processing_delay < 0:
            raise ValueError("processing_delay must be >= 0")
        if not self.etag_prefix or "." in self.etag_prefix:
            raise ValueError("etag_prefix must be a non-empty string without '.'")
        if self.subs_min_expires < 0 or self.subs_max_expires < 0 or self.pending_for < 0:
            raise ValueError("subs_min_expires, subs_max_expires and pending_for must be >= 0")
        if self.subs_min_expires_action not in (1, 2):
            raise ValueError("subs_min_expires_action must be 1 (423) or 2 (raise)")
        if self.subscribe_status not in (200, 202):
            raise ValueError("subscribe_status must be 200 or 202")
        if self.initial_state not in SUBSCRIPTION_STATES:
            raise ValueError(f"initial_state must be one of {SUBSCRIPTION_STATES}")
        if self.to_tag_suffix not in TO_TAG_SUFFIXES:
            raise ValueError(f"to_tag_suffix must be one of {TO_TAG_SUFFIXES}")
        if self.version_check not in VERSION_CHECKS:
            raise ValueError(f"version_check must be one of {VERSION_CHECKS}")
        if self.notify_cseq_start < 1:
            raise ValueError("notify_cseq_start must be >= 1")

    def default_expires_for(self, event_key: str) -> int:
        """Expires used when the PUBLISH has none (RFC 3903 §6 step 4)."""
        for package, seconds in self.event_default_expires:
            if package == event_key:
                return seconds
        return self.default_expires

    def accepted_types(self, event_key: str) -> tuple[str, ...] | None:
        """Body types the package accepts, or ``None`` when unchecked."""
        if not self.content_types:
            return None
        for package, mimes in self.content_types:
            if package == event_key:
                return mimes
        return ()

    def reason(self, status: int) -> str:
        """Reason phrase for ``status`` (profile override, else RFC 3261 §21)."""
        for code, phrase in self.reasons:
            if code == status:
                return phrase
        return REASON_PHRASES.get(status, "Unknown")


#: RFC 3261 §21 (and RFC 3903 §11.2.1 for 412, RFC 6665 for 489) reason phrases
REASON_PHRASES: dict[int, str] = {
    100: "Trying",
    200: "OK",
    202: "Accepted",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    412: "Conditional Request Failed",
    415: "Unsupported Media Type",
    423: "Interval Too Brief",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    489: "Bad Event",
    500: "Server Internal Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    504: "Server Time-out",
    505: "Version Not Supported",
    603: "Decline",
}

#: pua-reference §2.1 / RFC 3903, RFC 4235, RFC 3680, RFC 3842 body types per package
PACKAGE_CONTENT_TYPES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("presence", ("application/pidf+xml",)),
    ("dialog", ("application/dialog-info+xml",)),
    ("dialog;sla", ("application/dialog-info+xml",)),
    ("reg", ("application/reginfo+xml",)),
    ("message-summary", ("application/simple-message-summary",)),
)

KAMAILIO = ServerProfile(
    name="kamailio",
    min_expires_in_script=True,
    require_content_length=True,
    publish_events=("presence", "dialog", "reg", "message-summary"),
    etag_style=ETAG_KAMAILIO,
    malformed_etag_status=500,
    multiple_etags_status=None,
    etag_lookup_late=True,
    default_expires=3600,
    max_expires=3600,
    min_expires=0,
    bad_expires_status=500,
    no_body_reason="Invalid request",
    expires_offset=0,
    remove_reply_etag=True,
    options_reason="Keepalive",
    version_check="kamailio",
    to_tag_suffix=TO_TAG_CRC,
    replace_dialog_id=True,
    reasons=(
        (400, "Bad request"),
        (412, "Conditional request failed"),
        (481, "Subscription does not exist"),
        (500, "Server Internal Error"),
    ),
    subscribe_events=("presence", "dialog", "reg", "message-summary"),
    subs_min_expires=0,
    subs_max_expires=3600,
    subs_min_expires_action=1,
    subscribe_status=200,
    notify_to_drops_port=True,
    unsubscribe_reason="timeout",
    notify_cseq_start=2,
    notify_on_refresh=True,
    stale_cseq_status=400,
    merge_presence_bodies=True,
    aggregate_dialog_bodies=True,
    notify_terminating_statuses=(404, 408, 481),
)

RFC3903 = ServerProfile(
    name="rfc3903",
    publish_events=("presence", "dialog", "dialog;sla", "reg", "message-summary"),
    etag_style=ETAG_RANDOM,
    malformed_etag_status=None,
    multiple_etags_status=400,
    default_expires=3600,
    max_expires=3600,
    min_expires=60,
    bad_expires_status=400,
    content_types=PACKAGE_CONTENT_TYPES,
    remove_reply_etag=True,
    subscribe_events=("presence", "dialog", "dialog;sla", "reg", "message-summary"),
    subs_min_expires=60,
    subs_max_expires=3600,
    subscribe_status=200,
    notify_to_drops_port=False,
    unsubscribe_reason="timeout",
    notify_cseq_start=1,
    notify_on_refresh=False,
    stale_cseq_status=500,
)

PROFILES: dict[str, ServerProfile] = {p.name: p for p in (KAMAILIO, RFC3903)}

_KNOBS = frozenset(f.name for f in fields(ServerProfile))


def get_profile(profile: str | ServerProfile = "kamailio", **knobs: object) -> ServerProfile:
    """The named profile (or ``profile`` itself) with ``knobs`` replaced.

    Unknown profile names and unknown knobs raise :class:`ValueError` naming
    what exists.  ``clean_period`` and ``pending_for`` may also be given in
    seconds as ``clean_period_s`` / ``pending_for_s``; lists (from scenario
    files) become tuples.
    """
    if isinstance(profile, str):
        try:
            base = PROFILES[profile]
        except KeyError:
            raise ValueError(
                f"unknown server profile {profile!r}; known: {sorted(PROFILES)}"
            ) from None
    else:
        base = profile
    for name in ("clean_period", "pending_for", "processing_delay"):
        if f"{name}_s" in knobs:
            knobs[name] = round(float(knobs.pop(f"{name}_s")) * SECOND)  # type: ignore[arg-type]
    for name, value in list(knobs.items()):
        if isinstance(value, list):
            knobs[name] = tuple(tuple(v) if isinstance(v, list) else v for v in value)
    unknown = set(knobs) - _KNOBS
    if unknown:
        raise ValueError(f"unknown profile knobs {sorted(unknown)}; known: {sorted(_KNOBS)}")
    return replace(base, **knobs) if knobs else base  # type: ignore[arg-type]
