"""Fixtures of the capture tests: the lab captures beside the repository, tshark."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
#: the shared folder sits beside the repository (../shared)
LAB_CAPTURES = REPO.parent / "shared" / "lab" / "kamailio" / "captures"


@pytest.fixture(scope="session")
def lab() -> Path:
    if not LAB_CAPTURES.is_dir():
        pytest.skip(f"the lab captures are not there ({LAB_CAPTURES}: the shared folder beside the repository is absent)")
    return LAB_CAPTURES


@pytest.fixture(scope="session")
def tshark() -> str:
    path = shutil.which("tshark")
    if path is None:
        pytest.skip("tshark is not installed (Debian package tshark; .ci/run installs it)")
    return path
