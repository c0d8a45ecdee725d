"""The hub_cases feed through the real road, on DuckDB and PostgreSQL."""
from __future__ import annotations

import hashlib
import hmac
from datetime import date, datetime
from pathlib import Path

import sqlalchemy as sa

from ingest.base import run_feed
from tests.fixtures.ingest.data import CASE_COLUMNS, INVALID_NHS, VALID_NHS, case_row, to_csv, to_ndjson

PSEUDO_0 = hmac.new(b"test-key-not-secret", VALID_NHS[0].encode(), hashlib.sha256).hexdigest()


def deliver(engine: sa.Engine, tmp_path: Path, name: str, payload: bytes, hub_id: str | None = None):
    path = tmp_path / name
    path.write_bytes(payload)
    return run_feed(engine, "hub_cases", str(path), hub_id=hub_id)


def rows(engine: sa.Engine, sql: str) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql))]


def test_good_csv_pseudonymises_and_loads(store: sa.Engine, tmp_path: Path) -> None:
    payload = to_csv([case_row(nhs_number="943 476 5919", hwb_code="E06000053"),
                      case_row(case_id="C2", nhs_number=VALID_NHS[1], hub_id="south")], CASE_COLUMNS)
    summary = deliver(store, tmp_path, "c.csv", payload)
    assert (summary.status, summary.rows_read, summary.rows_loaded) == ("ok", 2, 2)
    assert rows(store, "SELECT hub_id, case_id, person_id, hwb_code, pathway, delay_reason, referred_at "
                       "FROM hub_case ORDER BY case_id") == [
        ("default", "C1", PSEUDO_0, "E06000052", 1, "P1_NEW_CARE", datetime(2024, 7, 2, 10)),
        ("south", "C2", hmac.new(b"test-key-not-secret", VALID_NHS[1].encode(), hashlib.sha256).hexdigest(),
         "E08000035", 1, "P1_NEW_CARE", datetime(2024, 7, 2, 10)),
    ]
    assert rows(store, "SELECT count(*) FROM hub_case_version") == [(2,)]
    assert rows(store, "SELECT pseudonymised FROM raw_payload") == [(True,)]


def test_ndjson_with_configured_hub(store: sa.Engine, tmp_path: Path) -> None:
    payload = to_ndjson([case_row(hub_id="", pathway=2, delay_reason="p2_bed", ic_outcome="HOME_WITH_CARE")])
    summary = deliver(store, tmp_path, "c.ndjson", payload, hub_id="north")
    assert summary.status == "ok"
    assert rows(store, "SELECT hub_id, pathway, delay_reason, ic_outcome FROM hub_case") == [
        ("north", 2, "P2_BED", "home_with_care")]


def test_versions_kept_and_older_never_overwrites_newer(store: sa.Engine, tmp_path: Path) -> None:
    deliver(store, tmp_path, "1.csv", to_csv([case_row(updated_at="2024-07-10T00:00:00Z", delay_reason="MEDICAL")],
                                             CASE_COLUMNS))
    deliver(store, tmp_path, "2.csv", to_csv([case_row(updated_at="2024-07-20T13:00:00Z", delay_reason="TRANSPORT")],
                                             CASE_COLUMNS))
    late = deliver(store, tmp_path, "3.csv", to_csv([case_row(updated_at="2024-07-15T00:00:00Z",
                                                              delay_reason="HOUSING")], CASE_COLUMNS))
    assert late.status == "ok"
    assert rows(store, "SELECT updated_at, delay_reason FROM hub_case") == [(datetime(2024, 7, 20, 13), "TRANSPORT")]
    assert rows(store, "SELECT updated_at, delay_reason FROM hub_case_version ORDER BY updated_at") == [
        (datetime(2024, 7, 10), "MEDICAL"), (datetime(2024, 7, 15), "HOUSING"), (datetime(2024, 7, 20, 13), "TRANSPORT")]
    # The same version re-sent with a correction replaces it, in history and in the latest state.
    deliver(store, tmp_path, "4.csv", to_csv([case_row(updated_at="2024-07-20T13:00:00Z", delay_reason="EQUIPMENT")],
                                             CASE_COLUMNS))
    assert rows(store, "SELECT delay_reason FROM hub_case") == [("EQUIPMENT",)]
    assert rows(store, "SELECT count(*) FROM hub_case_version") == [(3,)]


def test_every_rule_rejects_with_a_reason(store: sa.Engine, tmp_path: Path) -> None:
    payload = to_csv([
        case_row(),                                                           # 1 good
        case_row(case_id="C2", nhs_number=INVALID_NHS),                      # 2 Modulus 11
        case_row(case_id="C3", nhs_number="12345"),                          # 3 not 10 digits
        case_row(case_id="C4", age=17),                                       # 4 age range
        case_row(case_id="C5", hwb_code="E54000057"),                         # 5 not an HWB
        case_row(case_id="C6", delay_reason="WAITING"),                       # 6 unknown code
        case_row(case_id="C7", pathway=4),                                    # 7 pathway range
        case_row(case_id="C8", pathway_decided_at="2024-07-01T00:00:00Z"),    # 8 decided before referral
        case_row(case_id="C9", discharged_at="2024-07-02T00:00:00Z", ic_started_at="", ic_ended_at=""),  # 9 before ready
        case_row(case_id="C10", ic_started_at="2024-07-05T14:00:00Z"),        # 10 IC start before discharge
        case_row(case_id="C11", ic_ended_at="2024-07-05T17:00:00Z"),          # 11 IC end before start
        case_row(case_id="C12", readmitted_at="2024-07-04T00:00:00Z"),        # 12 readmitted before discharge
        case_row(case_id="C13", updated_at="2099-07-01T00:00:00Z"),           # 13 future
        case_row(case_id="C14", nhs_number=""),                               # 14 missing
        case_row(case_id="C15", status_91d="gone"),                           # 15 unknown status
    ], CASE_COLUMNS)
    summary = deliver(store, tmp_path, "c.csv", payload)
    assert (summary.status, summary.rows_read, summary.rows_loaded, summary.rows_rejected) == ("partial", 15, 1, 14)
    assert rows(store, "SELECT row_number, field, value, reason FROM reject ORDER BY row_number") == [
        (2, "nhs_number", "943*******", "nhs_number fails the Modulus 11 check digit test"),
        (3, "nhs_number", "123**", "nhs_number must be 10 digits"),
        (4, "age", "17", "age must be between 18 and 120, got 17"),
        (5, "hwb_code", "E54000057", "hwb_code 'E54000057' is not an upper-tier local authority (health and wellbeing "
                                    "board) in the reference geography"),
        (6, "delay_reason", "WAITING", "delay_reason 'WAITING' is not one of: " + ", ".join((
            "MEDICAL", "THERAPY", "REFERRAL", "MEDICINES", "TRANSPORT", "HUB_CONFIRMATION", "P1_NEW_CARE",
            "P1_CONTINUE_REHAB", "P2_BED", "P3_CARE_HOME", "P3_END_OF_LIFE", "EQUIPMENT", "FAMILY_CHOICE",
            "HOUSING", "SAFEGUARDING", "READMISSION", "NO_PLAN", "DIAGNOSTIC", "INFECTION", "CHC_DECISION"))),
        (7, "pathway", "4", "pathway must be between 0 and 3, got 4"),
        (8, "pathway_decided_at", "2024-07-01T00:00:00Z",
         "pathway_decided_at (2024-07-01 00:00 UTC) is before referred_at (2024-07-02 10:00 UTC)"),
        (9, "discharged_at", "2024-07-02T00:00:00Z",
         "discharged_at (2024-07-02 00:00 UTC) is before discharge_ready_at (2024-07-03 09:00 UTC)"),
        (10, "ic_started_at", "2024-07-05T14:00:00Z",
         "ic_started_at (2024-07-05 14:00 UTC) is before discharged_at (2024-07-05 15:00 UTC)"),
        (11, "ic_ended_at", "2024-07-05T17:00:00Z",
         "ic_ended_at (2024-07-05 17:00 UTC) is before ic_started_at (2024-07-05 18:00 UTC)"),
        (12, "readmitted_at", "2024-07-04T00:00:00Z",
         "readmitted_at (2024-07-04 00:00 UTC) is before discharged_at (2024-07-05 15:00 UTC)"),
        (13, "updated_at", "2099-07-01T00:00:00Z", "updated_at 2099-07-01 00:00:00 UTC is more than an hour after the fetch"),
        (14, "nhs_number", None, "nhs_number is required but empty"),
        (15, "status_91d", "gone", "status_91d 'gone' is not one of: at_home, in_hospital, care_home, died, unknown"),
    ]


def test_london_times_across_both_clock_changes(store: sa.Engine, tmp_path: Path) -> None:
    """Naive times are Europe/London; at the changes fold=0 (see ingest.checks)."""
    cases = [
        ("A", "2024-03-31 00:30", datetime(2024, 3, 31, 0, 30)),   # GMT, before the spring change
        ("B", "2024-03-31 01:30", datetime(2024, 3, 31, 1, 30)),   # does not exist: read as GMT
        ("C", "2024-03-31 02:30", datetime(2024, 3, 31, 1, 30)),   # BST
        ("D", "2024-10-27 00:30", datetime(2024, 10, 26, 23, 30)),  # BST
        ("E", "2024-10-27 01:30", datetime(2024, 10, 27, 0, 30)),  # happens twice: the first (BST)
        ("F", "2024-10-27 02:30", datetime(2024, 10, 27, 2, 30)),  # GMT
        ("G", "2024-10-27T01:30:00+00:00", datetime(2024, 10, 27, 1, 30)),  # the second, given explicitly
        ("H", "2024-10-27T03:30:00+02:00", datetime(2024, 10, 27, 1, 30)),
    ]
    payload = to_csv([case_row(case_id=c, referred_at=t, admitted_at="", discharge_ready_at="", pathway_decided_at="",
                               discharged_at="", ic_started_at="", ic_ended_at="", updated_at=t)
                      for c, t, _ in cases], CASE_COLUMNS)
    assert deliver(store, tmp_path, "c.csv", payload).status == "ok"
    assert rows(store, "SELECT case_id, referred_at FROM hub_case ORDER BY case_id") == [(c, u) for c, _, u in cases]
    # and each time's London date beside it (D: 23:30 UTC on the 26th is 00:30 BST on the 27th)
    assert rows(store, "SELECT case_id, referred_date FROM hub_case ORDER BY case_id") == [
        (c, date(2024, 3, 31) if c in "ABC" else date(2024, 10, 27)) for c, _, _ in cases]


def test_keys_kept_without_a_unique_index(store: sa.Engine, tmp_path: Path) -> None:
    """The loader keeps both natural keys itself: overlapping deliveries, several versions of a
    case in one delivery, and a delivery whose newest version is older than the stored state."""
    first = [case_row(case_id="A", updated_at="2024-07-10T00:00:00Z", delay_reason="MEDICAL"),
             case_row(case_id="B", updated_at="2024-07-20T00:00:00Z", delay_reason="TRANSPORT")]
    deliver(store, tmp_path, "1.csv", to_csv(first, CASE_COLUMNS))
    # Overlaps the first (A and B re-sent as they were), brings two newer versions of A and two
    # late ones of B, both older than B's stored state.
    second = first + [
        case_row(case_id="A", updated_at="2024-07-12T00:00:00Z", delay_reason="HOUSING"),
        case_row(case_id="A", updated_at="2024-07-11T00:00:00Z", delay_reason="THERAPY"),
        case_row(case_id="B", updated_at="2024-07-15T00:00:00Z", delay_reason="EQUIPMENT"),
        case_row(case_id="B", updated_at="2024-07-16T00:00:00Z", delay_reason="MEDICINES")]
    summary = deliver(store, tmp_path, "2.csv", to_csv(second, CASE_COLUMNS))
    assert (summary.status, summary.rows_loaded) == ("ok", 6)
    assert rows(store, "SELECT case_id, updated_at, delay_reason FROM hub_case ORDER BY case_id") == [
        ("A", datetime(2024, 7, 12), "HOUSING"), ("B", datetime(2024, 7, 20), "TRANSPORT")]
    assert rows(store, "SELECT case_id, count(*), count(DISTINCT updated_at) FROM hub_case_version "
                       "GROUP BY case_id ORDER BY case_id") == [("A", 3, 3), ("B", 3, 3)]
    # The same overlapping delivery again, under another name: nothing doubles.
    deliver(store, tmp_path, "3.csv", to_csv(second, CASE_COLUMNS) + b"\n")
    assert rows(store, "SELECT count(*) FROM hub_case") == [(2,)]
    assert rows(store, "SELECT count(*) FROM hub_case_version") == [(6,)]
    assert rows(store, "SELECT case_id, updated_at FROM hub_case ORDER BY case_id") == [
        ("A", datetime(2024, 7, 12)), ("B", datetime(2024, 7, 20))]


def test_schema_1_store_migrates(duck_url: str, tmp_path: Path, monkeypatch) -> None:
    """A DuckDB store made before schema 2 (primary keys on the hub tables) is rebuilt by init,
    keeping its rows, and then loads as a fresh one does."""
    import duckdb

    from models import db

    raw = duckdb.connect(duck_url[len("duckdb:///"):])
    columns = ("hub_id VARCHAR NOT NULL, case_id VARCHAR NOT NULL, person_id VARCHAR NOT NULL, "
               "age INTEGER NOT NULL, hwb_code VARCHAR NOT NULL, acute_site_code VARCHAR, admitted_at TIMESTAMP, "
               "referred_at TIMESTAMP NOT NULL, discharge_ready_at TIMESTAMP, pathway INTEGER, "
               "pathway_decided_at TIMESTAMP, delay_reason VARCHAR, discharged_at TIMESTAMP, "
               "destination_service_id VARCHAR, ic_started_at TIMESTAMP, ic_ended_at TIMESTAMP, ic_outcome VARCHAR, "
               "readmitted_at TIMESTAMP, status_91d VARCHAR, updated_at TIMESTAMP NOT NULL, run_id INTEGER")
    raw.execute(f"CREATE TABLE hub_case ({columns}, PRIMARY KEY (hub_id, case_id))")
    raw.execute(f"CREATE TABLE hub_case_version ({columns}, PRIMARY KEY (hub_id, case_id, updated_at))")
    raw.execute("CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)")
    raw.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    for table in ("hub_case", "hub_case_version"):
        raw.execute(f"INSERT INTO {table} (hub_id, case_id, person_id, age, hwb_code, referred_at, updated_at) "
                    "VALUES ('default', 'C1', 'p', 80, 'E08000035', '2024-07-01', '2024-07-10')")
    raw.close()
    monkeypatch.setenv("HOMEWARD_DB_URL", duck_url)
    engine = db.init_store(duck_url)
    try:
        assert rows(engine, "SELECT value FROM meta WHERE key = 'schema_version'") == [(str(db.SCHEMA_VERSION),)]
        assert rows(engine, "SELECT count(*) FROM duckdb_constraints() WHERE table_name LIKE 'hub_case%' "
                            "AND constraint_type IN ('PRIMARY KEY', 'UNIQUE')") == [(0,)]
        deliver(engine, tmp_path, "1.csv", to_csv([case_row(updated_at="2024-07-20T13:00:00Z")], CASE_COLUMNS))
        assert rows(engine, "SELECT updated_at FROM hub_case") == [(datetime(2024, 7, 20, 13),)]
        assert rows(engine, "SELECT count(*) FROM hub_case_version") == [(2,)]
    finally:
        db.dispose_all()
