"""The planner's contract (issue 15): `python app.py plan FILE` and `POST /api/plan` give the same JSON;
an invalid scenario is exit 2 with one line, or a 400 with a JSON error."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

ROOT = Path(__file__).resolve().parents[2]
SCENARIO: dict[str, Any] = {
    "start": "2023-01-01", "days": 28, "arrivals": [2, 3, 4, 3, 4, 4, 2], "capacity": 30, "occupied": 29,
    "waiting": 6, "los": {"lognormal": {"meanlog": 2.5, "sdlog": 0.5}}, "runs": 50, "seed": 7}


def _plan_cli(tmp_path: Path, body: Any) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(body))
    return subprocess.run([sys.executable, "app.py", "plan", str(path)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture
def client(duck_store: sa.Engine) -> Iterator[FlaskClient]:
    from dashboard.server import build_app

    yield build_app().server.test_client()


def test_cli_and_api_give_the_same_result(tmp_path: Path, client: FlaskClient) -> None:
    done = _plan_cli(tmp_path, SCENARIO)
    assert done.returncode == 0, done.stderr
    from_cli = json.loads(done.stdout)
    r = client.post("/api/plan", json=SCENARIO)
    assert r.status_code == 200 and r.content_type.startswith("application/json")
    assert r.get_json() == from_cli
    assert len(from_cli["days"]) == 28 and from_cli["days"][27]["date"] == "2023-01-28"
    assert from_cli["runs"] == 50 and from_cli["seed"] == 7
    # 29 in 30 places with 6 waiting: one starts at once, so the day-0 queue is under 6 and places are full
    day0 = from_cli["days"][0]
    assert day0["occupied"]["p50"] == 30.0 and 0 < day0["waiting"]["mean"] < 6.0
    assert {"waiting_at_end", "days_full", "mean_wait_days"} == set(from_cli["summary"])
    assert from_cli["summary"]["days_full"]["mean"] > 0


@pytest.mark.parametrize("change, words", [
    ({"capacity": -5}, "capacity must be between 0"),
    ({"arrivals": []}, "arrivals must not be empty"),
    ({"los": {"weibull": {"k": 1}}}, "unknown length of stay distribution"),
    ({"days": 731}, "days must be between 1 and 730"),
    ({"runs": 2001}, "runs must be between 1 and 2000"),
])
def test_invalid_scenario_is_exit_2_and_400(tmp_path: Path, client: FlaskClient, change: dict, words: str) -> None:
    body = {**SCENARIO, **change}
    done = _plan_cli(tmp_path, body)
    assert done.returncode == 2 and done.stdout == ""
    assert words in done.stderr and done.stderr.count("\n") == 1
    r = client.post("/api/plan", json=body)
    assert r.status_code == 400 and words in r.get_json()["error"]


def test_api_rejects_a_body_that_is_not_json(client: FlaskClient) -> None:
    r = client.post("/api/plan", data="days=3", content_type="text/plain")
    assert r.status_code == 400 and "JSON" in r.get_json()["error"]
