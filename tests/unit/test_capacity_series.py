"""A capacity series has two selects (models.query.sources.Capacity): one aggregate per period's window up to
`WINDOWED_MAX_PERIODS` periods, the reports bucketed once beyond. Both must give the same figures: the
hand-worked daily trend of test_metrics under the bucketed select, and every capacity metric's series by
each of its splits, on DuckDB and PostgreSQL."""
from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from models.metrics import REGISTRY
from tests.capacity_selects import bucketed_select
from tests.metric_fixture import BRADFORD, BRIGHTON, LEEDS
from tests.unit.test_metrics import NOW, engine, q  # noqa: F401 - `engine` is the fixture (both stores)

DAYS = {"from": "2024-03-25", "to": "2024-04-03"}


def test_hand_worked_daily_trend_bucketed(engine: sa.Engine) -> None:  # noqa: F811
    # as test_metrics.test_capacity_daily_trend, whose arithmetic is in its comments
    days = {"from": "2024-03-30", "to": "2024-04-02"}
    with bucketed_select():
        trend = [(r["period"], r["value"]) for r in q(engine, "vacant_accepting", at=NOW, **days, grain="day")]
        occupancy = q(engine, "occupancy_rate", at=NOW, **days, grain="day")
        rows = q(engine, "vacant_accepting", at=NOW, **days, grain="day", by="hwb")
    assert trend == [("2024-03-30", 5), ("2024-03-31", 5), ("2024-04-01", 7)]
    assert [(r["numerator"], r["denominator"]) for r in occupancy] == [(25, 30), (58, 66), (90, 101)]
    assert [(r["period"], r["hwb"], r["value"]) for r in rows] == [
        ("2024-03-30", BRADFORD, 5), ("2024-03-31", LEEDS, 5), ("2024-04-01", BRIGHTON, 4), ("2024-04-01", LEEDS, 3)]


@pytest.mark.parametrize("split", [(), ("hwb",), ("pathway",), ("service_type",)])
@pytest.mark.parametrize("metric", sorted({m.name for m in REGISTRY.values() if m.source == "capacity"}))
def test_both_selects_give_the_same_series(engine: sa.Engine, metric: str, split: tuple[str, ...]) -> None:  # noqa: F811
    if not set(split) <= set(REGISTRY[metric].dimensions):
        pytest.skip(f"{metric} has no split by {split}")
    params: dict[str, Any] = {"at": NOW, **DAYS, "grain": "day"}
    if split:
        params["by"] = ",".join(split)
    windowed = q(engine, metric, **params)
    with bucketed_select():
        bucketed_rows = q(engine, metric, **params)
    assert any(r["value"] for r in windowed), windowed  # the comparison is of something
    assert bucketed_rows == windowed
