"""The road itself: sources (file, folder, URL), the CLI, bad deliveries, privacy, crash safety, scheduling."""
from __future__ import annotations

import http.server
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Iterator

import pytest
import sqlalchemy as sa

from ingest.base import run_feed
from ingest.cli import run_ingest_command
from ingest.scheduler import FeedJob, build_scheduler, stop_scheduler
from models import settings
from tests.fixtures.ingest.data import (
    CASE_COLUMNS,
    INVALID_NHS,
    VACANCY_COLUMNS,
    case_row,
    to_csv,
    vacancy_row,
    valid_nhs_numbers,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _no_settle_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests drop whole files at once; settling is tested in test_ingest_hardening.py."""
    monkeypatch.setenv("HOMEWARD_SETTLE_SECONDS", "0")


def rows(engine: sa.Engine, sql: str) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql))]


@pytest.mark.parametrize("payload, error_start", [
    (b"\x00\xff\xfe garbage \x81\x82" * 50, "the delivery is not UTF-8 text"),
    (b'[{"service_id": "1-100", "capacity": 3', "the JSON cannot be read"),
    (b"", "the delivery is empty"),
    (b"service_id,capacity\n1-100,3\n", "required column missing: service_type, occupied, vacant_accepting, reported_at"),
], ids=["garbage", "truncated-json", "empty", "missing-columns"])
def test_unreadable_delivery_fails_whole(duck_store: sa.Engine, tmp_path: Path, payload: bytes, error_start: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(payload)
    code = run_ingest_command("vacancy", str(path), as_json=True)
    out = json.loads(capsys.readouterr().out)
    assert code == 2 and out["status"] == "failed" and out["rows_loaded"] == 0
    assert out["error"].startswith(error_start)
    assert rows(duck_store, "SELECT status FROM ingest_run") == [("failed",)]


def test_cli_json_and_exit_codes(duck_store: sa.Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.csv"
    good.write_bytes(to_csv([vacancy_row()], VACANCY_COLUMNS))
    assert run_ingest_command("vacancy", str(good), as_json=True) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"feed", "source", "status", "rows_read", "rows_loaded", "rows_rejected", "payload_sha256", "error"}
    assert (out["status"], out["rows_loaded"]) == ("ok", 1)
    assert run_ingest_command("vacancy", str(good), as_json=True) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "unchanged"
    some_bad = tmp_path / "partial.csv"
    some_bad.write_bytes(to_csv([vacancy_row(reported_at="2024-07-02T09:00:00Z"), vacancy_row(occupied="x")],
                                VACANCY_COLUMNS))
    assert run_ingest_command("vacancy", str(some_bad), as_json=False) == 3
    assert "partial" in capsys.readouterr().out


def test_folder_source_moves_deliveries(duck_store: sa.Engine, tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "a.csv").write_bytes(to_csv([vacancy_row()], VACANCY_COLUMNS))
    (drop / "b.csv").write_bytes(b"\xff\xfe\x00 not a csv")
    (drop / ".c.csv.part").write_bytes(b"still being written")
    summary = run_feed(duck_store, "vacancy", str(drop))
    assert [p.status for p in summary.parts] == ["ok", "failed"]
    assert summary.status == "failed" and summary.exit_code == 2
    assert sorted(p.name for p in (drop / "processed").iterdir()) == ["a.csv"]
    assert sorted(p.name for p in (drop / "failed").iterdir()) == [".failed.json", "b.csv"]  # (what it failed as)
    assert sorted(p.name for p in drop.iterdir() if p.is_file()) == [".c.csv.part"]
    again = run_feed(duck_store, "vacancy", str(drop))
    assert (again.status, again.parts) == ("unchanged", [])


class _Feed(http.server.BaseHTTPRequestHandler):
    body = b""
    etag = '"v1"'
    requests: list[str | None] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        type(self).requests.append(self.headers.get("If-None-Match"))
        if self.headers.get("If-None-Match") == self.etag:
            self.send_response(304)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("ETag", self.etag)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def feed_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Feed)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/vacancy.csv"
    server.shutdown()


def test_url_source_conditional_get(duck_store: sa.Engine, feed_server: str) -> None:
    _Feed.body, _Feed.requests = to_csv([vacancy_row()], VACANCY_COLUMNS), []
    first = run_feed(duck_store, "vacancy", feed_server)
    second = run_feed(duck_store, "vacancy", feed_server)
    assert (first.status, second.status) == ("ok", "unchanged")
    assert second.error == "not modified (HTTP 304)" and second.payload_sha256 == first.payload_sha256
    assert _Feed.requests == [None, '"v1"']
    refused = run_feed(duck_store, "vacancy", "http://127.0.0.1:9/nothing.csv")
    assert refused.status == "failed" and refused.error.startswith("fetch failed")


def test_no_clear_nhs_number_anywhere(duck_store: sa.Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    numbers = valid_nhs_numbers(50)
    good = [case_row(case_id=f"C{i}", nhs_number=n) for i, n in enumerate(numbers)]
    bad = [case_row(case_id="X1", nhs_number=INVALID_NHS), case_row(case_id="X2", nhs_number=numbers[0], age=7)]
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "cases.csv").write_bytes(to_csv(good + bad, CASE_COLUMNS))
    # A broken last row, with a number in it: one reject whose reason does not quote it; the rest load.
    (drop / "broken.csv").write_bytes(to_csv(good[:2], CASE_COLUMNS) + f'"C9,{numbers[1]}\n'.encode())
    (drop / "cases.csv").touch()
    assert run_ingest_command("hub_cases", str(drop), as_json=True) == 3
    printed = capsys.readouterr().out
    assert rows(duck_store, "SELECT count(*) FROM hub_case") == [(50,)]
    clear = [n.encode() for n in numbers] + [INVALID_NHS.encode()]
    spaced = [f"{n[:3]} {n[3:6]} {n[6:]}".encode() for n in numbers]
    duck_store.dispose()
    searched = 0
    for path in [*settings.data_dir().rglob("*"), *drop.rglob("*"), tmp_path / "store.duckdb"]:
        if path.is_file() and "drop" not in path.parts:  # the drop folder holds the hub's own files
            blob = path.read_bytes()
            searched += len(blob)
            assert not [n for n in clear + spaced if n in blob], path
    assert searched > 100_000
    text = printed + caplog.text
    assert not [n for n in numbers + [INVALID_NHS] if n in text]


def _big_vacancy_csv(path: Path, rows_wanted: int) -> None:
    with path.open("w") as fh:
        fh.write(",".join(VACANCY_COLUMNS) + "\n")
        for i in range(rows_wanted):
            fh.write(f"S{i % 2000},Service {i % 2000},Provider,P2_CARE_HOME,E08000035,40,20,10,5,"
                     f"2024-{1 + i // 2000 % 12:02d}-{1 + i // 24000 % 28:02d}T{i // 288000 % 24:02d}:00:00Z\n")


def _ingest_process(feed: str, source: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, str(ROOT / "app.py"), "ingest", feed, str(source), "--json"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)


def test_kill_9_mid_load_leaves_store_as_before_and_rerun_completes(duck_store: sa.Engine, tmp_path: Path) -> None:
    first = tmp_path / "first.csv"
    first.write_bytes(to_csv([vacancy_row(service_id="KEEP", reported_at="2023-01-01T00:00:00Z")], VACANCY_COLUMNS))
    assert run_feed(duck_store, "vacancy", str(first)).status == "ok"
    duck_store.dispose()
    from models.db import dispose_all
    dispose_all()
    big = tmp_path / "big.csv"
    _big_vacancy_csv(big, 600_000)
    env = dict(os.environ)
    proc = _ingest_process("vacancy", big, env)
    # Wait until the run row says `running` (the load has begun), then kill without warning.
    deadline = time.time() + 30
    import duckdb
    while time.time() < deadline:
        time.sleep(0.05)
        # The first delivery's copy is already there; the big one's appears once its run is `running`.
        if len(list((tmp_path / "data" / "raw" / "vacancy").rglob("*.csv"))) >= 2:
            time.sleep(0.3)
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    con = duckdb.connect(str(tmp_path / "store.duckdb"))
    assert con.execute("SELECT service_id FROM capacity_report").fetchall() == [("KEEP",)]
    assert con.execute("SELECT service_id, last_reported_at, last_capacity, last_occupied, last_vacant_accepting, "
                       "last_vacant_reserved FROM service").fetchall() == [("KEEP", datetime(2023, 1, 1), 20, 12, 5, 1)]
    assert con.execute("SELECT status FROM ingest_run ORDER BY run_id").fetchall() == [("ok",), ("running",)]
    con.close()
    proc = _ingest_process("vacancy", big, env)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert json.loads(out)["rows_loaded"] == 600_000
    con = duckdb.connect(str(tmp_path / "store.duckdb"))
    assert con.execute("SELECT count(*) FROM capacity_report").fetchall() == [(600_001,)]
    # Each service's last_reported_at is its latest report and the last_* figures that report's (kept in
    # the same transaction as the reports).
    assert con.execute("SELECT count(*), count(*) FILTER (WHERE s.last_reported_at = r.m AND (s.last_capacity, "
                       "s.last_occupied, s.last_vacant_accepting, s.last_vacant_reserved) = (r.c, r.o, r.a, r.v)) "
                       "FROM service s JOIN (SELECT service_id, max(reported_at) AS m, arg_max(capacity, reported_at) "
                       "AS c, arg_max(occupied, reported_at) AS o, arg_max(vacant_accepting, reported_at) AS a, "
                       "arg_max(vacant_reserved, reported_at) AS v FROM capacity_report GROUP BY 1) r "
                       "USING (service_id)").fetchall() == [(2001, 2001)]
    assert con.execute("SELECT status FROM ingest_run ORDER BY run_id").fetchall() == [("ok",), ("failed",), ("ok",)]
    con.close()


@pytest.mark.slow
def test_100_mb_vacancy_file(duck_store: sa.Engine, tmp_path: Path) -> None:
    big = tmp_path / "big.csv"
    _big_vacancy_csv(big, 1_250_000)
    assert big.stat().st_size > 95_000_000
    started = time.time()
    summary = run_feed(duck_store, "vacancy", str(big))
    assert (summary.status, summary.rows_loaded) == ("ok", 1_250_000)
    assert time.time() - started < 60
    # 2000 services x 625 distinct report times: every row is its own key.
    assert rows(duck_store, "SELECT count(*), count(DISTINCT service_id) FROM capacity_report") == [(1_250_000, 2000)]


def test_scheduler_runs_two_feeds_when_one_always_fails(duck_store: sa.Engine, tmp_path: Path) -> None:
    good_dir, bad_dir = tmp_path / "good", tmp_path / "bad"
    good_dir.mkdir()
    bad_dir.mkdir()
    (good_dir / "a.csv").write_bytes(to_csv([vacancy_row()], VACANCY_COLUMNS))
    (bad_dir / "x.csv").write_bytes(b"\xff\xfe broken")
    jobs = [FeedJob(name="good", kind="vacancy", source=str(good_dir), interval_seconds=0.3),
            # A folder that does not exist fails on every run.
            FeedJob(name="broken", kind="hub_cases", source=str(tmp_path / "missing"), interval_seconds=0.3),
            FeedJob(name="bad-file", kind="hub_cases", source=str(bad_dir), interval_seconds=0.3)]
    scheduler = build_scheduler(duck_store, jobs)
    scheduler.start()
    try:
        deadline = time.time() + 20
        while time.time() < deadline:
            time.sleep(0.2)
            failures = rows(duck_store, "SELECT count(*) FROM ingest_run WHERE feed = 'hub_cases' AND status = 'failed'")
            if failures[0][0] >= 3 and (good_dir / "processed" / "a.csv").exists():
                (good_dir / "b.csv").write_bytes(to_csv([vacancy_row(reported_at="2024-07-02T09:00:00Z")],
                                                        VACANCY_COLUMNS))
                break
        deadline = time.time() + 20
        while time.time() < deadline and not (good_dir / "processed" / "b.csv").exists():
            time.sleep(0.2)
    finally:
        stop_scheduler(scheduler)
    assert rows(duck_store, "SELECT count(*) FROM capacity_report") == [(2,)]
    errors = rows(duck_store, "SELECT DISTINCT error FROM ingest_run WHERE feed = 'hub_cases' AND status = 'failed'")
    assert ("FileNotFoundError: no such file, folder or URL: " + str(tmp_path / "missing"),) in errors
    assert ("the delivery is not UTF-8 text (it looks like UTF-16 or UTF-32); send UTF-8",) in errors
