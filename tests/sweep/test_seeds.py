from __future__ import annotations

import pytest

from puasim.sweep.seeds import parse_seeds


@pytest.mark.parametrize(("text", "seeds"), [
    ("1-5", (1, 2, 3, 4, 5)), ("3", (3,)), ("1,4,9", (1, 4, 9)), ("1-3,9", (1, 2, 3, 9)), ("2,2,1", (2, 1)),
    (7, (7,)), ([1, 3], (1, 3)),
])
def test_ranges_and_lists(text, seeds):
    assert parse_seeds(text) == seeds


@pytest.mark.parametrize(("text", "problem"), [
    ("5-1", "runs backwards"), ("a-b", "expected seeds"), ("1,,2", "empty item"), ("", "empty item"),
    (True, "expected seeds"), ([1, "x"], "must be integers"), ("1-99999999", "more than"), ([], "no seeds"),
])
def test_bad_seeds_say_why(text, problem):
    with pytest.raises(ValueError, match=problem):
        parse_seeds(text)
