"""`python app.py query` / `metrics` as a user runs them: a real process over a real DuckDB file."""
from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests import metric_fixture

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "app.py"), *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120)


@pytest.fixture
def env(duck_store: sa.Engine, duck_url: str) -> dict[str, str]:
    metric_fixture.load(duck_store)
    duck_store.dispose()  # one process holds a DuckDB file at a time
    from models import db

    db.dispose_all()
    return {**os.environ, "HOMEWARD_DB_URL": duck_url}


def test_query_json_matches_the_api_shape(env: dict[str, str]) -> None:
    out = run("query", "discharges", "--at", "2024-04-01T12:00", "--from", "2024-03-01", "--to", "2024-04-01",
              "--by", "pathway", env=env)
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    assert body["metric"] == "discharges" and body["as_of"] == "2024-04-01T11:00:00Z"
    assert {r["pathway"]: r["value"] for r in body["rows"]} == {1: 3, 2: 1, 3: 1}  # by hand: see test_metrics


def test_query_where_and_csv(env: dict[str, str]) -> None:
    out = run("query", "nctr_count", "--at", "2024-03-13T12:00", "--where", "hwb=E08000032", "--format", "csv", env=env)
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert rows == [{"value": "2", "numerator": "", "denominator": ""}]  # C and D wait in Bradford
    both = run("query", "discharges", "--at", "2024-04-01T12:00", "--from", "2024-03-01", "--to", "2024-04-01",
               "--where", "hwb=E08000032", "--where", "hwb=E06000043", env=env)
    assert json.loads(both.stdout)["rows"][0]["value"] == 2  # repeated values mean either: C + E


@pytest.mark.parametrize("args", [
    ("query", "no_such_metric"),
    ("query", "nctr_count", "--by", "colour"),
    ("query", "nctr_count", "--where", "pathway=9"),
    ("query", "discharges", "--grain", "fortnight"),
    ("query", "nctr_count", "--at", "not-a-time"),
])
def test_query_errors_exit_2_with_one_line(env: dict[str, str], args: tuple[str, ...]) -> None:
    out = run(*args, env=env)
    assert out.returncode == 2
    assert out.stdout == ""
    assert len(out.stderr.strip().splitlines()) == 1 and out.stderr.startswith("error: ")


def test_metrics_lists_every_metric(env: dict[str, str]) -> None:
    from models.metrics import REGISTRY

    out = run("metrics", env=env)
    assert out.returncode == 0
    for name in REGISTRY:
        assert f" {name} " in out.stdout
    spec_names = {"capacity", "occupied", "vacant_accepting", "vacant_reserved", "unavailable", "occupancy_rate",
                  "services_reporting", "services_not_reporting", "referrals", "discharges", "pathway_share",
                  "ic_starts", "ic_ends", "hub_decision_hours", "ic_caseload", "awaiting_pathway", "nctr_count",
                  "nctr_over_7d", "nctr_over_14d", "nctr_over_21d", "nctr_days_total", "discharged_on_ready_day_rate",
                  "mean_delay_days", "p90_delay_days", "delay_bed_days", "ic_length_of_stay_days",
                  "ic_over_6_weeks_rate", "ic_outcome_share", "readmission_30d_rate", "home_91d_rate", "sitrep_nctr",
                  "sitrep_discharged", "sitrep_remaining", "sitrep_discharges_by_pathway"}
    assert spec_names <= set(REGISTRY)  # every metric of shared/spec/metrics.md
