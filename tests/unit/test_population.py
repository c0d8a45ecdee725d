"""NCTR per 100,000 population on hand-built data: a count from the metrics layer over the HWB's residents."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from models import tables as t
from models.geography import get_geography, invalidate_geography
from models.population import highest_per_100k, per_100k
from models.query import MetricQuery, run_query
from tests.metric_fixture import BRADFORD, LEEDS, L

BRIGHTON = "E06000043"


def _waiting(hwb: str, n: int) -> list[dict[str, object]]:
    return [dict(hub_id="HUB1", case_id=f"{hwb}-{i}", person_id=f"p-{hwb}-{i}", hwb_code=hwb, age=80,
                 referred_at=L("2024-03-01 09:00"), discharge_ready_at=L("2024-03-02 10:00"),
                 updated_at=L("2024-03-02 10:00")) for i in range(n)]


@pytest.fixture
def waiting(duck_store: sa.Engine) -> sa.Engine:
    """Bradford 10 waiting in 50,000 people; Leeds 30 in 300,000; Brighton nobody waiting."""
    from models.db import fill_case_dates

    names = [c.name for c in t.hub_case.c]
    with duck_store.begin() as conn:
        conn.execute(t.hub_case.insert(), [{n: r.get(n) for n in names}
                                           for r in _waiting(BRADFORD, 10) + _waiting(LEEDS, 30)])
        fill_case_dates(conn)
        for code, people in ((BRADFORD, 50_000), (LEEDS, 300_000), (BRIGHTON, 250_000)):
            conn.execute(t.hwb_population.update().where(t.hwb_population.c.hwb_code == code)
                         .values(population=people))
    invalidate_geography(duck_store)
    return duck_store


def test_nctr_per_100k_ranks_by_rate_not_by_count(waiting: sa.Engine) -> None:
    at = datetime(2024, 3, 10, 12, tzinfo=timezone.utc)
    result = run_query(waiting, MetricQuery(metric="nctr_count", at=at, by=("hwb",)))
    geo = get_geography(waiting)
    rates = {r["hwb"]: (r["value"], r["numerator"], r["denominator"]) for r in per_100k(result, geo)}
    assert rates == {BRADFORD: (20.0, 10, 50_000), LEEDS: (10.0, 30, 300_000)}  # 10 × 100,000 / 50,000 = 20
    # Bradford first although Leeds has three times as many people waiting
    assert [r["hwb"] for r in highest_per_100k(result, geo)] == [BRADFORD, LEEDS]
    assert highest_per_100k(result, geo, 1)[0]["value"] == 20.0


def test_a_count_not_split_by_hwb_is_refused(waiting: sa.Engine) -> None:
    result = run_query(waiting, MetricQuery(metric="nctr_count", at=datetime(2024, 3, 10, tzinfo=timezone.utc)))
    with pytest.raises(ValueError, match="needs by=hwb"):
        per_100k(result, get_geography(waiting))
