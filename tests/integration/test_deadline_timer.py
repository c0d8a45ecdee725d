"""One timer thread watches every select of every request (models.deadline), not a thread per select."""
from __future__ import annotations

import threading
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


def _watchers() -> int:
    return sum(t.name == "homeward-deadline" for t in threading.enumerate())


def test_many_selects_share_one_watcher(duck_store: sa.Engine) -> None:
    deadline.start(30, lambda: False)
    for i in range(200):
        assert _execute(duck_store, f"SELECT {i} AS v", ()) == [{"v": i}]
    assert _watchers() <= 1


def test_requests_at_once_each_stop_at_their_own_limit(store: sa.Engine) -> None:
    """Two requests' slow selects at the same time: the shorter limit stops its own select only when it is
    due, and the longer one later; quick selects meanwhile are untouched."""
    took: dict[str, float] = {}
    errors: dict[str, BaseException] = {}

    def request(name: str, seconds: float) -> None:
        deadline.start(seconds)
        t0 = time.monotonic()
        try:
            _execute(store, SLOW[store.dialect.name], ())
        except BaseException as exc:  # noqa: BLE001 - the test reads it
            errors[name] = exc
        took[name] = time.monotonic() - t0

    threads = [threading.Thread(target=request, args=("short", 0.4)),
               threading.Thread(target=request, args=("long", 1.2))]
    for t in threads:
        t.start()
    deadline.start(30)
    for i in range(20):  # a third request's quick selects, while both are watched
        assert _execute(store, f"SELECT {i} AS v", ()) == [{"v": i}]
    for t in threads:
        t.join(timeout=10)
    assert all(isinstance(errors.get(n), deadline.QueryTimeout) for n in ("short", "long")), errors
    assert 0.3 < took["short"] < 1.1 and 1.1 < took["long"] < 3, took
    assert _watchers() <= 1
