"""SQLAlchemy Core tables: the store's schema, one place.

Conventions: every timestamp column holds UTC as a naive `TIMESTAMP`
(ingest converts; London-local rules live in `models.dialects`). Integer keys
use `autoincrement=False` because DuckDB has no SERIAL: ids are assigned by
the writer from the sequences below (`models.db.next_id`).
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Sequence,
    String,
    Table,
    Text,
)

metadata = MetaData()

# Ids come from sequences (DuckDB has no SERIAL; both stores have sequences).
run_id_seq = Sequence("ingest_run_id_seq", metadata=metadata)
export_id_seq = Sequence("export_id_seq", metadata=metadata)
audit_id_seq = Sequence("audit_id_seq", metadata=metadata)

# 2: hub_case / hub_case_version without a primary key on DuckDB; 3: service.last_reported_at;
# 4: service.last_capacity, last_occupied, last_vacant_accepting, last_vacant_reserved;
# 5: hub_case's London dates (CASE_DATES); 6: alert_instance, alert_notification, account, access_token,
#    audit_event (new tables only); 7: hwb_population (new table only)
SCHEMA_VERSION = 7

meta = Table(
    "meta", metadata,
    Column("key", String, primary_key=True),
    Column("value", String, nullable=False),
)

# --- reference geography -------------------------------------------------

region = Table(
    "region", metadata,
    Column("region_code", String, primary_key=True),  # ODS Y-code, e.g. Y63
    Column("name", String, nullable=False),
)

icb = Table(
    "icb", metadata,
    Column("icb_code", String, primary_key=True),  # ODS code, e.g. QWO
    Column("icb_ons_code", String, nullable=False),  # current E54 code
    Column("name", String, nullable=False),
    Column("region_code", String, nullable=False),
)

place = Table(
    "place", metadata,
    Column("place_code", String, primary_key=True),  # configured; default = the HWB's ONS code
    Column("name", String, nullable=False),
    Column("icb_code", String, nullable=False),
)

hwb = Table(
    "hwb", metadata,
    Column("hwb_code", String, primary_key=True),  # ONS code of the upper-tier authority
    Column("name", String, nullable=False),
    Column("icb_code", String, nullable=False),  # the ICB holding most of it
    Column("place_code", String, nullable=False),
)

# Residents per HWB (ONS mid-year estimate via mySociety), the denominator of rates per 100,000 population
# (models.population). Its own table: a dated estimate, replaced as a whole by `load_reference`.
hwb_population = Table(
    "hwb_population", metadata,
    Column("hwb_code", String, primary_key=True),
    Column("population", Integer, nullable=False),
    Column("year", Integer, nullable=False),  # the mid-year the estimate is for
)

# Codes accepted in feeds that report into another HWB (City of London ->
# Hackney, Isles of Scilly -> Cornwall).
hwb_alias = Table(
    "hwb_alias", metadata,
    Column("code", String, primary_key=True),
    Column("hwb_code", String, nullable=False),
)

# Lower-tier districts split between ICBs, kept as published (weights).
hwb_icb_split = Table(
    "hwb_icb_split", metadata,
    Column("lad_code", String, nullable=False),
    Column("hwb_code", String, nullable=False),
    Column("icb_code", String, nullable=False),
    Column("lsoa_count", Integer, nullable=False),
    PrimaryKeyConstraint("lad_code", "icb_code"),
)

trust = Table(
    "trust", metadata,
    Column("trust_code", String, primary_key=True),  # ODS code, e.g. RR8
    Column("name", String, nullable=False),
    Column("icb_code", String),
    Column("region_code", String),
)

# --- vacancy feed --------------------------------------------------------

service = Table(
    "service", metadata,
    Column("service_id", String, primary_key=True),
    Column("service_name", String, nullable=False),
    Column("provider_name", String),
    Column("service_type", String, nullable=False),
    Column("pathway", Integer, nullable=False),
    Column("hwb_code", String, nullable=False),
    Column("first_reported_at", DateTime, nullable=False),  # known from then on (as-at)
    Column("updated_run_id", Integer),
    # The latest reported_at of the service's reports ever loaded (NULL: none), kept by the vacancy
    # loader in the load's transaction. A service silent at `at` whose last_reported_at is before the
    # staleness window has its latest report there: no scan of the older reports (models.datasets).
    Column("last_reported_at", DateTime),
    # The figures of that report (NULL with it), kept with it: such a silent service's latest report
    # is read from here, with no read of the reports at all.
    Column("last_capacity", Integer),
    Column("last_occupied", Integer),
    Column("last_vacant_accepting", Integer),
    Column("last_vacant_reserved", Integer),
)

capacity_report = Table(
    "capacity_report", metadata,
    Column("service_id", String, nullable=False),
    Column("reported_at", DateTime, nullable=False),
    Column("capacity", Integer, nullable=False),
    Column("occupied", Integer, nullable=False),
    Column("vacant_accepting", Integer, nullable=False),
    Column("vacant_reserved", Integer, nullable=False),
    Column("run_id", Integer),
    PrimaryKeyConstraint("service_id", "reported_at"),
)
Index("ix_capacity_report_reported_at", capacity_report.c.reported_at)

# --- hub_cases feed ------------------------------------------------------


def _case_columns() -> list[Column[Any]]:
    return [
        Column("hub_id", String, nullable=False),
        Column("case_id", String, nullable=False),
        Column("person_id", String, nullable=False),  # HMAC pseudonym of the NHS number
        Column("age", Integer, nullable=False),
        Column("hwb_code", String, nullable=False),
        Column("acute_site_code", String),
        Column("admitted_at", DateTime),
        Column("referred_at", DateTime, nullable=False),
        Column("discharge_ready_at", DateTime),
        Column("pathway", Integer),
        Column("pathway_decided_at", DateTime),
        Column("delay_reason", String),
        Column("discharged_at", DateTime),
        Column("destination_service_id", String),
        Column("ic_started_at", DateTime),
        Column("ic_ended_at", DateTime),
        Column("ic_outcome", String),
        Column("readmitted_at", DateTime),
        Column("status_91d", String),
        Column("updated_at", DateTime, nullable=False),
        Column("run_id", Integer),
    ]


def _not_duckdb(ddl: object, target: object, bind: object, tables: object = None, state: object = None, *,
                dialect: object = None, **kw: object) -> bool:
    return getattr(dialect, "name", None) != "duckdb"


# The hub tables' keys are kept by the loader (ingest.feeds.hub_cases._upsert: delete the
# stored rows a delivery replaces, then append), not by an index. On DuckDB the primary-key
# index (an ART) doubled the cost of writing a million cases and is never used by the
# dashboard's scans, so it is not created there; PostgreSQL keeps it as a safety net.
# This is the one place the two stores' schemas differ.
# The Europe/London calendar date of each event time, kept beside it in hub_case (schema 5) by the
# loader (ingest.feeds.hub_cases) in the load's transaction: whole days and day / week / month
# buckets are then plain date arithmetic. Working the date out from the time on every read was
# half the cost of a case query (measured: a half-year median length of stay 42 -> 19 ms).
# A writer that bypasses the loader runs models.db.fill_case_dates after it.
CASE_DATES: dict[str, str] = {
    "referred_at": "referred_date", "pathway_decided_at": "pathway_decided_date",
    "discharge_ready_at": "discharge_ready_date", "discharged_at": "discharged_date",
    "ic_started_at": "ic_started_date", "ic_ended_at": "ic_ended_date", "readmitted_at": "readmitted_date",
}

hub_case = Table(  # latest state per case; key (hub_id, case_id)
    "hub_case", metadata, *_case_columns(), *[Column(name, Date) for name in CASE_DATES.values()],
    PrimaryKeyConstraint("hub_id", "case_id").ddl_if(callable_=_not_duckdb),
)

hub_case_version = Table(  # every version received; key (hub_id, case_id, updated_at)
    "hub_case_version", metadata, *_case_columns(),
    PrimaryKeyConstraint("hub_id", "case_id", "updated_at").ddl_if(callable_=_not_duckdb),
)

# --- published NHS England sitreps ---------------------------------------

sitrep_value = Table(
    "sitrep_value", metadata,
    Column("feed", String, nullable=False),  # nhse_acute_sitrep | nhse_community_sitrep
    Column("period_date", Date, nullable=False),  # the day, or first day of week / month
    Column("period_kind", String, nullable=False),  # day | week | month
    Column("level", String, nullable=False),  # england | region | icb | trust | provider
    Column("org_code", String, nullable=False),  # ENG, region name code, ODS code
    Column("org_name", String),
    Column("region_name", String),
    Column("measure", String, nullable=False),  # nctr | discharged | remaining | discharges_p0 ...
    Column("pathway", String),  # for discharges by destination: P0..P3, P3b, other
    Column("value", Float),  # NULL = not submitted, never 0
    Column("edition", String),  # the workbook's file / publication
    Column("run_id", Integer),
    PrimaryKeyConstraint("feed", "period_date", "level", "org_code", "measure"),
)

# --- ingest bookkeeping --------------------------------------------------

ingest_run = Table(
    "ingest_run", metadata,
    Column("run_id", Integer, primary_key=True, autoincrement=False),
    Column("feed", String, nullable=False),
    Column("source", Text, nullable=False),
    Column("started_at", DateTime, nullable=False),
    Column("finished_at", DateTime),
    Column("status", String, nullable=False),  # running | ok | partial | failed | unchanged
    Column("rows_read", Integer, nullable=False, default=0),
    Column("rows_loaded", Integer, nullable=False, default=0),
    Column("rows_rejected", Integer, nullable=False, default=0),
    Column("payload_sha256", String),
    Column("error", Text),
)

reject = Table(
    "reject", metadata,
    Column("run_id", Integer, nullable=False),
    Column("feed", String, nullable=False),
    Column("row_number", Integer, nullable=False),  # 1 = first data row
    Column("field", String, nullable=False),
    Column("value", Text),  # masked where it could identify a person
    Column("reason", Text, nullable=False),
    PrimaryKeyConstraint("run_id", "row_number", "field"),
)

raw_payload = Table(
    "raw_payload", metadata,
    Column("sha256", String, primary_key=True),  # of the payload as fetched
    Column("feed", String, nullable=False),
    Column("path", Text, nullable=False),  # relative to the data dir
    Column("size_bytes", Integer, nullable=False),
    Column("pseudonymised", Boolean, nullable=False),
    Column("first_seen_at", DateTime, nullable=False),
)

export_audit = Table(
    "export_audit", metadata,
    Column("export_id", Integer, primary_key=True, autoincrement=False),
    Column("exported_at", DateTime, nullable=False),
    Column("remote_addr", String),
    Column("dataset", String, nullable=False),
    Column("filters", Text, nullable=False),  # JSON
    Column("format", String, nullable=False),
    Column("rows", Integer, nullable=False),
    Column("suppressed", Boolean, nullable=False),
)

# --- alerts ---------------------------------------------------------------

alert_instance = Table(  # one per rule and scope (a rule with per = "hwb" has one per HWB); see alerts.states
    "alert_instance", metadata,
    Column("instance_key", String, primary_key=True),  # "<rule>|<scope>"
    Column("rule", String, nullable=False),
    Column("scope", String, nullable=False),  # national | icb:… | hwb:E08000035 | feed:vacancy
    Column("state", String, nullable=False),  # ok | pending | firing | resolved | no_data
    Column("value", Float),
    Column("threshold", Float),
    Column("since", DateTime, nullable=False),  # when it entered this state
    Column("pending_since", DateTime),
    Column("fired_at", DateTime),
    Column("resolved_at", DateTime),
    Column("episode", Integer, nullable=False, default=0),  # one more at each firing: keys its notifications
    Column("evaluated_at", DateTime, nullable=False),
    Column("last_notified_at", DateTime),
    Column("silenced_until", DateTime),
    Column("silence_reason", Text),
    Column("silenced_by", String),
)

alert_notification = Table(  # one per instance, episode, kind and channel: the key makes a second copy impossible
    "alert_notification", metadata,
    Column("instance_key", String, nullable=False),
    Column("episode", Integer, nullable=False),
    Column("kind", String, nullable=False),  # firing | resolved | repeat-N
    Column("channel", String, nullable=False),
    Column("rule", String, nullable=False),
    Column("value", Float),
    Column("threshold", Float),
    Column("created_at", DateTime, nullable=False),
    Column("status", String, nullable=False),  # due | sending | sent | failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime, nullable=False),
    Column("claimed_by", String),
    Column("claimed_at", DateTime),
    Column("sent_at", DateTime),
    Column("recipients", Text),  # who was told (addresses or the webhook host)
    Column("error", Text),
    PrimaryKeyConstraint("instance_key", "episode", "kind", "channel"),
)

# --- access: who may see what (models.access, models.accounts) -------------

account = Table(
    "account", metadata,
    Column("name", String, primary_key=True),
    Column("role", String, nullable=False),  # models.access.ROLES
    Column("scope", String, nullable=False),  # "national" or "icb:QWO,hwb:E08000035"
    Column("password_hash", String),  # argon2id; NULL for an account that signs in through OIDC
    Column("created_at", DateTime, nullable=False),
)

access_token = Table(
    "access_token", metadata,
    Column("name", String, primary_key=True),
    Column("kind", String, nullable=False),  # wall | api
    Column("role", String, nullable=False),
    Column("scope", String, nullable=False),
    Column("token_hash", String, nullable=False, unique=True),  # SHA-256 of the token (256 random bits)
    Column("created_at", DateTime, nullable=False),
    Column("expires_at", DateTime),
    Column("revoked_at", DateTime),
)

audit_event = Table(  # append-only: nothing updates or deletes a row
    "audit_event", metadata,
    Column("event_id", Integer, primary_key=True, autoincrement=False),
    Column("happened_at", DateTime, nullable=False),
    Column("actor", String),  # account or token name; NULL when unknown (a failed sign-in names it in detail)
    Column("role", String),
    Column("action", String, nullable=False),  # models.accounts.ACTIONS
    Column("route", String),
    Column("remote_addr", String),
    Column("detail", Text, nullable=False),  # JSON
    Index("ix_audit_event_happened_at", "happened_at"),
)
