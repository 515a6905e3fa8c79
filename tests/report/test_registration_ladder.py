"""Phones are columns of the ladder like every other node."""

from __future__ import annotations

from pathlib import Path

from puasim.report.frames import from_trace
from puasim.report.ladder import ladder, ladder_rows
from puasim.scenario import run_scenario

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "registrations" / "two_contacts_flag_mode.yaml"


def test_phone_is_a_ladder_column_with_its_register_arrows() -> None:
    data = from_trace(run_scenario(str(SCENARIO)).trace)
    assert data.nodes() == ["pua", "server", "carol"]
    rows = ladder_rows(data)
    pairs = {(s, d) for s, d in zip(rows["src_node"], rows["dst_node"], strict=True) if isinstance(s, str)}
    assert {("carol", "pua"), ("pua", "carol"), ("pua", "server")} <= pairs
    fig = ladder(data)
    labels = [t.get_text() for ax in fig.axes for t in ax.get_xticklabels()] + [t.get_text() for ax in fig.axes for t in ax.texts]
    assert any("carol" in text for text in labels)
