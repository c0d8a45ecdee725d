"""`app.py serve` (waitress, one process with threads) as an attacker and a hub would meet it (issue 12).

One real server on a free 127.0.0.1 port over a seeded DuckDB file, shared by the tests in this module:
no version in `Server:`, deliveries over `POST /api/ingest/<feed>`, garbage callbacks a 400, and a
seeded fuzz of malformed query strings over every API route and page that never gets a 500.
"""
from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import quote

import pytest
import requests
import sqlalchemy as sa

from models import db
from tests.fixtures.ingest.data import VACANCY_COLUMNS, to_csv, vacancy_row
from tests.integration.api_seed import seed

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    tmp = tmp_path_factory.mktemp("serve")
    url = f"duckdb:///{tmp / 'store.duckdb'}"
    env = {**os.environ, "HOMEWARD_DATA_DIR": str(tmp / "data"), "HOMEWARD_DB_URL": url,
           "HOMEWARD_PSEUDO_KEY": "test-key-not-secret", "HOMEWARD_QUERY_TIMEOUT_SECONDS": "10",
           "HOMEWARD_INGEST_MAX_MB": "1", "HOMEWARD_AUTH": "none"}  # sign-in has its own tests (test_access)
    env.pop("HOMEWARD_DEMO", None)
    old = {k: os.environ.get(k) for k in ("HOMEWARD_DATA_DIR", "HOMEWARD_DB_URL")}
    os.environ.update({k: env[k] for k in old})
    try:
        engine = db.init_store(url)
        seed(engine)
        with engine.begin() as conn:  # the seed's runs took ids 1-3 by hand; deliveries here take the next
            for _ in range(3):
                conn.execute(sa.text("SELECT nextval('ingest_run_id_seq')"))
    finally:
        db.dispose_all()  # the server takes the file's lock
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    port = _free_port()
    log = open(tmp / "server.log", "w+")
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "serve", "--no-scheduler", "--port", str(port)],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/healthz", timeout=5).status_code == 200:
                break
        except requests.ConnectionError:
            time.sleep(0.2)
    else:
        proc.kill()
        raise AssertionError(Path(log.name).read_text())
    proc.log_path = Path(log.name)  # type: ignore[attr-defined]  # the fixture hangs its log file on the process
    try:
        yield base, proc
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


def test_no_server_software_or_version_is_sent(server: tuple[str, subprocess.Popen[str]]) -> None:
    base, _ = server
    for path in ("/healthz", "/api/metrics", "/flow", "/no-such-page"):
        r = requests.get(base + path, timeout=30)
        assert "Server" not in r.headers, (path, r.headers.get("Server"))
        assert "Werkzeug" not in str(r.headers) and "Python" not in str(r.headers)


def test_a_delivery_posted_over_http_runs_the_ingest_road(server: tuple[str, subprocess.Popen[str]]) -> None:
    base, _ = server
    body = to_csv([vacancy_row(), vacancy_row(service_id="1-101", capacity=10, occupied=10, vacant_accepting=0,
                                              vacant_reserved=0)], VACANCY_COLUMNS)
    first = requests.post(f"{base}/api/ingest/vacancy", data=body, timeout=60)
    assert first.status_code == 200, first.text
    summary = first.json()
    assert (summary["feed"], summary["status"], summary["rows_read"], summary["rows_loaded"],
            summary["rows_rejected"]) == ("vacancy", "ok", 2, 2, 0)
    again = requests.post(f"{base}/api/ingest/vacancy", data=body, timeout=60)
    assert again.status_code == 200 and again.json()["status"] == "unchanged"
    # the run log shows both runs, as the scheduler's would
    runs = requests.get(f"{base}/api/feeds?feed=vacancy&limit=2", timeout=30).json()
    assert [r["status"] for r in runs] == ["unchanged", "ok"]
    # one good row and one with a capacity that is not a number: partial, still 200 (see `status`)
    mixed = to_csv([vacancy_row(service_id="1-102"), vacancy_row(service_id="1-103", capacity="lots")],
                   VACANCY_COLUMNS)
    part = requests.post(f"{base}/api/ingest/vacancy", data=mixed, timeout=60)
    assert part.status_code == 200 and part.json()["status"] == "partial" and part.json()["rows_rejected"] == 1


@pytest.mark.parametrize("feed, body, status, param", [
    ("nonsense", b"a,b\n1,2\n", 400, "feed"),
    ("reference", b"a,b\n1,2\n", 400, "feed"),
    ("vacancy", b"", 400, "body"),
    ("vacancy", b"x" * (1024 * 1024 + 1), 413, "body"),  # HOMEWARD_INGEST_MAX_MB=1 on this server
])
def test_bad_deliveries_are_refused(server: tuple[str, subprocess.Popen[str]], feed: str, body: bytes,
                                    status: int, param: str) -> None:
    base, _ = server
    r = requests.post(f"{base}/api/ingest/{feed}", data=body, timeout=60)
    assert r.status_code == status, r.text
    assert r.json()["parameter"] == param


def test_an_unreadable_delivery_is_a_failed_run_and_400(server: tuple[str, subprocess.Popen[str]]) -> None:
    base, _ = server
    r = requests.post(f"{base}/api/ingest/vacancy", data=b"\x00\x01 not a csv at all", timeout=60)
    assert r.status_code == 400 and r.json()["status"] == "failed" and r.json()["error"]


GARBAGE_CALLBACKS: list[Any] = [
    b"not json", b"{", b"[]", b"null", b"42", b'"text"', b"{}",
    {"output": "nope.children"},
    {"output": "nope.children", "outputs": {"id": "nope", "property": "children"}, "inputs": [],
     "changedPropIds": []},
    {"output": 7, "outputs": [], "inputs": [], "changedPropIds": []},
    {"output": "flow-content.children", "outputs": "x", "inputs": {}, "changedPropIds": "x"},
    {"output": "flow-content.children", "outputs": {"id": "flow-content", "property": "children"},
     "inputs": [{"id": "flow-icb"}], "changedPropIds": ["flow-icb.value"]},
    {"output": "flow-content.children", "outputs": {"id": "flow-content", "property": "children"},
     "inputs": [1, 2, 3], "changedPropIds": [None]},
]


def test_garbage_callback_posts_are_400_with_one_log_line(server: tuple[str, subprocess.Popen[str]]) -> None:
    base, proc = server
    log_path: Path = proc.log_path  # type: ignore[attr-defined]  # the fixture hangs its log file on the process
    before = log_path.read_text()
    for body in GARBAGE_CALLBACKS:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        r = requests.post(f"{base}/_dash-update-component", data=data,
                          headers={"Content-Type": "application/json"}, timeout=30)
        assert r.status_code == 400, (body, r.status_code, r.text[:300])
    added = log_path.read_text()[len(before):]
    assert "Traceback" not in added
    assert added.count("refused a callback request") == len(GARBAGE_CALLBACKS), added[-2000:]


# --- fuzz ------------------------------------------------------------------------

API_ROUTES = ("/healthz", "/api/metrics", "/api/metrics/nctr_count", "/api/metrics/capacity",
              "/api/metrics/occupancy_rate", "/api/metrics/discharges", "/api/metrics/no_such",
              "/api/datasets", "/api/export/cases", "/api/export/capacity", "/api/export/metric", "/api/exports",
              "/api/feeds")
PAGES = ("/", "/wall", "/capacity", "/flow", "/delays", "/outcomes", "/benchmark", "/data", "/definitions",
         "/export")
KEYS = ("from", "to", "at", "grain", "by", "icb", "hwb", "place", "pathway", "service_type", "limit", "format",
        "name", "feed", "month", "nonsense", "", "from[]", "%00")
ODD_VALUES = ("0001-01-01", "9999-12-31", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00", "-2024-01-01",
              "2024-13-45", "2024-02-30", "1990-01-01", "2026-01-01", "99999999", "-1", "0", "1e308", "NaN",
              "day", "week", "month", "year", "hour", "hwb,icb,place,pathway", "bogus", "QWO", "E08000035",
              "\u00e9\u00e8\U0001F600", "\u202e2024", "' OR 1=1 --", "<script>", "%", "%%", "\x00", " ",
              "2024-01-01T25:61:61", "2024-03-31T01:30:00", "9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+14:00")


def _value(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.07:
        return rng.choice("ab9-,") * rng.randint(1000, 6000)  # very long
    if roll < 0.2:
        return f"{rng.randint(-5000, 99999):04d}-{rng.randint(0, 19):02d}-{rng.randint(0, 40):02d}"
    return rng.choice(ODD_VALUES)


def _query(rng: random.Random) -> str:
    pairs = [(rng.choice(KEYS), _value(rng)) for _ in range(rng.randint(1, 6))]
    if rng.random() < 0.3:
        pairs += [pairs[0]] * rng.randint(1, 3)  # repeated parameters
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)


def _page_callbacks(base: str) -> list[dict[str, Any]]:
    deps = requests.get(f"{base}/_dash-dependencies", timeout=30).json()
    return [d for d in deps if d.get("clientside_function") is None]


def _callback_body(dep: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    def prop(spec: dict[str, Any]) -> dict[str, Any]:
        value: Any = rng.choice([_value(rng), None, [_value(rng)], rng.randint(-10**9, 10**9), {"a": 1}])
        return {"id": spec["id"], "property": spec["property"], "value": value}
    out = dep["output"]
    outputs = [{"id": o.split(".")[0], "property": o.split(".")[-1]} for o in out.strip(".").split("...")]
    return {"output": out, "outputs": outputs if out.startswith("..") else outputs[0],
            "inputs": [prop(i) for i in dep["inputs"]], "state": [prop(s) for s in dep.get("state", [])],
            "changedPropIds": [f"{i['id']}.{i['property']}" for i in dep["inputs"][:1]]}


def _router_body(page: str, query: str) -> dict[str, Any]:
    return {"output": ".._pages_content.children..._pages_store.data..",
            "outputs": [{"id": "_pages_content", "property": "children"}, {"id": "_pages_store", "property": "data"}],
            "inputs": [{"id": "_pages_location", "property": "pathname", "value": page},
                       {"id": "_pages_location", "property": "search", "value": f"?{query}"}],
            "changedPropIds": ["_pages_location.pathname"], "state": []}


def test_flow_with_an_absurd_window_says_so_instead_of_charts(server: tuple[str, subprocess.Popen[str]]) -> None:
    base, _ = server
    t0 = time.monotonic()
    r = requests.post(f"{base}/_dash-update-component", json=_router_body("/flow", "from=0001-01-01&to=9999-12-31"),
                      timeout=30)
    assert r.status_code == 200 and time.monotonic() - t0 < 10
    assert "must lie within 2000-01-01 .. 2100-01-01" in r.text
    assert '"type": "Graph"' not in r.text and '"type":"Graph"' not in r.text


def test_fuzzed_query_strings_never_500(server: tuple[str, subprocess.Popen[str]]) -> None:
    base, proc = server
    rng = random.Random(12)
    requests.get(f"{base}/flow", timeout=60)  # first loads warm the process before memory is measured
    rss_before = _rss_kb(proc.pid)
    callbacks = [d for d in _page_callbacks(base) if isinstance(d["output"], str) and "{" not in d["output"]]
    assert callbacks, "no server-side callbacks found"
    slowest, tried, pages_laid_out = 0.0, 0, 0
    session = requests.Session()
    started = time.monotonic()
    for i in range(300):
        kind = i % 3  # an API route; a page and its layout; one of the pages' own callbacks
        t0 = time.monotonic()
        if kind == 0:
            url = f"{base}{rng.choice(API_ROUTES)}?{_query(rng)}"
            r = session.get(url, timeout=30)
        elif kind == 1:
            page, query = rng.choice(PAGES), _query(rng)
            url = f"{base}{page}?{query}"
            r = session.get(url, timeout=30)
            assert r.status_code < 500, (url, r.status_code, r.text[:400])
            # the page's layout for that URL, as the browser asks Dash's pages router for it
            r = session.post(f"{base}/_dash-update-component", json=_router_body(page, query), timeout=30)
            pages_laid_out += r.status_code == 200
        else:
            dep = rng.choice(callbacks)
            url = f"{base}/_dash-update-component ({dep['output']})"
            r = session.post(f"{base}/_dash-update-component", json=_callback_body(dep, rng), timeout=30)
        took = time.monotonic() - t0
        slowest = max(slowest, took)
        tried += 1
        assert r.status_code < 500, (url, r.status_code, r.text[:400])
        assert took < 10, (url, took)
    rss_growth_mb = (_rss_kb(proc.pid) - rss_before) / 1024
    assert pages_laid_out >= 80  # bad filters are said in words on the page, not refused
    print(f"fuzz: {tried} requests in {time.monotonic() - started:.1f} s, slowest {slowest:.2f} s, "
          f"server RSS growth {rss_growth_mb:.0f} MB")
    assert rss_growth_mb < 400
    assert "Traceback" not in proc.log_path.read_text()  # type: ignore[attr-defined]  # the fixture hangs its log file on the process


def test_gunicorn_workers_send_no_version(tmp_path: Path) -> None:
    """The scaled-out form (`gunicorn app:server`): its Server header names no version, nor Werkzeug/Python."""
    url = f"duckdb:///{tmp_path / 'store.duckdb'}"
    env = {**os.environ, "HOMEWARD_DATA_DIR": str(tmp_path / "data"), "HOMEWARD_DB_URL": url,
           "HOMEWARD_PSEUDO_KEY": "test-key-not-secret", "HOMEWARD_AUTH": "none"}
    db.init_store(url)
    db.dispose_all()
    port = _free_port()
    gunicorn = Path(sys.executable).with_name("gunicorn")
    proc = subprocess.Popen([str(gunicorn), "--workers", "1", "--bind", f"127.0.0.1:{port}", "app:server"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                r = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline and proc.poll() is None, "gunicorn did not start"
                time.sleep(0.2)
        assert r.status_code == 200
        assert r.headers.get("Server") == "gunicorn"  # the name only: no version
        assert "Werkzeug" not in str(r.headers) and "Python" not in str(r.headers)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
