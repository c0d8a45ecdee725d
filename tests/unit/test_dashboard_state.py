"""Filter state from the URL and the way figures are written: no browser needed."""
from __future__ import annotations

from datetime import date, datetime, timezone

from dashboard.formatting import format_change, format_value
from dashboard.state import FilterState


def test_url_values_become_filters_and_repeat_means_either() -> None:
    state = FilterState.from_args({"icb": "qwo", "hwb": ["E08000035", "E08000032"], "pathway": "1,2",
                                   "from": "2024-01-01", "to": "2024-01-08", "at": "2024-01-07T12:00", "theme": "dark"})
    assert state.icb == ("QWO",)
    assert state.hwb == ("E08000035", "E08000032")
    assert state.pathway == ("1", "2")
    assert state.window() == (date(2024, 1, 1), date(2024, 1, 8))
    assert state.at == datetime(2024, 1, 7, 12, 0, tzinfo=timezone.utc)  # London is on GMT in January
    assert state.extra == {"theme": "dark"}
    # filters apply only to the dimensions a metric has
    assert state.where(("icb", "hwb")) == {"icb": ("QWO",), "hwb": ("E08000035", "E08000032")}


def test_round_trip_through_the_query_string() -> None:
    state = FilterState.from_args({"icb": "QWO", "place": "E08000035", "from": "2024-03-01", "to": "2024-04-01"})
    from urllib.parse import parse_qs

    again = FilterState.from_args({k: v if len(v) > 1 else v[0] for k, v in parse_qs(state.to_query_string()).items()})
    assert again == state


def test_default_window_is_28_days_ending_today_of_at() -> None:
    state = FilterState.from_args({"at": "2024-06-30T23:30:00+01:00"})
    assert state.window() == (date(2024, 6, 3), date(2024, 7, 1))
    assert FilterState.from_args({"at": "2024-06-30T12:00"}, default_days=182).window()[0] == date(2024, 1, 1)


def test_figures_are_written_with_separators_one_decimal_days_and_percent() -> None:
    assert format_value(12345, "people") == "12,345"
    assert format_value(3.25, "days") == "3.2" or format_value(3.25, "days") == "3.3"
    assert format_value(0.8734, "rate") == "87.3%"
    assert format_value(None, "people") == "no data"
    assert format_change(-3, "people") == "−3"
    assert format_change(0.021, "rate") == "+2.1 pts"
    assert format_change(0, "people") == "no change"
