"""Message summaries (RFC 3842 §5, ``application/simple-message-summary``).

A text body, not XML.  pua passes it through byte-identical
(pua-reference §3.4.3), so this module is for the models that build and read
it.  The grammar (RFC 3842 §5.2)::

    message-summary = msg-status-line CRLF [msg-account CRLF]
                      [*(msg-summary-line CRLF)] [*opt-msg-headers]
    msg-status-line = "Messages-Waiting" HCOLON ("yes" / "no")
    msg-account     = "Message-Account" HCOLON Account-URI
    msg-summary-line = message-context-class HCOLON newmsgs SLASH oldmsgs
                       [LPAREN new-urgentmsgs SLASH old-urgentmsgs RPAREN]
    opt-msg-headers = CRLF 1*(extension-header CRLF)

Reading is strict about that shape and lenient about line endings (bare LF is
accepted; CRLF is written) and about letter case of names and yes/no.
Message-context classes are those of RFC 3458 (``voice-message``,
``fax-message``, ``pager-message``, ``multimedia-message``, ``text-message``,
``none``); they are kept lower-case.  Header blocks after the summary (one
per message, each after an empty line) are kept as ``(name, value)`` pairs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .errors import BodyError
from .limits import MAX_UINT32, check_body_size, read_integer

__all__ = [
    "MESSAGE_CLASSES",
    "Counts",
    "MessageSummary",
    "build_message_summary",
    "parse_message_summary",
]

WHAT = "message-summary"
#: RFC 3842 §5.2 ``message-context-class`` (RFC 3458)
MESSAGE_CLASSES = (
    "voice-message",
    "fax-message",
    "pager-message",
    "multimedia-message",
    "text-message",
    "none",
)
#: RFC 3842 §5.2: a msgcount "MUST NOT exceed 2^32-1"
MAX_COUNT = MAX_UINT32

#: (new, old) or (new, old, urgent new, urgent old)
Counts = tuple[int, int] | tuple[int, int, int, int]
Headers = tuple[tuple[str, str], ...]

_TOKEN = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
_HEADER_LINE = re.compile(r"([^:\s]+)[ \t]*:[ \t]*(.*)")
_COUNTS = re.compile(r"(\d+)[ \t]*/[ \t]*(\d+)(?:[ \t]*\([ \t]*(\d+)[ \t]*/[ \t]*(\d+)[ \t]*\))?")


def _class_header(name: str) -> str:
    return "-".join(part.capitalize() for part in name.split("-"))


def _valid_counts(value: object) -> bool:
    return (
        isinstance(value, tuple)
        and len(value) in (2, 4)
        and all(
            isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= MAX_COUNT for n in value
        )
    )


@dataclass(frozen=True, slots=True)
class MessageSummary:
    """One message-summary body.

    ``counts`` maps a message-context class (any letter case on input, kept
    lower-case) to ``(new, old)`` or ``(new, old, urgent_new, urgent_old)``,
    in the order the lines are written.  ``message_headers`` holds the
    optional per-message header blocks.
    """

    messages_waiting: bool
    account: str | None = None
    counts: dict[str, Counts] = field(default_factory=dict)
    message_headers: tuple[Headers, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.messages_waiting, bool):
            raise TypeError("messages_waiting must be a bool")
        if self.account is not None and (
            not isinstance(self.account, str)
            or not self.account
            or self.account != self.account.strip()
            or "\n" in self.account
            or "\r" in self.account
        ):
            raise ValueError(f"account must be a URI on one line: {self.account!r}")
        counts: dict[str, Counts] = {}
        for name, value in dict(self.counts).items():
            key = name.lower() if isinstance(name, str) else name
            if key not in MESSAGE_CLASSES:
                raise ValueError(f"unknown message-context class {name!r}")
            if key in counts:
                raise ValueError(f"message-context class {name!r} given twice")
            normalised = tuple(value) if isinstance(value, list | tuple) else value
            if not _valid_counts(normalised):
                raise ValueError(f"counts for {name!r} must be 2 or 4 ints in 0..2^32-1: {value!r}")
            counts[key] = normalised  # type: ignore[assignment]  # shape checked above
        object.__setattr__(self, "counts", counts)
        blocks: list[Headers] = []
        for block in self.message_headers:
            pairs = tuple(tuple(pair) for pair in block)
            if not pairs:
                raise ValueError("a message header block must hold at least one header")
            for pair in pairs:
                if (
                    len(pair) != 2
                    or not _TOKEN.fullmatch(str(pair[0]))
                    or not isinstance(pair[1], str)
                    or "\n" in pair[1]
                    or "\r" in pair[1]
                    or pair[1] != pair[1].strip()
                ):
                    raise ValueError(f"bad message header {pair!r}")
            blocks.append(pairs)  # type: ignore[arg-type]
        object.__setattr__(self, "message_headers", tuple(blocks))


def build_message_summary(summary: MessageSummary) -> bytes:
    """Write the body with CRLF line ends (RFC 3842 §5.2), UTF-8."""
    lines = [f"Messages-Waiting: {'yes' if summary.messages_waiting else 'no'}"]
    if summary.account is not None:
        lines.append(f"Message-Account: {summary.account}")
    for name, value in summary.counts.items():
        text = f"{value[0]}/{value[1]}"
        if len(value) == 4:
            text += f" ({value[2]}/{value[3]})"
        lines.append(f"{_class_header(name)}: {text}")
    for block in summary.message_headers:
        lines.append("")
        lines.extend(f"{name}: {value}" for name, value in block)
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def _lines(data: bytes) -> list[str]:
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError as exc:
        line = bytes(data)[: exc.start].count(b"\n") + 1
        raise BodyError(WHAT, "not UTF-8 text", line=line) from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final line end
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def _header(line: str, number: int, *, expected: str) -> tuple[str, str]:
    match = _HEADER_LINE.fullmatch(line)
    if match is None or not _TOKEN.fullmatch(match.group(1)):
        raise BodyError(
            WHAT, f"expected a {expected} line 'name: value', got {line!r}", line=number
        )
    return match.group(1), match.group(2).strip()


def _join(pieces: list[str]) -> str:
    """A header value and its continuation pieces: one SP between non-empty
    pieces, stripped once there was a continuation (as appending ``" " +
    piece`` and stripping per line would give)."""
    if len(pieces) == 1:
        return pieces[0]
    return " ".join([pieces[0], *(p for p in pieces[1:] if p)]).strip()


def parse_message_summary(data: bytes) -> MessageSummary:
    """Read a message-summary body.

    :raises BodyError: naming the line for: not UTF-8, no ``Messages-Waiting``
        status line first, a status other than yes/no, a misplaced
        ``Message-Account``, an unknown class, bad or too large counts, a
        class given twice, a malformed header line.
    """
    if isinstance(data, str) or not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"{WHAT} body must be bytes, not {type(data).__name__}")
    check_body_size(data, WHAT)
    lines = _lines(data)
    if not lines or not lines[0].strip():
        raise BodyError(WHAT, "empty body: the Messages-Waiting line is mandatory", line=1)
    name, value = _header(lines[0], 1, expected="Messages-Waiting")
    if name.lower() != "messages-waiting":
        raise BodyError(WHAT, f"first line must be Messages-Waiting, not {name!r}", line=1)
    if value.lower() not in ("yes", "no"):
        raise BodyError(WHAT, f"Messages-Waiting must be yes or no, not {value!r}", line=1)
    waiting = value.lower() == "yes"
    account: str | None = None
    counts: dict[str, Counts] = {}
    index = 1
    while index < len(lines) and lines[index].strip():
        number = index + 1
        name, value = _header(lines[index], number, expected="summary")
        key = name.lower()
        if key == "message-account":
            if index != 1:
                raise BodyError(WHAT, "Message-Account must follow Messages-Waiting", line=number)
            if not value:
                raise BodyError(WHAT, "Message-Account without a URI", line=number)
            account = value
        elif key == "messages-waiting":
            raise BodyError(WHAT, "Messages-Waiting given twice", line=number)
        elif key not in MESSAGE_CLASSES:
            raise BodyError(WHAT, f"unknown message-context class {name!r}", line=number)
        elif key in counts:
            raise BodyError(WHAT, f"{name} given twice", line=number)
        else:
            match = _COUNTS.fullmatch(value)
            if match is None:
                raise BodyError(
                    WHAT,
                    f"bad counts {value!r}: expected new/old [(urgent-new/urgent-old)]",
                    line=number,
                )
            numbers = tuple(
                read_integer(group, what=WHAT, name="count", line=number)
                for group in match.groups()
                if group is not None
            )
            counts[key] = numbers  # type: ignore[assignment]
        index += 1
    blocks: list[Headers] = []
    # (name, pieces of the value): continuation pieces are joined once per
    # header, so many continuation lines cost linear time
    current: list[tuple[str, list[str]]] = []

    def close_block() -> None:
        blocks.append(tuple((name, _join(pieces)) for name, pieces in current))
        current.clear()

    for number, line in enumerate(lines[index:], start=index + 1):
        if not line.strip():
            if current:
                close_block()
        elif line[0] in " \t":
            if not current:
                raise BodyError(WHAT, "continuation line without a header", line=number)
            current[-1][1].append(line.strip())
        else:
            name, value = _header(line, number, expected="message header")
            current.append((name, [value]))
    if current:
        close_block()
    try:
        return MessageSummary(waiting, account, counts, tuple(blocks))
    except ValueError as exc:  # defensive: the checks above should have caught it
        raise BodyError(WHAT, str(exc)) from None
