"""Schema 3 (service.last_reported_at) and 4 (service.last_capacity, last_occupied,
last_vacant_accepting, last_vacant_reserved) on stores made at schema 2 and 3, and 5 (hub_case's
London dates) on a store made at schema 4, on DuckDB and PostgreSQL."""
from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from ingest.base import run_feed
from models import db
from models.tables import CASE_DATES, capacity_report, meta
from tests.fixtures.ingest.data import VACANCY_COLUMNS, to_csv, vacancy_row

LEEDS = "E08000035"

# The service table as schema 2 made it (no last_reported_at), and as schema 3 made it (no last_* figures).
SERVICE_V2 = ("CREATE TABLE service (service_id VARCHAR NOT NULL PRIMARY KEY, service_name VARCHAR NOT NULL, "
              "provider_name VARCHAR, service_type VARCHAR NOT NULL, pathway INTEGER NOT NULL, "
              "hwb_code VARCHAR NOT NULL, first_reported_at TIMESTAMP NOT NULL, updated_run_id INTEGER)")
SERVICE_V3 = SERVICE_V2[:-1] + ", last_reported_at TIMESTAMP)"
FIGURES = ("last_capacity", "last_occupied", "last_vacant_accepting", "last_vacant_reserved")
LAST = "SELECT service_id, last_reported_at, " + ", ".join(FIGURES) + " FROM service ORDER BY service_id"


def rows(engine: sa.Engine, sql: str) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql))]


def _has_column(engine: sa.Engine, name: str = "last_reported_at") -> bool:
    return rows(engine, "SELECT count(*) FROM information_schema.columns "
                        f"WHERE table_name = 'service' AND column_name = '{name}'") == [(1,)]


def _old_store(engine: sa.Engine, version: int = 2) -> None:
    """Turn a fresh store into a schema-2 (or 3, with last_reported_at as the loader kept it) one
    holding services and reports."""
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE service"))
        conn.execute(sa.text(SERVICE_V2 if version == 2 else SERVICE_V3))
        conn.execute(meta.update().where(meta.c.key == "schema_version").values(value=str(version)))
        for sid in ("S1", "S2", "S3"):
            conn.execute(sa.text("INSERT INTO service VALUES (:sid, :name, NULL, 'P1_REABLEMENT', 1, :hwb, "
                                 "'2024-01-01 00:00:00', 1" + (")" if version == 2 else ", NULL)")),
                         {"sid": sid, "name": f"Service {sid}", "hwb": LEEDS})
        reports = [("S1", "2024-01-01 08:00", 10), ("S1", "2024-03-05 10:30", 12), ("S1", "2024-02-01 09:00", 11),
                   ("S2", "2024-01-02 07:00", 20),
                   ("ORPHAN", "2024-04-01 00:00", 30)]  # reports of a service not in the table: no harm
        conn.execute(capacity_report.insert(), [
            {"service_id": sid, "reported_at": datetime.fromisoformat(t), "capacity": capacity, "occupied": 5,
             "vacant_accepting": 4, "vacant_reserved": 1, "run_id": 1} for sid, t, capacity in reports])
        if version == 3:
            conn.execute(sa.text("UPDATE service SET last_reported_at = CASE service_id "
                                 "WHEN 'S1' THEN TIMESTAMP '2024-03-05 10:30:00' "
                                 "WHEN 'S2' THEN TIMESTAMP '2024-01-02 07:00:00' END"))
    assert _has_column(engine) == (version == 3)
    assert not any(_has_column(engine, name) for name in FIGURES)


EXPECTED = [("S1", datetime(2024, 3, 5, 10, 30), 12, 5, 4, 1), ("S2", datetime(2024, 1, 2, 7), 20, 5, 4, 1),
            ("S3", None, None, None, None, None)]


@pytest.mark.parametrize("version", [2, 3])
def test_old_store_migrates_with_last_report_filled(store: sa.Engine, tmp_path: Path, version: int) -> None:
    _old_store(store, version)
    db.create_schema(store)  # what `app.py init` runs
    assert rows(store, "SELECT value FROM meta WHERE key = 'schema_version'") == [(str(db.SCHEMA_VERSION),)]
    assert rows(store, LAST) == EXPECTED
    # Idempotent: again changes nothing.
    db.create_schema(store)
    assert rows(store, "SELECT value FROM meta WHERE key = 'schema_version'") == [(str(db.SCHEMA_VERSION),)]
    assert rows(store, LAST) == EXPECTED
    # And the loader keeps it from there.
    path = tmp_path / "v.csv"
    path.write_bytes(to_csv([vacancy_row(service_id="S2", service_name="", hwb_code="",
                                         reported_at="2024-05-01T12:00:00Z")], VACANCY_COLUMNS))
    assert run_feed(store, "vacancy", str(path)).status == "ok"
    assert rows(store, LAST) == [EXPECTED[0], ("S2", datetime(2024, 5, 1, 12), 20, 12, 5, 1), EXPECTED[2]]


@pytest.mark.parametrize("version", [2, 3])
def test_migration_is_one_transaction(store: sa.Engine, monkeypatch: pytest.MonkeyPatch, version: int) -> None:
    """If the backfill fails, no column is added and the store stays at its schema."""
    _old_store(store, version)

    def fail(conn: sa.Connection) -> None:
        raise RuntimeError("backfill failed")

    monkeypatch.setattr(db, "backfill_last_reported_at", fail)
    with pytest.raises(RuntimeError, match="backfill failed"):
        db.create_schema(store)
    assert rows(store, "SELECT value FROM meta WHERE key = 'schema_version'") == [(str(version),)]
    assert _has_column(store) == (version == 3)
    assert not any(_has_column(store, name) for name in FIGURES)
    monkeypatch.undo()
    db.create_schema(store)
    assert rows(store, LAST) == EXPECTED


def test_fresh_store_is_created_at_schema_7(duck_store: sa.Engine) -> None:
    assert rows(duck_store, "SELECT value FROM meta WHERE key = 'schema_version'") == [(str(db.SCHEMA_VERSION),)]
    assert db.SCHEMA_VERSION == 7 and _has_column(duck_store)
    assert all(_has_column(duck_store, name) for name in FIGURES)


def test_schema_4_store_gets_each_cases_london_dates(store: sa.Engine) -> None:
    """Schema 5 adds hub_case's London dates and fills them from the stored (UTC) times."""
    with store.begin() as conn:
        for name in CASE_DATES.values():
            conn.execute(sa.text(f"ALTER TABLE hub_case DROP COLUMN {name}"))
        conn.execute(meta.update().where(meta.c.key == "schema_version").values(value="4"))
        conn.execute(sa.text(
            "INSERT INTO hub_case (hub_id, case_id, person_id, age, hwb_code, referred_at, discharge_ready_at, "
            "discharged_at, ic_started_at, ic_ended_at, updated_at) VALUES ('h', 'C1', 'p', 80, :hwb, "
            # 23:30 UTC in summer is 00:30 the next day in London; in winter it is the same day
            "'2024-06-30 23:30:00', '2024-07-01 22:59:00', '2024-10-26 23:30:00', '2024-10-27 23:30:00', NULL, "
            "'2024-10-28 00:00:00')"), {"hwb": LEEDS})
    db.create_schema(store)
    assert rows(store, "SELECT value FROM meta WHERE key = 'schema_version'") == [(str(db.SCHEMA_VERSION),)]
    dates = ", ".join(CASE_DATES[t] for t in ("referred_at", "pathway_decided_at", "discharge_ready_at",
                                               "discharged_at", "ic_started_at", "ic_ended_at", "readmitted_at"))
    assert rows(store, f"SELECT {dates} FROM hub_case") == [
        # referred, decided, ready, discharged, IC started, IC ended, readmitted
        (date(2024, 7, 1), None, date(2024, 7, 1), date(2024, 10, 27), date(2024, 10, 27), None, None)]


def test_schema_5_store_gets_the_alert_tables(store: sa.Engine) -> None:
    """Schema 6 adds alert_instance and alert_notification (new tables only)."""
    with store.begin() as conn:
        conn.execute(sa.text("DROP TABLE alert_notification"))
        conn.execute(sa.text("DROP TABLE alert_instance"))
        conn.execute(meta.update().where(meta.c.key == "schema_version").values(value="5"))
    db.create_schema(store)
    assert rows(store, "SELECT value FROM meta WHERE key = 'schema_version'") == [(str(db.SCHEMA_VERSION),)]
    assert rows(store, "SELECT count(*) FROM alert_instance") == [(0,)]
    assert rows(store, "SELECT count(*) FROM alert_notification") == [(0,)]


def test_schema_5_store_gets_the_access_tables(store: sa.Engine) -> None:
    """Schema 6: account, access_token and audit_event appear on a store made at schema 5 (the rest untouched)."""
    from models import accounts

    with store.begin() as conn:
        for name in ("audit_event", "access_token", "account"):
            conn.execute(sa.text(f"DROP TABLE {name}"))
        conn.execute(meta.update().where(meta.c.key == "schema_version").values(value="5"))
    db.create_schema(store)
    assert rows(store, "SELECT value FROM meta WHERE key = 'schema_version'") == [(str(db.SCHEMA_VERSION),)]
    accounts.add_account(store, "ann", "viewer", "hwb:E08000035", "a long enough password")
    assert accounts.verify_password(store, "ann", "a long enough password").scope == ("hwb:E08000035",)


def test_schema_6_store_gets_hwb_population(store: sa.Engine) -> None:
    """Schema 7 adds hwb_population only: `init` makes the table and the reference load fills it."""
    from models.geography import get_geography, invalidate_geography, load_reference

    with store.begin() as conn:
        conn.execute(sa.text("DROP TABLE hwb_population"))
        conn.execute(meta.update().where(meta.c.key == "schema_version").values(value="6"))
    db.create_schema(store)
    load_reference(store)  # what `app.py init` runs after create_schema
    invalidate_geography(store)
    assert rows(store, "SELECT value FROM meta WHERE key = 'schema_version'") == [(str(db.SCHEMA_VERSION),)]
    assert get_geography(store).hwbs[LEEDS].population == 798_786
