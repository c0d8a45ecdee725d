"""`GET /api/plan/inputs` fills a scenario in from live data (issue 15), figures worked by hand below.

As at AT = Wednesday 2024-03-13 12:00 UTC (GMT). The last 12 full weeks: Monday 2023-12-18 to Monday 2024-03-11.
Leeds pathway 2: a referral every Tuesday of those weeks (12) and 3 on Friday 2024-03-08 → Tuesday 1.0,
Friday 0.25, other days 0; a referral on 2024-03-12 (this week) and one on pathway 1 do not count.
Vacancy: Leeds P2 unit 20 places, 18 occupied (and a Leeds P1 service, 50/40, not counted).
Waiting: 3 Leeds P2 cases ready on 2024-03-12, not discharged (one discharged on 03-12 is not waiting).
LOS: 9 finished Leeds P2 episodes of 10, 12, …, 26 days (median 18, mean 18): fewer than 30 → lognormal;
Leeds P3: 30 episodes of 5 … 34 days → bootstrap samples.
"""
from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from models.db import backfill_last_reported_at, fill_case_dates
from models.tables import capacity_report, hub_case, service

AT = "2024-03-13T12:00:00Z"
LEEDS = "E08000035"
_n = iter(range(10_000))


def _case(pathway: int, **extra: Any) -> dict[str, Any]:
    i = next(_n)
    row: dict[str, Any] = {
        "hub_id": "HUB1", "case_id": f"C{i:04d}", "person_id": hashlib.sha256(str(i).encode()).hexdigest(),
        "age": 80, "hwb_code": LEEDS, "acute_site_code": "RR801", "admitted_at": datetime(2023, 11, 1, 9),
        "referred_at": datetime(2023, 11, 2, 10), "discharge_ready_at": None, "pathway": pathway,
        "pathway_decided_at": None, "delay_reason": None, "discharged_at": None, "destination_service_id": None,
        "ic_started_at": None, "ic_ended_at": None, "ic_outcome": None, "readmitted_at": None, "status_91d": None,
        "updated_at": datetime(2023, 11, 2, 10), "run_id": 1}
    row.update(extra)
    return row


def _seed(engine: sa.Engine) -> None:
    cases = [_case(2, referred_at=datetime(2023, 12, 19, 10) + timedelta(weeks=w)) for w in range(12)]
    cases += [_case(2, referred_at=datetime(2024, 3, 8, 9 + k)) for k in range(3)]
    cases += [_case(2, referred_at=datetime(2024, 3, 12, 9)), _case(1, referred_at=datetime(2024, 3, 5, 9))]
    cases += [_case(2, discharge_ready_at=datetime(2024, 3, 12, 9 + k)) for k in range(3)]
    cases += [_case(2, discharge_ready_at=datetime(2024, 3, 12, 8), discharged_at=datetime(2024, 3, 12, 15))]
    cases += [_case(2, ic_started_at=datetime(2024, 1, 1, 12), ic_ended_at=datetime(2024, 1, 1, 12) + timedelta(days=d))
              for d in range(10, 27, 2)]
    cases += [_case(3, ic_started_at=datetime(2024, 1, 1, 12), ic_ended_at=datetime(2024, 1, 1, 12) + timedelta(days=d))
              for d in range(5, 35)]
    with engine.begin() as conn:
        conn.execute(service.insert(), [
            {"service_id": "U2", "service_name": "Leeds IC unit", "provider_name": "LCH", "service_type": "P2_IC_UNIT",
             "pathway": 2, "hwb_code": LEEDS, "first_reported_at": datetime(2024, 1, 1), "updated_run_id": 1},
            {"service_id": "R1", "service_name": "Leeds reablement", "provider_name": "LCC",
             "service_type": "P1_REABLEMENT", "pathway": 1, "hwb_code": LEEDS, "first_reported_at": datetime(2024, 1, 1),
             "updated_run_id": 1}])
        conn.execute(capacity_report.insert(), [
            {"service_id": "U2", "reported_at": datetime(2024, 3, 13, 8), "capacity": 20, "occupied": 18,
             "vacant_accepting": 2, "vacant_reserved": 0, "run_id": 1},
            {"service_id": "R1", "reported_at": datetime(2024, 3, 13, 8), "capacity": 50, "occupied": 40,
             "vacant_accepting": 10, "vacant_reserved": 0, "run_id": 1}])
        backfill_last_reported_at(conn)
        conn.execute(hub_case.insert(), cases)
        fill_case_dates(conn)


def test_inputs_for_leeds_pathway_2(duck_store: sa.Engine) -> None:
    from dashboard.server import build_app

    _seed(duck_store)
    client = build_app().server.test_client()
    r = client.get(f"/api/plan/inputs?hwb={LEEDS}&pathway=2&at={AT}")
    assert r.status_code == 200, r.get_data(as_text=True)
    body = r.get_json()
    assert body["start"] == "2024-03-13" and body["capacity"] == 20 and body["occupied"] == 18 and body["waiting"] == 3
    assert body["arrivals"] == [0.0, 1.0, 0.0, 0.0, 0.25, 0.0, 0.0]
    weeks = body["basis"]["arrival_weeks"]
    assert [w["week_from"] for w in weeks][:2] == ["2023-12-18", "2023-12-25"] and len(weeks) == 12
    assert [w["referrals"] for w in weeks] == [1] * 11 + [4]
    # 9 episodes, median 18 = mean 18: μ = ln 18, σ falls back (the mean is not above the median)
    assert body["basis"]["episodes"] == 9 and "fewer than 30" in body["basis"]["los_method"]
    assert abs(body["los"]["lognormal"]["meanlog"] - 2.890372) < 1e-6 and body["los"]["lognormal"]["sdlog"] == 0.6
    # the filled-in scenario runs as it is
    plan = client.post("/api/plan", json=body)
    assert plan.status_code == 200 and len(plan.get_json()["days"]) == body["days"]

    p3 = client.get(f"/api/plan/inputs?hwb={LEEDS}&pathway=3&at={AT}").get_json()
    assert p3["los"] == {"samples": [float(d) for d in range(5, 35)]} and p3["basis"]["episodes"] == 30


def test_inputs_reject_bad_parameters(duck_store: sa.Engine) -> None:
    from dashboard.server import build_app

    client = build_app().server.test_client()
    assert client.get(f"/api/plan/inputs?hwb={LEEDS}&pathway=4").status_code == 400
    assert client.get("/api/plan/inputs?pathway=2").status_code == 400
    r = client.get("/api/plan/inputs?hwb=E99999999&pathway=2")
    assert r.status_code == 404 and "unknown HWB" in r.get_json()["error"]


def test_inputs_respect_the_askers_scope(duck_store: sa.Engine) -> None:
    """A Bradford-only viewer may not plan Leeds (403, before any figure is read); the outlook's own case reads
    (people becoming ready) count only their HWB: Leeds's ready cases are 0 for them."""
    import pytest

    from models.access import OutOfScope, Principal, using
    from models.planning_inputs import outlook_inputs, planning_inputs
    from models.query import parse_time

    _seed(duck_store)
    at = parse_time("at", AT)
    bradford = Principal("bradford.viewer", "viewer", ("hwb:E08000032",))
    with using(bradford):
        with pytest.raises(OutOfScope):
            planning_inputs(LEEDS, 2, at=at, engine=duck_store)
        mine = outlook_inputs({}, at=at, engine=duck_store)
    national = outlook_inputs({}, at=at, engine=duck_store)
    assert sum(national["pathways"]["2"]["ready"]) > 0
    assert sum(mine["pathways"]["2"]["ready"]) == 0
    assert mine["pathways"]["2"]["waiting"] == 0
