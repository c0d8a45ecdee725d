"""Batching: several `MetricQuery`s in, their `MetricResult`s out, with one select for each group that
can share one, and counts over several windows from one select by day."""
from __future__ import annotations

import functools
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy.engine import Engine

import models.query as _package
from models.metrics import REGISTRY
from models.periods import (
    build_periods,
)
from models.query.api import MetricQuery, MetricResult
from models.query.cases import _event_column
from models.query.compile import _compile
from models.query.execute import _result, _run_one
from models.query.intervals import _interval, _open_rows
from models.query.plan import _PERIOD_REF, _params, _plan, _reach
from models.query.prepare import _prepare, _Prepared
from models.query.sources import SOURCES


def _batch_key(prep: _Prepared) -> tuple[Any, ...] | None:
    """Queries with the same key can share one select (None: this one runs alone)."""
    m = prep.metric
    if not SOURCES[m.source].batches or not m.measure.batched:
        return None  # published figures choose their rows by measure; shares are shaped after the select
    if m.source == "cases" and len(prep.periods) == 1 and not m.measure.batched_at_one_period:
        # Alone, a case metric's window test is pushed into the scan; in a batch it becomes one arm of
        # an OR and is not. At one period that costs more than the shared read saves (measured: four
        # outcome rates over half a year 157 ms apart, 250 ms together). Metrics of people open at the
        # instant (`Open`) over the same span gain from sharing (NCTR, 7+, 21+ and days waited by HWB:
        # 21 ms apart, 13 ms together).
        return None
    periods = tuple((p.start, p.end, p.at) for p in prep.periods)
    # the grain numbers the periods for `_bucket`; metrics counted by different events are joined differently
    event = _event_column([m]) if prep.q.grain and len(periods) > 1 else None
    # Over many periods a case metric reads only the cases inside its span; members of other spans
    # together would read the union of them for every member (slower than apart: measured).
    span = m.span if m.source == "cases" else None
    return (m.source, periods, prep.q.by, prep.q.grain, event, span, _interval(prep))


def run_queries(engine: Engine, queries: Sequence[MetricQuery],
                gate: AbstractContextManager[Any] | None = None) -> list[MetricResult]:
    """Several queries, in order, with one select for each group that can share one (same source, periods
    and `by`; see `_batch_key`): a page's tiles read the store once, not once per tile. The results are
    those `run_query` gives for each query on its own (the tests check every metric).

    `gate` (e.g. a semaphore) is held around each select, not the whole call: a short query asked
    meanwhile waits for one select, not for all of a page's."""
    preps = [_prepare(engine, q) for q in queries]
    results: list[MetricResult | None] = [None] * len(preps)
    days: dict[tuple[Any, ...], list[int]] = {}
    for i, prep in enumerate(preps):
        key = _day_key(prep)
        if key is not None:
            days.setdefault(key, []).append(i)
    for members in days.values():
        if len(members) > 1:
            derived = _from_days(engine, [preps[i] for i in members], gate)
            if derived is not None:
                for i, result in zip(members, derived):
                    results[i] = result
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, prep in enumerate(preps):
        key = _batch_key(prep)
        if results[i] is not None:
            continue
        if key is None:
            results[i] = _run_one(engine, prep, gate)
        else:
            groups.setdefault(key, []).append(i)
    for members in groups.values():
        if len(members) == 1:
            results[members[0]] = _run_one(engine, preps[members[0]], gate)
            continue
        batch = [preps[i] for i in members]
        # A filter every member shares goes into the WHERE clause (it prunes the scan); the rest are the members' own.
        common = {key: vals for key, vals in batch[0].where.items()
                  if all(b.where.get(key) == vals for b in batch[1:])}
        own = [tuple(sorted(k for k in b.where if k not in common)) for b in batch]
        plan = _plan(engine.dialect, tuple(b.metric.name for b in batch), tuple(own), len(batch[0].periods),
                     batch[0].q.by, tuple(sorted(common)), batch[0].q.grain, _interval(batch[0]),
                     _reach(batch[0].metric, batch[0].periods))
        params = _params(batch[0].metric, batch[0].periods, common)
        for j, (b, keys) in enumerate(zip(batch, own)):
            params.update({f"w{j}_{key}": b.where[key] for key in keys})
        fetched, version = _package._fetch(engine, plan, params, gate)
        opened = (_open_rows(plan.open_members, plan.group_dims, batch[0].periods, fetched)
                  if plan.open_members is not None else None)
        for j, (i, b) in enumerate(zip(members, batch)):
            mine = opened[j] if opened is not None else [
                {**row, "value": row[f"v{j}"], "num": row[f"num{j}"], "den": row[f"den{j}"]}
                for row in fetched if row[f"n{j}"]]
            results[i] = _result(b, plan.group_dims, mine, version)
    return [r for r in results if r is not None]


# --- counts over several windows from one series of days ---------------------------------------
#
# A tile of events (referrals, discharges, IC starts and ends, and rates of such counts) asks for its
# window, the window before it and a weekly trend: three selects. Each is a sum over whole London
# days, so one select by day over all of them gives every figure (the days are added up here, as the
# store would add up the cases). Only for a count, or a rate of counts, whose cases are chosen by
# their event falling in the period and nothing else about the period (`_by_day`).

# Beyond about a quarter, one select by day costs as much as the selects it replaces (measured: the
# outcome tiles' half years, 79 ms as asked, 86 ms by day; /flow's two 28-day windows, 24 -> 20 ms).
_MAX_DAYS = 92


@functools.cache
def _by_day(name: str) -> bool:
    """A count, or a rate of counts, of cases by one event time that reads no period column but its bounds."""
    metric = REGISTRY[name]
    if (metric.source != "cases" or metric.kind != "period" or not metric.measure.adds_over_days
            or _event_column([metric]) is None):
        return False
    stmt, _, _ = _compile((name,), ((),), 2, (), (), "day")
    return set(_PERIOD_REF.findall(str(stmt.compile()))) <= {"k", "p_start", "p_end"}


def _day_key(prep: _Prepared) -> tuple[Any, ...] | None:
    q = prep.q
    if q.lookback_days or not _by_day(prep.metric.name):
        return None
    return (prep.metric.name, q.by, tuple(sorted((k, tuple(v)) for k, v in prep.where.items())), prep.at)


def _from_days(engine: Engine, preps: list[_Prepared],
               gate: AbstractContextManager[Any] | None = None) -> list[MetricResult] | None:
    """The results of queries differing only in their periods, from one select by day (None: some
    period is not a run of whole days as the day series cuts them, and they run as asked)."""
    first, q = preps[0], preps[0].q
    from_, to = min(p.start_date for b in preps for p in b.periods), max(p.end_date for b in preps for p in b.periods)
    if (to - from_).days > _MAX_DAYS:
        return None
    days = build_periods(at=first.at, from_=from_, to=to, grain="day", snapshot=False)
    spans: list[list[list[int]]] = []  # per query, per period: the indexes of its days
    for b in preps:
        mine = []
        for p in b.periods:
            ks = [k for k, d in enumerate(days) if p.start_date <= d.start_date < p.end_date]
            if not ks or days[ks[0]].start != p.start or days[ks[-1]].end != p.end:
                return None
            mine.append(ks)
        spans.append(mine)
    plan = _plan(engine.dialect, (first.metric.name,), ((),), len(days), q.by, tuple(sorted(first.where)), "day")
    fetched, version = _package._fetch(engine, plan, _params(first.metric, days, first.where), gate)
    by_day: dict[int, list[dict[str, Any]]] = {}
    for row in fetched:
        by_day.setdefault(row["k"], []).append(row)
    dim_cols = [f"d_{d}" for d in plan.group_dims]
    out = []
    for b, mine in zip(preps, spans):
        rows: list[dict[str, Any]] = []
        for i, ks in enumerate(mine):
            sums: dict[tuple[Any, ...], dict[str, Any]] = {}
            for k in ks:
                for row in by_day.get(k, ()):
                    acc = sums.setdefault(tuple(row[c] for c in dim_cols),
                                          {"k": i, **{c: row[c] for c in dim_cols}, "value": None, "num": None, "den": None})
                    for col in ("value", "num", "den"):
                        if row[col] is not None:
                            acc[col] = (acc[col] or 0) + row[col]
            rows += sums.values()
        out.append(_result(b, plan.group_dims, rows, version))
    return out
