"""Result shaping: the select's rows in; the rows of a `MetricResult` out (ratios divided, empty
periods filled, shares worked out, sorted)."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from models.metrics import (
    Count,
    DailyMean,
    Metric,
    Open,
    Overlap,
    PublishedRatio,
    Ratio,
    Share,
    Sum,
    SumRatio,
)
from models.periods import (
    Period,
)
from models.query.api import MetricQuery, get_metric
from models.vocab import NOT_RECORDED


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    return value


def _ratio(num: Any, den: Any) -> float | None:
    # missing, not 0: a zero denominator, or a numerator that was never published
    return None if num is None or not den else float(num) / float(den)



def _shape_rows(metric: Metric, periods: list[Period], q: MetricQuery, group_dims: list[str],
                fetched: list[dict[str, Any]], share_filter: set[Any] | None) -> list[dict[str, Any]]:
    measure = metric.measure
    label_of = {i: p.label for i, p in enumerate(periods)}
    if isinstance(measure, Share):
        fetched = _shares(measure, q.by, fetched, share_filter)
    out: list[dict[str, Any]] = []
    for row in fetched:
        num, den, value = _plain(row["num"]), _plain(row["den"]), _plain(row["value"])
        if isinstance(measure, (Ratio, SumRatio, DailyMean, PublishedRatio, Share)):
            value = _ratio(num, den)
        elif _summed(measure) and value is None:
            value = 0
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


def _summed(measure: Any) -> bool:
    """A count or a sum: 0, never missing, where nothing matched."""
    return isinstance(measure, (Count, Sum, Open, Overlap))


def empty_value(metric: str) -> float | int | None:
    """A metric's value where a split (`by`) has no row: 0 for counts and sums, missing for rates and medians."""
    return _empty(get_metric(metric))["value"]


def _empty(metric: Metric) -> dict[str, Any]:
    m = metric.measure
    if _summed(m):
        return {"value": 0, "numerator": None, "denominator": None}
    if isinstance(m, (Ratio, SumRatio, Share)):
        return {"value": None, "numerator": 0, "denominator": 0}
    return {"value": None, "numerator": None, "denominator": None}


def _shares(measure: Share, by: tuple[str, ...], fetched: list[dict[str, Any]],
            share_filter: set[Any] | None) -> list[dict[str, Any]]:
    """Numerator per group, denominator = all rows of the same period and other dimensions."""
    dim = f"d_{measure.dimension}"
    others = [f"d_{d}" for d in by if d != measure.dimension]
    totals: dict[tuple[Any, ...], int] = {}
    for row in fetched:
        key = (row["k"], *[row[o] for o in others])
        totals[key] = totals.get(key, 0) + int(row["num"])
    keep_dim = measure.dimension in by
    grouped: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in fetched:
        others_key = (row["k"], *[row[o] for o in others])
        has_value = not (measure.require_value and row[dim] in (None, NOT_RECORDED))
        selected = share_filter is None or row[dim] in share_filter
        if keep_dim and not (has_value and selected):
            continue  # not a row of the answer; it still counted in the denominator above
        entry = grouped.setdefault((*others_key, row[dim] if keep_dim else None),
                                   {**row, "num": 0, "den": totals[others_key]})
        entry["num"] += int(row["num"]) if (has_value and selected) else 0
    return list(grouped.values())
