"""Fixtures of the capture tests: the lab captures beside the repository, tshark."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
#: captures of a real Kamailio 5.6 lab run, copied into the repository so a plain clone tests them
LAB_CAPTURES = REPO / "tests" / "data" / "lab" / "kamailio"


@pytest.fixture(scope="session")
def lab() -> Path:
    if not LAB_CAPTURES.is_dir():
        raise FileNotFoundError(f"the lab captures are missing from the repository: {LAB_CAPTURES}")
    return LAB_CAPTURES


@pytest.fixture(scope="session")
def tshark() -> str:
    path = shutil.which("tshark")
    if path is None:
        pytest.skip("tshark is not installed (Debian package tshark; .ci/run installs it)")
    return path
