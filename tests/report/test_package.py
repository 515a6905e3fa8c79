"""The report package's names are imported on first use, and its pandas-free modules stay so."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import puasim.report

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", puasim.report.__all__)
def test_every_exported_name_resolves(name: str) -> None:
    assert getattr(puasim.report, name) is not None


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_thing"):
        puasim.report.no_such_thing  # noqa: B018


def test_the_running_metrics_and_lamp_rows_import_no_pandas() -> None:
    code = ("import sys, puasim.report.running, puasim.report.lamprows, puasim.report.causes, "
            "puasim.scenario.stats; print('pandas' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120,
                         env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert out.stdout.strip() == "False"
