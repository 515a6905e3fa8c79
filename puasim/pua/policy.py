"""Client policies of other SIP stacks for the PUBLISH side of the PUA API.

A policy changes *when* and *how* the pua model sends PUBLISH requests, never
the API: publications are still made with ``send_publish`` and the record
store keeps the same records.  Each rule below names the stack's source file
and function it was read from; behaviour not listed stays Kamailio's
(pua-reference §3, §5).

pjsua (pjproject, ``pjsip/src/pjsip-simple/publishc.c`` and
``pjsip/src/pjsua-lib/pjsua_pres.c``):

* refresh timer per publication, armed by the 2xx: ``L - 5`` seconds after
  the reply for a granted ``L > 5`` (``PJSIP_PUBLISHC_DELAY_BEFORE_REFRESH``),
  ``L - 1`` for ``1 < L <= 5`` and 0.5 s below that (``tsx_callback``);
* the Expires header carries the requested lifetime as is (``set_expires``,
  ``pjsip_publishc_publish``), a removal ``Expires: 0``
  (``pjsip_publishc_unpublish``);
* one transaction at a time: a PUBLISH made while one is pending is queued and
  sent after the reply with the newest SIP-If-Match (``pjsip_publishc_send``,
  ``tsx_callback``);
* any 412 makes a new initial PUBLISH with the current body
  (``pjsua_pres.c`` ``publish_cb`` → ``pjsua_pres_init_publish_acc``);
* 423 and every other failure end the publication, nothing is retried
  (``publish_cb``; publishc reads no Min-Expires).

python-sipsimple (``sipsimple/core/_primitives.py`` ``Publication``,
``sipsimple/account/publication.py`` ``Publisher``,
``sipsimple/core/_core.request.pxi`` ``Request``):

* refresh when the request's expire warning fires, ``max(1, L - 30, L / 2)``
  seconds after the 2xx (``Request`` ``expire_warning_time = 30``), with no
  body (``Publisher._NH_SIPPublicationWillExpire`` publishes ``SameState``);
* Expires carries the duration as is, a removal ``Expires: 0``
  (``Publication._make_and_send_request``);
* publish commands are handled one at a time, each waiting for its outcome
  (``Publisher._run`` / ``_CH_publish``), so updates are serialised;
* 412 clears the ETag and the publisher re-publishes the full state at once
  (``Publication._NH_SIPRequestDidFail``, ``_CH_publish`` ``retry_after=0``);
* 423 is retried after a random 60–120 s, asking for Min-Expires when it is
  larger than the configured interval (``_CH_publish``).

Not modelled: authentication (401/407), DNS and route fail-over, sipsimple's
retry of other failures on the next route, pjsua's SUBSCRIBE side (evsub.c);
SUBSCRIBE stays Kamailio's for every policy.
"""

from __future__ import annotations

from dataclasses import dataclass

#: timer key prefix of a policy's per-publication timers
TIMER = "client-publish"


@dataclass(frozen=True, slots=True)
class ClientPolicy:
    """How a stack refreshes and retries its publications (see the module docstring)."""

    name: str
    #: the Expires header is the requested lifetime, not Kamailio's ``E + 1`` (§3.5)
    exact_expires: bool
    #: a 423 is retried after this many seconds (low, high) of the model's seeded RNG; None: never
    retry_423_after: tuple[int, int] | None

    def refresh_delay_ms(self, granted: int) -> int:
        """Milliseconds from a 2xx granting ``granted`` seconds to the refresh."""
        if self.name == "pjsua":  # publishc.c tsx_callback
            if granted > 5:
                return (granted - 5) * 1000
            return (granted - 1) * 1000 if granted > 1 else 500
        return max(1000, (granted - 30) * 1000, granted * 500)  # _core.request.pxi Request


POLICIES = {
    "pjsua": ClientPolicy("pjsua", exact_expires=True, retry_423_after=None),
    "sipsimple": ClientPolicy("sipsimple", exact_expires=True, retry_423_after=(60, 120)),
}
