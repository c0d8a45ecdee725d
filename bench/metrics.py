"""Benchmark of the metrics layer at national scale (the foundation issue's targets).

    .venv/bin/python bench/metrics.py            # full: 15,000 services, ~21.9M capacity reports, 1.5M cases
    .venv/bin/python bench/metrics.py --quick    # 10x smaller, under a minute
    .venv/bin/python bench/metrics.py --regenerate --metrics nctr_count,capacity

It generates a synthetic national store (real reference geography, synthetic
feeds) into a DuckDB file under bench/out/ with DuckDB SQL only (no Python
row loops), reusing the file if it is there. Then, for every metric in the
registry, it times `run_query` (uncached, a fresh query each time) for the
total and `by=hwb`, and a hand-written DuckDB SQL for the same total, checks
that the two agree, and prints one table.

Targets (2-core machine): every metric's p95 <= 200 ms, and the layer's
overhead <= 1.3x the hand-written SQL.
"""
from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import duckdb  # noqa: E402

from models import db  # noqa: E402
from models.metrics import REGISTRY  # noqa: E402
from models.periods import LONDON, UTC, london_midnight_utc  # noqa: E402
from models.query import MetricQuery, run_query  # noqa: E402
from models.tables import CASE_DATES, hub_case  # noqa: E402
from models.vocab import DELAY_REASONS, IC_OUTCOMES, SERVICE_TYPES  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"
T0 = datetime(2024, 1, 1)  # naive UTC, first instant of the data
DAYS = 366  # 2024 is a leap year: the data covers the whole of it
AT_LOCAL = "2024-12-16T12:00"  # London; the benchmark's `at`, inside the data
MEMORY_LIMIT = "4GB"  # while timing queries
GEN_MEMORY_LIMIT = "10GB"  # while generating: the primary key index of 22M reports is built in memory
P95_TARGET_MS = 200.0
OVERHEAD_TARGET = 1.3


@dataclass(frozen=True)
class Scale:
    services: int
    cases: int
    name: str


FULL = Scale(services=15_000, cases=1_500_000, name="national.duckdb")
QUICK = Scale(services=1_500, cases=150_000, name="national_quick.duckdb")


# --- data generation ---------------------------------------------------------------------------

def _ts(value: datetime) -> str:
    return f"TIMESTAMP '{value.isoformat(sep=' ')}'"


def generate(path: Path, scale: Scale) -> None:
    """Create the store (schema + reference geography) and fill it with a year of national data."""
    if path.exists():
        path.unlink()
    wal = path.with_suffix(path.suffix + ".wal")
    if wal.exists():
        wal.unlink()
    url = f"duckdb:///{path}"
    db.init_store(url)  # the real schema and the 42 ICBs / 151 HWBs
    db.dispose_all()

    t_start = time.perf_counter()
    con = duckdb.connect(str(path))
    con.execute(f"SET memory_limit = '{GEN_MEMORY_LIMIT}'")
    con.execute("SET preserve_insertion_order = true")
    con.execute("SELECT setseed(0.42)")
    end = T0 + timedelta(days=DAYS)
    n_hwb = con.execute("SELECT count(*) FROM hwb").fetchone()[0]

    def step(label: str, sql: str) -> None:
        t = time.perf_counter()
        con.execute(sql)
        print(f"  {label:<34} {time.perf_counter() - t:6.1f} s", flush=True)

    types = list(SERVICE_TYPES.items())
    type_values = ", ".join(f"({i}, '{t}', {p})" for i, (t, p) in enumerate(types))
    # Services: spread evenly over the HWBs, all 8 types; 1 in 20 first reports later in the year,
    # ~1 % stop reporting at some point (they become "not reporting").
    step("services", f"""
        CREATE TEMP TABLE hwb_ix AS SELECT hwb_code, icb_code, (row_number() OVER (ORDER BY hwb_code) - 1)::INT AS hi
        FROM hwb;
        CREATE TEMP TABLE svc AS
        SELECT i, printf('SVC%05d', i) AS service_id, t.service_type, t.pathway, h.hwb_code,
               CASE WHEN i % 20 = 19 THEN {_ts(T0)} + to_days((hash(i, 1) % 300)::INT) ELSE {_ts(T0)} END
                   AS first_reported_at,
               (hash(i, 2) % 120)::INT AS jitter_min,
               CASE t.pathway WHEN 1 THEN 20 + hash(i, 3) % 60 WHEN 2 THEN 10 + hash(i, 3) % 30
                    ELSE 20 + hash(i, 3) % 40 END::INT AS base_capacity,
               CASE WHEN i % 97 = 5 THEN (hash(i, 4) % {DAYS * 4})::INT ELSE {DAYS * 4 + 1} END AS stop_slot
        FROM range({scale.services}) r(i)
        JOIN hwb_ix h ON h.hi = i % {n_hwb}
        JOIN (VALUES {type_values}) t(ti, service_type, pathway) ON t.ti = (i // {n_hwb}) % 8;
        INSERT INTO service (service_id, service_name, provider_name, service_type, pathway, hwb_code,
                             first_reported_at, updated_run_id)
        SELECT service_id, 'Service ' || i, 'Provider ' || (i % 3000), service_type, pathway,
               hwb_code, first_reported_at, 1 FROM svc ORDER BY i;
    """)

    # Capacity reports: every service 4 times a day (00, 06, 12, 18 h UTC + its own 0-2 h jitter),
    # ~2 % of reports missed. Generated month by month into a scratch table in time order, then
    # appended in one statement (the zone maps depend on the order; appending 22M rows to the
    # primary key's index in one go is ~10x faster than month by month), and the reported_at index
    # built afterwards in bulk.
    slots_per_chunk = 4 * 31
    t = time.perf_counter()
    con.execute("CREATE TEMP TABLE cap_gen AS SELECT * FROM capacity_report LIMIT 0")
    for lo in range(0, DAYS * 4, slots_per_chunk):
        hi = min(lo + slots_per_chunk, DAYS * 4)
        con.execute(f"""
            INSERT INTO cap_gen
            SELECT service_id, reported_at, capacity, occupied, open - occupied - reserved, reserved, 1
            FROM (
                SELECT *, least(open - occupied, (hash(i, slot, 5) % 3)::INT) AS reserved
                FROM (
                    SELECT i, slot, service_id,
                           {_ts(T0)} + to_minutes(slot * 360 + jitter_min) AS reported_at,
                           first_reported_at,
                           base_capacity AS capacity,
                           base_capacity - (hash(i, slot, 3) % 3)::INT AS open,
                           ((base_capacity - (hash(i, slot, 3) % 3)::INT) * (75 + (hash(i, slot, 4) % 26)::INT)) // 100
                               AS occupied
                    FROM range({lo}, {hi}) sl(slot) CROSS JOIN svc
                    WHERE slot < stop_slot AND hash(i, slot, 7) % 100 >= 2
                )
                WHERE reported_at >= first_reported_at
            )
            ORDER BY reported_at, service_id
        """)
    print(f"    capacity_report generated          {time.perf_counter() - t:6.1f} s", flush=True)
    con.execute("DROP INDEX ix_capacity_report_reported_at")
    con.execute("INSERT INTO capacity_report SELECT * FROM cap_gen")
    print(f"    capacity_report appended           {time.perf_counter() - t:6.1f} s", flush=True)
    con.execute("CREATE INDEX ix_capacity_report_reported_at ON capacity_report (reported_at)")
    con.execute("DROP TABLE cap_gen")
    # service.last_reported_at and its report's figures, as the vacancy loader keeps them
    # (models.db.backfill_last_reported_at).
    con.execute("UPDATE service SET last_reported_at = l.reported_at, last_capacity = l.capacity, "
                "last_occupied = l.occupied, last_vacant_accepting = l.vacant_accepting, "
                "last_vacant_reserved = l.vacant_reserved FROM (SELECT service_id, max(reported_at) AS reported_at, "
                "arg_max(capacity, reported_at) AS capacity, arg_max(occupied, reported_at) AS occupied, "
                "arg_max(vacant_accepting, reported_at) AS vacant_accepting, "
                "arg_max(vacant_reserved, reported_at) AS vacant_reserved "
                "FROM capacity_report GROUP BY service_id) l WHERE service.service_id = l.service_id")
    n_cap = con.execute("SELECT count(*) FROM capacity_report").fetchone()[0]
    print(f"  capacity_report: {n_cap:,} rows      {time.perf_counter() - t:6.1f} s", flush=True)

    reasons = ", ".join(f"'{r}'" for r in DELAY_REASONS)
    outcomes = ", ".join(f"'{o}'" for o in IC_OUTCOMES)
    year_s = DAYS * 86400
    k_max = max(1, int((scale.services / n_hwb - 8) // 8) + 1)  # destination: a service of the case's HWB and pathway
    con.execute("CREATE TEMP TABLE trust_ix AS "
                "SELECT trust_code, (row_number() OVER (ORDER BY trust_code) - 1)::INT AS ti FROM trust")
    n_trust = con.execute("SELECT count(*) FROM trust_ix").fetchone()[0]  # a constant: a subquery here nests loops
    base_columns = ", ".join(c.name for c in hub_case.columns if c.name not in CASE_DATES.values())
    step("hub_case", f"""
        INSERT INTO hub_case ({base_columns})
        WITH base AS (
            SELECT i,
                   {_ts(T0)} + to_seconds(i * {year_s} // {scale.cases} + hash(i, 1) % 20) AS referred_at,
                   (hash(i, 3) % {n_hwb})::INT AS hi,
                   hash(i, 4) % 100 AS u_path,
                   hash(i, 5) % 100 AS u_age,
                   (hash(i, 6) % 1000) / 1000.0 AS u_decide,
                   hash(i, 7) % 100 AS u_ready,
                   hash(i, 8) % 1000 AS u_delay,
                   hash(i, 9) % 28800 AS delay_s,
                   hash(i, 10) % 100 AS u_ic,
                   (hash(i, 11) % 1000) / 1000.0 AS u_ic_len,
                   hash(i, 12) % 100 AS u_out,
                   hash(i, 13) % 100 AS u_readmit,
                   hash(i, 14) % 100 AS u_91,
                   hash(i, 15) AS h_misc
            FROM range({scale.cases}) r(i)
        ), shaped AS (
            SELECT *,
                   CASE WHEN u_path < 70 THEN 1 WHEN u_path < 87 THEN 2 ELSE 3 END AS pw,
                   CASE WHEN u_age < 18 THEN 18 + (h_misc % 47)::INT ELSE 65 + (h_misc % 37)::INT END AS age,
                   referred_at + to_seconds((3600 * (1 + u_decide * u_decide * 120))::BIGINT) AS decided_raw,
                   CASE WHEN u_ready < 96 THEN referred_at + to_seconds((h_misc % 172800)::BIGINT) END AS ready,
                   CASE WHEN u_delay < 450 THEN 0
                        ELSE 1 + floor(pow((u_delay - 450) / 550.0, 2) * 30)::INT END AS delay_days
            FROM base
        ), discharged AS (
            SELECT *,
                   CASE WHEN ready IS NULL THEN
                            CASE WHEN u_ready < 98 THEN referred_at + to_days(1 + (h_misc % 5)::INT) END
                        WHEN u_readmit >= 97 AND u_out = 0 THEN NULL  -- a few never leave: long waiters
                        ELSE ready + to_days(delay_days) + to_seconds(delay_s::BIGINT) END AS disch_raw
            FROM shaped
        ), timed AS (
            SELECT *,
                   CASE WHEN decided_raw < {_ts(end)} THEN decided_raw END AS decided,
                   CASE WHEN disch_raw < {_ts(end)} THEN disch_raw END AS disch,
                   CASE WHEN disch_raw < {_ts(end)} AND ((pw IN (1, 2) AND u_ic < 85) OR (pw = 3 AND u_ic < 10))
                        THEN disch_raw + to_seconds((h_misc % 86400)::BIGINT) END AS ic_start_raw
            FROM discharged
        ), ic AS (
            SELECT *,
                   CASE WHEN ic_start_raw < {_ts(end)} THEN ic_start_raw END AS ic_start,
                   CASE WHEN ic_start_raw < {_ts(end)}
                        THEN ic_start_raw + to_days((3 + pow(u_ic_len, 1.5) * 80)::INT) END AS ic_end_raw,
                   CASE WHEN disch IS NOT NULL AND u_readmit < 12
                        THEN disch + to_days(1 + (h_misc % 60)::INT) END AS readmit_raw
            FROM timed
        )
        SELECT 'HUB-' || h.icb_code AS hub_id,
               printf('C%08d', i) AS case_id,
               md5(i::VARCHAR)[1:16] AS person_id,
               age, h.hwb_code, t.trust_code AS acute_site_code,
               referred_at - to_days(1 + (h_misc % 9)::INT) AS admitted_at,
               referred_at,
               ready AS discharge_ready_at,
               CASE WHEN decided IS NOT NULL THEN pw END AS pathway,
               decided AS pathway_decided_at,
               CASE WHEN ready IS NOT NULL AND (disch IS NULL OR delay_days >= 1) AND u_out < 90
                    THEN [{reasons}][1 + (h_misc % {len(DELAY_REASONS)})::INT] END AS delay_reason,
               disch AS discharged_at,
               CASE WHEN disch IS NOT NULL AND decided IS NOT NULL THEN
                   printf('SVC%05d', hi + {n_hwb} * (
                       CASE pw WHEN 1 THEN h_misc % 3 WHEN 2 THEN 3 + h_misc % 3 ELSE 6 + h_misc % 2 END
                       + 8 * (hash(i, 16) % {k_max}))::INT) END AS destination_service_id,
               ic_start AS ic_started_at,
               CASE WHEN ic_end_raw < {_ts(end)} THEN ic_end_raw END AS ic_ended_at,
               CASE WHEN ic_end_raw < {_ts(end)} AND u_out < 95
                    THEN [{outcomes}][1 + (hash(i, 17) % {len(IC_OUTCOMES)})::INT] END AS ic_outcome,
               CASE WHEN readmit_raw < {_ts(end)} THEN readmit_raw END AS readmitted_at,
               CASE WHEN disch IS NOT NULL AND disch + INTERVAL 91 DAY <= {_ts(end)} AND u_91 < 95 THEN
                   CASE WHEN u_91 < 80 THEN 'at_home' WHEN u_91 < 86 THEN 'care_home' WHEN u_91 < 89 THEN 'died'
                        WHEN u_91 < 92 THEN 'in_hospital' ELSE 'unknown' END END AS status_91d,
               greatest(referred_at, coalesce(decided, referred_at), coalesce(ready, referred_at),
                        coalesce(disch, referred_at), coalesce(ic_start, referred_at),
                        coalesce(CASE WHEN ic_end_raw < {_ts(end)} THEN ic_end_raw END, referred_at),
                        coalesce(CASE WHEN readmit_raw < {_ts(end)} THEN readmit_raw END, referred_at))
                   AS updated_at,
               2 AS run_id
        FROM ic
        JOIN hwb_ix h USING (hi)
        JOIN trust_ix t ON t.ti = (hash(i, 18) % {n_trust})::INT
        ORDER BY referred_at
    """)

    # each event's London date, as the hub-case loader stores it (models.db.fill_case_dates)
    from duckdb_engine import Dialect as DuckDBDialect
    step("hub_case London dates", str(db.case_dates_update().compile(dialect=DuckDBDialect())))

    # Published sitreps: a year of daily england / region / icb / trust figures (1 % not submitted),
    # and monthly discharges by pathway.
    step("sitrep_value", f"""
        CREATE TEMP TABLE orgs AS
        SELECT 'england' AS level, 'ENG' AS org_code, 12000 AS size UNION ALL
        SELECT 'region', region_code, 1700 FROM region UNION ALL
        SELECT 'icb', icb_code, 300 FROM icb UNION ALL
        SELECT 'trust', trust_code, 90 FROM trust;
        INSERT INTO sitrep_value
        SELECT 'nhse_acute_sitrep', d::DATE, 'day', level, org_code, NULL, NULL, m.measure, NULL,
               CASE WHEN hash(org_code, d, m.measure) % 100 = 0 THEN NULL
                    ELSE round(size * m.share * (0.9 + (hash(org_code, d, m.measure, 1) % 200) / 1000.0)) END,
               'bench', 3
        FROM range(DATE '{T0.date()}', DATE '{end.date()}', INTERVAL 1 DAY) r(d)
        CROSS JOIN orgs
        CROSS JOIN (VALUES ('nctr', 1.0), ('discharged', 0.45), ('remaining', 0.55)) m(measure, share)
        ORDER BY d, level, org_code, m.measure;
        INSERT INTO sitrep_value
        SELECT 'nhse_acute_sitrep', d::DATE, 'month', level, org_code, NULL, NULL, 'discharges_' || lower(pw), pw,
               round(size * 10 * share * (0.9 + (hash(org_code, d, pw) % 200) / 1000.0)), 'bench', 3
        FROM range(DATE '{T0.date()}', DATE '{end.date()}', INTERVAL 1 MONTH) r(d)
        CROSS JOIN orgs
        CROSS JOIN (VALUES ('P0', 0.5), ('P1', 0.3), ('P2', 0.1), ('P3', 0.05)) m(pw, share)
        ORDER BY d, level, org_code, pw;
    """)

    # Ingest runs: one every 15 minutes over the year (what the scheduler would leave behind).
    step("ingest_run", f"""
        INSERT INTO ingest_run (run_id, feed, source, started_at, finished_at, status, rows_read, rows_loaded,
                                rows_rejected)
        SELECT i + 1, CASE i % 3 WHEN 0 THEN 'vacancy' WHEN 1 THEN 'hub_cases' ELSE 'nhse_acute_sitrep' END,
               'bench', {_ts(T0)} + to_minutes(i * 15), {_ts(T0)} + to_minutes(i * 15 + 1),
               CASE WHEN i % 50 = 0 THEN 'unchanged' ELSE 'ok' END, 100, 100, 0
        FROM range({DAYS * 96}) r(i) ORDER BY i;
    """)
    con.execute("CHECKPOINT")
    con.close()
    print(f"  generated {path} in {time.perf_counter() - t_start:.0f} s "
          f"({path.stat().st_size / 1e9:.2f} GB)", flush=True)



# --- the benchmark ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Instants:
    """The benchmark's `at` and windows as naive UTC SQL literals, for the hand-written SQL."""
    at: datetime
    at_date: date

    def window(self, lag_days: int = 0) -> tuple[date, date]:
        """[from, to) London days: the 28 days ending with `at`'s day, moved back `lag_days`."""
        to = self.at_date + timedelta(days=1 - lag_days)
        return to - timedelta(days=28), to

    def bounds(self, lag_days: int = 0) -> tuple[str, str]:
        first, last = self.window(lag_days)
        return _ts(london_midnight_utc(first)), _ts(min(london_midnight_utc(last), self.at))


def _instants() -> Instants:
    at = datetime.fromisoformat(AT_LOCAL).replace(tzinfo=LONDON).astimezone(UTC)
    return Instants(at=at.replace(tzinfo=None), at_date=at.astimezone(LONDON).date())


# Outcome metrics look back: their window ends 30 / 91 days before `at` so that cases have had time
# to be readmitted / reach 91 days (as a report of them would ask).
LAG_DAYS = {"readmission_30d_rate": 30, "home_91d_rate": 91}


def _ld(col: str) -> str:
    """London calendar date of a naive-UTC timestamp."""
    return f"(({col} AT TIME ZONE 'UTC') AT TIME ZONE 'Europe/London')::DATE"


def _days(a: str, b: str) -> str:
    return f"({_ld(b)} - {_ld(a)})"


def hand_sql(i: Instants) -> dict[str, str]:
    """Each metric's total, written by hand in DuckDB SQL, as one would without the layer."""
    at = _ts(i.at)
    stale_from = _ts(i.at - timedelta(hours=24))
    s, e = i.bounds()
    latest = f"""WITH latest AS (
        SELECT service_id, arg_max(capacity, reported_at) AS capacity, arg_max(occupied, reported_at) AS occupied,
               arg_max(vacant_accepting, reported_at) AS vacant_accepting,
               arg_max(vacant_reserved, reported_at) AS vacant_reserved
        FROM capacity_report WHERE reported_at >= {stale_from} AND reported_at <= {at} GROUP BY service_id)"""
    waiting = f"discharge_ready_at <= {at} AND (discharged_at IS NULL OR discharged_at > {at})"
    cut = {d: _ts(london_midnight_utc(i.at_date - timedelta(days=d - 1))) for d in (7, 14, 21)}
    disch = f"discharged_at >= {s} AND discharged_at < {e}"
    ready_disch = f"{disch} AND discharge_ready_at IS NOT NULL"
    ic_end = f"ic_ended_at >= {s} AND ic_ended_at < {e} AND ic_started_at IS NOT NULL"
    delay = _days("discharge_ready_at", "discharged_at")
    ic_days = _days("ic_started_at", "ic_ended_at")
    rs, re_ = i.bounds(LAG_DAYS["readmission_30d_rate"])
    hs, he = i.bounds(LAG_DAYS["home_91d_rate"])
    d0, d1 = i.window()
    d1 = min(d1, i.at_date + timedelta(days=1))
    sitrep = (f"FROM sitrep_value WHERE feed = 'nhse_acute_sitrep' AND level = 'england' "
              f"AND period_date >= DATE '{d0}' AND period_date < DATE '{d1}'")

    def daily_mean(measure: str) -> str:
        return (f"SELECT sum(value) / count(DISTINCT CASE WHEN value IS NOT NULL THEN period_date END) "
                f"{sitrep} AND measure = '{measure}'")

    return {
        "capacity": f"{latest} SELECT sum(capacity) FROM latest",
        "occupied": f"{latest} SELECT sum(occupied) FROM latest",
        "vacant_accepting": f"{latest} SELECT sum(vacant_accepting) FROM latest",
        "vacant_reserved": f"{latest} SELECT sum(vacant_reserved) FROM latest",
        "unavailable": f"{latest} SELECT sum(capacity - occupied - vacant_accepting - vacant_reserved) FROM latest",
        "occupancy_rate": f"{latest} SELECT sum(occupied) / sum(occupied + vacant_accepting + vacant_reserved) "
                          f"FROM latest",
        "services_reporting": f"SELECT count(DISTINCT service_id) FROM capacity_report "
                              f"WHERE reported_at >= {stale_from} AND reported_at <= {at}",
        "services_not_reporting": f"SELECT count(*) FROM service s WHERE first_reported_at <= {at} AND NOT EXISTS "
                                  f"(SELECT 1 FROM capacity_report r WHERE r.service_id = s.service_id "
                                  f"AND reported_at >= {stale_from} AND reported_at <= {at})",
        "referrals": f"SELECT count(*) FROM hub_case WHERE referred_at >= {s} AND referred_at < {e}",
        "discharges": f"SELECT count(*) FROM hub_case WHERE {disch}",
        "pathway_share": f"SELECT count(*) / count(*) FROM hub_case WHERE {disch}",
        "ic_starts": f"SELECT count(*) FROM hub_case WHERE ic_started_at >= {s} AND ic_started_at < {e}",
        "ic_ends": f"SELECT count(*) FROM hub_case WHERE ic_ended_at >= {s} AND ic_ended_at < {e}",
        "hub_decision_hours": f"SELECT quantile_cont((epoch(pathway_decided_at) - epoch(referred_at)) / 3600.0, 0.5) "
                              f"FROM hub_case WHERE pathway_decided_at >= {s} AND pathway_decided_at < {e}",
        "ic_caseload": f"SELECT count(*) FROM hub_case WHERE ic_started_at <= {at} "
                       f"AND (ic_ended_at IS NULL OR ic_ended_at > {at})",
        "awaiting_pathway": f"SELECT count(*) FROM hub_case WHERE referred_at <= {at} "
                            f"AND (pathway_decided_at IS NULL OR pathway_decided_at > {at}) "
                            f"AND (discharged_at IS NULL OR discharged_at > {at})",
        "nctr_count": f"SELECT count(*) FROM hub_case WHERE {waiting}",
        **{f"nctr_over_{d}d": f"SELECT count(*) FROM hub_case WHERE {waiting} AND discharge_ready_at < {cut[d]}"
           for d in (7, 14, 21)},
        "nctr_days_total": f"SELECT sum(epoch({at}) - epoch(discharge_ready_at)) / 86400.0 FROM hub_case "
                           f"WHERE {waiting}",
        "discharged_on_ready_day_rate": f"SELECT avg(CASE WHEN {delay} = 0 THEN 1 ELSE 0 END) FROM hub_case "
                                        f"WHERE {ready_disch}",
        "mean_delay_days": f"SELECT avg({delay}) FROM hub_case WHERE {ready_disch} AND {delay} >= 1",
        "p90_delay_days": f"SELECT quantile_cont({delay}, 0.9) FROM hub_case WHERE {ready_disch}",
        "delay_bed_days": f"SELECT sum(greatest(epoch(least(coalesce(discharged_at, {e}), {e})) "
                          f"- epoch(greatest(discharge_ready_at, {s})), 0)) / 86400.0 FROM hub_case "
                          f"WHERE discharge_ready_at < {e} AND (discharged_at IS NULL OR discharged_at > {s})",
        "ic_length_of_stay_days": f"SELECT quantile_cont({ic_days}, 0.5) FROM hub_case WHERE {ic_end}",
        "ic_over_6_weeks_rate": f"SELECT avg(CASE WHEN {ic_days} > 42 THEN 1 ELSE 0 END) FROM hub_case "
                                f"WHERE {ic_end}",
        "ic_outcome_share": f"SELECT count(ic_outcome) / count(*) FROM hub_case WHERE {ic_end}",
        "readmission_30d_rate": f"SELECT avg(CASE WHEN readmitted_at IS NOT NULL AND "
                                f"{_days('discharged_at', 'readmitted_at')} <= 30 THEN 1 ELSE 0 END) FROM hub_case "
                                f"WHERE discharged_at >= {rs} AND discharged_at < {re_} "
                                f"AND discharged_at <= {_ts(i.at - timedelta(days=30))}",
        "home_91d_rate": f"SELECT avg(CASE WHEN status_91d = 'at_home' THEN 1 ELSE 0 END) FROM hub_case "
                         f"WHERE discharged_at >= {hs} AND discharged_at < {he} "
                         f"AND discharged_at <= {_ts(i.at - timedelta(days=91))} AND age >= 65 AND pathway IN (1, 2)",
        "sitrep_nctr": daily_mean("nctr"),
        "sitrep_discharged": daily_mean("discharged"),
        "sitrep_remaining": daily_mean("remaining"),
        "sitrep_discharged_share": f"SELECT sum(value) FILTER (WHERE measure = 'discharged') "
                                   f"/ sum(value) FILTER (WHERE measure = 'nctr') {sitrep}",
        "sitrep_discharges_by_pathway": f"SELECT sum(value) {sitrep} AND measure LIKE 'discharges\\_%' ESCAPE '\\'",
    }


def layer_params(name: str, i: Instants, split: bool) -> dict[str, list[str]]:
    params: dict[str, list[str]] = {"at": [AT_LOCAL]}
    if name in LAG_DAYS:
        first, last = i.window(LAG_DAYS[name])
        params.update({"from": [first.isoformat()], "to": [last.isoformat()]})
    if split:
        if REGISTRY[name].source == "sitrep":
            params.update({"by": ["org"], "level": ["icb"]})  # sitreps have no HWB: by ICB instead
        else:
            params["by"] = ["hwb"]
    return params


def timed(fns: dict[str, Callable[[], Any]], reps: int) -> dict[str, tuple[float, float, Any]]:
    """{name: (p50 ms, p95 ms, last result)} over `reps` runs of each function after one warm-up.

    The functions take turns within each repetition, so load from elsewhere on a shared
    machine falls on all of them alike and the ratio of their times stays meaningful.
    """
    results = {name: fn() for name, fn in fns.items()}
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(reps):
        for name, fn in fns.items():
            t = time.perf_counter()
            results[name] = fn()
            samples[name].append((time.perf_counter() - t) * 1000)
    out = {}
    for name, times in samples.items():
        times.sort()
        out[name] = (statistics.median(times), times[max(0, math.ceil(0.95 * len(times)) - 1)], results[name])
    return out


def _same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)


def bench(path: Path, reps: int, only: list[str] | None) -> int:
    engine = db.get_engine(f"duckdb:///{path}")
    with engine.connect() as conn:
        conn.exec_driver_sql(f"SET memory_limit = '{MEMORY_LIMIT}'")
    i = _instants()
    sqls = hand_sql(i)
    missing = set(REGISTRY) - set(sqls)
    if missing:
        print(f"!! no hand-written SQL for {sorted(missing)}")

    def ping() -> None:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1").fetchall()
    p50, p95, _ = timed({"ping": ping}, 50)["ping"]
    print(f"engine.connect() + SELECT 1: p50 {p50:.2f} ms, p95 {p95:.2f} ms "
          f"(pool: {engine.pool.status()})")

    raw = engine.raw_connection()  # the hand-written SQL runs on a held DBAPI cursor: no pool, no SQLAlchemy
    cursor = raw.cursor()

    def hand(sql: str) -> Callable[[], Any]:
        def run() -> Any:
            cursor.execute(sql)
            return cursor.fetchall()[0][0]
        return run

    header = (f"{'metric':<29}| {'layer total p50/p95':>19} | {'layer by=hwb p50/p95':>20} | "
              f"{'hand SQL p50/p95':>17} | ratio | check")
    print(header)
    print("-" * len(header))
    misses: list[str] = []
    mismatches: list[str] = []
    for name in REGISTRY:
        if only and name not in only:
            continue
        total = lambda name=name: run_query(engine, MetricQuery.from_params(name, layer_params(name, i, False)))  # noqa: E731
        split = lambda name=name: run_query(engine, MetricQuery.from_params(name, layer_params(name, i, True)))  # noqa: E731
        fns = {"total": total, "split": split, **({"hand": hand(sqls[name])} if name in sqls else {})}
        times = timed(fns, reps)
        (t50, t95, res), (s50, s95, _) = times["total"], times["split"]
        h50, h95, hv = times.get("hand", (math.nan, math.nan, None))
        lv = res.total()
        ok = _same(lv, hv)
        ratio = t50 / h50 if h50 else math.nan
        flags = []
        if max(t95, s95) > P95_TARGET_MS:
            flags.append("p95")
        if ratio > OVERHEAD_TARGET:
            flags.append("overhead")
        if flags:
            misses.append(f"{name} ({', '.join(flags)})")
        if not ok:
            mismatches.append(f"{name}: layer {lv!r} != hand {hv!r}")
        print(f"{name:<29}| {t50:8.1f} / {t95:8.1f} | {s50:8.1f} / {s95:9.1f} | {h50:7.1f} / {h95:7.1f} | "
              f"{ratio:5.2f} | {'ok' if ok else 'MISMATCH'} {lv if isinstance(lv, int) else _fmt(lv)}"
              f"{'  <-- ' + ', '.join(flags) if flags else ''}", flush=True)
    cursor.close()
    raw.close()
    print()
    print(f"targets: p95 <= {P95_TARGET_MS:.0f} ms (total and by=hwb), layer total p50 <= {OVERHEAD_TARGET}x hand SQL")
    print("missing a target: " + ("; ".join(misses) if misses else "none"))
    if mismatches:
        print("!!!!!!!! VALUE MISMATCH between the layer and the hand-written SQL !!!!!!!!")
        for m in mismatches:
            print("  " + m)
    return 1 if mismatches else 0


def _fmt(v: Any) -> str:
    return "None" if v is None else f"{float(v):.6g}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="10x smaller dataset (bench/out/national_quick.duckdb)")
    ap.add_argument("--db", type=Path, help="DuckDB file (default bench/out/national[_quick].duckdb)")
    ap.add_argument("--regenerate", action="store_true", help="regenerate the dataset even if the file exists")
    ap.add_argument("--generate-only", action="store_true", help="generate the dataset, do not time")
    ap.add_argument("--reps", type=int, default=15, help="timed repetitions per query, after one warm-up")
    ap.add_argument("--metrics", help="comma-separated subset of metrics")
    args = ap.parse_args()
    scale = QUICK if args.quick else FULL
    path = args.db or OUT / scale.name
    if args.regenerate or not path.exists():
        print(f"generating {path} ({scale.services:,} services, {scale.cases:,} cases) ...", flush=True)
        generate(path, scale)
    if args.generate_only:
        return 0
    return bench(path, args.reps, args.metrics.split(",") if args.metrics else None)


if __name__ == "__main__":
    sys.exit(main())
