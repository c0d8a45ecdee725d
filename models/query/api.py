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

from models import params as parsing
from models.errors import QueryError, UnknownMetric
from models.metrics import (
    REGISTRY,
    Metric,
)
from models.params import RESERVED, check_bounds, parse_day, parse_time
from models.periods import UTC
from models.tables import ingest_run

__all__ = ["RESERVED", "MetricQuery", "MetricResult", "QueryError", "UnknownMetric", "check_bounds", "parse_day",
           "parse_time"]


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
        """Build and validate a query from URL / CLI strings (`models.params`: list values repeated or
        comma-separated = either); filter values are checked against their dimension when the query runs."""
        spec = get_metric(metric)
        at, from_, to = parsing.window(params)
        grain = parsing.grain(params)
        check_bounds(at or datetime.now(UTC), from_, to, grain, spec.source)
        dims = ", ".join(spec.dimensions)
        by = parsing.split_by(params, spec.dimensions,
                              lambda dim: f"metric {metric!r} cannot be split by {dim!r}; dimensions: {dims}")
        where = parsing.filters(params, spec.dimensions,
                                lambda key: f"unknown filter {key!r} for metric {metric!r}; filters: {dims}",
                                skip=(*RESERVED, *ignore))
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


_DATA_VERSION = (sa.select(sa.func.max(ingest_run.c.run_id))
                 .where(ingest_run.c.status.in_(("ok", "partial"))))


def data_version(engine: Engine) -> int:
    """The latest ingest run that may have changed data; caches key on it."""
    with engine.connect() as conn:
        return _data_version(conn)


def _data_version(conn: sa.Connection) -> int:
    return int(conn.execute(_DATA_VERSION).scalar() or 0)
