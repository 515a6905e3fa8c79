"""Content type → reader registry (puasim.bodies.registry)."""

from __future__ import annotations

import pytest

from puasim.bodies import (
    BODY_PARSERS,
    BodyError,
    DialogInfo,
    MessageSummary,
    Pidf,
    Reginfo,
    parse_body,
)

from .test_dialoginfo import RFC4235_EARLY
from .test_mwi import RFC3842_NOTIFY
from .test_pidf import RFC3863_BASIC
from .test_reginfo import RFC3680_EXAMPLE


@pytest.mark.parametrize(
    ("content_type", "body", "kind"),
    [
        ("application/pidf+xml", RFC3863_BASIC, Pidf),
        ("Application/PIDF+XML; charset=UTF-8", RFC3863_BASIC, Pidf),
        ("application/dialog-info+xml", RFC4235_EARLY, DialogInfo),
        ("application/reginfo+xml", RFC3680_EXAMPLE, Reginfo),
        ("application/simple-message-summary", RFC3842_NOTIFY, MessageSummary),
    ],
)
def test_parse_body_dispatches_on_content_type(content_type, body, kind):
    assert isinstance(parse_body(content_type, body), kind)


def test_unknown_content_type():
    with pytest.raises(BodyError, match="no reader"):
        parse_body("application/xcap-diff+xml", b"<x/>")


def test_wrong_body_for_content_type():
    with pytest.raises(BodyError, match="PIDF"):
        parse_body("application/pidf+xml", RFC4235_EARLY)


def test_registry_is_read_only():
    assert set(BODY_PARSERS) == {
        "application/pidf+xml",
        "application/dialog-info+xml",
        "application/reginfo+xml",
        "application/simple-message-summary",
    }
    with pytest.raises(TypeError):
        BODY_PARSERS["text/plain"] = len  # type: ignore[index]
