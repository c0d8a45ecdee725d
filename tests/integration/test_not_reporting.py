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
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa

from models.datasets import DatasetQuery, iter_chunks, services_not_reporting, table_columns
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
}
FIRST = {"F": "2024-07-01 08:00", "H": "2024-03-01 00:00"}


def _seed(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(service.insert(), [
            {"service_id": sid, "service_name": f"Service {sid}", "provider_name": None,
             "service_type": "P1_REABLEMENT", "pathway": 1, "hwb_code": LEEDS,
             "first_reported_at": _dt(FIRST.get(sid, times[0])), "updated_run_id": 1}
            for sid, times in REPORTS.items()])
        rows = []
        for sid, times in REPORTS.items():
            for i, t in enumerate(times):
                capacity, occupied, accepting, reserved = (30, 21, 4, 1) if (sid, i) == ("B", 1) else (10, 5, 5, 0)
                rows.append({"service_id": sid, "reported_at": _dt(t), "capacity": capacity, "occupied": occupied,
                             "vacant_accepting": accepting, "vacant_reserved": reserved, "run_id": 1})
        conn.execute(capacity_report.insert(), rows)


def _capacity(engine: sa.Engine, limit: int | None = None) -> list[dict[str, Any]]:
    names = [c.name for c in table_columns("capacity")]
    q = DatasetQuery(dataset="capacity", at=AT, at_given=True, where={"hwb": (LEEDS,)}, limit=limit)
    return [dict(zip(names, row)) for chunk in iter_chunks(engine, q) for row in chunk]


def test_services_not_reporting_are_the_capacity_rows_not_reporting(store: sa.Engine) -> None:
    _seed(store)
    silent = services_not_reporting(store, AT)
    assert [(r["service_id"], r["reported_at"]) for r in silent] == [
        ("B", _dt("2024-02-10 09:00")), ("E", _dt("2024-06-10 08:00")), ("G", _dt("2024-06-14 11:59:59")),
        ("H", None)]
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
        assert sorted(rows) == ["A", "B", "C", "D", "E", "G", "H"]
        assert {sid for sid, r in rows.items() if r["reporting"]} == {"A", "C", "D"}
        b = rows["B"]
        assert (b["reported_at"], b["capacity"], b["occupied"], b["vacant_accepting"], b["vacant_reserved"],
                b["unavailable"]) == (_dt("2024-02-10 09:00"), 30, 21, 4, 1, 4)
        assert rows["A"]["reported_at"] == _dt("2024-06-15 10:00")
        assert rows["D"]["reported_at"] == _dt("2024-06-15 12:00")
        assert rows["E"]["reported_at"] == _dt("2024-06-10 08:00")
        assert rows["H"]["reported_at"] is None and rows["H"]["capacity"] is None
