"""What pages ask the metrics layer for, shaped for components.

Pages call these and stay thin; every value comes from `cached_queries` over
the registry. The only arithmetic here is a tile's change (a difference of
two registry values, each shown beside it) — no figure is derived otherwise.

A section asks for all its figures at once (`queries`, `tiles_data`,
`by_dimensions`): the metrics layer then answers the ones over the same source,
periods and split with one select, so a row of six tiles reads the store once
or twice, not eighteen times.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Mapping, Sequence

from dashboard.state import FilterState
from models import access
from models.cache import cached_queries
from models.db import get_engine
from models.dimensions import GEOGRAPHY, check_values
from models.geography import Geography, get_geography
from models.headlines import TREND_DAYS, TileSpec
from models.metrics import REGISTRY, Metric
from models.periods import london_date_of
from models.query import MetricQuery, MetricResult
from models.thresholds import rag


@dataclass(frozen=True)
class TileData:
    metric: str
    label: str
    unit: str | None
    value: float | None
    rag: str | None = None  # green | amber | red | None (no thresholds)
    direction: str = "none"  # which way is good: up | down | none
    # (what it is compared with, change): e.g. ("vs yesterday", -3.0); computed here from two registry values
    changes: tuple[tuple[str, float | None], ...] = ()
    trend: tuple[tuple[str, float | None], ...] = ()  # (period label, value), oldest first
    note: str | None = None  # what the figure covers, e.g. "discharged on Tue 3 Dec"
    where: dict[str, Any] = field(default_factory=dict)  # extra filters, shown to tests as data-where


def geography() -> Geography:
    return get_geography(get_engine())


def metric(name: str) -> Metric:
    return REGISTRY[name]


def _where(spec_metric: Metric, state: FilterState, extra: Mapping[str, tuple[str, ...]] | None) -> dict[str, tuple[str, ...]]:
    where = state.where(spec_metric.dimensions)
    for key, values in (extra or {}).items():
        where[key] = tuple(values)
    return where


def metric_query(name: str, state: FilterState, *, at: datetime | None = None, by: tuple[str, ...] = (),
                 grain: str | None = None, window: tuple[date, date] | None = None,
                 where: Mapping[str, tuple[str, ...]] | None = None, lookback_days: int = 0) -> MetricQuery:
    """One metric for the page's filters; `at` defaults to the page's resolved "as at"."""
    m = metric(name)
    from_, to = window if window else (state.window() if m.kind == "period" or grain else (None, None))
    return MetricQuery(metric=name, at=at or state.resolved_at(), from_=from_, to=to, grain=grain, by=by,
                       where=_where(m, state, where), lookback_days=lookback_days)


def query(name: str, state: FilterState, **kwargs: Any) -> MetricResult:
    return cached_queries([metric_query(name, state, **kwargs)])[0]


def queries(asked: Sequence[tuple[str, Mapping[str, Any]]], state: FilterState) -> list[MetricResult]:
    """Several metrics at once, as (name, `metric_query` keywords), in order."""
    return cached_queries([metric_query(name, state, **kwargs) for name, kwargs in asked])


def value(name: str, state: FilterState, **kwargs: Any) -> float | None:
    result = query(name, state, **kwargs)
    return result.rows[0]["value"] if len(result.rows) == 1 else None


def rag_scope(state: FilterState) -> tuple[str, ...]:
    """The codes whose deployment thresholds apply to this view, most specific first (one HWB, place or ICB)."""
    return tuple(codes[0] for codes in (state.hwb, state.place, state.icb) if len(codes) == 1)


def _delta(now: float | None, before: float | None) -> float | None:
    if now is None or before is None:
        return None
    return float(now) - float(before)


def _trend(result: MetricResult) -> tuple[tuple[str, float | None], ...]:
    return tuple((str(r.get("period")), r.get("value")) for r in result.rows)


def _on(result: MetricResult, d: date) -> float | None:
    rows = [r for r in result.rows if r.get("period") == d.isoformat()]
    return rows[0].get("value") if len(rows) == 1 else None


def _day(d: date) -> str:
    return f"{d:%a} {d.day} {d:%b}"


def _tile_queries(spec: TileSpec, state: FilterState) -> list[MetricQuery]:
    m = metric(spec.metric)
    today = london_date_of(state.resolved_at())
    if spec.mode == "snapshot":
        # now, yesterday and last week at this time of day, and the trend between: one select
        return [metric_query(spec.metric, state, where=spec.where, lookback_days=TREND_DAYS - 1)]
    if spec.mode == "yesterday":
        day = today - timedelta(days=1)
        return [metric_query(spec.metric, state, grain="day", where=spec.where,
                             window=(day - timedelta(days=TREND_DAYS - 1), day + timedelta(days=1)))]
    from_, to = state.window()  # the page's window, against the window of the same length before it
    length = to - from_
    assert m.kind == "period", spec.metric
    return [metric_query(spec.metric, state, window=(from_, to), where=spec.where),
            metric_query(spec.metric, state, window=(from_ - length, from_), where=spec.where),
            # a handful of points: weeks, or months over a long window (outcomes look back half a year)
            metric_query(spec.metric, state, grain="week" if length.days <= 92 else "month", window=(from_, to),
                         where=spec.where)]


def _tile(spec: TileSpec, state: FilterState, results: list[MetricResult]) -> TileData:
    m = metric(spec.metric)
    today = london_date_of(state.resolved_at())
    if spec.mode == "snapshot":
        trend = results[0]
        points = [r.get("value") for r in trend.rows]  # oldest first; the last is `at` itself
        now = points[-1]
        changes = (("vs yesterday", _delta(now, points[-1 - 1])), ("vs last week", _delta(now, points[-1 - 7])))
        note = None
    elif spec.mode == "yesterday":
        trend = results[0]
        day = today - timedelta(days=1)
        now = _on(trend, day)
        changes = (("vs day before", _delta(now, _on(trend, day - timedelta(days=1)))),
                   ("vs same day last week", _delta(now, _on(trend, day - timedelta(days=7)))))
        note = f"on {_day(day)}"
    else:
        (current, before, trend), (from_, to) = results, state.window()
        now = current.rows[0]["value"] if len(current.rows) == 1 else None
        previous = before.rows[0]["value"] if len(before.rows) == 1 else None
        changes = ((f"vs previous {(to - from_).days} days", _delta(now, previous)),)
        note = f"{_day(from_)} to {_day(to - timedelta(days=1))}"
    return TileData(metric=spec.metric, label=spec.label or m.label, unit=m.unit, value=now,
                    rag=rag(spec.metric, now, rag_scope(state)), direction=m.direction, changes=changes, trend=_trend(trend),
                    note=note, where={k: ",".join(v) for k, v in spec.where.items()})


def tiles_data(specs: Sequence[TileSpec], state: FilterState) -> list[TileData]:
    """Tiles' values, RAG levels, changes and trends, all from the registry, asked for together."""
    asked = [_tile_queries(spec, state) for spec in specs]
    results = cached_queries([q for qs in asked for q in qs])
    out, i = [], 0
    for spec, qs in zip(specs, asked):
        out.append(_tile(spec, state, results[i:i + len(qs)]))
        i += len(qs)
    return out


def by_dimensions(asked: Sequence[tuple[str, Mapping[str, Any]]], state: FilterState,
                  dim: str) -> list[dict[Any, float | None]]:
    """{dimension value: value} per metric, split by one dimension, for several metrics at once, as
    (name, `metric_query` keywords)."""
    results = queries([(name, {**kwargs, "by": (dim,)}) for name, kwargs in asked], state)
    out = [{r.get(dim): r.get("value") for r in result.rows} for result in results]
    return with_zero_counts([name for name, _ in asked], out)


def with_zero_counts(names: Sequence[str], split: list[dict[Any, float | None]]) -> list[dict[Any, float | None]]:
    """A count (people, cases) has no row for a dimension value where nothing was counted: that is 0, not
    "no data", wherever the same source has data for that value (it appears under another metric asked
    with it). "—" is left for values the source knows nothing about (no cases, no service reporting)."""
    seen: dict[str, set[Any]] = {}
    for name, values in zip(names, split):
        seen.setdefault(metric(name).source, set()).update(k for k, v in values.items() if v is not None)
    for name, values in zip(names, split):
        m = metric(name)
        if m.measure.is_count:
            for key in seen[m.source]:
                if values.get(key) is None:
                    values[key] = 0
    return split


def scope_hwbs(state: FilterState, geo: Geography | None = None) -> list[str] | None:
    """The HWBs the filters select, or None when no geography filter is set (everything the principal may
    see). The metrics layer's rule (`models.access.as_hwbs`): codes checked as a query checks them, ICB and
    place as the HWBs they cover, all the filters together (their intersection), within the principal's
    scope. `geo` is not needed (the geography comes from the store's cache); callers may still pass it."""
    where = state.where(GEOGRAPHY)
    if not where:
        return None
    engine = get_engine()
    checked = {key: check_values(engine, key, values) for key, values in where.items()}
    return list(access.as_hwbs(engine, checked)["hwb"])


def scope_name(state: FilterState, geo: Geography) -> str:
    """The scope in words, for page headings and the wall."""
    names: list[str] = []
    for code in state.hwb:
        names.append(geo.hwbs[code].name if code in geo.hwbs else code)
    if not names:
        for code in state.place:
            names.append(geo.places[code].name if code in geo.places else code)
    if not names:
        for code in state.icb:
            names.append(short_icb_name(geo.icbs[code].name) if code in geo.icbs else code)
    if names:
        return ", ".join(names)
    if not access.current().national:  # no filter: the principal's whole scope
        return access.scope_label(get_engine()).removeprefix("Scope: ")
    return "All areas in the store"


def short_icb_name(name: str) -> str:
    return name.replace("Integrated Care Board", "ICB")
