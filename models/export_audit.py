"""The export audit trail: who took which rows out of Homeward, and when.

Every download through `/api/export/…` is recorded in `export_audit`; the
/data page shows the latest ones with `recent_exports`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from models.db import next_id
from models.tables import export_audit, export_id_seq


@dataclass(frozen=True)
class ExportRecord:
    export_id: int
    exported_at: datetime  # UTC, aware
    remote_addr: str | None
    dataset: str
    filters: dict[str, Any]
    format: str
    rows: int
    suppressed: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "export_id": self.export_id,
            "exported_at": self.exported_at.isoformat(),
            "remote_addr": self.remote_addr,
            "dataset": self.dataset,
            "filters": self.filters,
            "format": self.format,
            "rows": self.rows,
            "suppressed": self.suppressed,
        }


def record_export(engine: Engine, *, remote_addr: str | None, dataset: str, filters: Mapping[str, Any],
                  fmt: str, rows: int, suppressed: bool, exported_at: datetime | None = None) -> int:
    """Write one audit row; returns its id."""
    when = (exported_at or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(tzinfo=None)
    with engine.begin() as conn:
        export_id = next_id(conn, export_id_seq)
        conn.execute(export_audit.insert().values(
            export_id=export_id, exported_at=when, remote_addr=remote_addr, dataset=dataset,
            filters=json.dumps(dict(filters), sort_keys=True, default=str), format=fmt, rows=int(rows),
            suppressed=bool(suppressed),
        ))
    return export_id


def recent_exports(engine: Engine, limit: int = 20) -> list[ExportRecord]:
    """The latest `limit` exports, newest first (for the /data page)."""
    stmt = (sa.select(export_audit)
            .order_by(export_audit.c.exported_at.desc(), export_audit.c.export_id.desc())
            .limit(max(0, int(limit))))
    with engine.connect() as conn:
        rows = conn.execute(stmt).mappings().all()
    return [
        ExportRecord(
            export_id=int(r["export_id"]),
            exported_at=r["exported_at"].replace(tzinfo=timezone.utc),
            remote_addr=r["remote_addr"],
            dataset=r["dataset"],
            filters=json.loads(r["filters"]),
            format=r["format"],
            rows=int(r["rows"]),
            suppressed=bool(r["suppressed"]),
        )
        for r in rows
    ]
