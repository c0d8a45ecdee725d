"""`GET /api/alerts` and the /alerts page over a store whose alerts were evaluated from tests/metric_fixture.py."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from alerts.rules import load_config
from alerts.states import evaluate, firing_in_scope, load_instances, silence
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

[[rule]]
name = "occupancy_high"
metric = "occupancy_rate"
scope = "national"
above = 0.95
""")
    monkeypatch.setenv("HOMEWARD_ALERTS", str(rules))
    evaluate(duck_store, load_config(), parse_time("at", "2024-03-10T12:00"))
    from dashboard.server import build_app

    yield build_app().server.test_client()


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


def _text(component: Any) -> str:
    """Every string in a Dash component tree."""
    if component is None:
        return ""
    if isinstance(component, (str, int, float)):
        return str(component)
    if isinstance(component, (list, tuple)):
        return " ".join(_text(c) for c in component)
    return _text(getattr(component, "children", None))


def test_alerts_page_and_wall_banner_content(client: FlaskClient, duck_store: sa.Engine) -> None:
    import sys

    import dash

    wall = sys.modules["pages.wall"]  # as Dash's pages plugin loaded it (importing it again would register it twice)
    from dashboard.state import FilterState

    app = client.application
    with app.test_request_context("/alerts"):
        page = _text(dash.page_registry["pages.alerts"]["layout"]())
        banner_qwo = _text(wall._alerts_banner(FilterState.from_args({"icb": "QWO"})))
        banner_leeds = wall._alerts_banner(FilterState.from_args({"hwb": LEEDS}))
    assert f"FIRING waits hwb:{BRADFORD} 2 0.5" in page
    # no service reports before 30 March: no value, said in words, never taken for ok
    assert "NO DATA occupancy_high national no value: the metric has no data for this scope 0.95" in page
    assert ("waits: No longer meet criteria to reside in icb:QWO (each HWB apart) is above 0.5; tell nobody, "
            "again every 24 hours while it lasts.") in page
    assert "No notification yet." in page and "Silence an alert" in page
    assert banner_qwo == f"🔔 ALERTS FIRING:  waits (hwb:{BRADFORD}) ."
    assert banner_leeds is None


def test_silence_action_on_the_page(client: FlaskClient, duck_store: sa.Engine) -> None:
    import sys

    page = sys.modules["pages.alerts"]  # as Dash's pages plugin loaded it (importing it again would register it twice)

    from models import accounts
    from models.access import Principal, using

    key = f"waits|hwb:{BRADFORD}"
    with client.application.test_request_context("/alerts", environ_base={"REMOTE_ADDR": "10.1.2.3"}):
        with using(Principal("leeds.viewer", "viewer", (f"hwb:{LEEDS}",))):
            assert page._silence(1, key, 2, "x") == "Only an administrator can silence alerts."
        with using(Principal("ann.admin", "admin", ())):
            assert page._silence(1, key, 2, "") == "Choose an alert, a number of hours and give a reason."
            assert page._silence(1, key, 2, " ward closed ").startswith("Silenced until ")
            assert page._silence(1, "nope|national", 2, "x") == "That alert no longer exists."
    inst = load_instances(duck_store)[key]
    assert (inst.silence_reason, inst.silenced_by) == ("ward closed", "ann.admin")
    events = accounts.audit_events(duck_store, action="alert_silenced")
    assert [(e["actor"], e["remote_addr"], e["detail"]["alert"], e["detail"]["reason"]) for e in events] == [
        ("ann.admin", "10.1.2.3", key, "ward closed")]


def test_a_scoped_viewer_sees_only_alerts_inside_their_scope(client: FlaskClient, duck_store: sa.Engine) -> None:
    """Per-HWB instances for Leeds and Bradford exist (rule `waits`, icb:QWO per hwb); a Leeds viewer gets Leeds's
    only, on the API, the page's data and the wall's banner; national sees both."""
    from models.access import Principal, using

    everyone = {i.scope for i in load_instances(duck_store).values() if i.rule == "waits"}
    assert {f"hwb:{LEEDS}", f"hwb:{BRADFORD}"} <= everyone
    with using(Principal("leeds.viewer", "viewer", (f"hwb:{LEEDS}",))):
        seen = {i.scope for i in load_instances(duck_store).values() if i.rule == "waits"}
        banner = {i.scope for i in firing_in_scope(duck_store)}
    assert seen == {f"hwb:{LEEDS}"}
    assert f"hwb:{BRADFORD}" not in banner
