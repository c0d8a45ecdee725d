"""The 10-day outlook (BNSSG Discharge Planning Suite style) and the planner page's pure helpers."""
from __future__ import annotations

import csv
import io
from datetime import date

from models.planning_inputs import weekday_means
from planner.outlook import outlook


def test_queue_steps_by_ready_minus_discharged_and_never_below_zero() -> None:
    # Monday 2024-03-11 onwards; ready 5 a day, discharged 7 a day (Sunday: 0 ready, 0 discharged)
    ready = [5, 5, 5, 5, 5, 5, 0]
    discharged = [7, 7, 7, 7, 7, 7, 0]
    rows = outlook(5, ready, discharged, date(2024, 3, 11), days=10)
    # mid: 5 → 3 → 1 → 0 (max 0) → 0 → 0 → 0 → 0 (Sunday) → 0 …
    assert [r["waiting"] for r in rows] == [3, 1, 0, 0, 0, 0, 0, 0, 0, 0]
    # high band, discharges −10 % (6.3): 5 → 3.7 → 2.4 → 1.1 → 0 …
    assert [r["high"] for r in rows][:5] == [3.7, 2.4, 1.1, 0.0, 0.0]
    # low band, discharges +10 % (7.7): 5 → 2.3 → 0 …
    assert [r["low"] for r in rows][:3] == [2.3, 0.0, 0.0]
    assert rows[0]["date"] == "2024-03-11" and len(rows) == 10


def test_weekday_means_over_four_weeks() -> None:
    days = [(date(2024, 3, 4 + i), float(i % 7 == 0) * 4 + 1) for i in range(28)]  # Mondays 5, other days 1
    assert weekday_means(days) == [5.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]


def test_what_ifs_and_csv_export() -> None:
    from planner.engine import simulate
    from planner.report import result_csv, what_ifs
    from planner.scenario import parse_scenario

    base = {"start": "2024-03-11", "days": 84, "arrivals": [2] * 7, "capacity": 40, "occupied": 38, "waiting": 3,
            "los": {"samples": [10.0, 20.0]}, "runs": 20, "seed": 3, "basis": {"hwb": "E08000035"}}
    scenarios = what_ifs(base, {"dc1": 5, "d2": 20, "l3": -50, "c2": 30}, weeks=4)
    assert [label for label, _ in scenarios] == ["As now", "What-if 1: +5 places",
                                                  "What-if 2: capacity 30, demand +20%", "What-if 3: stay -50%"]
    assert [body["capacity"] for _, body in scenarios] == [40, 45, 30, 40]
    assert scenarios[3][1]["los"] == {"samples": [5.0, 10.0]} and all(b["days"] == 28 for _, b in scenarios)
    results = [{"label": label, "result": simulate(parse_scenario(body))} for label, body in scenarios[:2]]
    rows = list(csv.reader(io.StringIO(result_csv(results))))
    assert rows[0][:4] == ["scenario", "date", "occupied_mean", "occupied_p05"] and len(rows[0]) == 18
    assert len(rows) == 1 + 2 * 28 and rows[1][:2] == ["As now", "2024-03-11"] and rows[29][0] == "What-if 1: +5 places"
