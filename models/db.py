"""The store: engine from HOMEWARD_DB_URL, schema creation and migration.

DuckDB (embedded, default) allows one read-write process per file, so the
engine is created lazily — never at import time and never before a server
forks.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from models import settings
from models.tables import CASE_DATES, SCHEMA_VERSION, hub_case, meta, metadata, service

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def is_duckdb(engine_or_conn: Engine | Connection) -> bool:
    return engine_or_conn.dialect.name == "duckdb"


def make_engine(url: str | None = None) -> Engine:
    url = url or settings.db_url()
    if url.startswith("duckdb:///"):
        Path(url[len("duckdb:///"):]).parent.mkdir(parents=True, exist_ok=True)
        # duckdb_engine: each pooled connection is a cursor on one database
        # instance per process; the ICU time zone functions need no setup.
        engine = sa.create_engine(url, poolclass=sa.pool.QueuePool, pool_size=8, max_overflow=8)
        sa.event.listen(engine, "connect", _duckdb_session)
        return engine
    if url.startswith("postgresql"):
        return sa.create_engine(url, pool_pre_ping=True, pool_size=8, max_overflow=8)
    return sa.create_engine(url)


def _duckdb_session(dbapi_conn: Any, _record: Any) -> None:
    # A snapshot series is one UNION ALL branch per period, which DuckDB's parser counts as depth:
    # the default 1,000 refuses the longest series the period cap allows (HOMEWARD_MAX_PERIODS).
    dbapi_conn.execute("SET max_expression_depth TO 5000")


def get_engine(url: str | None = None) -> Engine:
    """One engine per URL per process."""
    url = url or settings.db_url()
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _engines[url] = make_engine(url)
        return engine


def dispose_all() -> None:
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


def next_id(conn: Connection, sequence: sa.Sequence) -> int:
    return int(conn.execute(sa.select(sequence.next_value())).scalar_one())


def create_schema(engine: Engine) -> None:
    """Create missing tables (safe to run again) and record the schema version."""
    metadata.create_all(engine, checkfirst=True)
    with engine.begin() as conn:
        row = conn.execute(sa.select(meta.c.value).where(meta.c.key == "schema_version")).first()
        if row is None:
            conn.execute(meta.insert().values(key="schema_version", value=str(SCHEMA_VERSION)))
        elif int(row[0]) < SCHEMA_VERSION:
            # Migrations go here, one step per version, all in this one transaction.
            if int(row[0]) < 2 and is_duckdb(conn):
                _rebuild_without_primary_key(conn, ("hub_case", "hub_case_version"))
            if int(row[0]) < 4:
                _add_last_report(conn, with_reported_at=int(row[0]) < 3)
            if int(row[0]) < 5:
                _add_case_dates(conn)
            # Schema 6 adds only new tables (alert_instance, alert_notification; account, access_token,
            # audit_event), and 7 (hwb_population, filled by `load_reference`, which `init` runs next):
            # `create_all` above made them.
            conn.execute(meta.update().where(meta.c.key == "schema_version").values(value=str(SCHEMA_VERSION)))


def _rebuild_without_primary_key(conn: Connection, names: tuple[str, ...]) -> None:
    """Schema 2 on DuckDB: the hub tables lose their primary-key index (DuckDB cannot drop one
    in place), so each is copied into a table built from the current definition."""
    for name in names:
        table = metadata.tables[name]
        # (the London dates come at schema 5, after this step)
        columns = ", ".join(c.name for c in table.columns if c.name not in CASE_DATES.values())
        conn.execute(sa.text(f"ALTER TABLE {name} RENAME TO {name}_schema1"))
        table.create(conn)
        conn.execute(sa.text(f"INSERT INTO {name} ({columns}) SELECT {columns} FROM {name}_schema1"))
        conn.execute(sa.text(f"DROP TABLE {name}_schema1"))


LAST_REPORT_COLUMNS = ("last_capacity", "last_occupied", "last_vacant_accepting", "last_vacant_reserved")


def _add_last_report(conn: Connection, with_reported_at: bool) -> None:
    """Schema 3: service.last_reported_at; schema 4: service.last_capacity, last_occupied,
    last_vacant_accepting, last_vacant_reserved (the figures of that report); both filled from the
    reports already stored, in one pass.

    IF NOT EXISTS: `create_all` above has already made the columns when it created the table in
    this same run (a store older than the service table). No reflection (duckdb_engine breaks on it).
    """
    names = (("last_reported_at",) if with_reported_at else ()) + LAST_REPORT_COLUMNS
    for name in names:
        column_type = service.c[name].type.compile(dialect=conn.dialect)
        conn.execute(sa.text(f"ALTER TABLE service ADD COLUMN IF NOT EXISTS {name} {column_type}"))
    backfill_last_reported_at(conn)


def backfill_last_reported_at(conn: Connection) -> None:
    """Set each service's last_reported_at to its latest stored report and last_capacity,
    last_occupied, last_vacant_accepting, last_vacant_reserved to that report's figures (a service
    with none keeps NULL): the schema-3/4 migration, and what a writer that bypasses the vacancy
    loader (test seeds) runs after inserting reports directly. (service_id, reported_at) is unique
    in capacity_report, so the report at the latest reported_at is one row."""
    conn.execute(sa.text("""
        UPDATE service SET last_reported_at = latest.reported_at, last_capacity = latest.capacity,
                           last_occupied = latest.occupied, last_vacant_accepting = latest.vacant_accepting,
                           last_vacant_reserved = latest.vacant_reserved
        FROM (SELECT r.service_id, r.reported_at, r.capacity, r.occupied, r.vacant_accepting, r.vacant_reserved
              FROM capacity_report r
              JOIN (SELECT service_id, max(reported_at) AS reported_at FROM capacity_report GROUP BY service_id) AS m
                ON m.service_id = r.service_id AND m.reported_at = r.reported_at) AS latest
        WHERE service.service_id = latest.service_id
    """))


def _add_case_dates(conn: Connection) -> None:
    """Schema 5: hub_case's London dates (models.tables.CASE_DATES), filled from the stored times."""
    for name in CASE_DATES.values():
        conn.execute(sa.text(f"ALTER TABLE hub_case ADD COLUMN IF NOT EXISTS {name} DATE"))
    fill_case_dates(conn)


def fill_case_dates(conn: Connection) -> None:
    """Set hub_case's London dates where a time has none: the schema-5 migration, and what a writer
    that bypasses the hub-case loader (test seeds, the benchmark's generator) runs after inserting
    cases directly."""
    conn.execute(case_dates_update())


def case_dates_update() -> sa.Update:
    from models.dialects import london_date

    c = hub_case.c
    missing = sa.or_(*[sa.and_(c[day].is_(None), c[time].is_not(None)) for time, day in CASE_DATES.items()])
    return hub_case.update().where(missing).values({day: london_date(c[time]) for time, day in CASE_DATES.items()})


def init_store(url: str | None = None) -> Engine:
    """`python app.py init`: create or migrate the schema and load the reference geography."""
    from models import geography

    engine = get_engine(url)
    create_schema(engine)
    geography.load_reference(engine)
    return engine


def ensure_store() -> Engine:
    """The store, created and loaded with the reference geography if this is its first use."""
    engine = get_engine()
    with engine.connect() as conn:
        ready = sa.inspect(conn).has_table("meta")
    return engine if ready else init_store()
