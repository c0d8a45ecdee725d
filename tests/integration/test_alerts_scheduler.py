"""The scheduler evaluates the alerts right after a successful ingest run (not only each minute)."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlalchemy as sa

import app
from alerts.states import load_instances
from ingest import scheduler as sched
from ingest.scheduler import FeedJob, build_scheduler, stop_scheduler
from tests.fixtures.ingest.data import VACANCY_COLUMNS, to_csv, vacancy_row


def test_a_successful_ingest_run_brings_the_check_forward(duck_store: sa.Engine, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    rules = tmp_path / "alerts.toml"
    rules.write_text("feed_channels = []\n")
    monkeypatch.setenv("HOMEWARD_ALERTS", str(rules))
    monkeypatch.setenv("HOMEWARD_SETTLE_SECONDS", "0")  # the file below is complete: take it at once
    monkeypatch.setattr(sched, "HOOKS", [])
    app._wire_scheduler()
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "a.csv").write_bytes(to_csv([vacancy_row()], VACANCY_COLUMNS))
    scheduler = build_scheduler(duck_store, [FeedJob(name="v", kind="vacancy", source=str(drop),
                                                     interval_seconds=3600)])
    assert {j.id for j in scheduler.get_jobs()} == {"v", "alerts-check"}
    started = time.time()
    scheduler.start()
    try:
        found = {}
        wanted = {"feed_stale|feed:vacancy", "feed_stale|feed:hub_cases"}  # each instance is its own write
        while time.time() - started < 20 and not wanted <= found.keys():
            time.sleep(0.2)
            found = load_instances(duck_store)
    finally:
        stop_scheduler(scheduler)
    # the minute's check would come 60 s after the start; this one followed the ingest run
    assert time.time() - started < 20
    assert found["feed_stale|feed:vacancy"].state == "ok"  # just loaded
    assert found["feed_stale|feed:hub_cases"].state == "firing"  # never loaded
