"""What pages ask the metrics layer for, shaped for components.

Pages call these and stay thin; every value comes from `cached_query` over
the registry. The only arithmetic here is a tile's change (a difference of
two registry values, each shown beside it) — no figure is derived otherwise.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal, Mapping

from dashboard.cache import cached_query
from dashboard.concurrency import run_parallel
from dashboard.components.tile import TileData
from dashboard.state import FilterState
from models.geography import Geography, get_geography
from models.db import get_engine
from models.metrics import REGISTRY, Metric
from models.periods import london_date_of
from models.query import MetricQuery, MetricResult

TileMode = Literal["snapshot", "yesterday", "window"]
TREND_DAYS = 14


@dataclass(frozen=True)
class TileSpec:
    metric: str
    mode: TileMode = "snapshot"
    label: str | None = None
    where: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # fixed filters, e.g. pathway=1


def geography() -> Geography:
    return get_geography(get_engine())


def metric(name: str) -> Metric:
    return REGISTRY[name]


def _where(spec_metric: Metric, state: FilterState, extra: Mapping[str, tuple[str, ...]] | None) -> dict[str, tuple[str, ...]]:
    where = state.where(spec_metric.dimensions)
    for key, values in (extra or {}).items():
        where[key] = tuple(values)
    return where


def query(name: str, state: FilterState, *, at: datetime | None = None, by: tuple[str, ...] = (),
          grain: str | None = None, window: tuple[date, date] | None = None,
          where: Mapping[str, tuple[str, ...]] | None = None) -> MetricResult:
    """One metric for the page's filters; `at` defaults to the page's resolved "as at"."""
    m = metric(name)
    from_, to = window if window else (state.window() if m.kind == "period" or grain else (None, None))
    q = MetricQuery(metric=name, at=at or state.resolved_at(), from_=from_, to=to, grain=grain, by=by,
                    where=_where(m, state, where))
    return cached_query(q)


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


def _last_period(result: MetricResult) -> str | None:
    return str(result.rows[-1].get("period")) if result.rows else None


def _day(d: date) -> str:
    return f"{d:%a} {d.day} {d:%b}"


def tile_data(spec: TileSpec, state: FilterState) -> TileData:
    """A tile's value, RAG level, changes and trend, all from the registry."""
    m = metric(spec.metric)
    at = state.resolved_at()
    today = london_date_of(at)
    label = spec.label or m.label
    if spec.mode == "snapshot":
        trend, *before = run_parallel([
            lambda: query(spec.metric, state, grain="day", where=spec.where,
                          window=(today - timedelta(days=TREND_DAYS - 1), today + timedelta(days=1))),
            *[lambda d=d: value(spec.metric, state, at=at - timedelta(days=d), where=spec.where) for d in (1, 7)]])
        # The trend's last day is measured at `at` itself: the same question as the value now.
        now = _on(trend, today) if _last_period(trend) == today.isoformat() else value(spec.metric, state, where=spec.where)
        changes = (("vs yesterday", _delta(now, before[0])), ("vs last week", _delta(now, before[1])))
        note = None
    elif spec.mode == "yesterday":
        day = today - timedelta(days=1)
        trend = query(spec.metric, state, grain="day", where=spec.where,
                      window=(day - timedelta(days=TREND_DAYS - 1), day + timedelta(days=1)))

        def on(d: date) -> float | None:
            # A day of the daily series is the same question as that day's own window.
            if any(r.get("period") == d.isoformat() for r in trend.rows):
                return _on(trend, d)
            return value(spec.metric, state, window=(d, d + timedelta(days=1)), where=spec.where)

        now = on(day)
        changes = (("vs day before", _delta(now, on(day - timedelta(days=1)))),
                   ("vs same day last week", _delta(now, on(day - timedelta(days=7)))))
        note = f"on {_day(day)}"
    else:  # the page's window, against the window of the same length before it
        from_, to = state.window()
        length = to - from_
        now, before, trend = run_parallel([
            lambda: value(spec.metric, state, window=(from_, to), where=spec.where),
            lambda: value(spec.metric, state, window=(from_ - length, from_), where=spec.where),
            lambda: query(spec.metric, state, grain="week", window=(from_, to), where=spec.where)])
        changes = ((f"vs previous {length.days} days", _delta(now, before)),)
        note = f"{_day(from_)} to {_day(to - timedelta(days=1))}"
    return TileData(metric=spec.metric, label=label, unit=m.unit, value=now, rag=m.rag(now, rag_scope(state)), direction=m.direction,
                    changes=changes, trend=_trend(trend), note=note,
                    where={k: ",".join(v) for k, v in spec.where.items()})


def by_dimension(name: str, state: FilterState, dim: str, **kwargs: Any) -> dict[Any, float | None]:
    """{dimension value: value} for one metric split by one dimension."""
    return {r.get(dim): r.get("value") for r in query(name, state, by=(dim,), **kwargs).rows}


def scope_hwbs(state: FilterState, geo: Geography) -> list[str] | None:
    """The HWBs the filters select, or None when no geography filter is set (everything)."""
    if state.hwb:
        return list(state.hwb)
    if state.place:
        return sorted({h for p in state.place for h in geo.hwbs_in_place(p)})
    if state.icb:
        return sorted({h for i in state.icb for h in geo.hwbs_in_icb(i)})
    return None


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
    return ", ".join(names) if names else "All areas in the store"


def short_icb_name(name: str) -> str:
    return name.replace("Integrated Care Board", "ICB")
