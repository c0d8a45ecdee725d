"""The few per-store SQL differences, in one place.

DuckDB (with its bundled ICU) and PostgreSQL agree on more than one would
expect: `timezone(zone, ts)`, `extract(epoch ...)`, `percentile_cont ...
WITHIN GROUP`, `greatest`/`least` all mean the same on both, so today the
functions below render identically. They stay here so that a third store, or
a difference found later, is mended in one module and not in every metric.
"""
from __future__ import annotations

from datetime import date, timedelta
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
# from its UTC date only at 23:xx UTC in summer time. The start and end instants of 1996-2100 are
# written into the SQL as two constant arrays indexed by year: a lookup per row, where working out
# "last Sunday" with make_date and the day of the week cost twice as much (measured: a half-year
# median length of stay, 103 ms against 57 ms; 39 ms with no time zone at all).
_RULES_FROM, _RULES_TO = 1996, 2100


def _last_sunday_01_utc(year: int, month: int) -> str:
    last = date(year, month, 31)  # March and October both have 31 days
    return (last - timedelta(days=(last.weekday() + 1) % 7)).isoformat() + " 01:00:00"


_BST_STARTS = [_last_sunday_01_utc(y, 3) for y in range(_RULES_FROM, _RULES_TO + 1)]
_BST_ENDS = [_last_sunday_01_utc(y, 10) for y in range(_RULES_FROM, _RULES_TO + 1)]


class london_date(FunctionElement[Any]):  # noqa: N801 - called like the SQL function it is
    """The Europe/London calendar date of a naive-UTC timestamp.

    Time-zone conversion (ICU in DuckDB) costs microseconds a row, too slow over hundreds of
    thousands of cases, so from 1996 to 2100 the date comes from the summer-time table above
    (checked against the tz database in tests/unit/test_london_date.py); other years go through
    the time-zone functions.
    """

    inherit_cache = True
    name = "london_date"
    type = sa.Date()

    def __init__(self, ts: ColumnElement[Any]) -> None:
        super().__init__(ts)


@compiles(london_date)
def _london_date(element: london_date, compiler: Any, **kw: Any) -> str:
    """The same SQL in both stores (DuckDB reads PostgreSQL's ARRAY[...] too)."""
    ts = compiler.process(list(element.clauses)[0], **kw)
    index = f"CAST(EXTRACT(year FROM {ts}) AS INTEGER) - {_RULES_FROM - 1}"

    def array(instants: list[str]) -> str:
        return "ARRAY[" + ", ".join(f"TIMESTAMP '{x}'" for x in instants) + "]"
    return (f"CASE WHEN {ts} < TIMESTAMP '{_RULES_FROM}-01-01 00:00:00' OR {ts} >= TIMESTAMP '{_RULES_TO + 1}-01-01 00:00:00' "
            f"THEN CAST(timezone('{LONDON}', timezone('UTC', {ts})) AS DATE) "
            f"WHEN EXTRACT(hour FROM {ts}) = 23 AND {ts} >= ({array(_BST_STARTS)})[{index}] "
            f"AND {ts} < ({array(_BST_ENDS)})[{index}] THEN CAST({ts} AS DATE) + 1 "
            f"ELSE CAST({ts} AS DATE) END")


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


class latest(FunctionElement[Any]):  # noqa: N801 - called like the SQL aggregate it is
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
