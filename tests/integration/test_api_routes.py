"""The HTTP routes of shared/spec/interfaces.md against the real app and a real store.

Data: tests/integration/api_seed.py (figures worked by hand there).
"""
from __future__ import annotations

import socket
from typing import Any, Iterator

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from models.metrics import REGISTRY
from models.query import MetricQuery, run_query
from tests.integration.api_seed import AT, AT_PARAM, BRADFORD, LEEDS, seed

WINDOW = "from=2024-03-01&to=2024-03-08"


@pytest.fixture
def api(duck_store: sa.Engine) -> Iterator[tuple[FlaskClient, sa.Engine]]:
    from dashboard.server import build_app

    seed(duck_store)
    app = build_app()
    yield app.server.test_client(), duck_store


def _json(client: FlaskClient, url: str, status: int = 200) -> Any:
    r = client.get(url)
    assert r.status_code == status, r.get_data(as_text=True)
    assert r.content_type.startswith("application/json")
    return r.get_json()


def test_healthz_reports_store_and_feed_freshness(api: tuple[FlaskClient, sa.Engine]) -> None:
    client, _ = api
    body = _json(client, "/healthz")
    assert body["status"] == "ok"
    assert body["store"]["readable"] is True and body["store"]["data_version"] == 2  # runs 1, 2 ok; 3 failed
    vacancy, cases = body["feeds"]["vacancy"], body["feeds"]["hub_cases"]
    assert set(vacancy) >= {"last_success_at", "last_status", "age_seconds", "stale"}
    # vacancy last succeeded an hour ago: fresh
    assert vacancy["last_status"] == "ok" and vacancy["stale"] is False
    assert 3500 <= vacancy["age_seconds"] <= 3700
    # hub_cases: latest run failed, last success 30 hours ago: stale
    assert cases["last_status"] == "failed" and cases["stale"] is True
    assert 30 * 3600 - 100 <= cases["age_seconds"] <= 30 * 3600 + 100


def test_healthz_is_503_when_the_store_cannot_be_read(monkeypatch: pytest.MonkeyPatch) -> None:
    from dashboard.server import build_app

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("HOMEWARD_DB_URL", f"postgresql+psycopg://nobody@127.0.0.1:{port}/none?connect_timeout=2")
    client = build_app().server.test_client()
    body = _json(client, "/healthz", 503)
    assert body["status"] != "ok" and body["store"]["readable"] is False
    # metric routes say the same, as JSON, without a traceback
    r = client.get("/api/metrics/nctr_count")
    assert r.status_code == 503 and "Traceback" not in r.get_data(as_text=True)


def test_catalogue_lists_every_metric(api: tuple[FlaskClient, sa.Engine]) -> None:
    client, _ = api
    body = _json(client, "/api/metrics")
    assert [m["name"] for m in body] == list(REGISTRY)
    for entry in body:
        assert {"name", "label", "definition", "unit", "kind", "direction", "dimensions", "thresholds"} <= set(entry)


def test_metric_route_equals_the_metrics_layer(api: tuple[FlaskClient, sa.Engine]) -> None:
    client, engine = api
    body = _json(client, f"/api/metrics/referrals?{WINDOW}&by=hwb&at={AT_PARAM}")
    assert {r["hwb"]: r["value"] for r in body["rows"]} == {
        "E08000032": 1, "E08000033": 7, "E08000034": 8, "E08000035": 12, "E08000036": 13}
    q = MetricQuery.from_params("referrals", {"from": ["2024-03-01"], "to": ["2024-03-08"], "by": ["hwb"], "at": [AT_PARAM]})
    assert body == run_query(engine, q).to_json()
    assert body["as_of"] == "2024-03-10T12:00:00Z"


def test_repeated_filter_values_mean_either(api: tuple[FlaskClient, sa.Engine]) -> None:
    client, _ = api
    body = _json(client, f"/api/metrics/referrals?{WINDOW}&hwb={LEEDS}&hwb={BRADFORD}&at={AT_PARAM}")
    assert [r["value"] for r in body["rows"]] == [12 + 1]


@pytest.mark.parametrize(("query", "parameter"), [
    ("at=yesterday-ish", "at"),
    ("from=2024-13-01", "from"),
    ("from=2024-03-08&to=2024-03-01", "to"),
    ("grain=hour", "grain"),
    ("by=colour", "by"),
    ("hwb=XX", "hwb"),
    ("pathway=9", "pathway"),
    ("colour=red", "colour"),
    ("hwb=E08000035'%20OR%201=1%20--", "hwb"),  # a bound parameter, refused as an unknown code
])
def test_bad_metric_input_is_400_naming_the_parameter(api: tuple[FlaskClient, sa.Engine], query: str,
                                                     parameter: str) -> None:
    client, engine = api
    body = _json(client, f"/api/metrics/referrals?{query}", 400)
    assert body["parameter"] == parameter and body["error"]
    with engine.connect() as conn:  # nothing was executed as SQL
        assert conn.execute(sa.text("select count(*) from hub_case")).scalar_one() == 42


def test_unknown_metric_is_404_json(api: tuple[FlaskClient, sa.Engine]) -> None:
    client, _ = api
    body = _json(client, "/api/metrics/no_such_metric", 404)
    assert "no_such_metric" in body["error"]


def test_unknown_api_path_and_wrong_method_are_json(api: tuple[FlaskClient, sa.Engine]) -> None:
    client, _ = api
    assert _json(client, "/api/nothing/here", 404)["status"] == 404
    r = client.post("/api/metrics")
    assert r.status_code == 405 and r.get_json()["status"] == 405


def test_feeds_is_the_run_log_newest_first(api: tuple[FlaskClient, sa.Engine]) -> None:
    client, _ = api
    runs = _json(client, "/api/feeds")
    # started 10 minutes ago (failed), 1 hour ago, 30 hours ago
    assert [r["run_id"] for r in runs] == [3, 1, 2]
    assert runs[0]["status"] == "failed" and runs[0]["error"] == "could not parse"
    assert [r["run_id"] for r in _json(client, "/api/feeds?feed=hub_cases")] == [3, 2]
    assert [r["run_id"] for r in _json(client, "/api/feeds?limit=1")] == [3]
    assert _json(client, "/api/feeds?limit=none", 400)["parameter"] == "limit"
    assert _json(client, "/api/feeds?colour=red", 400)["parameter"] == "colour"


def test_as_at_is_honoured(api: tuple[FlaskClient, sa.Engine]) -> None:
    client, _ = api
    # S1's latest report at AT is 03-10 08:00 (5 vacant); S2 is stale; S3 is in another ICB.
    body = _json(client, f"/api/metrics/vacant_accepting?icb=QWO&at={AT_PARAM}")
    assert body["rows"][0]["value"] == 5
    # A day earlier (03-09 12:00) S1's latest is 03-09 08:00 (1 vacant); S2 (03-08 09:00) is inside 24h.
    body = _json(client, "/api/metrics/vacant_accepting?icb=QWO&at=2024-03-09T12:00:00Z")
    assert body["rows"][0]["value"] == 1 + 0
    assert AT.isoformat().startswith("2024-03-10")
