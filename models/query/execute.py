"""Execution: a `_Prepared` query in, a `MetricResult` out, through the cached plan and one select on
the driver's own cursor."""
from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.sql.compiler import SQLCompiler

import models.query as _package
from models import deadline
from models.query.api import MetricQuery, MetricResult, _data_version
from models.query.intervals import _interval, _open_rows
from models.query.plan import _params, _Plan, _plan, _reach
from models.query.prepare import _prepare, _Prepared
from models.query.shape import _shape_rows


def _fetch(engine: Engine, plan: _Plan, params: dict[str, Any],
           gate: AbstractContextManager[Any] | None = None) -> tuple[list[dict[str, Any]], int]:
    """The select's rows and the data version. `gate` is held while the store runs it (see `run_queries`)."""
    sql = plan.compiled.construct_expanded_state(params)  # IN lists expanded here
    positional = sql.positional_parameters if engine.dialect.positional else sql.parameters
    # On the driver's own cursor: a page runs a dozen or more selects, and a SQLAlchemy connection's
    # BEGIN and result wrapping cost about 1.5 ms a select (a read needs no transaction of its own).
    with gate or nullcontext():
        fetched = _execute(engine, sql.statement, positional)
    if fetched:  # the version comes with the rows; only a select that returned none needs asking
        return fetched, int(fetched[0]["data_version"] or 0)
    with engine.connect() as conn:
        return fetched, _data_version(conn)


def _execute(engine: Engine, statement: str, params: Any) -> list[dict[str, Any]]:
    dbapi = engine.raw_connection()
    try:
        cursor = dbapi.cursor()
        try:
            with deadline.watched(dbapi):  # a web request's time limit (models.deadline)
                cursor.execute(statement, params)
                names = [d[0] for d in cursor.description]
                return [dict(zip(names, row)) for row in cursor.fetchall()]
        finally:
            cursor.close()
    finally:
        dbapi.close()  # back to the pool, which ends the driver's transaction (PostgreSQL opens one)


def _result(prep: _Prepared, group_dims: tuple[str, ...], fetched: list[dict[str, Any]], version: int) -> MetricResult:
    rows = _shape_rows(prep.metric, prep.periods, prep.q, list(group_dims), fetched, prep.share_filter)
    return MetricResult(metric=prep.metric.name, as_of=prep.at, data_version=version, rows=rows, query=prep.q,
                        window=prep.window, unit=prep.metric.unit)


def run_query(engine: Engine, q: MetricQuery) -> MetricResult:
    return _run_one(engine, _prepare(engine, q))


def _run_one(engine: Engine, prep: _Prepared, gate: AbstractContextManager[Any] | None = None) -> MetricResult:
    q = prep.q
    plan = _plan(engine.dialect, (prep.metric.name,), ((),), len(prep.periods), q.by, tuple(sorted(prep.where)),
                 q.grain, _interval(prep), _reach(prep.metric, prep.periods))
    fetched, version = _package._fetch(engine, plan, _params(prep.metric, prep.periods, prep.where), gate)
    if plan.open_members is not None:
        fetched = _open_rows(plan.open_members, plan.group_dims, prep.periods, fetched)[0]
    return _result(prep, plan.group_dims, fetched, version)



def compiled_select(engine: Engine, q: MetricQuery) -> SQLCompiler:
    """The select `run_query` sends for `q`, compiled for `engine`'s dialect, before IN lists are expanded
    (for the SQL snapshot tests). Connects only if a geography filter must be checked."""
    prep = _prepare(engine, q)
    return _plan(engine.dialect, (prep.metric.name,), ((),), len(prep.periods), q.by, tuple(sorted(prep.where)),
                 q.grain, _interval(prep), _reach(prep.metric, prep.periods)).compiled
