"""A real server on a free port over a temporary DuckDB store with known data, and headless Chromium.

The server runs in a thread of the test process (werkzeug), so tests can ask
`run_query` the same question against the same store (DuckDB lets only one
process hold the file) and can ingest or age feeds while the page is open.
One server and one browser per session keep the suite quick.
"""
from __future__ import annotations

import os
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest
import sqlalchemy as sa

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def browser_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    data_dir = tmp_path_factory.mktemp("browser-data")
    return {"HOMEWARD_DATA_DIR": str(data_dir), "HOMEWARD_DB_URL": f"duckdb:///{data_dir / 'store.duckdb'}",
            "HOMEWARD_PSEUDO_KEY": "test-key-not-secret", "HOMEWARD_FEEDS": str(data_dir / "feeds.toml")}


@pytest.fixture(autouse=True)
def _isolated_env(browser_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Overrides the suite's per-test data folder: the session's server reads one store throughout."""
    for key, value in browser_env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("HOMEWARD_PLACES", raising=False)
    monkeypatch.delenv("HOMEWARD_DEMO", raising=False)
    monkeypatch.delenv("HOMEWARD_CACHE_URL", raising=False)
    monkeypatch.setenv("HOMEWARD_AUTH", "none")  # the page suites predate sign-in (tests/integration/test_access.py)


@pytest.fixture(scope="session")
def seeded_at() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


@pytest.fixture(scope="session")
def engine(browser_env: dict[str, str], seeded_at: datetime) -> Iterator[sa.Engine]:
    saved = {k: os.environ.get(k) for k in browser_env}
    os.environ.update(browser_env)
    from models import db
    from tests.browser.seed import seed_store

    eng = db.init_store(browser_env["HOMEWARD_DB_URL"])
    seed_store(eng, seeded_at)
    yield eng
    db.dispose_all()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def server_url(engine: sa.Engine) -> Iterator[str]:
    from werkzeug.serving import make_server

    from dashboard.server import build_app

    app = build_app()
    server = make_server("127.0.0.1", 0, app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="homeward-test-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


class ConsoleLog:
    def __init__(self) -> None:
        self.errors: list[str] = []

    def attach(self, page: Any) -> None:
        page.on("console", lambda msg: self.errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="en-GB",
                                  timezone_id="Europe/London")
    pg = context.new_page()
    log = ConsoleLog()
    log.attach(pg)
    pg.console_log = log
    try:
        yield pg
    finally:
        context.close()


def wait_ready(page: Any, timeout: float = 20_000) -> None:
    """The Dash app has rendered and no callback is pending."""
    page.wait_for_selector("#main, .hw-wall", timeout=timeout)
    # Dash chains callbacks (URL -> filters -> sections): let the chain of requests finish first.
    try:
        page.wait_for_load_state("networkidle", timeout=timeout)
    except Exception:  # noqa: BLE001 - a page that polls may never go idle; the checks below still apply
        pass
    page.wait_for_function(
        "() => !document.querySelector('[data-dash-is-loading=\"true\"]') && !document.querySelector('._dash-loading')",
        timeout=timeout)
    page.wait_for_timeout(300)
