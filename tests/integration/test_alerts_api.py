"""`GET /api/alerts` and the /alerts page over a store whose alerts were evaluated from tests/metric_fixture.py."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from alerts.rules import load_config
from alerts.states import evaluate, firing_in_scope, silence, load_instances
from models.query import parse_time
from tests import metric_fixture
from tests.metric_fixture import BRADFORD, LEEDS


@pytest.fixture
def client(duck_store: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FlaskClient]:
    metric_fixture.load(duck_store)
    rules = tmp_path / "alerts.toml"
    rules.write_text("""
feed_channels = []
[[rule]]
name = "waits"
metric = "nctr_count"
scope = "icb:QWO"
per = "hwb"
above = 0.5
for_minutes = 0
""")
    monkeypatch.setenv("HOMEWARD_ALERTS", str(rules))
    evaluate(duck_store, load_config(), parse_time("at", "2024-03-10T12:00"))
    from dashboard.server import build_app

    yield build_app(start_scheduler=False).server.test_client()


def get(client: FlaskClient, url: str) -> Any:
    r = client.get(url)
    assert r.status_code == 200, r.get_data(as_text=True)
    return r.get_json()


def test_api_lists_instances_with_their_states(client: FlaskClient) -> None:
    body = get(client, "/api/alerts?state=firing")
    # 10 March 12:00: Bradford has C and D waiting (2); Leeds nobody (0: B became ready on the 3rd, left the 6th)
    assert body == {"alerts": [
        {"rule": "feed_stale", "scope": "feed:hub_cases", "state": "firing", "value": None, "threshold": 2.0,
         "since": "2024-03-10T12:00:00Z", "last_notified_at": None},
        {"rule": "feed_stale", "scope": "feed:vacancy", "state": "firing", "value": None, "threshold": 2.0,
         "since": "2024-03-10T12:00:00Z", "last_notified_at": None},
        {"rule": "waits", "scope": f"hwb:{BRADFORD}", "state": "firing", "value": 2, "threshold": 0.5,
         "since": "2024-03-10T12:00:00Z", "last_notified_at": None}]}
    leeds = get(client, f"/api/alerts?rule=waits&hwb={LEEDS}")["alerts"]
    assert [(a["scope"], a["state"], a["value"]) for a in leeds if a["rule"] == "waits"] == [(f"hwb:{LEEDS}", "ok", 0)]
    assert client.get("/api/alerts?state=loud").status_code == 400


def test_page_and_wall_scope_and_silence(client: FlaskClient, duck_store: sa.Engine) -> None:
    assert client.get("/alerts").status_code == 200
    assert [i.scope for i in firing_in_scope(duck_store, icb=["QWO"]) if i.rule == "waits"] == [f"hwb:{BRADFORD}"]
    assert [i.scope for i in firing_in_scope(duck_store, hwb=[LEEDS]) if i.rule == "waits"] == []
    until = parse_time("at", "2024-03-10T16:00")
    assert silence(duck_store, f"waits|hwb:{BRADFORD}", until, "known: ward closure", "admin")
    inst = load_instances(duck_store)[f"waits|hwb:{BRADFORD}"]
    assert (inst.silence_reason, inst.silenced_by) == ("known: ward closure", "admin")
    assert inst.silenced(parse_time("at", "2024-03-10T15:59").replace(tzinfo=None))
