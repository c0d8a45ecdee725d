"""`GET /api/export/<dataset>`: filters, formats (read back with their standard readers),
suppression, audit — against the real app and a real store holding hand-built data."""
from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime, timezone
from typing import Iterator

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from models.datasets import CASE_COLUMNS
from models.export_audit import recent_exports
from models.query import MetricQuery, run_query
from tests.integration.api_seed import AT_PARAM, LEEDS, seed

WINDOW = "from=2024-03-01&to=2024-03-08"


@pytest.fixture
def api(store: sa.Engine) -> Iterator[tuple[FlaskClient, sa.Engine]]:
    """On both stores: DuckDB and PostgreSQL (server-side cursors differ)."""
    from dashboard.server import build_app

    seed(store)
    yield build_app().server.test_client(), store


@pytest.fixture
def duck_api(duck_store: sa.Engine) -> Iterator[tuple[FlaskClient, sa.Engine]]:
    from dashboard.server import build_app

    seed(duck_store)
    yield build_app().server.test_client(), duck_store


def _csv(client: FlaskClient, url: str) -> tuple[list[dict[str, str]], dict[str, str]]:
    r = client.get(url)
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.headers["Content-Disposition"].startswith("attachment;")
    return list(csv.DictReader(io.StringIO(r.get_data(as_text=True)))), dict(r.headers)


def test_capacity_is_latest_report_per_service_with_geography(api: tuple[FlaskClient, sa.Engine]) -> None:
    client, _ = api
    rows, headers = _csv(client, f"/api/export/capacity?at={AT_PARAM}&icb=QWO&format=csv")
    assert headers["X-Homeward-Suppression"] == "not-applied"
    # S3 is in ICB QHM; S4 is first known after AT.
    assert [r["service_id"] for r in rows] == ["S1", "S2"]
    s1, s2 = rows
    assert (s1["reported_at"], s1["capacity"], s1["occupied"], s1["vacant_accepting"], s1["vacant_reserved"],
            s1["unavailable"], s1["reporting"]) == ("2024-03-10T08:00:00", "20", "12", "5", "1", "2", "true")
    assert (s1["hwb_name"], s1["place_code"], s1["icb_code"]) == ("Leeds", LEEDS, "QWO")
    assert s2["reporting"] == "false"  # 03-08 09:00 is more than 24 hours before AT


def test_capacity_export_agrees_with_the_metrics_layer(api: tuple[FlaskClient, sa.Engine]) -> None:
    client, engine = api
    rows, _ = _csv(client, f"/api/export/capacity?at={AT_PARAM}&icb=QWO")
    exported = sum(int(r["vacant_accepting"]) for r in rows if r["reporting"] == "true")
    metric = run_query(engine, MetricQuery.from_params("vacant_accepting", {"icb": ["QWO"], "at": [AT_PARAM]}))
    assert exported == metric.rows[0]["value"] == 5


def test_cases_export_agrees_with_referrals_per_hwb(api: tuple[FlaskClient, sa.Engine]) -> None:
    client, engine = api
    rows, _ = _csv(client, f"/api/export/cases?at={AT_PARAM}&{WINDOW}")
    per_hwb: dict[str, int] = {}
    for r in rows:
        per_hwb[r["hwb_code"]] = per_hwb.get(r["hwb_code"], 0) + 1
    q = MetricQuery.from_params("referrals", {"from": ["2024-03-01"], "to": ["2024-03-08"], "by": ["hwb"], "at": [AT_PARAM]})
    assert per_hwb == {r["hwb"]: r["value"] for r in run_query(engine, q).rows}
    assert len(rows) == 41


@pytest.mark.parametrize(("query", "count"), [
    (f"hwb={LEEDS}", 12),  # the 13th Leeds case is referred after AT
    (f"hwb={LEEDS}&age_band=85%2B", 6),  # cases 6..11 are 90
    (f"hwb={LEEDS}&age_band=65-74&age_band=85%2B", 12),  # repeated = either
    (f"hwb={LEEDS}&delay_reason=NOT_RECORDED", 11),
    (f"hwb={LEEDS}&delay_reason=P1_NEW_CARE", 1),
    ("pathway=2", 3),
    ("pathway=1", 9 + 1),  # Leeds 0..8 and Wakefield case 0
    ("icb=QHM", 0),
    ("from=2024-03-03&to=2024-03-08", 0),  # all were referred on 03-02
    ("limit=5", 5),
])
def test_cases_filters(api: tuple[FlaskClient, sa.Engine], query: str, count: int) -> None:
    client, _ = api
    rows, _ = _csv(client, f"/api/export/cases?at={AT_PARAM}&{query}")
    assert len(rows) == count


def test_cases_as_at_hides_later_events(duck_api: tuple[FlaskClient, sa.Engine]) -> None:
    client, _ = duck_api
    rows, _ = _csv(client, f"/api/export/cases?at={AT_PARAM}&hwb=E08000036")
    wakefield0 = next(r for r in rows if r["case_id"] == "E08000036-000")
    assert wakefield0["discharged_at"] == ""  # discharged 03-12, after AT
    rows, _ = _csv(client, "/api/export/cases?at=2024-03-13T00:00:00Z&hwb=E08000036")
    assert next(r for r in rows if r["case_id"] == "E08000036-000")["discharged_at"] == "2024-03-12T10:00:00"
    later, _ = _csv(client, f"/api/export/cases?at=2024-03-13T00:00:00Z&hwb={LEEDS}")
    assert len(later) == 13  # the case referred on 03-11 now counts


def test_cases_hold_pseudonyms_only(duck_api: tuple[FlaskClient, sa.Engine]) -> None:
    client, engine = duck_api
    r = client.get(f"/api/export/cases?at={AT_PARAM}")
    text = r.get_data(as_text=True)
    header = text.splitlines()[0].split(",")
    assert header == [c.name for c in CASE_COLUMNS] and not any("nhs" in h.lower() for h in header)
    assert not re.search(r"(?<![0-9a-f])\d{10}(?![0-9a-f])", text)  # nothing shaped like an NHS number
    with engine.connect() as conn:
        stored = set(conn.execute(sa.text("select person_id from hub_case")).scalars())
    assert {row["person_id"] for row in csv.DictReader(io.StringIO(text))} <= stored


def test_metric_export_suppresses_small_numbers_at_the_edges(api: tuple[FlaskClient, sa.Engine]) -> None:
    client, _ = api
    rows, headers = _csv(client, f"/api/export/metric?name=referrals&{WINDOW}&by=hwb&at={AT_PARAM}&format=csv")
    assert headers["X-Homeward-Suppression"] == "applied"
    # raw 1, 7, 8, 12, 13 → *, *, 10, 10, 15
    assert [(r["hwb"], r["value"], r["suppressed"]) for r in rows] == [
        ("E08000032", "*", "true"), ("E08000033", "*", "true"), ("E08000034", "10", "false"),
        ("E08000035", "10", "false"), ("E08000036", "15", "false")]
    # raw 0 stays 0
    zero, _ = _csv(client, f"/api/export/metric?name=referrals&{WINDOW}&hwb=E06000001&at={AT_PARAM}")
    assert [(r["value"], r["suppressed"]) for r in zero] == [("0", "false")]


def test_metric_export_ratio_is_recomputed_from_rounded_counts(duck_api: tuple[FlaskClient, sa.Engine]) -> None:
    client, engine = duck_api
    q = MetricQuery.from_params("pathway_share", {"from": ["2024-03-01"], "to": ["2024-03-08"], "by": ["pathway"],
                                                  "hwb": [LEEDS], "at": [AT_PARAM]})
    raw = {r["pathway"]: (r["numerator"], r["denominator"]) for r in run_query(engine, q).rows}
    assert raw == {1: (9, 12), 2: (3, 12)}
    body = client.get(f"/api/export/metric?name=pathway_share&{WINDOW}&by=pathway&hwb={LEEDS}&at={AT_PARAM}"
                      "&format=json").get_json()
    assert body["suppression"] == "applied"
    # 9/12 → 10/10 = 1.0; 3/12 → numerator withheld, so the share is too
    assert body["rows"] == [
        {"pathway": 1, "value": 1.0, "numerator": 10, "denominator": 10, "suppressed": False},
        {"pathway": 2, "value": None, "numerator": None, "denominator": 10, "suppressed": True},
    ]


def test_metric_export_without_suppression_equals_the_metrics_layer(
        duck_api: tuple[FlaskClient, sa.Engine], monkeypatch: pytest.MonkeyPatch) -> None:
    client, engine = duck_api
    monkeypatch.setenv("HOMEWARD_SUPPRESSION", "0")
    r = client.get(f"/api/export/metric?name=referrals&{WINDOW}&by=hwb&at={AT_PARAM}&format=json")
    assert r.headers["X-Homeward-Suppression"] == "not-applied"
    q = MetricQuery.from_params("referrals", {"from": ["2024-03-01"], "to": ["2024-03-08"], "by": ["hwb"], "at": [AT_PARAM]})
    assert r.get_json()["rows"] == run_query(engine, q).rows


def test_published_sitrep_metric_is_not_suppressed(duck_api: tuple[FlaskClient, sa.Engine]) -> None:
    client, _ = duck_api
    r = client.get("/api/export/metric?name=sitrep_nctr&from=2024-03-01&to=2024-03-02&at=2024-03-05T00:00:00Z")
    assert r.status_code == 200 and r.headers["X-Homeward-Suppression"] == "not-applied"


def test_sitrep_export_filters_by_icb_and_keeps_missing_values_missing(duck_api: tuple[FlaskClient, sa.Engine]) -> None:
    client, _ = duck_api
    rows, _ = _csv(client, "/api/export/sitrep?icb=QWO")
    # the ICB itself and its trust RR8 (not submitted: empty, never 0); not England, not RR0
    assert [(r["org_code"], r["value"]) for r in rows] == [("QWO", "300.0"), ("RR8", "")]
    rows, _ = _csv(client, "/api/export/sitrep?level=england&from=2024-03-01&to=2024-03-02")
    assert [(r["org_code"], r["value"]) for r in rows] == [("ENG", "13000.0")]


def test_xlsx_opens_with_types_and_an_about_sheet(duck_api: tuple[FlaskClient, sa.Engine]) -> None:
    client, _ = duck_api
    r = client.get(f"/api/export/capacity?at={AT_PARAM}&icb=QWO&format=xlsx")
    assert r.status_code == 200 and r.headers["X-Homeward-Rows"] == "2"
    book = openpyxl.load_workbook(io.BytesIO(r.data))
    assert book.sheetnames == ["data", "about"]
    data = list(book["data"].iter_rows(values_only=True))
    header = data[0]
    s1 = dict(zip(header, data[1]))
    assert s1["service_id"] == "S1" and s1["capacity"] == 20 and isinstance(s1["capacity"], (int, float))
    assert s1["reported_at"] == datetime(2024, 3, 10, 8, 0) and s1["reporting"] is True
    assert dict(zip(header, data[2]))["provider_name"] is None
    about = {row[0]: row[1] for row in book["about"].iter_rows(values_only=True) if row[0]}
    assert about["suppression"] == "not-applied" and about["data version"] == 2 and about["rows"] == 2
    assert about["as at"].startswith("2024-03-10T12:00")
    assert json.loads(about["filters"])["icb"] == ["QWO"]
    assert "Vacant beds or slots that can take someone now." in [row[2] for row in book["about"].iter_rows(values_only=True)]


def test_xlsx_metric_states_suppression(duck_api: tuple[FlaskClient, sa.Engine]) -> None:
    client, _ = duck_api
    r = client.get(f"/api/export/metric?name=referrals&{WINDOW}&by=hwb&at={AT_PARAM}&format=xlsx")
    book = openpyxl.load_workbook(io.BytesIO(r.data))
    rows = list(book["data"].iter_rows(values_only=True))
    assert rows[0] == ("hwb", "value", "numerator", "denominator", "suppressed")
    assert rows[1] == ("E08000032", None, None, None, True)
    assert rows[5] == ("E08000036", 15, None, None, False)
    about = {row[0]: row[1] for row in book["about"].iter_rows(values_only=True) if row[0]}
    assert about["suppression"].startswith("applied") and about["metric"] == "referrals"


def test_parquet_is_typed_and_carries_its_metadata(api: tuple[FlaskClient, sa.Engine]) -> None:
    client, _ = api
    r = client.get(f"/api/export/cases?at={AT_PARAM}&hwb={LEEDS}&format=parquet")
    assert r.status_code == 200
    table = pq.read_table(pa.BufferReader(r.data))
    assert table.num_rows == 12
    assert table.schema.field("age").type == pa.int64()
    assert table.schema.field("referred_at").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("person_id").type == pa.string()
    meta = json.loads(table.schema.metadata[b"homeward"])
    assert meta["suppression"] == "not-applied" and meta["filters"]["hwb"] == [LEEDS] and meta["data_version"] == 2
    first = next(r for r in table.to_pylist() if r["case_id"] == "E08000035-000")
    assert first["age"] == 70 and first["pathway"] == 1
    assert first["discharged_at"] == datetime(2024, 3, 5, 15, 0, tzinfo=timezone.utc)


def test_parquet_metric_marks_suppressed_cells_null(duck_api: tuple[FlaskClient, sa.Engine]) -> None:
    client, _ = duck_api
    r = client.get(f"/api/export/metric?name=referrals&{WINDOW}&by=hwb&at={AT_PARAM}&format=parquet")
    table = pq.read_table(pa.BufferReader(r.data))
    assert table.schema.metadata[b"homeward.suppression"] == b"applied"
    assert table.column("value").to_pylist() == [None, None, 10, 10, 15]
    assert table.column("suppressed").to_pylist() == [True, True, False, False, False]


def test_empty_exports_still_open(duck_api: tuple[FlaskClient, sa.Engine]) -> None:
    client, _ = duck_api
    rows, _ = _csv(client, f"/api/export/cases?at={AT_PARAM}&icb=QHM&format=csv")
    assert rows == []
    book = openpyxl.load_workbook(io.BytesIO(client.get(f"/api/export/cases?at={AT_PARAM}&icb=QHM&format=xlsx").data))
    assert [c.value for c in book["data"][1]] == [c.name for c in CASE_COLUMNS] and book["data"].max_row == 1
    r = client.get(f"/api/export/cases?at={AT_PARAM}&icb=QHM&format=parquet")
    assert pq.read_table(pa.BufferReader(r.data)).num_rows == 0
    assert client.get(f"/api/export/cases?at={AT_PARAM}&icb=QHM&format=json").get_json()["rows"] == []


@pytest.mark.parametrize(("url", "status", "parameter"), [
    ("/api/export/bogus", 404, "dataset"),
    ("/api/export/cases?format=pdf", 400, "format"),
    ("/api/export/cases?by=hwb", 400, "by"),
    ("/api/export/cases?hwb=NOPE", 400, "hwb"),
    ("/api/export/cases?pathway=5", 400, "pathway"),
    ("/api/export/cases?age_band=90%2B", 400, "age_band"),
    ("/api/export/cases?from=03/01/2024", 400, "from"),
    ("/api/export/cases?at=soon", 400, "at"),
    ("/api/export/cases?limit=0", 400, "limit"),
    ("/api/export/capacity?from=2024-03-01", 400, "from"),
    ("/api/export/sitrep?level=planet", 400, "level"),
    ("/api/export/metric", 400, "name"),
    ("/api/export/metric?name=nope", 404, "metric"),
    ("/api/export/metric?name=referrals&by=colour", 400, "by"),
])
def test_bad_export_input(duck_api: tuple[FlaskClient, sa.Engine], url: str, status: int, parameter: str) -> None:
    client, _ = duck_api
    r = client.get(url)
    assert r.status_code == status and r.content_type.startswith("application/json")
    assert r.get_json()["parameter"] == parameter


def test_every_export_is_audited(duck_api: tuple[FlaskClient, sa.Engine]) -> None:
    client, engine = duck_api
    for url in (f"/api/export/cases?at={AT_PARAM}&hwb={LEEDS}&format=csv",
                f"/api/export/metric?name=referrals&{WINDOW}&by=hwb&at={AT_PARAM}&format=parquet",
                "/api/export/bogus"):  # the last is refused: not an export, not audited
        r = client.get(url)
        r.get_data()  # the whole download, as a browser takes it
        r.close()
    records = recent_exports(engine, 10)
    assert [(e.dataset, e.format, e.rows, e.suppressed) for e in records] == [
        ("metric", "parquet", 5, True), ("cases", "csv", 12, False)]
    assert records[1].filters["hwb"] == [LEEDS] and records[1].filters["at"].startswith("2024-03-10T12:00")
    assert records[0].filters["name"] == "referrals" and records[0].remote_addr == "127.0.0.1"
    assert client.get("/api/exports?limit=1").get_json()[0]["dataset"] == "metric"
