"""Validation: a `MetricQuery` in, a `_Prepared` out (the metric, `at`, the window, typed filter values
with ICB / place as HWBs through `models.access.as_hwbs`, and the periods). No SQL is built here."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine

from models.access import as_hwbs
from models.dimensions import check_filters, known_codes
from models.metrics import (
    Metric,
)
from models.periods import (
    GRAINS,
    LONDON,
    UTC,
    Period,
    build_periods,
)
from models.query.api import MetricQuery, QueryError, check_bounds, get_metric

_known_codes = known_codes  # the name models.query exports (the export datasets' check once was it)


def _validate_values(engine: Engine, metric: Metric, where: Mapping[str, tuple[str, ...]]) -> dict[str, list[Any]]:
    """Check filter values against their dimension (`models.dimensions`); return them typed for the source."""
    return check_filters(engine, where, metric.source)


@dataclass
class _Prepared:
    """A validated query with its periods: what `_plan` and `_params` need."""
    q: MetricQuery
    metric: Metric
    at: datetime
    window: tuple[date, date]
    where: dict[str, list[Any]]
    periods: list[Period]
    share_filter: set[Any] | None


def _lookback_periods(at: datetime, days: int) -> list[Period]:
    """`at` and the same London wall-clock time on each of the `days` days before (oldest first)."""
    local = at.astimezone(LONDON)
    periods = []
    for back in range(days, -1, -1):
        instant = (local - timedelta(days=back)).astimezone(UTC).replace(tzinfo=None)
        day = local.date() - timedelta(days=back)
        periods.append(Period(label=day, start=instant, end=instant, at=instant, start_date=day,
                              end_date=day + timedelta(days=1)))
    return periods


def _prepare(engine: Engine, q: MetricQuery) -> _Prepared:
    metric = get_metric(q.metric)
    for dim in list(q.by) + list(q.where):
        if dim not in metric.dimensions:
            raise QueryError("by" if dim in q.by else dim, f"metric {q.metric!r} has no dimension {dim!r}")
    if q.grain is not None and q.grain not in GRAINS:
        raise QueryError("grain", f"unknown grain {q.grain!r}")
    if q.lookback_days and (q.grain is not None or metric.kind != "snapshot"):
        raise QueryError("lookback_days", "a look back is for a snapshot metric without a grain")
    at = (q.at or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    window = check_bounds(at, q.from_, q.to, q.grain, metric.source)
    # ICB and place as the HWBs they cover, within the principal's scope: `models.access.as_hwbs`
    where = as_hwbs(engine, _validate_values(engine, metric, q.where), has_hwb="hwb" in metric.dimensions)
    share_filter = None
    share_dim = metric.measure.share_dimension
    if share_dim is not None and share_dim in where:
        share_filter = set(where[share_dim])
    if q.lookback_days:
        periods = _lookback_periods(at, q.lookback_days)
    else:
        periods = build_periods(at=at, from_=window[0], to=window[1], grain=q.grain,
                                snapshot=metric.kind == "snapshot")
    if not periods:  # the whole window lies after `at`: nothing has happened in it yet
        naive = at.replace(tzinfo=None)
        periods = [Period(label=window[0], start=naive, end=naive, at=naive, start_date=window[0], end_date=window[0])]
    return _Prepared(q, metric, at, window, where, periods, share_filter)
