"""The request parameters every road shares, parsed once: the API (`MetricQuery.from_params`), the command line
(through it), the export datasets (`models.datasets.parse_dataset_params`) and the pages' URL state
(`dashboard.state.FilterState`).

In: query-string or command-line values (a mapping of name -> one string or a list: `request.args.to_dict(flat=False)`,
a page's URL arguments). Out: typed values, or a `QueryError` naming the parameter (HTTP 400, CLI exit 2).
- `at` an ISO 8601 time (without an offset: London wall-clock time; a bare date: its London midnight);
  `from` / `to` dates YYYY-MM-DD, the window [from, to); all within [EARLIEST, LATEST) (`check_bounds`).
- `grain` one of `GRAINS`; `by` and every filter take repeated and comma-separated values ("either").
Filter values are checked by their dimension (`models.dimensions`), which needs the store for geography codes.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from models import settings
from models.errors import QueryError
from models.periods import (
    EARLIEST,
    GRAINS,
    LATEST,
    LONDON,
    UTC,
    bucket_count,
    default_window,
    london_midnight_utc,
    to_naive_utc,
)

# The parameters of a metric query that are not filters.
RESERVED: tuple[str, ...] = ("at", "from", "to", "grain", "by")
SPAN = f"{EARLIEST.isoformat()} .. {LATEST.isoformat()}"

Params = Mapping[str, Any]  # name -> str | Sequence[str]


class OutOfRange(QueryError):
    """A time or date off the range every query keeps to (HTTP 400; a page says so and drops it)."""


def _given(raw: Any) -> list[str]:
    """One parameter as given: absent, one value, or a list (a repeated key)."""
    if raw is None:
        return []
    return [str(item) for item in (raw if isinstance(raw, (list, tuple)) else [raw])]


def listed(raw: Any) -> tuple[str, ...]:
    """A list parameter's values (`by`, a filter): repeated and comma-separated values, stripped, de-duplicated
    in order."""
    return tuple(dict.fromkeys(v.strip() for item in _given(raw) for v in item.split(",") if v.strip()))


def values(params: Params, key: str) -> tuple[str, ...]:
    """`listed` for the parameter `key`."""
    return listed(params.get(key))


def single(params: Params, key: str) -> str | None:
    """A parameter that takes one value (`at`, `from`, `grain`, `limit` …); empty values are not given."""
    given = [v.strip() for v in _given(params.get(key)) if v.strip()]
    if len(given) > 1:
        raise QueryError(key, f"`{key}` takes one value, got {len(given)}")
    return given[0] if given else None


def parse_time(param: str, text: str) -> datetime:
    """ISO 8601; a time without an offset is Europe/London local time; a bare date is its London midnight."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T", 1))
    except ValueError:
        raise QueryError(param, f"`{param}` must be an ISO 8601 time, got {_shown(text)}") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=LONDON)
    try:
        return value.astimezone(UTC)
    except OverflowError:  # an offset pushing year 1 or 9999 off the calendar
        raise OutOfRange(param, f"`{param}` must lie within {SPAN}") from None


def parse_day(param: str, text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise QueryError(param, f"`{param}` must be a date YYYY-MM-DD, got {_shown(text)}") from None


def _shown(text: str) -> str:
    """A bad value as quoted in an error: long ones cut, so an error stays one line."""
    return repr(text if len(text) <= 40 else text[:40] + "…")


def window(params: Params) -> tuple[datetime | None, date | None, date | None]:
    """`at` (None: now), `from` and `to` as given, `to` after `from`; `check_bounds` then checks the range."""
    at_text, from_text, to_text = single(params, "at"), single(params, "from"), single(params, "to")
    at = parse_time("at", at_text) if at_text else None
    from_ = parse_day("from", from_text) if from_text else None
    to = parse_day("to", to_text) if to_text else None
    if from_ and to and from_ >= to:
        raise QueryError("to", f"`to` ({to}) must be after `from` ({from_}); the window is [from, to)")
    return at, from_, to


def grain(params: Params) -> str | None:
    value = single(params, "grain")
    if value is not None and value not in GRAINS:
        raise QueryError("grain", f"unknown grain {value!r}; expected one of {', '.join(GRAINS)}")
    return value


def split_by(params: Params, dimensions: Sequence[str], refuse: Callable[[str], str]) -> tuple[str, ...]:
    """`by`: dimensions among `dimensions`; `refuse(dim)` words the error for any other."""
    by = values(params, "by")
    for dim in by:
        if dim not in dimensions:
            raise QueryError("by", refuse(dim))
    return by


def filters(params: Params, accepted: Sequence[str], refuse: Callable[[str], str], *,
            skip: Iterable[str] = RESERVED) -> dict[str, tuple[str, ...]]:
    """Every parameter not in `skip` is a filter on one of `accepted` (`refuse(key)` words the error for any
    other), its values as `values` reads them; values are checked by their dimension (`models.dimensions`)."""
    skipped = set(skip)
    where: dict[str, tuple[str, ...]] = {}
    for key in params:
        if key in skipped:
            continue
        if key not in accepted:
            raise QueryError(key, refuse(key))
        given = values(params, key)
        if given:
            where[key] = given
    return where


def check_at(at: datetime) -> None:
    if not london_midnight_utc(EARLIEST) <= to_naive_utc(at) < london_midnight_utc(LATEST):
        raise OutOfRange("at", f"`at` must lie within {SPAN}")


def check_day(param: str, day: date) -> None:
    if not EARLIEST <= day <= LATEST:
        raise OutOfRange(param, f"`{param}` must lie within {SPAN}, got {day.isoformat()}")


def check_bounds(at: datetime, from_: date | None, to: date | None, grain: str | None,
                 source: str | None = None) -> tuple[date, date]:
    """Refuse, before any work, a query whose dates leave [EARLIEST, LATEST) or whose periods pass the cap
    (`HOMEWARD_MAX_PERIODS`): the cost of a query grows with its periods, a capacity series' fastest
    (its latest report per service is joined to every period it covers), so it may have a cap of its own.
    Returns the window."""
    check_at(at)
    for param, day in (("from", from_), ("to", to)):
        if day is not None:
            check_day(param, day)
    window = default_window(at, from_, to)
    if not EARLIEST <= window[0] < window[1] <= LATEST:
        raise OutOfRange("from" if window[0] < EARLIEST else "to", f"the window must lie within {SPAN}")
    if grain in GRAINS:
        caps = settings.max_periods()
        count, cap = bucket_count(window[0], window[1], grain), caps[grain]
        if source == "capacity":
            cap = min(cap, caps["capacity"])
        if count > cap:
            raise QueryError("grain", f"{count} {grain}s from {window[0]} to {window[1]} is more than the "
                                      f"{cap} one query may ask for; choose a longer grain or a shorter window")
    return window
