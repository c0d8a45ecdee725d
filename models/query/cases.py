"""How a case select reaches its dimensions: in, the case alias and the dimensions asked for;
out, the joins (the tables `models.dimensions` reads those dimensions from) and each dimension's column, the span filter and the event column of a metric."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from models.dimensions import columns_in, tables_for
from models.metrics import Metric
from models.tables import hwb, service


def _case_joins(dims: set[str]) -> tuple[Any, Any]:
    """The HWB and destination service aliases a case query needs for these dimensions (None: not needed)."""
    tables = tables_for("cases", dims)
    return (hwb.alias("h") if "hwb" in tables else None,
            service.alias("svc") if "service" in tables else None)


def _join_case_dims(frm: Any, c: Any, h: Any, svc: Any) -> Any:
    if h is not None:
        frm = frm.join(h, h.c.hwb_code == c.c.hwb_code)
    if svc is not None:
        frm = frm.outerjoin(svc, svc.c.service_id == c.c.destination_service_id)
    return frm


def _case_dims(c: Any, h: Any, svc: Any) -> dict[str, Any]:
    """Each case dimension whose table is joined, as its value (`models.dimensions` names its column)."""
    return columns_in("cases", {"hub_case": c, "hwb": h, "service": svc})


def _span_filter(c: Any, metric: Metric) -> ColumnElement[bool]:
    """Constant bounds over all periods, pushed into the scan, before the join to the periods
    (every member of a batch has this span: see `_batch_key`)."""
    start, end = (c.c[name] for name in metric.span or ())
    return sa.and_(start <= sa.bindparam("span_to", type_=sa.DateTime),
                   sa.or_(end.is_(None), end >= sa.bindparam("span_from", type_=sa.DateTime)))


def _event_column(metrics: Sequence[Metric]) -> str | None:
    """The one column whose time puts a case in a period, when every metric counts cases by a single event
    (a period metric whose span starts and ends at the same column: discharges, IC ends, ...)."""
    events = {m.span[0] if m.kind == "period" and m.span and m.span[0] == m.span[1] else None for m in metrics}
    return events.pop() if len(events) == 1 else None
