"""The select for a query's shape: metric name(s), `by`, filter keys, number of periods and grain in;
a SQLAlchemy select with named bound parameters (filled by `models.query.plan._params`) out."""
from __future__ import annotations

from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from models.dialects import latest
from models.metrics import (
    REGISTRY,
    Count,
    DailyMean,
    Mean,
    Open,
    Overlap,
    Percentile,
    PublishedRatio,
    PublishedSum,
    Ratio,
    Share,
    Sum,
    SumRatio,
)
from models.periods import (
    PERIOD_COLUMNS,
    period_param,
    periods_table,
)
from models.query.cases import (
    _case_dims,
    _case_joins,
    _event_column,
    _join_case_dims,
    _span_filter,
)
from models.query.intervals import _open_select, _OpenMember
from models.tables import (
    CASE_DATES,
    capacity_report,
    hub_case,
    hwb,
    service,
    sitrep_value,
)
from models.vocab import COMMUNITY_SITREP_FEED

# --- compilation -----------------------------------------------------------

class Scope:
    """Table aliases a measure's callables see; joins are added only when a dimension needs them.

    `p` holds the period columns: columns of the VALUES table of periods, or, for a
    single period (no grain, the common case), the period's values as bound constants.
    """

    def __init__(self, p: Mapping[str, Any], **tables: Any) -> None:
        # (a select over many periods may carry only the period columns it reads: see `_plan`)
        self.p = SimpleNamespace(**p, start=p.get("p_start"), end=p.get("p_end"), at=p.get("p_at"))
        for name, table in tables.items():
            setattr(self, name, table.c if table is not None else None)


class _Constants:
    """A single period as bound parameters, shaped like a VALUES table's `.c` (`pc.c.p_at`, `pc.c["k"]`).

    With constants in the WHERE clause the store prunes row groups by their min / max
    (zone maps), pushes filters into the scan and needs no join against the periods:
    the select is what one would write by hand. The parameters are those of period 0
    of `period_params`.
    """

    def __init__(self) -> None:
        self.c = SimpleNamespace(**{name: sa.bindparam(period_param(0, name), type_=type_)
                                    for name, type_ in PERIOD_COLUMNS if name != "k"})
        self.c.k = sa.literal_column("0", sa.Integer)

    def columns(self) -> dict[str, Any]:
        return dict(vars(self.c))



def _compile(names: tuple[str, ...], member_keys: tuple[tuple[str, ...], ...], n_periods: int,
             by: tuple[str, ...], filter_keys: tuple[str, ...], grain: str | None = None,
             interval: bool = False, period_columns: frozenset[str] | None = None,
             ) -> tuple[sa.Select, list[str], tuple[_OpenMember, ...] | None]:
    """The select for a query's shape. Every value that varies between queries of the same shape
    is a named bound parameter, filled by `_params`: the periods' `p{i}_{column}`, the filter
    values `w_{key}` (expanding: any number of values), the sitrep `feeds`, and for a case
    metric with several periods `span_from` / `span_to`.

    Several metrics of one source over the same periods and `by` (`names`, a batch) share one
    select: the source's rows are read and joined once, and each metric aggregates only its own
    rows (its condition, plus its own filters `w{i}_{key}` from `member_keys`, inside the
    aggregate). The columns are then `v{i}`, `num{i}`, `den{i}` and `n{i}` (its rows matched).

    With `interval` (`Open` / `Overlap` measures over many periods, see `_interval`) the select is
    `_open_select`'s instead, and the third item says how to read its rows (`_open_rows`).
    `period_columns` (several periods): the only columns of the periods' VALUES table the select reads.
    """
    if interval:
        return _open_select(names, member_keys, n_periods, by, filter_keys)
    metrics = [REGISTRY[n] for n in names]
    metric = metrics[0]
    batch = len(metrics) > 1
    measure = metric.measure
    single = n_periods == 1
    # One period: its bounds are constants (no join). Several (a grain): a VALUES table joined in.
    p: Any = _Constants() if single else periods_table(n_periods, period_columns)
    pcols = p.columns() if single else {name: p.c[name] for name, _ in PERIOD_COLUMNS if name in p.c}
    where = set(filter_keys)
    dims_needed = set(by) | where | {k for keys in member_keys for k in keys}
    share_dim = measure.dimension if isinstance(measure, Share) else None
    group_dims = list(by) + ([share_dim] if share_dim and share_dim not in by else [])
    filters: list[ColumnElement[bool]] = []

    if metric.source == "cases":
        c = hub_case.alias("c")
        h, svc = _case_joins(dims_needed)
        event = _event_column(metrics) if grain is not None and not single else None
        if single:
            frm = c
        elif event is not None:
            # Each case meets the one period its event falls in: a hash join on the period's index,
            # not every case paired with every period (the measure's own window test still applies).
            frm = c.join(p, p.c.k == _bucket(c.c[CASE_DATES[event]], grain))  # type: ignore[arg-type]
        else:
            frm = p.join(c, sa.true())
        frm = _join_case_dims(frm, c, h, svc)
        scope = Scope(pcols, c=c)
        if not single and metric.span is not None:
            filters.append(_span_filter(c, metric))
        dim_expr = _case_dims(c, h, svc)
    elif metric.source == "capacity":
        cr = capacity_report
        # each service's latest report inside the staleness window (per period)
        latest_cols = [latest(col, cr.c.reported_at).label(col.name)
                       for col in (cr.c.capacity, cr.c.occupied, cr.c.vacant_accepting, cr.c.vacant_reserved)]
        if single:
            r = (sa.select(cr.c.service_id, *latest_cols)
                 .where(cr.c.reported_at >= p.c.stale_from, cr.c.reported_at <= p.c.p_at)
                 .group_by(cr.c.service_id)
                 .subquery("r"))
        else:
            # One aggregate per period, each over its own staleness window given as constants, as in the
            # single-period select: the scan reads only that window's row groups and the aggregate is a
            # plain hash aggregate. (A range join of the periods to the reports paired every report with
            # every period before filtering: 0.3-3 s on a year of national reports.)
            def window(i: int) -> sa.Select:
                stale_from = sa.bindparam(period_param(i, "stale_from"), type_=sa.DateTime)
                at = sa.bindparam(period_param(i, "p_at"), type_=sa.DateTime)
                return (sa.select(sa.literal_column(str(i), sa.Integer).label("k"), cr.c.service_id, *latest_cols)
                        .where(cr.c.reported_at >= stale_from, cr.c.reported_at <= at)
                        .group_by(cr.c.service_id))
            r = sa.union_all(*[window(i) for i in range(n_periods)]).subquery("r")
        s = service.alias("s")
        h = hwb.alias("h") if dims_needed & {"icb", "place"} else None
        if single:
            frm = s.outerjoin(r, r.c.service_id == s.c.service_id)
            filters.append(s.c.first_reported_at <= p.c.p_at)
        else:
            frm = p.join(s, s.c.first_reported_at <= p.c.p_at).outerjoin(
                r, sa.and_(r.c.k == p.c.k, r.c.service_id == s.c.service_id))
        if h is not None:
            frm = frm.join(h, h.c.hwb_code == s.c.hwb_code)
        scope = Scope(pcols, s=s, r=r)
        dim_expr = {"hwb": s.c.hwb_code, "icb": h.c.icb_code if h is not None else None,
                    "place": h.c.place_code if h is not None else None, "pathway": s.c.pathway,
                    "service_type": s.c.service_type, "service_id": s.c.service_id}
    else:
        v = sitrep_value.alias("v")
        in_period = sa.and_(v.c.period_date >= p.c.start_date, v.c.period_date < p.c.end_date)
        if single:
            frm = v
            filters.append(in_period)
        else:
            frm = p.join(v, in_period)
        scope = Scope(pcols, v=v)
        where.discard("collection")  # chooses the feeds
        filters.append(v.c.feed.in_(sa.bindparam("feeds", expanding=True)))
        if isinstance(measure, DailyMean):
            filters.append(v.c.measure == measure.measure)
        elif isinstance(measure, PublishedRatio):
            filters.append(v.c.measure.in_((measure.numerator, measure.denominator)))
        else:
            filters.append(v.c.measure.startswith(measure.prefix))
        if not ({"level", "org"} & (set(by) | set(where))):
            filters.append(v.c.level == "england")  # one figure, not the sum of every level
        dim_expr = {"level": v.c.level, "org": v.c.org_code, "pathway": v.c.pathway,
                    "collection": sa.case((v.c.feed == COMMUNITY_SITREP_FEED, "community"), else_="acute")}

    for key in sorted(where):
        if share_dim and key == share_dim:
            continue  # applied to the numerator after aggregation
        filters.append(dim_expr[key].in_(sa.bindparam(f"w_{key}", expanding=True)))

    if batch:
        conds: list[ColumnElement[bool]] = []
        aggs: list[Any] = []
        for i, (m, keys) in enumerate(zip(metrics, member_keys)):
            cond = sa.and_(m.measure.where(scope),  # type: ignore[union-attr]
                           *[dim_expr[key].in_(sa.bindparam(f"w{i}_{key}", expanding=True)) for key in keys])
            conds.append(cond)
            value, num, den = _aggregates(m.measure, scope, cond)
            aggs += [value.label(f"v{i}"), num.label(f"num{i}"), den.label(f"den{i}"),
                     sa.func.count(sa.case((cond, 1))).label(f"n{i}")]
        row_filter: ColumnElement[bool] = sa.or_(*conds)
    else:
        row_filter = measure.where(scope) if hasattr(measure, "where") else sa.true()
        value, num, den = _aggregates(measure, scope, None)
        aggs = [value.label("value"), num.label("num"), den.label("den")]

    dim_cols = [dim_expr[d].label(f"d_{d}") for d in group_dims]
    stmt = sa.select(p.c.k.label("k"), *dim_cols, *aggs).select_from(frm).where(row_filter, *filters)
    if single:
        stmt = stmt.group_by(*[dim_expr[d] for d in group_dims])
        if not group_dims and not batch:  # as when grouped by period: no row at all when nothing matched
            stmt = stmt.having(sa.func.count() > 0)
    else:
        stmt = stmt.group_by(p.c.k, *[dim_expr[d] for d in group_dims])
    return stmt, group_dims, None



def _bucket(day: ColumnElement[Any], grain: str) -> ColumnElement[Any]:
    """Index of the London day, week or month of the event (its stored London `day`) counted from the first
    period's (`bucket_from`), as `build_periods` numbers them; outside the window it is out of range or
    filtered by the window test."""
    first = sa.bindparam("bucket_from", type_=sa.Date)
    if grain == "day":
        return sa.cast(day - first, sa.Integer)
    if grain == "week":
        return sa.cast(sa.func.floor(sa.cast(day - first, sa.Integer) / 7.0), sa.Integer)
    months = lambda d: sa.cast(sa.extract("year", d), sa.Integer) * 12 + sa.cast(sa.extract("month", d), sa.Integer)
    return months(day) - months(first)


def _aggregates(measure: Any, scope: Scope, cond: ColumnElement[bool] | None) -> tuple[Any, Any, Any]:
    """(value, numerator, denominator) aggregates of a measure. With `cond` (a batch member) each
    aggregate sees only the rows meeting it: the others are NULL to it, which every aggregate skips."""
    def only(expr: Any) -> Any:
        return expr if cond is None else sa.case((cond, expr))

    def rows() -> Any:  # count of the measure's rows
        return sa.func.count() if cond is None else sa.func.count(sa.case((cond, 1)))

    null = sa.null()
    if isinstance(measure, Count) or (isinstance(measure, Open) and not measure.days):
        return rows(), null, null
    if isinstance(measure, (Sum, Open, Overlap)):
        return sa.func.sum(only(measure.expr(scope))), null, null
    if isinstance(measure, Ratio):
        return null, sa.func.sum(only(sa.case((measure.numerator(scope), 1), else_=0))), rows()
    if isinstance(measure, SumRatio):
        return null, sa.func.sum(only(measure.numerator(scope))), sa.func.sum(only(measure.denominator(scope)))
    if isinstance(measure, Percentile):
        from models.dialects import percentile_cont
        return percentile_cont(measure.fraction, only(measure.expr(scope))), null, null
    if isinstance(measure, Mean):
        return sa.func.avg(only(measure.expr(scope))), null, null
    if cond is not None:  # pragma: no cover - `_batch_key` keeps the measures below out of batches
        raise TypeError(f"{type(measure).__name__} cannot be batched")
    if isinstance(measure, Share):
        return null, sa.func.count(), null
    if isinstance(measure, DailyMean):
        v_ = scope.v
        return null, sa.func.sum(v_.value), sa.func.count(sa.distinct(sa.case((v_.value.is_not(None), v_.period_date))))
    if isinstance(measure, PublishedRatio):
        v_ = scope.v
        return (null, sa.func.sum(sa.case((v_.measure == measure.numerator, v_.value))),
                sa.func.sum(sa.case((v_.measure == measure.denominator, v_.value))))
    if isinstance(measure, PublishedSum):
        return sa.func.sum(scope.v.value), null, null
    raise TypeError(measure)  # pragma: no cover - the registry only holds the types above
