"""The one exception of the ``bodies`` layer.

Every reader in :mod:`puasim.bodies` turns bad input into :class:`BodyError`
and nothing else (DESIGN.md, "Errors and bad input").  A body processor of the
PUA model treats it as Kamailio's processor result −1: the PUBLISH is not sent
(pua-reference §2.7, §3.4).
"""

from __future__ import annotations

__all__ = ["BodyError"]


class BodyError(ValueError):
    """A body that cannot be read, built or processed.

    :param what: the body kind, e.g. ``"PIDF"``, ``"dialog-info"``.
    :param reason: what was wrong, in a few words.
    :param line: the 1-based line of the input the problem was found on, when
        known (lxml reports it for XML syntax errors).
    :param column: the column on that line, when known.
    """

    def __init__(
        self, what: str, reason: str, *, line: int | None = None, column: int | None = None
    ) -> None:
        self.what = what
        self.reason = reason
        self.line = line
        self.column = column
        where = ""
        if line is not None:
            where = f" (line {line}" + (f", column {column}" if column is not None else "") + ")"
        super().__init__(f"{what} body: {reason}{where}")

    def __reduce__(self):  # keep pickling (used by multiprocessing sweeps) working
        return (_rebuild, (self.what, self.reason, self.line, self.column))


def _rebuild(what: str, reason: str, line: int | None, column: int | None) -> BodyError:
    return BodyError(what, reason, line=line, column=column)
