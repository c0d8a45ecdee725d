"""`hub_cases`: care transfer hub cases, the current state of each case, re-sent on change (feeds.md §2).

The NHS number is checked (Modulus 11) and replaced by its keyed pseudonym
while the delivery is read, so the clear number never reaches the checks'
database, the kept raw copy, the store, the rejects or the logs.

Natural key (hub_id, case_id). Every version is kept in hub_case_version
(key hub_id, case_id, updated_at); hub_case holds the version with the latest
updated_at, so an older version delivered late never overwrites a newer one.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ingest import bulk
from ingest.base import FeedContext, LoadResult
from ingest.checks import Check, Field, Validation, order_check, sql_str
from ingest.feeds.geography_lookup import hwb_codes
from ingest.feeds.vacancy import require_columns
from ingest.formats import Tabular, read_delivery, write_delivery
from ingest.pseudonym import Pseudonymiser, mask, scrub_bytes

DEFAULT_HUB_ID = "default"

DELAY_REASONS: tuple[str, ...] = (
    "MEDICAL", "THERAPY", "REFERRAL", "MEDICINES", "TRANSPORT", "HUB_CONFIRMATION", "P1_NEW_CARE",
    "P1_CONTINUE_REHAB", "P2_BED", "P3_CARE_HOME", "P3_END_OF_LIFE", "EQUIPMENT", "FAMILY_CHOICE",
    "HOUSING", "SAFEGUARDING", "READMISSION", "NO_PLAN", "DIAGNOSTIC", "INFECTION", "CHC_DECISION",
)
IC_OUTCOMES: tuple[str, ...] = ("home_no_support", "home_with_care", "residential_care", "nursing_care",
                                "readmitted", "died", "other")
STATUS_91D: tuple[str, ...] = ("at_home", "in_hospital", "care_home", "died", "unknown")
TIME_FIELDS: tuple[str, ...] = ("admitted_at", "referred_at", "discharge_ready_at", "pathway_decided_at",
                                "discharged_at", "ic_started_at", "ic_ended_at", "readmitted_at", "updated_at")

FIELDS: tuple[Field, ...] = (
    Field("hub_id", default=sql_str(DEFAULT_HUB_ID)),
    Field("case_id", required=True),
    Field("age", "int", required=True, minimum=18, maximum=120),
    Field("hwb_code", "code", required=True),
    Field("acute_site_code", "code"),
    Field("admitted_at", "time"),
    Field("referred_at", "time", required=True),
    Field("discharge_ready_at", "time"),
    Field("pathway", "int", minimum=0, maximum=3),
    Field("pathway_decided_at", "time"),
    Field("delay_reason", "enum", values=DELAY_REASONS),
    Field("discharged_at", "time"),
    Field("destination_service_id"),
    Field("ic_started_at", "time"),
    Field("ic_ended_at", "time"),
    Field("ic_outcome", "enum", values=IC_OUTCOMES),
    Field("readmitted_at", "time"),
    Field("status_91d", "enum", values=STATUS_91D),
    Field("updated_at", "time", required=True),
)
REQUIRED_COLUMNS = ("case_id", "nhs_number", "age", "hwb_code", "referred_at", "updated_at")
CASE_COLUMNS = ("hub_id", "case_id", "person_id", "age", "hwb_code", "acute_site_code", "admitted_at", "referred_at",
                "discharge_ready_at", "pathway", "pathway_decided_at", "delay_reason", "discharged_at",
                "destination_service_id", "ic_started_at", "ic_ended_at", "ic_outcome", "readmitted_at",
                "status_91d", "updated_at")


def _nhs_columns(values: list[str | None], pseudonymiser: Pseudonymiser) -> tuple[list[str | None], list[str | None], list[str | None]]:
    """(person_id, problem, masked) per row, from the clear NHS numbers."""
    person_ids: list[str | None] = []
    problems: list[str | None] = []
    masked: list[str | None] = []
    pseudonym = pseudonymiser.pseudonym
    for raw in values:
        if raw is None:
            person_ids.append(None), problems.append(None), masked.append(None)  # 'required' check reports it
            continue
        digits = raw.strip().replace(" ", "").replace("-", "")
        if len(digits) != 10 or not digits.isdigit() or not digits.isascii():
            person_ids.append(None), masked.append(mask(digits))
            problems.append("nhs_number must be 10 digits")
            continue
        total = (int(digits[0]) * 10 + int(digits[1]) * 9 + int(digits[2]) * 8 + int(digits[3]) * 7
                 + int(digits[4]) * 6 + int(digits[5]) * 5 + int(digits[6]) * 4 + int(digits[7]) * 3
                 + int(digits[8]) * 2)
        check = 11 - total % 11
        if check == 11:
            check = 0
        if check == 10 or check != int(digits[9]):
            person_ids.append(None), masked.append(mask(digits))
            problems.append("nhs_number fails the Modulus 11 check digit test")
            continue
        person_ids.append(pseudonym(digits)), problems.append(None), masked.append(None)
    return person_ids, problems, masked


class HubCasesFeed:
    name = "hub_cases"

    def parse(self, payload: bytes, ctx: FeedContext) -> Tabular:
        parsed = read_delivery(payload)
        require_columns(parsed, REQUIRED_COLUMNS)
        table = parsed.table
        nhs = table.column("nhs_number").to_pylist()
        person_ids, problems, masked = _nhs_columns(nhs, Pseudonymiser())
        del nhs
        index = table.column_names.index("nhs_number")
        table = table.remove_column(index)
        table = table.append_column("person_id", pa.array(person_ids, type=pa.string()))
        table = table.append_column("nhs_problem", pa.array(problems, type=pa.string()))
        table = table.append_column("nhs_masked", pa.array(masked, type=pa.string()))
        return Tabular(table=table, format=parsed.format)

    def kept_copy(self, payload: bytes, parsed: Any | None) -> tuple[bytes, str, bool]:
        if not isinstance(parsed, Tabular):
            # Unreadable: we cannot tell which digits are NHS numbers, so every ten-digit run is masked.
            return scrub_bytes(payload), "bin", True
        table = parsed.table
        # The kept copy carries the pseudonym, or the masked value where the number was invalid.
        kept_id = pc.coalesce(table.column("person_id"), table.column("nhs_masked"))
        table = table.drop_columns(["person_id", "nhs_problem", "nhs_masked"]).append_column("person_id", kept_id)
        return write_delivery(table, parsed.format), parsed.format, True

    def load(self, conn: Connection, parsed: Tabular, run_id: int, ctx: FeedContext) -> LoadResult:
        good, rejects, rows_read, rows_rejected = validate(conn, parsed, ctx)
        if good.num_rows:
            bulk.stage(conn, "stage_case", good)
            _upsert(conn, run_id)
            bulk.drop_stage(conn, "stage_case")
        return LoadResult(rows_read=rows_read, rows_loaded=rows_read - rows_rejected,
                          rows_rejected=rows_rejected, rejects=rejects)


def validate(conn: Connection, parsed: Tabular, ctx: FeedContext) -> tuple[pa.Table, pa.Table, int, int]:
    hub_default = sql_str(ctx.hub_id or DEFAULT_HUB_ID)
    fields = tuple(replace(f, default=hub_default) if f.name == "hub_id" else f for f in FIELDS)
    v = Validation(fields, ctx.fetched_at)
    try:
        v.add_lookup("geo_hwb", hwb_codes(conn))
        v.type_rows(parsed.table, extra_columns={"person_id": "person_id", "nhs_problem": "nhs_problem",
                                                   "nhs_masked": "nhs_masked"})
        v.db.execute("ALTER TABLE typed ADD COLUMN stored_hwb VARCHAR")
        v.db.execute("UPDATE typed SET stored_hwb = g.hwb_code FROM geo_hwb g WHERE typed.hwb_code = g.code")
        checks = v.field_checks() + [
            Check("nhs_number", "person_id IS NULL AND nhs_problem IS NULL",
                  sql_str("nhs_number is required but empty"), "NULL", 0),
            Check("nhs_number", "nhs_problem IS NOT NULL", "nhs_problem", "nhs_masked", 1),
            Check("hwb_code", "hwb_code IS NOT NULL AND stored_hwb IS NULL",
                  "'hwb_code ''' || t_hwb_code || ''' is not an upper-tier local authority (health and wellbeing board) "
                  "in the reference geography'", "t_hwb_code", 2),
            Check("acute_site_code", "acute_site_code IS NOT NULL AND NOT regexp_full_match(acute_site_code, '[A-Z0-9]{3,9}')",
                  "'acute_site_code ''' || t_acute_site_code || ''' is not an ODS code'", "t_acute_site_code", 1),
            order_check("referred_at", "pathway_decided_at"),
            order_check("discharge_ready_at", "discharged_at"),
            order_check("discharged_at", "ic_started_at"),
            order_check("ic_started_at", "ic_ended_at"),
            order_check("discharged_at", "readmitted_at"),
        ]
        v.run_checks(checks)
        columns = ", ".join("stored_hwb AS hwb_code" if c == "hwb_code" else c for c in CASE_COLUMNS)
        # The same version twice in one delivery: the later row wins.
        result = v.finish(
            f"SELECT {columns}, row_no FROM good_rows "
            "QUALIFY row_number() OVER (PARTITION BY hub_id, case_id, updated_at ORDER BY row_no DESC) = 1")
        return result.good, result.rejects, result.rows_read, result.rows_rejected
    finally:
        v.close()


def _upsert(conn: Connection, run_id: int) -> None:
    columns = ", ".join(CASE_COLUMNS)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in CASE_COLUMNS if c not in ("hub_id", "case_id", "updated_at"))
    params = {"run_id": run_id}
    conn.execute(sa.text(f"""
        INSERT INTO hub_case_version ({columns}, run_id)
        SELECT {columns}, :run_id FROM stage_case
        ON CONFLICT (hub_id, case_id, updated_at) DO UPDATE SET {updates}, run_id = EXCLUDED.run_id
    """), params)
    # Latest state: the newest version in this delivery, and only if it is not older than the stored one.
    # (A re-sent version with the same updated_at is a correction and replaces it, as in the history.)
    conn.execute(sa.text(f"""
        INSERT INTO hub_case ({columns}, run_id)
        SELECT {columns}, :run_id FROM (
            SELECT *, row_number() OVER (PARTITION BY hub_id, case_id ORDER BY updated_at DESC, row_no DESC) AS rn
            FROM stage_case) latest
        WHERE rn = 1
        ON CONFLICT (hub_id, case_id) DO UPDATE SET {updates}, updated_at = EXCLUDED.updated_at,
            run_id = EXCLUDED.run_id
        WHERE hub_case.updated_at <= EXCLUDED.updated_at
    """), params)


FEED = HubCasesFeed()
