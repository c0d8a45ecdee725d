"""10-day outlook of people waiting (BNSSG Discharge Planning Suite style, issue 15).

queue_t = max(0, queue_{t−1} + ready_t − discharged_t): ready from the last 4 weeks' weekday pattern,
discharges from the last 4 weeks' weekday pattern, and a band with discharges 10 % higher (low) and
10 % lower (high).
"""
from __future__ import annotations

from datetime import date, timedelta
from typing import Sequence

OUTLOOK_DAYS = 10
DISCHARGE_BAND = 0.10


def outlook(queue_now: float, ready: Sequence[float], discharged: Sequence[float], start: date,
            days: int = OUTLOOK_DAYS) -> list[dict[str, float | str]]:
    """Per day from `start`: the queue expected, and its band (discharges +10 % → low, −10 % → high)."""
    rows: list[dict[str, float | str]] = []
    mid = low = high = float(queue_now)
    for d in range(days):
        day = start + timedelta(days=d)
        r, out = ready[day.weekday()], discharged[day.weekday()]
        mid = max(0.0, mid + r - out)
        low = max(0.0, low + r - out * (1 + DISCHARGE_BAND))
        high = max(0.0, high + r - out * (1 - DISCHARGE_BAND))
        rows.append({"date": day.isoformat(), "waiting": round(mid, 1), "low": round(low, 1), "high": round(high, 1)})
    return rows
