"""The few per-store SQL differences, in one place.

DuckDB (with its bundled ICU) and PostgreSQL agree on more than one would
expect: `timezone(zone, ts)`, `extract(epoch ...)`, `percentile_cont ...
WITHIN GROUP`, `greatest`/`least` all mean the same on both, so today the
functions below render identically. They stay here so that a third store, or
a difference found later, is mended in one module and not in every metric.
"""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

LONDON = "Europe/London"


def london_local(ts: ColumnElement[Any]) -> ColumnElement[Any]:
    """A naive-UTC timestamp as naive Europe/London wall-clock time (BST aware)."""
    return sa.func.timezone(LONDON, sa.func.timezone("UTC", ts))


# Since 1996 UK summer time runs from 01:00 UTC on the last Sunday of March to 01:00 UTC on the
# last Sunday of October, and the offset is 0 or +1 hour: the London date of a UTC time differs
# from its UTC date only at 23:xx UTC in summer time.
_EU_RULES_FROM = sa.literal_column("TIMESTAMP '1996-01-01 00:00:00'", sa.DateTime)


def _last_sunday(year: ColumnElement[Any], month: int) -> ColumnElement[Any]:
    last = sa.func.make_date(year, month, 31)  # March and October both have 31 days
    return last - sa.cast(sa.extract("dow", last), sa.Integer)  # dow: Sunday = 0 in both stores


def london_date(ts: ColumnElement[Any]) -> ColumnElement[Any]:
    """The Europe/London calendar date of a naive-UTC timestamp.

    Time-zone conversion (ICU in DuckDB) costs microseconds a row, too slow over
    hundreds of thousands of cases, so from 1996 the date is worked out with plain
    date arithmetic, exactly (checked against the tz database minute by minute
    1995–2040); earlier times, and none since, go through the time-zone functions.
    """
    utc_date = sa.cast(ts, sa.Date)
    year = sa.cast(sa.extract("year", ts), sa.Integer)
    return sa.case(
        (ts < _EU_RULES_FROM, sa.cast(london_local(ts), sa.Date)),
        (sa.and_(sa.extract("hour", ts) == 23, utc_date >= _last_sunday(year, 3),
                 utc_date < _last_sunday(year, 10)),
         utc_date + sa.literal_column("1", sa.Integer)),
        else_=utc_date,
    )


def whole_days(start: ColumnElement[Any], end: ColumnElement[Any]) -> ColumnElement[Any]:
    """Difference of the two times' London calendar dates (the spec's 'whole days')."""
    return sa.cast(london_date(end) - london_date(start), sa.Integer)


def epoch_seconds(ts: ColumnElement[Any]) -> ColumnElement[Any]:
    return sa.cast(sa.extract("epoch", ts), sa.Double)  # FLOAT is 32-bit in DuckDB


def seconds_between(start: ColumnElement[Any], end: ColumnElement[Any]) -> ColumnElement[Any]:
    return epoch_seconds(end) - epoch_seconds(start)


def percentile_cont(fraction: float, expr: ColumnElement[Any]) -> ColumnElement[Any]:
    """Continuous percentile; NULLs (rows outside the metric's condition) are ignored."""
    return sa.func.percentile_cont(fraction).within_group(expr)


class latest(FunctionElement[Any]):
    """Aggregate: `expr` of the row with the greatest `order_by` in the group (one latest report per service).

    DuckDB's `arg_max` is a plain hash aggregate; a `row_number()` window over
    thousands of partitions was ~10x slower on a year of national capacity reports.
    """

    inherit_cache = True
    name = "latest"

    def __init__(self, expr: ColumnElement[Any], order_by: ColumnElement[Any]) -> None:
        super().__init__(expr, order_by)
        self.type = expr.type


@compiles(latest)
def _latest(element: latest, compiler: Any, **kw: Any) -> str:
    expr, order_by = list(element.clauses)
    return (f"(array_agg({compiler.process(expr, **kw)} ORDER BY {compiler.process(order_by, **kw)} DESC))[1]")


@compiles(latest, "duckdb")
def _latest_duckdb(element: latest, compiler: Any, **kw: Any) -> str:
    expr, order_by = list(element.clauses)
    return f"arg_max({compiler.process(expr, **kw)}, {compiler.process(order_by, **kw)})"
