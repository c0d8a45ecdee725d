"""Small hand-built data for the API / export tests, with the figures worked by hand.

As at AT = 2024-03-10 12:00 UTC (GMT: London time equals UTC until 31 March).

Capacity (staleness window 24 h, so a report before 2024-03-09 12:00 is stale):
- S1 Leeds E08000035, P1 reablement: reports 03-09 08:00 (20/19/1/0) and 03-10 08:00
  (capacity 20, occupied 12, vacant_accepting 5, vacant_reserved 1 → unavailable 2). Latest wins.
- S2 Bradford E08000032, P2 care home: one report 03-08 09:00 (10/10/0/0) → not reporting.
- S3 Hartlepool E06000001 (ICB QHM), P1 rehab: 03-10 10:00 (8/3/5/0).
- S4 Leeds, P2 IC unit, first known 03-11 → unknown at AT.

Hub cases, all referred on 2024-03-02 (window from=2024-03-01 to=2024-03-08):
per HWB of QWO — Bradford 1, Calderdale 7, Kirklees 8, Leeds 12, Wakefield 13 (41);
Hartlepool 0. The 12 Leeds cases are discharged on 03-05: 9 on pathway 1, 3 on pathway 2.
One more Leeds case is referred on 03-11 (after AT: outside every as-at view).
Leeds cases 0-5 are 70 years old (65-74), the rest 90 (85+). Leeds case 0 has delay
reason P1_NEW_CARE; the others have none (NOT_RECORDED). Wakefield case 0 is
discharged on 03-12, after AT, so as at AT its discharged_at is hidden.
"""
from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta, timezone
from typing import Any

from sqlalchemy.engine import Engine

from models.db import backfill_last_reported_at, fill_case_dates
from models.tables import capacity_report, hub_case, ingest_run, service, sitrep_value

AT = datetime(2024, 3, 10, 12, 0, tzinfo=timezone.utc)
AT_PARAM = "2024-03-10T12:00:00Z"
REFERRALS_BY_HWB = {"E08000032": 1, "E08000033": 7, "E08000034": 8, "E08000035": 12, "E08000036": 13}
LEEDS, BRADFORD, HARTLEPOOL = "E08000035", "E08000032", "E06000001"


def _dt(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _case(hwb: str, i: int, **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "hub_id": "HUB1", "case_id": f"{hwb}-{i:03d}", "person_id": hashlib.sha256(f"{hwb}/{i}".encode()).hexdigest(),
        "age": 80, "hwb_code": hwb, "acute_site_code": "RR801", "admitted_at": _dt("2024-03-01 09:00"),
        "referred_at": _dt("2024-03-02 10:00") + timedelta(minutes=i), "discharge_ready_at": None, "pathway": None,
        "pathway_decided_at": None, "delay_reason": None, "discharged_at": None, "destination_service_id": None,
        "ic_started_at": None, "ic_ended_at": None, "ic_outcome": None, "readmitted_at": None, "status_91d": None,
        "updated_at": _dt("2024-03-09 00:00"), "run_id": 2,
    }
    row.update(extra)
    return row


def cases() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for hwb, n in REFERRALS_BY_HWB.items():
        for i in range(n):
            extra: dict[str, Any] = {}
            if hwb == LEEDS:
                extra = {"age": 70 if i < 6 else 90, "pathway": 1 if i < 9 else 2,
                         "pathway_decided_at": _dt("2024-03-03 12:00"),
                         "discharge_ready_at": _dt("2024-03-04 09:00"), "discharged_at": _dt("2024-03-05 15:00"),
                         "delay_reason": "P1_NEW_CARE" if i == 0 else None}
            if hwb == "E08000036" and i == 0:
                extra = {"discharged_at": _dt("2024-03-12 10:00"), "pathway": 1}
            out.append(_case(hwb, i, **extra))
    out.append(_case(LEEDS, 99, referred_at=_dt("2024-03-11 10:00"), updated_at=_dt("2024-03-11 10:00")))
    return out


def seed(engine: Engine, *, now: datetime | None = None) -> None:
    """Load the data above; ingest runs are timed relative to `now` so freshness can be checked."""
    now_naive = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(tzinfo=None)
    with engine.begin() as conn:
        conn.execute(service.insert(), [
            {"service_id": "S1", "service_name": "Leeds reablement", "provider_name": "LCC", "service_type": "P1_REABLEMENT",
             "pathway": 1, "hwb_code": LEEDS, "first_reported_at": _dt("2024-01-01 00:00"), "updated_run_id": 1},
            {"service_id": "S2", "service_name": "Bradford care home", "provider_name": None, "service_type": "P2_CARE_HOME",
             "pathway": 2, "hwb_code": BRADFORD, "first_reported_at": _dt("2024-01-01 00:00"), "updated_run_id": 1},
            {"service_id": "S3", "service_name": "Hartlepool rehab", "provider_name": "HBC", "service_type": "P1_REHAB",
             "pathway": 1, "hwb_code": HARTLEPOOL, "first_reported_at": _dt("2024-01-01 00:00"), "updated_run_id": 1},
            {"service_id": "S4", "service_name": "Leeds IC unit", "provider_name": "LCH", "service_type": "P2_IC_UNIT",
             "pathway": 2, "hwb_code": LEEDS, "first_reported_at": _dt("2024-03-11 00:00"), "updated_run_id": 1},
        ])
        conn.execute(capacity_report.insert(), [
            {"service_id": "S1", "reported_at": _dt("2024-03-09 08:00"), "capacity": 20, "occupied": 19,
             "vacant_accepting": 1, "vacant_reserved": 0, "run_id": 1},
            {"service_id": "S1", "reported_at": _dt("2024-03-10 08:00"), "capacity": 20, "occupied": 12,
             "vacant_accepting": 5, "vacant_reserved": 1, "run_id": 1},
            {"service_id": "S2", "reported_at": _dt("2024-03-08 09:00"), "capacity": 10, "occupied": 10,
             "vacant_accepting": 0, "vacant_reserved": 0, "run_id": 1},
            {"service_id": "S3", "reported_at": _dt("2024-03-10 10:00"), "capacity": 8, "occupied": 3,
             "vacant_accepting": 5, "vacant_reserved": 0, "run_id": 1},
            {"service_id": "S4", "reported_at": _dt("2024-03-11 08:00"), "capacity": 6, "occupied": 1,
             "vacant_accepting": 5, "vacant_reserved": 0, "run_id": 1},
        ])
        backfill_last_reported_at(conn)  # as the vacancy loader keeps it
        conn.execute(hub_case.insert(), cases())
        fill_case_dates(conn)  # as the hub-case loader keeps them
        conn.execute(sitrep_value.insert(), [
            {"feed": "nhse_acute_sitrep", "period_date": date(2024, 3, 1), "period_kind": "day", "level": "england",
             "org_code": "ENG", "org_name": "England", "region_name": None, "measure": "nctr", "pathway": None,
             "value": 13000.0, "edition": "e1", "run_id": 3},
            {"feed": "nhse_acute_sitrep", "period_date": date(2024, 3, 1), "period_kind": "day", "level": "icb",
             "org_code": "QWO", "org_name": "West Yorkshire", "region_name": "North East and Yorkshire",
             "measure": "nctr", "pathway": None, "value": 300.0, "edition": "e1", "run_id": 3},
            {"feed": "nhse_acute_sitrep", "period_date": date(2024, 3, 1), "period_kind": "day", "level": "trust",
             "org_code": "RR8", "org_name": "Leeds Teaching Hospitals", "region_name": "North East and Yorkshire",
             "measure": "nctr", "pathway": None, "value": None, "edition": "e1", "run_id": 3},
            {"feed": "nhse_acute_sitrep", "period_date": date(2024, 3, 1), "period_kind": "day", "level": "trust",
             "org_code": "RR0", "org_name": "Somewhere else", "region_name": "Elsewhere",
             "measure": "nctr", "pathway": None, "value": 40.0, "edition": "e1", "run_id": 3},
        ])
        conn.execute(ingest_run.insert(), [
            {"run_id": 1, "feed": "vacancy", "source": "vacancy.csv", "started_at": now_naive - timedelta(hours=1, minutes=1),
             "finished_at": now_naive - timedelta(hours=1), "status": "ok", "rows_read": 5, "rows_loaded": 5,
             "rows_rejected": 0, "error": None},
            {"run_id": 2, "feed": "hub_cases", "source": "cases.csv", "started_at": now_naive - timedelta(hours=30, minutes=1),
             "finished_at": now_naive - timedelta(hours=30), "status": "ok", "rows_read": 42, "rows_loaded": 42,
             "rows_rejected": 0, "error": None},
            {"run_id": 3, "feed": "hub_cases", "source": "cases2.csv", "started_at": now_naive - timedelta(minutes=10),
             "finished_at": now_naive - timedelta(minutes=9), "status": "failed", "rows_read": 0, "rows_loaded": 0,
             "rows_rejected": 0, "error": "could not parse"},
        ])
