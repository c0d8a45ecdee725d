"""Every metric against tests/metric_fixture.py, on DuckDB and on a real PostgreSQL.

Expected values are worked out by hand from the fixture (arithmetic in the
comments); none is produced by the code under test.
"""
from __future__ import annotations

import os
from typing import Any, Iterator

import pytest
import sqlalchemy as sa

from models import db
from models.metrics import REGISTRY
from models.query import MetricQuery, QueryError, UnknownMetric, run_queries, run_query
from tests import metric_fixture
from tests.metric_fixture import BRADFORD, BRIGHTON, LEEDS

NOW = "2024-04-01T12:00"  # London (BST): 11:00 UTC
MARCH = {"from": "2024-03-01", "to": "2024-04-01"}
LATER = "2024-07-15T12:00"  # 91 days after every March discharge


@pytest.fixture(scope="module", params=["duckdb", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[sa.Engine]:
    if request.param == "duckdb":
        url = f"duckdb:///{tmp_path_factory.mktemp('metrics') / 'store.duckdb'}"
        eng = db.init_store(url)
    else:
        from tests.conftest import _fresh_pg_url

        server = request.getfixturevalue("pg_server")
        eng = db.get_engine(os.environ.get("HOMEWARD_TEST_PG_URL") or _fresh_pg_url(server))
    metric_fixture.load(eng)
    yield eng
    db.dispose_all()


def q(engine: sa.Engine, metric: str, **params: Any) -> list[dict[str, Any]]:
    raw = {k.rstrip("_"): (v if isinstance(v, list) else [str(v)]) for k, v in params.items()}
    return run_query(engine, MetricQuery.from_params(metric, raw)).rows


def value(engine: sa.Engine, metric: str, **params: Any) -> Any:
    rows = q(engine, metric, **params)
    assert len(rows) == 1, rows
    return rows[0]["value"]


def by(rows: list[dict[str, Any]], key: str) -> dict[Any, Any]:
    return {r[key]: r["value"] for r in rows}


# --- capacity -------------------------------------------------------------
# At 2024-04-01 12:00 BST (11:00 UTC), 24 h window from 2024-03-31 11:00 UTC:
# S1 latest 09:00 (50, 42, 3, 1); S2 2024-03-31 12:30 BST = 11:30 UTC (20, 18, 0, 1); S4 (40, 30, 4, 2);
# S3's only report is older than 24 h (not reporting); S5 first reports on 2 April (not known yet);
# S1's 13:00 report is after `at` and ignored.

def test_capacity_sums(engine: sa.Engine) -> None:
    assert value(engine, "capacity", at=NOW) == 110  # 50 + 20 + 40
    assert value(engine, "occupied", at=NOW) == 90  # 42 + 18 + 30
    assert value(engine, "vacant_accepting", at=NOW) == 7  # 3 + 0 + 4
    assert value(engine, "vacant_reserved", at=NOW) == 4  # 1 + 1 + 2
    assert value(engine, "unavailable", at=NOW) == 9  # (50-42-3-1) + (20-18-0-1) + (40-30-4-2) = 4 + 1 + 4


def test_occupancy_rate_and_zero_denominator(engine: sa.Engine) -> None:
    row = q(engine, "occupancy_rate", at=NOW)[0]
    assert (row["numerator"], row["denominator"]) == (90, 101)  # 90 / (90 + 7 + 4)
    assert row["value"] == pytest.approx(90 / 101)
    bradford = q(engine, "occupancy_rate", at=NOW, hwb=BRADFORD)[0]  # S3 not reporting: nothing open
    assert bradford["value"] is None and bradford["denominator"] == 0


def test_services_reporting(engine: sa.Engine) -> None:
    assert value(engine, "services_reporting", at=NOW) == 3  # S1, S2, S4
    assert value(engine, "services_not_reporting", at=NOW) == 1  # S3 (S5 not known yet)
    assert value(engine, "services_not_reporting", at=NOW, hwb=BRADFORD) == 1
    assert value(engine, "vacant_accepting", at=NOW, hwb=BRADFORD) == 0


def test_capacity_as_at_later(engine: sa.Engine) -> None:
    # 14:00 BST = 13:00 UTC: S1's 13:00 BST report (0 accepting) is now the latest; S2's report of
    # 2024-03-31 11:30 UTC is more than 24 h old.
    assert value(engine, "vacant_accepting", at="2024-04-01T14:00") == 4  # S1 0 + S4 4
    assert value(engine, "services_not_reporting", at="2024-04-01T14:00") == 2  # S2, S3


def test_capacity_by_pathway_and_filters(engine: sa.Engine) -> None:
    assert by(q(engine, "capacity", at=NOW, by="pathway"), "pathway") == {1: 50, 2: 20, 3: 40}
    assert value(engine, "vacant_accepting", at=NOW, pathway="2") == 0
    assert value(engine, "vacant_accepting", at=NOW, icb="QWO") == 3  # S1 3 + S2 0
    assert by(q(engine, "vacant_accepting", at=NOW, by="service_type", service_type=["P1_REABLEMENT", "P3_NURSING"]),
              "service_type") == {"P1_REABLEMENT": 3, "P3_NURSING": 4}


def test_capacity_daily_trend(engine: sa.Engine) -> None:
    # Each day measured at its end, each with its own 24 h window (UTC):
    # 30 Mar at 31 Mar 00:00 (window from 30 Mar 00:00): S3 known, its 10:00 report counts (30, 25, 5, 0).
    # 31 Mar at 31 Mar 23:00 (BST; window from 30 Mar 23:00): S1 (07:00 UTC: 50, 40, 5, 2) and S2 (11:30 UTC:
    #   20, 18, 0, 1) report; S3's report is too old: not reporting.
    # 1 Apr at `at` 11:00 UTC: as in test_capacity_sums (S1 3 + S2 0 + S4 4; S3 not reporting).
    days = {"from": "2024-03-30", "to": "2024-04-02"}
    trend = lambda metric, **kw: [(r["period"], r["value"]) for r in q(engine, metric, at=NOW, **days,  # noqa: E731
                                                                         grain="day", **kw)]
    assert trend("vacant_accepting") == [("2024-03-30", 5), ("2024-03-31", 5), ("2024-04-01", 7)]
    assert trend("capacity") == [("2024-03-30", 30), ("2024-03-31", 70), ("2024-04-01", 110)]
    assert trend("services_not_reporting") == [("2024-03-30", 0), ("2024-03-31", 1), ("2024-04-01", 1)]
    occupancy = q(engine, "occupancy_rate", at=NOW, **days, grain="day")
    # 30 Mar: 25 / (25 + 5 + 0); 31 Mar: (40 + 18) / ((40 + 5 + 2) + (18 + 0 + 1))
    assert [(r["numerator"], r["denominator"]) for r in occupancy] == [(25, 30), (58, 66), (90, 101)]
    rows = q(engine, "vacant_accepting", at=NOW, **days, grain="day", by="hwb")
    assert [(r["period"], r["hwb"], r["value"]) for r in rows] == [
        ("2024-03-30", BRADFORD, 5), ("2024-03-31", LEEDS, 5), ("2024-04-01", BRIGHTON, 4), ("2024-04-01", LEEDS, 3)]


# --- delays (snapshot) ------------------------------------------------------

def test_nctr_now(engine: sa.Engine) -> None:
    assert value(engine, "nctr_count", at=NOW) == 1  # only D is still waiting
    # D: ready 2024-03-06 (London), `at` 2024-04-01: 26 whole days
    assert value(engine, "nctr_over_7d", at=NOW) == 1
    assert value(engine, "nctr_over_21d", at=NOW) == 1
    # 2024-03-06 09:00 UTC to 2024-04-01 11:00 UTC = 26 days 2 hours
    assert value(engine, "nctr_days_total", at=NOW) == pytest.approx(26 + 2 / 24)


def test_nctr_as_at_cut_offs(engine: sa.Engine) -> None:
    assert value(engine, "nctr_count", at="2024-03-06T10:00") == 3  # B (leaves 11:00), C, D (ready 09:00)
    assert value(engine, "nctr_count", at="2024-03-06T11:00") == 2  # B discharged exactly at `at`: gone
    assert value(engine, "nctr_count", at="2024-03-05T12:00") == 2  # B, C
    assert value(engine, "nctr_over_7d", at="2024-03-05T12:00") == 0  # B 2 days, C 1 day
    # 13 March: C (ready 4th: 9 days) and D (ready 6th: 7 days) wait; 7 counts as "7 or more"
    assert value(engine, "nctr_over_7d", at="2024-03-13T12:00") == 2
    assert value(engine, "nctr_over_14d", at="2024-03-13T12:00") == 0
    assert by(q(engine, "nctr_count", at="2024-03-13T12:00", by="delay_reason"), "delay_reason") == {
        "P1_NEW_CARE": 1, "NOT_RECORDED": 1}


def test_nctr_across_clock_change(engine: sa.Engine) -> None:
    # E ready 2024-03-30 12:00 GMT; at 2024-03-31 10:00 BST = 09:00 UTC: 21 hours = 0.875 days, 1 whole day
    assert value(engine, "nctr_days_total", at="2024-03-31T10:00", hwb=BRIGHTON) == pytest.approx(0.875)
    assert value(engine, "nctr_over_7d", at="2024-03-31T10:00", hwb=BRIGHTON) == 0


def test_nctr_daily_trend(engine: sa.Engine) -> None:
    # grain=day measures each day at its end (London midnight), the last at `at`
    rows = q(engine, "nctr_count", at="2024-03-06T10:00", **{"from": "2024-03-03", "to": "2024-03-07"}, grain="day")
    # end of 3rd: B; end of 4th: B, C; end of 5th: B, C; 6th (at 10:00): B, C, D
    assert [(r["period"], r["value"]) for r in rows] == [
        ("2024-03-03", 1), ("2024-03-04", 2), ("2024-03-05", 2), ("2024-03-06", 3)]


def test_nctr_over_7d_daily(engine: sa.Engine) -> None:
    # Over many days the series is counted from each case's first and last day (models.query,
    # `_open_select`), not day by day. C ready 4 March, discharged 14 March 12:00; D ready 6 March, waiting.
    # Measured at each day's end (London midnight, whose date is the next day): whole days to that date.
    rows = q(engine, "nctr_over_7d", at="2024-03-15T12:00", **{"from": "2024-03-10", "to": "2024-03-16"}, grain="day")
    # end of 10th: C 7 days, D 5 | 11th: C 8, D 6 | 12th: C 9, D 7 | 13th: C 10, D 8 (C leaves at 12:00 on the
    # 14th) | 14th: D 9 | 15th at 12:00: D 9
    assert [(r["period"], r["value"]) for r in rows] == [
        ("2024-03-10", 1), ("2024-03-11", 1), ("2024-03-12", 2), ("2024-03-13", 2), ("2024-03-14", 1), ("2024-03-15", 1)]
    rows = q(engine, "nctr_over_14d", at="2024-03-21T12:00", **{"from": "2024-03-17", "to": "2024-03-22"}, grain="day")
    # D only: 14 whole days at the end of the 19th (date 20th)
    assert [r["value"] for r in rows] == [0, 0, 1, 1, 1]


def test_nctr_daily_by_hwb_and_per_member_filters(engine: sa.Engine) -> None:
    window = {"at": "2024-03-06T10:00", "from": "2024-03-03", "to": "2024-03-07", "grain": "day"}
    rows = q(engine, "nctr_count", **window, by="hwb")
    # 3rd: B (Leeds) | 4th, 5th: B, C (Bradford) | 6th at 10:00: B, C, D (Bradford)
    assert [(r["period"], r["hwb"], r["value"]) for r in rows] == [
        ("2024-03-03", LEEDS, 1), ("2024-03-04", BRADFORD, 1), ("2024-03-04", LEEDS, 1),
        ("2024-03-05", BRADFORD, 1), ("2024-03-05", LEEDS, 1), ("2024-03-06", BRADFORD, 2), ("2024-03-06", LEEDS, 1)]
    params = {k: [v] for k, v in window.items()}
    p1, p2 = run_queries(engine, [MetricQuery.from_params("nctr_count", {**params, "pathway": [p]}) for p in "12"])
    # pathway 1: C from the 4th (D has no pathway); pathway 2: B throughout
    assert [r["value"] for r in p1.rows] == [0, 1, 1, 1]
    assert [r["value"] for r in p2.rows] == [1, 1, 1, 1]


def test_nctr_days_total_daily(engine: sa.Engine) -> None:
    rows = q(engine, "nctr_days_total", at="2024-03-31T10:00", **{"from": "2024-03-30", "to": "2024-04-01"}, grain="day")
    # end of 30th = 31st 00:00 UTC: D (6 March 09:00 UTC) 24 d 15 h, E (30th 12:00 UTC) 12 h
    # 31st at 10:00 BST = 09:00 UTC: D 25 d, E 21 h
    assert [r["value"] for r in rows] == [pytest.approx(24 + 27 / 24), pytest.approx(25 + 21 / 24)]


def test_delay_bed_days_daily_across_clock_change(engine: sa.Engine) -> None:
    rows = q(engine, "delay_bed_days", at=NOW, **{"from": "2024-03-29", "to": "2024-04-02"}, grain="day")
    # 29th: D 24 h | 30th: D 24 h, E 12:00 -> 24:00 12 h | 31st (23 hours long): D 23 h, E 00:00 -> 11:00 UTC
    # 11 h, G 19:00 UTC -> midnight BST (23:00 UTC) 4 h | 1 April to `at` (11:00 UTC): D 12 h, G 0.5 h
    assert [(r["period"], r["value"]) for r in rows] == [
        ("2024-03-29", pytest.approx(1.0)), ("2024-03-30", pytest.approx(1.5)),
        ("2024-03-31", pytest.approx(38 / 24)), ("2024-04-01", pytest.approx(12.5 / 24))]
    weekly = q(engine, "delay_bed_days", at=NOW, **{"from": "2024-03-25", "to": "2024-04-08"}, grain="week", by="hwb")
    # (Brighton's code sorts first) week of 25 March (to 1 April 00:00 BST): D 25th-31st = 6 * 24 + 23 h; E 23 h; G 4 h | week of 1 April: D 12 h, G 0.5 h
    assert [(r["period"], r["hwb"], r["value"]) for r in weekly] == [
        ("2024-03-25", BRIGHTON, pytest.approx(27 / 24)), ("2024-03-25", BRADFORD, pytest.approx((6 * 24 + 23) / 24)),
        ("2024-04-01", BRIGHTON, pytest.approx(0.5 / 24)), ("2024-04-01", BRADFORD, pytest.approx(0.5))]


@pytest.mark.parametrize("metric", [m.name for m in REGISTRY.values() if type(m.measure).__name__ in ("Open", "Overlap")])
def test_series_equal_each_period_asked_alone(engine: sa.Engine, metric: str) -> None:
    """The counted-from-first-and-last-period series against the per-period definition, period by period."""
    series = q(engine, metric, at="2024-03-31T10:00", **{"from": "2024-03-01", "to": "2024-04-01"}, grain="day")
    assert len(series) == 31
    for row in series:
        day = row["period"]
        nxt = f"2024-03-{int(day[-2:]) + 1:02d}T00:00" if day != "2024-03-31" else "2024-03-31T10:00"
        if REGISTRY[metric].kind == "snapshot":
            alone = value(engine, metric, at=nxt)
        else:
            alone = value(engine, metric, at="2024-03-31T10:00", **{"from": day, "to": nxt[:10] if day != "2024-03-31" else "2024-04-01"})
        assert row["value"] == pytest.approx(alone), (day, row, alone)


# --- flow -----------------------------------------------------------------

def test_referrals_and_discharges(engine: sa.Engine) -> None:
    assert value(engine, "referrals", at=NOW, **MARCH) == 7  # all of A..G were referred in March
    assert value(engine, "discharges", at=NOW, **MARCH) == 5  # A, B, C, E, F (G left on 1 April, London time)
    assert by(q(engine, "discharges", at=NOW, **MARCH, by="pathway"), "pathway") == {1: 3, 2: 1, 3: 1}
    assert by(q(engine, "discharges", at=NOW, **MARCH, by="hwb"), "hwb") == {LEEDS: 3, BRADFORD: 1, BRIGHTON: 1}
    assert value(engine, "discharges", at=NOW, **MARCH, icb="QWO") == 4
    # ICB and place filters keep the cases of the HWBs they cover; with an HWB filter, those in both
    assert value(engine, "discharges", at=NOW, **MARCH, place=LEEDS) == 3  # A, B, F (one place per HWB by default)
    assert value(engine, "discharges", at=NOW, **MARCH, icb="QWO", hwb=BRADFORD) == 1  # C
    assert value(engine, "discharges", at=NOW, **MARCH, icb="QWO", hwb=BRIGHTON) == 0  # Brighton is in Sussex
    assert value(engine, "discharges", at=NOW, **MARCH, icb="qwo", place=BRIGHTON) == 0
    assert by(q(engine, "discharges", at=NOW, **MARCH, icb="QWO", by="icb"), "icb") == {"QWO": 4}
    assert by(q(engine, "discharges", at=NOW, **MARCH, icb="QWO", by="hwb"), "hwb") == {LEEDS: 3, BRADFORD: 1}
    assert by(q(engine, "discharges", at=NOW, **MARCH, by="age_band"), "age_band") == {
        "65-74": 2, "75-84": 1, "85+": 2}  # B 70, F 66 | A 80 | C 90, E 85
    assert value(engine, "discharges", at=NOW, **MARCH, acute_site="RR8") == 3  # A, B, F


def test_discharges_by_london_day_across_clock_change(engine: sa.Engine) -> None:
    rows = q(engine, "discharges", at=NOW, **{"from": "2024-03-30", "to": "2024-04-02"}, grain="day")
    # G at 2024-03-31 23:30 UTC is 00:30 BST on 1 April; the 2nd is after `at` and not shown
    assert [(r["period"], r["value"]) for r in rows] == [("2024-03-30", 0), ("2024-03-31", 1), ("2024-04-01", 1)]


def test_discharges_by_month_and_week(engine: sa.Engine) -> None:
    rows = q(engine, "discharges", at=NOW, **{"from": "2024-03-01", "to": "2024-05-01"}, grain="month")
    assert [(r["period"], r["value"]) for r in rows] == [("2024-03-01", 5), ("2024-04-01", 1)]  # April so far: G
    rows = q(engine, "discharges", at=NOW, **{"from": "2024-03-01", "to": "2024-03-18"}, grain="week")
    # weeks start Monday: 26 Feb (only 1-3 March in the window: A), 4 Mar (B, F), 11 Mar (C)
    assert [(r["period"], r["value"]) for r in rows] == [("2024-02-26", 1), ("2024-03-04", 2), ("2024-03-11", 1)]


def test_event_counts_over_several_windows_from_one_series_of_days(engine: sa.Engine,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A tile's window, the window before it and its weekly trend come from one select by day."""
    import models.query as mq

    selects = []
    fetch = mq._fetch
    monkeypatch.setattr(mq, "_fetch", lambda *a: selects.append(1) or fetch(*a))

    def ask(**params: Any) -> MetricQuery:
        return MetricQuery.from_params("discharges", {"at": [NOW], **{k: [v] for k, v in params.items()}})

    current, before, weekly, april, monthly = run_queries(engine, [
        ask(**MARCH), ask(**{"from": "2024-01-30", "to": "2024-03-01"}), ask(**MARCH, grain="week"),
        ask(**{"from": "2024-03-25", "to": "2024-04-08"}), ask(**{"from": "2024-03-01", "to": "2024-05-01"}, grain="month")])
    assert len(selects) == 1
    assert current.rows == [{"value": 5, "numerator": None, "denominator": None}]  # A, B, C, E, F
    assert before.rows[0]["value"] == 0  # nothing in February
    # weeks from Monday 26 Feb (1-3 March: A), 4 Mar (B 6th, F 10th 00:30), 11 Mar (C), 18 Mar (-), 25 Mar (E 31st)
    assert [(r["period"], r["value"]) for r in weekly.rows] == [
        ("2024-02-26", 1), ("2024-03-04", 2), ("2024-03-11", 1), ("2024-03-18", 0), ("2024-03-25", 1)]
    assert april.rows[0]["value"] == 2  # E, and G at 00:30 BST on 1 April, before `at` (12:00 that day)
    assert [(r["period"], r["value"]) for r in monthly.rows] == [("2024-03-01", 5), ("2024-04-01", 1)]
    # a rate of counts: discharged on the ready day, by pathway (of pathway 1's A, C, F only A: F waited
    # across midnight; neither B nor E)
    rates = run_queries(engine, [MetricQuery.from_params("discharged_on_ready_day_rate",
                                                         {"at": [NOW], "by": ["pathway"], **{k: [v] for k, v in w.items()}})
                                 for w in (MARCH, {"from": "2024-03-04", "to": "2024-03-11"})])
    assert {r["pathway"]: (r["numerator"], r["denominator"]) for r in rates[0].rows} == {1: (1, 3), 2: (0, 1), 3: (0, 1)}
    assert {r["pathway"]: (r["numerator"], r["denominator"]) for r in rates[1].rows} == {1: (0, 1), 2: (0, 1)}  # F; B


def test_the_gate_is_held_around_each_select_not_the_whole_call(engine: sa.Engine) -> None:
    held: list[str] = []

    class Gate:
        def __enter__(self) -> None:
            held.append("in")

        def __exit__(self, *exc: Any) -> None:
            held.append("out")

    results = run_queries(engine, [MetricQuery.from_params(name, {"at": [NOW], **{k: [v] for k, v in w.items()}})
                                   for name, w in (("referrals", MARCH), ("nctr_count", {}), ("vacant_accepting", {}))],
                          gate=Gate())
    assert held == ["in", "out"] * 3  # three selects: cases by event, people waiting, capacity
    assert results[0].rows[0]["value"] == 7


@pytest.mark.parametrize("name", sorted(n for n in REGISTRY if REGISTRY[n].kind == "period"))
def test_several_windows_at_once_equal_each_alone(engine: sa.Engine, name: str) -> None:
    """Whatever run_queries does with several windows of one metric, each result is the query's own."""
    spec = REGISTRY[name]
    shapes: list[dict[str, Any]] = [
        MARCH, {"from": "2024-01-30", "to": "2024-03-01"}, {**MARCH, "grain": "week"}, {**MARCH, "grain": "day"},
        {"from": "2024-03-25", "to": "2024-04-08"}, {"from": "2024-02-01", "to": "2024-05-01", "grain": "month"}]
    for extra in ({}, {"by": "pathway"}, {"by": "hwb", "icb": "QWO"}):
        if any(k in extra and extra[k] not in spec.dimensions for k in ("by",)) or ("icb" in extra and "icb" not in spec.dimensions):
            continue
        queries = [MetricQuery.from_params(name, {"at": [NOW], **{k: [v] for k, v in {**w, **extra}.items()}})
                   for w in shapes]
        together = run_queries(engine, queries)
        for query, result in zip(queries, together):
            assert result.rows == run_query(engine, query).rows, (query, result.rows)


def test_pathway_share(engine: sa.Engine) -> None:
    rows = q(engine, "pathway_share", at=NOW, **MARCH, by="pathway")
    assert {r["pathway"]: (r["numerator"], r["denominator"]) for r in rows} == {1: (3, 5), 2: (1, 5), 3: (1, 5)}
    assert by(rows, "pathway")[1] == pytest.approx(0.6)
    only_p1 = q(engine, "pathway_share", at=NOW, **MARCH, pathway="1")[0]
    assert (only_p1["numerator"], only_p1["denominator"], only_p1["value"]) == (3, 5, pytest.approx(0.6))


def test_ic_flow(engine: sa.Engine) -> None:
    assert value(engine, "ic_starts", at=NOW, **MARCH) == 3  # A, B, C
    assert value(engine, "ic_ends", at=NOW, **MARCH) == 1  # A
    assert value(engine, "ic_caseload", at=NOW) == 2  # B (to 20 April), C (open)
    assert value(engine, "ic_caseload", at="2024-03-10T12:00") == 2  # A, B


def test_hub_decision_hours(engine: sa.Engine) -> None:
    # decided in March: F 3 h, G 6 h, A 12 h, B 24 h, E 24 h, C 36 h -> median (12 + 24) / 2
    assert value(engine, "hub_decision_hours", at=NOW, **MARCH) == pytest.approx(18.0)


def test_awaiting_pathway(engine: sa.Engine) -> None:
    assert value(engine, "awaiting_pathway", at=NOW) == 1  # D
    assert value(engine, "awaiting_pathway", at="2024-03-29T12:00") == 2  # D, G (decided 15:00)


# --- delays (period) --------------------------------------------------------

def test_delay_distribution(engine: sa.Engine) -> None:
    # discharged in March with a ready date: A 0, B 3, C 10, E 1 (across the clock change), F 1 (1 hour over midnight)
    row = q(engine, "discharged_on_ready_day_rate", at=NOW, **MARCH)[0]
    assert (row["numerator"], row["denominator"]) == (1, 5)
    assert value(engine, "mean_delay_days", at=NOW, **MARCH) == pytest.approx((3 + 10 + 1 + 1) / 4)
    # sorted 0, 1, 1, 3, 10: rank 0.9 * 4 = 3.6 -> 3 + 0.6 * (10 - 3)
    assert value(engine, "p90_delay_days", at=NOW, **MARCH) == pytest.approx(7.2)


def test_delay_bed_days(engine: sa.Engine) -> None:
    # March window ends 2024-04-01 00:00 BST = 2024-03-31 23:00 UTC.
    # A 6 h; B 3 d 2 h; C 10 d; D 6 Mar 09:00 -> 31 Mar 23:00 UTC = 25 d 14 h; E 23 h; F 1 h;
    # G 19:00 -> 23:00 UTC = 4 h (it left 30 minutes after the window closed)
    expected = 0.25 + (3 + 2 / 24) + 10 + (25 + 14 / 24) + 23 / 24 + 1 / 24 + 4 / 24
    assert value(engine, "delay_bed_days", at=NOW, **MARCH) == pytest.approx(expected)
    by_reason = by(q(engine, "delay_bed_days", at=NOW, **MARCH, by="delay_reason"), "delay_reason")
    assert by_reason["P2_BED"] == pytest.approx(3 + 2 / 24)
    assert by_reason["NOT_RECORDED"] == pytest.approx(0.25 + 25 + 14 / 24 + 1 / 24 + 4 / 24)  # A, D, F, G


def test_period_window_cut_at_at(engine: sa.Engine) -> None:
    # the window reaches past `at`: events after `at` are ignored
    assert value(engine, "discharges", at="2024-03-06T10:00", **MARCH) == 1  # A only; B leaves at 11:00
    assert value(engine, "delay_bed_days", at="2024-03-02T12:00", **MARCH) == pytest.approx(2 / 24)  # A 10:00 -> 12:00


# --- outcomes -----------------------------------------------------------------

def test_ic_length_and_six_weeks(engine: sa.Engine) -> None:
    window = {"from": "2024-03-01", "to": "2024-05-01"}
    # ended: A 2 -> 20 March = 18 days; B 6 March -> 20 April = 45 days
    assert value(engine, "ic_length_of_stay_days", at=LATER, **window) == pytest.approx(31.5)
    row = q(engine, "ic_over_6_weeks_rate", at=LATER, **window)[0]
    assert (row["numerator"], row["denominator"], row["value"]) == (1, 2, pytest.approx(0.5))
    assert by(q(engine, "ic_outcome_share", at=LATER, **window, by="ic_outcome"), "ic_outcome") == {
        "home_no_support": pytest.approx(0.5), "home_with_care": pytest.approx(0.5)}


def test_readmission_30d_rate(engine: sa.Engine) -> None:
    # March discharges A, B, C, E, F; B readmitted after 14 days, C after 37 (not within 30)
    row = q(engine, "readmission_30d_rate", at=LATER, **MARCH)[0]
    assert (row["numerator"], row["denominator"]) == (1, 5)
    # at 10 April 12:00 BST only discharges up to 11 March 11:00 UTC have had 30 days: A, B, F
    row = q(engine, "readmission_30d_rate", at="2024-04-10T12:00", **MARCH)[0]
    assert (row["numerator"], row["denominator"]) == (1, 3)


def test_home_91d_rate(engine: sa.Engine) -> None:
    # 65+, pathway 1 or 2, discharged in March: A at_home, B unknown, C at_home, F missing -> 2 / 4 (E is pathway 3)
    row = q(engine, "home_91d_rate", at=LATER, **MARCH)[0]
    assert (row["numerator"], row["denominator"]) == (2, 4)
    empty = q(engine, "home_91d_rate", at=LATER, **{"from": "2024-02-01", "to": "2024-03-01"})[0]
    assert empty == {"value": None, "numerator": 0, "denominator": 0}  # zero denominator: missing, not 0


# --- published sitrep -------------------------------------------------------------

def test_sitrep_daily_mean_skips_unsubmitted_days(engine: sa.Engine) -> None:
    window = {"from": "2024-01-01", "to": "2024-01-04"}
    assert value(engine, "sitrep_nctr", at="2024-02-01T00:00", **window) == pytest.approx(105)  # (100 + 110) / 2
    rows = q(engine, "sitrep_nctr", at="2024-02-01T00:00", **window, grain="day")
    assert [(r["period"], r["value"]) for r in rows] == [("2024-01-01", 100), ("2024-01-02", None), ("2024-01-03", 110)]
    assert value(engine, "sitrep_nctr", at="2024-02-01T00:00", **window, org="QWO") == pytest.approx(11)
    assert value(engine, "sitrep_nctr", at="2024-02-01T00:00", **window, collection="community") == pytest.approx(30)
    assert value(engine, "sitrep_remaining", at="2024-02-01T00:00", **window) == pytest.approx(60)


def test_sitrep_discharged_share(engine: sa.Engine) -> None:
    # England 1 January: 40 discharged of 100 (the 2nd was not submitted; the 3rd has no discharged figure)
    row = q(engine, "sitrep_discharged_share", at="2024-02-01T00:00", **{"from": "2024-01-01", "to": "2024-01-02"})[0]
    assert (row["numerator"], row["denominator"], row["value"]) == (40, 100, pytest.approx(0.4))
    # 3 January: NCTR 110 published, discharged not: the share is missing (it crashed a page under load once)
    row = q(engine, "sitrep_discharged_share", at="2024-02-01T00:00", **{"from": "2024-01-03", "to": "2024-01-04"})[0]
    assert (row["numerator"], row["denominator"], row["value"]) == (None, 110, None)


def test_sitrep_discharges_by_pathway(engine: sa.Engine) -> None:
    rows = q(engine, "sitrep_discharges_by_pathway", at="2024-03-01T00:00",
             **{"from": "2024-01-01", "to": "2024-02-01"}, by="pathway")
    assert by(rows, "pathway") == {"P1": 500, "P2": 120}


# --- the query contract -------------------------------------------------------------

def test_result_shape(engine: sa.Engine) -> None:
    result = run_query(engine, MetricQuery.from_params("discharges", {"at": [NOW], "by": ["pathway"], **{
        k: [v] for k, v in MARCH.items()}}))
    body = result.to_json()
    assert body["metric"] == "discharges" and body["as_of"] == "2024-04-01T11:00:00Z"
    assert isinstance(body["data_version"], int)
    assert set(body["rows"][0]) == {"pathway", "value", "numerator", "denominator"}


@pytest.mark.parametrize("metric, params, param", [
    ("nctr_count", {"by": ["nonsense"]}, "by"),
    ("nctr_count", {"flavour": ["x"]}, "flavour"),
    ("capacity", {"delay_reason": ["P2_BED"]}, "delay_reason"),
    ("discharges", {"grain": ["year"]}, "grain"),
    ("discharges", {"from": ["2024-13-01"]}, "from"),
    ("discharges", {"from": ["2024-03-02"], "to": ["2024-03-01"]}, "to"),
    ("nctr_count", {"at": ["yesterday"]}, "at"),
    ("nctr_count", {"pathway": ["7"]}, "pathway"),
    ("nctr_count", {"delay_reason": ["BORED"]}, "delay_reason"),
    ("nctr_count", {"hwb": ["E07000225"]}, "hwb"),  # a district, not an HWB
    ("nctr_count", {"icb": ["QZZ"]}, "icb"),
])
def test_bad_queries_name_the_parameter(engine: sa.Engine, metric: str, params: dict[str, list[str]], param: str) -> None:
    with pytest.raises(QueryError) as err:
        run_query(engine, MetricQuery.from_params(metric, params))
    assert err.value.param == param and err.value.message


def test_unknown_metric() -> None:
    with pytest.raises(UnknownMetric):
        MetricQuery.from_params("beds_magic", {})


def test_hwb_alias_is_accepted(engine: sa.Engine) -> None:
    # City of London reports with Hackney: a filter on its code is a filter on Hackney's
    assert value(engine, "nctr_count", at=NOW, hwb="E09000001") == 0


def test_every_metric_is_described_and_runs(engine: sa.Engine) -> None:
    for metric in REGISTRY.values():
        assert metric.label and len(metric.definition) > 30 and metric.unit, metric.name
        rows = q(engine, metric.name, at=NOW)
        assert len(rows) == 1, metric.name


# --- several queries in one select (pages) ---------------------------------

def _alone_and_together(engine: sa.Engine, queries: list[MetricQuery]) -> None:
    together = run_queries(engine, queries)
    assert [r.metric for r in together] == [x.metric for x in queries]
    for query, result in zip(queries, together):
        alone = run_query(engine, query)
        # sums of fractions may be added in another order: equal to the last bits
        approx = [{k: pytest.approx(v) if isinstance(v, float) else v for k, v in row.items()} for row in alone.rows]
        assert result.rows == approx, (query, result.rows, alone.rows)


@pytest.mark.parametrize("source", ["capacity", "cases"])
@pytest.mark.parametrize("shape", [
    {"params": {"at": [NOW]}},
    {"params": {"at": ["2024-03-06T10:00"], "by": ["hwb"]}},
    {"params": {"at": [NOW], "from": ["2024-03-01"], "to": ["2024-04-02"], "grain": ["week"]}},
    {"params": {"at": ["2024-03-06T10:00"], "from": ["2024-03-03"], "to": ["2024-03-07"], "grain": ["day"],
                "by": ["pathway"]}},
], ids=["at", "by-hwb", "weekly", "daily-by-pathway"])
def test_a_batch_gives_each_metric_what_it_gives_alone(engine: sa.Engine, source: str, shape: dict[str, Any]) -> None:
    """Every metric of a source in one batch, each also with its own filters (so members differ in
    filters as a page's P1 and P2 tiles do), must answer exactly as when asked alone."""
    queries: list[MetricQuery] = []
    for metric in REGISTRY.values():
        if metric.source != source:
            continue
        queries.append(MetricQuery.from_params(metric.name, shape["params"]))
        queries.append(MetricQuery.from_params(metric.name, {**shape["params"], "pathway": ["1", "2"]}))
        queries.append(MetricQuery.from_params(metric.name, {**shape["params"], "icb": ["QWO"]}))
    _alone_and_together(engine, queries)


def test_a_batch_with_one_shared_filter(engine: sa.Engine) -> None:
    # icb=QWO on every member goes into the WHERE clause; the pathways stay each member's own
    queries = [MetricQuery.from_params("vacant_accepting", {"at": [NOW], "icb": ["QWO"], "pathway": [p]})
               for p in ("1", "2")] + [MetricQuery.from_params("capacity", {"at": [NOW], "icb": ["QWO"]})]
    together = run_queries(engine, queries)
    # S1 (Leeds, P1) 3 accepting; S2 (Leeds, P2) 0; capacity in QWO: S1 50 + S2 20 (S3 Bradford not reporting)
    assert [r.rows[0]["value"] for r in together] == [3, 0, 70]


def test_look_back_is_the_same_time_on_earlier_days(engine: sa.Engine) -> None:
    query = MetricQuery.from_params("nctr_count", {"at": ["2024-03-06T10:00"]})
    rows = run_query(engine, MetricQuery(**{**query.__dict__, "lookback_days": 3})).rows
    # 10:00 on each day: 3rd B (ready 09:00); 4th B only (C is ready at 12:00, unlike at the day's end);
    # 5th B, C; 6th B (leaves 11:00), C, D (ready 09:00)
    assert [(r["period"], r["value"]) for r in rows] == [
        ("2024-03-03", 1), ("2024-03-04", 1), ("2024-03-05", 2), ("2024-03-06", 3)]
    # across the clock change: 12:00 London on 31 March is 11:00 UTC, on 30 March 12:00 UTC
    cap = MetricQuery.from_params("vacant_accepting", {"at": [NOW]})
    rows = run_query(engine, MetricQuery(**{**cap.__dict__, "lookback_days": 1})).rows
    alone = [value(engine, "vacant_accepting", at="2024-03-31T12:00"), value(engine, "vacant_accepting", at=NOW)]
    assert [r["value"] for r in rows] == alone and rows[-1]["value"] == 7


def test_look_back_is_for_snapshots_only(engine: sa.Engine) -> None:
    query = MetricQuery.from_params("discharges", {"at": [NOW]})
    with pytest.raises(QueryError):
        run_query(engine, MetricQuery(**{**query.__dict__, "lookback_days": 7}))
