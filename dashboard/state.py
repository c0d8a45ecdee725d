"""The filter state a page is showing, parsed from the URL query string.

Every page's filters live in the URL (bookmark, share, reopen exactly), so
this is the one translation from query-string values to metric filters; values
are read by `models.params` and normalised by `models.dimensions`, as the API
and the exports read them.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Mapping, TypeVar

from models import params
from models.dimensions import DIMENSIONS, GEOGRAPHY
from models.errors import QueryError
from models.periods import london_date_of

UTC = timezone.utc
# The filter bar's keys, in the order they appear in the URL.
FILTER_KEYS: tuple[str, ...] = ("icb", "place", "hwb", "pathway", "service_type", "from", "to", "at")
GEO_KEYS: tuple[str, ...] = GEOGRAPHY
T = TypeVar("T")
DEFAULT_WINDOW_DAYS = 28


def _values(raw: Any) -> tuple[str, ...]:
    """URL values come as one string, a list (repeated key) or comma-separated text."""
    return params.listed(raw)


def _first(raw: Any) -> str | None:
    values = _values(raw)
    return values[0] if values else None


def _lenient(parse: Callable[[], T]) -> T | None:
    """A page draws what it can read: a value the API would refuse with a 400 is dropped here."""
    try:
        return parse()
    except QueryError:
        return None


def parse_date(raw: Any) -> date | None:
    text = _first(raw)
    return _lenient(lambda: params.parse_day("from", text[:10])) if text else None


def parse_at(raw: Any) -> datetime | None:
    """ISO 8601; a time without an offset is London wall-clock time (as NHS users mean it), read as
    `models.params.parse_time` reads it. A time off the calendar once in UTC (year 1 or 9999 with an
    offset) is the earliest/latest there is, which `FilterState.problem` then refuses."""
    text = _first(raw)
    if not text:
        return None
    try:
        return params.parse_time("at", text)
    except params.OutOfRange:
        return (datetime.min if text.lstrip().startswith("0001") else datetime.max).replace(tzinfo=UTC)
    except QueryError:
        return None


def _in_range(check: Callable[[], None]) -> bool:
    try:
        check()
    except params.OutOfRange:
        return False
    return True


def _filter(args: Mapping[str, Any], name: str) -> tuple[str, ...]:
    """A filter's values as its dimension normalises them (`models.dimensions`); a value no metric could
    match (a pathway other than 0-3) is dropped."""
    dim = DIMENSIONS[name]
    values = tuple(dim.normalise(v) for v in _values(args.get(name)))
    return tuple(v for v in values if v in dim.vocabulary) if name == "pathway" else values


def now_minute() -> datetime:
    """Now, to the minute: "now" queries within a minute share cache entries."""
    return datetime.now(UTC).replace(second=0, microsecond=0)


@dataclass(frozen=True)
class FilterState:
    icb: tuple[str, ...] = ()
    place: tuple[str, ...] = ()
    hwb: tuple[str, ...] = ()
    pathway: tuple[str, ...] = ()
    service_type: tuple[str, ...] = ()
    from_: date | None = None
    to: date | None = None  # exclusive, as in the API
    at: datetime | None = None  # None = now
    extra: Mapping[str, str] = field(default_factory=dict)  # page-specific keys (theme, refresh, ...)
    default_days: int = DEFAULT_WINDOW_DAYS  # the window without from/to (outcomes look further back)
    # Why the URL's dates cannot be shown (off the range every query keeps to), in words; those dates
    # are dropped, so the filter bar still draws. The API answers the same with a 400.
    problem: str | None = None

    @classmethod
    def from_args(cls, args: Mapping[str, Any], *, default_days: int = DEFAULT_WINDOW_DAYS) -> "FilterState":
        extra = {k: str(_first(v) or "") for k, v in args.items() if k not in FILTER_KEYS}
        span = params.SPAN
        from_, to, at = parse_date(args.get("from")), parse_date(args.get("to")), parse_at(args.get("at"))
        problem = None  # the same range as the API's (`models.params.check_bounds`), said in words
        if at is not None and not _in_range(lambda: params.check_at(at)):
            problem, at = f"the time `at` must lie within {span}.", None
        if to is not None and not _in_range(lambda: params.check_day("to", to)):
            problem, to = f"the date `to` ({to.isoformat()}) must lie within {span}.", None
        if from_ is not None and not _in_range(lambda: params.check_day("from", from_)):
            problem, from_ = f"the date `from` ({from_.isoformat()}) must lie within {span}.", None
        return cls(
            icb=_filter(args, "icb"),
            place=_filter(args, "place"),
            hwb=_filter(args, "hwb"),
            pathway=_filter(args, "pathway"),
            service_type=_filter(args, "service_type"),
            from_=from_,
            to=to,
            at=at,
            extra=extra,
            default_days=default_days,
            problem=problem,
        )

    def resolved_at(self) -> datetime:
        return self.at or now_minute()

    def window(self) -> tuple[date, date]:
        """[from, to) in London days; default the `default_days` days ending with the day of `at`."""
        at_day = london_date_of(self.resolved_at())
        days = timedelta(days=self.default_days)
        to = self.to or ((self.from_ + days) if self.from_ else at_day + timedelta(days=1))
        from_ = self.from_ or (to - days)
        if from_ >= to:
            from_ = to - timedelta(days=1)
        return from_, to

    def with_at(self, at: datetime) -> "FilterState":
        return replace(self, at=at)

    def where(self, dimensions: Iterable[str]) -> dict[str, tuple[str, ...]]:
        """The filters a metric accepts; filters on dimensions it lacks do not apply to it."""
        allowed = set(dimensions)
        candidates = {"icb": self.icb, "place": self.place, "hwb": self.hwb,
                      "pathway": self.pathway, "service_type": self.service_type}
        return {k: v for k, v in candidates.items() if v and k in allowed}

    def to_query_string(self) -> str:
        from urllib.parse import urlencode

        pairs: list[tuple[str, str]] = []
        for key, values in (("icb", self.icb), ("place", self.place), ("hwb", self.hwb),
                            ("pathway", self.pathway), ("service_type", self.service_type)):
            pairs.extend((key, v) for v in values)
        if self.from_:
            pairs.append(("from", self.from_.isoformat()))
        if self.to:
            pairs.append(("to", self.to.isoformat()))
        if self.at:
            pairs.append(("at", self.at.isoformat()))
        pairs.extend(self.extra.items())
        return urlencode(pairs)
