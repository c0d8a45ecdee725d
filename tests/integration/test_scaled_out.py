"""The scaled-out form, for real: PostgreSQL store, gunicorn web workers, a separate scheduler process.

Web workers run without the scheduler; `python app.py scheduler` alone pulls the
feeds; both see the same numbers through the same store.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from models.tables import ingest_run

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).parent / "gunicorn"

VACANCY = (
    "service_id,service_name,service_type,hwb_code,capacity,occupied,vacant_accepting,vacant_reserved,reported_at\n"
    "1-100,Leeds reablement,P1_REABLEMENT,E08000035,50,40,6,1,{t}\n"
    "1-200,Leeds D2A beds,P2_CARE_HOME,E08000035,20,17,2,0,{t}\n"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> tuple[int, dict[str, Any]]:
    with urllib.request.urlopen(url, timeout=20) as resp:
        return resp.status, json.loads(resp.read())


@pytest.mark.slow
def test_gunicorn_workers_and_scheduler_over_postgresql(pg_store: sa.Engine, tmp_path: Path) -> None:
    store = pg_store
    url = store.url.render_as_string(hide_password=False)
    drop = tmp_path / "drop"
    drop.mkdir()
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60))
    (drop / "vacancy-1.csv").write_text(VACANCY.format(t=now))
    feeds = tmp_path / "feeds.toml"
    feeds.write_text(f'[[feed]]\nname = "capacity"\nkind = "vacancy"\nsource = "{drop}"\ninterval_seconds = 2\n')
    env = {**os.environ, "HOMEWARD_DB_URL": url, "HOMEWARD_FEEDS": str(feeds),
           "HOMEWARD_DATA_DIR": str(tmp_path / "data"), "HOMEWARD_DEMO": "0"}
    port = _free_port()
    web = subprocess.Popen([str(GUNICORN), "--workers", "2", "--bind", f"127.0.0.1:{port}", "--timeout", "60",
                            "app:server"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    scheduler = subprocess.Popen([sys.executable, "app.py", "scheduler"], cwd=ROOT, env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 60
        loaded = False
        while time.time() < deadline and not loaded:
            with store.connect() as conn:
                loaded = conn.execute(sa.select(sa.func.count()).select_from(ingest_run)
                                      .where(ingest_run.c.feed == "vacancy", ingest_run.c.status == "ok")).scalar_one() > 0
            time.sleep(0.5)
        assert loaded, "the scheduler process did not ingest the dropped file"
        assert (drop / "processed" / "vacancy-1.csv").exists()
        body = None
        for _ in range(60):
            try:
                status, body = _get(f"http://127.0.0.1:{port}/api/metrics/vacant_accepting?hwb=E08000035")
                break
            except OSError:
                time.sleep(0.5)
        assert body is not None, "gunicorn did not answer"
        assert status == 200 and body["rows"][0]["value"] == 8  # 6 + 2, by hand
        status, health = _get(f"http://127.0.0.1:{port}/healthz")
        assert status == 200 and health["feeds"]["vacancy"]["stale"] is False
    finally:
        for proc in (web, scheduler):
            proc.send_signal(signal.SIGTERM)
        for proc in (web, scheduler):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
