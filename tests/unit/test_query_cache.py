"""The query cache keys each answer on the version of its own source: a capacity delivery (every few
minutes nationally) must not throw away the case metrics' answers, and must show at once in its own."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

import models.cache
from ingest.base import RunSummary, finish_run, start_run
from models import tables as t
from models.cache import cached_queries
from models.query import MetricQuery
from tests import metric_fixture
from tests.metric_fixture import L

NOW = "2024-04-01T12:00"  # London; see tests/unit/test_metrics.py for the fixture's values at this time


def _deliver(engine: sa.Engine, feed: str, change: sa.Executable | None = None) -> int:
    """A run that changes the store, as ingest does: the change and the run's finish in one transaction."""
    run_id = start_run(engine, feed, f"{feed}.csv", None)
    with engine.begin() as conn:
        if change is not None:
            conn.execute(change)
        finish_run(conn, RunSummary(feed=feed, source=f"{feed}.csv", status="ok", rows_read=1, rows_loaded=1,
                                    rows_rejected=0, run_id=run_id))
    return run_id


def test_a_delivery_renews_only_its_own_sources_answers(duck_store: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    from dashboard.server import build_app

    monkeypatch.setattr(models.cache, "VERSION_TTL_SECONDS", 0.0)  # ask the store for the version every time
    metric_fixture.load(duck_store)
    app = build_app()
    asked = [MetricQuery.from_params("nctr_count", {"at": [NOW]}),
             MetricQuery.from_params("vacant_accepting", {"at": [NOW]})]

    def values() -> list[object]:
        with app.server.app_context():
            return [r.rows[0]["value"] for r in cached_queries(asked)]

    assert values() == [1, 7]  # D waiting; S1 3 + S2 0 + S4 4 accepting

    # Behind the cache's back (no run), D is no longer waiting: a cached answer cannot know.
    with duck_store.begin() as conn:
        conn.execute(t.hub_case.update().where(t.hub_case.c.case_id == "D").values(discharge_ready_at=None))
    # A vacancy delivery: S4 full at 10:30 (after its 4-vacant report, before `at`).
    vacancy_run = _deliver(duck_store, "vacancy", t.capacity_report.insert().values(
        service_id="S4", reported_at=L("2024-04-01 10:30"), capacity=40, occupied=40, vacant_accepting=0,
        vacant_reserved=0, run_id=None))
    assert values() == [1, 3]  # the case answer stays cached; the capacity answer is new (3 + 0 + 0)
    with app.server.app_context():
        assert [r.data_version for r in cached_queries(asked)] == [vacancy_run, vacancy_run]

    _deliver(duck_store, "hub_cases")  # now the cases' version moves: their answers are asked again
    assert values() == [0, 3]
