"""The SQL London date (models.dialects.london_date) against the tz database, on both stores."""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from models.dialects import london_date

LONDON = ZoneInfo("Europe/London")


def _instants() -> list[datetime]:
    """Every 20 minutes of the days around each clock change 1994-2102, and random times (naive UTC)."""
    out: list[datetime] = []
    for year in range(1994, 2103):
        for month in (3, 10):
            last = datetime(year, month, 31)
            sunday = last - timedelta(days=(last.weekday() + 1) % 7)
            start = sunday - timedelta(days=1)
            out += [start + timedelta(minutes=20 * i) for i in range(3 * 72)]
    rng = random.Random(7)
    out += [datetime(1990, 1, 1) + timedelta(minutes=rng.randrange(0, 60 * 24 * 365 * 120)) for _ in range(3000)]
    return out


def test_london_date_matches_the_tz_database(store: sa.Engine) -> None:
    instants = _instants()
    ts = sa.column("ts", sa.DateTime)
    values = sa.values(ts, name="v").data([(t,) for t in instants])
    with store.connect() as conn:
        got = dict(conn.execute(sa.select(values.c.ts, london_date(values.c.ts))).all())
    wrong = [(t, got[t]) for t in instants
             if got[t] != t.replace(tzinfo=timezone.utc).astimezone(LONDON).date()]
    assert not wrong, wrong[:5]
