"""Bounded work for every body: a size cap, BodyError for absurd numbers,
linear-time attribute look-ups."""

from __future__ import annotations

import pytest
from lxml import etree

from puasim.bodies import (
    BodyError,
    dialoginfo,
    parse_dialog_info,
    parse_message_summary,
    parse_pidf,
    parse_reginfo,
    process_pidf_tuple_id,
    reginfo,
)
from puasim.bodies.limits import MAX_BODY_BYTES
from puasim.bodies.lookup import attribute_ci

PIDF = b'<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:a@b"><tuple id="t1"><status><basic>open</basic></status></tuple></presence>'
DIALOG = b'<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="1" state="full" entity="sip:a@b"/>'
REG = b'<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" version="1" state="full"/>'
MWI = b"Messages-Waiting: yes\r\nVoice-Message: 1/0\r\n"

READERS = {
    "pidf": (parse_pidf, PIDF),
    "pidf-process": (lambda body: process_pidf_tuple_id(body, None, "x"), PIDF),
    "dialog-info": (parse_dialog_info, DIALOG),
    "dialog-version": (dialoginfo.read_version, DIALOG),
    "dialog-rewrite": (lambda body: dialoginfo.rewrite_version(body, 2), DIALOG),
    "reginfo": (parse_reginfo, REG),
    "reg-version": (reginfo.read_version, REG),
    "reg-rewrite": (lambda body: reginfo.rewrite_version(body, 2), REG),
    "mwi": (parse_message_summary, MWI),
}


def padded(body: bytes, size: int) -> bytes:
    return body + b"\n" * (size - len(body))


@pytest.mark.parametrize("name", READERS)
def test_bodies_up_to_kamailios_buffer_are_read_larger_ones_refused(name):
    read, body = READERS[name]
    read(padded(body, MAX_BODY_BYTES))
    with pytest.raises(BodyError, match=f"larger than {MAX_BODY_BYTES}"):
        read(padded(body, MAX_BODY_BYTES + 1))


HUGE = "9" * 5000


@pytest.mark.parametrize(
    ("read", "body", "words"),
    [
        (parse_dialog_info, DIALOG.replace(b'version="1"', f'version="{HUGE}"'.encode()), "version above"),
        (dialoginfo.read_version, DIALOG.replace(b'version="1"', f'version="{HUGE}"'.encode()), "version above"),
        (dialoginfo.read_version, DIALOG.replace(b'version="1"', b'version="4294967296"'), "version above"),
        (
            parse_dialog_info,
            DIALOG.replace(b"/>", f'><dialog id="d"><state>confirmed</state><duration>{HUGE}</duration></dialog></dialog-info>'.encode()),
            "duration above",
        ),
        (parse_reginfo, REG.replace(b'version="1"', f'version="{HUGE}"'.encode()), "version above"),
        (reginfo.read_version, REG.replace(b'version="1"', f'version="0{HUGE}"'.encode()), "version above"),
        (
            parse_reginfo,
            REG.replace(
                b"/>",
                f'><registration aor="sip:a@b" id="r" state="active"><contact id="c" state="active" event="registered" expires="-{HUGE}">'
                "<uri>sip:a@c</uri></contact></registration></reginfo>".encode(),
            ),
            "expires above",
        ),
        (parse_message_summary, MWI.replace(b"1/0", f"{HUGE}/0".encode()), "count above"),
        (parse_message_summary, MWI.replace(b"1/0", f"1/0 (0/{HUGE})".encode()), "count above"),
    ],
)
def test_absurd_numbers_are_body_errors(read, body, words):
    with pytest.raises(BodyError, match=words) as info:
        read(body)
    assert type(info.value) is BodyError


def test_leading_zeros_do_not_count_against_the_bound():
    assert dialoginfo.read_version(DIALOG.replace(b'version="1"', b'version="' + b"0" * 100 + b'7"')) == 7


class CountingElement:
    """An element whose attribute API charges what libxml2/lxml charge:
    ``keys()`` and ``get()`` walk the attribute list once (n steps), while
    ``items()``/``values()`` look each value up by name again (n² steps)."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.steps = 0

    def keys(self) -> list[str]:
        self.steps += len(self.names)
        return list(self.names)

    def get(self, key: str, default: str | None = None) -> str | None:
        for name in self.names:
            self.steps += 1
            if name == key:
                return f"value of {name}"
        return default

    def items(self) -> list[tuple[str, str]]:
        return [(name, self.get(name) or "") for name in self.keys()]

    def values(self) -> list[str]:
        return [value for _, value in self.items()]

    @property
    def attrib(self) -> CountingElement:
        return self


@pytest.mark.parametrize("count", [1_000, 3_000])
def test_attribute_look_up_walks_the_attributes_a_bounded_number_of_times(count):
    element = CountingElement([f"a{i}" for i in range(count)] + ["{urn:x}ID"])
    assert attribute_ci(element, "id") == "value of {urn:x}ID"  # type: ignore[arg-type]
    assert element.steps <= 3 * (count + 1)


def test_attribute_look_up_on_real_elements():
    attrs = " ".join(f'a{i}="v"' for i in range(20_000))
    element = etree.fromstring(f'<tuple xmlns:p="urn:x" {attrs} p:ID="found" Id="second"/>'.encode())
    assert attribute_ci(element, "id") == "found"
    assert attribute_ci(element, "ID") == "found"
    assert attribute_ci(element, "missing") is None


def test_message_summary_folding_keeps_its_meaning():
    body = b"Messages-Waiting: yes\r\n\r\nSubject: a  \r\n  b\r\n\tc \r\nTo: x\r\n"
    summary = parse_message_summary(body)
    assert summary.message_headers == ((("Subject", "a b c"), ("To", "x")),)
