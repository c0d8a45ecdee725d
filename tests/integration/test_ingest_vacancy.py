"""The vacancy feed through the real road, on DuckDB and PostgreSQL."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from ingest.base import run_feed
from tests.fixtures.ingest.data import VACANCY_COLUMNS, to_csv, to_json_array, to_ndjson, vacancy_row


def deliver(engine: sa.Engine, tmp_path: Path, name: str, payload: bytes):
    path = tmp_path / name
    path.write_bytes(payload)
    return run_feed(engine, "vacancy", str(path))


def rows(engine: sa.Engine, sql: str) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql))]


def test_good_csv_loads_services_and_reports(store: sa.Engine, tmp_path: Path) -> None:
    payload = to_csv([
        vacancy_row(),
        # City of London reports inside Hackney: stored as E09000012. Naive time is London (BST in July).
        vacancy_row(service_id="1-200", service_name="Oak Team", service_type="p1_reablement", hwb_code=" e09000001 ",
                    capacity=30, occupied=20, vacant_accepting=10, vacant_reserved="", reported_at="2024-07-01 10:00"),
    ], VACANCY_COLUMNS)
    summary = deliver(store, tmp_path, "v.csv", payload)
    assert (summary.status, summary.rows_read, summary.rows_loaded, summary.rows_rejected) == ("ok", 2, 2, 0)
    assert summary.exit_code == 0
    assert rows(store, "SELECT service_id, service_name, service_type, pathway, hwb_code, first_reported_at "
                       "FROM service ORDER BY service_id") == [
        ("1-100", "Elm House", "P2_CARE_HOME", 2, "E08000035", datetime(2024, 7, 1, 9, 0)),
        ("1-200", "Oak Team", "P1_REABLEMENT", 1, "E09000012", datetime(2024, 7, 1, 9, 0)),
    ]
    assert rows(store, "SELECT service_id, reported_at, capacity, occupied, vacant_accepting, vacant_reserved "
                       "FROM capacity_report ORDER BY service_id") == [
        ("1-100", datetime(2024, 7, 1, 9, 0), 20, 12, 5, 1),
        ("1-200", datetime(2024, 7, 1, 9, 0), 30, 20, 10, 0),
    ]
    run = rows(store, "SELECT status, rows_read, rows_loaded, rows_rejected, payload_sha256 FROM ingest_run")
    assert run == [("ok", 2, 2, 0, summary.payload_sha256)]
    kept = rows(store, "SELECT path, pseudonymised FROM raw_payload")
    assert kept == [(f"raw/vacancy/{summary.payload_sha256[:2]}/{summary.payload_sha256}.csv", False)]


def test_json_array_and_ndjson_with_odd_column_names(store: sa.Engine, tmp_path: Path) -> None:
    as_json = to_json_array([{" Service_ID ": "1-100", "SERVICE_NAME": "Elm House", "service_type": "P2_IC_UNIT",
                              "hwb_code": "E08000035", "capacity": 10, "occupied": 4, "vacant_accepting": 6,
                              "reported_at": "2024-01-10T08:00:00+01:00"}])
    assert deliver(store, tmp_path, "a.json", as_json).status == "ok"
    as_ndjson = to_ndjson([vacancy_row(reported_at="2024-01-10T09:00:00", capacity=10, occupied=5,
                                       vacant_accepting=5, vacant_reserved=0)])
    assert deliver(store, tmp_path, "b.ndjson", as_ndjson).status == "ok"
    # +01:00 -> 07:00 UTC; naive January London time is GMT -> 09:00 UTC.
    assert rows(store, "SELECT reported_at, occupied FROM capacity_report ORDER BY reported_at") == [
        (datetime(2024, 1, 10, 7, 0), 4), (datetime(2024, 1, 10, 9, 0), 5)]


def test_every_rule_rejects_with_a_reason_and_good_rows_still_load(store: sa.Engine, tmp_path: Path) -> None:
    payload = to_csv([
        vacancy_row(),                                                         # 1 good
        vacancy_row(service_id="", reported_at="2024-07-01T10:00:00Z"),        # 2 service_id missing
        vacancy_row(service_type="P4_SPA"),                                    # 3 unknown type
        vacancy_row(capacity="ten"),                                           # 4 not a number
        vacancy_row(occupied=-1),                                              # 5 negative
        vacancy_row(capacity=10, occupied=6, vacant_accepting=4, vacant_reserved=1),  # 6 arithmetic: 11 > 10
        vacancy_row(service_id="NEW-1", service_name="", hwb_code=""),        # 7 new service without name / hwb
        vacancy_row(service_id="NEW-2", hwb_code="E07000223"),                 # 8 a district, not an HWB
        vacancy_row(reported_at="01/07/2024 09:00"),                           # 9 not ISO 8601
        vacancy_row(reported_at="2099-01-01T00:00:00Z"),                       # 10 in the future
        vacancy_row(capacity=2.5),                                             # 11 not whole
    ], VACANCY_COLUMNS)
    summary = deliver(store, tmp_path, "v.csv", payload)
    got = rows(store, "SELECT row_number, field, value, reason FROM reject ORDER BY row_number, field")
    assert (summary.status, summary.rows_read, summary.rows_loaded, summary.rows_rejected) == ("partial", 11, 1, 10)
    assert summary.exit_code == 3
    assert got == [
        (2, "service_id", None, "service_id is required but empty"),
        (3, "service_type", "P4_SPA", "service_type 'P4_SPA' is not one of: P1_REABLEMENT, P1_REHAB, P1_BRIDGING, "
                                      "P2_COMMUNITY_HOSPITAL, P2_CARE_HOME, P2_IC_UNIT, P3_RESIDENTIAL, P3_NURSING"),
        (4, "capacity", "ten", "capacity must be a whole number, got 'ten'"),
        (5, "occupied", "-1", "occupied must be 0 or more, got -1"),
        (6, "capacity", "10", "occupied (6) + vacant_accepting (4) + vacant_reserved (1) = 11 is more than capacity (10)"),
        (7, "hwb_code", None, "service 'NEW-1' is new: service_name and hwb_code are required for a new service"),
        (7, "service_name", None, "service 'NEW-1' is new: service_name and hwb_code are required for a new service"),
        (8, "hwb_code", "E07000223", "hwb_code 'E07000223' is not an upper-tier local authority (health and wellbeing "
                                    "board) in the reference geography"),
        (9, "reported_at", "01/07/2024 09:00", "reported_at is not an ISO 8601 date and time, got '01/07/2024 09:00'"),
        (10, "reported_at", "2099-01-01T00:00:00Z", "reported_at 2099-01-01 00:00:00 UTC is more than an hour after the fetch"),
        (11, "capacity", "2.5", "capacity must be a whole number, got '2.5'"),
    ]
    assert rows(store, "SELECT DISTINCT run_id, feed FROM reject") == [(summary.run_id, "vacancy")]
    assert rows(store, "SELECT service_id FROM capacity_report") == [("1-100",)]


def test_same_file_twice_is_unchanged_and_loads_nothing_again(store: sa.Engine, tmp_path: Path) -> None:
    payload = to_csv([vacancy_row()], VACANCY_COLUMNS)
    first = deliver(store, tmp_path, "a.csv", payload)
    second = deliver(store, tmp_path, "b.csv", payload)
    assert (first.status, second.status) == ("ok", "unchanged")
    assert second.payload_sha256 == first.payload_sha256 and second.exit_code == 0
    assert rows(store, "SELECT count(*) FROM capacity_report") == [(1,)]
    assert rows(store, "SELECT status, rows_loaded FROM ingest_run ORDER BY run_id") == [("ok", 1), ("unchanged", 0)]


def test_overlapping_correction_and_out_of_order_deliveries(store: sa.Engine, tmp_path: Path) -> None:
    noon = "2024-07-02T12:00:00Z"
    deliver(store, tmp_path, "1.csv", to_csv([
        vacancy_row(reported_at="2024-07-01T12:00:00Z", occupied=10),
        vacancy_row(reported_at=noon, occupied=11),
    ], VACANCY_COLUMNS))
    # Overlaps the first: corrects 2 July, adds 3 July with a rename, and repeats a key within the file.
    deliver(store, tmp_path, "2.csv", to_csv([
        vacancy_row(reported_at=noon, occupied=9),
        vacancy_row(reported_at="2024-07-03T12:00:00Z", occupied=8, service_name="Elm House (new wing)"),
        vacancy_row(reported_at="2024-07-03T12:00:00Z", occupied=7, service_name="Elm House (new wing)"),
    ], VACANCY_COLUMNS))
    # Late, older report with the old name and type: fills history but must not undo the rename.
    deliver(store, tmp_path, "3.csv", to_csv([
        vacancy_row(reported_at="2024-06-30T12:00:00Z", occupied=3, service_type="P3_NURSING"),
    ], VACANCY_COLUMNS))
    assert rows(store, "SELECT reported_at, occupied FROM capacity_report ORDER BY reported_at") == [
        (datetime(2024, 6, 30, 12), 3), (datetime(2024, 7, 1, 12), 10),
        (datetime(2024, 7, 2, 12), 9), (datetime(2024, 7, 3, 12), 7)]
    assert rows(store, "SELECT service_name, service_type, pathway, first_reported_at FROM service") == [
        ("Elm House (new wing)", "P2_CARE_HOME", 2, datetime(2024, 6, 30, 12))]


def test_known_service_may_omit_name_and_change_type(store: sa.Engine, tmp_path: Path) -> None:
    deliver(store, tmp_path, "1.csv", to_csv([vacancy_row()], VACANCY_COLUMNS))
    summary = deliver(store, tmp_path, "2.csv", to_csv([
        vacancy_row(service_name="", hwb_code="", service_type="P2_IC_UNIT", reported_at="2024-07-02T09:00:00Z")],
        VACANCY_COLUMNS))
    assert summary.status == "ok"
    assert rows(store, "SELECT service_name, service_type, hwb_code FROM service") == [
        ("Elm House", "P2_IC_UNIT", "E08000035")]


def test_missing_required_column_fails_whole_delivery(store: sa.Engine, tmp_path: Path) -> None:
    columns = [c for c in VACANCY_COLUMNS if c != "occupied"]
    summary = deliver(store, tmp_path, "v.csv", to_csv([vacancy_row()], columns))
    assert (summary.status, summary.exit_code, summary.rows_loaded) == ("failed", 2, 0)
    assert summary.error == "required column missing: occupied"
    assert rows(store, "SELECT count(*) FROM capacity_report") == [(0,)]
    assert rows(store, "SELECT status, error FROM ingest_run") == [("failed", "required column missing: occupied")]


def _last_reported(engine: sa.Engine) -> list[tuple]:
    return rows(engine, "SELECT service_id, last_reported_at FROM service ORDER BY service_id")


def _last_figures(engine: sa.Engine) -> list[tuple]:
    return rows(engine, "SELECT service_id, last_capacity, last_occupied, last_vacant_accepting, last_vacant_reserved "
                        "FROM service ORDER BY service_id")


def _consistent(engine: sa.Engine) -> None:
    """service.last_reported_at is each service's latest report in the store (NULL for none) and its
    last_* figures that report's."""
    assert rows(engine, "SELECT s.service_id FROM service s LEFT JOIN (SELECT service_id, max(reported_at) AS m "
                        "FROM capacity_report GROUP BY service_id) m ON m.service_id = s.service_id "
                        "LEFT JOIN capacity_report r ON r.service_id = m.service_id AND r.reported_at = m.m "
                        "WHERE s.last_reported_at IS DISTINCT FROM m.m OR s.last_capacity IS DISTINCT FROM r.capacity "
                        "OR s.last_occupied IS DISTINCT FROM r.occupied "
                        "OR s.last_vacant_accepting IS DISTINCT FROM r.vacant_accepting "
                        "OR s.last_vacant_reserved IS DISTINCT FROM r.vacant_reserved") == []


def test_last_reported_at_is_the_latest_report_ever_loaded(store: sa.Engine, tmp_path: Path) -> None:
    deliver(store, tmp_path, "1.csv", to_csv([
        vacancy_row(reported_at="2024-07-01T12:00:00Z", occupied=2), vacancy_row(reported_at="2024-07-02T12:00:00Z"),
        vacancy_row(service_id="1-200", service_name="Oak Team", reported_at="2024-07-01T08:00:00Z"),
    ], VACANCY_COLUMNS))
    assert _last_reported(store) == [("1-100", datetime(2024, 7, 2, 12)), ("1-200", datetime(2024, 7, 1, 8))]
    assert _last_figures(store) == [("1-100", 20, 12, 5, 1), ("1-200", 20, 12, 5, 1)]
    # A late, older report does not lower it (nor change its figures); a newer one raises it; the same
    # key re-sent keeps it, with the re-sent figures (the report itself is replaced by them).
    deliver(store, tmp_path, "2.csv", to_csv([vacancy_row(reported_at="2024-06-30T12:00:00Z", vacant_accepting=0)],
                                             VACANCY_COLUMNS))
    assert _last_reported(store)[0] == ("1-100", datetime(2024, 7, 2, 12))
    assert _last_figures(store)[0] == ("1-100", 20, 12, 5, 1)
    deliver(store, tmp_path, "3.csv", to_csv([
        vacancy_row(reported_at="2024-07-03T12:00:00Z", capacity=30, vacant_reserved=0),
        vacancy_row(service_id="1-200", service_name="", hwb_code="", reported_at="2024-07-01T08:00:00Z", occupied=3),
    ], VACANCY_COLUMNS))
    assert _last_reported(store) == [("1-100", datetime(2024, 7, 3, 12)), ("1-200", datetime(2024, 7, 1, 8))]
    assert _last_figures(store) == [("1-100", 30, 12, 5, 0), ("1-200", 20, 3, 5, 1)]
    _consistent(store)


def test_last_report_figures_follow_the_key_rule_within_a_delivery(store: sa.Engine, tmp_path: Path) -> None:
    """The same key twice in one delivery: the later row is the correction, for the report and for
    the figures kept on the service."""
    deliver(store, tmp_path, "1.csv", to_csv([
        vacancy_row(reported_at="2024-07-02T12:00:00Z", occupied=1),
        vacancy_row(reported_at="2024-07-01T12:00:00Z", occupied=2),
        vacancy_row(reported_at="2024-07-02T12:00:00Z", occupied=4),
    ], VACANCY_COLUMNS))
    assert rows(store, "SELECT occupied FROM capacity_report WHERE reported_at = '2024-07-02 12:00:00'") == [(4,)]
    assert _last_figures(store) == [("1-100", 20, 4, 5, 1)]
    _consistent(store)


def test_last_reported_at_counts_reports_loaded_before_their_service(store: sa.Engine, tmp_path: Path) -> None:
    """A new service's only named row is rejected while its unnamed rows load: its reports are stored
    before the service is. When a later delivery brings the service, its last report is the stored
    one if that is newer than the delivery's."""
    summary = deliver(store, tmp_path, "1.csv", to_csv([
        vacancy_row(service_id="NEW-9", service_name="Ash Lodge", capacity=10, occupied=6, vacant_accepting=4,
                    vacant_reserved=1, reported_at="2024-07-04T12:00:00Z"),  # rejected: 11 > 10
        vacancy_row(service_id="NEW-9", service_name="", hwb_code="", reported_at="2024-07-05T12:00:00Z", occupied=9),
    ], VACANCY_COLUMNS))
    assert (summary.rows_loaded, summary.rows_rejected) == (1, 1)
    assert rows(store, "SELECT count(*) FROM service") == [(0,)]
    deliver(store, tmp_path, "2.csv", to_csv([
        vacancy_row(service_id="NEW-9", service_name="Ash Lodge", reported_at="2024-07-03T12:00:00Z")],
        VACANCY_COLUMNS))
    assert _last_reported(store) == [("NEW-9", datetime(2024, 7, 5, 12))]
    assert _last_figures(store) == [("NEW-9", 20, 9, 5, 1)]
    _consistent(store)
    # A new service whose stored report ties with the delivery's newest: the delivery's replaces it.
    deliver(store, tmp_path, "3.csv", to_csv([
        vacancy_row(service_id="NEW-8", service_name="", hwb_code="", reported_at="2024-07-05T12:00:00Z")],
        VACANCY_COLUMNS))
    deliver(store, tmp_path, "4.csv", to_csv([
        vacancy_row(service_id="NEW-8", service_name="Birch Court", reported_at="2024-07-05T12:00:00Z", occupied=7)],
        VACANCY_COLUMNS))
    assert _last_figures(store) == [("NEW-8", 20, 7, 5, 1), ("NEW-9", 20, 9, 5, 1)]
    _consistent(store)
