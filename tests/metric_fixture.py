"""A small hand-built system whose every metric value was worked out by hand.

Times are written as Europe/London wall-clock (`L`) and stored as naive UTC,
exactly as ingest stores them. British Summer Time began on 2024-03-31 at
01:00 GMT, so that day is 23 hours long. Expected values live in the tests,
each with its arithmetic.
"""
from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from models import tables as t
from models.db import backfill_last_reported_at, fill_case_dates

LONDON = ZoneInfo("Europe/London")
LEEDS, BRADFORD, BRIGHTON = "E08000035", "E08000032", "E06000043"


def L(text: str) -> datetime:  # noqa: N802 - short, like a literal, in many fixtures
    """London wall-clock → naive UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=LONDON).astimezone(timezone.utc).replace(tzinfo=None)


def _rows(table: sa.Table, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    names = [c.name for c in table.c]
    return [{n: r.get(n) for n in names} for r in rows]


CASES: list[dict[str, Any]] = [
    # A: pathway 1, discharged on its ready day; IC 18 days
    dict(case_id="A", age=80, hwb_code=LEEDS, referred_at=L("2024-03-01 09:00"), pathway_decided_at=L("2024-03-01 21:00"),
         pathway=1, discharge_ready_at=L("2024-03-02 10:00"), discharged_at=L("2024-03-02 16:00"),
         ic_started_at=L("2024-03-02 16:00"), ic_ended_at=L("2024-03-20 12:00"), ic_outcome="home_no_support",
         status_91d="at_home", acute_site_code="RR8"),
    # B: pathway 2, 3 days' delay for a bed; IC 45 days; readmitted after 14 days
    dict(case_id="B", age=70, hwb_code=LEEDS, referred_at=L("2024-03-01 10:00"), pathway_decided_at=L("2024-03-02 10:00"),
         pathway=2, discharge_ready_at=L("2024-03-03 09:00"), discharged_at=L("2024-03-06 11:00"), delay_reason="P2_BED",
         ic_started_at=L("2024-03-06 11:00"), ic_ended_at=L("2024-04-20 10:00"), ic_outcome="home_with_care",
         readmitted_at=L("2024-03-20 09:00"), status_91d="unknown", acute_site_code="RR8"),
    # C: pathway 1, 10 days' delay; IC still open; readmitted after 37 days
    dict(case_id="C", age=90, hwb_code=BRADFORD, referred_at=L("2024-03-02 08:00"), pathway_decided_at=L("2024-03-03 20:00"),
         pathway=1, discharge_ready_at=L("2024-03-04 12:00"), discharged_at=L("2024-03-14 12:00"), delay_reason="P1_NEW_CARE",
         ic_started_at=L("2024-03-14 12:00"), readmitted_at=L("2024-04-20 12:00"), status_91d="at_home", acute_site_code="RAE"),
    # D: no decision, ready, never discharged (still waiting)
    dict(case_id="D", age=50, hwb_code=BRADFORD, referred_at=L("2024-03-05 09:00"), discharge_ready_at=L("2024-03-06 09:00"),
         acute_site_code="RAE"),
    # E: pathway 3 across the clock change: ready Sat 12:00 GMT, discharged Sun 12:00 BST (23 hours, 1 whole day)
    dict(case_id="E", age=85, hwb_code=BRIGHTON, referred_at=L("2024-03-28 09:00"), pathway_decided_at=L("2024-03-29 09:00"),
         pathway=3, discharge_ready_at=L("2024-03-30 12:00"), discharged_at=L("2024-03-31 12:00"), delay_reason="P3_CARE_HOME",
         acute_site_code="RXH"),
    # F: pathway 1, one hour's wait across midnight = 1 whole day
    dict(case_id="F", age=66, hwb_code=LEEDS, referred_at=L("2024-03-09 09:00"), pathway_decided_at=L("2024-03-09 12:00"),
         pathway=1, discharge_ready_at=L("2024-03-09 23:30"), discharged_at=L("2024-03-10 00:30"), acute_site_code="RR8"),
    # G: discharged 00:30 BST on 1 April = 23:30 UTC on 31 March: a London April discharge
    dict(case_id="G", age=77, hwb_code=BRIGHTON, referred_at=L("2024-03-29 09:00"), pathway_decided_at=L("2024-03-29 15:00"),
         pathway=1, discharge_ready_at=L("2024-03-31 20:00"), discharged_at=L("2024-04-01 00:30"), acute_site_code="RXH"),
]

SERVICES: list[dict[str, Any]] = [
    dict(service_id="S1", service_name="Leeds reablement", service_type="P1_REABLEMENT", pathway=1, hwb_code=LEEDS,
         first_reported_at=L("2024-03-31 08:00")),
    dict(service_id="S2", service_name="Leeds D2A beds", service_type="P2_CARE_HOME", pathway=2, hwb_code=LEEDS,
         first_reported_at=L("2024-03-31 12:30")),
    dict(service_id="S3", service_name="Bradford community hospital", service_type="P2_COMMUNITY_HOSPITAL", pathway=2,
         hwb_code=BRADFORD, first_reported_at=L("2024-03-30 10:00")),
    dict(service_id="S4", service_name="Brighton nursing", service_type="P3_NURSING", pathway=3, hwb_code=BRIGHTON,
         first_reported_at=L("2024-04-01 10:00")),
    dict(service_id="S5", service_name="Brighton bridging", service_type="P1_BRIDGING", pathway=1, hwb_code=BRIGHTON,
         first_reported_at=L("2024-04-02 09:00")),
]

REPORTS: list[tuple[str, str, int, int, int, int]] = [  # service, London time, capacity, occupied, accepting, reserved
    ("S1", "2024-03-31 08:00", 50, 40, 5, 2),
    ("S1", "2024-04-01 09:00", 50, 42, 3, 1),
    ("S1", "2024-04-01 13:00", 50, 50, 0, 0),
    ("S2", "2024-03-31 12:30", 20, 18, 0, 1),
    ("S3", "2024-03-30 10:00", 30, 25, 5, 0),
    ("S4", "2024-04-01 10:00", 40, 30, 4, 2),
    ("S5", "2024-04-02 09:00", 25, 10, 15, 0),
]

SITREP: list[tuple[str, date, str, str, str, str | None, float | None]] = [
    # feed, day, level, org, measure, pathway, value
    ("nhse_acute_sitrep", date(2024, 1, 1), "england", "ENG", "nctr", None, 100),
    ("nhse_acute_sitrep", date(2024, 1, 1), "england", "ENG", "discharged", None, 40),
    ("nhse_acute_sitrep", date(2024, 1, 1), "england", "ENG", "remaining", None, 60),
    ("nhse_acute_sitrep", date(2024, 1, 2), "england", "ENG", "nctr", None, None),  # not submitted
    ("nhse_acute_sitrep", date(2024, 1, 3), "england", "ENG", "nctr", None, 110),
    ("nhse_acute_sitrep", date(2024, 1, 1), "icb", "QWO", "nctr", None, 10),
    ("nhse_acute_sitrep", date(2024, 1, 3), "icb", "QWO", "nctr", None, 12),
    ("nhse_community_sitrep", date(2024, 1, 1), "england", "ENG", "nctr", None, 30),
    ("nhse_acute_sitrep", date(2024, 1, 1), "england", "ENG", "discharges_p1", "P1", 500),
    ("nhse_acute_sitrep", date(2024, 1, 1), "england", "ENG", "discharges_p2", "P2", 120),
]


def load(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(t.hub_case.insert(), _rows(t.hub_case, [
            {**c, "hub_id": "HUB1", "person_id": f"p-{c['case_id']}", "updated_at": L("2024-04-01 01:00")} for c in CASES]))
        conn.execute(t.service.insert(), _rows(t.service, SERVICES))
        conn.execute(t.capacity_report.insert(), _rows(t.capacity_report, [
            dict(service_id=s, reported_at=L(at), capacity=c, occupied=o, vacant_accepting=a, vacant_reserved=r)
            for s, at, c, o, a, r in REPORTS]))
        backfill_last_reported_at(conn)  # as the vacancy loader keeps it
        fill_case_dates(conn)  # as the hub-case loader keeps them
        conn.execute(t.sitrep_value.insert(), _rows(t.sitrep_value, [
            dict(feed=f, period_date=d, period_kind="month" if m.startswith("discharges_") else "day", level=lv,
                 org_code=org, measure=m, pathway=pw, value=v) for f, d, lv, org, m, pw, v in SITREP]))
