"""Issue 12 item 1: every request is bounded before work starts (reproductions from the issue as data)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from tests.integration.api_seed import seed

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def client(duck_store: sa.Engine) -> Iterator[FlaskClient]:
    from dashboard.server import build_app

    seed(duck_store)
    yield build_app().server.test_client()


def _refused(client: FlaskClient, url: str, param: str) -> dict[str, Any]:
    r = client.get(url)
    assert r.status_code == 400, (url, r.status_code, r.get_data(as_text=True)[:300])
    body = r.get_json()
    assert body["parameter"] == param, body
    return body


@pytest.mark.parametrize("url, param", [
    ("/api/metrics/nctr_count?from=0001-01-01&to=9999-12-31&grain=day", "from"),
    ("/api/metrics/capacity?from=1990-01-01&to=2026-01-01&grain=day", "from"),
    ("/api/metrics/occupancy_rate?from=1990-01-01&to=2026-01-01&grain=day", "from"),
    ("/api/metrics/capacity?from=2000-01-01&to=2026-01-01&grain=day", "grain"),  # in range, 9,497 periods
    ("/api/metrics/nctr_count?at=0001-01-01T00:00:00", "at"),
    ("/api/metrics/nctr_count?at=9999-12-31T23:59:59Z", "at"),
    ("/api/metrics/nctr_count?at=9999-12-31T23:59:59-05:00", "at"),  # astimezone overflows
    ("/api/metrics/discharges?from=0001-01-01&to=9999-12-31&grain=month", "from"),
    ("/api/metrics/discharges?from=2000-01-01&to=2100-01-01&grain=month", "grain"),  # 1,200 months
    ("/api/metrics/discharges?from=2020-01-01&to=2023-01-06&grain=day", "grain"),  # 1,101 days
    ("/api/metrics/discharges?from=2000-01-01&to=2011-01-01&grain=week", "grain"),  # 574 weeks
    ("/api/export/metric?name=discharges&from=0001-01-01&to=9999-12-31&grain=day", "from"),
    ("/api/export/metric?name=discharges&from=2020-01-01&to=2023-01-06&grain=day", "grain"),
    ("/api/export/cases?from=0001-01-01&to=9999-12-31", "from"),
    ("/api/export/capacity?at=9999-12-31T23:59:59Z", "at"),
])
def test_unbounded_requests_are_refused_naming_the_parameter(client: FlaskClient, url: str, param: str) -> None:
    body = _refused(client, url, param)
    assert "2000-01-01 .. 2100-01-01" in body["error"] or "more than the" in body["error"]


def test_the_period_cap_is_a_setting(client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    ok = client.get("/api/metrics/discharges?from=2024-01-01&to=2024-02-01&grain=day")
    assert ok.status_code == 200 and len(ok.get_json()["rows"]) == 31
    monkeypatch.setenv("HOMEWARD_MAX_PERIODS", "day=30")
    body = _refused(client, "/api/metrics/discharges?from=2024-01-01&to=2024-02-01&grain=day", "grain")
    assert body["error"].startswith("31 days from 2024-01-01 to 2024-02-01 is more than the 30 ")


@pytest.mark.parametrize("metric", ["capacity", "occupancy_rate"])
def test_capacity_series_answer_the_full_day_cap(client: FlaskClient, metric: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # one store aggregate over all periods (it was one per period, capped at 120): 1,100 days answer
    r = client.get(f"/api/metrics/{metric}?from=2021-01-01&to=2024-01-06&grain=day&at=2024-03-10T12:00:00Z")
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    assert len(r.get_json()["rows"]) == 1100
    body = _refused(client, f"/api/metrics/{metric}?from=2021-01-01&to=2024-01-07&grain=day", "grain")
    assert body["error"].startswith("1101 days from 2021-01-01 to 2024-01-07 is more than the 1100 ")
    # a deployment on a slow store may still hold capacity series to fewer periods
    monkeypatch.setenv("HOMEWARD_MAX_PERIODS", "capacity=120")
    body = _refused(client, f"/api/metrics/{metric}?from=2023-11-10&to=2024-03-10&grain=day", "grain")
    assert "more than the 120 " in body["error"]


def test_flow_page_with_an_absurd_window_says_so_in_words(client: FlaskClient) -> None:
    assert client.get("/flow?from=0001-01-01&to=9999-12-31").status_code == 200  # the shell
    # the page's layout for that URL, as the browser asks Dash's pages router for it
    r = client.post("/_dash-update-component", json={
        "output": ".._pages_content.children..._pages_store.data..",
        "outputs": [{"id": "_pages_content", "property": "children"}, {"id": "_pages_store", "property": "data"}],
        "inputs": [{"id": "_pages_location", "property": "pathname", "value": "/flow"},
                   {"id": "_pages_location", "property": "search", "value": "?from=0001-01-01&to=9999-12-31"}],
        "changedPropIds": ["_pages_location.pathname"], "state": []})
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    text = r.get_data(as_text=True)
    assert "the date `from` (0001-01-01) must lie within 2000-01-01 .. 2100-01-01." in text
    assert '"Graph"' not in text  # words instead of charts


def test_cli_query_out_of_range_exits_2_with_one_line(duck_store: sa.Engine, tmp_path: Path) -> None:
    import os

    env = {**os.environ}
    done = subprocess.run([sys.executable, str(ROOT / "app.py"), "query", "nctr_count", "--from", "0001-01-01",
                           "--to", "9999-12-31", "--grain", "day"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "2000-01-01 .. 2100-01-01" in lines[0] and "Traceback" not in done.stderr
