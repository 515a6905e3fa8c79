"""The one exception of the SIP syntax layer.

Malformed SIP raises :class:`SipParseError` and nothing else (design notes,
"Errors and bad input").  It names the rule broken and where: for
:func:`puasim.sip.parse` the offset is a byte offset into the datagram; for the
typed header accessors it is a character offset into the header field value,
and :attr:`SipParseError.header` names the header field.
"""

from __future__ import annotations


class SipParseError(ValueError):
    """Malformed SIP: ``rule`` names the rule broken, ``offset`` where.

    ``header`` is the (canonical) header field name when the fault lies in
    one header field value, else ``None``.
    """

    def __init__(self, rule: str, offset: int = 0, header: str | None = None) -> None:
        super().__init__(rule, offset, header)
        self.rule = rule
        self.offset = offset
        self.header = header

    def __str__(self) -> str:
        where = (
            f"{self.header} header, offset {self.offset}"
            if self.header
            else f"offset {self.offset}"
        )
        return f"{self.rule} ({where})"

    def __reduce__(self):  # keep pickling (multiprocessing sweeps) exact
        return (type(self), (self.rule, self.offset, self.header))
