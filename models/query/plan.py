"""The statement cache: a query's shape in, the compiled select (`_Plan`, cached per shape) out; and
`_params`, the values of its bound parameters for one query."""
from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.sql.compiler import SQLCompiler

from models import settings
from models.metrics import (
    Metric,
)
from models.periods import (
    Period,
    period_params,
)
from models.query.api import _DATA_VERSION
from models.query.compile import _compile
from models.query.intervals import _OpenMember
from models.query.sources import SOURCES

# --- the statement cache ------------------------------------------------------
#
# Building the select and compiling it to SQL costs a few milliseconds a query, as
# much as many of the queries themselves take to run (duckdb_engine opts out of
# SQLAlchemy's own compiled cache). The SQL text depends only on the query's shape:
# metric(s), `by`, which filters are set, the number of periods and the dialect.
# Everything else — the periods' instants, the filter values — is a named bound
# parameter (see `_compile`), so each shape is compiled once and then executed with
# fresh parameters; expanding `IN` lists take any number of values.

@dataclass(frozen=True)
class _Plan:
    compiled: SQLCompiler  # the select plus a `data_version` column
    group_dims: tuple[str, ...]
    open_members: tuple[_OpenMember, ...] | None = None  # an `_open_select`: read its rows with `_open_rows`


_PERIOD_REF = re.compile(r"\bp\.(\w+)")  # a column of the periods' VALUES table (named "p") in compiled SQL


@functools.lru_cache(maxsize=512)
def _plan(dialect: Dialect, names: tuple[str, ...], member_keys: tuple[tuple[str, ...], ...], n_periods: int,
          by: tuple[str, ...], filter_keys: tuple[str, ...], grain: str | None = None, interval: bool = False,
          reach: int = 1) -> _Plan:
    stmt, group_dims, members = _compile(names, member_keys, n_periods, by, filter_keys, grain, interval, reach=reach)
    if n_periods > 1 and not interval:
        # Again with only the period columns the select reads: every cell of the VALUES table is a
        # parameter bound on every run (a 28-day series: 364 cells, 2-3 ms, down to 84 cells).
        read = frozenset(_PERIOD_REF.findall(str(stmt.compile(dialect=dialect))))
        stmt, group_dims, members = _compile(names, member_keys, n_periods, by, filter_keys, grain, interval, read,
                                             reach)
    # The data version in the same statement: one round trip, and it is read from the same snapshot as the
    # rows. (A select that returns no row returns no version either: `run_query` then asks separately.)
    stmt = stmt.add_columns(_DATA_VERSION.scalar_subquery().label("data_version"))
    return _Plan(stmt.compile(dialect=dialect), tuple(group_dims), members)


def _reach(metric: Metric, periods: list[Period]) -> int:
    """The part of a query's shape its source reads from its periods (`Source.reach`)."""
    return SOURCES[metric.source].reach(periods) if len(periods) > 1 else 1


def _params(metric: Metric, periods: list[Period], where: Mapping[str, list[Any]]) -> dict[str, Any]:
    """Values of the named bound parameters of `_compile`'s select."""
    stale_hours = settings.stale_hours()
    params = period_params(periods, stale_hours)
    params["bucket_from"] = periods[0].label  # the first bucket's first day (a parameter only `_bucket` uses)
    params.update({f"w_{key}": vals for key, vals in where.items()})
    params.update(SOURCES[metric.source].params(periods, where))
    return params
