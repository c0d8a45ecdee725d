"""`vacancy`: provider capacity and vacancies, one row per service per report (feeds.md §1).

Natural key (service_id, reported_at): a later delivery of the same key
replaces the values. The service table keeps the latest name, type and HWB
(by report time, so an old report delivered late does not undo a rename),
first_reported_at is the earliest report ever seen, last_reported_at the
latest and last_capacity, last_occupied, last_vacant_accepting,
last_vacant_reserved that report's figures (kept in the load's transaction;
models.datasets takes the silent services' last reports from them). A tie on
reported_at goes to the later delivery, as the report itself does.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ingest import bulk
from ingest.checks import Check, Field, Validation
from ingest.feed import FeedContext, Kept, LoadResult
from ingest.feeds.geography_lookup import hwb_codes
from ingest.formats import Tabular, UnreadableDelivery, delivery_chunks, read_delivery
from ingest.pseudonym import holds_nhs_number, scrub_bytes, scrub_column
from models.tables import service
from models.vocab import SERVICE_TYPES, VACANCY_FEED

FIELDS: tuple[Field, ...] = (
    Field("service_id", required=True),
    Field("service_name"),
    Field("provider_name"),
    Field("service_type", "enum", required=True, values=tuple(SERVICE_TYPES)),
    Field("hwb_code", "code"),
    Field("capacity", "int", required=True, minimum=0),
    Field("occupied", "int", required=True, minimum=0),
    Field("vacant_accepting", "int", required=True, minimum=0),
    Field("vacant_reserved", "int", minimum=0, default="'0'"),
    Field("reported_at", "time", required=True),
)
REQUIRED_COLUMNS = tuple(f.name for f in FIELDS if f.required)


def require_columns(parsed: Tabular, required: tuple[str, ...]) -> None:
    missing = [c for c in required if c not in parsed.table.column_names]
    if missing:
        raise UnreadableDelivery("required column missing: " + ", ".join(missing))


class VacancyFeed:
    name = VACANCY_FEED

    def parse(self, payload: bytes, ctx: FeedContext) -> Tabular:
        parsed = read_delivery(payload)
        require_columns(parsed, REQUIRED_COLUMNS)
        return parsed

    def kept_copy(self, payload: bytes, parsed: Any | None) -> tuple[Kept, str, bool]:
        """As delivered: no person-level data belongs here. But a wrong file (a hub's cases sent to
        this feed, say) could carry NHS numbers, and they must not be kept in clear."""
        if not isinstance(parsed, Tabular):
            return scrub_bytes(payload), "bin", True  # unreadable: every NHS-number-like run masked
        table = parsed.table
        if not any(holds_nhs_number(table.column(c), or_3_3_4=True).any() for c in table.column_names):
            return payload, parsed.format, False
        masked = pa.table({c: scrub_column(table.column(c)) for c in table.column_names})
        return delivery_chunks(masked, parsed.format), parsed.format, True

    def load(self, conn: Connection, parsed: Tabular, run_id: int, ctx: FeedContext) -> LoadResult:
        checked = validate(conn, parsed, ctx)
        del parsed  # the delivery's text columns: only the checked rows are needed now
        good = checked.good
        if good.num_rows:
            assert checked.services is not None
            with bulk.staged(conn, "stage_capacity", good), bulk.staged(conn, "stage_service_in", checked.services):
                _upsert(conn, run_id)
            bulk.drop_stage(conn, "stage_service")
        return LoadResult(rows_read=checked.rows_read, rows_loaded=checked.rows_read - checked.rows_rejected,
                          rows_rejected=checked.rows_rejected, rejects=checked.rejects)


STAGE_COLUMNS = ("service_id", "service_name", "provider_name", "service_type", "pathway", "hwb_code", "capacity",
                 "occupied", "vacant_accepting", "vacant_reserved", "reported_at")


@dataclass
class _Checked:
    good: pa.Table
    rejects: pa.Table
    rows_read: int
    rows_rejected: int
    services: pa.Table | None = None


def validate(conn: Connection, parsed: Tabular, ctx: FeedContext) -> _Checked:
    v = Validation(FIELDS, ctx.fetched_at)
    try:
        geo = hwb_codes(conn)
        known = [r[0] for r in conn.execute(sa.select(service.c.service_id))]
        v.add_lookup("known_service", pa.table({"service_id": pa.array(known, type=pa.string())}))
        v.type_rows(parsed.table, broken=parsed.broken)
        v.add_mapped("stored_hwb", "hwb_code", geo.column("code").combine_chunks(),
                     geo.column("hwb_code").combine_chunks())
        v.add_mapped("pathway", "service_type", pa.array(list(SERVICE_TYPES), pa.string()),
                     pa.array(list(SERVICE_TYPES.values()), pa.int64()))
        # A service is known if the store has it, or if this delivery introduces it properly.
        v.db.execute(
            "CREATE TABLE introduced AS SELECT DISTINCT service_id FROM typed "
            "WHERE service_id IS NOT NULL AND service_name IS NOT NULL AND stored_hwb IS NOT NULL "
            "UNION SELECT service_id FROM known_service")
        checks = v.field_checks() + [
            Check("hwb_code", "hwb_code IS NOT NULL AND stored_hwb IS NULL",
                  "'hwb_code ''' || t_hwb_code || ''' is not an upper-tier local authority (health and wellbeing board) "
                  "in the reference geography'", "t_hwb_code", 2),
            Check("service_name",
                  "service_id IS NOT NULL AND service_name IS NULL AND service_id NOT IN (SELECT service_id FROM introduced)",
                  "'service ''' || service_id || ''' is new: service_name and hwb_code are required for a new service'",
                  "NULL", 2),
            Check("hwb_code",
                  "service_id IS NOT NULL AND t_hwb_code IS NULL AND service_id NOT IN (SELECT service_id FROM introduced)",
                  "'service ''' || service_id || ''' is new: service_name and hwb_code are required for a new service'",
                  "NULL", 2),
            Check("capacity",
                  "capacity IS NOT NULL AND occupied IS NOT NULL AND vacant_accepting IS NOT NULL "
                  "AND vacant_reserved IS NOT NULL AND occupied + vacant_accepting + vacant_reserved > capacity",
                  "'occupied (' || occupied || ') + vacant_accepting (' || vacant_accepting || ') + vacant_reserved (' "
                  "|| vacant_reserved || ') = ' || (occupied + vacant_accepting + vacant_reserved) "
                  "|| ' is more than capacity (' || capacity || ')'",
                  "t_capacity", 3),
        ]
        v.run_checks(checks)
        # The same key twice in one delivery: the later row is the correction.
        columns = {c: c for c in STAGE_COLUMNS}
        columns["hwb_code"] = "stored_hwb"
        result = v.finish(columns, key=("service_id", "reported_at"))
        services = _services(v, result.good) if result.good.num_rows else None
        return _Checked(result.good, result.rejects, result.rows_read, result.rows_rejected, services)
    finally:
        v.close()


def _services(v: Validation, good: pa.Table) -> pa.Table:
    """Per service in this delivery: its span of reports, its latest attributes and its latest
    report's figures.

    The good rows hold one row per (service_id, reported_at), so a service's latest report
    is the one with the greatest reported_at; `named` means the latest report that carries
    both a name and an HWB (used when the latest has none)."""
    named = "FILTER (WHERE service_name IS NOT NULL AND hwb_code IS NOT NULL)"
    v.db.register("stage_capacity", good)
    try:
        return v.db.execute(f"""
            SELECT service_id,
                   min(reported_at) AS first_reported_at,
                   max(reported_at) AS latest_reported_at,
                   arg_max_null(capacity, reported_at) AS latest_capacity,
                   arg_max_null(occupied, reported_at) AS latest_occupied,
                   arg_max_null(vacant_accepting, reported_at) AS latest_vacant_accepting,
                   arg_max_null(vacant_reserved, reported_at) AS latest_vacant_reserved,
                   arg_max_null(service_type, reported_at) AS service_type,
                   arg_max_null(pathway, reported_at) AS pathway,
                   COALESCE(arg_max_null(service_name, reported_at),
                            arg_max_null(service_name, reported_at) {named}) AS service_name,
                   COALESCE(arg_max_null(hwb_code, reported_at),
                            arg_max_null(hwb_code, reported_at) {named}) AS hwb_code,
                   COALESCE(arg_max_null(provider_name, reported_at),
                            arg_max_null(provider_name, reported_at) {named}) AS provider_name
            FROM stage_capacity GROUP BY service_id
        """).fetch_arrow_table()
    finally:
        v.db.unregister("stage_capacity")


def _upsert(conn: Connection, run_id: int) -> None:
    params = {"run_id": run_id}
    # Per service in this delivery (worked out while checking, see `_services`): its span of reports,
    # latest attributes and latest report's figures; is_latest says whether this delivery holds the
    # newest report the store will have, against the stored service's last_reported_at (its latest
    # report ever loaded, kept below: no read of the stored reports; on a tie this delivery's report
    # replaces the stored one, so its figures are the last); is_new whether the store has no such
    # service yet.
    conn.execute(sa.text("""
        CREATE TEMP TABLE stage_service AS
        SELECT s.service_id, s.first_reported_at, s.latest_reported_at, s.service_type, s.pathway,
               s.service_name, s.hwb_code, s.provider_name, s.latest_capacity, s.latest_occupied,
               s.latest_vacant_accepting, s.latest_vacant_reserved,
               (s.latest_reported_at >= COALESCE(v.last_reported_at, s.latest_reported_at)) AS is_latest,
               v.service_id IS NULL AS is_new
        FROM stage_service_in s LEFT JOIN service v ON v.service_id = s.service_id
    """))
    # A new service's last report is this delivery's latest, or a stored one if reports of it were
    # loaded before it was (a delivery whose rows naming it were all rejected; on a tie this
    # delivery's, which replaces it): those are looked for only when the delivery brings new services
    # (an empty join side reads no reports).
    conn.execute(sa.text("""
        INSERT INTO service (service_id, service_name, provider_name, service_type, pathway, hwb_code,
                             first_reported_at, last_reported_at, last_capacity, last_occupied,
                             last_vacant_accepting, last_vacant_reserved, updated_run_id)
        SELECT s.service_id, s.service_name, s.provider_name, s.service_type, s.pathway, s.hwb_code,
               s.first_reported_at, GREATEST(s.latest_reported_at, stored.reported_at),
               CASE WHEN stored.reported_at > s.latest_reported_at THEN stored.capacity ELSE s.latest_capacity END,
               CASE WHEN stored.reported_at > s.latest_reported_at THEN stored.occupied ELSE s.latest_occupied END,
               CASE WHEN stored.reported_at > s.latest_reported_at
                    THEN stored.vacant_accepting ELSE s.latest_vacant_accepting END,
               CASE WHEN stored.reported_at > s.latest_reported_at
                    THEN stored.vacant_reserved ELSE s.latest_vacant_reserved END,
               :run_id
        FROM stage_service s
        LEFT JOIN (SELECT r.service_id, r.reported_at, r.capacity, r.occupied, r.vacant_accepting, r.vacant_reserved
                   FROM capacity_report r
                   JOIN (SELECT r.service_id, max(r.reported_at) AS reported_at
                         FROM capacity_report r JOIN stage_service n ON n.service_id = r.service_id AND n.is_new
                         GROUP BY r.service_id) AS m ON m.service_id = r.service_id AND m.reported_at = r.reported_at
                   ) AS stored ON stored.service_id = s.service_id
        WHERE s.is_new AND s.service_name IS NOT NULL AND s.hwb_code IS NOT NULL
        ON CONFLICT (service_id) DO NOTHING
    """), params)
    conn.execute(sa.text("""
        UPDATE service SET
            first_reported_at = CASE WHEN s.first_reported_at < service.first_reported_at
                                     THEN s.first_reported_at ELSE service.first_reported_at END,
            last_reported_at = GREATEST(service.last_reported_at, s.latest_reported_at),
            last_capacity = CASE WHEN s.is_latest THEN s.latest_capacity ELSE service.last_capacity END,
            last_occupied = CASE WHEN s.is_latest THEN s.latest_occupied ELSE service.last_occupied END,
            last_vacant_accepting = CASE WHEN s.is_latest THEN s.latest_vacant_accepting
                                         ELSE service.last_vacant_accepting END,
            last_vacant_reserved = CASE WHEN s.is_latest THEN s.latest_vacant_reserved
                                        ELSE service.last_vacant_reserved END,
            service_name = CASE WHEN s.is_latest THEN COALESCE(s.service_name, service.service_name) ELSE service.service_name END,
            provider_name = CASE WHEN s.is_latest THEN COALESCE(s.provider_name, service.provider_name) ELSE service.provider_name END,
            service_type = CASE WHEN s.is_latest THEN s.service_type ELSE service.service_type END,
            pathway = CASE WHEN s.is_latest THEN s.pathway ELSE service.pathway END,
            hwb_code = CASE WHEN s.is_latest THEN COALESCE(s.hwb_code, service.hwb_code) ELSE service.hwb_code END,
            updated_run_id = :run_id
        FROM stage_service s
        WHERE service.service_id = s.service_id AND NOT s.is_new
    """), params)
    conn.execute(sa.text("""
        INSERT INTO capacity_report (service_id, reported_at, capacity, occupied, vacant_accepting, vacant_reserved, run_id)
        SELECT service_id, reported_at, capacity, occupied, vacant_accepting, vacant_reserved, :run_id
        FROM stage_capacity
        ON CONFLICT (service_id, reported_at) DO UPDATE SET
            capacity = EXCLUDED.capacity, occupied = EXCLUDED.occupied,
            vacant_accepting = EXCLUDED.vacant_accepting, vacant_reserved = EXCLUDED.vacant_reserved,
            run_id = EXCLUDED.run_id
    """), params)


FEED = VacancyFeed()
