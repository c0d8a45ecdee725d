"""The Open / Overlap strategy: over many periods, one select of each case's first and last period
(`_open_select`), read back into per-period rows (`_open_rows`). In: metric names, periods count, `by`;
out: the select and how to read it."""
from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from models.measures import SQL, Columns, Interval, IntervalKind, Measure, PeriodColumns, Rows
from models.metrics import REGISTRY
from models.periods import (
    PERIOD_COLUMNS,
    Period,
    period_param,
)
from models.query.cases import _case_dims, _case_joins, _join_case_dims, _span_filter
from models.tables import hub_case

if TYPE_CHECKING:
    from models.query.prepare import _Prepared

# --- open intervals over many periods ------------------------------------------
#
# "Open at the instant" (`Open`: waiting, in an IC episode) and "overlapping the period" (`Overlap`)
# are conditions that turn true once and false once as the periods go by. So over many periods the
# store works out, per case, the first period it counts in (`s`) and the first it no longer counts in
# (`e`), groups the cases by them, and sums the groups into the changes at each period (`_open_events`);
# the count at period k is then the running sum of the changes up to k, which `_open_rows` adds up.
# Every case is read once, not once per period. At national scale (measured): the 28-day NCTR series
# 110 -> 25-45 ms; a year of days 0.9 -> 0.2-0.3 s; a year of days by HWB 2.2 -> 1.6 s.

_PERIOD_TYPES = dict(PERIOD_COLUMNS)


def _pp(k: int, name: str) -> SQL:
    """Column `name` of period k, as the bound parameter `_params` fills."""
    return sa.bindparam(period_param(k, name), type_=_PERIOD_TYPES[name])


def _period(k: int) -> PeriodColumns:
    """Period k's columns, as bound parameters."""
    return PeriodColumns(functools.partial(_pp, k))


def _first_period(n: int, cond: Callable[[int], ColumnElement[bool]]) -> SQL:
    """The first period index k in [0, n) for which `cond(k)` holds, else n (also when the row's value is
    missing: a comparison with NULL is not true). `cond` holds for every k after the first one that it holds
    for, so this is a binary search of nested CASEs: log2(n) comparisons a row."""
    def first(lo: int, hi: int) -> SQL:  # the first k in [lo, hi) meeting cond, else hi
        if hi - lo <= 3:
            whens = [(cond(k), sa.literal_column(str(k), sa.Integer)) for k in range(lo, hi)]
            return sa.case(*whens, else_=sa.literal_column(str(hi), sa.Integer)) if whens else \
                sa.literal_column(str(hi), sa.Integer)
        mid = (lo + hi) // 2
        return sa.case((cond(mid), first(lo, mid)), else_=first(mid + 1, hi))
    return first(0, n)


def _bounds(interval: Interval, c: Columns, n: int) -> tuple[SQL, SQL]:
    """A case's first period it counts in and the first (from then on) it no longer does; n: never."""
    start = c[interval.start]

    def started(k: int) -> ColumnElement[bool]:
        return interval.started(start, _period(k))

    def stopped(end: SQL) -> Callable[[int], ColumnElement[bool]]:
        return lambda k: interval.stopped(end, _period(k))
    ends = [_first_period(n, stopped(c[name])) for name in interval.end_columns()]
    return _first_period(n, started), ends[0] if len(ends) == 1 else sa.func.least(*ends)


@dataclass(frozen=True)
class _OpenMember:
    """How to read one metric's counts from `_open_select`'s rows."""
    kind: IntervalKind  # count | days (Σ days open so far) | overlap (Σ days of overlap with the period)
    s: str  # column: the first period the case counts in
    e: str  # column: the first period (from s on) it no longer counts in; n = never


def _open_select(names: tuple[str, ...], member_keys: tuple[tuple[str, ...], ...], n: int,
                 by: tuple[str, ...], filter_keys: tuple[str, ...]) -> tuple[sa.Select[Any], list[str], tuple[_OpenMember, ...]]:
    metrics = [REGISTRY[name] for name in names]
    c = hub_case.alias("c")
    h, svc = _case_joins(set(by) | set(filter_keys) | {k for keys in member_keys for k in keys})
    dim_expr = _case_dims(c, h, svc)
    cols: dict[str, Any] = {}  # label -> expression; members with the same bounds share a column

    def column(prefix: str, expr: Any) -> str:
        for label, known in cols.items():
            if label.startswith(prefix) and known.compare(expr):
                return label
        label = f"{prefix}{len(cols)}"
        cols[label] = expr
        return label

    ref = _pp(0, "p_start")  # sums are seconds from here: small numbers, exact enough in a double
    members: list[_OpenMember] = []
    aggs: list[Any] = []
    own_conds: list[ColumnElement[bool]] = []
    for i, (m, keys) in enumerate(zip(metrics, member_keys)):
        own = sa.and_(sa.true(), *[dim_expr[key].in_(sa.bindparam(f"w{i}_{key}", expanding=True)) for key in keys])
        if keys:
            own_conds.append(own)
        interval = _interval_of(m.measure)
        first, stop = _bounds(interval, c.c, n)
        s_col, e_col = column("s", first), column("e", stop)
        kind = interval.kind
        lower, upper = interval.sums(c.c, ref, _pp(n - 1, "p_end"))
        rows = Rows(own if keys else None)
        aggs += [sa.func.count(rows.only(sa.literal_column("1"))).label(f"n{i}"),
                 (sa.func.sum(rows.only(lower)) if kind != "count" else sa.null()).label(f"lo{i}"),
                 (sa.func.sum(rows.only(upper)) if upper is not None else sa.null()).label(f"hi{i}")]
        members.append(_OpenMember(kind, s_col, e_col))

    frm = _join_case_dims(c, c, h, svc)
    filters = [_span_filter(c, metrics[0]),
               *[dim_expr[key].in_(sa.bindparam(f"w_{key}", expanding=True)) for key in sorted(filter_keys)]]
    if own_conds and len(own_conds) == len(metrics):
        filters.append(sa.or_(*own_conds))  # a row no member counts is not read further
    dim_cols = [dim_expr[d].label(f"d_{d}") for d in by]
    bound_cols = [expr.label(label) for label, expr in cols.items()]
    groups = (sa.select(*dim_cols, *bound_cols, *aggs).select_from(frm).where(*filters)
              .group_by(*[dim_expr[d] for d in by], *[expr for expr in cols.values()])).subquery("g")
    return _open_events(groups, members, n, by), list(by), tuple(members)


def _open_events(g: Any, members: Sequence[_OpenMember], n: int, by: Sequence[str]) -> sa.Select[Any]:
    """From the groups (s, e), the period indexes where each member's counts change, summed per dimension
    and index: a case starts counting at s, stops at e, and (`Overlap`) is in its last period at e - 1. At
    most (dimension values x periods) rows come back, however many groups there are (a year of days by HWB
    has over a million)."""
    kinds = [(i, kind) for i, m in enumerate(members) for kind in ((0, 1, 2) if m.kind == "overlap" else (0, 1))]
    ev = sa.values(sa.column("m", sa.Integer), sa.column("kind", sa.Integer), name="ev", literal_binds=True).data(kinds)

    def at(i: int, kind: int) -> Any:
        return sa.and_(ev.c.m == i, ev.c.kind == kind)

    def event_index(i: int, kind: int) -> Any:
        m = members[i]
        return (g.c[m.s], g.c[m.e], g.c[m.e] - 1)[kind]

    index = sa.case(*[(at(i, kind), event_index(i, kind)) for i, kind in kinds])
    counted = sa.or_(*[sa.and_(ev.c.m == i, g.c[m.s] < g.c[m.e], g.c[m.s] < n) for i, m in enumerate(members)])
    sums: list[Any] = []
    for i, m in enumerate(members):
        sums += [sa.func.sum(sa.case((at(i, 0), g.c[f"n{i}"]))).label(f"ns{i}"),  # starting here
                 sa.func.sum(sa.case((at(i, 1), g.c[f"n{i}"]))).label(f"ne{i}")]  # stopping here
        if m.kind != "count":
            sums += [sa.func.sum(sa.case((at(i, 0), g.c[f"lo{i}"]))).label(f"ls{i}"),
                     sa.func.sum(sa.case((at(i, 1), g.c[f"lo{i}"]))).label(f"le{i}")]
        if m.kind == "overlap":
            sums += [sa.func.sum(sa.case((at(i, 2), g.c[f"n{i}"]))).label(f"nl{i}"),  # in their last period here
                     sa.func.sum(sa.case((at(i, 2), g.c[f"hi{i}"]))).label(f"hl{i}")]
    dims = [g.c[f"d_{d}"] for d in by]
    return (sa.select(*dims, index.label("k"), *sums).select_from(g.join(ev, sa.true())).where(counted)
            .group_by(*dims, index))


def _interval(prep: _Prepared) -> bool:
    """Whether `_open_select` answers this query: an `Open` measure over several instants in order, or an
    `Overlap` over several periods end to end (what `build_periods` and the look back give)."""
    interval, periods = prep.metric.measure.interval(), prep.periods
    if prep.metric.source != "cases" or len(periods) < 2 or interval is None:
        return False
    return interval.fits(periods)


def _interval_of(measure: Measure) -> Interval:
    interval = measure.interval()
    if interval is None:  # pragma: no cover - `_interval` sends only these measures here
        raise TypeError(type(measure).__name__)
    return interval


def _open_rows(members: Sequence[_OpenMember], group_dims: Sequence[str], periods: Sequence[Period],
               fetched: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Each member's rows (`k`, dimensions, `value`), as the per-period select gives them, from
    `_open_events`' changes: a case of group (s, e) counts in periods s .. e-1. A period where no case
    counts has no row (the same as grouping by period)."""
    n = len(periods)
    ref = periods[0].start

    def secs(t: datetime) -> float:
        return (t - ref).total_seconds()
    out: list[list[dict[str, Any]]] = []
    for i, m in enumerate(members):
        tallies: dict[tuple[Any, ...], tuple[list[int], list[float]]] = {}
        for row in fetched:
            k = row["k"]
            starting, stopping = int(row.get(f"ns{i}") or 0), int(row.get(f"ne{i}") or 0)
            last = int(row.get(f"nl{i}") or 0)
            if k is None or k >= n or not (starting or stopping or last):
                continue  # (an index n: stops after the last period)
            key = tuple(row.get(f"d_{d}") for d in group_dims)
            counts, extra = tallies.setdefault(key, ([0] * n, [0.0] * n))
            counts[k] += starting - stopping
            if m.kind == "days":  # Σ (at - start) = count * at - Σ start, from s on
                extra[k] += float(row.get(f"ls{i}") or 0.0) - float(row.get(f"le{i}") or 0.0)
            elif m.kind == "overlap":  # whole periods, less the part of the first before the start ...
                extra[k] += float(row.get(f"ls{i}") or 0.0) - starting * secs(periods[k].start)
                # ... and the part of the last after the end (clipped to the last period's end)
                extra[k] += last * secs(periods[k].end) - float(row.get(f"hl{i}") or 0.0)
        rows: list[dict[str, Any]] = []
        for key, (counts, extra) in tallies.items():
            count, running = 0, 0.0
            for k, period in enumerate(periods):
                count += counts[k]
                if m.kind == "days":
                    running += extra[k]
                if not count:
                    continue
                if m.kind == "count":
                    value: Any = count
                elif m.kind == "days":
                    value = (count * secs(period.at) - running) / 86400.0
                else:
                    value = (count * (secs(period.end) - secs(period.start)) - extra[k]) / 86400.0
                row = {"k": k, "value": value, "num": None, "den": None}
                row.update({f"d_{d}": v for d, v in zip(group_dims, key)})
                rows.append(row)
        out.append(rows)
    return out
