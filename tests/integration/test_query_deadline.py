"""A web request's store work stops at its time limit or when its client goes (models.deadline)."""
from __future__ import annotations

import time
from typing import Iterator

import pytest
import sqlalchemy as sa

from models import deadline
from models.query import _execute

SLOW = {"duckdb": "SELECT sum(a.range * b.range) AS s FROM range(200000) a, range(200000) b",
        "postgresql": "SELECT pg_sleep(20) AS s"}


@pytest.fixture(autouse=True)
def _no_deadline_left() -> Iterator[None]:
    yield
    deadline.clear()


def test_a_select_past_the_time_limit_is_stopped_in_the_store(store: sa.Engine) -> None:
    deadline.start(0.5)
    t0 = time.monotonic()
    with pytest.raises(deadline.QueryTimeout):
        _execute(store, SLOW[store.dialect.name], ())
    assert time.monotonic() - t0 < 3  # unstopped it runs for many seconds
    # the pooled connection is usable again afterwards
    deadline.clear()
    assert _execute(store, "SELECT 41 + 1 AS v", ()) == [{"v": 42}]


def test_a_select_is_stopped_when_its_client_goes(store: sa.Engine) -> None:
    gone_at = time.monotonic() + 0.4
    deadline.start(60, lambda: time.monotonic() >= gone_at)
    t0 = time.monotonic()
    with pytest.raises(deadline.QueryTimeout):
        _execute(store, SLOW[store.dialect.name], ())
    assert time.monotonic() - t0 < 3


def test_without_a_deadline_nothing_watches(duck_store: sa.Engine) -> None:
    assert _execute(duck_store, "SELECT 7 AS v", ()) == [{"v": 7}]


def test_the_api_answers_504_past_the_limit(duck_store: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    from dashboard.server import build_app

    monkeypatch.setenv("HOMEWARD_QUERY_TIMEOUT_SECONDS", "0")
    r = build_app().server.test_client().get("/api/metrics/referrals")
    assert r.status_code == 504, r.get_data(as_text=True)
    assert "time limit" in r.get_json()["error"]
