"""Access control through a real server (werkzeug on a free port) over a real store: sign-in, roles, scope on
every route (API, exports, a Dash callback posted by hand), API and wall tokens, the audit trail, headers.

Data: tests/integration/api_seed.py (figures worked by hand there). Referrals from 2024-03-01 to 2024-03-08:
Leeds 12 of QWO's 41; Bradford 1. As at AT, the capacity export of Leeds holds S1 only (S4 is first known
after AT); nationally S1, S2 and S3.
"""
from __future__ import annotations

import csv
import io
import subprocess
import sys
import threading
from datetime import datetime, timedelta
from typing import Iterator

import pytest
import requests
import sqlalchemy as sa

from models import accounts
from models.tables import access_token
from tests.integration.api_seed import AT_PARAM, BRADFORD, LEEDS, seed

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery staple"
WINDOW = "from=2024-03-01&to=2024-03-08"
USERS = {  # name: (role, scope)
    "admin1": ("admin", "national"),
    "viewer_leeds": ("viewer", f"hwb:{LEEDS}"),
    "analyst_leeds": ("analyst", f"hwb:{LEEDS}"),
    "cw_leeds": ("case_worker", f"hwb:{LEEDS}"),
    "analyst_all": ("analyst", "national"),
}


@pytest.fixture
def live(store: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, sa.Engine]]:
    """A real server with local sign-in over a seeded store (DuckDB and PostgreSQL)."""
    from werkzeug.serving import make_server

    from dashboard import auth
    from dashboard.server import build_app

    monkeypatch.setenv("HOMEWARD_AUTH", "local")
    monkeypatch.setattr(auth, "FAILURE_DELAY_SECONDS", 0.0)
    monkeypatch.setattr(auth, "_SESSION_RECHECK_SECONDS", 0.0)
    auth._checked.clear()
    seed(store)
    for name, (role, scope) in USERS.items():
        accounts.add_account(store, name, role, scope, PASSWORD)
    server = make_server("127.0.0.1", 0, build_app().server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", store
    finally:
        server.shutdown()
        thread.join(timeout=10)


def signed_in(base: str, name: str, password: str = PASSWORD) -> requests.Session:
    s = requests.Session()
    r = s.post(f"{base}/signin", data={"username": name, "password": password, "next": "/data"},
               allow_redirects=False)
    assert r.status_code == 302 and r.headers["Location"] == "/data", r.text[:300]
    return s


def page_by_hand(s: requests.Session, base: str, path: str, search: str) -> requests.Response:
    """The page router's callback (what the browser posts to render a page), posted by hand."""
    deps = s.get(f"{base}/_dash-dependencies").json()
    router = next(d for d in deps if "_pages_content.children" in d["output"])
    values = {"pathname": path, "search": search}
    body = {"output": router["output"],
            "outputs": [{"id": o.split(".")[0], "property": o.split(".")[1]}
                        for o in router["output"].strip(".").split("...")],
            "inputs": [{"id": i["id"], "property": i["property"], "value": values[i["property"]]}
                       for i in router["inputs"]],
            "changedPropIds": ["_pages_location.pathname"], "state": []}
    return s.post(f"{base}/_dash-update-component", json=body)


def referrals(s: requests.Session, base: str, extra: str = "") -> requests.Response:
    return s.get(f"{base}/api/metrics/referrals?{WINDOW}&at={AT_PARAM}{extra}")


def test_scoped_viewer_gets_only_its_hwb_by_every_route(live: tuple[str, sa.Engine]) -> None:
    base, _ = live
    nobody = requests.Session()
    assert nobody.get(f"{base}/api/metrics/referrals").status_code == 401
    assert nobody.get(f"{base}/api/metrics/referrals").json()["status"] == 401
    r = nobody.get(f"{base}/flow", allow_redirects=False)
    assert r.status_code == 302 and r.headers["Location"].startswith("/signin?next=%2Fflow")
    assert nobody.post(f"{base}/_dash-update-component", json={}).status_code == 401
    health = nobody.get(f"{base}/healthz").json()
    assert set(health) == {"status", "feeds"}

    viewer = signed_in(base, "viewer_leeds")
    assert referrals(viewer, base).json()["rows"][0]["value"] == 12  # Leeds alone, not QWO's 41
    by_hwb = referrals(viewer, base, "&by=hwb").json()["rows"]
    assert {(r["hwb"], r["value"]) for r in by_hwb} == {(LEEDS, 12)}
    assert referrals(viewer, base, "&icb=QWO").json()["rows"][0]["value"] == 12  # the ICB within the scope
    out = referrals(viewer, base, f"&hwb={BRADFORD}")
    assert out.status_code == 403 and "outside your scope" in out.json()["error"]
    assert referrals(viewer, base, "&icb=QHM").status_code == 403  # Hartlepool's ICB: none of it in scope

    national = signed_in(base, "analyst_all")
    assert referrals(national, base).json()["rows"][0]["value"] == 41  # nationally: all five QWO HWBs

    # exports: a viewer may not; a Leeds analyst gets Leeds rows only; an explicit Bradford is 403
    assert viewer.get(f"{base}/api/export/capacity?at={AT_PARAM}").status_code == 403
    analyst = signed_in(base, "analyst_leeds")
    rows = list(csv.DictReader(io.StringIO(analyst.get(f"{base}/api/export/capacity?at={AT_PARAM}").text)))
    assert [r["service_id"] for r in rows] == ["S1"]
    all_rows = list(csv.DictReader(io.StringIO(national.get(f"{base}/api/export/capacity?at={AT_PARAM}").text)))
    assert sorted(r["service_id"] for r in all_rows) == ["S1", "S2", "S3"]
    assert analyst.get(f"{base}/api/export/capacity?hwb={BRADFORD}").status_code == 403
    metric = analyst.get(f"{base}/api/export/metric?name=referrals&{WINDOW}&at={AT_PARAM}&by=hwb&format=json").json()
    assert [(r["hwb"], r["value"]) for r in metric["rows"]] == [(LEEDS, 10)]  # 12, rounded to 5 (suppression)
    assert analyst.get(f"{base}/api/export/cases?{WINDOW}").status_code == 403  # person-level: case workers
    cw = signed_in(base, "cw_leeds")
    cases = list(csv.DictReader(io.StringIO(cw.get(f"{base}/api/export/cases?{WINDOW}&at={AT_PARAM}").text)))
    assert len(cases) == 12 and {c["hwb_code"] for c in cases} == {LEEDS}

    # a page callback posted by hand: the page content for Bradford is a plain refusal, and the filter
    # options offer only what the scope covers
    page = page_by_hand(viewer, base, "/flow", f"?hwb={BRADFORD}")
    assert page.status_code == 200
    assert "outside your scope" in page.text
    page = page_by_hand(viewer, base, "/flow", "").text
    assert "(E08000035)" in page and "(E08000032)" not in page  # HWB options: Leeds, not Bradford
    assert "Scope: Leeds" in viewer.get(f"{base}/_dash-layout").text


def test_role_matrix(live: tuple[str, sa.Engine]) -> None:
    base, _ = live
    sessions = {name: signed_in(base, name) for name in ("viewer_leeds", "analyst_leeds", "cw_leeds", "admin1")}
    expected = {  # route: statuses for viewer, analyst, case worker, admin
        "/api/metrics": (200, 200, 200, 200),
        f"/api/metrics/nctr_count?at={AT_PARAM}": (200, 200, 200, 200),
        "/api/feeds": (200, 200, 200, 200),
        f"/api/export/capacity?at={AT_PARAM}": (403, 200, 200, 200),
        f"/api/export/sitrep?at={AT_PARAM}": (403, 200, 200, 200),
        f"/api/export/metric?name=nctr_count&at={AT_PARAM}": (403, 200, 200, 200),
        f"/api/export/cases?at={AT_PARAM}": (403, 403, 200, 200),
        "/api/audit": (403, 403, 403, 200),
        "/api/exports": (403, 403, 403, 200),
        "/api/plan": (200, 200, 200, 200),  # (added in parallel elsewhere: covered by default, 404 here)
        "/flow": (200, 200, 200, 200),
        "/data": (200, 200, 200, 200),
    }
    for route, statuses in expected.items():
        got = tuple(s.get(f"{base}{route}").status_code for s in sessions.values())
        want = tuple(404 if route == "/api/plan" else v for v in statuses)
        assert got == want, route
    ingest = tuple(s.post(f"{base}/api/ingest/vacancy").status_code for s in sessions.values())
    assert ingest[:3] == (403, 403, 403) and ingest[3] != 403
    # wrong role on a page is a plain message, not JSON
    r = sessions["viewer_leeds"].get(f"{base}/api/audit")
    assert r.headers["Content-Type"].startswith("application/json") and "admin" in r.json()["error"]


def test_sign_in_failures_are_counted_and_stopped(live: tuple[str, sa.Engine]) -> None:
    base, engine = live
    s = requests.Session()
    for _ in range(5):
        r = s.post(f"{base}/signin", data={"username": "viewer_leeds", "password": "wrong"})
        assert r.status_code == 401
    r = s.post(f"{base}/signin", data={"username": "viewer_leeds", "password": PASSWORD})
    assert r.status_code == 429  # the right password too, until the minute has passed
    failed = accounts.audit_events(engine, action="sign_in_failed")
    assert len(failed) == 6 and {e["actor"] for e in failed} == {"viewer_leeds"}
    assert [e["detail"]["reason"] for e in failed][0] == "throttled"


def test_api_tokens_revoked_and_expired_are_refused(live: tuple[str, sa.Engine]) -> None:
    base, engine = live
    token = accounts.create_token(engine, "powerbi", "api", "analyst", f"hwb:{LEEDS}")
    auth = {"Authorization": f"Bearer {token}"}
    r = requests.get(f"{base}/api/metrics/referrals?{WINDOW}&at={AT_PARAM}", headers=auth)
    assert r.status_code == 200 and r.json()["rows"][0]["value"] == 12
    assert requests.get(f"{base}/api/export/capacity?at={AT_PARAM}", headers=auth).status_code == 200
    assert requests.get(f"{base}/api/audit", headers=auth).status_code == 403
    bad = requests.get(f"{base}/api/metrics", headers={"Authorization": "Bearer hw_api_guessed"})
    assert bad.status_code == 401 and "unknown" in bad.json()["error"]
    accounts.revoke_token(engine, "powerbi")
    r = requests.get(f"{base}/api/metrics", headers=auth)
    assert r.status_code == 401 and "revoked" in r.json()["error"]
    old = accounts.create_token(engine, "old", "api", "viewer", "national", expires_days=1)
    with engine.begin() as conn:
        conn.execute(access_token.update().where(access_token.c.name == "old")
                     .values(expires_at=datetime.utcnow() - timedelta(minutes=1)))
    r = requests.get(f"{base}/api/metrics", headers={"Authorization": f"Bearer {old}"})
    assert r.status_code == 401 and "expired" in r.json()["error"]
    with engine.connect() as conn:  # stored hashed: the token itself is nowhere in the store
        stored = [row[0] for row in conn.execute(sa.select(access_token.c.token_hash))]
    assert token not in stored and old not in stored and len(stored[0]) == 64


def test_wall_token_opens_the_wall_only_until_revoked(live: tuple[str, sa.Engine]) -> None:
    base, engine = live
    token = accounts.create_token(engine, "ward-screen", "wall", "viewer", f"hwb:{LEEDS}")
    screen = requests.Session()
    r = screen.get(f"{base}/wall?token={token}", allow_redirects=False)
    assert r.status_code == 302 and r.headers["Location"] == "/wall"
    assert screen.get(f"{base}/wall").status_code == 200
    assert screen.get(f"{base}/_dash-layout").status_code == 200
    wall = page_by_hand(screen, base, "/wall", "").text
    assert '"wall-scope"' in wall and "Leeds" in wall and "West Yorkshire" not in wall  # its scope, not the home ICB
    assert screen.get(f"{base}/flow").status_code == 403
    assert screen.get(f"{base}/api/metrics").status_code == 403
    accounts.revoke_token(engine, "ward-screen")
    r = screen.get(f"{base}/wall", allow_redirects=False)
    assert r.status_code == 302 and "/signin" in r.headers["Location"]
    assert requests.get(f"{base}/wall?token={token}").status_code == 403


def test_audit_holds_each_action_without_passwords(live: tuple[str, sa.Engine]) -> None:
    base, engine = live
    cw = signed_in(base, "cw_leeds")
    cw.get(f"{base}/api/export/cases?{WINDOW}&at={AT_PARAM}")
    analyst = signed_in(base, "analyst_leeds")
    analyst.get(f"{base}/api/export/metric?name=referrals&{WINDOW}&at={AT_PARAM}&by=hwb")
    cw.get(f"{base}/signout")
    admin = signed_in(base, "admin1")
    events = admin.get(f"{base}/api/audit").json()
    exports = [e for e in events if e["action"] == "export"]
    by_who = {e["actor"]: e for e in exports}
    assert by_who["cw_leeds"]["detail"]["rows"] == 12 and by_who["cw_leeds"]["detail"]["suppression"] == "off"
    assert by_who["cw_leeds"]["role"] == "case_worker" and by_who["cw_leeds"]["route"] == "/api/export/cases"
    assert by_who["analyst_leeds"]["detail"]["suppression"] == "on"  # aggregate, below national: suppressed
    actions = {e["action"] for e in events}
    assert {"sign_in", "sign_out", "export"} <= actions
    text = admin.get(f"{base}/api/audit?format=csv").text
    assert text.startswith("event_id,happened_at,actor") and PASSWORD not in text
    assert admin.get(f"{base}/data").status_code == 200


def test_security_headers_on_every_route(live: tuple[str, sa.Engine]) -> None:
    base, _ = live
    admin = signed_in(base, "admin1")
    for route in ("/healthz", "/signin", "/flow", "/api/metrics", "/assets/homeward.css"):
        h = admin.get(f"{base}{route}").headers
        assert "frame-ancestors 'self'" in h["Content-Security-Policy"], route
        assert h["X-Frame-Options"] == "SAMEORIGIN" and h["X-Content-Type-Options"] == "nosniff"
        assert h["Referrer-Policy"] == "same-origin"
    cookie = requests.post(f"{base}/signin", data={"username": "admin1", "password": PASSWORD},
                           allow_redirects=False).headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie  # plain HTTP here


def test_exports_neutralise_formulas_not_numbers(live: tuple[str, sa.Engine]) -> None:
    base, engine = live
    from models.tables import service

    with engine.begin() as conn:
        conn.execute(service.update().where(service.c.service_id == "S1")
                     .values(service_name="=HYPERLINK(\"http://x\")", provider_name="-2+3"))
    analyst = signed_in(base, "analyst_leeds")
    rows = list(csv.DictReader(io.StringIO(analyst.get(f"{base}/api/export/capacity?at={AT_PARAM}").text)))
    assert rows[0]["service_name"] == "'=HYPERLINK(\"http://x\")" and rows[0]["provider_name"] == "'-2+3"
    assert rows[0]["capacity"] == "20"  # numbers as they were


def test_no_sign_in_refuses_a_public_bind() -> None:
    out = subprocess.run([sys.executable, "app.py", "serve", "--host", "0.0.0.0", "--port", "8099"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60, env={**__import__("os").environ,
                                                                          "HOMEWARD_AUTH": "none"})
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "127.0.0.1" in out.stderr


def test_cli_users_and_tokens(duck_store: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    env = {**os.environ, "HOMEWARD_AUTH": "local"}

    def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        from models import db

        db.dispose_all()  # DuckDB: one writing process at a time
        return subprocess.run([sys.executable, "app.py", *args], cwd=ROOT, capture_output=True, text=True,
                              input=stdin, timeout=60, env=env)

    bad = cli("users", "add", "ann", "--role", "viewer", "--scope", "place:NOPE")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    ok = cli("users", "add", "ann", "--role", "analyst", "--scope", f"icb:QWO,hwb:{LEEDS}", "--password-stdin",
             stdin="a long enough password\n")
    assert ok.returncode == 0, ok.stderr
    assert f"ann\tanalyst\thwb:{LEEDS},icb:QWO" in cli("users", "list").stdout
    made = cli("tokens", "create", "bi", "--kind", "api", "--role", "analyst", "--scope", "national",
               "--expires", "30")
    token = made.stdout.strip().splitlines()[-1]
    assert made.returncode == 0 and token.startswith("hw_api_") and len(token) > 40
    assert "bi\tapi\tanalyst\tnational\texpires" in cli("tokens", "list").stdout
    assert cli("tokens", "revoke", "bi").returncode == 0
    assert cli("tokens", "revoke", "bi").returncode == 2
    assert cli("users", "remove", "ann").returncode == 0
    from models import db

    engine = db.get_engine()
    assert accounts.check_token(engine, token).reason == "revoked"
    assert [e["action"] for e in reversed(accounts.audit_events(engine))] == [
        "account_added", "token_created", "token_revoked", "account_removed"]


def test_person_level_list_for_case_workers_only_and_audited(live: tuple[str, sa.Engine]) -> None:
    """/delays as at 2024-03-04 12:00: the 12 Leeds cases are ready (09:00) and not yet discharged (03-05)."""
    import hashlib

    base, engine = live
    leeds_0 = hashlib.sha256(f"{LEEDS}/0".encode()).hexdigest()[:12]  # the pseudonym as the list shows it
    search = "?at=2024-03-04T12:00:00Z"
    cw = page_by_hand(signed_in(base, "cw_leeds"), base, "/delays", search).text
    assert leeds_0 in cw
    viewer = page_by_hand(signed_in(base, "viewer_leeds"), base, "/delays", search).text  # same scope, after it
    assert leeds_0 not in viewer and "shown to case workers" in viewer
    views = accounts.audit_events(engine, action="person_view")
    assert [e["actor"] for e in views] == ["cw_leeds"] and views[0]["detail"]["list"] == "longest_waits"
