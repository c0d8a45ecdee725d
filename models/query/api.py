"""Public types of a metrics query: `MetricQuery` in (validated from URL / CLI strings by
`from_params`), `MetricResult` out, `QueryError` / `UnknownMetric`, the parameter parsers and bounds
(`parse_time`, `parse_day`, `check_bounds`) and the data versions that key the caches."""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from models import settings
from models.errors import QueryError, UnknownMetric
from models.metrics import (
    REGISTRY,
    Metric,
)
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
from models.tables import ingest_run
from models.vocab import ACUTE_SITREP_FEED, COMMUNITY_SITREP_FEED, HUB_CASES_FEED, VACANCY_FEED

RESERVED = ("at", "from", "to", "grain", "by")


@dataclass(frozen=True)
class MetricQuery:
    metric: str
    at: datetime | None = None  # aware; None = now
    from_: date | None = None
    to: date | None = None
    grain: str | None = None
    by: tuple[str, ...] = ()
    where: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # A snapshot metric measured at `at` and at the same London time on each of the previous
    # `lookback_days` days (oldest first, labelled by day): a tile's value, its changes against
    # yesterday and last week, and its trend in one select. Pages only; not part of the HTTP API.
    lookback_days: int = 0

    def cache_key(self) -> str:
        at = self.at.isoformat() if self.at else "now"
        where = ";".join(f"{k}={','.join(sorted(v))}" for k, v in sorted(self.where.items()))
        return (f"{self.metric}|{at}|{self.from_}|{self.to}|{self.grain}|{','.join(self.by)}|{where}"
                + (f"|lookback={self.lookback_days}" if self.lookback_days else ""))

    @staticmethod
    def from_params(metric: str, params: Mapping[str, Sequence[str] | str], *,
                    ignore: Iterable[str] = ()) -> MetricQuery:
        """Build and validate a query from URL / CLI strings (`by` comma-separated; repeated values = either)."""
        spec = get_metric(metric)
        ignored = set(ignore)

        def values(key: str) -> list[str]:
            raw = params.get(key, [])
            items = [raw] if isinstance(raw, str) else list(raw)
            return [v.strip() for item in items for v in ([item] if key not in ("by",) else item.split(",")) if v.strip()]

        def single(key: str) -> str | None:
            vals = values(key)
            if len(vals) > 1:
                raise QueryError(key, f"`{key}` takes one value, got {len(vals)}")
            return vals[0] if vals else None

        at = parse_time("at", single("at")) if single("at") else None
        from_ = parse_day("from", single("from")) if single("from") else None
        to = parse_day("to", single("to")) if single("to") else None
        if from_ and to and from_ >= to:
            raise QueryError("to", f"`to` ({to}) must be after `from` ({from_}); the window is [from, to)")
        grain = single("grain")
        if grain is not None and grain not in GRAINS:
            raise QueryError("grain", f"unknown grain {grain!r}; expected one of {', '.join(GRAINS)}")
        check_bounds(at or datetime.now(UTC), from_, to, grain, spec.source)
        by = tuple(dict.fromkeys(values("by")))
        for dim in by:
            if dim not in spec.dimensions:
                raise QueryError("by", f"metric {metric!r} cannot be split by {dim!r}; "
                                       f"dimensions: {', '.join(spec.dimensions)}")
        where: dict[str, tuple[str, ...]] = {}
        for key in params:
            if key in RESERVED or key in ignored:
                continue
            if key not in spec.dimensions:
                raise QueryError(key, f"unknown filter {key!r} for metric {metric!r}; "
                                      f"filters: {', '.join(spec.dimensions)}")
            vals = values(key)
            if vals:
                where[key] = tuple(dict.fromkeys(vals))
        return MetricQuery(metric=metric, at=at, from_=from_, to=to, grain=grain, by=by, where=where)


@dataclass
class MetricResult:
    metric: str
    as_of: datetime
    data_version: int
    rows: list[dict[str, Any]]
    query: MetricQuery
    window: tuple[date, date]
    unit: str

    def to_json(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "as_of": self.as_of.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "data_version": self.data_version,
            "unit": self.unit,
            "from": self.window[0].isoformat(),
            "to": self.window[1].isoformat(),
            "grain": self.query.grain,
            "by": list(self.query.by),
            "filters": {k: list(v) for k, v in self.query.where.items()},
            "rows": self.rows,
        }

    def total(self) -> float | int | None:
        """The value of a single-row result (no `by`, no `grain`)."""
        return self.rows[0]["value"] if len(self.rows) == 1 else None


def get_metric(name: str) -> Metric:
    try:
        return REGISTRY[name]
    except KeyError:
        raise UnknownMetric("metric", f"unknown metric {name!r}; `python app.py metrics` lists them") from None


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
        raise QueryError(param, f"`{param}` must lie within {EARLIEST.isoformat()} .. {LATEST.isoformat()}") from None


def _shown(text: str) -> str:
    """A bad value as quoted in an error: long ones cut, so an error stays one line."""
    return repr(text if len(text) <= 40 else text[:40] + "…")


def check_bounds(at: datetime, from_: date | None, to: date | None, grain: str | None,
                 source: str | None = None) -> tuple[date, date]:
    """Refuse, before any work, a query whose dates leave [EARLIEST, LATEST) or whose periods pass the cap
    (`HOMEWARD_MAX_PERIODS`): the cost of a query grows with its periods, a capacity series' fastest
    (one aggregate per period, see `_compile`). Returns the window."""
    span = f"{EARLIEST.isoformat()} .. {LATEST.isoformat()}"
    if not london_midnight_utc(EARLIEST) <= to_naive_utc(at) < london_midnight_utc(LATEST):
        raise QueryError("at", f"`at` must lie within {span}")
    for param, day in (("from", from_), ("to", to)):
        if day is not None and not EARLIEST <= day <= LATEST:
            raise QueryError(param, f"`{param}` must lie within {span}, got {day.isoformat()}")
    window = default_window(at, from_, to)
    if not EARLIEST <= window[0] < window[1] <= LATEST:
        raise QueryError("from" if window[0] < EARLIEST else "to", f"the window must lie within {span}")
    if grain in GRAINS:
        caps = settings.max_periods()
        count, cap = bucket_count(window[0], window[1], grain), caps[grain]
        if source == "capacity":
            cap = min(cap, caps["capacity"])
        if count > cap:
            raise QueryError("grain", f"{count} {grain}s from {window[0]} to {window[1]} is more than the "
                                      f"{cap} one query may ask for; choose a longer grain or a shorter window")
    return window


def parse_day(param: str, text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise QueryError(param, f"`{param}` must be a date YYYY-MM-DD, got {_shown(text)}") from None


_DATA_VERSION = (sa.select(sa.func.max(ingest_run.c.run_id))
                 .where(ingest_run.c.status.in_(("ok", "partial"))))


def data_version(engine: Engine) -> int:
    """The latest ingest run that may have changed data; caches key on it."""
    with engine.connect() as conn:
        return _data_version(conn)


# Which metrics a feed's data can change. A feed not named here (reference geography, a new feed)
# may change any metric.
FEED_SOURCE: dict[str, str] = {VACANCY_FEED: "capacity", HUB_CASES_FEED: "cases",
                               ACUTE_SITREP_FEED: "sitrep", COMMUNITY_SITREP_FEED: "sitrep"}


def feed_versions(engine: Engine) -> dict[str, int]:
    """The latest ingest run that may have changed data, per feed (their maximum is `data_version`)."""
    stmt = (sa.select(ingest_run.c.feed, sa.func.max(ingest_run.c.run_id))
            .where(ingest_run.c.status.in_(("ok", "partial"))).group_by(ingest_run.c.feed))
    with engine.connect() as conn:
        return {feed: int(run) for feed, run in conn.execute(stmt).all()}


def source_version(versions: Mapping[str, int], source: str) -> int:
    """The latest run that may have changed a metric of `source`: a capacity delivery leaves every
    case metric's cached answers valid, and the other way round."""
    return max((run for feed, run in versions.items() if FEED_SOURCE.get(feed, source) == source), default=0)


def _data_version(conn: sa.Connection) -> int:
    return int(conn.execute(_DATA_VERSION).scalar() or 0)
