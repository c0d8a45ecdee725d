"""Validation: a `MetricQuery` in, a `_Prepared` out (the metric, `at`, the window, typed filter values
with ICB / place as HWBs through `models.access.restrict`, and the periods). No SQL is built here."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine

from models.geography import Geography, get_geography, invalidate_geography
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
from models.vocab import (
    AGE_BANDS,
    DELAY_REASONS,
    IC_OUTCOMES,
    NOT_RECORDED,
    SERVICE_TYPES,
    SITREP_LEVELS,
)


def _validate_values(engine: Engine, metric: Metric, where: Mapping[str, tuple[str, ...]]) -> dict[str, list[Any]]:
    """Check filter values against the vocabularies and the reference geography; return typed values."""
    typed: dict[str, list[Any]] = {}
    enums = {"service_type": SERVICE_TYPES, "delay_reason": DELAY_REASONS + (NOT_RECORDED,),
             "ic_outcome": IC_OUTCOMES + (NOT_RECORDED,), "age_band": AGE_BANDS, "level": SITREP_LEVELS,
             "collection": ("acute", "community")}
    for key, vals in where.items():
        if key == "pathway":
            bad = [v for v in vals if v not in ("0", "1", "2", "3")]
            if bad:
                raise QueryError(key, f"pathway must be 0, 1, 2 or 3, got {bad[0]!r}")
            typed[key] = [f"P{v}" for v in vals] if metric.source == "sitrep" else [int(v) for v in vals]
        elif key in enums:
            norm = [v.upper() if key in ("service_type", "delay_reason") or v.upper() == NOT_RECORDED
                    else v.lower() for v in vals]
            bad = [v for v, n in zip(vals, norm) if n not in enums[key]]
            if bad:
                raise QueryError(key, f"unknown {key} {bad[0]!r}; expected one of {', '.join(enums[key])}")
            typed[key] = norm
        elif key in ("icb", "hwb", "place"):
            typed[key] = _known_codes(engine, key, vals)
        else:
            typed[key] = list(vals)
    return typed


def _known_codes(engine: Engine, key: str, vals: Sequence[str]) -> list[str]:
    """The values as the store's codes, checked against the reference geography (read once per store
    and kept until it is reloaded: a page runs a dozen queries, and asking the store each time cost
    ~1.8 ms a query). A code not found is looked for again in a fresh read, so geography loaded by
    another process is never refused."""
    def check(geo: Geography) -> tuple[list[str], list[str]]:
        if key == "icb":
            norm, known = [v.upper() for v in vals], geo.icbs
        elif key == "place":
            norm, known = list(vals), geo.places
        else:
            norm, known = [geo.aliases.get(v.upper(), v.upper()) for v in vals], geo.hwbs
        return norm, [v for v, n in zip(vals, norm) if n not in known]

    norm, bad = check(get_geography(engine))
    if bad:
        invalidate_geography(engine)
        norm, bad = check(get_geography(engine))
    if bad:
        what = {"icb": "ICB ODS code (e.g. QWO)", "hwb": "HWB ONS code (e.g. E08000035)", "place": "place code"}[key]
        raise QueryError(key, f"unknown {key} {bad[0]!r}; expected an {what} from the reference geography")
    return norm


def _as_hwbs(engine: Engine, metric: Metric, where: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """ICB and place filters as the HWBs they cover (with an HWB filter too: the HWBs in all of them).

    The same rows as filtering on the HWB table's ICB or place, but the store tests the case's or
    service's own HWB code in the scan instead of joining every row to the HWB table first
    (NCTR by delay reason in one ICB: 26 -> 18 ms)."""
    if "hwb" not in metric.dimensions or not where.keys() & {"icb", "place"}:
        return where
    geo = get_geography(engine)
    covered: list[set[str]] = [set(where["hwb"])] if "hwb" in where else []
    if "icb" in where:
        covered.append({h for code in where["icb"] for h in geo.hwbs_in_icb(code)})
    if "place" in where:
        covered.append({h for code in where["place"] for h in geo.hwbs_in_place(code)})
    return {**{k: v for k, v in where.items() if k not in ("icb", "place")}, "hwb": sorted(set.intersection(*covered))}



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
    from models.access import (
        restrict,  # (models.access builds on this module's QueryError)
    )

    where = _as_hwbs(engine, metric, restrict(engine, _validate_values(engine, metric, q.where),
                                              has_hwb="hwb" in metric.dimensions))
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
