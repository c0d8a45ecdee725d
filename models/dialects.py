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
from sqlalchemy.sql.elements import ColumnElement

LONDON = "Europe/London"


def london_local(ts: ColumnElement[Any]) -> ColumnElement[Any]:
    """A naive-UTC timestamp as naive Europe/London wall-clock time (BST aware)."""
    return sa.func.timezone(LONDON, sa.func.timezone("UTC", ts))


def london_date(ts: ColumnElement[Any]) -> ColumnElement[Any]:
    return sa.cast(london_local(ts), sa.Date)


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
