"""Content type → body reader (RFC 3863, RFC 4235, RFC 3680, RFC 3842).

The registry is a read-only mapping built at import time; the readers are
the ``parse_*`` functions of this package.  Content types are compared
case-insensitively and without parameters (RFC 3261 §20.15, RFC 2045 §5.1):
``application/PIDF+xml; charset=UTF-8`` finds the PIDF reader.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from .dialoginfo import DialogInfo, parse_dialog_info
from .errors import BodyError
from .mwi import MessageSummary, parse_message_summary
from .pidf import Pidf, parse_pidf
from .reginfo import Reginfo, parse_reginfo

__all__ = ["BODY_PARSERS", "Body", "media_type", "parse_body"]

Body = Pidf | DialogInfo | Reginfo | MessageSummary

BODY_PARSERS: Mapping[str, Callable[[bytes], Body]] = MappingProxyType(
    {
        "application/pidf+xml": parse_pidf,
        "application/dialog-info+xml": parse_dialog_info,
        "application/reginfo+xml": parse_reginfo,
        "application/simple-message-summary": parse_message_summary,
    }
)


def media_type(content_type: str) -> str:
    """``type/subtype`` of a Content-Type value, lower-case, parameters dropped."""
    return content_type.split(";", 1)[0].strip().lower()


def parse_body(content_type: str, data: bytes) -> Body:
    """Read ``data`` with the reader registered for ``content_type``.

    :raises BodyError: no reader for that content type, or the reader's own
        errors.
    """
    reader = BODY_PARSERS.get(media_type(content_type))
    if reader is None:
        raise BodyError(
            "body",
            f"no reader for content type {content_type!r} (known: {', '.join(BODY_PARSERS)})",
        )
    return reader(data)
