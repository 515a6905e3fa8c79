"""Header unfolding (RFC 3261 §7.3.1) is linear in the size of the header section."""

from __future__ import annotations

import time

from hypothesis import given
from hypothesis import strategies as st

from puasim.sip import parse
from puasim.sip.parser import _unfold


def folded(lines: int) -> bytes:
    cont = "".join("\r\n " + "x" * 60 for _ in range(lines))
    return (f"OPTIONS sip:a@b SIP/2.0\r\nSubject: s{cont}\r\nContent-Length: 0\r\n\r\n").encode()


def best_time(data: bytes, rounds: int = 5) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        parse(data)
        best = min(best, time.perf_counter() - started)
    return best


def test_long_folded_header_is_joined_in_linear_time():
    # Sixteen times the continuation lines: linear work takes ~16 times as long,
    # re-copying the field per line (quadratic) ~256 times.  A bound of 64
    # leaves a busy machine four times the linear cost (a bound of 24 on an
    # 8x step was once exceeded on a loaded machine) and still stops
    # quadratic work.
    small, large = folded(2_000), folded(32_000)
    msg = parse(large)
    assert len(msg.get("subject") or "") == 1 + 32_000 * 61
    ratio = best_time(large) / best_time(small)
    assert ratio < 64, f"unfolding 16x the lines took {ratio:.1f}x as long"


def reference_unfold(lines: list[str]) -> list[tuple[int, str]]:
    """The definition: replace the field by ``field.rstrip() + " " + piece.strip()`` per line."""
    out: list[tuple[int, str]] = []
    for idx in range(1, len(lines)):
        line = lines[idx]
        if line[:1] in (" ", "\t") and out:
            first, prev = out[-1]
            out[-1] = (first, prev.rstrip(" \t") + " " + line.strip(" \t"))
        else:
            out.append((idx, line))
    return out


piece = st.text(alphabet=" \tab:", max_size=6)


continuation = st.tuples(st.sampled_from([" ", "\t"]), piece)


@given(st.lists(st.tuples(st.sampled_from(["X:", "Y: v ", "Z:\t"]), st.lists(continuation, max_size=4)), max_size=5))
def test_unfold_matches_its_definition(fields):
    lines = ["OPTIONS sip:a@b SIP/2.0"]
    for head, continuations in fields:
        lines.append(head)
        lines.extend(lead + text for lead, text in continuations)
    assert _unfold(lines, b"", 0) == reference_unfold(lines)
