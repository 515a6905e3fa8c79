"""Transaction timer values (RFC 3261 §17 and Kamailio tm defaults).

All values are integer microseconds.

=========  ==================  =====================================================
Timer      RFC 3261 default    Kamailio tm (5.6) default
=========  ==================  =====================================================
T1         500 ms              500 ms (``retr_timer1``)
T2         4 s                 4 s (``retr_timer2``)
T4         5 s                 5 s
F          64·T1 = 32 s        ``fr_timer`` 30 s; the local reply is ``408`` and is
                               marked FAKED (pua-reference §3.6, §3.8 row 2)
K          T4 (UDP)            T4 ("wait" timer)
J          64·T1 (UDP)         64·T1
A          T1, doubling        T1, doubling (INVITE client, §17.1.1.2)
B          64·T1 = 32 s        ``fr_timer`` 30 s before any provisional reply; once
                               one came, ``fr_inv_timer`` 120 s (``fr_inv`` here;
                               RFC 3261 has no timer in Proceeding)
D          >= 32 s (UDP)       32 s
G          T1, doubling to T2  same (INVITE server, non-2xx and 2xx retransmission)
H          64·T1               64·T1 (no ACK for a non-2xx final)
I          T4 (UDP)            T4
L, M       64·T1 (RFC 6026)    64·T1 (Accepted state, server and client)
=========  ==================  =====================================================

The lab capture ``x1_server_down_retransmit_408`` shows Kamailio retransmitting
a PUBLISH at +0.5, +1.5, +3.5, +7.5 s and then every 4 s up to +27.5 s, with
the local 408 at +30 s: the RFC schedule with ``fr_timer`` in place of F.
"""

from __future__ import annotations

from dataclasses import dataclass

from puasim.effects import MILLISECOND, SECOND


@dataclass(frozen=True, slots=True)
class TimerConfig:
    t1: int = 500 * MILLISECOND
    t2: int = 4 * SECOND
    t4: int = 5 * SECOND
    #: Timer F; ``None`` means 64·T1 (RFC 3261)
    timer_f: int | None = None
    #: Timer J (server non-INVITE, UDP); ``None`` means 64·T1
    timer_j: int | None = None
    #: Timer B (INVITE client in Calling); ``None`` means 64·T1
    timer_b: int | None = None
    #: Kamailio tm's ``fr_inv_timer``: how long an INVITE waits for a final reply
    #: once a provisional came; ``None`` means no limit (RFC 3261 Figure 5)
    fr_inv: int | None = None
    #: Timer D (INVITE client in Completed, UDP): at least 32 s
    timer_d: int = 32 * SECOND

    def __post_init__(self) -> None:
        if self.t1 <= 0 or self.t2 < self.t1 or self.t4 < 0:
            raise ValueError("timer values must satisfy 0 < T1 <= T2 and T4 >= 0")
        if self.timer_f is not None and self.timer_f <= 0:
            raise ValueError("timer F must be positive")
        if self.timer_b is not None and self.timer_b <= 0:
            raise ValueError("timer B must be positive")
        if self.fr_inv is not None and self.fr_inv <= 0:
            raise ValueError("fr_inv must be positive")
        if self.timer_d < 0:
            raise ValueError("timer D must not be negative")

    @property
    def f(self) -> int:
        return self.timer_f if self.timer_f is not None else 64 * self.t1

    @property
    def j(self) -> int:
        return self.timer_j if self.timer_j is not None else 64 * self.t1

    @property
    def k(self) -> int:
        return self.t4

    @property
    def b(self) -> int:
        return self.timer_b if self.timer_b is not None else 64 * self.t1

    @property
    def d(self) -> int:
        return self.timer_d

    @property
    def h(self) -> int:
        return 64 * self.t1

    @property
    def i(self) -> int:
        return self.t4

    @property
    def l(self) -> int:  # noqa: E743  (the RFC's name for it)
        return 64 * self.t1

    @property
    def m(self) -> int:
        return 64 * self.t1


#: RFC 3261 defaults
RFC3261 = TimerConfig()
#: Kamailio tm defaults: ``fr_timer`` 30 s ends a non-INVITE transaction with a local 408
#: (and an INVITE with a local 408 after 30 s without a reply, 120 s after a provisional)
KAMAILIO_TM = TimerConfig(timer_f=30 * SECOND, timer_b=30 * SECOND, fr_inv=120 * SECOND)
