"""Filter state from the URL and the way figures are written: no browser needed."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

from dashboard.state import FilterState
from models.formatting import format_change, format_value
from models.periods import LONDON


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


def _result(periods: list[str], window: tuple[date, date]) -> object:
    from types import SimpleNamespace

    return SimpleNamespace(rows=[{"period": p, "value": 1} for p in periods], window=window)


def test_a_period_still_being_counted_is_marked_so_far() -> None:
    """A day (week, month) that `at` falls inside is drawn as counted so far, not read as a fall."""
    from dashboard.sections import _partial_last
    from models.charts import lines, stacked_bars

    days = ["2024-03-04", "2024-03-05", "2024-03-06"]
    window = (date(2024, 3, 4), date(2024, 3, 7))
    at_ten = FilterState.from_args({"at": "2024-03-06T10:00"})
    assert _partial_last(("discharges",), at_ten, "day", _result(days, window)) == \
        "counted up to the as-at time"
    # at the London midnight that ends the last day, every day shown is whole
    midnight = FilterState.from_args({"at": "2024-03-07T00:00"})
    assert _partial_last(("discharges",), midnight, "day", _result(days, window)) is None
    # a week that began on Monday 4 March is not over on Wednesday, even at midnight
    weeks = FilterState.from_args({"at": "2024-03-06T00:00"})
    assert _partial_last(("discharges",), weeks, "week",
                         _result(["2024-02-26", "2024-03-04"], (date(2024, 2, 26), date(2024, 3, 7)))) == \
        "counted up to the as-at time"
    # a snapshot is measured at an instant: nothing is partial
    assert _partial_last(("nctr_count",), at_ten, "day", _result(days, window)) is None
    # now: "today so far"
    from models.periods import london_date_of

    now = FilterState.from_args({})

    day = london_date_of(now.resolved_at())
    at_midnight = now.resolved_at().astimezone(LONDON).time() == time(0)  # the one minute a day it is whole
    assert at_midnight or _partial_last(("referrals",), now, "day",
                                        _result([day.isoformat()], (day, day + timedelta(days=1)))) == "today so far"

    fig = lines([("Discharges", _result(days, window).rows)], title="t", y_title="people", partial_last="today so far")
    trace = fig["data"][0]
    assert trace["marker"]["symbol"] == ["circle", "circle", "circle-open"]
    assert trace["text"] == ["", "", " (today so far)"]
    assert fig["data"][-1]["name"] == "Today so far" and fig["data"][-1]["marker"]["symbol"] == "circle-open"
    bars = stacked_bars([{"period": d, "pathway": p, "value": 2} for d in days for p in ("1", "2")],
                        series_key="pathway", labels={"1": "P1", "2": "P2"}, title="t", y_title="people",
                        partial_last="today so far")
    assert [t["marker"]["opacity"] for t in bars["data"][:2]] == [[1.0, 1.0, 0.45]] * 2
    assert bars["data"][-1]["name"] == "Today so far" and bars["data"][-1]["x"] == [None]
    plain = lines([("Discharges", _result(days, window).rows)], title="t", y_title="people")
    assert plain["data"][0]["marker"]["symbol"] == "circle" and len(plain["data"]) == 1
