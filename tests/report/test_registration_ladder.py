"""Phones are columns of the ladder like every other node."""

from __future__ import annotations

from pathlib import Path

from puasim.report.frames import from_trace
from puasim.report.ladder import ladder, ladder_columns, ladder_rows
from puasim.scenario import run_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
SCENARIO = SCENARIOS / "registrations" / "two_contacts_flag_mode.yaml"


def test_phone_is_a_ladder_column_with_its_register_arrows() -> None:
    data = from_trace(run_scenario(str(SCENARIO)).trace)
    assert data.nodes() == ["pua", "server", "carol"]
    rows = ladder_rows(data)
    pairs = {(s, d) for s, d in zip(rows["src_node"], rows["dst_node"], strict=True) if isinstance(s, str)}
    assert {("carol", "pua"), ("pua", "carol"), ("pua", "server")} <= pairs
    fig = ladder(data)
    labels = [t.get_text() for ax in fig.axes for t in ax.get_xticklabels()] + [t.get_text() for ax in fig.axes for t in ax.texts]
    assert any("carol" in text for text in labels)


def _column_order(fig: object) -> list[str]:
    """The node names of the header boxes, left to right."""
    boxes = [(t.get_position()[0], t.get_text().partition("\n")[0]) for ax in fig.axes for t in ax.texts  # type: ignore[attr-defined]
             if t.get_position()[1] == 1.2 and t.get_fontweight() == "bold"]
    return [name for _x, name in sorted(boxes)]


def test_phones_are_the_left_columns_then_pua_then_server() -> None:
    data = from_trace(run_scenario(str(SCENARIO)).trace)
    assert ladder_columns(data, ladder_rows(data)) == ["carol", "pua", "server"]
    assert _column_order(ladder(data)) == ["carol", "pua", "server"]


def test_bla_phones_left_of_the_edge_node() -> None:
    """Two BLA phones (REGISTER senders that also get SUBSCRIBEs) come first, in the order met."""
    data = from_trace(run_scenario(str(SCENARIOS / "bla" / "bla_shared_publication.yaml")).trace)
    assert ladder_columns(data, ladder_rows(data)) == ["deskA", "deskB", "pua", "server"]
