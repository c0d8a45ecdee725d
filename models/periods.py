"""Europe/London calendar windows turned into UTC instants.

Every metric query joins a small table of periods built here in Python, so
day / week / month boundaries (clock changes included) are computed once,
exactly, and the SQL only compares timestamps.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Collection
from zoneinfo import ZoneInfo

import sqlalchemy as sa

LONDON = ZoneInfo("Europe/London")
UTC = timezone.utc
GRAINS = ("day", "week", "month")
DEFAULT_WINDOW_DAYS = 28
# The dates a query may name (documented in the README): the store holds nothing older, and the
# calendar arithmetic below stays far from Python's year 1 and 9999.
EARLIEST = date(2000, 1, 1)
LATEST = date(2100, 1, 1)


def london_midnight_utc(day: date) -> datetime:
    """Naive UTC instant of 00:00 London time on `day` (midnight always exists in the UK)."""
    return datetime.combine(day, time(0), tzinfo=LONDON).astimezone(UTC).replace(tzinfo=None)


def london_date_of(instant: datetime) -> date:
    return instant.astimezone(LONDON).date()


def to_naive_utc(instant: datetime) -> datetime:
    return instant.astimezone(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class Period:
    label: date  # the day, week (Monday) or month the period starts on
    start: datetime  # naive UTC, inclusive
    end: datetime  # naive UTC, exclusive; never after `at`
    at: datetime  # snapshot instant for this period (naive UTC)
    start_date: date  # London dates, for published daily figures
    end_date: date  # exclusive

    def row(self, index: int, stale_hours: float) -> dict[str, Any]:
        at_date = london_date_of(self.at.replace(tzinfo=UTC))
        return {
            "k": index,
            "label": self.label,
            "p_start": self.start,
            "p_end": self.end,
            "p_at": self.at,
            "start_date": self.start_date,
            "end_date": self.end_date,
            "stale_from": self.at - timedelta(hours=stale_hours),
            # whole days from t to `at` >= N  <=>  t before London midnight of (at_date - N + 1)
            "cut_7": london_midnight_utc(at_date - timedelta(days=6)),
            "cut_14": london_midnight_utc(at_date - timedelta(days=13)),
            "cut_21": london_midnight_utc(at_date - timedelta(days=20)),
            "at_minus_30d": self.at - timedelta(days=30),
            "at_minus_91d": self.at - timedelta(days=91),
        }


PERIOD_COLUMNS: tuple[tuple[str, Any], ...] = (
    ("k", sa.Integer), ("label", sa.Date), ("p_start", sa.DateTime), ("p_end", sa.DateTime),
    ("p_at", sa.DateTime), ("start_date", sa.Date), ("end_date", sa.Date), ("stale_from", sa.DateTime),
    ("cut_7", sa.DateTime), ("cut_14", sa.DateTime), ("cut_21", sa.DateTime),
    ("at_minus_30d", sa.DateTime), ("at_minus_91d", sa.DateTime),
)


def _bucket_start(day: date, grain: str) -> date:
    if grain == "day":
        return day
    if grain == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def next_bucket(start: date, grain: str) -> date:
    """The first day of the day, week or month after the one starting on `start`."""
    if grain == "day":
        return start + timedelta(days=1)
    if grain == "week":
        return start + timedelta(days=7)
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1)


def bucket_count(from_: date, to: date, grain: str | None) -> int:
    """How many periods `build_periods` would cut [from_, to) into, by arithmetic (no list is built)."""
    if grain is None or to <= from_:
        return 1
    if grain == "day":
        return (to - from_).days
    if grain == "week":
        return -(-(to - _bucket_start(from_, "week")).days // 7)
    return (to.year - from_.year) * 12 + to.month - from_.month + (1 if to.day > 1 else 0)


def default_window(at: datetime, from_: date | None, to: date | None) -> tuple[date, date]:
    """Without from/to: the 28 London days ending with the day of `at` (today so far)."""
    if to is None:
        to = (from_ + timedelta(days=DEFAULT_WINDOW_DAYS)) if from_ else london_date_of(at) + timedelta(days=1)
    if from_ is None:
        from_ = to - timedelta(days=DEFAULT_WINDOW_DAYS)
    return from_, to


def build_periods(*, at: datetime, from_: date, to: date, grain: str | None, snapshot: bool) -> list[Period]:
    """Periods of the window [from_, to) cut by `grain`, each ending no later than `at`.

    A snapshot metric without a grain is one period measured at `at`; with a
    grain it is measured at the end of each period (or at `at` for the last).
    """
    at_naive = to_naive_utc(at)
    at_date = london_date_of(at)
    if snapshot and grain is None:
        return [Period(label=at_date, start=at_naive, end=at_naive, at=at_naive,
                       start_date=at_date, end_date=at_date + timedelta(days=1))]
    periods: list[Period] = []
    buckets = [(from_, to)] if grain is None else []
    if grain is not None:
        cursor = _bucket_start(from_, grain)
        while cursor < to:
            nxt = next_bucket(cursor, grain)
            buckets.append((cursor, nxt))
            cursor = nxt
    for bucket_start, bucket_end in buckets:
        first, last = max(bucket_start, from_), min(bucket_end, to)
        start, end = london_midnight_utc(first), london_midnight_utc(last)
        if start >= at_naive and not (snapshot and start == at_naive):
            continue  # entirely after `at`: nothing can have happened yet
        end = min(end, at_naive)
        periods.append(Period(
            # a snapshot is measured at each period's end; a period metric is as at `at` throughout
            label=bucket_start if grain else from_, start=start, end=end, at=end if snapshot else at_naive,
            start_date=first, end_date=min(last, at_date + timedelta(days=1)),
        ))
    return periods


# Column names avoid `at`/`end`/`start`, reserved words in one store or the other.
def period_param(index: int, name: str) -> str:
    """Name of the bound parameter holding column `name` of period `index`."""
    return f"p{index}_{name}"


def periods_table(count: int, columns: Collection[str] | None = None) -> sa.Values:
    """A VALUES table of `count` periods whose cells are bound parameters (filled by `period_params`).

    The cells are parameters, not the periods' values, so one compiled select serves
    every query with the same number of periods (see models.query's statement cache).
    `columns` keeps only those a select reads (and `k`): each cell is a parameter the store
    binds on every run, 13 × 28 of them for a 28-day series.
    """
    kept = [(name, type_) for name, type_ in PERIOD_COLUMNS if columns is None or name == "k" or name in columns]
    cols = [sa.column(name, type_) for name, type_ in kept]
    rows = [tuple(sa.bindparam(period_param(i, name), type_=type_) for name, type_ in kept) for i in range(count)]
    return sa.values(*cols, name="p").data(rows)


def period_params(periods: list[Period], stale_hours: float) -> dict[str, Any]:
    """The values of the periods' bound parameters, by name."""
    return {period_param(i, name): value
            for i, p in enumerate(periods) for name, value in p.row(i, stale_hours).items()}
