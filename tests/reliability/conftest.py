"""``--fuzz-seconds N`` (or ``PUASIM_FUZZ_SECONDS=N``): run the receive fuzz for N seconds."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--fuzz-seconds", type=float, default=None,
        help="run tests/reliability's receive fuzz for this long and print inputs/s and escapes "
             "(default: a bounded CI run of a few seconds)",
    )
