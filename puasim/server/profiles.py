"""Behaviour profiles of the simulated presence servers, as data.

A :class:`ServerProfile` is a frozen bag of knobs; the compositor
(:mod:`puasim.server.compositor`) and the endpoint
(:mod:`puasim.server.endpoint`) read them and contain no per-server ``if``.
Two named profiles ship in :data:`PROFILES`:

``kamailio``
    The Kamailio 5.6 ``presence`` module as the lab saw it
    (``/work/shared/lab/kamailio/README.md`` FINDINGS a-f, x3) and as
    pua-reference Appendix A describes it: ETags
    ``a.<start>.<pid>.<counter>.<n>``; Expires capped at ``max_expires``
    3600, no minimum for PUBLISH (no 423); 412 "Conditional request failed"
    for an unknown ETag, but 500 for an ETag not shaped like Kamailio's
    (the last ``.``-field is parsed as a number before the look-up); 400
    "Invalid request" for a PUBLISH with neither SIP-If-Match nor body;
    489 "Bad Event" with Allow-Events; an unparsable Expires gives 500;
    the 200 to ``Expires: 0`` echoes the removed ETag.  Event packages are
    those of the lab server (presence_xml, presence_dialoginfo,
    presence_reginfo, presence_mwi): ``presence``, ``dialog``, ``reg``,
    ``message-summary``.

``rfc3903``
    A strict RFC 3903 §6 event state compositor: random hexadecimal ETags,
    a new one for every successful publication (§6 step 6); a 423 with
    Min-Expires below 60 s (§6 step 4); 412 for any unknown ETag (§6 step 3),
    400 for more than one entity-tag (§6 step 3) or an unparsable Expires;
    415 with Accept for a body type the package does not define (§6 step 5);
    400 for an initial PUBLISH without body (§6 step 5).

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
        the counter advances on every PUBLISH the module handles and ``n``
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
    ``reasons``
        ``((status, phrase), ...)`` overriding the RFC 3261 reason phrases
        (Kamailio's 412 is "Conditional request failed").
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
    reasons: tuple[tuple[int, str], ...] = field(default=())

    def __post_init__(self) -> None:
        if self.etag_style not in ETAG_STYLES:
            raise ValueError(f"etag_style must be one of {ETAG_STYLES}, not {self.etag_style!r}")
        if self.max_expires < 0 or self.min_expires < 0 or self.default_expires < 0:
            raise ValueError("expires knobs must be >= 0")
        if self.min_expires and self.max_expires and self.min_expires > self.max_expires:
            raise ValueError("min_expires must not exceed max_expires")
        if self.clean_period < 0:
            raise ValueError("clean_period must be >= 0")
        if not self.etag_prefix or "." in self.etag_prefix:
            raise ValueError("etag_prefix must be a non-empty string without '.'")

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
    reasons=(
        (400, "Bad request"),
        (412, "Conditional request failed"),
        (500, "Server Internal Error"),
    ),
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
)

PROFILES: dict[str, ServerProfile] = {p.name: p for p in (KAMAILIO, RFC3903)}

_KNOBS = frozenset(f.name for f in fields(ServerProfile))


def get_profile(profile: str | ServerProfile = "kamailio", **knobs: object) -> ServerProfile:
    """The named profile (or ``profile`` itself) with ``knobs`` replaced.

    Unknown profile names and unknown knobs raise :class:`ValueError` naming
    what exists.  ``clean_period`` may also be given in whole seconds as
    ``clean_period_s``.
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
    if "clean_period_s" in knobs:
        knobs["clean_period"] = int(knobs.pop("clean_period_s")) * SECOND  # type: ignore[call-overload]
    unknown = set(knobs) - _KNOBS
    if unknown:
        raise ValueError(f"unknown profile knobs {sorted(unknown)}; known: {sorted(_KNOBS)}")
    return replace(base, **knobs) if knobs else base  # type: ignore[arg-type]
