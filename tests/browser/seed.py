"""Known data for the browser tests, written straight into the tables (test setup, not a mock).

Deterministic for a given `now`: a small West Yorkshire system (ICB QWO) with
services in Leeds, Bradford and Wakefield, one of them not reporting, and
hub cases over the last 60 days including people waiting 21+ days.
"""
from __future__ import annotations

import hashlib
import random
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy.engine import Engine

from models.db import backfill_last_reported_at, fill_case_dates, next_id
from models.tables import capacity_report, hub_case, ingest_run, reject, run_id_seq, service

UTC = timezone.utc
LEEDS, BRADFORD, WAKEFIELD = "E08000035", "E08000032", "E08000036"
SERVICES: tuple[tuple[str, str, str, int, str, int], ...] = (
    # id, name, type, pathway, hwb, capacity
    ("LDS-REAB", "Leeds Reablement", "P1_REABLEMENT", 1, LEEDS, 40),
    ("LDS-CH", "Leeds Community Hospital", "P2_COMMUNITY_HOSPITAL", 2, LEEDS, 24),
    ("LDS-D2A", "Leeds D2A Care Home", "P2_CARE_HOME", 2, LEEDS, 20),
    ("BRD-REHAB", "Bradford Home Rehab", "P1_REHAB", 1, BRADFORD, 30),
    ("BRD-ICU", "Bradford IC Unit", "P2_IC_UNIT", 2, BRADFORD, 18),
    ("WKF-RES", "Wakefield Residential", "P3_RESIDENTIAL", 3, WAKEFIELD, 12),  # stops reporting 3 days ago
)
REASONS = ("P2_BED", "P1_NEW_CARE", "MEDICAL", "TRANSPORT", "P3_CARE_HOME", "FAMILY_CHOICE", None)


def _naive(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(tzinfo=None)


def record_run(engine: Engine, feed: str, finished_at: datetime, status: str = "ok", rows: int = 0,
               rejected: int = 0) -> int:
    with engine.begin() as conn:
        run_id = next_id(conn, run_id_seq)
        conn.execute(ingest_run.insert().values(
            run_id=run_id, feed=feed, source=f"test:{feed}", started_at=_naive(finished_at) - timedelta(seconds=5),
            finished_at=_naive(finished_at), status=status, rows_read=rows + rejected, rows_loaded=rows,
            rows_rejected=rejected))
    return run_id


def seed_store(engine: Engine, now: datetime) -> None:
    rng = random.Random(20240601)
    now = now.astimezone(UTC)
    vacancy_run = record_run(engine, "vacancy", now - timedelta(minutes=10), status="partial", rows=500, rejected=1)
    cases_run = record_run(engine, "hub_cases", now - timedelta(minutes=10), rows=160)
    services: list[dict[str, Any]] = []
    reports: list[dict[str, Any]] = []
    for sid, name, stype, pathway, hwb, cap in SERVICES:
        services.append(dict(service_id=sid, service_name=name, provider_name="Test provider", service_type=stype,
                             pathway=pathway, hwb_code=hwb, first_reported_at=_naive(now - timedelta(days=20)),
                             updated_run_id=vacancy_run))
        last = now - timedelta(days=3) if sid == "WKF-RES" else now - timedelta(minutes=30)
        t = now - timedelta(days=16)
        while t <= last:
            occupied = rng.randint(int(cap * 0.6), cap - 2)
            accepting = rng.randint(0, cap - occupied - 1)
            reserved = rng.randint(0, cap - occupied - accepting)
            reports.append(dict(service_id=sid, reported_at=_naive(t), capacity=cap, occupied=occupied,
                                vacant_accepting=accepting, vacant_reserved=reserved, run_id=vacancy_run))
            t += timedelta(hours=6)
        # The latest report lands exactly at `last`, so the seed's "now" is stable.
        if reports[-1]["reported_at"] != _naive(last):
            reports.append({**reports[-1], "reported_at": _naive(last)})
    cases: list[dict[str, Any]] = []
    for i in range(160):
        hwb = (LEEDS, LEEDS, BRADFORD, WAKEFIELD)[i % 4]
        referred = now - timedelta(days=rng.uniform(0.5, 60))
        ready = referred + timedelta(hours=rng.uniform(0, 48))
        pathway = rng.choice((0, 1, 1, 1, 2, 2, 3))
        long_wait = i % 23 == 0
        if long_wait:
            ready = now - timedelta(days=21 + i % 9, hours=3)
            referred = ready - timedelta(hours=6)
        discharged: datetime | None = ready + timedelta(days=rng.choice((0, 0, 0, 1, 2, 3, 5, 8)), hours=rng.uniform(0, 10))
        if long_wait or discharged is None or discharged > now - timedelta(minutes=1):
            discharged = None
        ready_at: datetime | None = ready if ready < now else None
        ic_start = ic_end = None
        outcome = None
        if discharged is not None and pathway in (1, 2):
            ic_start = discharged + timedelta(hours=rng.uniform(1, 20))
            ic_end = ic_start + timedelta(days=rng.randint(5, 50))
            if ic_start > now:
                ic_start = None
            if ic_start is None or ic_end > now:
                ic_end = None
            else:
                outcome = rng.choice(("home_no_support", "home_with_care", "residential_care", "readmitted"))
        cases.append(dict(
            hub_id="HUB1", case_id=f"C{i:04d}", person_id=hashlib.sha256(f"person{i}".encode()).hexdigest(),
            age=rng.randint(55, 96), hwb_code=hwb, acute_site_code="RR801",
            admitted_at=_naive(referred - timedelta(days=2)), referred_at=_naive(referred),
            discharge_ready_at=_naive(ready_at) if ready_at else None, pathway=pathway,
            pathway_decided_at=_naive(referred + timedelta(hours=rng.uniform(1, 30))) if rng.random() < 0.9 else None,
            delay_reason=rng.choice(REASONS) if discharged is None else None,
            discharged_at=_naive(discharged) if discharged else None, destination_service_id=None,
            ic_started_at=_naive(ic_start) if ic_start else None, ic_ended_at=_naive(ic_end) if ic_end else None,
            ic_outcome=outcome, readmitted_at=None, status_91d=None, updated_at=_naive(now - timedelta(minutes=15)),
            run_id=cases_run))
    with engine.begin() as conn:
        conn.execute(service.insert(), services)
        conn.execute(capacity_report.insert(), reports)
        backfill_last_reported_at(conn)  # as the vacancy loader keeps it
        conn.execute(hub_case.insert(), cases)
        fill_case_dates(conn)  # as the hub-case loader keeps them
        conn.execute(reject.insert().values(run_id=vacancy_run, feed="vacancy", row_number=17, field="occupied",
                                            value="-3", reason="occupied must be a whole number ≥ 0"))
