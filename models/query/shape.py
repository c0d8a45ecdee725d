"""Result shaping: the select's rows in; the rows of a `MetricResult` out (ratios divided, empty
periods filled, shares worked out, sorted)."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from models.metrics import Metric
from models.periods import (
    Period,
)
from models.query.api import MetricQuery, get_metric


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    return value


def _shape_rows(metric: Metric, periods: list[Period], q: MetricQuery, group_dims: list[str],
                fetched: list[dict[str, Any]], share_filter: set[Any] | None) -> list[dict[str, Any]]:
    measure = metric.measure
    label_of = {i: p.label for i, p in enumerate(periods)}
    fetched = measure.shape(fetched, q.by, share_filter)
    out: list[dict[str, Any]] = []
    for row in fetched:
        num, den = _plain(row["num"]), _plain(row["den"])
        value = measure.value(_plain(row["value"]), num, den)
        shaped: dict[str, Any] = {}
        if q.grain or q.lookback_days:
            shaped["period"] = label_of[row["k"]].isoformat()
        for d in q.by:
            shaped[d] = _plain(row[f"d_{d}"])
        shaped.update(value=value, numerator=num, denominator=den)
        shaped["_k"] = row["k"]
        out.append(shaped)
    if not q.by:  # one row per period, even where nothing happened
        have = {r["_k"] for r in out}
        for i, p in enumerate(periods):
            if i not in have:
                filler: dict[str, Any] = {"period": p.label.isoformat()} if q.grain or q.lookback_days else {}
                filler.update(_empty(metric))
                filler["_k"] = i
                out.append(filler)
    out.sort(key=lambda r: (r["_k"], *[(r.get(d) is None, str(r.get(d))) for d in q.by]))
    for r in out:
        del r["_k"]
    return out


def empty_value(metric: str) -> float | int | None:
    """A metric's value where a split (`by`) has no row: 0 for counts and sums, missing for rates and medians."""
    value: float | int | None = get_metric(metric).measure.empty[0]
    return value


def _empty(metric: Metric) -> dict[str, Any]:
    return dict(zip(("value", "numerator", "denominator"), metric.measure.empty))
