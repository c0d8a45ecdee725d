"""The select for a query's shape: metric name(s), `by`, filter keys, number of periods and grain in;
a SQLAlchemy select with named bound parameters (filled by `models.query.plan._params`) out. The metric's
source (models.query.sources) gives the FROM clause and the dimensions' columns; its measure
(models.measures) the condition and the aggregates."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from models.measures import Rows
from models.metrics import REGISTRY
from models.query.intervals import _open_select, _OpenMember
from models.query.sources import SOURCES, periods


def _compile(names: tuple[str, ...], member_keys: tuple[tuple[str, ...], ...], n_periods: int,
             by: tuple[str, ...], filter_keys: tuple[str, ...], grain: str | None = None,
             interval: bool = False, period_columns: frozenset[str] | None = None, reach: int = 1,
             ) -> tuple[sa.Select[Any], list[str], tuple[_OpenMember, ...] | None]:
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
    `period_columns` (several periods): the only columns of the periods' VALUES table the select reads;
    `reach`: the source's `reach` of the periods.
    """
    if interval:
        return _open_select(names, member_keys, n_periods, by, filter_keys)
    metrics = [REGISTRY[n] for n in names]
    metric = metrics[0]
    batch = len(metrics) > 1
    measure = metric.measure
    source = SOURCES[metric.source]
    # One period: its bounds are constants (no join). Several (a grain): a VALUES table joined in.
    p = periods(n_periods, period_columns, reach)
    where = set(filter_keys) - source.param_dimensions
    share_dim = measure.share_dimension
    group_dims = list(by) + ([share_dim] if share_dim and share_dim not in by else [])
    src = source.select_from(p, set(by) | where | {k for keys in member_keys for k in keys}, metrics, grain)
    scope, dims = src.scope, src.dims
    filters = list(src.filters)
    for key in sorted(where):
        if share_dim and key == share_dim:
            continue  # applied to the numerator after aggregation
        filters.append(dims[key].in_(sa.bindparam(f"w_{key}", expanding=True)))

    if batch:
        conds: list[ColumnElement[bool]] = []
        aggs: list[Any] = []
        for i, (m, keys) in enumerate(zip(metrics, member_keys)):
            if not m.measure.batched:  # pragma: no cover - `_batch_key` keeps them out of batches
                raise TypeError(f"{type(m.measure).__name__} cannot be batched")
            cond = sa.and_(m.measure.where(scope),
                           *[dims[key].in_(sa.bindparam(f"w{i}_{key}", expanding=True)) for key in keys])
            conds.append(cond)
            value, num, den = m.measure.aggregates(scope, Rows(cond))
            aggs += [value.label(f"v{i}"), num.label(f"num{i}"), den.label(f"den{i}"),
                     sa.func.count(sa.case((cond, 1))).label(f"n{i}")]
        row_filter: ColumnElement[bool] = sa.or_(*conds)
    else:
        row_filter = measure.where(scope)
        value, num, den = measure.aggregates(scope, Rows())
        aggs = [value.label("value"), num.label("num"), den.label("den")]

    dim_cols = [dims[d].label(f"d_{d}") for d in group_dims]
    stmt = sa.select(p["k"].label("k"), *dim_cols, *aggs).select_from(src.frm).where(row_filter, *filters)
    if p.single:
        stmt = stmt.group_by(*[dims[d] for d in group_dims])
        if not group_dims and not batch:  # as when grouped by period: no row at all when nothing matched
            stmt = stmt.having(sa.func.count() > 0)
    else:
        stmt = stmt.group_by(p["k"], *[dims[d] for d in group_dims])
    return stmt, group_dims, None
