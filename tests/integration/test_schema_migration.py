"""Schema 3 (service.last_reported_at) on a store made at schema 2, on DuckDB and PostgreSQL."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from ingest.base import run_feed
from models import db
from models.tables import capacity_report, meta
from tests.fixtures.ingest.data import VACANCY_COLUMNS, to_csv, vacancy_row

LEEDS = "E08000035"

# The service table as schema 2 made it (no last_reported_at).
SERVICE_V2 = ("CREATE TABLE service (service_id VARCHAR NOT NULL PRIMARY KEY, service_name VARCHAR NOT NULL, "
              "provider_name VARCHAR, service_type VARCHAR NOT NULL, pathway INTEGER NOT NULL, "
              "hwb_code VARCHAR NOT NULL, first_reported_at TIMESTAMP NOT NULL, updated_run_id INTEGER)")


def rows(engine: sa.Engine, sql: str) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql))]


def _has_column(engine: sa.Engine) -> bool:
    return rows(engine, "SELECT count(*) FROM information_schema.columns "
                        "WHERE table_name = 'service' AND column_name = 'last_reported_at'") == [(1,)]


def _schema_2_store(engine: sa.Engine) -> None:
    """Turn a fresh store into a schema-2 one holding services and reports."""
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE service"))
        conn.execute(sa.text(SERVICE_V2))
        conn.execute(meta.update().where(meta.c.key == "schema_version").values(value="2"))
        for sid in ("S1", "S2", "S3"):
            conn.execute(sa.text("INSERT INTO service VALUES (:sid, :name, NULL, 'P1_REABLEMENT', 1, :hwb, "
                                 "'2024-01-01 00:00:00', 1)"), {"sid": sid, "name": f"Service {sid}", "hwb": LEEDS})
        reports = [("S1", "2024-01-01 08:00"), ("S1", "2024-03-05 10:30"), ("S1", "2024-02-01 09:00"),
                   ("S2", "2024-01-02 07:00"),
                   ("ORPHAN", "2024-04-01 00:00")]  # reports of a service not in the table: no harm
        conn.execute(capacity_report.insert(), [
            {"service_id": sid, "reported_at": datetime.fromisoformat(t), "capacity": 10, "occupied": 5,
             "vacant_accepting": 5, "vacant_reserved": 0, "run_id": 1} for sid, t in reports])
    assert not _has_column(engine)


EXPECTED = [("S1", datetime(2024, 3, 5, 10, 30)), ("S2", datetime(2024, 1, 2, 7)), ("S3", None)]


def test_schema_2_store_migrates_with_last_reported_at_filled(store: sa.Engine, tmp_path: Path) -> None:
    _schema_2_store(store)
    db.create_schema(store)  # what `app.py init` runs
    assert rows(store, "SELECT value FROM meta WHERE key = 'schema_version'") == [("3",)]
    assert rows(store, "SELECT service_id, last_reported_at FROM service ORDER BY service_id") == EXPECTED
    # Idempotent: again changes nothing.
    db.create_schema(store)
    assert rows(store, "SELECT value FROM meta WHERE key = 'schema_version'") == [("3",)]
    assert rows(store, "SELECT service_id, last_reported_at FROM service ORDER BY service_id") == EXPECTED
    # And the loader keeps it from there.
    path = tmp_path / "v.csv"
    path.write_bytes(to_csv([vacancy_row(service_id="S2", service_name="", hwb_code="",
                                         reported_at="2024-05-01T12:00:00Z")], VACANCY_COLUMNS))
    assert run_feed(store, "vacancy", str(path)).status == "ok"
    assert rows(store, "SELECT service_id, last_reported_at FROM service ORDER BY service_id") == [
        EXPECTED[0], ("S2", datetime(2024, 5, 1, 12)), EXPECTED[2]]


def test_migration_is_one_transaction(store: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """If the backfill fails, the column is not added and the store stays at schema 2."""
    _schema_2_store(store)

    def fail(conn: sa.Connection) -> None:
        raise RuntimeError("backfill failed")

    monkeypatch.setattr(db, "backfill_last_reported_at", fail)
    with pytest.raises(RuntimeError, match="backfill failed"):
        db.create_schema(store)
    assert rows(store, "SELECT value FROM meta WHERE key = 'schema_version'") == [("2",)]
    assert not _has_column(store)
    monkeypatch.undo()
    db.create_schema(store)
    assert rows(store, "SELECT service_id, last_reported_at FROM service ORDER BY service_id") == EXPECTED


def test_fresh_store_is_created_at_schema_3(duck_store: sa.Engine) -> None:
    assert rows(duck_store, "SELECT value FROM meta WHERE key = 'schema_version'") == [(str(db.SCHEMA_VERSION),)]
    assert db.SCHEMA_VERSION == 3 and _has_column(duck_store)
