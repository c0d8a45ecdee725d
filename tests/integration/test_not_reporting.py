"""Services not reporting (the /data page's list) and each service's latest report (the capacity
dataset), on both stores, with hand-built data around the staleness window's edges.

As at AT = 2024-06-15 12:00 UTC, staleness window 24 h: a service is reporting when its latest
report at or before AT is at or after 2024-06-14 12:00. All services are in Leeds.

- A: reports 06-01 and 06-15 10:00 → reporting.
- B: last report 02-10 09:00, silent for four months → not reporting; its latest report is found
  among the old ones (capacity 30, occupied 21, 4 accepting, 1 reserved).
- C: one report exactly at 06-14 12:00 (the window's start) → reporting.
- D: one report exactly at AT → reporting.
- E: reports 06-10 08:00 and 06-20 (after AT) → not reporting as at AT; latest 06-10 08:00.
- F: first known 07-01 → not known at AT, in neither list.
- G: one report at 06-14 11:59:59, a second before the window → not reporting.
- H: known since 03-01 but its only report is after AT → not reporting, never reported ("never").
- I: known since 03-01, no report at all (last_reported_at NULL) → not reporting, never reported.
- J: reports 03-05 and 07-02 (after AT) → not reporting as at AT; its latest at AT is 03-05, long
  before the window (capacity 12, occupied 7, 3 accepting, 2 reserved), found although the
  service's last report ever (service.last_reported_at) is after AT: a past-dated view.
- K: reports 06-15 09:00 and 06-22 (after AT) → reporting as at AT, latest 06-15 09:00.

service.last_reported_at and its figures are set as the vacancy loader keeps them: each service's latest
report ever.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa

from models.datasets import DatasetQuery, capacity_head, iter_chunks, services_not_reporting, table_columns
from models.db import backfill_last_reported_at
from models.tables import capacity_report, service

AT = datetime(2024, 6, 15, 12, 0, tzinfo=timezone.utc)
LEEDS = "E08000035"


def _dt(text: str) -> datetime:
    return datetime.fromisoformat(text)


REPORTS = {
    "A": ["2024-06-01 08:00", "2024-06-15 10:00"],
    "B": ["2024-01-05 09:00", "2024-02-10 09:00"],
    "C": ["2024-06-14 12:00"],
    "D": ["2024-06-15 12:00"],
    "E": ["2024-06-10 08:00", "2024-06-20 08:00"],
    "F": ["2024-07-01 08:00"],
    "G": ["2024-06-13 08:00", "2024-06-14 11:59:59"],
    "H": ["2024-06-16 08:00"],
    "I": [],
    "J": ["2024-03-05 07:00", "2024-07-02 08:00"],
    "K": ["2024-06-15 09:00", "2024-06-22 08:00"],
}
FIRST = {"F": "2024-07-01 08:00", "H": "2024-03-01 00:00", "I": "2024-03-01 00:00"}
FIGURES = {("B", 1): (30, 21, 4, 1), ("J", 0): (12, 7, 3, 2)}  # others: (10, 5, 5, 0)


def _seed(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(service.insert(), [
            {"service_id": sid, "service_name": f"Service {sid}", "provider_name": None,
             "service_type": "P1_REABLEMENT", "pathway": 1, "hwb_code": LEEDS,
             "first_reported_at": _dt(FIRST.get(sid) or times[0]), "updated_run_id": 1,
             "last_reported_at": None}
            for sid, times in REPORTS.items()])
        rows = []
        for sid, times in REPORTS.items():
            for i, t in enumerate(times):
                capacity, occupied, accepting, reserved = FIGURES.get((sid, i), (10, 5, 5, 0))
                rows.append({"service_id": sid, "reported_at": _dt(t), "capacity": capacity, "occupied": occupied,
                             "vacant_accepting": accepting, "vacant_reserved": reserved, "run_id": 1})
        conn.execute(capacity_report.insert(), rows)
        backfill_last_reported_at(conn)  # last_reported_at and its figures, as the vacancy loader keeps them


def _capacity(engine: sa.Engine, limit: int | None = None, at: datetime = AT) -> list[dict[str, Any]]:
    names = [c.name for c in table_columns("capacity")]
    q = DatasetQuery(dataset="capacity", at=at, at_given=True, where={"hwb": (LEEDS,)}, limit=limit)
    return [dict(zip(names, row)) for chunk in iter_chunks(engine, q) for row in chunk]


def test_services_not_reporting_are_the_capacity_rows_not_reporting(store: sa.Engine) -> None:
    _seed(store)
    silent = services_not_reporting(store, AT)
    assert [(r["service_id"], r["reported_at"]) for r in silent] == [
        ("B", _dt("2024-02-10 09:00")), ("E", _dt("2024-06-10 08:00")), ("G", _dt("2024-06-14 11:59:59")),
        ("H", None), ("I", None), ("J", _dt("2024-03-05 07:00"))]
    assert silent[0] == {"service_id": "B", "service_name": "Service B", "service_type": "P1_REABLEMENT",
                         "hwb_code": LEEDS, "reported_at": _dt("2024-02-10 09:00")}
    # One definition: exactly the capacity dataset's rows with `reporting` false.
    rows = _capacity(store)
    assert [(r["service_id"], r["service_name"], r["service_type"], r["hwb_code"], r["reported_at"])
            for r in rows if not r["reporting"]] == [
        (r["service_id"], r["service_name"], r["service_type"], r["hwb_code"], r["reported_at"]) for r in silent]


def test_capacity_latest_report_inside_and_long_before_the_window(store: sa.Engine) -> None:
    _seed(store)
    for limit in (None, 501):  # the whole export and the preview's limited one
        rows = {r["service_id"]: r for r in _capacity(store, limit)}
        assert sorted(rows) == ["A", "B", "C", "D", "E", "G", "H", "I", "J", "K"]
        assert {sid for sid, r in rows.items() if r["reporting"]} == {"A", "C", "D", "K"}
        b = rows["B"]
        assert (b["reported_at"], b["capacity"], b["occupied"], b["vacant_accepting"], b["vacant_reserved"],
                b["unavailable"]) == (_dt("2024-02-10 09:00"), 30, 21, 4, 1, 4)
        assert rows["A"]["reported_at"] == _dt("2024-06-15 10:00")
        assert rows["D"]["reported_at"] == _dt("2024-06-15 12:00")
        assert rows["E"]["reported_at"] == _dt("2024-06-10 08:00")
        assert rows["H"]["reported_at"] is None and rows["H"]["capacity"] is None
        assert rows["I"]["reported_at"] is None and rows["I"]["capacity"] is None
        j = rows["J"]  # past-dated: reported again after AT, so its latest at AT is searched for
        assert (j["reported_at"], j["capacity"], j["occupied"], j["vacant_accepting"], j["vacant_reserved"],
                j["unavailable"]) == (_dt("2024-03-05 07:00"), 12, 7, 3, 2, 0)
        assert rows["K"]["reported_at"] == _dt("2024-06-15 09:00")


def test_capacity_head_is_the_services_grid(store: sa.Engine) -> None:
    """/capacity's services grid: not reporting first, then by name, cut in the store, with the counts of all."""
    _seed(store)
    q = DatasetQuery(dataset="capacity", at=AT, at_given=True, where={"hwb": (LEEDS,)})
    rows, total, not_reporting = capacity_head(store, q, 8)
    # not reporting: B, E, G, H, I, J (by name: "Service B" ...); then reporting A, C, D, K; F not known yet
    assert [r["service_id"] for r in rows] == ["B", "E", "G", "H", "I", "J", "A", "C"]
    assert (total, not_reporting) == (10, 6)
    assert rows[0]["reported_at"] == _dt("2024-02-10 09:00") and rows[0]["capacity"] == 30
    assert capacity_head(store, DatasetQuery(dataset="capacity", at=AT, at_given=True, where={"hwb": ("E08000032",)}),
                         8) == ([], 0, 0)  # Bradford: no service


def _expected(at: datetime) -> dict[str, tuple[Any, ...]]:
    """Each service known at `at`: (latest report at or before `at` with its figures, reporting), by hand."""
    naive = at.astimezone(timezone.utc).replace(tzinfo=None)
    out: dict[str, tuple[Any, ...]] = {}
    for sid, times in REPORTS.items():
        if _dt(FIRST.get(sid) or times[0]) > naive:
            continue
        before = [(_dt(t), i) for i, t in enumerate(times) if _dt(t) <= naive]
        if not before:
            out[sid] = (None, None, None, None, None, False)
            continue
        when, i = max(before)
        out[sid] = (when, *FIGURES.get((sid, i), (10, 5, 5, 0)), when >= naive - timedelta(hours=24))
    return out


@pytest.mark.parametrize("at", [
    AT,
    datetime(2024, 3, 5, 8, 0, tzinfo=timezone.utc),  # just after J's first report: everyone reports again later
    datetime(2024, 6, 16, 7, 59, tzinfo=timezone.utc),  # H one minute before its only report
    datetime(2024, 6, 21, 0, 0, tzinfo=timezone.utc),  # E's last report inside the window; K silent, reports again
    datetime(2024, 7, 3, 0, 0, tzinfo=timezone.utc),  # after J's last report: last_reported_at in the window
    datetime(2024, 8, 1, 0, 0, tzinfo=timezone.utc),  # after every report: each read from last_reported_at
])
def test_latest_report_at_any_time_matches_a_hand_search(store: sa.Engine, at: datetime) -> None:
    """At times before, between and after the services' reports (so last_reported_at is before the
    window, inside it, after `at`, or NULL), both lists agree with a search done by hand."""
    _seed(store)
    expected = _expected(at)
    for limit in (None, 501):
        got = {r["service_id"]: (r["reported_at"], r["capacity"], r["occupied"], r["vacant_accepting"],
                                 r["vacant_reserved"], r["reporting"]) for r in _capacity(store, limit, at)}
        assert got == expected
    assert [(r["service_id"], r["reported_at"]) for r in services_not_reporting(store, at)] == sorted(
        (sid, e[0]) for sid, e in expected.items() if not e[5])


def test_silent_services_last_reports_come_from_the_service_row(store: sa.Engine) -> None:
    """A service silent since before the window has its last report from service.last_reported_at and
    the figures kept with it: with every report gone, the answer after every report is the same."""
    _seed(store)
    at = datetime(2024, 8, 1, 0, 0, tzinfo=timezone.utc)
    expected = _expected(at)
    assert not any(e[5] for e in expected.values())  # every service silent, I never reported
    assert expected["B"][:5] == (_dt("2024-02-10 09:00"), 30, 21, 4, 1)
    assert expected["J"][:5] == (_dt("2024-07-02 08:00"), 10, 5, 5, 0)
    with store.begin() as conn:
        conn.execute(capacity_report.delete())
    for limit in (None, 501):
        got = {r["service_id"]: (r["reported_at"], r["capacity"], r["occupied"], r["vacant_accepting"],
                                 r["vacant_reserved"], r["reporting"]) for r in _capacity(store, limit, at)}
        assert got == expected
    assert [(r["service_id"], r["reported_at"]) for r in services_not_reporting(store, at)] == sorted(
        (sid, e[0]) for sid, e in expected.items())
