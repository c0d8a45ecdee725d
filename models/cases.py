"""Person-level views of the hub cases for the dashboard (pseudonymised: `person_id` only).

These are lists, not aggregates, so they are not metrics; they follow the
metrics' definitions (a person is waiting exactly as `nctr_count` counts
them; days waited are whole Europe/London days, as `nctr_over_21d` counts).
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Mapping

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from models.dialects import whole_days
from models.tables import hub_case, hwb

UTC = timezone.utc
PSEUDONYM_SHOWN = 12  # characters of the HMAC pseudonym shown: enough to look a case up, no more


def longest_waits(engine: Engine, at: datetime, where: Mapping[str, tuple[str, ...]] | None = None,
                  limit: int = 15) -> list[dict[str, Any]]:
    """People waiting at `at` (no longer meeting the criteria to reside, still in hospital), longest first.
    Person-level: case workers and admins only, within their scope (models.access)."""
    from models.access import require, restrict

    require("case_worker", "the longest-waits list (person-level)")
    where = restrict(engine, where or {})
    at_naive = at.astimezone(UTC).replace(tzinfo=None)
    c = hub_case.c
    at_lit = sa.literal(at_naive, sa.DateTime)
    stmt = (
        sa.select(c.person_id, c.hub_id, c.case_id, c.age, c.hwb_code, hwb.c.name.label("hwb_name"),
                  c.acute_site_code, c.pathway, c.delay_reason, c.discharge_ready_at,
                  whole_days(c.discharge_ready_at, at_lit).label("days_waiting"))
        .select_from(hub_case.outerjoin(hwb, hwb.c.hwb_code == c.hwb_code))
        .where(c.discharge_ready_at <= at_naive, sa.or_(c.discharged_at.is_(None), c.discharged_at > at_naive))
        .order_by(c.discharge_ready_at, c.hub_id, c.case_id)
        .limit(limit)
    )
    if where.get("icb"):
        stmt = stmt.where(hwb.c.icb_code.in_(where["icb"]))
    if where.get("place"):
        stmt = stmt.where(hwb.c.place_code.in_(where["place"]))
    if where.get("hwb"):
        stmt = stmt.where(c.hwb_code.in_(where["hwb"]))
    if where.get("pathway"):
        stmt = stmt.where(c.pathway.in_([int(v) for v in where["pathway"]]))
    with engine.connect() as conn:
        rows = [dict(row._mapping) for row in conn.execute(stmt)]
    for row in rows:
        row["person_id"] = str(row["person_id"])[:PSEUDONYM_SHOWN]
        row["discharge_ready_at"] = row["discharge_ready_at"].replace(tzinfo=UTC) if row["discharge_ready_at"] else None
    return rows
