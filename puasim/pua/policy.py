"""Client policies of other SIP stacks for the PUBLISH and SUBSCRIBE sides of the PUA API.

A policy changes *when* and *how* the pua model sends PUBLISH and SUBSCRIBE
requests, never the API: publications and subscriptions are still made with
``send_publish`` / ``send_subscribe`` and the record store keeps the same
records.  Each rule below names the stack's source file
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

SUBSCRIBE side, pjsua (``pjsip/src/pjsip-simple/evsub.c``,
``pjsip/src/pjsip-simple/presence.c``, ``pjsip/src/pjsua-lib/pjsua_pres.c``,
constants in ``pjsip/include/pjsip/sip_config.h`` and ``pjsua.h``):

* Expires asked: the caller's value as is, the package default 600 s when
  none is given (``presence.c`` registers ``PRES_DEFAULT_EXPIRES`` =
  ``PJSIP_PRES_DEFAULT_EXPIRES``; ``subscribe_buddy`` passes
  ``PJSIP_EXPIRES_NOT_SPECIFIED``); an unsubscribe ``Expires: 0``
  (``unsubscribe_buddy``);
* refresh timer per subscription, armed by every 2xx: ``L - 5`` s after a
  2xx granting ``L > 5`` (``PJSIP_EVSUB_TIME_UAC_REFRESH``), then, when that is
  above 10 s, 1–10 s earlier at random (``evsub.c`` ``on_tsx_state_uac``);
  the refresh asks for the granted ``L`` again (``sub->expires`` takes the
  2xx's Expires; ``on_timer`` ``TIMER_TYPE_UAC_REFRESH``);
* a NOTIFY ``active`` or ``pending`` with an ``expires`` parameter restarts
  that timer at ``expires - 5`` s, with no random lead (``on_tsx_state_uac``,
  the NOTIFY branch);
* every final error to a SUBSCRIBE — 408 time-out, 412, 423, 481 and the
  rest, initial or refresh — terminates the subscription, Min-Expires is
  never read (``on_tsx_state_uac``: "Just terminate now!"; only 401/407 and
  490 are handled apart);
* after a termination pjsua subscribes again with a new dialog
  (``pjsua_evsub_on_state``): 0.5 s after a 481 to a refresh, or after a
  NOTIFY ``terminated`` with reason ``deactivated`` or ``timeout``; after
  ``retry-after`` for reason ``probation`` or ``giveup``; otherwise after
  ``PJSUA_PRES_TIMER`` (300 s) ± 2.5 s at random; never after the
  application unsubscribed (``pjsua_buddy_update_pres`` sees ``monitor``
  off).

SUBSCRIBE side, python-sipsimple (``sipsimple/core/_core.subscription.pxi``
``Subscription``, ``sipsimple/account/subscription.py`` ``Subscriber``,
``sipsimple/account/__init__.py``):

* Expires asked: the refresh interval, ``subscribe_interval`` = 3600 s by
  default (``SIPSettings.subscribe_interval``;
  ``Subscriber._subscription_handler``), the same on every refresh
  (``Subscription._cb_refresh_timer`` sends ``self.refresh``);
* refresh ``max(1, L - 30, L / 2)`` s after a 2xx granting ``L``
  (``Subscription._cb_got_response``, ``expire_warning_time = 30``);
* an initial SUBSCRIBE that fails is retried with a new dialog
  (``Subscriber._subscription_handler``): 423 after 60–120 s asking for
  Min-Expires when larger than the interval, which the new subscription
  keeps as its refresh interval; 405, 406, 489 after 3600 s;
  407 after 60–120 s; any other code, 408 time-out included, moves on to the
  next route and, with none left, after 60–180 s;
* once subscribed, any failure of a refresh and any end the notifier
  announces (NOTIFY ``terminated``) re-subscribes at once
  (``SIPSubscriptionDidFail`` / ``SIPSubscriptionDidEnd`` →
  ``Command('subscribe')``); ending the subscription locally does not.

Records keep the PUA API's ``desired_expires`` under every policy: a stack
refreshes a subscription only while it is indefinite (expires −1) or its
desired end is later than the granted one, and a finite one asks for its
remaining lifetime.  Not modelled: authentication (401/407), DNS and route
fail-over (one route), sipsimple's 5-second SUBSCRIBE time-out, pjsua's
490 handling.
"""

from __future__ import annotations

import random
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

    #: Expires a SUBSCRIBE asks for when the caller gives none (expires −1)
    subscribe_default_expires: int = 3600

    def subscribe_refresh_delay_ms(self, granted: int, rng: random.Random) -> int:
        """Milliseconds from a 2xx granting ``granted`` seconds to the SUBSCRIBE refresh."""
        if self.name == "pjsua":  # evsub.c on_tsx_state_uac
            timeout = granted - 5 if granted > 5 else granted
            if timeout > 10:
                timeout += -10 + rng.randrange(10)
            return max(timeout, 0) * 1000
        return max(1, granted - 30, granted // 2) * 1000  # _core.subscription.pxi _cb_got_response

    def refresh_delay_ms(self, granted: int) -> int:
        """Milliseconds from a 2xx granting ``granted`` seconds to the refresh."""
        if self.name == "pjsua":  # publishc.c tsx_callback
            if granted > 5:
                return (granted - 5) * 1000
            return (granted - 1) * 1000 if granted > 1 else 500
        return max(1000, (granted - 30) * 1000, granted * 500)  # _core.request.pxi Request


POLICIES = {
    "pjsua": ClientPolicy("pjsua", exact_expires=True, retry_423_after=None, subscribe_default_expires=600),
    "sipsimple": ClientPolicy("sipsimple", exact_expires=True, retry_423_after=(60, 120), subscribe_default_expires=3600),
}
