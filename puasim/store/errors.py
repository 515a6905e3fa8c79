"""Errors of the store layer.

:class:`StoreError` is every database failure (unreachable server, failed
statement, constraint violation, schema mismatch).  Kamailio logs such errors
and carries on; the callers decide what that means (pua-reference §3.9: a DB
transaction failure makes ``send_publish`` return −1; §5.5: a DB-sync run
stops at the first error).

:class:`KamailioCrash` marks the places where the modelled Kamailio process
would crash (pua-reference Appendix C: crash paths are "process terminates"
events).  It lives here, below ``puasim.pua``, so the store never imports the
model; ``puasim.pua.errors`` re-exports it.
"""

from __future__ import annotations


class StoreError(RuntimeError):
    """A database operation failed.

    ``op`` names the operation (``connect``, ``execute``, ``begin`` ...),
    ``integrity`` is true for constraint violations (NOT NULL, UNIQUE), which
    Kamailio reports like any other DB error.
    """

    def __init__(self, message: str, *, op: str = "", integrity: bool = False) -> None:
        super().__init__(message)
        self.op = op
        self.integrity = integrity


class KamailioCrash(RuntimeError):
    """The modelled Kamailio process would crash here (pua-reference Appendix C).

    Raising it inside a simulation ends the run with a ``RunError`` record;
    the trace up to the crash is kept.
    """
