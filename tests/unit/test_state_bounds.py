"""A page's URL with dates off the range every query keeps to: said in words, dates dropped (issue 12)."""
from __future__ import annotations

from datetime import date

import pytest

from dashboard.state import FilterState


@pytest.mark.parametrize("args, problem", [
    ({"from": "0001-01-01", "to": "9999-12-31"}, "the date `from` (0001-01-01) must lie within 2000-01-01 .. 2100-01-01."),
    ({"to": "9999-12-31"}, "the date `to` (9999-12-31) must lie within 2000-01-01 .. 2100-01-01."),
    ({"at": "9999-12-31T23:59:59-05:00"}, "the time `at` must lie within 2000-01-01 .. 2100-01-01."),  # overflows
    ({"at": "0001-01-01T00:00:00"}, "the time `at` must lie within 2000-01-01 .. 2100-01-01."),
])
def test_out_of_range_dates_are_a_problem_and_dropped(args: dict[str, str], problem: str) -> None:
    state = FilterState.from_args(args)
    assert state.problem == problem
    assert state.from_ is None and state.to is None and state.at is None
    state.window()  # the filter bar can still be drawn from the defaults


def test_dates_in_range_are_kept() -> None:
    state = FilterState.from_args({"from": "2000-01-01", "to": "2100-01-01"})
    assert state.problem is None and (state.from_, state.to) == (date(2000, 1, 1), date(2100, 1, 1))
