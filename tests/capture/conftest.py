"""Fixtures of the capture tests: the lab captures beside the repository, tshark."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from puasim.capture import export_pcap
from puasim.capture.check import check_capture
from puasim.capture.compare import CheckReport
from puasim.scenario.runner import load_scenario, run_scenario

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


def check_scenario(tmp_path: Path, rel: str, **params: int) -> CheckReport:
    """``puasim check`` on the pcap of the scenario file ``rel`` (under scenarios/), with ``params``."""
    scn = load_scenario(REPO / "scenarios" / rel)
    out = tmp_path / "c.pcap"
    export_pcap(run_scenario(scn).trace, out)
    return check_capture(out, pua_address=scn.pua_address, params=params)
